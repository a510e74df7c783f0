//! What a run did to a real target, written down as it happens so that a
//! run that dies (SIGKILL, a lost machine) can be undone afterwards by
//! `nic-conformance cleanup`.
//!
//! The ledger is a JSON-lines file, one entry per line, each on disk before
//! the request it announces is sent: a killed process loses nothing it had
//! announced. Entries that arrive together share one write and one sync. A resource is struck
//! (`detached`, `restored`, `port-restored`) once it is back; `finished`
//! closes a run that cleaned up after itself. Runs append to the file one
//! after another (it is never truncated, so no record is lost); reading it
//! back looks at the last run.

use std::io::{Read, Seek, Write};
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
    /// The server's attachments before the run's first write: never
    /// deleted by the run or by cleanup, whatever a job reports. (Written
    /// as `baseline` by earlier versions; a baseline is now only a file of
    /// accepted findings.)
    #[serde(alias = "baseline")]
    AttachedBefore {
        server_id: String,
        attached: Vec<String>,
    },
    /// A supplementary NIC's updatable fields before the run changed any.
    SubNic { id: String, fields: Value },
    /// An attached port's updatable fields (its `delete_on_termination`)
    /// before the run's first update of it.
    PortFields { port_id: String, fields: Value },
    /// A request that may create NICs on the server is about to be sent.
    Creating { case: String, server_id: String },
    /// The job a `creating` case's request started: `cleanup` waits for it
    /// to end before it looks (a run killed mid-job leaves it running).
    Job { case: String, job_id: String },
    /// A NIC the run created (named by the job's sub-jobs or the answer).
    Created { port_id: String, server_id: String },
    /// The NICs a `creating` case made are all named (or it made none).
    Settled { case: String },
    /// A spare port is about to be attached.
    Attaching { port_id: String, server_id: String },
    /// A port is no longer attached (a created NIC deleted, a spare detached).
    Detached { port_id: String },
    /// A supplementary NIC has its fields back.
    Restored { id: String },
    /// A port has its fields back.
    PortRestored { port_id: String },
    /// The run ended and left the server as it found it.
    Finished,
}

/// Ledger files are text the harness wrote; anything bigger is not one.
const MAX_LEDGER_BYTES: u64 = 256 * 1024 * 1024;

/// An append-only ledger file. Entries go to one writer thread, which
/// writes every entry waiting and then syncs them with one `fdatasync`
/// (group commit): a writer waits until its entry is on disk, and many
/// concurrent entries share one sync instead of each paying for its own,
/// on no tokio worker.
pub struct Ledger {
    path: PathBuf,
    queue: std::sync::Mutex<Option<std::sync::mpsc::Sender<Pending>>>,
    writer: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    syncs: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// An entry waiting for the writer, and who waits for it.
struct Pending {
    line: Vec<u8>,
    done: Done,
}

enum Done {
    Blocking(std::sync::mpsc::Sender<Result<(), String>>),
    Async(tokio::sync::oneshot::Sender<Result<(), String>>),
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

    /// The ledger of another server of the run whose ledger is `first`:
    /// beside it, named by the server (`ledger-r1.jsonl` →
    /// `ledger-r1.server-<id>.jsonl`), so `cleanup` finds it by the target file.
    pub fn for_server(first: &Path, server_id: &str) -> PathBuf {
        let safe: String = (server_id.chars())
            .map(|c| match c.is_ascii_alphanumeric() || c == '-' {
                true => c,
                false => '_',
            })
            .collect();
        let stem = first.file_stem().unwrap_or_default().to_string_lossy();
        let ext = (first.extension())
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default();
        first.with_file_name(format!("{stem}.server-{safe}{ext}"))
    }

