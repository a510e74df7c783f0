//! Results as plain data, aggregated as they stream in, and written out as
//! the console summary, a JSON report and JUnit XML.
//!
//! Per-case data is dropped once aggregated (findings are deduplicated by
//! id and operation), so memory stays flat however many cases run; only
//! `--junit` keeps one short line per case.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::case::CaseKind;
use crate::contract::{Contract, Severity};

/// The target broke a documented rule or schema keyword.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub case: String,
    pub operation: String,
    /// The rule or schema keyword id.
    pub id: String,
    /// Page · table · parameter.
    pub source: String,
    pub severity: Severity,
    pub expected: String,
    pub actual: String,
    /// A curl command (secrets masked) or the replay command.
    pub reproduce: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "[{}] {} in {} ({})",
            self.severity, self.id, self.case, self.source
        )?;
        writeln!(f, "    documented: {}", self.expected)?;
        writeln!(f, "    received:   {}", self.actual)?;
        write!(f, "    reproduce:  {}", self.reproduce)
    }
}

/// Everything the run learnt from one case.
#[derive(Debug, Clone, Default)]
pub struct CaseResult {
    pub case_id: String,
    pub operation: String,
    pub kind: Option<CaseKind>,
    pub findings: Vec<Finding>,
    /// Rule and keyword ids the case exercised.
    pub exercised: Vec<String>,
    /// A harness-side problem (not the target's fault), e.g. a case that could not be built.
    pub error: Option<String>,
    pub elapsed: Duration,
    pub replay: String,
    /// The redacted response, when snapshots are captured.
    pub snapshot: Option<String>,
}

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

#[derive(Debug, Clone, Serialize)]
struct JunitLine {
    operation: String,
    name: String,
    failure: Option<String>,
    error: Option<String>,
    secs: f64,
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
    junit: Option<Vec<JunitLine>>,
}

impl Summary {
    pub fn new(contract: &Contract, target: &str, seed: u64, keep_junit: bool) -> Summary {
        let rules = contract
            .rules
            .iter()
            .map(|r| (r.id.clone(), RuleStats::default()))
            .collect();
        Summary {
            target: target.into(),
            seed,
            rules,
            junit: keep_junit.then(Vec::new),
            ..Default::default()
        }
    }

    pub fn record(&mut self, result: CaseResult) {
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
        for f in result.findings {
            self.findings
                .entry((f.id.clone(), f.operation.clone()))
                .and_modify(|d| d.count += 1)
                .or_insert(DedupedFinding { first: f, count: 1 });
        }
    }

    pub fn worst(&self) -> Option<Severity> {
        self.findings.values().map(|f| f.first.severity).max()
    }

    /// 0: nothing at or above `fail_on`; 1: findings; 2: the run could not be done.
    pub fn exit_code(&self, fail_on: Severity) -> i32 {
        if self.fatal.is_some() {
            2
        } else if self.findings.values().any(|f| f.first.severity >= fail_on)
            || self.operations.values().any(|o| o.errors > 0)
        {
            1
        } else {
            0
        }
    }

    /// The console summary; `colour` paints snapshot diffs for a terminal.
    pub fn render(&self, contract: &Contract, colour: bool) -> String {
        let mut out = String::new();
        let push = |out: &mut String, s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        if !self.findings.is_empty() {
            push(&mut out, "Findings".into());
            for d in self.findings.values() {
                let mut f = d.first.clone();
                if colour && f.id == "snapshot.drift" {
                    f.actual = crate::snapshot::colour(&f.actual);
                }
                push(&mut out, format!("{f}\n    seen in {} case(s)", d.count));
            }
            out.push('\n');
        }
        push(
            &mut out,
            format!(
                "{:<30} {:>7} {:>7} {:>6} {:>7} {:>7}",
                "operation", "cases", "passed", "must", "should", "errors"
            ),
        );
        for (op, s) in &self.operations {
            push(
                &mut out,
                format!(
                    "{op:<30} {:>7} {:>7} {:>6} {:>7} {:>7}",
                    s.cases, s.passed, s.must, s.should, s.errors
                ),
            );
        }
        out.push('\n');
        push(
            &mut out,
            format!(
                "{:<42} {:>7} {:>10} {:>9}  status",
                "rule", "sev", "exercised", "violated"
            ),
        );
        for (id, s) in &self.rules {
            let severity = contract.severity_of(id);
            let status = if s.violated > 0 {
                "VIOLATED"
            } else if s.exercised == 0 {
                "never exercised"
            } else {
                "ok"
            };
            push(
                &mut out,
                format!(
                    "{id:<42} {severity:>7} {:>10} {:>9}  {status}",
                    s.exercised, s.violated
                ),
            );
        }
        out.push('\n');
        if !self.leftovers.is_empty() {
            push(
                &mut out,
                "Could not clean up (remove these by hand):".into(),
            );
            for l in &self.leftovers {
                push(&mut out, format!("  {l}"));
            }
        }
        if self.interrupted {
            push(&mut out, "Interrupted: the run stopped early.".into());
        }
        if let Some(f) = &self.fatal {
            push(&mut out, format!("error: {f}"));
        }
        push(
            &mut out,
            format!(
                "{} cases, {} passed, {} failed against {} in {:.2}s ({} requests, {} retries); seed {} (--seed {} to reproduce)",
                self.cases,
                self.passed,
                self.cases - self.passed,
                self.target,
                self.elapsed.as_secs_f64(),
                self.requests,
                self.retries,
                self.seed,
                self.seed
            ),
        );
        out
    }

    pub fn to_json(&self, contract: &Contract) -> serde_json::Value {
        let rules: Vec<serde_json::Value> = self
            .rules
            .iter()
            .map(|(id, s)| {
                serde_json::json!({
                    "id": id,
                    "severity": contract.severity_of(id),
                    "source": contract.source_of(id),
                    "exercised": s.exercised,
                    "violated": s.violated,
                    "status": if s.violated > 0 { "violated" } else if s.exercised == 0 { "never exercised" } else { "ok" },
                })
            })
            .collect();
        serde_json::json!({
            "target": self.target,
            "seed": self.seed,
            "cases": self.cases,
            "passed": self.passed,
            "failed": self.cases - self.passed,
            "requests": self.requests,
            "retries": self.retries,
            "elapsed_secs": self.elapsed.as_secs_f64(),
            "interrupted": self.interrupted,
            "fatal": self.fatal,
            "findings": self.findings.values().collect::<Vec<_>>(),
            "operations": self.operations,
            "rules": rules,
            "leftovers": self.leftovers,
        })
    }

    pub fn to_junit(&self) -> Result<String, String> {
        use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
        let mut report = Report::new("nic-conformance");
        report.set_time(self.elapsed);
        let mut suites: BTreeMap<&str, TestSuite> = BTreeMap::new();
        for line in self.junit.iter().flatten() {
            let status = match (&line.failure, &line.error) {
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
        report.to_string().map_err(|e| e.to_string())
    }
}

/// Writes a file atomically: a temporary file beside it, then a rename.
pub fn write_atomic(path: &std::path::Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("out"),
        std::process::id()
    ));
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)
}
