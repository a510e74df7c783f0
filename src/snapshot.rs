//! Snapshots of curated responses: status, kept headers and body, with the
//! volatile values replaced by the placeholders `schemas/redactions.json`
//! declares, stored as insta `.snap` files under `snapshots/<target>/`.
//!
//! Pending snapshots are `.snap.new` files beside the accepted ones, so
//! `cargo insta review` and `nic-conformance snapshots review` both work on
//! them. Accepted snapshots change only on accept or `--record`, and every
//! write is a write to a temporary file followed by a rename.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::case::Case;
use crate::contract::Contract;
use crate::contract::pointer::{expand, set};
use crate::error::Error;
use crate::files::write_atomic;
use crate::http::Exchange;

/// What the store does with a response that differs from (or lacks) its accepted snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Compare; a drift is a finding and nothing is written.
    Compare,
    /// Compare; a drift is a finding and the new value is written as pending.
    Update,
    /// Accept every snapshot seen as the new baseline.
    Record,
}

impl WriteMode {
    pub fn from_flags(record: bool, update: bool) -> WriteMode {
        if record {
            WriteMode::Record
        } else if update {
            WriteMode::Update
        } else {
            WriteMode::Compare
        }
    }
}

/// How a response compared with its accepted snapshot.
#[derive(Debug, Clone, PartialEq)]
pub enum Comparison {
    /// Equal, or recorded as the new baseline.
    Matches,
    /// No accepted snapshot; the received one was written as pending.
    Missing { accepted: PathBuf, pending: PathBuf },
    /// Differs from the accepted snapshot: a unified diff.
    Drift { accepted: PathBuf, diff: String },
}

#[derive(Debug, Clone, Deserialize)]
struct Redaction {
    operation: String,
    pointer: String,
    placeholder: String,
}

#[derive(Debug, Clone, Deserialize)]
struct RedactionFile {
    #[allow(dead_code)]
    description: Option<String>,
    headers_kept: Vec<String>,
    redactions: Vec<Redaction>,
}

/// Redaction rules, read from the contract.
#[derive(Debug, Clone)]
pub struct Redactions {
    headers_kept: Vec<String>,
    rules: Vec<Redaction>,
}

impl Redactions {
    pub fn from_contract(contract: &Contract) -> Result<Redactions, Error> {
        let file: RedactionFile = serde_json::from_value(contract.redactions.clone())
            .map_err(|e| Error::file("redactions.json", e))?;
        Ok(Redactions {
            headers_kept: file
                .headers_kept
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            rules: file.redactions,
        })
    }

    /// The snapshot text of one response: sorted keys, volatile values replaced.
    pub fn render(
        &self,
        operation: &str,
        status: u16,
        content_type: Option<&str>,
        body: Option<&Value>,
        raw: &[u8],
    ) -> String {
        let mut body = match body {
            Some(b) => b.clone(),
            None if raw.is_empty() => Value::Null,
            None => Value::String(String::from_utf8_lossy(raw).into_owned()),
        };
        for r in self
            .rules
            .iter()
            .filter(|r| r.operation == "*" || r.operation == operation)
        {
            for ptr in expand(&body, &r.pointer) {
                if body.pointer(&ptr).is_some_and(|v| !v.is_null()) {
                    set(&mut body, &ptr, Value::String(r.placeholder.clone()));
                }
            }
        }
        let mut headers = Map::new();
        if self.headers_kept.iter().any(|h| h == "content-type")
            && let Some(ct) = content_type
        {
            headers.insert(
                "content-type".into(),
                json!(ct.to_ascii_lowercase().replace(' ', "")),
            );
        }
        let value = json!({"status": status, "headers": headers, "body": sorted(body)});
        serde_json::to_string_pretty(&value).unwrap_or_default()
    }
}

