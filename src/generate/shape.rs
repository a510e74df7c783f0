//! Shaping a drawn request into the case its plan promises: satisfying the
//! rules around an edge or a break, placing addresses, and checking that the
//! result is exactly the promised case.

use serde_json::{Map, Value};

use super::strategy::Mode;
use super::{Generator, Plan, Side, addresses, fnv};
use crate::case::{Case, CaseKind};
use crate::contract::{Contract, Operation, ids, pointer};
use crate::fixtures::FixtureWorld;

impl Generator<'_> {
    /// Turns a drawn request into the plan's case, or `None` when the draw does not fit.
    pub(super) fn finish(
        &self,
        op: &Operation,
        kind: CaseKind,
        index: usize,
        plan: &Plan,
        params: Map<String, Value>,
        body: Value,
    ) -> Option<Case> {
        let world = self.world(op);
        let mut view = Contract::view(params, body);
        self.shape(op, plan, &mut view, &world)?;
        let key = fnv(
            self.seed,
            &[&op.id, kind.as_str(), &index.to_string(), "addresses"],
        );
        addresses::place(self.contract, op, self.fixtures, &mut view, key);
        if !self.fits(op, plan, &view, &world) {
            return None;
        }
        let (expect, breaks, mut exercises) = Case::label(self.contract, op, &view, &world);
        if let Plan::Boundary { id, aim, .. } = plan {
            exercises.insert(0, id.clone());
            if let Mode::Edge(k) = &aim.mode
                && let Some(other) = (op.request_schema.as_ref())
                    .and_then(|n| self.contract.schema(n))
                    .and_then(|s| s.subschema(&aim.node))
                    .and_then(|node| super::strategy::equal_counterpart(node, k))
                && let Some(base) = id.strip_suffix(k.as_str())
            {
                exercises.insert(1, format!("{base}{other}"));
            }
            // An empty optional list is a request the pages give no meaning to.
            if aim.mode == Mode::Items(0) {
                exercises.insert(1, ids::OPEN_READING.to_string());
            }
        }
        // A request the pages give no single meaning may be refused by a conforming server.
        if breaks.is_none()
            && !exercises.iter().any(|e| e == ids::OPEN_READING)
            && self.contract.open_reading(op, &view, &world)
        {
            exercises.push(ids::OPEN_READING.to_string());
        }
        let open_reading = exercises.iter().any(|e| e == ids::OPEN_READING);
        // The view is done with: its parts move into the case.
        let (path_params, body) = Contract::view_parts(view);
        let body = body.filter(|_| op.request_schema.is_some());
        Some(Case {
            id: crate::case::generated_id(&op.id, kind, index),
            operation: op.id.clone(),
            kind,
            expect,
            breaks,
            exercises,
            path_params,
            body,
            setup: op.setup,
            description: plan.describe(),
            open_reading,
            malformed: None,
            class: plan.class(),
        })
    }

    /// Whether a shaped request is the case its plan promises: valid, or
    /// breaking exactly the plan's keyword or rule (and what that rule also breaks).
    fn fits(
        &self,
        op: &Operation,
        plan: &Plan,
        view: &Value,
        world: &dyn crate::contract::World,
    ) -> bool {
        // The pages do not say what naming one port twice in a request means; stay out of it.
        let mut named = self.contract.named_ports(&op.id, view);
        let count = named.len();
        named.sort();
        named.dedup();
        if named.len() != count {
            return false;
        }
        let violations = self.contract.all_violations(op, view, world);
        match plan {
            Plan::Valid | Plan::Boundary { .. } => violations.is_empty(),
            Plan::Exercise { id } => {
                violations.is_empty()
                    && self
                        .contract
                        .rule(id)
                        .is_some_and(|r| r.check.exercised(view))
            }
            Plan::BreakKeyword { id, side, aim } => {
                // The schema hides the rules (a server checks the form first):
                // judge them too, so the case breaks nothing else. Rules about
                // the broken field itself cannot hold and are not asked to.
                let lock = instance_pointer(*side, &aim.node);
                let elsewhere = |r: &crate::contract::Rule| {
                    let server = r
                        .check
                        .reads_server()
                        .then(|| "/path/server_id".to_string());
                    let fields = r
                        .check
                        .named_fields()
                        .into_iter()
                        .chain(server.map(|s| (s, String::new())));
                    fields.collect::<Vec<_>>().iter().all(|(at, field)| {
                        let pattern = if field.is_empty() {
                            at.clone()
                        } else {
                            format!("{at}/{field}")
                        };
                        !overlaps(&pattern, &lock)
                    })
                };
                let rules = self.contract.judge_rules_where(op, view, world, elsewhere);
                !violations.is_empty()
                    && violations.iter().all(|v| v == id)
                    && matches!(rules, crate::contract::Verdict::Accept { .. })
            }
            Plan::BreakRule { id, .. } => {
                let also = self
                    .contract
                    .rule(id)
                    .map(|r| r.also_breaks.as_slice())
                    .unwrap_or_default();
                violations.first() == Some(id)
                    && violations.iter().all(|v| v == id || also.contains(v))
            }
            // Built whole by `malformed_case`, never drawn.
            Plan::Malformed(_) => false,
        }
    }

    /// Shapes a drawn request into the plan's: every rule satisfied (a valid
    /// or boundary case, its edge locked), or one keyword or rule broken with
    /// the rest holding around it. `None` when the draw cannot be shaped.
    fn shape(
        &self,
        op: &Operation,
        plan: &Plan,
        view: &mut Value,
        world: &FixtureWorld,
    ) -> Option<()> {
        let sample = |p: &str| self.contract.sample(op, p);
        // A plain valid or boundary request names existing resources even
        // where the pages say they are ignored (beside a port_id): a server
        // that checks them anyway conforms too. Only the plans that exercise
        // the precedence send a value that counts nowhere (an open reading).
        let counted = match plan {
            Plan::Valid | Plan::Boundary { .. } => true,
            Plan::Exercise { id } => !(self.contract.rule(id)).is_some_and(|r| {
                matches!(
                    r.check,
                    crate::contract::Check::Precedence { .. }
                        | crate::contract::Check::IgnoredWhen { .. }
                )
            }),
            _ => false,
        };
        let constraints: Vec<(&str, std::borrow::Cow<crate::contract::Check>)> = self
            .contract
            .rules_for(&op.id)
            .filter(|r| r.check.is_request_constraint())
            .map(|r| {
                let check = match &r.check {
                    crate::contract::Check::ResourceExists { .. } if counted => {
                        let mut c = r.check.clone();
                        if let crate::contract::Check::ResourceExists { unless, .. } = &mut c {
                            *unless = None;
                        }
                        std::borrow::Cow::Owned(c)
                    }
                    c => std::borrow::Cow::Borrowed(c),
                };
                (r.id.as_str(), check)
            })
            .collect();
        let satisfy_all = |view: &mut Value, locks: &[String], except: &[String]| {
            for _ in 0..6 {
                let mut ok = true;
                for (id, check) in &constraints {
                    if !except.iter().any(|e| e == id)
                        && !check.satisfy(view, world, &sample, locks)
                    {
                        ok = false;
                    }
                }
                if ok {
                    return true;
                }
            }
            false
        };
        if counted {
            self.contract.settle_open_readings(op, view);
        }
        match plan {
            Plan::Valid | Plan::Exercise { .. } => {
                if !satisfy_all(view, &[], &[]) {
                    return None;
                }
                // A field no draw sends: the rule's own probe, beside the updatable one.
                if let Plan::Exercise { id } = plan
                    && let Some(crate::contract::Check::OnlyUpdates { at, probe, .. }) =
                        self.contract.rule(id).map(|r| &r.check)
                    && let Some(Value::Object(target)) = view.pointer_mut(at)
                {
                    target.extend(probe.clone());
                }
            }
            Plan::Boundary { side, aim, .. } => {
                // The edge stays put while other rules are satisfied around it.
                let lock = instance_pointer(*side, &aim.node);
                if !satisfy_all(view, std::slice::from_ref(&lock), &[])
                    || pointer::get(view, &lock).is_none()
                {
                    return None;
                }
            }
            Plan::BreakKeyword { side, aim, .. } => {
                // Only the keyword is broken: the rules hold around it (no
                // unknown security group riding along with a bad description).
                let lock = instance_pointer(*side, &aim.node);
                // Neither the place nor the value the break drew may change,
                // and nothing may make the broken value moot (a port_id beside
                // a broken security group).
                let mut locks = vec![format!("={lock}")];
                let triggers: Vec<String> = self
                    .contract
                    .rules_for(&op.id)
                    .flat_map(|r| r.check.moot_triggers(view, &lock))
                    .collect();
                for trigger in triggers {
                    pointer::remove(view, &trigger);
                    locks.push(trigger);
                }
                locks.push(lock);
                satisfy_all(view, &locks, &[]);
            }
            Plan::BreakRule { id, other_kind } => {
                if !satisfy_all(view, &[], &[]) {
                    return None;
                }
                let rule = self.contract.rule(id)?;
                let locks = rule
                    .check
                    .break_request(view, world, &sample, *other_kind)?;
                // Other rules may be moot now (an unknown server); the check below decides.
                let mut except = rule.also_breaks.clone();
                except.push(id.clone());
                satisfy_all(view, &locks, &except);
            }
            Plan::Malformed(_) => return None,
        }
        Some(())
    }
}

/// Whether a rule's field pattern (`*` for any array index) and an instance
/// pointer name the same place, or one lies inside the other.
fn overlaps(pattern: &str, pointer: &str) -> bool {
    pattern
        .split('/')
        .zip(pointer.split('/'))
        .all(|(p, t)| p == t || (p == "*" && t.parse::<usize>().is_ok()))
}

/// The request-view location of a schema node (first array element for `items`).
fn instance_pointer(side: Side, schema_ptr: &str) -> String {
    let mut out = String::from(match side {
        Side::Path => "/path",
        Side::Body => "/body",
    });
    let tokens: Vec<&str> = schema_ptr.split('/').skip(1).collect();
    let mut i = 0;
    while i < tokens.len() {
        match tokens[i] {
            "properties" if i + 1 < tokens.len() => {
                out.push('/');
                out.push_str(tokens[i + 1]);
                i += 2;
            }
            "items" => {
                out.push_str("/0");
                i += 1;
            }
            _ => i += 1,
        }
    }
    out
}