    /// Opens the ledger at `path` for appending, creating it (and its
    /// folder) if need be. Earlier runs' lines are kept; a torn last line (a
    /// write cut by a crash) is dropped, and the returned notice says so.
    pub fn open(path: &Path) -> std::io::Result<(Ledger, Option<String>)> {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        crate::files::refuse_special(path)?;
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        let notice = drop_torn_tail(&mut file)?.map(|n| {
            format!(
                "{}: dropped a torn last line ({n} bytes, a write cut by a crash)",
                path.display()
            )
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let syncs = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = syncs.clone();
        let writer = std::thread::Builder::new()
            .name("ledger".into())
            .spawn(move || write_groups(file, rx, &counted))?;
        Ok((
            Ledger {
                path: path.to_path_buf(),
                queue: std::sync::Mutex::new(Some(tx)),
                writer: std::sync::Mutex::new(Some(writer)),
                syncs,
            },
            notice,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many times the file was synced so far (one per group of entries).
    pub fn syncs(&self) -> u64 {
        self.syncs.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn enqueue(&self, entry: &Entry, done: Done) -> Result<(), String> {
        let mut line = serde_json::to_vec(entry).map_err(|e| e.to_string())?;
        line.push(b'\n');
        let queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let tx = queue.as_ref().ok_or("the ledger is closed")?;
        tx.send(Pending { line, done })
            .map_err(|_| "the ledger's writer stopped".to_string())
    }

    /// Appends one entry and waits, on this thread, until it is on disk
    /// (for code outside the async runtime: opening a run, tests).
    pub fn append(&self, entry: &Entry) -> std::io::Result<()> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.enqueue(entry, Done::Blocking(tx))
            .map_err(std::io::Error::other)?;
        rx.recv()
            .map_err(|_| std::io::Error::other("the ledger's writer stopped"))?
            .map_err(std::io::Error::other)
    }

    /// Appends one entry; resolves once it is on disk, without holding a
    /// tokio worker while the writer syncs.
    pub async fn write(&self, entry: &Entry) -> Result<(), String> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.enqueue(entry, Done::Async(tx))?;
        rx.await
            .map_err(|_| "the ledger's writer stopped".to_string())?
    }

    /// Waits for the writer to put every queued entry on disk and stop.
    pub fn close(&self) {
        drop(self.queue.lock().unwrap_or_else(|e| e.into_inner()).take());
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(w) = writer {
            let _ = w.join();
        }
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        self.close();
    }
}

/// The writer thread: every entry waiting is written in one `write` and
/// synced once; each waiter then learns how that went.
fn write_groups(
    mut file: std::fs::File,
    rx: std::sync::mpsc::Receiver<Pending>,
    syncs: &std::sync::atomic::AtomicU64,
) {
    let mut buf = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        group.extend(rx.try_iter());
        buf.clear();
        for p in &group {
            buf.extend_from_slice(&p.line);
        }
        let result = file
            .write_all(&buf)
            .and_then(|()| file.sync_data())
            .map_err(|e| e.to_string());
        syncs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for p in group {
            match p.done {
                Done::Blocking(tx) => {
                    let _ = tx.send(result.clone());
                }
                Done::Async(tx) => {
                    let _ = tx.send(result.clone());
                }
            }
        }
    }
}

/// Cuts the file back to its last complete line; returns how many bytes went.
fn drop_torn_tail(file: &mut std::fs::File) -> std::io::Result<Option<u64>> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(None);
    }
    // Read backwards in blocks until a newline (or the start) is found.
    let mut end = len;
    let mut block = vec![0u8; 4096];
    loop {
        let start = end.saturating_sub(block.len() as u64);
        let n = (end - start) as usize;
        file.seek(std::io::SeekFrom::Start(start))?;
        file.read_exact(&mut block[..n])?;
        if let Some(i) = block[..n].iter().rposition(|b| *b == b'\n') {
            let keep = start + i as u64 + 1;
            if keep == len {
                return Ok(None);
            }
            file.set_len(keep)?;
            file.sync_data()?;
            return Ok(Some(len - keep));
        }
        if start == 0 {
            file.set_len(0)?;
            file.sync_data()?;
            return Ok(Some(len));
        }
        end = start;
    }
}

/// A ledger read back: what the last run left outstanding.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Outstanding {
    /// The run that wrote it (started, seed).
    pub run: Option<(String, u64)>,
    pub attached_before: Option<(String, Vec<String>)>,
    /// NICs created and not yet deleted.
    pub created: Vec<String>,
    /// Spares attached and not yet detached.
    pub attached: Vec<String>,
    /// A create was announced whose NICs were never named (the run died
    /// waiting): a NIC attached beyond the baseline may be one.
    pub unnamed_creates: usize,
    /// The jobs of those creates (a create answered without one is not here).
    pub unnamed_jobs: Vec<String>,
    /// Supplementary NICs changed and not restored, with their earlier fields.
    pub sub_nics: Vec<(String, Value)>,
    /// Ports whose fields were changed and not restored, with their earlier fields.
    pub ports: Vec<(String, Value)>,
    /// Every field record of the run, restored or not: what `doctor` compares.
    pub recorded: Vec<Recorded>,
    /// The run closed the ledger: nothing is outstanding.
    pub finished: bool,
}

/// Fields of a fixture as the run found them.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    SubNic { id: String, fields: Value },
    Port { port_id: String, fields: Value },
}