fn sorted(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// The file name of a case's snapshot (`operation__name`, portable on every OS).
pub fn snapshot_name(case_id: &str) -> String {
    case_id.replace("::", "__").replace(['/', '\\', ':'], "_")
}

/// A folder name for a target name.
pub fn target_folder(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The contents of a `.snap` file (insta's format: a metadata header, then the snapshot).
pub fn read_snap(path: &Path) -> Result<String, Error> {
    let text = crate::files::read_text_capped(path, crate::files::MAX_INPUT_BYTES)
        .map_err(|e| Error::file(path, format!("cannot read the snapshot: {e}")))?;
    let broken = |what: &str| {
        Error::file(
            path,
            format!(
                "not a snapshot file ({what})\n  (restore it from version control, or delete it and run with --record)"
            ),
        )
    };
    let rest = text
        .strip_prefix("---\n")
        .ok_or_else(|| broken("no `---` header"))?;
    let end = rest
        .find("\n---\n")
        .ok_or_else(|| broken("unterminated header"))?;
    Ok(rest[end + 5..].trim_end().to_string())
}

/// Writes a `.snap` or `.snap.new` file atomically.
pub fn write_snap(path: &Path, case: &Case, contents: &str) -> std::io::Result<()> {
    let header = format!(
        "---\nsource: nic-conformance\ndescription: {}\nexpression: {}\n---\n",
        serde_json::to_string(&case.description).unwrap_or_default(),
        serde_json::to_string(&case.id).unwrap_or_default()
    );
    write_atomic(path, format!("{header}{contents}\n").as_bytes())
}

/// A unified diff of only what changed, with a few lines of context.
pub fn diff(old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(2)
        .header("accepted", "received")
        .to_string()
}

/// The accepted snapshots of one target, and the pending ones beside them.
pub struct SnapshotStore {
    dir: PathBuf,
    mode: WriteMode,
    redactions: Redactions,
}

impl SnapshotStore {
    pub fn open(
        root: &Path,
        target: &str,
        mode: WriteMode,
        contract: &Contract,
    ) -> Result<SnapshotStore, Error> {
        Ok(SnapshotStore {
            dir: root.join(target_folder(target)),
            mode,
            redactions: Redactions::from_contract(contract)?,
        })
    }

    pub fn path(&self, case: &Case) -> PathBuf {
        self.dir.join(format!("{}.snap", snapshot_name(&case.id)))
    }

    /// Compares a curated case's response with its accepted snapshot, and
    /// writes what the mode asks. `Err` is a harness error (an unreadable
    /// snapshot), never a silent re-record.
    pub fn compare(
        &self,
        case: &Case,
        exchange: &Exchange,
        body: Option<&Value>,
    ) -> Result<Comparison, Error> {
        let received = self.redactions.render(
            &case.operation,
            exchange.status,
            exchange.content_type.as_deref(),
            body,
            &exchange.body,
        );
        let path = self.path(case);
        let pending = PathBuf::from(format!("{}.new", path.display()));
        let write = |p: &Path| {
            write_snap(p, case, &received)
                .map_err(|e| Error::file(p, format!("cannot write the snapshot: {e}")))
        };
        if !path.exists() {
            return match self.mode {
                WriteMode::Record => write(&path).map(|_| Comparison::Matches),
                _ => {
                    write(&pending)?;
                    Ok(Comparison::Missing {
                        accepted: path,
                        pending,
                    })
                }
            };
        }
        let accepted = read_snap(&path)?;
        if accepted == received.trim_end() {
            if pending.exists() {
                let _ = std::fs::remove_file(&pending);
            }
            return Ok(Comparison::Matches);
        }
        if self.mode == WriteMode::Record {
            return write(&path).map(|_| Comparison::Matches);
        }
        if self.mode == WriteMode::Update {
            write(&pending)?;
        }
        Ok(Comparison::Drift {
            diff: diff(&accepted, received.trim_end()),
            accepted: path,
        })
    }
}

/// Every pending snapshot under `dir`.
pub fn pending(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(".snap.new") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The accepted snapshot a pending one would replace.
pub fn accepted_path(pending: &Path) -> PathBuf {
    PathBuf::from(
        pending
            .to_string_lossy()
            .trim_end_matches(".new")
            .to_string(),
    )
}

/// Accepts a pending snapshot: an atomic rename over the accepted one.
pub fn accept(pending: &Path) -> Result<(), Error> {
    read_snap(pending)?;
    std::fs::rename(pending, accepted_path(pending))
        .map_err(|e| Error::file(pending, format!("cannot accept: {e}")))
}

pub fn reject(pending: &Path) -> Result<(), Error> {
    std::fs::remove_file(pending).map_err(|e| Error::file(pending, format!("cannot reject: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redactions_replace_volatile_values_and_keep_nulls() {
        let contract = Contract::builtin().unwrap();
        let r = Redactions::from_contract(&contract).unwrap();
        let body = json!({"sub_network_interface": {"id": "x", "ipv6_ip_address": null, "scope": "center", "created_at": "2025-01-01T00:00:00Z"}, "request_id": "abc"});
        let text = r.render(
            "update-sub-network-interface",
            200,
            Some("application/json; charset=UTF-8"),
            Some(&body),
            b"",
        );
        assert!(
            text.contains("\"[sub_network_interface_id]\"")
                && text.contains("\"[timestamp]\"")
                && text.contains("\"[request_id]\""),
            "{text}"
        );
        assert!(
            text.contains("\"ipv6_ip_address\": null") && text.contains("\"center\""),
            "{text}"
        );
        assert!(text.contains("application/json;charset=utf-8"), "{text}");
    }

    #[test]
    fn diff_shows_only_changed_lines() {
        let d = diff("a\nb\nc\nd\ne\nf\ng\n", "a\nb\nc\nX\ne\nf\ng\n");
        assert!(d.contains("-d") && d.contains("+X"), "{d}");
        assert!(!d.contains(" a\n"), "context is limited: {d}");
    }

    #[test]
    fn unreadable_snapshot_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.snap");
        std::fs::write(&p, "garbage").unwrap();
        let e = read_snap(&p).unwrap_err().to_string();
        assert!(e.contains("x.snap"), "{e}");
    }
}
