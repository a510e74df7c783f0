//! The JSON report: the run, its findings (deduplicated), operations and rules.

use crate::contract::Contract;
use crate::report::Summary;

/// The JSON report (`--report-json`).
pub fn to_json(summary: &Summary, contract: &Contract) -> serde_json::Value {
    let rules: Vec<serde_json::Value> = summary
        .rules
        .iter()
        .map(|(id, s)| {
            serde_json::json!({
                "id": id,
                "severity": contract.severity_of(id),
                "source": contract.source_of(id),
                "exercised": s.exercised,
                "violated": s.violated,
                "undecided": s.undecided,
                "undecided_reason": s.undecided_reason,
                "status": s.status(),
            })
        })
        .collect();
    serde_json::json!({
        "target": summary.target,
        "seed": summary.seed,
        "cases": summary.cases,
        "passed": summary.passed,
        "failed": summary.failed(),
        "undecided": summary.undecided_only,
        "requests": summary.end.requests,
        "retries": summary.end.retries,
        "elapsed_secs": summary.end.elapsed.as_secs_f64(),
        "interrupted": summary.end.interrupted,
        "fatal": summary.end.fatal,
        "findings": summary.findings.values().collect::<Vec<_>>(),
        "operations": summary.operations,
        "rules": rules,
        "leftovers": summary.end.leftovers,
        "notices": summary.notices,
    })
}
