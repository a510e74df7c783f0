//! Runs against several targets side by side (`report merge` of reports
//! that are not shards of one run): a target × rule matrix, per target how
//! its run ended and which contract judged it, and each violated rule's
//! findings across the targets.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::contract::{Contract, Severity};
use crate::report::merge::RunReport;

/// One target's run in a fleet.
#[derive(Debug)]
pub struct Member {
    /// Its column's heading: the target's name, with the report's file name
    /// when two runs share a target name.
    pub label: String,
    pub report: RunReport,
    /// Rule id → the rule's status in that run (`ok`, `violated`, `undecided`,
    /// `not served`, `never exercised`).
    pub statuses: BTreeMap<String, String>,
    /// Its contract is not the fleet's (the first report's): its cells judge other rules.
    pub other_contract: bool,
    /// Its seed is not the first report's: other cases were sent.
    pub other_seed: bool,
}

#[derive(Debug)]
pub struct Fleet {
    pub members: Vec<Member>,
    /// Every rule of any member, in the contract's order, then others by id.
    pub rules: Vec<String>,
    /// Per rule and member, the findings of that rule (one per operation).
    pub findings: BTreeMap<String, Vec<(usize, Value)>>,
}

impl Fleet {
    pub fn of(reports: Vec<RunReport>, contract: &Contract) -> Fleet {
        let first_digest = reports
            .first()
            .map(|r| r.text("contract_digest").to_string());
        let first_seed = reports.first().and_then(RunReport::seed);
        let mut names: BTreeMap<String, usize> = BTreeMap::new();
        for r in &reports {
            *names.entry(r.text("target").to_string()).or_default() += 1;
        }
        let mut findings: BTreeMap<String, Vec<(usize, Value)>> = BTreeMap::new();
        let members: Vec<Member> = (reports.into_iter().enumerate())
            .map(|(i, report)| {
                let list = |k: &str| report.json.get(k).and_then(Value::as_array).cloned();
                let statuses = (list("rules").into_iter().flatten())
                    .filter_map(|r| {
                        Some((
                            r.get("id")?.as_str()?.to_string(),
                            r.get("status")?.as_str()?.to_string(),
                        ))
                    })
                    .collect();
                for f in list("findings").into_iter().flatten() {
                    if let Some(id) = f.get("id").and_then(Value::as_str) {
                        findings.entry(id.to_string()).or_default().push((i, f));
                    }
                }
                let name = report.text("target");
                let label = match names.get(name) {
                    Some(n) if *n > 1 => {
                        let file = report
                            .path
                            .file_stem()
                            .map(|f| f.to_string_lossy().into_owned());
                        format!("{name} ({})", file.unwrap_or_default())
                    }
                    _ => name.to_string(),
                };
                Member {
                    label,
                    other_contract: Some(report.text("contract_digest")) != first_digest.as_deref(),
                    other_seed: report.seed() != first_seed,
                    statuses,
                    report,
                }
            })
            .collect();
        let known: Vec<String> = contract.rules.iter().map(|r| r.id.clone()).collect();
        let mut rules: Vec<String> = known
            .iter()
            .filter(|id| members.iter().any(|m| m.statuses.contains_key(*id)))
            .cloned()
            .collect();
        let mut others: Vec<String> = (members.iter())
            .flat_map(|m| m.statuses.keys())
            .chain(findings.keys())
            .filter(|id| !known.contains(id))
            .cloned()
            .collect();
        others.sort();
        others.dedup();
        rules.extend(others);
        Fleet {
            members,
            rules,
            findings,
        }
    }

    /// The cell of `rule` for member `i`: its status, or `violated` for a
    /// schema keyword with a finding (keywords are listed once violated).
    pub fn status(&self, rule: &str, i: usize) -> &str {
        if let Some(s) = self.members[i].statuses.get(rule) {
            return s;
        }
        match self.findings.get(rule) {
            Some(f) if f.iter().any(|(m, _)| *m == i) => "violated",
            _ => "",
        }
    }

    /// The worst exit code of the fleet's runs (0 when every run passed).
    pub fn exit_code(&self) -> i32 {
        (self.members.iter())
            .filter_map(|m| m.report.number("exit_code"))
            .map(|c| c as i32)
            .find(|c| *c != 0)
            .map_or(0, |_| crate::error::exit::FINDINGS)
    }

    pub fn to_json(&self) -> Value {
        let targets: Vec<Value> = (self.members.iter())
            .map(|m| {
                let r = &m.report;
                json!({
                    "label": m.label,
                    "report": r.path.display().to_string(),
                    "target": r.text("target"),
                    "exit_code": r.number("exit_code"),
                    "exit_reason": r.text("exit_reason"),
                    "seed": r.seed(),
                    "shard": r.json.get("shard"),
                    "contract_digest": r.text("contract_digest"),
                    "other_contract": m.other_contract,
                    "other_seed": m.other_seed,
                    "started": r.text("started"),
                })
            })
            .collect();
        let matrix: serde_json::Map<String, Value> = (self.rules.iter())
            .map(|id| {
                let cells: Vec<Value> = (0..self.members.len())
                    .map(|i| match self.status(id, i) {
                        "" => Value::Null,
                        s => Value::String(s.into()),
                    })
                    .collect();
                (id.clone(), Value::Array(cells))
            })
            .collect();
        let findings: serde_json::Map<String, Value> = (self.findings.iter())
            .map(|(id, list)| {
                let list = (list.iter())
                    .map(|(i, f)| json!({"target": self.members[*i].label, "finding": f}))
                    .collect();
                (id.clone(), Value::Array(list))
            })
            .collect();
        json!({
            "format": "nic-conformance fleet 1",
            "exit_code": self.exit_code(),
            "targets": targets,
            "rules": matrix,
            "findings": findings,
        })
    }

    /// JUnit: a suite per target, a test case per rule it judged.
    pub fn to_junit(&self, contract: &Contract, fail_on: Severity) -> Result<String, String> {
        let mut report = quick_junit::Report::new("nic-conformance fleet");
        for (i, m) in self.members.iter().enumerate() {
            let mut suite = quick_junit::TestSuite::new(m.label.as_str());
            for id in &self.rules {
                let status = match self.status(id, i) {
                    "violated" if contract.severity_of(id) >= fail_on => {
                        let mut s = quick_junit::TestCaseStatus::non_success(
                            quick_junit::NonSuccessKind::Failure,
                        );
                        s.set_message(format!("{id} violated on {}", m.label));
                        s
                    }
                    "" | "not served" | "never exercised" => quick_junit::TestCaseStatus::skipped(),
                    _ => quick_junit::TestCaseStatus::success(),
                };
                suite.add_test_case(quick_junit::TestCase::new(id.as_str(), status));
            }
            report.add_test_suite(suite);
        }
        report.to_string().map_err(|e| e.to_string())
    }
}
