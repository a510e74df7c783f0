//! `spec diff OLD [NEW]`: what changed between two contracts, each change
//! classified as oasdiff classifies OpenAPI changes: breaking for clients
//! (a request constraint tightened: a client that conformed may now be
//! refused), breaking for servers (a response constraint tightened, a new
//! rule or a raised severity: a server that conformed may now fail), or
//! neither (loosened, removed, lowered).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::contract::{Contract, Keyword, Rule, Severity};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    BreaksClients,
    BreaksServers,
    Neither,
}

impl Impact {
    pub fn is_breaking(self) -> bool {
        self != Impact::Neither
    }
}

impl std::fmt::Display for Impact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Impact::BreaksClients => "breaking for clients",
            Impact::BreaksServers => "breaking for servers",
            Impact::Neither => "not breaking",
        })
    }
}

/// One keyword or rule that differs.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub id: String,
    /// What changed, in words (`maximum 4094 → 4000, tightened`).
    pub what: String,
    pub impact: Impact,
}

/// Whether a keyword's new value admits less than its old one. `None` when
/// the two cannot be ordered (a changed type, format or pattern): treated as
/// tightened, since some instance that passed may now fail.
fn tightened(keyword: &str, old: &Value, new: &Value) -> Option<bool> {
    let number = |v: &Value| v.as_f64();
    match keyword {
        "minimum" | "exclusiveMinimum" | "minLength" | "minItems" | "minProperties" => {
            Some(number(new)? > number(old)?)
        }
        "maximum" | "exclusiveMaximum" | "maxLength" | "maxItems" | "maxProperties" => {
            Some(number(new)? < number(old)?)
        }
        "enum" | "required" => {
            let (old, new) = (old.as_array()?, new.as_array()?);
            Some(match keyword {
                // Fewer allowed values, or more required names.
                "enum" => old.iter().any(|v| !new.contains(v)),
                _ => new.iter().any(|v| !old.contains(v)),
            })
        }
        "additionalProperties" => Some(new == &Value::Bool(false)),
        _ => None,
    }
}

/// A request-side schema constrains clients; every other one, servers.
fn is_request_side(id: &str) -> bool {
    let schema = id.split('#').next().unwrap_or_default();
    schema.ends_with(".request") || schema.ends_with(".path")
}

fn keyword_value(contract: &Contract, k: &Keyword) -> Value {
    let schema = k.id.split('#').next().unwrap_or_default();
    contract
        .schema(schema)
        .and_then(|s| {
            s.document
                .pointer(&format!("{}/{}", k.subschema, k.keyword))
        })
        .cloned()
        .unwrap_or(Value::Null)
}

fn keywords(contract: &Contract) -> BTreeMap<&str, (&Keyword, Value)> {
    contract
        .schemas
        .values()
        .flat_map(|s| &s.keywords)
        .map(|k| (k.id.as_str(), (k, keyword_value(contract, k))))
        .collect()
}

fn constraint_impact(id: &str) -> Impact {
    if is_request_side(id) {
        Impact::BreaksClients
    } else {
        Impact::BreaksServers
    }
}

fn severity_change(old: Severity, new: Severity) -> Option<(String, Impact)> {
    (old != new).then(|| {
        let impact = if new > old {
            Impact::BreaksServers
        } else {
            Impact::Neither
        };
        (format!("severity {old} → {new}"), impact)
    })
}

/// Every keyword and rule that was added, removed or changed from `old` to `new`.
pub fn diff(old: &Contract, new: &Contract) -> Vec<Change> {
    let mut changes = Vec::new();
    let (before, after) = (keywords(old), keywords(new));
    for (id, (k, value)) in &after {
        let Some((was, was_value)) = before.get(id) else {
            changes.push(Change {
                id: id.to_string(),
                what: format!("{} {value} added ({})", k.keyword, k.severity),
                impact: constraint_impact(id),
            });
            continue;
        };
        if value != was_value {
            let (word, impact) = match tightened(&k.keyword, was_value, value) {
                Some(false) => ("loosened", Impact::Neither),
                Some(true) => ("tightened", constraint_impact(id)),
                None => ("changed", constraint_impact(id)),
            };
            changes.push(Change {
                id: id.to_string(),
                what: format!("{} {was_value} → {value}, {word}", k.keyword),
                impact,
            });
        }
        if let Some((what, impact)) = severity_change(was.severity, k.severity) {
            changes.push(Change {
                id: id.to_string(),
                what,
                impact,
            });
        }
    }
    for (id, (k, value)) in &before {
        if !after.contains_key(id) {
            changes.push(Change {
                id: id.to_string(),
                what: format!("{} {value} removed", k.keyword),
                impact: Impact::Neither,
            });
        }
    }
    changes.extend(rule_changes(&old.rules, &new.rules));
    changes.sort_by(|a, b| (a.impact, &a.id).cmp(&(b.impact, &b.id)));
    changes
}

fn rule_changes(old: &[Rule], new: &[Rule]) -> Vec<Change> {
    let mut changes = Vec::new();
    for rule in new {
        let Some(was) = old.iter().find(|r| r.id == rule.id) else {
            changes.push(Change {
                id: rule.id.clone(),
                what: format!("rule added ({}): {}", rule.severity, rule.statement),
                impact: Impact::BreaksServers,
            });
            continue;
        };
        if was.check != rule.check || was.expect != rule.expect || was.operation != rule.operation {
            changes.push(Change {
                id: rule.id.clone(),
                what: format!(
                    "rule's check or expected answer changed: {}",
                    rule.statement
                ),
                impact: Impact::BreaksServers,
            });
        }
        if let Some((what, impact)) = severity_change(was.severity, rule.severity) {
            changes.push(Change {
                id: rule.id.clone(),
                what,
                impact,
            });
        }
    }
    for was in old {
        if !new.iter().any(|r| r.id == was.id) {
            changes.push(Change {
                id: was.id.clone(),
                what: "rule removed".into(),
                impact: Impact::Neither,
            });
        }
    }
    changes
}

/// The changes as `spec diff` prints them, with a closing count.
pub fn as_text(changes: &[Change]) -> String {
    let mut out = String::new();
    for c in changes {
        out.push_str(&format!(
            "{:<21} {}\n    {}\n",
            c.impact.to_string(),
            c.id,
            c.what
        ));
    }
    let count = |i: Impact| changes.iter().filter(|c| c.impact == i).count();
    out.push_str(&format!(
        "{} change(s): {} breaking for clients, {} breaking for servers, {} not breaking\n",
        changes.len(),
        count(Impact::BreaksClients),
        count(Impact::BreaksServers),
        count(Impact::Neither)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_bound_or_list_is_tightened_or_loosened_by_its_direction() {
        assert_eq!(tightened("maximum", &json!(4094), &json!(4000)), Some(true));
        assert_eq!(
            tightened("maximum", &json!(4000), &json!(4094)),
            Some(false)
        );
        assert_eq!(tightened("minLength", &json!(1), &json!(2)), Some(true));
        assert_eq!(
            tightened("enum", &json!(["A", "B"]), &json!(["A"])),
            Some(true)
        );
        assert_eq!(
            tightened("enum", &json!(["A"]), &json!(["A", "B"])),
            Some(false)
        );
        assert_eq!(
            tightened("required", &json!(["a"]), &json!(["a", "b"])),
            Some(true)
        );
        assert_eq!(tightened("format", &json!("uuid"), &json!("ipv4")), None);
    }

    #[test]
    fn a_contract_has_no_difference_from_itself() {
        let c = Contract::builtin().unwrap();
        assert!(diff(&c, &c).is_empty());
    }
}
