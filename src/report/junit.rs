//! JUnit XML for CI systems (quick-junit).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::Error;
use crate::report::Summary;

/// JUnit XML (`--junit`): a suite per operation, a test case per case.
pub fn to_junit(summary: &Summary) -> Result<String, Error> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new("nic-conformance");
    report.set_time(summary.end.elapsed);
    let mut suites: BTreeMap<&str, TestSuite> = BTreeMap::new();
    for line in summary.junit.iter().flatten() {
        let status = match (&line.failure, &line.error) {
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
                s.set_message(f.lines().next().unwrap_or_default().to_string())
                    .set_description(f.clone());
                s
            }
            (None, None) => TestCaseStatus::success(),
        };
        let mut tc = TestCase::new(line.name.clone(), status);
        tc.set_classname(line.operation.clone())
            .set_time(Duration::from_secs_f64(line.secs));
        suites
            .entry(&line.operation)
            .or_insert_with(|| TestSuite::new(line.operation.clone()))
            .add_test_case(tc);
    }
    report.add_test_suites(suites.into_values());
    report
        .to_string()
        .map_err(|e| Error::Harness(format!("cannot write JUnit: {e}")))
}
