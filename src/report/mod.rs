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

pub mod baseline;
pub mod certificate;
pub mod compare;
pub mod console;
pub mod fleet;
pub mod html;
pub mod json;
pub mod junit;
pub(crate) use junit::JunitLine;
pub mod merge;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::case::CaseKind;
use crate::contract::{Contract, Severity};
use crate::error::exit;
use crate::judge::Finding;
use crate::runner::event::{CaseResult, Event, Reporter, RunEnd};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OperationStats {
    pub cases: u64,
    pub passed: u64,
    pub must: u64,
    pub should: u64,
    /// Cases with a rule that could not be judged.
    pub undecided: u64,
    pub errors: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RuleStats {
    /// Cases that exercised the rule (passed, violated or undecided).
    pub exercised: u64,
    pub violated: u64,
    pub undecided: u64,
    /// Why the rule could not be judged, the first time it could not.
    pub undecided_reason: Option<String>,
    /// Its operation is one the target does not serve (an OpenStack cloud
    /// has no ECS batch jobs): never exercised, by design.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_served: bool,
}

impl RuleStats {
    /// The rule's outcome over the run: violated anywhere, else undecided
    /// anywhere, else passed where exercised.
    pub fn status(&self) -> &'static str {
        if self.violated > 0 {
            "violated"
        } else if self.undecided > 0 {
            "undecided"
        } else if self.exercised == 0 && self.not_served {
            "not served"
        } else if self.exercised == 0 {
            "never exercised"
        } else {
            "ok"
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DedupedFinding {
    #[serde(flatten)]
    pub first: Finding,
    /// How many cases showed it.
    pub count: u64,
    /// Every case that showed it, in the order they finished.
    pub cases: Vec<String>,
    /// Where it was seen, as a baseline entry would name it: a curated
    /// case by its id, a generated one by its class.
    #[serde(skip)]
    pub origins: BTreeSet<baseline::Origin>,
    /// What the first few cases received, for reading the finding without replaying it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<Example>,
    /// The baseline entry's reason, when a baseline accepted the finding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_because: Option<String>,
}

/// One case's exchange behind a finding (credentials already masked).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Example {
    pub case: String,
    pub status: Option<u16>,
    /// The response body, cut at [`EXAMPLE_BODY_BYTES`].
    pub response: Option<String>,
    /// The request as a curl command.
    pub request: String,
}

/// Examples kept per finding: a large run's report stays a few MB.
pub const EXAMPLES_PER_FINDING: usize = 3;
/// Bytes of a response body an example keeps.
pub const EXAMPLE_BODY_BYTES: usize = 4096;

/// What makes a run fail, beyond its findings.
#[derive(Debug, Clone, Copy)]
pub struct Gate {
    /// Findings at or above this severity fail the run.
    pub fail_on: Severity,
    /// A run cut short (interrupted, `--max-requests`) may still pass.
    pub allow_partial: bool,
    /// A rule no case exercised fails the run.
    pub fail_on_unexercised: bool,
    /// A baseline entry that matched nothing fails the run.
    pub strict_baseline: bool,
}

impl Gate {
    pub fn new(fail_on: Severity) -> Gate {
        Gate {
            fail_on,
            allow_partial: false,
            fail_on_unexercised: false,
            strict_baseline: false,
        }
    }
}

#[derive(Debug, Default)]
pub struct Summary {
    pub target: String,
    pub seed: u64,
    /// When the run started (UTC, `YYYYMMDDTHHMMSSZ`).
    pub started: String,
    /// Exchanges judged by the proxy, not cases a run generated: no seed.
    pub proxied: bool,
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
    /// Planned cases not run: their plan had no request of a new class left.
    pub repeats: u64,
    /// Sequence steps not sent, and why (an earlier step did not end as planned).
    pub not_sent: Vec<(String, String)>,
    pub operations: BTreeMap<String, OperationStats>,
    pub rules: BTreeMap<String, RuleStats>,
    pub findings: BTreeMap<(String, String), DedupedFinding>,
    /// How the run ended: requests, leftovers, a fatal error, an interruption.
    pub end: RunEnd,
    pub(crate) junit: Option<Vec<JunitLine>>,
    /// What the run printed as it went (saved regression cases, shrink errors).
    pub notices: Vec<String>,
    /// Findings a baseline accepted: reported apart, never failing the run.
    pub accepted: BTreeMap<(String, String), DedupedFinding>,
    pub baseline: Option<baseline::Baseline>,
    /// Each rule's outcome per operation: operation, then rule id.
    pub cells: BTreeMap<String, BTreeMap<String, RuleStats>>,
    /// Per operation, the schema keywords exercised by negative and by boundary cases.
    pub keywords: BTreeMap<String, KeywordCover>,
    /// Pending snapshots of curated cases that had no accepted one: new, not failing.
    pub new_snapshots: Vec<std::path::PathBuf>,
}

/// Which schema keywords of an operation its cases exercised.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KeywordCover {
    pub negative: BTreeSet<String>,
    pub boundary: BTreeSet<String>,
    /// How many generated cases of each class were sent (`breaks ID`, `edge ID`, `protocol CLASS`…).
    pub classes: BTreeMap<String, u64>,
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
        if result.repeat {
            self.repeats += 1;
            return;
        }
        if let Some(why) = &result.not_sent {
            self.not_sent.push((result.case_id.clone(), why.clone()));
            return;
        }
        self.cases += 1;
        if !result.class.is_empty() {
            let cover = slot(&mut self.keywords, &result.operation);
            *cover.classes.entry(result.class.clone()).or_default() += 1;
        }
        self.new_snapshots.extend(result.new_snapshot.clone());
        // Which findings the baseline accepts: a case with only those passes.
        let reasons: Vec<Option<String>> = result
            .findings
            .iter()
            .map(|f| {
                let b = self.baseline.as_mut()?;
                Some(
                    b.accept(&f.id, &f.operation, &baseline::Origin::of(result))?
                        .reason
                        .clone(),
                )
            })
            .collect();
        let all_accepted = reasons.iter().all(Option::is_some);
        let op = self.operations.entry(result.operation.clone()).or_default();
        op.cases += 1;
        let judged = result.undecided.is_empty() && result.error.is_none();
        if judged && all_accepted {
            op.passed += 1;
            self.passed += 1;
        } else if all_accepted && result.error.is_none() {
            self.undecided_only += 1;
        }
        if let Some(e) = &result.error {
            op.errors += 1;
            self.errors.push((result.case_id.clone(), e.clone()));
        }
        if !result.undecided.is_empty() {
            op.undecided += 1;
        }
        for (f, _) in result
            .findings
            .iter()
            .zip(&reasons)
            .filter(|(_, r)| r.is_none())
        {
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
        let cover = match result.kind {
            Some(CaseKind::Negative) => Some(true),
            Some(CaseKind::Boundary) => Some(false),
            _ => None,
        };
        self.count_exercised(result, touched, cover);
        let accepted_here = self.dedupe_findings(result, reasons);
        if let Some(lines) = &mut self.junit {
            lines.push(JunitLine::of(result, &accepted_here));
        }
    }

    /// Each rule and keyword the case touched, counted per rule and per
    /// (operation, rule); keywords by the kind of case that exercised them.
    fn count_exercised(&mut self, result: &CaseResult, touched: Vec<&str>, cover: Option<bool>) {
        for id in touched {
            if let Some(negative) = cover.filter(|_| id.contains('#')) {
                let c = slot(&mut self.keywords, &result.operation);
                let set = if negative {
                    &mut c.negative
                } else {
                    &mut c.boundary
                };
                if !set.contains(id) {
                    set.insert(id.to_string());
                }
            }
            let known = self.rules.contains_key(id);
            let violated = result.findings.iter().any(|f| f.id == id);
            // A schema keyword is listed once it is violated.
            if !known && !violated {
                continue;
            }
            let undecided = result.undecided.iter().find(|u| u.id == id);
            let cells = slot(&mut self.cells, &result.operation);
            for r in [slot(&mut self.rules, id), slot(cells, id)] {
                r.exercised += 1;
                if violated {
                    r.violated += 1;
                } else if let Some(u) = undecided {
                    r.undecided += 1;
                    r.undecided_reason.get_or_insert_with(|| u.reason.clone());
                }
            }
        }
    }

    /// The case's findings, each deduplicated by (rule, operation), apart
    /// from those the baseline accepts; the ids the baseline accepted here.
    fn dedupe_findings<'r>(
        &mut self,
        result: &'r CaseResult,
        reasons: Vec<Option<String>>,
    ) -> Vec<&'r str> {
        let origin = baseline::Origin::of(result);
        let mut accepted_here = Vec::new();
        for (f, accepted) in result.findings.iter().zip(reasons) {
            if accepted.is_some() {
                accepted_here.push(f.id.as_str());
            }
            let into = if accepted.is_some() {
                &mut self.accepted
            } else {
                &mut self.findings
            };
            let d = into
                .entry((f.id.clone(), f.operation.clone()))
                .and_modify(|d| {
                    d.count += 1;
                    d.cases.push(result.case_id.clone());
                    d.origins.insert(origin.clone());
                })
                .or_insert_with(|| DedupedFinding {
                    first: f.clone(),
                    count: 1,
                    cases: vec![result.case_id.clone()],
                    origins: BTreeSet::from([origin.clone()]),
                    examples: Vec::new(),
                    accepted_because: accepted,
                });
            let seen = d.examples.iter().any(|e| e.case == result.case_id);
            if d.examples.len() < EXAMPLES_PER_FINDING && !seen {
                d.examples.push(Example::of(result, f));
            }
        }
        accepted_here
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

    /// Baseline entries that matched nothing, among the operations that ran.
    pub fn stale_entries(&self) -> Vec<&baseline::Entry> {
        match &self.baseline {
            Some(b) => b.stale(|op| self.operations.contains_key(op)).collect(),
            None => Vec::new(),
        }
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
        self.exit_status(contract, gate).0
    }

    /// The exit code of the run and why, in words for the closing line.
    /// Planned cases that neither ran nor were left out as repeats: the run stopped early.
    pub fn is_partial(&self) -> bool {
        let accounted = self.cases + self.repeats + self.not_sent.len() as u64;
        !self.dry_run && accounted < self.planned
    }

    pub fn exit_status(&self, contract: &Contract, gate: Gate) -> (i32, String) {
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
        let expired = self.baseline.as_ref().map_or(0, |b| b.expired.len());
        let stale = if gate.strict_baseline {
            self.stale_entries().len()
        } else {
            0
        };
        let unreviewed = match (&self.baseline, gate.strict_baseline) {
            (Some(b), true) => b.unreviewed().count(),
            _ => 0,
        };
        let partial = self.is_partial();
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
        } else if failing > 0 || errors > 0 || expired > 0 || stale > 0 || unreviewed > 0 {
            let counts = [failing, expired, stale, unreviewed, errors];
            (exit::FINDINGS, self.failing_reasons(counts, gate))
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
            let why = self.cut_short_by();
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

    /// Why a run with these counts fails: findings at or above the gate,
    /// expired, stale and unreviewed baseline entries, harness errors.
    fn failing_reasons(&self, counts: [usize; 5], gate: Gate) -> String {
        let [failing, expired, stale, unreviewed, errors] = counts;
        let mut why = Vec::new();
        if failing > 0 {
            let new = if self.baseline.is_some() { " new" } else { "" };
            why.push(format!(
                "{failing}{new} finding(s) at or above {}",
                gate.fail_on
            ));
        }
        if expired > 0 {
            why.push(format!("{expired} baseline entry(ies) expired"));
        }
        if stale > 0 {
            why.push(format!(
                "{stale} stale baseline entry(ies) (--strict-baseline)"
            ));
        }
        if unreviewed > 0 {
            why.push(format!(
                "{unreviewed} baseline entry(ies) with no reason yet (--strict-baseline)"
            ));
        }
        if errors > 0 {
            why.push(format!("{errors} case(s) the harness could not run"));
        }
        why.join(", ")
    }

    /// What cut a partial run short.
    pub(crate) fn cut_short_by(&self) -> &'static str {
        if self.end.interrupted {
            "interrupted"
        } else if self.end.stopped_at_time_budget {
            "--time-budget spent"
        } else {
            "--max-requests reached"
        }
    }
}

