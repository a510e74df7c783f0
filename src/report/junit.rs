//! JUnit XML for CI systems (quick-junit).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::Error;
use crate::report::{Gate, Summary};

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
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new("nic-conformance");
    report.set_time(summary.end.elapsed);
    let mut suites: BTreeMap<&str, TestSuite> = BTreeMap::new();
    for line in summary.junit.iter().flatten() {
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
        suites
            .entry(&line.operation)
            .or_insert_with(|| suite(line.operation.clone(), summary))
            .add_test_case(tc);
    }
    // A run that could not go on, or was cut short, is a test case of its
    // own: CI shows why instead of a short green list.
    let mut run_problems: Vec<(NonSuccessKind, String)> = Vec::new();
    if let Some(f) = &summary.end.fatal {
        run_problems.push((NonSuccessKind::Error, f.clone()));
    }
    if summary.is_partial() {
        let why = if summary.end.interrupted {
            "interrupted"
        } else {
            "--max-requests reached"
        };
        let text = format!("{why}: {} of {} cases ran", summary.cases, summary.planned);
        run_problems.push((NonSuccessKind::Failure, text));
    }
    if summary.planned == 0 && summary.end.fatal.is_none() {
        run_problems.push((NonSuccessKind::Failure, "no case selected".into()));
    }
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
