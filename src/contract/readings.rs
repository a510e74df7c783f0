//! Requests the pages give no single meaning ("open readings"): what makes
//! one, and how a valid case is kept clear of them. A server may accept or
//! refuse such a request, so its status is judged at `should`
//! (`request.open-reading`; `schemas/doc-conflicts.json`).

use serde_json::Value;

use super::{Check, Contract, Operation, World, is_moot, pointer};

impl Contract {
    /// Whether a request the schemas and rules accept rests on a reading the
    /// pages leave open (`schemas/doc-conflicts.json`), so that a server may
    /// accept or refuse it: a field the pages call ignored (beside a
    /// `port_id`) holding a value that would be refused where it counts, an
    /// optional list sent empty, or an object lacking what gives it meaning
    /// (`x-open-reading-without`: an address pair with no address).
    pub fn open_reading(&self, op: &Operation, view: &Value, world: &dyn World) -> bool {
        let moot = self.moot_fields(op, view);
        let moot_schema_junk = !moot.is_empty()
            && self
                .invalid_parts(op, view)
                .any(|(side, schema, instance)| {
                    let violations = schema.violations(instance);
                    violations
                        .iter()
                        .any(|v| is_moot(&moot, side, &v.instance_path))
                });
        let moot_unknown = self.rules_for(&op.id).any(|r| match &r.check {
            Check::ResourceExists {
                unless: Some(_), ..
            } => {
                let mut counted = r.check.clone();
                if let Check::ResourceExists { unless, .. } = &mut counted {
                    *unless = None;
                }
                counted.violated(view, world)
            }
            _ => false,
        });
        let body = op.request_schema.as_ref().and_then(|n| self.schemas.get(n));
        let meaningless = body
            .is_some_and(|s| lacks_meaning(&s.document, view.get("body").unwrap_or(&Value::Null)));
        // A field sent beside the only updatable one may be refused or ignored
        // (doc conflict update-attachment.other-fields).
        let beside_the_updatable = self
            .rules_for(&op.id)
            .any(|r| matches!(r.check, Check::OnlyUpdates { .. }) && r.check.exercised(view));
        moot_schema_junk || moot_unknown || meaningless || beside_the_updatable
    }

    /// Makes a request mean one thing on every page reading: an ignored
    /// field's invalid value becomes a valid one, and an object lacking what
    /// gives it meaning gets it (see [`Contract::open_reading`]).
    pub fn settle_open_readings(&self, op: &Operation, view: &mut Value) {
        let moot = self.moot_fields(op, view);
        let mut junk: Vec<String> = Vec::new();
        if !moot.is_empty() {
            for (side, schema, instance) in self.invalid_parts(op, view) {
                for v in schema.violations(instance) {
                    if is_moot(&moot, side, &v.instance_path) {
                        junk.push(format!("{side}{}", v.instance_path));
                    }
                }
            }
        }
        if let Some(schema) = op.request_schema.as_ref().and_then(|n| self.schemas.get(n)) {
            let mut missing = Vec::new();
            let body = view.get("body").unwrap_or(&Value::Null);
            meaningless_at(&schema.document, body, "/body", &mut missing);
            junk.extend(missing);
        }
        junk.sort();
        junk.dedup();
        for ptr in junk {
            match self.sample(op, &ptr) {
                Some(v) => pointer::set(view, &ptr, v),
                None => {
                    pointer::remove(view, &ptr);
                }
            }
        }
    }
}

/// An object, anywhere in `instance`, whose schema names the fields that give
/// it meaning (`x-open-reading-without`) and that has none of them; or an
/// optional list sent empty.
fn lacks_meaning(schema: &Value, instance: &Value) -> bool {
    let wanted = schema
        .get("x-open-reading-without")
        .and_then(Value::as_array);
    match instance {
        Value::Object(map) => {
            let none = wanted.is_some_and(|w| {
                !w.iter()
                    .filter_map(Value::as_str)
                    .any(|f| map.contains_key(f))
            });
            let props = schema.get("properties").and_then(Value::as_object);
            none || map
                .iter()
                .any(|(k, v)| (props.and_then(|p| p.get(k))).is_some_and(|s| lacks_meaning(s, v)))
        }
        // An optional list sent empty: set to nothing, or left as it is?
        Value::Array(items) if items.is_empty() => {
            schema.get("minItems").and_then(Value::as_u64).unwrap_or(0) == 0
        }
        Value::Array(items) => schema
            .get("items")
            .is_some_and(|s| items.iter().any(|i| lacks_meaning(s, i))),
        _ => false,
    }
}

/// Where [`lacks_meaning`] holds: the pointer of the first field each such object lacks.
fn meaningless_at(schema: &Value, instance: &Value, at: &str, out: &mut Vec<String>) {
    match instance {
        Value::Object(map) => {
            let wanted = schema
                .get("x-open-reading-without")
                .and_then(Value::as_array);
            let fields: Vec<&str> = wanted
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if let Some(first) = fields.first()
                && !fields.iter().any(|f| map.contains_key(*f))
            {
                out.push(format!("{at}/{first}"));
            }
            let props = schema.get("properties").and_then(Value::as_object);
            for (k, v) in map {
                if let Some(s) = props.and_then(|p| p.get(k)) {
                    meaningless_at(s, v, &format!("{at}/{k}"), out);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    meaningless_at(s, item, &format!("{at}/{i}"), out);
                }
            }
        }
        _ => {}
    }
}