impl Outstanding {
    /// Nothing to undo.
    pub fn is_clean(&self) -> bool {
        self.finished
            || (self.created.is_empty()
                && self.attached.is_empty()
                && self.unnamed_creates == 0
                && self.sub_nics.is_empty()
                && self.ports.is_empty())
    }

    /// The run in words: "run of seed S started T".
    pub fn describe_run(&self) -> String {
        match &self.run {
            Some((started, seed)) => format!("the run of seed {seed} started {started}"),
            None => "an earlier run".into(),
        }
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

/// Reads a ledger; `Ok(None)` when there is none. Only the last run counts
/// (earlier runs before it were clean, or it could not have started). A
/// torn last line is skipped; any other bad line is an error.
pub fn read(path: &Path) -> Result<Option<Outstanding>, LedgerError> {
    let error = |line: usize, message: String| LedgerError {
        file: path.display().to_string(),
        line,
        message,
    };
    let text = match crate::files::read_capped(path, MAX_LEDGER_BYTES) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(error(0, e.to_string())),
    };
    let text = String::from_utf8(text).map_err(|e| error(0, format!("not UTF-8: {e}")))?;
    let lines: Vec<&str> = text.lines().collect();
    let mut replay = Replay::default();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let entry: Entry = match serde_json::from_str(line) {
            Ok(e) => e,
            // A torn last line (a write cut by a crash): `Ledger::open` drops it.
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => break,
            Err(e) => return Err(error(i + 1, format!("not a ledger entry: {e}"))),
        };
        replay.apply(entry);
    }
    let Replay {
        mut out,
        pending,
        jobs,
    } = replay;
    out.unnamed_creates = pending.len();
    out.unnamed_jobs = jobs.into_iter().map(|(_, j)| j).collect();
    Ok(Some(out))
}

/// A ledger read entry by entry: what is outstanding so far, the creating
/// cases not yet settled and their jobs.
#[derive(Default)]
struct Replay {
    out: Outstanding,
    pending: Vec<String>,
    jobs: Vec<(String, String)>,
}

