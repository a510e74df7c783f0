//! What makes two cases the same test: the request's method, path and body
//! shape with each value reduced to its class (two random names of one
//! length band and alphabet test the same thing). A plan drawn again must
//! send a request of a class it has not sent, so a bigger budget buys reach,
//! not repeats.

use serde_json::Value;

use crate::case::Case;
use crate::fixtures::Fixtures;

const FIXTURE_NAMES: [&str; 7] = [
    "server_id",
    "primary_port_id",
    "spare_port_id",
    "network_id",
    "subnet_id",
    "security_group_id",
    "sub_network_interface_id",
];

/// The class of one value: its type and, for a string, which fixture it
/// names, its length band, alphabet and form; objects and lists by the
/// classes of what they hold.
pub fn value_class(v: &Value, fixtures: &Fixtures) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number_class(n).into(),
        Value::String(s) => string_class(s, fixtures),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(|i| value_class(i, fixtures)).collect();
            format!("[{}]", inner.join(","))
        }
        Value::Object(map) => {
            let mut fields: Vec<String> = (map.iter())
                .map(|(k, v)| format!("{k}:{}", value_class(v, fixtures)))
                .collect();
            fields.sort();
            format!("{{{}}}", fields.join(","))
        }
    }
}

fn number_class(n: &serde_json::Number) -> &'static str {
    match (n.as_i64(), n.as_u64()) {
        (Some(i), _) if i < 0 => "int<0",
        (Some(0), _) => "int=0",
        (Some(i), _) if i < 4096 => "int<4096",
        (Some(_), _) | (None, Some(_)) => "int>=4096",
        _ => "float",
    }
}

fn string_class(s: &str, fixtures: &Fixtures) -> String {
    if let Some(name) = (FIXTURE_NAMES.iter()).find(|n| fixtures.get(n).is_some_and(|f| f == s)) {
        return format!("fixture:{name}");
    }
    // A pool's other members stand for the same fixture.
    let pools = [
        ("spare_port_id", &fixtures.extra_spare_port_ids),
        (
            "sub_network_interface_id",
            &fixtures.extra_sub_network_interface_ids,
        ),
        ("security_group_id", &fixtures.extra_security_group_ids),
    ];
    if let Some((name, _)) = pools.iter().find(|(_, ids)| ids.iter().any(|i| i == s)) {
        return format!("fixture:{name}");
    }
    let len = s.chars().count();
    let band = match len {
        0 => "0",
        1 => "1",
        2..=8 => "2-8",
        9..=36 => "9-36",
        37..=64 => "37-64",
        65..=255 => "65-255",
        _ => "256+",
    };
    let alphabet = if !s.is_ascii() {
        "unicode"
    } else if s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
    {
        "word"
    } else {
        "ascii"
    };
    // The one pattern request schemas use forbids angle brackets.
    let angle = if s.contains(['<', '>']) { ",angle" } else { "" };
    let form = if uuid::Uuid::try_parse(s).is_ok() {
        ",uuid"
    } else if s.parse::<std::net::Ipv4Addr>().is_ok() {
        ",ipv4"
    } else if s.parse::<std::net::Ipv6Addr>().is_ok() {
        ",ipv6"
    } else if crate::contract::formats::is_ip_or_cidr(s) {
        ",cidr"
    } else if crate::contract::formats::is_mac_address(s) {
        ",mac"
    } else {
        ""
    };
    format!("str({band},{alphabet}{angle}{form})")
}

/// The case's request reduced to classes: method and operation, protocol
/// class, path parameters and body.
pub fn fingerprint(case: &Case, fixtures: &Fixtures) -> u64 {
    let params = Value::Object(case.path_params.clone());
    let body = case.body.clone().unwrap_or(Value::Null);
    let malformed = case.malformed.map(|m| m.as_str()).unwrap_or_default();
    super::key_of(&[
        &case.operation,
        malformed,
        &value_class(&params, fixtures),
        &value_class(&body, fixtures),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_of_one_class_are_one_test_and_of_two_classes_two() {
        let f = Fixtures {
            spare_port_id: "2b8c4d1e-0000-4000-8000-000000000001".into(),
            ..Default::default()
        };
        let class = |v: Value| value_class(&v, &f);
        assert_eq!(class(json!("abc")), class(json!("xyz")));
        assert_ne!(class(json!("abc")), class(json!("a<c")));
        assert_ne!(class(json!("abc")), class(json!("")));
        assert_ne!(class(json!("abc")), class(json!("äbc")));
        assert_eq!(
            class(json!("2b8c4d1e-0000-4000-8000-000000000001")),
            "fixture:spare_port_id"
        );
        assert_eq!(
            class(json!("6a1f0c9e-1111-4111-8111-111111111111")),
            "str(9-36,word,uuid)"
        );
        assert_ne!(class(json!({"a": [1]})), class(json!({"a": [1, 2]})));
        assert_eq!(
            class(json!({"a": 1, "b": 2})),
            class(json!({"b": 3, "a": 4}))
        );
    }
}
