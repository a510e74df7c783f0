//! The reports people and CI read after a run: the HTML page, the baseline
//! of accepted findings, and JUnit per case. Each runs the binary against
//! the built-in mock with fault profiles, as a user would.

mod common;
use common::text;

use std::path::Path;
use std::process::Output;

const OPERATIONS: [&str; 5] = [
    "batch-add-nics",
    "nova-attach-interface",
    "batch-delete-nics",
    "update-interface-attachment",
    "update-sub-network-interface",
];

fn run(faults: &[&str], extra: &[&str]) -> Output {
    let mut args = vec!["run", "--seed", "3", "--quiet", "--no-snapshots"];
    for f in faults {
        args.extend(["--mock-fault", f]);
    }
    args.extend(extra);
    common::run(&args)
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

#[test]
fn the_html_report_is_self_contained_and_shows_operations_rules_and_findings() {
    let dir = tempfile::tempdir().unwrap();
    let html = path(dir.path(), "report.html");
    // A 500 for every refusal: a finding in more cases than the page lists.
    let o = run(
        &[
            "deleted-nic-stays-listed",
            "value-drift",
            "server-error-on-reject",
        ],
        &["--report-html", &html],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!doctype html>"));
    assert!(page.trim_end().ends_with("</html>"));
    // Nothing fetched, nothing run: readable offline with scripts off.
    for outside in ["<script", "<link", " src=", "url(", "@import"] {
        assert!(!page.contains(outside), "the page holds {outside}");
    }
    for op in OPERATIONS {
        assert!(page.contains(&format!("<th>{op}</th>")), "no column {op}");
    }
    assert!(page.contains("<code>batch-delete.job-detaches</code> on batch-delete-nics"));
    assert!(page.contains("exit 1: "));
    // Under the band, before anything else, the findings that failed the run,
    // each linked to its details further down.
    let failing = page
        .find("<ul class=\"failing\"")
        .expect("a list of failing findings");
    assert!(
        failing < page.find("<nav>").unwrap(),
        "the list leads the page"
    );
    let list = &page[failing..page[failing..].find("</ul>").unwrap() + failing];
    assert!(list.contains("batch-delete.job-detaches"), "{list}");
    assert!(
        list.contains("documented: ") && list.contains(" · received: "),
        "{list}"
    );
    for link in list.split("href=\"#").skip(1) {
        let anchor = &link[..link.find('"').unwrap()];
        assert!(
            page.contains(&format!("id=\"{anchor}\"")),
            "no target for #{anchor}"
        );
    }
    // The snapshot drift is not compared here (no snapshots), the value drift
    // is judged by the echo rules; the request and response of a case are shown.
    assert!(page.contains("curl -sS -X POST"));
    assert!(page.contains("response 200"));
    // The doc conflicts the contract decided.
    assert!(page.contains("ecs-async.status-unstated"));
    // A finding seen in many cases lists a few and says how many are left out.
    assert!(page.contains("more (the JSON report lists them all)"));
}

#[test]
fn a_baseline_accepts_known_findings_and_fails_on_new_stale_or_expired_ones() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = path(dir.path(), "baseline.toml");
    // Writing the baseline accepts what the run found: the step succeeds.
    let o = run(
        &["deleted-nic-stays-listed"],
        &["--write-baseline", &baseline],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("wrote the baseline"), "{}", text(&o));
    let written = std::fs::read_to_string(&baseline).unwrap();
    assert!(
        written.contains("id = \"batch-delete.job-detaches\""),
        "{written}"
    );
    assert!(
        written.contains("operation = \"batch-delete-nics\""),
        "{written}"
    );
    assert!(written.contains("reason = \"TODO"), "{written}");

    // The same fault against the baseline: accepted, exit 0, with a warning
    // for each reason still to write; --strict-baseline fails on those.
    let o = run(&["deleted-nic-stays-listed"], &["--baseline", &baseline]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("no reason yet"), "{}", text(&o));
    let o = run(
        &["deleted-nic-stays-listed"],
        &["--baseline", &baseline, "--strict-baseline"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("with no reason yet (--strict-baseline)"),
        "{}",
        text(&o)
    );
    let o = run(&["deleted-nic-stays-listed"], &["--baseline", &baseline]);
    let out = text(&o);
    assert!(out.contains("Accepted by the baseline"), "{out}");
    assert!(
        out.contains("batch-delete.job-detaches on batch-delete-nics"),
        "{out}"
    );

    // A new `must` fault besides: exit 1, naming only the new finding.
    let o = run(
        &["deleted-nic-stays-listed", "accept:batch-add.port-down"],
        &["--baseline", &baseline],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("new finding(s) at or above must"),
        "{}",
        text(&o)
    );

    // The fault fixed: the entry is stale, which fails only with --strict-baseline.
    let o = run(&[], &["--baseline", &baseline]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("Stale baseline entries"), "{}", text(&o));
    let o = run(&[], &["--baseline", &baseline, "--strict-baseline"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));

    // An entry past its day accepts nothing and fails the run.
    let expired = written.replace("reason = \"TODO", "expires = 2020-01-01\nreason = \"TODO");
    std::fs::write(&baseline, expired).unwrap();
    let o = run(&["deleted-nic-stays-listed"], &["--baseline", &baseline]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("expired"), "{}", text(&o));

    // Rewriting keeps a reason someone filled in.
    let filled = written.replace(
        "TODO: why this deviation is accepted (a vendor ticket, a date)",
        "vendor ticket 42",
    );
    std::fs::write(&baseline, filled).unwrap();
    let o = run(
        &["deleted-nic-stays-listed"],
        &["--baseline", &baseline, "--write-baseline", &baseline],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let rewritten = std::fs::read_to_string(&baseline).unwrap();
    assert!(
        rewritten.contains("reason = \"vendor ticket 42\""),
        "{rewritten}"
    );
}

#[test]
fn a_malformed_baseline_is_refused_before_the_run_naming_the_place() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = path(dir.path(), "baseline.toml");
    std::fs::write(&baseline, "[[accepted]]\nid = \"x\"\nopreation = \"y\"\n").unwrap();
    let o = run(&[], &["--baseline", &baseline]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("baseline.toml"), "{out}");
    assert!(out.contains("opreation"), "{out}");
}

#[test]
fn junit_has_one_testcase_per_case_with_seed_and_target_and_accepted_apart() {
    let dir = tempfile::tempdir().unwrap();
    let junit = path(dir.path(), "junit.xml");
    let baseline = path(dir.path(), "baseline.toml");
    let o = run(
        &["deleted-nic-stays-listed"],
        &["--write-baseline", &baseline],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = run(
        &["deleted-nic-stays-listed", "bad-mac-address"],
        &["--baseline", &baseline, "--junit", &junit],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<property name=\"seed\" value=\"3\"/>"),
        "{xml}"
    );
    assert!(xml.contains("<property name=\"target\" value=\"builtin-mock\"/>"));
    for op in OPERATIONS {
        assert!(xml.contains(&format!("classname=\"{op}\"")), "{op}");
    }
    assert!(xml.contains("name=\"batch-add-nics::page-example\""));
    // Accepted findings are told apart from failures; a new one is a failure.
    assert!(xml.contains("accepted by the baseline: [must] batch-delete.job-detaches"));
    assert!(!xml.contains("message=\"[must] batch-delete.job-detaches"));
    // A `should` finding under --fail-on must is the case's output, not a
    // failure: the report agrees with the exit code 0.
    assert!(!xml.contains("<failure message=\"[should]"), "{xml}");
    assert!(xml.contains("below the gate (--fail-on must), so not a failure:\n[should] nova-attach-interface.response.200#"), "{xml}");
    // A job query that fails is the cases' failure, and the rules it leaves
    // undecided are told under it, with the reason.
    let o = run(&["job-query-fails"], &["--junit", &junit]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("undecided batch-add.job-attaches: the job query"),
        "{xml}"
    );
}

/// JUnit's failures agree with the exit code, whatever the gate: a run that
/// exits 0 has none, a run that exits 1 for findings has some.
#[test]
fn junit_failures_agree_with_the_exit_code_for_every_gate() {
    let dir = tempfile::tempdir().unwrap();
    let junit = path(dir.path(), "junit.xml");
    let failures = |xml: &str| xml.matches("<failure ").count();
    for (faults, gate, code) in [
        (&["bad-mac-address"][..], "must", 0),
        (&["bad-mac-address"][..], "should", 1),
        (&["deleted-nic-stays-listed"][..], "must", 1),
        (&["deleted-nic-stays-listed"][..], "should", 1),
        (&[][..], "should", 0),
    ] {
        let o = run(faults, &["--fail-on", gate, "--junit", &junit]);
        assert_eq!(
            o.status.code(),
            Some(code),
            "{faults:?} --fail-on {gate}: {}",
            text(&o)
        );
        let xml = std::fs::read_to_string(&junit).unwrap();
        assert_eq!(
            failures(&xml) > 0,
            code == 1,
            "{faults:?} --fail-on {gate}: exit {code}, {} failure(s)",
            failures(&xml)
        );
    }
}
