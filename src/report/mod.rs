//! Reporting: reporters consume the runner's event stream. [`Summary`]
//! aggregates it for the console summary ([`console`]), the JSON report
//! ([`json`]) and JUnit ([`junit`]); [`console::Progress`] shows a run as it
//! goes.
//!
//! Per-case data is dropped once aggregated (findings are deduplicated by
//! id and operation); what is kept per case is short: the id of each case a
//! finding was seen in, a harness error's message, and with `--junit` one
//! line. The JSON report's per-case results go to disk as they come
//! ([`json::CaseLog`]), never into memory.

pub mod console;
pub mod json;
pub mod junit;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::contract::{Contract, Severity};
use crate::error::exit;
use crate::judge::Finding;
use crate::runner::event::{CaseResult, Event, Reporter, RunEnd};

#[derive(Debug, Clone, Default, Serialize)]
pub struct OperationStats {
    pub cases: u64,
    pub passed: u64,
    pub must: u64,
    pub should: u64,
    /// Cases with a rule that could not be judged.
    pub undecided: u64,
    pub errors: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RuleStats {
    /// Cases that exercised the rule (passed, violated or undecided).
    pub exercised: u64,
    pub violated: u64,
    pub undecided: u64,
    /// Why the rule could not be judged, the first time it could not.
    pub undecided_reason: Option<String>,
}

impl RuleStats {
    /// The rule's outcome over the run: violated anywhere, else undecided
    /// anywhere, else passed where exercised.
    pub fn status(&self) -> &'static str {
        if self.violated > 0 {
            "violated"
        } else if self.undecided > 0 {
            "undecided"
        } else if self.exercised == 0 {
            "never exercised"
        } else {
            "ok"
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DedupedFinding {
    #[serde(flatten)]
    pub first: Finding,
    /// How many cases showed it.
    pub count: u64,
    /// Every case that showed it, in the order they finished.
    pub cases: Vec<String>,
}

/// One case as JUnit shows it: kept only when a JUnit report is asked for.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct JunitLine {
    pub(crate) operation: String,
    pub(crate) name: String,
    pub(crate) failure: Option<String>,
    pub(crate) error: Option<String>,
    /// Rules the case could not judge, with the reasons.
    pub(crate) undecided: Option<String>,
    pub(crate) secs: f64,
}

/// What makes a run fail, beyond its findings.
#[derive(Debug, Clone, Copy)]
pub struct Gate {
    /// Findings at or above this severity fail the run.
    pub fail_on: Severity,
    /// A run cut short (interrupted, `--max-requests`) may still pass.
    pub allow_partial: bool,
    /// A rule no case exercised fails the run.
    pub fail_on_unexercised: bool,
}

impl Gate {
    pub fn new(fail_on: Severity) -> Gate {
        Gate {
            fail_on,
            allow_partial: false,
            fail_on_unexercised: false,
        }
    }
}

#[derive(Debug, Default)]
pub struct Summary {
    pub target: String,
    pub seed: u64,
    pub shard: Option<(usize, usize)>,
    /// Cases the plan selected (those that ran are `cases`).
    pub planned: u64,
    /// Requests were only printed, not sent.
    pub dry_run: bool,
    /// Stopped by SIGTERM (a cancelled CI job), after cleaning up.
    pub terminated: bool,
    /// Harness errors of single cases: (case id, message).
    pub errors: Vec<(String, String)>,
    pub cases: u64,
    pub passed: u64,
    /// Cases with no finding and no error but a rule they could not judge.
    pub undecided_only: u64,
    pub operations: BTreeMap<String, OperationStats>,
    pub rules: BTreeMap<String, RuleStats>,
    pub findings: BTreeMap<(String, String), DedupedFinding>,
    /// How the run ended: requests, leftovers, a fatal error, an interruption.
    pub end: RunEnd,
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
        if result.passed() {
            op.passed += 1;
            self.passed += 1;
        } else if result.findings.is_empty() && result.error.is_none() {
            self.undecided_only += 1;
        }
        if let Some(e) = &result.error {
            op.errors += 1;
            self.errors.push((result.case_id.clone(), e.clone()));
        }
        if !result.undecided.is_empty() {
            op.undecided += 1;
        }
        for f in &result.findings {
            match f.severity {
                Severity::Must => op.must += 1,
                Severity::Should => op.should += 1,
            }
        }
        // Each id once per case, whichever way the case touched it.
        let mut touched: Vec<&str> = result.exercised.iter().map(String::as_str).collect();
        touched.extend(result.findings.iter().map(|f| f.id.as_str()));
        touched.extend(result.undecided.iter().map(|u| u.id.as_str()));
        touched.sort_unstable();
        touched.dedup();
        for id in touched {
            let known = self.rules.contains_key(id);
            let violated = result.findings.iter().any(|f| f.id == id);
            // A schema keyword is listed once it is violated.
            if !known && !violated {
                continue;
            }
            let r = self.rules.entry(id.to_string()).or_default();
            r.exercised += 1;
            if violated {
                r.violated += 1;
            } else if let Some(u) = result.undecided.iter().find(|u| u.id == id) {
                r.undecided += 1;
                r.undecided_reason.get_or_insert_with(|| u.reason.clone());
            }
        }
        if let Some(lines) = &mut self.junit {
            lines.push(JunitLine::of(result));
        }
        for f in &result.findings {
            self.findings
                .entry((f.id.clone(), f.operation.clone()))
                .and_modify(|d| {
                    d.count += 1;
                    d.cases.push(result.case_id.clone());
                })
                .or_insert_with(|| DedupedFinding {
                    first: f.clone(),
                    count: 1,
                    cases: vec![result.case_id.clone()],
                });
        }
    }

