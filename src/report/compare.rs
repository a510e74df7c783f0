//! Two runs of the same cases against two targets, case by case (`report
//! diff`): where their answers differ, told apart by whether one side
//! violates a rule there or both did what the pages allow.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::report::merge::RunReport;

/// What one side did with a case.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub status: Option<u64>,
    pub outcome: String,
    pub violated: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The exchange, when the report kept it as one of a finding's examples.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exchange: Option<crate::report::Example>,
}

/// How two sides' answers to one case differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Difference {
    /// One side violates a rule the other does not.
    Violation,
    /// Neither violates anything, but they answered differently (another
    /// allowed status, one left a rule undecided, a harness error).
    Allowed,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseDiff {
    pub case: String,
    pub operation: String,
    pub difference: Difference,
    /// Rules violated on one side only: (rule, `A` or `B`).
    pub only: Vec<(String, String)>,
    pub a: Side,
    pub b: Side,
    pub replay: String,
}

#[derive(Debug, Serialize)]
pub struct Comparison {
    pub a: String,
    pub b: String,
    pub seed: Option<u64>,
    pub compared: usize,
    pub differences: Vec<CaseDiff>,
    /// Cases only one run has (another selection, or a run cut short).
    pub only_in_a: Vec<String>,
    pub only_in_b: Vec<String>,
}

/// Why two reports do not hold the same cases (none when they do).
pub fn mismatch(a: &RunReport, b: &RunReport) -> Option<String> {
    if a.seed() != b.seed() {
        return Some(format!(
            "the seeds differ ({:?} and {:?}): other cases were sent",
            a.seed(),
            b.seed()
        ));
    }
    if a.text("contract_digest") != b.text("contract_digest") {
        return Some("the contracts differ: other rules judged the cases".into());
    }
    None
}

fn cases(r: &RunReport) -> BTreeMap<String, Value> {
    (r.json
        .get("case_results")
        .and_then(Value::as_array)
        .into_iter()
        .flatten())
    .filter_map(|c| Some((c.get("id")?.as_str()?.to_string(), c.clone())))
    .collect()
}

/// Each case's exchange the report kept (a finding's first few examples).
fn exchanges(r: &RunReport) -> BTreeMap<String, crate::report::Example> {
    let findings = ["findings", "accepted_findings"].into_iter();
    (findings.filter_map(|k| r.json.get(k)?.as_array()).flatten())
        .filter_map(|f| f.get("examples")?.as_array())
        .flatten()
        .filter_map(|e| serde_json::from_value::<crate::report::Example>(e.clone()).ok())
        .map(|e| (e.case.clone(), e))
        .collect()
}

fn side(c: &Value, exchanges: &BTreeMap<String, crate::report::Example>) -> Side {
    let mut violated: Vec<String> = (c
        .get("violated")
        .and_then(Value::as_array)
        .into_iter()
        .flatten())
    .filter_map(|v| v.as_str().map(str::to_string))
    .collect();
    violated.sort();
    Side {
        status: c.get("status").and_then(Value::as_u64),
        outcome: c
            .get("outcome")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        violated,
        error: c.get("error").and_then(Value::as_str).map(str::to_string),
        exchange: (c.get("id").and_then(Value::as_str)).and_then(|id| exchanges.get(id).cloned()),
    }
}

/// The cases `a` and `b` answered differently.
pub fn compare(a: &RunReport, b: &RunReport) -> Comparison {
    let (ca, cb) = (cases(a), cases(b));
    let (ea, eb) = (exchanges(a), exchanges(b));
    let (name_a, name_b) = (a.text("target").to_string(), b.text("target").to_string());
    let mut differences = Vec::new();
    for (id, x) in &ca {
        let Some(y) = cb.get(id) else { continue };
        let (sa, sb) = (side(x, &ea), side(y, &eb));
        let same = (sa.status, &sa.outcome, &sa.violated, &sa.error)
            == (sb.status, &sb.outcome, &sb.violated, &sb.error);
        if same {
            continue;
        }
        let mut only: Vec<(String, String)> = (sa.violated.iter())
            .filter(|v| !sb.violated.contains(v))
            .map(|v| (v.clone(), "A".to_string()))
            .collect();
        only.extend(
            (sb.violated.iter())
                .filter(|v| !sa.violated.contains(v))
                .map(|v| (v.clone(), "B".to_string())),
        );
        differences.push(CaseDiff {
            case: id.clone(),
            operation: x
                .get("operation")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            difference: if only.is_empty() {
                Difference::Allowed
            } else {
                Difference::Violation
            },
            only,
            a: sa,
            b: sb,
            replay: x
                .get("replay")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        });
    }
    differences.sort_by(|x, y| (x.difference, &x.case).cmp(&(y.difference, &y.case)));
    Comparison {
        compared: ca.keys().filter(|k| cb.contains_key(*k)).count(),
        only_in_a: ca
            .keys()
            .filter(|k| !cb.contains_key(*k))
            .cloned()
            .collect(),
        only_in_b: cb
            .keys()
            .filter(|k| !ca.contains_key(*k))
            .cloned()
            .collect(),
        seed: a.seed(),
        a: name_a,
        b: name_b,
        differences,
    }
}

impl Comparison {
    /// The comparison for people: violations first, then allowed differences.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{} cases compared between {} (A) and {} (B), seed {}\n",
            self.compared,
            self.a,
            self.b,
            self.seed.map_or("?".into(), |s| s.to_string())
        );
        let show = |s: &Side| {
            let mut t = format!(
                "{} {}",
                s.status.map_or("no answer".into(), |s| s.to_string()),
                s.outcome
            );
            if !s.violated.is_empty() {
                t.push_str(&format!(" ({})", s.violated.join(", ")));
            }
            if let Some(e) = &s.error {
                t.push_str(&format!(": {e}"));
            }
            t
        };
        for (kind, heading) in [
            (Difference::Violation, "where one side violates a rule"),
            (Difference::Allowed, "where both did what the pages allow"),
        ] {
            let list: Vec<&CaseDiff> = self
                .differences
                .iter()
                .filter(|d| d.difference == kind)
                .collect();
            out.push_str(&format!("\n{} case(s) {heading}:\n", list.len()));
            for d in list {
                out.push_str(&format!(
                    "  {}\n    A: {}\n    B: {}\n",
                    d.case,
                    show(&d.a),
                    show(&d.b)
                ));
                for (rule, on) in &d.only {
                    out.push_str(&format!("    {rule} violated only on {on}\n"));
                }
                for (name, s) in [("A", &d.a), ("B", &d.b)] {
                    if let Some(e) = &s.exchange {
                        out.push_str(&format!("    {name} sent: {}\n", e.request));
                        if let Some(body) = &e.response {
                            out.push_str(&format!("    {name} got: {}\n", body.replace('\n', " ")));
                        }
                    }
                }
                if !d.replay.is_empty() {
                    out.push_str(&format!("    replay: {}\n", d.replay));
                }
            }
        }
        for (name, only) in [("A", &self.only_in_a), ("B", &self.only_in_b)] {
            if !only.is_empty() {
                out.push_str(&format!(
                    "\n{} case(s) only in {name}: {}\n",
                    only.len(),
                    only.join(", ")
                ));
            }
        }
        out
    }

    /// 1 when one side violates a rule the other does not.
    pub fn exit_code(&self) -> i32 {
        match self
            .differences
            .iter()
            .any(|d| d.difference == Difference::Violation)
        {
            true => crate::error::exit::FINDINGS,
            false => crate::error::exit::OK,
        }
    }
}
