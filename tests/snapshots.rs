//! Snapshots: recorded against the faithful mock they are stable, a value
//! drift shows as a diff of exactly the drifted fields, pending snapshots are
//! accepted or rejected explicitly, and nothing is lost to a crash or a bad file.

mod common;
use common::{BIN, ROOT, run, text};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

fn snaps(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("builtin-mock"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn record(dir: &Path, seed: &str) {
    let o = run(&[
        "run",
        "--seed",
        seed,
        "--budget",
        "3",
        "--record",
        "--snapshot-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn two_runs_against_the_faithful_mock_record_identical_snapshots() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    record(a.path(), "1");
    record(b.path(), "2");
    let (sa, sb) = (snaps(a.path()), snaps(b.path()));
    assert!(sa.len() >= 50, "one snapshot per curated case");
    assert_eq!(
        sa.iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect::<Vec<_>>(),
        sb.iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect::<Vec<_>>()
    );
    for (x, y) in sa.iter().zip(&sb) {
        assert_eq!(
            std::fs::read_to_string(x).unwrap(),
            std::fs::read_to_string(y).unwrap(),
            "{} differs between runs",
            x.display()
        );
    }
    // And they are the ones committed for the built-in mock.
    for x in &sa {
        let committed = Path::new(ROOT)
            .join("snapshots/builtin-mock")
            .join(x.file_name().unwrap());
        assert_eq!(
            std::fs::read_to_string(x).unwrap(),
            std::fs::read_to_string(&committed).unwrap(),
            "{}",
            committed.display()
        );
    }
}

#[test]
fn a_value_drift_fails_with_a_diff_of_exactly_the_drifted_fields() {
    let dir = tempfile::tempdir().unwrap();
    record(dir.path(), "1");
    let before: Vec<String> = snaps(dir.path())
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let json = dir.path().join("r.json");
    let o = run(&[
        "run",
        "--seed",
        "1",
        "--budget",
        "0",
        "--mock-fault",
        "value-drift",
        "--snapshot-dir",
        dir.path().to_str().unwrap(),
        "--report-json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let findings = r["findings"].as_array().unwrap();
    assert!(
        findings.iter().all(|f| f["id"] == "snapshot.drift"),
        "{findings:?}"
    );
    assert!(!findings.is_empty());
    for f in findings {
        let diff = f["actual"].as_str().unwrap();
        let changed: Vec<&str> = diff
            .lines()
            .filter(|l| {
                (l.starts_with('+') || l.starts_with('-'))
                    && !l.starts_with("+++")
                    && !l.starts_with("---")
            })
            .collect();
        assert!(!changed.is_empty());
        for line in &changed {
            assert!(
                line.contains("\"scope\"") || line.contains("\"instance_type\""),
                "the diff shows an undrifted line: {line}\n{diff}"
            );
        }
        assert_eq!(changed.len(), 4, "two fields, old and new: {diff}");
    }
    // Compare mode writes nothing.
    let after: Vec<String> = snaps(dir.path())
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert_eq!(before, after);
}

#[test]
fn update_writes_pending_snapshots_that_accept_and_reject_resolve() {
    let dir = tempfile::tempdir().unwrap();
    record(dir.path(), "1");
    let d = dir.path().to_str().unwrap();
    let accepted = dir
        .path()
        .join("builtin-mock/update-sub-network-interface__page-example.snap");
    let original = std::fs::read_to_string(&accepted).unwrap();
    let o = run(&[
        "run",
        "--seed",
        "1",
        "--budget",
        "0",
        "--mock-fault",
        "value-drift",
        "--snapshot-dir",
        d,
        "--update-snapshots",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let pending = dir
        .path()
        .join("builtin-mock/update-sub-network-interface__page-example.snap.new");
    assert!(pending.exists());
    assert_eq!(
        std::fs::read_to_string(&accepted).unwrap(),
        original,
        "an accepted snapshot changes only on accept"
    );
    assert!(text(&run(&["snapshots", "reject", "--snapshot-dir", d])).contains("rejected"));
    assert!(!pending.exists());
    assert_eq!(std::fs::read_to_string(&accepted).unwrap(), original);
    run(&[
        "run",
        "--seed",
        "1",
        "--budget",
        "0",
        "--mock-fault",
        "value-drift",
        "--snapshot-dir",
        d,
        "--update-snapshots",
    ]);
    // Review without a terminal answers nothing: everything stays pending.
    let o = run(&["snapshots", "review", "--snapshot-dir", d]);
    assert!(
        text(&o).contains("+      \"scope\": \"az-drift-1\""),
        "{}",
        text(&o)
    );
    assert!(pending.exists());
    assert!(text(&run(&["snapshots", "accept", "--snapshot-dir", d])).contains("accepted"));
    assert!(!pending.exists());
    assert!(
        std::fs::read_to_string(&accepted)
            .unwrap()
            .contains("az-drift-1")
    );
}

#[test]
fn a_snapshot_that_cannot_be_parsed_is_an_error_naming_the_file_not_a_re_record() {
    let dir = tempfile::tempdir().unwrap();
    record(dir.path(), "1");
    let broken = dir
        .path()
        .join("builtin-mock/batch-add-nics__page-example.snap");
    std::fs::write(&broken, "not a snapshot").unwrap();
    let o = run(&[
        "run",
        "--seed",
        "1",
        "--budget",
        "0",
        "--record",
        "--snapshot-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("batch-add-nics__page-example.snap: not a snapshot file"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read_to_string(&broken).unwrap(), "not a snapshot");
}

#[test]
fn a_crash_while_writing_leaves_the_accepted_snapshot_intact() {
    // A write that dies before its rename: the accepted file is untouched
    // and the half-written one is gone.
    let dir = tempfile::tempdir().unwrap();
    let accepted = dir.path().join("x.snap");
    std::fs::write(&accepted, "---\nsource: t\n---\nold\n").unwrap();
    let mut half = nic_conformance::files::AtomicFile::create(&accepted).unwrap();
    std::io::Write::write_all(&mut half, b"---\nsource: t\n---\nne").unwrap();
    drop(half);
    assert_eq!(
        nic_conformance::snapshot::read_snap(&accepted).unwrap(),
        "old"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    // A recording process killed at arbitrary moments never leaves a torn snapshot.
    let dir = tempfile::tempdir().unwrap();
    record(dir.path(), "1");
    for delay_ms in [5u64, 20, 40, 80, 120] {
        let mut child = Command::new(BIN)
            .args([
                "run",
                "--seed",
                "1",
                "--budget",
                "0",
                "--record",
                "--snapshot-dir",
                dir.path().to_str().unwrap(),
            ])
            .current_dir(ROOT)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        for p in snaps(dir.path()) {
            if p.extension().is_some_and(|e| e == "snap") {
                let contents = nic_conformance::snapshot::read_snap(&p).unwrap();
                assert!(
                    contents.starts_with('{') && contents.ends_with('}'),
                    "{} is torn",
                    p.display()
                );
            }
        }
    }
}

/// A first run against a target with no accepted snapshots is not red: the
/// missing ones are "new" (listed once, with the command that accepts them
/// all), the run exits 0, and accepting them makes the next run compare.
#[test]
fn a_first_run_lists_new_snapshots_without_failing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let json = dir.path().join("r.json");
    let o = run(&[
        "run",
        "--seed",
        "1",
        "--budget",
        "0",
        "--snapshot-dir",
        d,
        "--report-json",
        json.to_str().unwrap(),
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(!out.contains("FAIL"), "{out}");
    let first = out
        .lines()
        .find(|l| l.starts_with("Next:"))
        .unwrap_or_default();
    assert!(
        first.contains("new snapshot(s)")
            && first.contains(&format!(
                "nic-conformance snapshots accept --snapshot-dir {d}"
            )),
        "{out}"
    );
    assert!(out.contains("New snapshots ("), "{out}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let new = report["new_snapshots"].as_array().unwrap().len();
    assert!(new > 0 && report["failed"] == 0, "{report}");
    let accepted = || {
        (snaps(dir.path()).iter())
            .filter(|p| p.extension().is_some_and(|e| e == "snap"))
            .count()
    };
    assert_eq!(accepted(), 0, "nothing accepted without asking");
    assert!(text(&run(&["snapshots", "accept", "--snapshot-dir", d])).contains("accepted"));
    assert_eq!(accepted(), new);
    let o = run(&["run", "--seed", "1", "--budget", "0", "--snapshot-dir", d]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).contains("New snapshots"), "{}", text(&o));
}
