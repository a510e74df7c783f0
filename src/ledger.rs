//! What a run did to a real target, written down as it happens so that a
//! run that dies (SIGKILL, a lost machine) can be undone afterwards by
//! `nic-conformance cleanup`.
//!
//! The ledger is a JSON-lines file, one entry per line, each written with a
//! single `write` and flushed before the request it announces is sent: a
//! killed process loses nothing it had announced. A resource is struck
//! (`removed`, `detached`, `restored`) once it is gone; `finished` closes a
//! run that cleaned up after itself.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One line of the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "entry", rename_all = "kebab-case")]
pub enum Entry {
    /// A run began: when, with which seed, against which target.
    Run {
        started: String,
        seed: u64,
        target: String,
    },
    /// The server's attachments before the run's first write: what
    /// cleanup brings it back to.
    Baseline {
        server_id: String,
        attached: Vec<String>,
    },
    /// A supplementary NIC's updatable fields before the run changed any.
    SubNic { id: String, fields: Value },
    /// A request that may create NICs on the server is about to be sent.
    Creating { case: String, server_id: String },
    /// A NIC the run created.
    Created { port_id: String, server_id: String },
    /// The NICs a `creating` case made are all named (or it made none).
    Settled { case: String },
    /// A spare port is about to be attached.
    Attaching { port_id: String, server_id: String },
    /// A port is no longer attached (a created NIC deleted, a spare detached).
    Detached { port_id: String },
    /// A supplementary NIC has its fields back.
    Restored { id: String },
    /// The run ended and left the server as it found it.
    Finished,
}

/// An append-only ledger file.
pub struct Ledger {
    path: PathBuf,
    file: std::sync::Mutex<std::fs::File>,
}

impl Ledger {
    /// The default path of a target's ledger; shards of one run have one each.
    pub fn default_path(target_name: &str, shard: Option<(usize, usize)>) -> PathBuf {
        let safe: String = target_name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let shard = shard
            .map(|(k, n)| format!("-shard-{k}-of-{n}"))
            .unwrap_or_default();
        PathBuf::from(".nic-conformance").join(format!("ledger-{safe}{shard}.jsonl"))
    }

    /// Starts a new ledger at `path` (any earlier one is replaced: check it first).
    pub fn create(path: &Path) -> std::io::Result<Ledger> {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::File::create(path)?;
        // Append mode: every line lands at the end, whoever else wrote.
        let file = std::fs::OpenOptions::new().append(true).open(path)?;
        Ok(Ledger {
            path: path.to_path_buf(),
            file: std::sync::Mutex::new(file),
        })
    }

