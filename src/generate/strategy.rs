//! JSON Schema → proptest strategies: valid values, values at a boundary,
//! and values that break exactly one keyword.
//!
//! One walker builds every strategy; an [`Aim`] at one schema pointer
//! replaces the node there (edge or violation) and forces its ancestors to be
//! present, so the rest of the instance stays valid and random.

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value, json};

/// Send + Sync, so a run builds each strategy once and shares it between tasks.
pub type ValueStrategy = SBoxedStrategy<Value>;

/// What to do at the targeted schema node.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// A value exactly at the edge the keyword sets (`minLength`, `maxItems` …), or
    /// an array of exactly `n` items (`Items(n)`).
    Edge(String),
    Items(usize),
    /// A value breaking the keyword.
    Break(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Aim {
    /// Schema pointer of the node the keyword belongs to.
    pub node: String,
    pub mode: Mode,
}

/// Keywords this module can break, and so make negative cases for.
pub fn can_break(node: &Value, keyword: &str) -> bool {
    match keyword {
        "type" | "required" | "enum" | "format" => true,
        "minLength" => node
            .get("minLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| m > 0),
        "maxLength" | "maxItems" | "minimum" | "maximum" => true,
        "minItems" => node
            .get("minItems")
            .and_then(Value::as_u64)
            .is_some_and(|m| m > 0),
        "pattern" => excluded_chars(node).is_some(),
        _ => false,
    }
}

/// Boundaries a node has: (keyword, mode).
/// The other end of a range keyword (`minItems` for `maxItems`…) where it
/// holds the same value, so that one request sits on both edges.
pub fn equal_counterpart(node: &Value, keyword: &str) -> Option<String> {
    let other = match keyword.strip_prefix("min") {
        Some(rest) => format!("max{rest}"),
        None => format!("min{}", keyword.strip_prefix("max")?),
    };
    let (a, b) = (node.get(keyword)?, node.get(&other)?);
    (a == b).then_some(other)
}

pub fn boundaries(node: &Value) -> Vec<Mode> {
    let mut out = Vec::new();
    for k in [
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "minItems",
        "maxItems",
    ] {
        if node.get(k).is_some() {
            out.push(Mode::Edge(k.to_string()));
        }
    }
    if node.get("type") == Some(&json!("array")) && node.get("minItems").is_none() {
        out.push(Mode::Items(0)); // an empty optional array
    }
    out
}

/// `^[^<>]*$` → the excluded characters. The only pattern request schemas use.
fn excluded_chars(node: &Value) -> Option<Vec<char>> {
    let p = node.get("pattern")?.as_str()?;
    let inner = p.strip_prefix("^[^")?.strip_suffix("]*$")?;
    Some(inner.chars().collect())
}

fn ty(node: &Value) -> &str {
    match node.get("type") {
        Some(Value::String(t)) => t,
        Some(Value::Array(ts)) => ts.first().and_then(Value::as_str).unwrap_or("null"),
        _ if node.get("enum").is_some() => "enum",
        _ => "object",
    }
}

/// Free-text character ranges and their weights: ASCII, Latin-1, CJK, emoji.
const TEXT_RANGES: [(u32, u32, u32); 4] = [
    (6, ' ' as u32, '~' as u32),
    (1, 0xe0, 0xff),
    (2, 0x4e00, 0x4fff),
    (1, 0x1f600, 0x1f64f),
];

/// The character drawn number `n` stands for: one plain integer per
/// character keeps a 255-character string cheap to draw, and shrinking
/// towards 0 gives spaces. Excluded characters step to the next allowed one.
fn text_char(n: u32, excluded: &[char]) -> char {
    let total: u32 = TEXT_RANGES.iter().map(|r| r.0).sum();
    let (mut bucket, offset) = ((n >> 16) % total, n & 0xffff);
    for &(weight, lo, hi) in &TEXT_RANGES {
        if bucket < weight {
            let size = hi - lo + 1;
            let mut code = lo + offset % size;
            for _ in 0..size {
                match char::from_u32(code) {
                    Some(c) if !excluded.contains(&c) => return c,
                    _ => code = lo + (code - lo + 1) % size,
                }
            }
            break;
        }
        bucket -= weight;
    }
    ' '
}

fn arb_text(min: usize, max: usize, excluded: Vec<char>) -> ValueStrategy {
    let total: u32 = TEXT_RANGES.iter().map(|r| r.0).sum();
    proptest::collection::vec(0..total << 16, min..=max)
        .prop_map(move |ns| {
            Value::String(ns.into_iter().map(|n| text_char(n, &excluded)).collect())
        })
        .sboxed()
}

/// Text of printable ASCII only, whose length every counting unit agrees on.
fn arb_ascii_text(min: usize, max: usize, excluded: Vec<char>) -> ValueStrategy {
    let allowed: Vec<char> = (' '..='~').filter(|c| !excluded.contains(c)).collect();
    proptest::collection::vec(proptest::sample::select(allowed), min..=max)
        .prop_map(|cs| Value::String(cs.into_iter().collect()))
        .sboxed()
}

pub fn arb_uuid() -> impl Strategy<Value = String> {
    any::<u128>().prop_map(|n| {
        uuid::Builder::from_random_bytes(n.to_le_bytes())
            .into_uuid()
            .to_string()
    })
}

fn arb_ipv4() -> impl Strategy<Value = String> {
    any::<[u8; 4]>().prop_map(|b| Ipv4Addr::from(b).to_string())
}

fn arb_ipv6() -> impl Strategy<Value = String> {
    any::<[u16; 8]>().prop_map(|s| Ipv6Addr::from(s).to_string())
}

fn arb_format(format: &str) -> ValueStrategy {
    let s: SBoxedStrategy<String> = match format {
        "uuid" => arb_uuid().sboxed(),
        "ipv4" => arb_ipv4().sboxed(),
        "ipv6" => arb_ipv6().sboxed(),
        "ip-address" => prop_oneof![3 => arb_ipv4(), 1 => arb_ipv6()].sboxed(),
        "ip-or-cidr" => prop_oneof![
            2 => arb_ipv4(),
            2 => (arb_ipv4(), 0u8..=32).prop_map(|(ip, b)| format!("{ip}/{b}")),
            1 => (arb_ipv6(), 0u8..=128).prop_map(|(ip, b)| format!("{ip}/{b}")),
        ]
        .sboxed(),
        "mac-address" => any::<[u8; 6]>()
            .prop_map(|b| {
                b.iter()
                    .map(|x| format!("{x:02x}"))
                    .collect::<Vec<_>>()
                    .join(":")
            })
            .sboxed(),
        "utc-seconds" | "date-time" => (
            2000u32..2100,
            1u32..=12,
            1u32..=28,
            0u32..24,
            0u32..60,
            0u32..60,
        )
            .prop_map(|(y, mo, d, h, mi, s)| {
                format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
            })
            .sboxed(),
        _ => "[a-z]{1,8}".sboxed(),
    };
    s.prop_map(Value::String).sboxed()
}

/// Strings that break a format, kept realistic (what a client might send by mistake).
fn bad_format(format: &str) -> ValueStrategy {
    let options: Vec<&'static str> = match format {
        "uuid" => vec![
            "not-a-uuid",
            "2be868f22f7c948dbabc0eea0b9105b0d",
            "2be868f2-f7c9-48db-abc0-eea0b9105b0",
            " ce531f90-199f-48c0-816c-13e38010b442",
        ],
        "ipv4" => vec!["256.1.1.1", "192.168.1", "192.168.1.1/24"],
        "ipv6" => vec!["2001:db8:::1", "192.168.1.1", "gggg::1"],
        "ip-address" => vec!["256.1.1.1", "192.168.1", "not-an-ip", "10.0.0.1/8"],
        "ip-or-cidr" => vec!["10.0.0.0/33", "256.0.0.0/8", "10.0.0/8", "10.0.0.0/"],
        "mac-address" => vec!["fa:16:3e:zz:00:01", "fa-16-3e-63-75-b2", "fa:16:3e:63:75"],
        _ => vec![
            "2025-02-10 08:21:16",
            "2025-13-01T00:00:00Z",
            "2025-02-10T08:21:16.000Z",
        ],
    };
    select(options)
        .prop_map(|s| Value::String(s.to_string()))
        .sboxed()
}

fn wrong_type(node: &Value) -> ValueStrategy {
    let v = match ty(node) {
        "object" => json!(42),
        "array" => json!({"not": "an array"}),
        "string" => json!(42),
        "integer" | "number" => json!("1"),
        "boolean" => json!("true"),
        _ => json!([]),
    };
    Just(v).sboxed()
}

fn usize_of(node: &Value, k: &str) -> Option<usize> {
    node.get(k).and_then(Value::as_u64).map(|n| n as usize)
}

/// A strategy for `node` at schema pointer `ptr`, with `target` applied.
pub fn arb(node: &Value, ptr: &str, aim: Option<&Aim>) -> ValueStrategy {
    let here = aim.filter(|t| t.node == ptr);
    let below = aim.filter(|t| t.node.starts_with(&format!("{ptr}/")));
    if let Some(t) = here {
        match &t.mode {
            Mode::Break(k) if k == "type" => return wrong_type(node),
            Mode::Break(k) if k == "format" => {
                return bad_format(node.get("format").and_then(Value::as_str).unwrap_or(""));
            }
            Mode::Break(k) if k == "enum" => return Just(json!("NOT_A_DOCUMENTED_VALUE")).sboxed(),
            _ => {}
        }
    }
    if let Some(values) = node.get("enum").and_then(Value::as_array) {
        return select(values.clone()).sboxed();
    }
    match ty(node) {
        "object" => arb_object(node, ptr, aim, here),
        "array" => arb_array(node, ptr, here, below),
        "string" => arb_string(node, here),
        "integer" => {
            let min = node.get("minimum").and_then(Value::as_i64).unwrap_or(-1000);
            let max = node
                .get("maximum")
                .and_then(Value::as_i64)
                .unwrap_or(1_000_000);
            match here.map(|t| &t.mode) {
                Some(Mode::Edge(k)) if k == "minimum" => Just(json!(min)).sboxed(),
                Some(Mode::Edge(k)) if k == "maximum" => Just(json!(max)).sboxed(),
                Some(Mode::Break(k)) if k == "minimum" => Just(json!(min - 1)).sboxed(),
                Some(Mode::Break(k)) if k == "maximum" => Just(json!(max + 1)).sboxed(),
                _ => (min..=max).prop_map(Value::from).sboxed(),
            }
        }
        "boolean" => any::<bool>().prop_map(Value::Bool).sboxed(),
        _ => Just(Value::Null).sboxed(),
    }
}

fn arb_string(node: &Value, here: Option<&Aim>) -> ValueStrategy {
    if let Some(format) = node.get("format").and_then(Value::as_str) {
        return arb_format(format);
    }
    let min = usize_of(node, "minLength").unwrap_or(0);
    let max = usize_of(node, "maxLength");
    let excluded = excluded_chars(node).unwrap_or_default();
    match here.map(|t| &t.mode) {
        Some(Mode::Edge(k)) if k == "minLength" => arb_text(min, min, excluded),
        // The pages do not say what a character is (code point, UTF-16 unit,
        // byte): at the upper edge every unit must agree, so the text is ASCII.
        Some(Mode::Edge(k)) if k == "maxLength" => {
            let n = max.unwrap_or(min);
            arb_ascii_text(n, n, excluded)
        }
        Some(Mode::Break(k)) if k == "minLength" => arb_text(min - 1, min - 1, excluded),
        Some(Mode::Break(k)) if k == "maxLength" => {
            let n = max.unwrap_or(0) + 1;
            arb_text(n, n, excluded)
        }
        Some(Mode::Break(k)) if k == "pattern" => {
            let upper = max.unwrap_or(40).saturating_sub(1).clamp(min, min + 40);
            let bad = excluded.clone();
            (
                arb_text(min, upper, excluded),
                select(bad),
                any::<prop::sample::Index>(),
            )
                .prop_map(|(s, c, at)| {
                    let mut chars: Vec<char> = s.as_str().unwrap_or_default().chars().collect();
                    let i = at.index(chars.len() + 1);
                    chars.insert(i, c);
                    Value::String(chars.into_iter().collect())
                })
                .sboxed()
        }
        _ => {
            let upper = max.unwrap_or(min + 40).min(min + 40);
            arb_text(min, upper, excluded)
        }
    }
}

fn arb_array(node: &Value, ptr: &str, here: Option<&Aim>, below: Option<&Aim>) -> ValueStrategy {
    let items = node.get("items").cloned().unwrap_or(json!({}));
    let item_ptr = format!("{ptr}/items");
    let min = usize_of(node, "minItems").unwrap_or(0);
    let max = usize_of(node, "maxItems");
    let (lo, hi) = match here.map(|t| &t.mode) {
        Some(Mode::Edge(k)) if k == "minItems" => (min, min),
        Some(Mode::Edge(k)) if k == "maxItems" => (max.unwrap_or(min), max.unwrap_or(min)),
        Some(Mode::Items(n)) => (*n, *n),
        Some(Mode::Break(k)) if k == "minItems" => (min - 1, min - 1),
        Some(Mode::Break(k)) if k == "maxItems" => (max.unwrap_or(0) + 1, max.unwrap_or(0) + 1),
        // A target inside the items needs at least one item.
        _ if below.is_some() => (min.max(1), max.unwrap_or(3).max(min.max(1))),
        _ => (min, max.unwrap_or(3).max(min)),
    };
    let first = arb(&items, &item_ptr, below);
    let rest = arb(&items, &item_ptr, None);
    if lo == 0 && hi == 0 {
        return Just(Value::Array(vec![])).sboxed();
    }
    // The first item carries the target; the others are plainly valid.
    (
        first,
        proptest::collection::vec(rest, lo.saturating_sub(1)..=hi.saturating_sub(1)),
    )
        .prop_map(|(f, mut rest)| {
            rest.insert(0, f);
            Value::Array(rest)
        })
        .sboxed()
}

fn arb_object(node: &Value, ptr: &str, aim: Option<&Aim>, here: Option<&Aim>) -> ValueStrategy {
    let props = node
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let required: Vec<String> = node
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let mut fields: Vec<SBoxedStrategy<Option<(String, Value)>>> = Vec::new();
    for (name, sub) in &props {
        let sub_ptr = format!("{ptr}/properties/{name}");
        let targeted =
            aim.is_some_and(|t| t.node == sub_ptr || t.node.starts_with(&format!("{sub_ptr}/")));
        let s = arb(sub, &sub_ptr, aim.filter(|_| targeted));
        let name = name.clone();
        if required.contains(&name) || targeted {
            fields.push(s.prop_map(move |v| Some((name.clone(), v))).sboxed());
        } else {
            fields.push(
                proptest::option::of(s)
                    .prop_map(move |v| v.map(|v| (name.clone(), v)))
                    .sboxed(),
            );
        }
    }
    let drop_required = matches!(here.map(|t| &t.mode), Some(Mode::Break(k)) if k == "required");
    (fields, any::<prop::sample::Index>())
        .prop_map(move |(fields, which)| {
            let mut map: Map<String, Value> = fields.into_iter().flatten().collect();
            if drop_required && !required.is_empty() {
                map.shift_remove(&required[which.index(required.len())]);
            }
            Value::Object(map)
        })
        .sboxed()
}
