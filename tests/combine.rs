//! Beyond one run: shards merged into the whole run's report, targets side
//! by side on a fleet page, two targets compared case by case, and a
//! certificate signed by the vendor's key.

mod common;
use common::text;

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};

/// `run` against the built-in mock with `faults`, writing its JSON report to `report`.
fn run_to(report: &Path, faults: &[&str], extra: &[&str]) -> Option<i32> {
    let mut args = vec!["run", "--budget", "3", "--quiet", "--no-snapshots"];
    if !extra.contains(&"--seed") {
        args.extend(["--seed", "11"]);
    }
    for f in faults {
        args.extend(["--mock-fault", f]);
    }
    args.extend(extra);
    args.extend(["--report-json", report.to_str().unwrap()]);
    let o = common::run(&args);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", text(&o));
    o.status.code()
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The parts of a report that say what the run found, in an order that
/// does not depend on which case finished first.
fn verdicts(r: &Value) -> Value {
    let mut findings: Vec<Value> = (r["findings"].as_array().unwrap().iter())
        .map(|f| {
            let mut cases: Vec<&str> = f["cases"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap())
                .collect();
            cases.sort();
            json!([f["id"], f["operation"], f["count"], cases])
        })
        .collect();
    findings.sort_by_key(|f| f.to_string());
    let mut cases: Vec<Value> = (r["case_results"].as_array().unwrap().iter())
        .map(|c| {
            let mut c = c.clone();
            c.as_object_mut().unwrap().remove("duration_secs");
            c
        })
        .collect();
    cases.sort_by_key(|c| c["id"].to_string());
    let mut out = json!({"findings": findings, "case_results": cases});
    for key in [
        "planned",
        "cases",
        "passed",
        "failed",
        "undecided",
        "repeats_skipped",
        "not_sent",
        "errors",
        "exit_code",
        "exit_reason",
        "operations",
        "rules",
        "rules_by_operation",
        "coverage",
        "seed",
        "target",
        "contract_digest",
    ] {
        out[key] = r[key].clone();
    }
    out
}

#[test]
fn the_shards_of_a_run_merge_into_the_report_of_the_unsharded_run() {
    let dir = tempfile::tempdir().unwrap();
    let faults = ["duplicate-tag-keys", "bad-mac-address"];
    let whole = dir.path().join("whole.json");
    assert_eq!(run_to(&whole, &faults, &[]), Some(1));
    let mut shards = Vec::new();
    for k in 1..=3 {
        let p = dir.path().join(format!("shard-{k}.json"));
        run_to(&p, &faults, &["--shard", &format!("{k}/3")]);
        shards.push(p.to_str().unwrap().to_string());
    }
    let merged = dir.path().join("merged.json");
    let junit = dir.path().join("merged.xml");
    let html = dir.path().join("merged.html");
    // In another order than their numbers: the merge orders them.
    let mut args = vec!["report", "merge", &shards[2], &shards[0], &shards[1]];
    let outs = [
        merged.to_str().unwrap(),
        junit.to_str().unwrap(),
        html.to_str().unwrap(),
    ];
    args.extend([
        "--report-json",
        outs[0],
        "--junit",
        outs[1],
        "--report-html",
        outs[2],
    ]);
    let o = common::run(&args);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("merged 3 shards of builtin-mock (seed 11)"),
        "{}",
        text(&o)
    );
    let (whole, merged_report) = (read(&whole), read(&merged));
    assert!(whole["findings"].as_array().unwrap().len() >= 2);
    assert_eq!(verdicts(&merged_report), verdicts(&whole));
    assert_eq!(merged_report["shard"], Value::Null);
    // JUnit and the page of the whole run, from the merged shards.
    let junit = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(
        junit.matches("<testcase ").count(),
        whole["cases"].as_u64().unwrap() as usize
    );
    assert!(junit.contains("update-subnic.tag-keys-unique"), "{junit}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<code>update-subnic.tag-keys-unique</code> on"));
}

