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
use crate::report::{Finding, write_atomic};
use crate::runner::client::Exchange;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Compare; a drift is a finding and nothing is written.
    Compare,
    /// Compare; a drift is a finding and the new value is written as pending.
    Update,
    /// Accept every snapshot seen as the new baseline.
    Record,
}

impl Mode {
    pub fn from_flags(record: bool, update: bool) -> Mode {
        if record {
            Mode::Record
        } else if update {
            Mode::Update
        } else {
            Mode::Compare
        }
    }
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
    pub fn from_contract(contract: &Contract) -> Result<Redactions, String> {
        let file: RedactionFile = serde_json::from_value(contract.redactions.clone())
            .map_err(|e| format!("redactions.json: {e}"))?;
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
        if self.headers_kept.iter().any(|h| h == "content-type") {
            if let Some(ct) = content_type {
                headers.insert(
                    "content-type".into(),
                    json!(ct.to_ascii_lowercase().replace(' ', "")),
                );
            }
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
pub fn read_snap(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read the snapshot: {e}", path.display()))?;
    let rest = text.strip_prefix("---\n").ok_or_else(|| format!("{}: not a snapshot file (no `---` header)\n  (restore it from version control, or delete it and run with --record)", path.display()))?;
    let end = rest.find("\n---\n").ok_or_else(|| format!("{}: not a snapshot file (unterminated header)\n  (restore it from version control, or delete it and run with --record)", path.display()))?;
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

/// Colours a unified diff for a terminal.
pub fn colour(diff: &str) -> String {
    diff.lines()
        .map(|l| {
            if l.starts_with('+') && !l.starts_with("+++") {
                format!("\x1b[32m{l}\x1b[0m")
            } else if l.starts_with('-') && !l.starts_with("---") {
                format!("\x1b[31m{l}\x1b[0m")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub struct SnapshotStore {
    dir: PathBuf,
    mode: Mode,
    redactions: Redactions,
}

impl SnapshotStore {
    pub fn open(
        root: &Path,
        target: &str,
        mode: Mode,
        contract: &Contract,
    ) -> Result<SnapshotStore, String> {
        Ok(SnapshotStore {
            dir: root.join(target_folder(target)),
            mode,
            redactions: Redactions::from_contract(contract)?,
        })
    }

    pub fn path(&self, case: &Case) -> PathBuf {
        self.dir.join(format!("{}.snap", snapshot_name(&case.id)))
    }

    /// Compares a curated case's response with its accepted snapshot.
    /// `Err` is a harness error (an unreadable snapshot), never a silent re-record.
    pub fn compare(
        &self,
        contract: &Contract,
        case: &Case,
        exchange: &Exchange,
        body: Option<&Value>,
        reproduce: &str,
    ) -> Result<Option<Finding>, String> {
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
                .map_err(|e| format!("{}: cannot write the snapshot: {e}", p.display()))
        };
        let finding = |id: &str, expected: String, actual: String| Finding {
            case: case.id.clone(),
            operation: case.operation.clone(),
            id: id.into(),
            source: contract.source_of(id),
            severity: contract.severity_of(id),
            expected,
            actual,
            reproduce: reproduce.into(),
        };
        if !path.exists() {
            return match self.mode {
                Mode::Record => write(&path).map(|_| None),
                _ => {
                    write(&pending)?;
                    Ok(Some(finding(
                        "snapshot.missing",
                        format!("an accepted snapshot at {}", path.display()),
                        format!("none; pending one written to {}", pending.display()),
                    )))
                }
            };
        }
        let accepted = read_snap(&path)?;
        if accepted == received.trim_end() {
            if pending.exists() {
                let _ = std::fs::remove_file(&pending);
            }
            return Ok(None);
        }
        match self.mode {
            Mode::Record => write(&path).map(|_| None),
            Mode::Update => {
                write(&pending)?;
                Ok(Some(finding(
                    "snapshot.drift",
                    format!("the accepted snapshot {}", path.display()),
                    diff(&accepted, received.trim_end()),
                )))
            }
            Mode::Compare => Ok(Some(finding(
                "snapshot.drift",
                format!("the accepted snapshot {}", path.display()),
                diff(&accepted, received.trim_end()),
            ))),
        }
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

fn accepted_path(pending: &Path) -> PathBuf {
    PathBuf::from(
        pending
            .to_string_lossy()
            .trim_end_matches(".new")
            .to_string(),
    )
}

/// Accepts a pending snapshot: an atomic rename over the accepted one.
pub fn accept(pending: &Path) -> Result<(), String> {
    read_snap(pending)?;
    std::fs::rename(pending, accepted_path(pending))
        .map_err(|e| format!("{}: cannot accept: {e}", pending.display()))
}

pub fn reject(pending: &Path) -> Result<(), String> {
    std::fs::remove_file(pending).map_err(|e| format!("{}: cannot reject: {e}", pending.display()))
}

/// `snapshots review|accept|reject`.
pub fn command(action: &crate::cli::SnapshotAction, dir: &Path) -> Result<i32, String> {
    use crate::cli::SnapshotAction;
    let list = pending(dir);
    if list.is_empty() {
        println!("no pending snapshots under {}", dir.display());
        return Ok(0);
    }
    match action {
        SnapshotAction::Accept => {
            for p in &list {
                accept(p)?;
                println!("accepted {}", accepted_path(p).display());
            }
        }
        SnapshotAction::Reject => {
            for p in &list {
                reject(p)?;
                println!("rejected {}", p.display());
            }
        }
        SnapshotAction::Review => {
            let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
            let stdin = std::io::stdin();
            for p in &list {
                let new = read_snap(p)?;
                let old_path = accepted_path(p);
                let old = if old_path.exists() {
                    read_snap(&old_path)?
                } else {
                    String::new()
                };
                println!("\n{}", old_path.display());
                let d = diff(&old, &new);
                println!("{}", if tty { colour(&d) } else { d });
                print!("accept (a), reject (r) or skip (s)? ");
                use std::io::Write;
                let _ = std::io::stdout().flush();
                let mut answer = String::new();
                if stdin.read_line(&mut answer).map_err(|e| e.to_string())? == 0 {
                    println!("\nno input: the rest stay pending");
                    break;
                }
                match answer.trim() {
                    "a" | "accept" => accept(p)?,
                    "r" | "reject" => reject(p)?,
                    _ => println!("skipped"),
                }
            }
        }
    }
    Ok(0)
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
        let e = read_snap(&p).unwrap_err();
        assert!(e.contains("x.snap"), "{e}");
    }
}
