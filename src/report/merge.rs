//! Several runs' JSON reports as one (`report merge`): the shards of one
//! run become the report of the whole run, as an unsharded run would have
//! written it; runs against different targets become a fleet
//! ([`super::fleet`]).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::contract::Contract;
use crate::error::Error;
use crate::report::{DedupedFinding, EXAMPLES_PER_FINDING, JunitLine, RuleStats, Summary};
use crate::runner::event::RunEnd;

/// One run's JSON report as read back from its file.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub path: PathBuf,
    pub json: Value,
}

/// The largest report `report merge` reads (a report keeps about 650 bytes a case).
pub const MAX_REPORT_BYTES: u64 = 1 << 30;

impl RunReport {
    /// Reads a report written by `run --report-json`; a malformed one is
    /// refused with its file and the line and column of the fault.
    pub fn read(path: &Path) -> Result<RunReport, Error> {
        let text = crate::files::read_text_capped(path, MAX_REPORT_BYTES)
            .map_err(|e| Error::file(path, format!("cannot read the report: {e}")))?;
        let json: Value = serde_json::from_str(&text).map_err(|e| {
            Error::file(
                path,
                format!("line {}, column {}: {e}", e.line(), e.column()),
            )
        })?;
        for key in ["target", "contract_digest", "rules", "findings"] {
            if json.get(key).is_none() {
                return Err(Error::file(
                    path,
                    format!(
                        "not a run's JSON report (no `{key}`; written by `run --report-json` of this version?)"
                    ),
                ));
            }
        }
        Ok(RunReport {
            path: path.to_path_buf(),
            json,
        })
    }

    pub fn text(&self, key: &str) -> &str {
        self.json.get(key).and_then(Value::as_str).unwrap_or("")
    }

    pub fn number(&self, key: &str) -> Option<i64> {
        self.json.get(key).and_then(Value::as_i64)
    }

    /// (K, N) of a shard's report.
    pub fn shard(&self) -> Option<(usize, usize)> {
        let (k, n) = self.json.get("shard")?.as_str()?.split_once('/')?;
        Some((k.parse().ok()?, n.parse().ok()?))
    }

    pub fn seed(&self) -> Option<u64> {
        self.json.get("seed").and_then(Value::as_u64)
    }

    fn cases(&self) -> Vec<Value> {
        (self.json.get("case_results").and_then(Value::as_array))
            .cloned()
            .unwrap_or_default()
    }
}

/// Why `reports` are not every shard of one run (none when they are): one
/// target, seed, contract and shard count, and each shard exactly once.
pub fn shard_mismatches(reports: &[RunReport]) -> Vec<String> {
    let mut why = Vec::new();
    let Some(first) = reports.first() else {
        return vec!["no report given".into()];
    };
    let name = |r: &RunReport| r.path.display().to_string();
    for r in reports {
        let Some((k, n)) = r.shard() else {
            why.push(format!(
                "{} is not a shard's report (run --shard K/N)",
                name(r)
            ));
            continue;
        };
        for (what, mine, theirs) in [
            ("target", r.text("target"), first.text("target")),
            (
                "contract digest",
                r.text("contract_digest"),
                first.text("contract_digest"),
            ),
            (
                "harness version",
                r.text("harness_version"),
                first.text("harness_version"),
            ),
        ] {
            if mine != theirs {
                why.push(format!(
                    "{} has {what} {mine:?}, {} has {theirs:?}",
                    name(r),
                    name(first)
                ));
            }
        }
        if r.seed() != first.seed() {
            why.push(format!(
                "{} has seed {:?}, {} has {:?}",
                name(r),
                r.seed(),
                name(first),
                first.seed()
            ));
        }
        if first.shard().is_some_and(|(_, m)| m != n) {
            why.push(format!(
                "{} is shard {k} of {n}, {} of another count",
                name(r),
                name(first)
            ));
        }
    }
    if let Some((_, n)) = first.shard()
        && why.is_empty()
    {
        let mut seen: Vec<usize> = reports
            .iter()
            .filter_map(|r| r.shard().map(|s| s.0))
            .collect();
        seen.sort_unstable();
        let missing: Vec<String> = (1..=n)
            .filter(|k| !seen.contains(k))
            .map(|k| format!("{k}/{n}"))
            .collect();
        if !missing.is_empty() {
            why.push(format!("shard {} missing", missing.join(", ")));
        }
        seen.dedup();
        if seen.len() < reports.len() {
            why.push("a shard is given twice".into());
        }
    }
    why
}

