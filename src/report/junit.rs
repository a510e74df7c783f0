//! JUnit XML for CI systems (quick-junit).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::contract::Severity;
use crate::error::Error;
use crate::judge::Finding;
use crate::report::{Gate, Summary};
use crate::runner::event::CaseResult;

/// A suite with the run's seed and target as properties, so a failure can be replayed.
fn suite(name: String, summary: &Summary) -> quick_junit::TestSuite {
    let mut s = quick_junit::TestSuite::new(name);
    if !summary.proxied {
        s.add_property(quick_junit::Property::new("seed", summary.seed.to_string()));
    }
    s.add_property(quick_junit::Property::new("target", summary.target.clone()));
    if let Some((k, n)) = summary.shard {
        s.add_property(quick_junit::Property::new("shard", format!("{k}/{n}")));
    }
    s
}

/// JUnit XML (`--junit`): a suite per operation, a test case per case. A
/// case fails for the findings the gate fails the run for; findings below
/// it (`should` under `--fail-on must`) are the case's output, so the
/// report's failures agree with the exit code.
pub fn to_junit(summary: &Summary, gate: Gate) -> Result<String, Error> {
    use quick_junit::{Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new("nic-conformance");
    report.set_time(summary.end.elapsed);
    let mut suites: BTreeMap<&str, TestSuite> = BTreeMap::new();
    for line in summary.junit.iter().flatten() {
        let tc = test_case(line, gate);
        suites
            .entry(&line.operation)
            .or_insert_with(|| suite(line.operation.clone(), summary))
            .add_test_case(tc);
    }
    // A run that could not go on, or was cut short, is a test case of its
    // own: CI shows why instead of a short green list.
    let run_problems = run_problems(summary);
    if !run_problems.is_empty() {
        let mut suite = suite("run".into(), summary);
        for (kind, text) in run_problems {
            let mut s = TestCaseStatus::non_success(kind);
            s.set_message(text.clone()).set_description(text);
            let mut tc = TestCase::new("run", s);
            tc.set_classname("run");
            suite.add_test_case(tc);
        }
        suites.insert("~run", suite);
    }
    report.add_test_suites(suites.into_values());
    report
        .to_string()
        .map_err(|e| Error::Harness(format!("cannot write JUnit: {e}")))
}

/// One case as JUnit shows it: kept only when a JUnit report is asked for.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct JunitLine {
    pub(crate) operation: String,
    pub(crate) name: String,
    /// Each finding not accepted, with its severity: a failure when at or
    /// above the gate, shown as output below it.
    pub(crate) findings: Vec<(Severity, String)>,
    pub(crate) error: Option<String>,
    /// Rules the case could not judge, with the reasons.
    pub(crate) undecided: Option<String>,
    /// Findings a baseline accepted (shown, not failing).
    pub(crate) accepted: Option<String>,
    pub(crate) secs: f64,
}

impl JunitLine {
    /// The case as JUnit shows it; findings of `accepted` ids are not failures.
    pub(super) fn of(result: &CaseResult, accepted: &[&str]) -> JunitLine {
        let joined = |lines: Vec<String>| (!lines.is_empty()).then(|| lines.join("\n"));
        let (accepted, failing): (Vec<&Finding>, Vec<&Finding>) = result
            .findings
            .iter()
            .partition(|f| accepted.contains(&f.id.as_str()));
        JunitLine {
            operation: result.operation.clone(),
            name: result.case_id.clone(),
            findings: failing
                .iter()
                .map(|f| (f.severity, f.to_string()))
                .collect(),
            accepted: joined(
                accepted
                    .iter()
                    .map(|f| format!("accepted by the baseline: {f}"))
                    .collect(),
            ),
            error: result.error.clone(),
            undecided: joined(
                result
                    .undecided
                    .iter()
                    .map(|u| format!("undecided {}: {}", u.id, u.reason))
                    .collect(),
            ),
            secs: result.elapsed.as_secs_f64(),
        }
    }
}

/// One case as a JUnit test case: failures at or above the gate, findings
/// below it and accepted ones as its output, an undecided case skipped.
fn test_case(line: &JunitLine, gate: Gate) -> quick_junit::TestCase {
    use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus};
    let (failing, below): (Vec<_>, Vec<_>) = line
        .findings
        .iter()
        .partition(|(severity, _)| *severity >= gate.fail_on);
    let joined = |lines: Vec<&(crate::contract::Severity, String)>| {
        (!lines.is_empty()).then(|| {
            lines
                .iter()
                .map(|(_, text)| text.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
    };
    let failure = joined(failing);
    let below = joined(below).map(|text| {
        format!(
            "below the gate (--fail-on {}), so not a failure:\n{text}",
            gate.fail_on
        )
    });
    let status = match (&failure, &line.error) {
        (None, None) if line.undecided.is_some() => {
            let text = line.undecided.clone().unwrap_or_default();
            let mut s = TestCaseStatus::skipped();
            s.set_message(text.lines().next().unwrap_or_default().to_string())
                .set_description(text);
            s
        }
        (_, Some(e)) => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            s.set_message(e.lines().next().unwrap_or_default().to_string())
                .set_description(e.clone());
            s
        }
        (Some(f), None) => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            // The rules the case could not judge, under its failures.
            let description = match &line.undecided {
                Some(u) => format!("{f}\n{u}"),
                None => f.clone(),
            };
            s.set_message(f.lines().next().unwrap_or_default().to_string())
                .set_description(description);
            s
        }
        (None, None) => TestCaseStatus::success(),
    };
    let mut tc = TestCase::new(line.name.clone(), status);
    tc.set_classname(line.operation.clone())
        .set_time(Duration::from_secs_f64(line.secs));
    let output: Vec<&String> = line.accepted.iter().chain(below.iter()).collect();
    if !output.is_empty() {
        tc.set_system_out(
            output
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
    tc
}

/// Why the run itself failed (it could not go on, was cut short, selected nothing).
fn run_problems(summary: &Summary) -> Vec<(quick_junit::NonSuccessKind, String)> {
    let mut run_problems: Vec<(quick_junit::NonSuccessKind, String)> = Vec::new();
    if let Some(f) = &summary.end.fatal {
        run_problems.push((quick_junit::NonSuccessKind::Error, f.clone()));
    }
    if summary.is_partial() {
        let why = summary.cut_short_by();
        let text = format!("{why}: {} of {} cases ran", summary.cases, summary.planned);
        run_problems.push((quick_junit::NonSuccessKind::Failure, text));
    }
    if summary.planned == 0 && summary.end.fatal.is_none() {
        run_problems.push((
            quick_junit::NonSuccessKind::Failure,
            "no case selected".into(),
        ));
    }
    run_problems
}