#[test]
fn shards_of_different_runs_are_refused_and_a_missing_shard_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    run_to(&p("a1.json"), &[], &["--shard", "1/2"]);
    run_to(&p("a2.json"), &[], &["--shard", "2/2", "--seed", "12"]);
    let out = p("out.json");
    let merge = |files: &[&str]| {
        let mut args = vec!["report", "merge"];
        let paths: Vec<String> = files.iter().map(|f| p(f).display().to_string()).collect();
        args.extend(paths.iter().map(String::as_str));
        let out = out.display().to_string();
        args.extend(["--report-json", &out]);
        let o = common::run(&args);
        (o.status.code(), text(&o))
    };
    let (code, t) = merge(&["a1.json", "a2.json"]);
    assert_eq!(code, Some(2), "{t}");
    assert!(
        t.contains("not the shards of one run") && t.contains("seed Some(12)"),
        "{t}"
    );
    let (code, t) = merge(&["a1.json"]);
    assert_eq!(code, Some(2), "{t}");
    assert!(t.contains("shard 2/2 missing"), "{t}");
    assert!(!out.exists());
    std::fs::write(p("bad.json"), "{\"target\": 1,\n  oops}").unwrap();
    let (code, t) = merge(&["a1.json", "bad.json"]);
    assert_eq!(code, Some(2), "{t}");
    assert!(
        t.contains("bad.json") && t.contains("line 2, column 3"),
        "{t}"
    );
}

/// The rule ids a fault profile breaks, as `mock --list-faults` prints them.
fn breaks(fault: &str) -> BTreeSet<String> {
    let o = common::run(&["mock", "--list-faults"]);
    let listing = String::from_utf8_lossy(&o.stdout).to_string();
    let line = listing
        .lines()
        .find(|l| l.split('\t').next() == Some(fault))
        .unwrap();
    line.split('\t')
        .nth(1)
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect()
}

#[test]
fn a_fleet_page_shows_each_fault_in_its_own_column() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let faults = ["deleted-nic-stays-listed", "accept:batch-add.port-down"];
    run_to(&p("mock.json"), &[], &[]);
    run_to(&p("fault-a.json"), &faults[..1], &[]);
    run_to(&p("fault-b.json"), &faults[1..], &["--seed", "12"]);
    let (json, html) = (p("fleet.json"), p("fleet.html"));
    let files = ["mock.json", "fault-a.json", "fault-b.json"].map(|f| p(f).display().to_string());
    let mut args = vec!["report", "merge"];
    args.extend(files.iter().map(String::as_str));
    let outs = [json.display().to_string(), html.display().to_string()];
    args.extend(["--report-json", &outs[0], "--report-html", &outs[1]]);
    let o = common::run(&args);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let fleet = read(&json);
    let labels: Vec<&str> = (fleet["targets"].as_array().unwrap().iter())
        .map(|t| t["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "builtin-mock (mock)",
            "builtin-mock (fault-a)",
            "builtin-mock (fault-b)"
        ]
    );
    assert_eq!(fleet["targets"][2]["other_seed"], true);
    assert_eq!(fleet["targets"][1]["other_seed"], false);
    // Each column is violated exactly where its fault breaks a rule.
    for (column, fault) in [(1, faults[0]), (2, faults[1])] {
        let violated: BTreeSet<String> = (fleet["rules"].as_object().unwrap().iter())
            .filter(|(_, cells)| cells[column] == "violated")
            .map(|(id, _)| id.clone())
            .collect();
        assert_eq!(violated, breaks(fault), "column {column}");
        for id in &violated {
            assert_ne!(fleet["rules"][id][0], "violated", "{id} on the mock");
        }
    }
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("other seed"),
        "the third run's seed is marked"
    );
    for fault in faults {
        for id in breaks(fault) {
            assert!(page.contains(&format!("<code>{id}</code> on")), "{id}");
        }
    }
}