impl Example {
    fn of(result: &CaseResult, finding: &Finding) -> Example {
        let response = result.response.as_ref().map(|b| {
            let cut = &b[..b.len().min(EXAMPLE_BODY_BYTES)];
            let mut text = String::from_utf8_lossy(cut).into_owned();
            if b.len() > EXAMPLE_BODY_BYTES {
                text.push_str(&format!("… ({} bytes in all)", b.len()));
            }
            text
        });
        Example {
            case: result.case_id.clone(),
            status: result.status,
            response,
            request: finding.reproduce.clone(),
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
                ..
            } => {
                self.target = target.to_string();
                self.seed = *seed;
                self.started = crate::signing::sdk_date_now();
                self.planned = *cases as u64;
                self.shard = *shard;
            }
            Event::CaseFinished(result) => self.record(result),
            Event::Notice(line) => self.notices.push(line.to_string()),
            Event::NotServed { rules, .. } => {
                for id in rules.iter() {
                    if let Some(r) = self.rules.get_mut(id) {
                        r.not_served = true;
                    }
                }
            }
            Event::RunFinished(end) => self.end = (*end).clone(),
            Event::DryRun { .. } => self.dry_run = true,
            Event::CaseStarted { .. } | Event::Estimated { .. } => {}
        }
    }
}

/// The entry for `key`, made if missing. Looked up before inserting: after
/// the first cases every key exists, and a case allocates no key.
fn slot<'m, V: Default>(map: &'m mut BTreeMap<String, V>, key: &str) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_string(), V::default());
    }
    map.get_mut(key).expect("inserted above")
}