/// The whole run from its shards' reports: its summary and its cases, in
/// plan order as far as the shards tell it (shard K holds every N-th unit
/// of the plan, so their cases interleave).
pub fn merge_shards(
    reports: &[RunReport],
    contract: &Contract,
    keep_junit: bool,
) -> Result<(Summary, Vec<Value>), String> {
    let why = shard_mismatches(reports);
    if !why.is_empty() {
        return Err(format!("not the shards of one run: {}", why.join("; ")));
    }
    let mut shards: Vec<&RunReport> = reports.iter().collect();
    shards.sort_by_key(|r| r.shard());
    let mut lists: Vec<std::collections::VecDeque<Value>> =
        shards.iter().map(|r| r.cases().into()).collect();
    let mut cases = Vec::new();
    while lists.iter().any(|l| !l.is_empty()) {
        cases.extend(lists.iter_mut().filter_map(|l| l.pop_front()));
    }
    let position: std::collections::HashMap<String, usize> = (cases.iter().enumerate())
        .filter_map(|(i, c)| Some((c.get("id")?.as_str()?.to_string(), i)))
        .collect();
    let at = |case: &str| position.get(case).copied().unwrap_or(usize::MAX);
    let mut merged = Summary::new(contract, false);
    for r in &shards {
        let part =
            Summary::from_report(&r.json).map_err(|e| format!("{}: {e}", r.path.display()))?;
        merged.absorb(part, &at);
    }
    merged.shard = None;
    for f in merged
        .findings
        .values_mut()
        .chain(merged.accepted.values_mut())
    {
        order_finding(f, &position);
    }
    if keep_junit {
        merged.junit = Some(
            cases
                .iter()
                .map(|c| JunitLine::from_record(c, &merged, contract))
                .collect(),
        );
    }
    Ok((merged, cases))
}

/// A finding's cases and examples in plan order; its first case's details lead.
fn order_finding(f: &mut DedupedFinding, position: &std::collections::HashMap<String, usize>) {
    let at = |case: &str| position.get(case).copied().unwrap_or(usize::MAX);
    f.cases.sort_by_key(|c| at(c));
    f.examples.sort_by_key(|e| at(&e.case));
    f.examples.truncate(EXAMPLES_PER_FINDING);
}

/// A rule's line in the JSON report.
#[derive(Deserialize)]
struct RuleLine {
    id: String,
    #[serde(flatten)]
    stats: RuleStats,
    status: String,
}

impl Summary {
    /// The summary a run's JSON report was written from (as far as it
    /// tells: no baseline, whose entries each shard matched on its own).
    pub fn from_report(json: &Value) -> Result<Summary, String> {
        let rules: Vec<RuleLine> = get(json, "rules")?;
        let number = |key: &str| json.get(key).and_then(Value::as_u64).unwrap_or(0);
        let shard = RunReport {
            path: PathBuf::new(),
            json: json.clone(),
        }
        .shard();
        Ok(Summary {
            target: get(json, "target")?,
            seed: number("seed"),
            started: get(json, "started")?,
            proxied: get(json, "proxied")?,
            shard,
            planned: number("planned"),
            cases: number("cases"),
            passed: number("passed"),
            undecided_only: number("undecided"),
            repeats: number("repeats_skipped"),
            not_sent: pairs(json, "not_sent", "case", "reason"),
            errors: pairs(json, "errors", "case", "message"),
            operations: get(json, "operations")?,
            rules: (rules.into_iter())
                .map(|r| {
                    let mut stats = r.stats;
                    stats.not_served = r.status == "not served";
                    (r.id, stats)
                })
                .collect(),
            findings: findings(json, "findings")?,
            accepted: findings(json, "accepted_findings")?,
            end: RunEnd {
                requests: number("requests"),
                retries: number("retries"),
                leftovers: get(json, "leftovers")?,
                fatal: get(json, "fatal")?,
                interrupted: get(json, "interrupted")?,
                stopped_at_max_requests: get(json, "stopped_at_max_requests")?,
                stopped_at_time_budget: get(json, "stopped_at_time_budget")?,
                elapsed: std::time::Duration::from_secs_f64(
                    json.get("elapsed_secs")
                        .and_then(Value::as_f64)
                        .unwrap_or(0.0)
                        .max(0.0),
                ),
            },
            notices: get(json, "notices")?,
            cells: get(json, "rules_by_operation")?,
            keywords: get(json, "coverage")?,
            new_snapshots: get(json, "new_snapshots")?,
            ..Default::default()
        })
    }

