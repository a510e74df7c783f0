//! A case: one request with the outcome the pages promise for it.
//! Generated cases and curated ones (`cases/*.json`) share this type.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::contract::{Contract, Expect, Operation, Setup, Verdict, ids};
use crate::fixtures::{FixtureWorld, Fixtures};
use crate::malformed::{Malformation, Malformed};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaseKind {
    Curated,
    Valid,
    Boundary,
    Negative,
}

impl CaseKind {
    pub const GENERATED: [CaseKind; 3] = [CaseKind::Valid, CaseKind::Boundary, CaseKind::Negative];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseKind::Curated => "curated",
            CaseKind::Valid => "valid",
            CaseKind::Boundary => "boundary",
            CaseKind::Negative => "negative",
        }
    }
}

impl std::str::FromStr for CaseKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "valid" => Ok(CaseKind::Valid),
            "boundary" => Ok(CaseKind::Boundary),
            "negative" => Ok(CaseKind::Negative),
            "curated" => Ok(CaseKind::Curated),
            other => Err(format!(
                "unknown kind `{other}` (expected valid, boundary or negative)"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// `operation::kind::index` for generated cases, `operation::name` for curated ones.
    pub id: String,
    pub operation: String,
    pub kind: CaseKind,
    /// The promised status (exact or class).
    pub expect: Expect,
    /// The schema keyword or rule the case breaks (negative cases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaks: Option<String>,
    /// Schema keyword and rule ids the case exercises.
    pub exercises: Vec<String>,
    pub path_params: Map<String, Value>,
    pub body: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup: Option<Setup>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The request rests on a reading the pages leave open (an empty
    /// optional list): its status is judged at `should` (`request.open-reading`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub open_reading: bool,
    /// A protocol-level case: the request goes out malformed this way, its
    /// body's only key (the operation's top-level one) naming what to break.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub malformed: Option<Malformation>,
    /// What the case tests, stable across seeds (its plan: `breaks ID`,
    /// `edge ID`, `protocol CLASS`…); empty for a curated case, named by its id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub class: String,
}

impl Case {
    /// A case with no request of its own: a job query or a setup step, judged
    /// as a 200 of `operation` and named `id` in findings.
    pub fn bare(id: String, operation: &str, kind: CaseKind) -> Case {
        Case {
            id,
            operation: operation.to_string(),
            kind,
            expect: Expect::exact(200),
            breaks: None,
            exercises: Vec::new(),
            path_params: Map::new(),
            body: None,
            setup: None,
            description: String::new(),
            open_reading: false,
            malformed: None,
            class: String::new(),
        }
    }

    /// The bytes a protocol-level case sends instead of its JSON body.
    pub fn malformed_request(&self) -> Option<Malformed> {
        let m = self.malformed?;
        let body = self.body.as_ref().and_then(Value::as_object);
        let key = body
            .and_then(|b| b.keys().next())
            .map_or("", String::as_str);
        Some(m.request(key))
    }

    pub fn view(&self) -> Value {
        Contract::view(
            self.path_params.clone(),
            self.body.clone().unwrap_or(Value::Null),
        )
    }

    /// Labels a request with the verdict of the contract: what it promises and what it exercises.
    pub fn label(
        contract: &Contract,
        op: &Operation,
        view: &Value,
        world: &FixtureWorld,
    ) -> (Expect, Option<String>, Vec<String>) {
        Case::label_verdict(contract, op, view, contract.judge(op, view, world))
    }

    /// What `verdict` on a request promises, the id it breaks, and the ids it exercises.
    pub fn label_verdict(
        contract: &Contract,
        op: &Operation,
        view: &Value,
        verdict: Verdict,
    ) -> (Expect, Option<String>, Vec<String>) {
        // Only an open reading exercises its rule (marked by the generator),
        // and only a page that prints no success status its usual-status note.
        let unprinted = !op.success_status_printed;
        let mut exercises: Vec<String> = contract
            .rules_for(&op.id)
            .filter(|r| {
                r.check.exercised(view) && r.id != ids::OPEN_READING && r.id != ids::WELL_FORMED
            })
            .filter(|r| unprinted || r.id != ids::USUAL_STATUS)
            .map(|r| r.id.clone())
            .collect();
        match verdict {
            Verdict::Accept { dry_run } => {
                let expect = if dry_run {
                    Expect::exact(202)
                } else {
                    op.success_expect()
                };
                (expect, None, exercises)
            }
            Verdict::Reject { id, expect, .. } => {
                if !exercises.contains(&id) {
                    exercises.insert(0, id.clone());
                }
                (expect, Some(id), exercises)
            }
        }
    }
}

/// A case's id: `operation::kind::index` for generated cases. Stable for a
/// seed, so `--case ID` and libtest filters find the same case again.
pub fn generated_id(operation: &str, kind: CaseKind, index: usize) -> String {
    format!("{operation}::{}::{index}", kind.as_str())
}

/// A curated case's id: `operation::name`.
pub fn curated_id(operation: &str, name: &str) -> String {
    format!("{operation}::{name}")
}

/// Default path parameters: the project and the fixtures a path names.
pub fn default_path_params(
    op: &Operation,
    project_id: &str,
    fixtures: &Fixtures,
) -> Map<String, Value> {
    op.path_params()
        .into_iter()
        .map(|name| {
            let value = match name {
                "project_id" => project_id.to_string(),
                // An update works on the spare the runner attached: the
                // primary NIC's fields are never the harness's to change.
                "port_id" if op.setup == Some(crate::contract::Setup::SparePortAttached) => {
                    fixtures.spare_port_id.clone()
                }
                "port_id" => fixtures.primary_port_id.clone(),
                other => fixtures.get(other).unwrap_or_default().to_string(),
            };
            (name.to_string(), Value::String(value))
        })
        .collect()
}