impl Replay {
    fn apply(&mut self, entry: Entry) {
        let Replay { out, pending, jobs } = self;
        match entry {
            Entry::Run { started, seed, .. } => {
                // A new run: what came before it was closed.
                *out = Outstanding {
                    run: Some((started, seed)),
                    ..Outstanding::default()
                };
                pending.clear();
            }
            Entry::AttachedBefore {
                server_id,
                attached,
            } => out.attached_before = Some((server_id, attached)),
            Entry::SubNic { id, fields } => {
                if !out.sub_nics.iter().any(|(i, _)| *i == id) {
                    out.recorded.push(Recorded::SubNic {
                        id: id.clone(),
                        fields: fields.clone(),
                    });
                    out.sub_nics.push((id, fields));
                }
            }
            Entry::PortFields { port_id, fields } => {
                if !out.ports.iter().any(|(p, _)| *p == port_id) {
                    out.recorded.push(Recorded::Port {
                        port_id: port_id.clone(),
                        fields: fields.clone(),
                    });
                    out.ports.push((port_id, fields));
                }
            }
            Entry::Creating { case, .. } => pending.push(case),
            Entry::Settled { case } => {
                pending.retain(|c| *c != case);
                jobs.retain(|(c, _)| *c != case);
            }
            Entry::Job { case, job_id } => jobs.push((case, job_id)),
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
            Entry::Restored { id } => out.sub_nics.retain(|(i, _)| *i != id),
            Entry::PortRestored { port_id } => out.ports.retain(|(p, _)| *p != port_id),
            Entry::Finished => out.finished = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries written at once share syncs, each is on disk when its write
    /// resolves, and none is lost or torn.
    #[test]
    fn concurrent_entries_share_one_sync_and_each_is_on_disk_when_its_write_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.jsonl");
        let (ledger, _) = Ledger::open(&path).unwrap();
        let ledger = std::sync::Arc::new(ledger);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        rt.block_on(async {
            let tasks: Vec<_> = (0..200)
                .map(|i| {
                    let (ledger, path) = (ledger.clone(), path.clone());
                    tokio::spawn(async move {
                        let entry = Entry::Detached {
                            port_id: format!("p{i}"),
                        };
                        ledger.write(&entry).await.unwrap();
                        let text = std::fs::read_to_string(&path).unwrap();
                        assert!(text.contains(&format!("\"p{i}\"")), "p{i} not on disk yet");
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 200);
        assert!(
            text.lines()
                .all(|l| serde_json::from_str::<Entry>(l).is_ok())
        );
        let syncs = ledger.syncs();
        assert!(syncs < 200, "{syncs} syncs for 200 concurrent entries");
    }

    #[test]
    fn entries_strike_what_they_undo_runs_append_and_a_torn_last_line_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.jsonl");
        let (ledger, notice) = Ledger::open(&path).unwrap();
        assert_eq!(notice, None);
        let server = "s".to_string();
        for e in [
            Entry::Run {
                started: "t".into(),
                seed: 7,
                target: "x".into(),
            },
            Entry::AttachedBefore {
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
        drop(ledger);
        // Opening again drops the torn line, with a notice, and keeps the rest.
        let (ledger, notice) = Ledger::open(&path).unwrap();
        assert!(notice.unwrap().contains("torn last line (14 bytes"));
        assert_eq!(read(&path).unwrap().unwrap().created, ["n2"]);
        ledger.append(&Entry::Finished).unwrap();
        assert!(read(&path).unwrap().unwrap().is_clean());
        // A later run appends; only it counts, and the earlier lines stay.
        let before = std::fs::read_to_string(&path).unwrap();
        ledger
            .append(&Entry::Run {
                started: "u".into(),
                seed: 8,
                target: "x".into(),
            })
            .unwrap();
        let after = std::fs::read_to_string(&path).unwrap();
        assert!(after.starts_with(&before), "the ledger was rewritten");
        let o = read(&path).unwrap().unwrap();
        assert_eq!(o.run, Some(("u".into(), 8)));
        assert!(o.created.is_empty() && !o.finished);
        // A bad line in the middle is an error naming the line.
        std::fs::write(&path, format!("garbage\n{after}")).unwrap();
        let e = read(&path).unwrap_err();
        assert_eq!(e.line, 1, "{e}");
        assert!(read(&dir.path().join("none")).unwrap().is_none());
    }
}
