//! `snapshots review|accept|reject`: pending snapshots, one by one or all at once.

use std::io::Write;
use std::path::Path;

use crate::cli::SnapshotAction;
use crate::error::{Error, exit};
use crate::report::console::paint_diff;
use crate::snapshot::{accept, accepted_path, diff, pending, read_snap, reject};

pub fn command(action: &SnapshotAction, dir: &Path) -> Result<i32, Error> {
    let list = pending(dir);
    let mut out = std::io::stdout().lock();
    if list.is_empty() {
        let _ = writeln!(out, "no pending snapshots under {}", dir.display());
        return Ok(exit::OK);
    }
    match action {
        SnapshotAction::Accept => {
            for p in &list {
                accept(p)?;
                let _ = writeln!(out, "accepted {}", accepted_path(p).display());
            }
        }
        SnapshotAction::Reject => {
            for p in &list {
                reject(p)?;
                let _ = writeln!(out, "rejected {}", p.display());
            }
        }
        SnapshotAction::Review => review(&list, &mut out)?,
    }
    Ok(exit::OK)
}

fn review(list: &[std::path::PathBuf], out: &mut impl Write) -> Result<(), Error> {
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let stdin = std::io::stdin();
    for p in list {
        let new = read_snap(p)?;
        let old_path = accepted_path(p);
        let old = if old_path.exists() {
            read_snap(&old_path)?
        } else {
            String::new()
        };
        let d = diff(&old, &new);
        let _ = writeln!(out, "\n{}", old_path.display());
        let _ = writeln!(out, "{}", if tty { paint_diff(&d) } else { d });
        let _ = write!(out, "accept (a), reject (r) or skip (s)? ");
        let _ = out.flush();
        let mut answer = String::new();
        let read = stdin
            .read_line(&mut answer)
            .map_err(|e| Error::Harness(format!("cannot read the answer: {e}")))?;
        if read == 0 {
            let _ = writeln!(out, "\nno input: the rest stay pending");
            break;
        }
        match answer.trim() {
            "a" | "accept" => accept(p)?,
            "r" | "reject" => reject(p)?,
            _ => {
                let _ = writeln!(out, "skipped");
            }
        }
    }
    Ok(())
}
