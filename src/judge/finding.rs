//! A finding: the target broke a documented rule or schema keyword, with
//! where the rule comes from, what the page documents and what came back.

use serde::{Deserialize, Serialize};

use crate::contract::{Contract, Severity};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// A curl command (secrets masked), when the request can be sent again as is.
    pub reproduce: String,
    /// The run line that replays the case (`--seed S --case ID`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub replay: String,
}

impl Finding {
    /// The one constructor: severity and source always come from the catalogue.
    pub fn new(
        contract: &Contract,
        case: &str,
        operation: &str,
        id: &str,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> Finding {
        Finding {
            case: case.to_string(),
            operation: operation.to_string(),
            id: id.to_string(),
            source: contract.source_of(id),
            severity: contract.severity_of(id),
            // What the target sent may hold terminal control bytes.
            expected: crate::text::escaped(expected.into()),
            actual: crate::text::escaped(actual.into()),
            reproduce: String::new(),
            replay: String::new(),
        }
    }

    /// The finding as seen in `case` (a setup finding is made before its case is known).
    pub fn in_case(mut self, case: &str) -> Finding {
        self.case = case.to_string();
        self
    }

    pub fn reproduced_by(mut self, reproduce: impl Into<String>) -> Finding {
        self.reproduce = reproduce.into();
        self
    }

    /// The finding with the run line that replays its case.
    pub fn replayed_by(mut self, replay: impl Into<String>) -> Finding {
        self.replay = replay.into();
        self
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "[{}] {} in {} ({})",
            self.severity, self.id, self.case, self.source
        )?;
        writeln!(f, "    documented: {}", self.expected)?;
        write!(f, "    received:   {}", self.actual)?;
        if !self.replay.is_empty() {
            write!(f, "\n    replay:     {}", self.replay)?;
        }
        if !self.reproduce.is_empty() && self.reproduce != self.replay {
            write!(f, "\n    curl:       {}", self.reproduce)?;
        }
        Ok(())
    }
}

/// A rule the case exercised but could not judge: what it needed was not
/// observed (the job query or the listing failed, the setup failed). Never
/// counted as passed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Undecided {
    /// The rule or keyword id.
    pub id: String,
    /// What could not be observed, naming the call that failed.
    pub reason: String,
}

impl Undecided {
    pub fn new(id: impl Into<String>, reason: impl Into<String>) -> Undecided {
        Undecided {
            id: id.into(),
            reason: reason.into(),
        }
    }
}

/// Findings at `should` never hide `must` ones; sorted for stable output.
pub fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.id.cmp(&b.id)));
}
