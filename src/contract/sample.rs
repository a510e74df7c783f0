//! Minimal valid instances of a subschema: what the generator inserts when a
//! rule needs a field present (e.g. `net_id` next to `port_id`).

use serde_json::{Map, Value};

/// A fixed, valid value for each format; ids are replaced by fixture ids afterwards.
pub fn format_example(format: &str) -> Option<&'static str> {
    Some(match format {
        "uuid" => "00000000-0000-4000-8000-000000000000",
        "ipv4" | "ip-address" => "192.0.2.10",
        "ipv6" => "2001:db8::10",
        "ip-or-cidr" => "192.0.2.0/24",
        "mac-address" => "fa:16:3e:00:00:01",
        "utc-seconds" => "2025-01-01T00:00:00Z",
        "date-time" => "2025-01-01T00:00:00Z",
        _ => return None,
    })
}

/// The smallest valid instance, with one element in arrays so that fields inside them exist.
pub fn minimal(schema: &Value) -> Value {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values.first().cloned().unwrap_or(Value::Null);
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts.first().and_then(Value::as_str).unwrap_or("null"),
        _ => "object",
    };
    match ty {
        "object" => {
            let mut map = Map::new();
            let props = schema.get("properties").and_then(Value::as_object);
            for name in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let (Some(name), Some(props)) = (name.as_str(), props)
                    && let Some(sub) = props.get(name)
                {
                    map.insert(name.to_string(), minimal(sub));
                }
            }
            Value::Object(map)
        }
        "array" => Value::Array(schema.get("items").map(minimal).into_iter().collect()),
        "string" => {
            if let Some(example) = schema
                .get("format")
                .and_then(Value::as_str)
                .and_then(format_example)
            {
                return Value::String(example.to_string());
            }
            let min = schema
                .get("minLength")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .max(1) as usize;
            Value::String("x".repeat(min))
        }
        "integer" | "number" => schema.get("minimum").cloned().unwrap_or(Value::from(1)),
        "boolean" => Value::Bool(false),
        _ => Value::Null,
    }
}