    /// Appends to an existing ledger.
    pub fn append_to(path: &Path) -> std::io::Result<Ledger> {
        let file = std::fs::OpenOptions::new().append(true).open(path)?;
        Ok(Ledger {
            path: path.to_path_buf(),
            file: std::sync::Mutex::new(file),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry as one line, in one write, synced to the file.
    pub fn append(&self, entry: &Entry) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(&line)?;
        file.sync_data()
    }
}

/// A ledger read back: what is still outstanding.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Outstanding {
    /// The run that wrote it (started, seed).
    pub run: Option<(String, u64)>,
    pub baseline: Option<(String, Vec<String>)>,
    /// NICs created and not yet deleted.
    pub created: Vec<String>,
    /// Spares attached and not yet detached.
    pub attached: Vec<String>,
    /// A create was announced whose NICs were never named (the run died
    /// waiting): anything attached beyond the baseline may be one.
    pub unnamed_creates: usize,
    /// Supplementary NICs changed and not restored, with their earlier fields.
    pub sub_nics: Vec<(String, Value)>,
    /// The run closed the ledger: nothing is outstanding.
    pub finished: bool,
}

impl Outstanding {
    /// Nothing to undo.
    pub fn is_clean(&self) -> bool {
        self.finished
            || (self.created.is_empty()
                && self.attached.is_empty()
                && self.unnamed_creates == 0
                && self.sub_nics.is_empty())
    }
}

/// A line of the ledger that is not an entry: the file and where.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct LedgerError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// Reads a ledger; `Ok(None)` when there is none. A torn last line (a
/// write cut by a crash) is ignored; any other bad line is an error.
pub fn read(path: &Path) -> Result<Option<Outstanding>, LedgerError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(LedgerError {
                file: path.display().to_string(),
                line: 0,
                message: e.to_string(),
            });
        }
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Outstanding::default();
    let mut sub_nics: Vec<(String, Value)> = Vec::new();
    let mut pending: Vec<String> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let entry: Entry = match serde_json::from_str(line) {
            Ok(e) => e,
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => break,
            Err(e) => {
                return Err(LedgerError {
                    file: path.display().to_string(),
                    line: i + 1,
                    message: format!("not a ledger entry: {e}"),
                });
            }
        };
        match entry {
            Entry::Run { started, seed, .. } => out.run = Some((started, seed)),
            Entry::Baseline {
                server_id,
                attached,
            } => out.baseline = Some((server_id, attached)),
            Entry::SubNic { id, fields } => {
                if !sub_nics.iter().any(|(i, _)| *i == id) {
                    sub_nics.push((id, fields));
                }
            }
            Entry::Creating { case, .. } => pending.push(case),
            Entry::Settled { case } => pending.retain(|c| *c != case),
            Entry::Created { port_id, .. } => {
                if !out.created.contains(&port_id) {
                    out.created.push(port_id);
                }
            }
            Entry::Attaching { port_id, .. } => {
                if !out.attached.contains(&port_id) {
                    out.attached.push(port_id);
                }
            }
            Entry::Detached { port_id } => {
                out.created.retain(|p| *p != port_id);
                out.attached.retain(|p| *p != port_id);
            }
            Entry::Restored { id } => sub_nics.retain(|(i, _)| *i != id),
            Entry::Finished => out.finished = true,
        }
    }
    out.sub_nics = sub_nics;
    out.unnamed_creates = pending.len();
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_strike_what_they_undo_and_a_torn_last_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.jsonl");
        let ledger = Ledger::create(&path).unwrap();
        let server = "s".to_string();
        for e in [
            Entry::Run {
                started: "t".into(),
                seed: 7,
                target: "x".into(),
            },
            Entry::Baseline {
                server_id: server.clone(),
                attached: vec!["primary".into()],
            },
            Entry::SubNic {
                id: "sub".into(),
                fields: serde_json::json!({"description": "d"}),
            },
            Entry::Creating {
                case: "c1".into(),
                server_id: server.clone(),
            },
            Entry::Created {
                port_id: "n1".into(),
                server_id: server.clone(),
            },
            Entry::Settled { case: "c1".into() },
            Entry::Creating {
                case: "c2".into(),
                server_id: server.clone(),
            },
            Entry::Attaching {
                port_id: "spare".into(),
                server_id: server.clone(),
            },
            Entry::Created {
                port_id: "n2".into(),
                server_id: server.clone(),
            },
            Entry::Settled { case: "c2".into() },
            Entry::Detached {
                port_id: "n1".into(),
            },
            Entry::Creating {
                case: "c3".into(),
                server_id: server.clone(),
            },
        ] {
            ledger.append(&e).unwrap();
        }
        // A write cut by a kill.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"entry\":\"crea")
            .unwrap();
        let o = read(&path).unwrap().unwrap();
        assert_eq!(o.run, Some(("t".into(), 7)));
        assert_eq!(o.created, ["n2"]);
        assert_eq!(o.attached, ["spare"]);
        assert_eq!(o.unnamed_creates, 1);
        assert_eq!(o.sub_nics.len(), 1);
        assert!(!o.is_clean());
        ledger.append(&Entry::Finished).ok();
        // The torn line is now in the middle: an error naming the line.
        let e = read(&path).unwrap_err();
        assert_eq!(e.line, 13, "{e}");
        assert!(read(&dir.path().join("none")).unwrap().is_none());
    }
}
