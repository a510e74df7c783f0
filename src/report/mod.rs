//! Reporting: reporters consume the runner's event stream. [`Summary`]
//! aggregates it for the console summary ([`console`]), the JSON report
//! ([`json`]) and JUnit ([`junit`]); [`console::Progress`] shows a run as it
//! goes.
//!
//! Per-case data is dropped once aggregated (findings are deduplicated by
//! id and operation), so memory stays flat however many cases run; only
//! `--junit` keeps one short line per case.

pub mod console;
pub mod json;
pub mod junit;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::contract::{Contract, Severity};
use crate::error::exit;
use crate::judge::Finding;
use crate::runner::event::{CaseResult, Event, Reporter};

#[derive(Debug, Clone, Default, Serialize)]
pub struct OperationStats {
    pub cases: u64,
    pub passed: u64,
    pub must: u64,
    pub should: u64,
    pub errors: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RuleStats {
    pub exercised: u64,
    pub violated: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DedupedFinding {
    #[serde(flatten)]
    pub first: Finding,
    /// How many cases showed it.
    pub count: u64,
}

/// One case as JUnit shows it: kept only when a JUnit report is asked for.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct JunitLine {
    pub(crate) operation: String,
    pub(crate) name: String,
    pub(crate) failure: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) secs: f64,
}

#[derive(Debug, Default)]
pub struct Summary {
    pub target: String,
    pub seed: u64,
    pub cases: u64,
    pub passed: u64,
    pub operations: BTreeMap<String, OperationStats>,
    pub rules: BTreeMap<String, RuleStats>,
    pub findings: BTreeMap<(String, String), DedupedFinding>,
    pub requests: u64,
    pub retries: u64,
    /// Resources the run made and could not remove.
    pub leftovers: Vec<String>,
    /// A problem that stopped the run (unreachable target …).
    pub fatal: Option<String>,
    pub interrupted: bool,
    pub elapsed: Duration,
    pub(crate) junit: Option<Vec<JunitLine>>,
    /// What the run printed as it went (saved regression cases, shrink errors).
    pub notices: Vec<String>,
}

impl Summary {
    /// An empty summary; the run's events fill it (target and seed from its start).
    pub fn new(contract: &Contract, keep_junit: bool) -> Summary {
        let rules = contract
            .rules
            .iter()
            .map(|r| (r.id.clone(), RuleStats::default()))
            .collect();
        Summary {
            rules,
            junit: keep_junit.then(Vec::new),
            ..Default::default()
        }
    }

    fn record(&mut self, result: &CaseResult) {
        self.cases += 1;
        let op = self.operations.entry(result.operation.clone()).or_default();
        op.cases += 1;
        let passed = result.findings.is_empty() && result.error.is_none();
        if passed {
            op.passed += 1;
            self.passed += 1;
        }
        if result.error.is_some() {
            op.errors += 1;
        }
        for f in &result.findings {
            match f.severity {
                Severity::Must => op.must += 1,
                Severity::Should => op.should += 1,
            }
        }
        for id in &result.exercised {
            if let Some(r) = self.rules.get_mut(id) {
                r.exercised += 1;
            }
        }
        for f in &result.findings {
            if let Some(r) = self.rules.get_mut(&f.id) {
                r.violated += 1;
            } else {
                // A schema keyword: listed once it is violated.
                let r = self.rules.entry(f.id.clone()).or_default();
                r.violated += 1;
                r.exercised += 1;
            }
        }
        if let Some(lines) = &mut self.junit {
            let failure = (!result.findings.is_empty()).then(|| {
                result
                    .findings
                    .iter()
                    .map(|f| f.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            lines.push(JunitLine {
                operation: result.operation.clone(),
                name: result.case_id.clone(),
                failure,
                error: result.error.clone(),
                secs: result.elapsed.as_secs_f64(),
            });
        }
        for f in &result.findings {
            self.findings
                .entry((f.id.clone(), f.operation.clone()))
                .and_modify(|d| d.count += 1)
                .or_insert_with(|| DedupedFinding {
                    first: f.clone(),
                    count: 1,
                });
        }
    }

    pub fn worst(&self) -> Option<Severity> {
        self.findings.values().map(|f| f.first.severity).max()
    }

    /// The exit code of the run (the table in [`crate::error::exit`]).
    pub fn exit_code(&self, fail_on: Severity) -> i32 {
        if self.fatal.is_some() {
            exit::ERROR
        } else if self.findings.values().any(|f| f.first.severity >= fail_on)
            || self.operations.values().any(|o| o.errors > 0)
        {
            exit::FINDINGS
        } else {
            exit::OK
        }
    }
}

impl Reporter for Summary {
    fn event(&mut self, event: &Event) {
        match event {
            Event::RunStarted { target, seed, .. } => {
                self.target = target.to_string();
                self.seed = *seed;
            }
            Event::CaseFinished(result) => self.record(result),
            Event::Notice(line) => self.notices.push(line.to_string()),
            Event::RunFinished(end) => {
                self.requests = end.requests;
                self.retries = end.retries;
                self.leftovers = end.leftovers.clone();
                self.fatal = end.fatal.clone();
                self.interrupted = end.interrupted;
                self.elapsed = end.elapsed;
            }
            Event::CaseStarted { .. } | Event::DryRun { .. } => {}
        }
    }
}