    /// `must` rules the run could not judge (none: every `must` rule it exercised was judged).
    pub fn undecided_must(&self, contract: &Contract) -> Vec<(&str, &RuleStats)> {
        self.rules
            .iter()
            .filter(|(id, r)| {
                r.status() == "undecided" && contract.severity_of(id) == Severity::Must
            })
            .map(|(id, r)| (id.as_str(), r))
            .collect()
    }

    /// Cases with a finding or a harness error.
    pub fn failed(&self) -> u64 {
        self.cases - self.passed - self.undecided_only
    }

    pub fn worst(&self) -> Option<Severity> {
        self.findings.values().map(|f| f.first.severity).max()
    }

    /// The exit code of the run (the table in [`crate::error::exit`]).
    pub fn exit_code(&self, contract: &Contract, gate: Gate) -> i32 {
        self.verdict(contract, gate).0
    }

    /// The exit code of the run and why, in words for the closing line.
    pub fn verdict(&self, contract: &Contract, gate: Gate) -> (i32, String) {
        let failing = self
            .findings
            .values()
            .filter(|f| f.first.severity >= gate.fail_on)
            .count();
        let errors = self.errors.len();
        let undecided = self.undecided_must(contract).len();
        let unexercised = self
            .rules
            .values()
            .filter(|r| r.status() == "never exercised")
            .count();
        let partial = !self.dry_run && self.cases < self.planned;
        if let Some(f) = &self.end.fatal {
            (exit::ERROR, format!("the run could not go on: {f}"))
        } else if self.terminated {
            (
                exit::TERMINATED,
                format!(
                    "SIGTERM: stopped after {} of {} cases and cleaned up ({failing} finding(s) at or above {})",
                    self.cases, self.planned, gate.fail_on
                ),
            )
        } else if failing > 0 || errors > 0 {
            let mut why = Vec::new();
            if failing > 0 {
                why.push(format!("{failing} finding(s) at or above {}", gate.fail_on));
            }
            if errors > 0 {
                why.push(format!("{errors} case(s) the harness could not run"));
            }
            (exit::FINDINGS, why.join(", "))
        } else if undecided > 0 {
            (
                exit::UNDECIDED,
                format!("{undecided} must rule(s) undecided (see Undecided)"),
            )
        } else if self.planned == 0 {
            (
                exit::NOTHING_RAN,
                "no case selected (check --case, --operation, --skip, --kind and --shard)".into(),
            )
        } else if partial && !gate.allow_partial {
            let why = if self.end.interrupted {
                "interrupted"
            } else {
                "--max-requests reached"
            };
            (
                exit::PARTIAL,
                format!(
                    "{why}: {} of {} cases ran (--allow-partial accepts a partial run)",
                    self.cases, self.planned
                ),
            )
        } else if gate.fail_on_unexercised && unexercised > 0 {
            (
                exit::FINDINGS,
                format!("{unexercised} rule(s) never exercised (--fail-on-unexercised)"),
            )
        } else {
            (exit::OK, "no finding at or above the gate".into())
        }
    }
}

impl JunitLine {
    fn of(result: &CaseResult) -> JunitLine {
        let joined = |lines: Vec<String>| (!lines.is_empty()).then(|| lines.join("\n"));
        JunitLine {
            operation: result.operation.clone(),
            name: result.case_id.clone(),
            failure: joined(result.findings.iter().map(|f| f.to_string()).collect()),
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

impl Reporter for Summary {
    fn event(&mut self, event: &Event) {
        match event {
            Event::RunStarted {
                target,
                seed,
                cases,
                shard,
            } => {
                self.target = target.to_string();
                self.seed = *seed;
                self.planned = *cases as u64;
                self.shard = *shard;
            }
            Event::CaseFinished(result) => self.record(result),
            Event::Notice(line) => self.notices.push(line.to_string()),
            Event::RunFinished(end) => self.end = (*end).clone(),
            Event::DryRun { .. } => self.dry_run = true,
            Event::CaseStarted { .. } => {}
        }
    }
}
