//! The JSON report: the run, its findings (deduplicated), operations and rules.

use std::io::Write;

use crate::contract::Contract;
use crate::report::{Gate, Summary};
use crate::runner::event::{CaseResult, Event, Reporter};

/// The JSON report (`--report-json`).
pub fn to_json(summary: &Summary, contract: &Contract, gate: Gate) -> serde_json::Value {
    let (exit_code, exit_reason) = summary.exit_status(contract, gate);
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
        "seed": (!summary.proxied).then_some(summary.seed),
        "proxied": summary.proxied,
        "shard": summary.shard.map(|(k, n)| format!("{k}/{n}")),
        "started": summary.started,
        "contract_digest": contract.digest,
        "harness_version": env!("CARGO_PKG_VERSION"),
        "gate": {
            "fail_on": gate.fail_on,
            "allow_partial": gate.allow_partial,
            "fail_on_unexercised": gate.fail_on_unexercised,
            "strict_baseline": gate.strict_baseline,
        },
        "exit_code": exit_code,
        "exit_reason": exit_reason,
        "planned": summary.planned,
        "cases": summary.cases,
        "passed": summary.passed,
        "failed": summary.failed(),
        "undecided": summary.undecided_only,
        "repeats_skipped": summary.repeats,
        "not_sent": summary.not_sent.iter().map(|(case, reason)| serde_json::json!({"case": case, "reason": reason})).collect::<Vec<_>>(),
        "requests": summary.end.requests,
        "retries": summary.end.retries,
        "elapsed_secs": summary.end.elapsed.as_secs_f64(),
        "interrupted": summary.end.interrupted,
        "stopped_at_max_requests": summary.end.stopped_at_max_requests,
        "stopped_at_time_budget": summary.end.stopped_at_time_budget,
        "fatal": summary.end.fatal,
        "errors": summary.errors.iter().map(|(case, message)| serde_json::json!({"case": case, "message": message})).collect::<Vec<_>>(),
        "findings": summary.findings.values().collect::<Vec<_>>(),
        "accepted_findings": summary.accepted.values().collect::<Vec<_>>(),
        "baseline": summary.baseline.as_ref().map(|b| serde_json::json!({
            "path": b.path,
            "entries": b.entries.len(),
            "expired": b.expired,
            "stale": summary.stale_entries(),
        })),
        "operations": summary.operations,
        "rules": rules,
        "rules_by_operation": summary.cells,
        "coverage": summary.keywords,
        "leftovers": summary.end.leftovers,
        "notices": summary.notices,
        "new_snapshots": summary.new_snapshots,
    })
}

/// Per-case results, streamed to a temporary file as cases finish (one JSON
/// line each, no bodies), so memory stays flat; [`write_report`] puts them
/// into the report under `case_results`.
pub struct CaseLog {
    file: Option<std::io::BufWriter<std::fs::File>>,
    path: std::path::PathBuf,
    /// Why the log stopped being written, if it did.
    pub failed: Option<String>,
}

impl CaseLog {
    /// A log beside `report` (hidden, removed when the report is written).
    pub fn beside(report: &std::path::Path) -> std::io::Result<CaseLog> {
        let path = CaseLog::path_beside(report);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::File::create(&path)?;
        Ok(CaseLog {
            file: Some(std::io::BufWriter::new(file)),
            path,
            failed: None,
        })
    }

    /// Where [`CaseLog::beside`] streams the cases of `report`: a hidden
    /// file of this process, removed when the report is written (or the run
    /// is abandoned).
    pub fn path_beside(report: &std::path::Path) -> std::path::PathBuf {
        let dir = report
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        dir.join(format!(
            ".{}.cases.{}",
            file_name(report),
            std::process::id()
        ))
    }

    fn write(&mut self, result: &CaseResult) {
        let Some(file) = &mut self.file else { return };
        let line = serde_json::to_string(&case_record(result)).unwrap_or_default();
        if let Err(e) = writeln!(file, "{line}") {
            self.failed = Some(e.to_string());
            self.file = None;
        }
    }
}

impl Drop for CaseLog {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Reporter for CaseLog {
    fn event(&mut self, event: &Event) {
        // A repeat left out of its plan was never a case; a step not sent is listed, as such.
        if let Event::CaseFinished(result) = event
            && !result.repeat
        {
            self.write(result);
        }
    }
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("report")
        .to_string()
}

/// One case as the report lists it: the rules it passed, violated and left undecided.
fn case_record(result: &CaseResult) -> serde_json::Value {
    let violated: Vec<&str> = {
        let mut v: Vec<&str> = result.findings.iter().map(|f| f.id.as_str()).collect();
        v.dedup();
        v
    };
    let undecided: Vec<serde_json::Value> = result
        .undecided
        .iter()
        .map(|u| serde_json::json!({"id": u.id, "reason": u.reason}))
        .collect();
    let passed: Vec<&str> = result
        .exercised
        .iter()
        .map(String::as_str)
        .filter(|id| !violated.contains(id) && !result.undecided.iter().any(|u| u.id == *id))
        .collect();
    let outcome = if result.not_sent.is_some() {
        "not sent"
    } else if result.error.is_some() {
        "error"
    } else if !result.findings.is_empty() {
        "failed"
    } else if !result.undecided.is_empty() {
        "undecided"
    } else {
        "passed"
    };
    serde_json::json!({
        "id": result.case_id,
        "operation": result.operation,
        "kind": result.kind.map(|k| k.as_str()),
        "outcome": outcome,
        "status": result.status,
        "duration_secs": result.elapsed.as_secs_f64(),
        "passed": passed,
        "violated": violated,
        "undecided": undecided,
        "error": result.error,
        "replay": result.replay,
    })
}

/// Writes the report atomically: the summary, then every case of `log`.
pub fn write_report(
    path: &std::path::Path,
    report: &serde_json::Value,
    log: Option<&mut CaseLog>,
) -> std::io::Result<()> {
    let mut out = crate::files::AtomicFile::create(path)?;
    let text = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
    let Some(log) = log else {
        out.write_all(text.as_bytes())?;
        return out.commit();
    };
    if let Some(e) = &log.failed {
        return Err(std::io::Error::other(format!(
            "the per-case log failed: {e}"
        )));
    }
    if let Some(f) = log.file.as_mut() {
        f.flush()?;
    }
    // The summary object without its closing brace, then the cases as an array.
    let open = text
        .trim_end()
        .strip_suffix('}')
        .unwrap_or(&text)
        .trim_end();
    out.write_all(open.as_bytes())?;
    out.write_all(b",\n  \"case_results\": [")?;
    let reader = std::io::BufReader::new(std::fs::File::open(&log.path)?);
    let mut first = true;
    for line in std::io::BufRead::lines(reader) {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        out.write_all(if first { b"\n    " } else { b",\n    " })?;
        out.write_all(line.as_bytes())?;
        first = false;
    }
    out.write_all(b"\n  ]\n}\n")?;
    out.commit()
}
