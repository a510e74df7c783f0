//! One owner per target: a run (or a `cleanup`) holds an exclusive lock on
//! every mutable resource it may touch (the server, each spare port, each
//! supplementary NIC) for its whole life, so two runs never interleave
//! their changes or their records. The locks are files beside the ledger,
//! locked with the operating system's advisory file lock: a process that
//! dies releases them, and the next owner says whose lock it took over.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A resource a run may change, named as the target file names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Resource {
    /// `server`, `spare-port`, `sub-nic`.
    pub kind: &'static str,
    pub id: String,
    /// The endpoint and project it lives in: the same id on another cloud is another resource.
    pub scope: String,
}

impl Resource {
    fn file_name(&self) -> String {
        let digest = Sha256::digest(format!("{}\n{}\n{}", self.scope, self.kind, self.id));
        let safe: String = self
            .id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(40)
            .collect();
        format!(
            "lock-{}-{safe}-{}.lock",
            self.kind,
            hex::encode(&digest[..6])
        )
    }
}

/// Who holds a lock, as written in its file.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    pub started: String,
    pub command: String,
}

impl Holder {
    /// This process, running `command`.
    pub fn me(command: &str) -> Holder {
        Holder {
            pid: std::process::id(),
            host: host_name(),
            started: crate::signing::sdk_date_now(),
            command: command.to_string(),
        }
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} on host {} since {} (`{}`)",
            self.pid, self.host, self.started, self.command
        )
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// Why the locks could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{kind} {id} is in use by another run: {holder}")]
    Held {
        kind: &'static str,
        id: String,
        holder: String,
        file: PathBuf,
    },
    #[error("{}: cannot lock: {source}", file.display())]
    Io {
        file: PathBuf,
        source: std::io::Error,
    },
}

/// The locks a run holds; dropped, they are released (and their files
/// emptied, so the next owner knows the last one ended well).
#[derive(Debug)]
pub struct Locks {
    files: Vec<std::fs::File>,
}

impl Drop for Locks {
    fn drop(&mut self) {
        for f in &self.files {
            let _ = f.set_len(0);
            let _ = f.unlock();
        }
    }
}

/// Reads who last held the lock file (empty: nobody, or one that ended well).
fn read_holder(file: &mut std::fs::File) -> Option<Holder> {
    let mut text = String::new();
    file.seek(std::io::SeekFrom::Start(0)).ok()?;
    file.take(64 * 1024).read_to_string(&mut text).ok()?;
    serde_json::from_str(text.trim()).ok()
}

fn open(path: &Path) -> Result<std::fs::File, LockError> {
    let io = |source| LockError::Io {
        file: path.to_path_buf(),
        source,
    };
    crate::files::refuse_special(path).map_err(io)?;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io)
}

/// Takes every resource's lock in `dir`, or none: the first one held by
/// another process is the error, naming its holder. The notices name the
/// locks taken over from processes that are gone.
pub fn acquire(
    dir: &Path,
    resources: &[Resource],
    me: &Holder,
) -> Result<(Locks, Vec<String>), LockError> {
    std::fs::create_dir_all(dir).map_err(|source| LockError::Io {
        file: dir.to_path_buf(),
        source,
    })?;
    let mut sorted = resources.to_vec();
    sorted.sort();
    sorted.dedup();
    let mut locks = Locks { files: Vec::new() };
    let mut notices = Vec::new();
    let me_json = serde_json::to_string(me).unwrap_or_default();
    for r in &sorted {
        let path = dir.join(r.file_name());
        let mut file = open(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = read_holder(&mut file)
                    .map(|h| h.to_string())
                    .unwrap_or_else(|| "a process that has not said who it is yet".into());
                return Err(LockError::Held {
                    kind: r.kind,
                    id: r.id.clone(),
                    holder,
                    file: path,
                });
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(LockError::Io { file: path, source });
            }
        }
        if let Some(gone) = read_holder(&mut file) {
            notices.push(format!(
                "took over the lock on {} {} from {gone}: that process is gone without releasing it",
                r.kind, r.id
            ));
        }
        let write = (|| {
            file.set_len(0)?;
            file.seek(std::io::SeekFrom::Start(0))?;
            file.write_all(me_json.as_bytes())?;
            file.sync_data()
        })();
        write.map_err(|source| LockError::Io {
            file: path.clone(),
            source,
        })?;
        locks.files.push(file);
    }
    Ok((locks, notices))
}

/// Who holds any of `resources` now, without taking anything (for `doctor`).
pub fn holders(dir: &Path, resources: &[Resource]) -> Vec<(Resource, String)> {
    let mut out = Vec::new();
    for r in resources {
        let path = dir.join(r.file_name());
        let Ok(mut file) = std::fs::File::open(&path) else {
            continue;
        };
        if let Err(std::fs::TryLockError::WouldBlock) = file.try_lock_shared() {
            let holder = read_holder(&mut file)
                .map(|h| h.to_string())
                .unwrap_or_else(|| "another process".into());
            out.push((r.clone(), holder));
        } else {
            let _ = file.unlock();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(id: &str) -> Resource {
        Resource {
            kind: "server",
            id: id.into(),
            scope: "http://x|p".into(),
        }
    }

    #[test]
    fn a_held_resource_is_refused_naming_its_holder_and_a_dead_holder_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let me = Holder::me("nic-conformance run --target t.toml");
        let (held, notices) = acquire(dir.path(), &[server("a"), server("b")], &me).unwrap();
        assert!(notices.is_empty());
        // flock locks belong to the open file: a second open in this process contends too.
        let e = acquire(dir.path(), &[server("b")], &me)
            .unwrap_err()
            .to_string();
        assert!(e.contains("server b is in use"), "{e}");
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        assert_eq!(holders(dir.path(), &[server("a"), server("c")]).len(), 1);
        // Another scope is another resource.
        let mut elsewhere = server("a");
        elsewhere.scope = "http://y|p".into();
        drop(acquire(dir.path(), &[elsewhere], &me).unwrap());
        drop(held);
        assert!(holders(dir.path(), &[server("a")]).is_empty());
        let (_again, notices) = acquire(dir.path(), &[server("a")], &me).unwrap();
        assert!(notices.is_empty(), "a released lock is no takeover");
        // A holder that died leaves its name in the file; the next owner says so.
        let stale = dir.path().join(server("z").file_name());
        let dead = Holder {
            pid: 999_999,
            ..me.clone()
        };
        std::fs::write(&stale, serde_json::to_string(&dead).unwrap()).unwrap();
        let (_z, notices) = acquire(dir.path(), &[server("z")], &me).unwrap();
        assert!(notices[0].contains("pid 999999"), "{notices:?}");
    }
}
