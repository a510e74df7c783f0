//! Addresses a real network accepts. A request that asks for an address gets
//! one from the fixture subnet's range (distinct within the request, off the
//! range's edges); without a range it asks for none and leaves the address
//! to the server. An ill-formed address (a negative case's) is left as drawn.

use serde_json::Value;

use crate::contract::formats::is_ip_address;
use crate::contract::{Contract, Operation, Schema, pointer};
use crate::fixtures::{Cidr, Fixtures};

/// The request-body fields the schemas say hold an IP address, as they occur in `body`.
pub fn address_fields(schema: &Schema, body: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![(String::new(), body)];
    while let Some((at, v)) = stack.pop() {
        match v {
            Value::Object(map) => {
                stack.extend(map.iter().map(|(k, v)| (format!("{at}/{}", escape(k)), v)));
            }
            Value::Array(items) => {
                stack.extend(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| (format!("{at}/{i}"), v)),
                );
            }
            Value::String(_) => {
                let is_address = schema.subschema_for_instance(&at).is_some_and(|(_, node)| {
                    node.get("format") == Some(&Value::from("ip-address"))
                });
                if is_address {
                    out.push(at);
                }
            }
            _ => {}
        }
    }
    out.sort();
    out
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Whether an array schema's items cannot exist without an address
/// (nova's `fixed_ips`): such a field cannot be sent without a range.
pub fn items_need_address(node: &Value) -> bool {
    let items = node.get("items").unwrap_or(&Value::Null);
    let required = items.get("required").and_then(Value::as_array);
    required.into_iter().flatten().any(|name| {
        let prop = name.as_str().and_then(|n| items.get("properties")?.get(n));
        prop.is_some_and(|p| p.get("format") == Some(&Value::from("ip-address")))
    })
}

/// Whether a schema node is, or holds anywhere below it, an IP address.
pub fn holds_address(node: &Value) -> bool {
    match node {
        Value::Object(m) => {
            m.get("format") == Some(&Value::from("ip-address")) || m.values().any(holds_address)
        }
        Value::Array(a) => a.iter().any(holds_address),
        _ => false,
    }
}

/// Replaces every well-formed address in the request view's body by one
/// from the fixture ranges, or removes the smallest optional field that
/// holds it when there is no range. `key` makes the choice stable for a case.
pub fn place(contract: &Contract, op: &Operation, fixtures: &Fixtures, view: &mut Value, key: u64) {
    let Some(schema) = op.request_schema.as_ref().and_then(|n| contract.schema(n)) else {
        return;
    };
    let Some(body) = view.get("body") else { return };
    let fields = address_fields(schema, body);
    let (v4, v6) = fixtures.subnet_ranges();
    let mut used: Vec<String> = Vec::new();
    for (n, at) in fields.iter().enumerate() {
        let ptr = format!("/body{at}");
        let Some(drawn) = pointer::get(view, &ptr).and_then(Value::as_str) else {
            continue;
        };
        if !is_ip_address(drawn) {
            continue; // the case breaks this address's format on purpose
        }
        let range: Option<Cidr> = if drawn.contains(':') {
            v6.or(v4)
        } else {
            v4.or(v6)
        };
        match range {
            Some(range) => {
                let mut k = key.wrapping_add(n as u64 * 7919);
                let mut address = range.host(k);
                while used.contains(&address) {
                    k = k.wrapping_add(1);
                    address = range.host(k);
                }
                used.push(address.clone());
                pointer::set(view, &ptr, Value::String(address));
            }
            None => remove_optional(schema, view, at),
        }
    }
}

/// Removes the nearest field at or above `at` (a body pointer) that its
/// object does not require.
fn remove_optional(schema: &Schema, view: &mut Value, at: &str) {
    let mut tokens: Vec<&str> = at.split('/').skip(1).collect();
    while let Some(last) = tokens.pop() {
        let parent = tokens.iter().fold(String::new(), |p, t| format!("{p}/{t}"));
        if last.parse::<usize>().is_ok() {
            continue; // an array item: its array is the field to drop
        }
        let required = schema
            .subschema_for_instance(&parent)
            .and_then(|(_, node)| node.get("required")?.as_array().cloned())
            .unwrap_or_default();
        if !required.iter().any(|r| r.as_str() == Some(last)) {
            pointer::remove(view, &format!("/body{parent}/{last}"));
            return;
        }
    }
}