#[test]
fn compare_with_the_mock_lists_exactly_the_cases_a_fault_changes() {
    let dir = tempfile::tempdir().unwrap();
    let fault = "accept:batch-add.port-down";
    let report = dir.path().join("a.json");
    let args = [
        "run",
        "--seed",
        "11",
        "--budget",
        "3",
        "--quiet",
        "--no-snapshots",
        "--mock-fault",
        fault,
        "--compare-with",
        "mock",
        "--report-json",
        report.to_str().unwrap(),
    ];
    let o = common::run(&args);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("where one side violates a rule"), "{t}");
    // Every rule named as violated on one side only is the fault's, on A.
    let only: BTreeSet<String> = (t.lines())
        .filter_map(|l| l.trim().strip_suffix(" violated only on A"))
        .map(str::to_string)
        .collect();
    assert_eq!(only, breaks(fault), "{t}");
    assert!(!t.contains("violated only on B"), "{t}");
    // The same list from the run's kept report: the failing cases of A are the differing ones.
    let failing: BTreeSet<String> = (read(&report)["case_results"].as_array().unwrap().iter())
        .filter(|c| c["outcome"] == "failed")
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    let listed: BTreeSet<String> = (t.lines())
        .filter(|l| l.starts_with("  ") && !l.starts_with("    "))
        .map(|l| l.trim().to_string())
        .collect();
    assert_eq!(listed, failing, "{t}");
}

#[test]
fn a_signed_certificate_verifies_with_the_vendors_key_only() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).display().to_string();
    let o = common::run(&[
        "certificate",
        "keygen",
        "--secret",
        &p("key"),
        "--public",
        &p("key.pub"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(p("key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let secret = std::fs::read_to_string(p("key")).unwrap();
    let o = common::run(&[
        "run",
        "--seed",
        "5",
        "--budget",
        "0",
        "--quiet",
        "--no-snapshots",
        "--certificate",
        &p("cert.json"),
        "--sign-key",
        &p("key"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        !text(&o).contains(secret.trim()),
        "the secret key is never printed"
    );
    let cert = std::fs::read_to_string(p("cert.json")).unwrap();
    assert!(!cert.contains(secret.trim()));
    let verify = |file: &str, key: Option<&str>| {
        let mut args = vec!["certificate", "verify", file];
        args.extend(key.map(|k| ["--public-key", k]).into_iter().flatten());
        let o = common::run(&args);
        (o.status.code(), text(&o))
    };
    let (code, t) = verify(&p("cert.json"), Some(&p("key.pub")));
    assert_eq!(code, Some(0), "{t}");
    assert!(t.contains("signed by the public key given"), "{t}");
    // Another vendor's key.
    common::run(&[
        "certificate",
        "keygen",
        "--secret",
        &p("other"),
        "--public",
        &p("other.pub"),
    ]);
    let (code, t) = verify(&p("cert.json"), Some(&p("other.pub")));
    assert_eq!(code, Some(1), "{t}");
    assert!(t.contains("not the public key given"), "{t}");
    // A count changed after signing, even one that still adds up.
    let mut v: Value = serde_json::from_str(&cert).unwrap();
    v["started"] = json!("20000101T000000Z");
    std::fs::write(p("changed.json"), v.to_string()).unwrap();
    let (code, t) = verify(&p("changed.json"), Some(&p("key.pub")));
    assert_eq!(code, Some(1), "{t}");
    assert!(t.contains("it was changed after signing"), "{t}");
    // With the signature removed, the vendor's key refuses it.
    v.as_object_mut().unwrap().remove("signature");
    std::fs::write(p("unsigned.json"), v.to_string()).unwrap();
    let (code, t) = verify(&p("unsigned.json"), Some(&p("key.pub")));
    assert_eq!(code, Some(1), "{t}");
    assert!(t.contains("not signed"), "{t}");
}