    /// Adds another shard's counts, findings and coverage to this one's.
    /// Shards run side by side: the whole run took as long as the longest.
    /// A finding's details are those of its earliest case by `at` (a case's
    /// place in the plan), as in a run that ran them all.
    pub fn absorb(&mut self, o: Summary, at: &dyn Fn(&str) -> usize) {
        if self.target.is_empty() {
            self.target = o.target.clone();
            self.seed = o.seed;
        }
        if self.started.is_empty() || (!o.started.is_empty() && o.started < self.started) {
            self.started = o.started.clone();
        }
        self.planned += o.planned;
        self.cases += o.cases;
        self.passed += o.passed;
        self.undecided_only += o.undecided_only;
        self.repeats += o.repeats;
        self.not_sent.extend(o.not_sent);
        self.errors.extend(o.errors);
        for (op, s) in o.operations {
            let m = self.operations.entry(op).or_default();
            m.cases += s.cases;
            m.passed += s.passed;
            m.must += s.must;
            m.should += s.should;
            m.undecided += s.undecided;
            m.errors += s.errors;
        }
        add_rules(&mut self.rules, o.rules);
        for (op, rules) in o.cells {
            add_rules(self.cells.entry(op).or_default(), rules);
        }
        for (map, other) in [
            (&mut self.findings, o.findings),
            (&mut self.accepted, o.accepted),
        ] {
            for (key, f) in other {
                match map.get_mut(&key) {
                    None => {
                        map.insert(key, f);
                    }
                    Some(m) => {
                        m.count += f.count;
                        m.cases.extend(f.cases);
                        m.examples.extend(f.examples);
                        if at(&f.first.case) < at(&m.first.case) {
                            m.first = f.first;
                        }
                    }
                }
            }
        }
        for (op, k) in o.keywords {
            let m = self.keywords.entry(op).or_default();
            m.negative.extend(k.negative);
            m.boundary.extend(k.boundary);
            for (class, n) in k.classes {
                *m.classes.entry(class).or_default() += n;
            }
        }
        let end = &mut self.end;
        end.requests += o.end.requests;
        end.retries += o.end.retries;
        end.leftovers.extend(o.end.leftovers);
        end.fatal = end.fatal.take().or(o.end.fatal);
        end.interrupted |= o.end.interrupted;
        end.stopped_at_max_requests |= o.end.stopped_at_max_requests;
        end.stopped_at_time_budget |= o.end.stopped_at_time_budget;
        end.elapsed = end.elapsed.max(o.end.elapsed);
        self.notices.extend(o.notices);
        self.new_snapshots.extend(o.new_snapshots);
    }
}

/// A key of a report, its default when absent or null.
fn get<T: serde::de::DeserializeOwned + Default>(json: &Value, key: &str) -> Result<T, String> {
    match json.get(key) {
        None | Some(Value::Null) => Ok(T::default()),
        Some(v) => T::deserialize(v).map_err(|e| format!("`{key}`: {e}")),
    }
}

/// A list of objects as pairs of two of their string fields.
fn pairs(json: &Value, key: &str, first: &str, second: &str) -> Vec<(String, String)> {
    (json
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten())
    .map(|v| {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        (s(first), s(second))
    })
    .collect()
}

/// A report's findings keyed as a summary keeps them: (rule, operation).
fn findings(
    json: &Value,
    key: &str,
) -> Result<std::collections::BTreeMap<(String, String), DedupedFinding>, String> {
    let list: Vec<DedupedFinding> = get(json, key)?;
    Ok(list
        .into_iter()
        .map(|f| ((f.first.id.clone(), f.first.operation.clone()), f))
        .collect())
}

fn add_rules(
    to: &mut std::collections::BTreeMap<String, RuleStats>,
    from: std::collections::BTreeMap<String, RuleStats>,
) {
    for (id, s) in from {
        let m = to.entry(id).or_default();
        m.exercised += s.exercised;
        m.violated += s.violated;
        m.undecided += s.undecided;
        if m.undecided_reason.is_none() {
            m.undecided_reason = s.undecided_reason;
        }
        m.not_served |= s.not_served;
    }
}

impl JunitLine {
    /// A case as JUnit shows it, from its line in a JSON report: each rule
    /// it violated with the finding's text (the first case's, as the report
    /// keeps one per rule and operation).
    fn from_record(case: &Value, summary: &Summary, contract: &Contract) -> JunitLine {
        let s = |k: &str| {
            case.get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let ids = |k: &str| -> Vec<&str> {
            (case.get(k).and_then(Value::as_array).into_iter().flatten())
                .filter_map(|v| v.as_str().or_else(|| v.get("id")?.as_str()))
                .collect()
        };
        let operation = s("operation");
        let key = |id: &str| (id.to_string(), operation.clone());
        let (accepted, failing): (Vec<&str>, Vec<&str>) =
            (ids("violated").into_iter()).partition(|id| summary.accepted.contains_key(&key(id)));
        let text =
            |id: &str, map: &std::collections::BTreeMap<(String, String), DedupedFinding>| {
                map.get(&key(id))
                    .map_or_else(|| id.to_string(), |f| f.first.to_string())
            };
        let joined = |lines: Vec<String>| (!lines.is_empty()).then(|| lines.join("\n"));
        let undecided = (case
            .get("undecided")
            .and_then(Value::as_array)
            .into_iter()
            .flatten())
        .map(|u| {
            let t = |k: &str| u.get(k).and_then(Value::as_str).unwrap_or("");
            format!("undecided {}: {}", t("id"), t("reason"))
        })
        .collect();
        JunitLine {
            name: s("id"),
            findings: (failing.iter())
                .map(|id| (contract.severity_of(id), text(id, &summary.findings)))
                .collect(),
            accepted: joined(
                (accepted.iter())
                    .map(|id| format!("accepted by the baseline: {}", text(id, &summary.accepted)))
                    .collect(),
            ),
            error: case
                .get("error")
                .and_then(Value::as_str)
                .map(str::to_string),
            undecided: joined(undecided),
            secs: case
                .get("duration_secs")
                .and_then(Value::as_f64)
                .unwrap_or(0.0),
            operation,
        }
    }
}
