//! What the proxy can decide about one exchange it did not choose.
//!
//! The runner knows the world its cases run in; the proxy does not. So a
//! request is held only to what the request itself shows: its schemas and
//! the rules that read nothing but the request (exclusive fields, required
//! pairs, list sizes). A rule that depends on what exists on the cloud (a
//! port, its state, the primary NIC) cannot be judged here: a refusal it
//! could explain is undecided, never a finding. Rules that need the state
//! after the exchange (effects, read-backs, precedence, a dry run's
//! no-change) are undecided too: the proxy sees only what passes through it.
//! Everything else is the judge's, through the same functions the runner calls.

use serde_json::{Map, Value};

use crate::case::{Case, CaseKind};
use crate::contract::{Contract, Operation, Resource, Verdict, World};
use crate::http::{Curl, Exchange};
use crate::judge::response::{self, Evidence};
use crate::judge::{Finding, Undecided};

/// A world the proxy knows nothing of: only rules that read no world are judged with it.
struct Unknown;

impl World for Unknown {
    fn exists(&self, _: Resource, _: &str, _: Option<&str>) -> bool {
        true
    }
    fn port_state(&self, _: &str) -> Option<&str> {
        None
    }
    fn fixture(&self, _: &str, _: Option<&str>) -> Option<String> {
        None
    }
}

/// A client's request, labelled as the runner labels its cases, but with no
/// knowledge of the world.
pub struct Labelled {
    pub case: Case,
    /// The request breaks a schema keyword or a rule that reads only the request.
    pub broken: Option<(String, String)>,
    /// Rules that depend on the world or on later state, with why: never passed here.
    pub unjudged: Vec<(String, &'static str)>,
}

pub fn label(
    contract: &Contract,
    op: &Operation,
    case_id: String,
    params: Map<String, Value>,
    body: Option<Value>,
) -> Labelled {
    let view = Contract::view(params.clone(), body.clone().unwrap_or(Value::Null));
    let verdict = contract.judge_schemas(op, &view).unwrap_or_else(|| {
        contract.judge_rules_where(op, &view, &Unknown, |r| !r.check.reads_world())
    });
    let broken = match &verdict {
        Verdict::Reject { id, message, .. } => Some((id.clone(), message.clone())),
        Verdict::Accept { .. } => None,
    };
    let (expect, breaks, exercised) = Case::label_verdict(contract, op, &view, verdict);
    // What one answer shows is judged; the rest is named with why it is not.
    let (exercises, unjudged): (Vec<String>, Vec<String>) = exercised.into_iter().partition(|id| {
        contract
            .rule(id)
            .is_none_or(|r| r.check.decided_by_exchange() || Some(id) == breaks.as_ref())
    });
    let unjudged = unjudged
        .into_iter()
        .map(|id| {
            let world = contract.rule(&id).is_some_and(|r| r.check.reads_world());
            let why = if world {
                "reads what exists on the cloud, which the proxy does not know"
            } else {
                "needs the state after the exchange, which the proxy does not read"
            };
            (id, why)
        })
        .collect();
    let kind = if breaks.is_some() {
        CaseKind::Negative
    } else {
        CaseKind::Valid
    };
    let mut case = Case::bare(case_id, &op.id, kind);
    case.expect = expect;
    case.breaks = breaks;
    case.exercises = exercises;
    case.path_params = params;
    case.body = body;
    Labelled {
        case,
        broken,
        unjudged,
    }
}

/// What the proxy concluded from one exchange.
#[derive(Default)]
pub struct Judged {
    pub findings: Vec<Finding>,
    pub undecided: Vec<Undecided>,
    pub body: Option<Value>,
    /// The server accepted what it should have refused: right only if the job ends FAIL.
    pub pending_job_fail: bool,
}

/// Judges the answer to a labelled request with the runner's response checks.
pub fn judge_answer(
    contract: &Contract,
    op: &Operation,
    labelled: &Labelled,
    exchange: &Exchange,
    curl: &Curl,
) -> Judged {
    let evidence = Evidence {
        contract,
        op,
        case: &labelled.case,
        exchange,
        reproduce: curl,
    };
    let refused_valid = labelled.case.breaks.is_none() && !(200..300).contains(&exchange.status);
    let mut judged = Judged::default();
    if refused_valid && exchange.status < 500 {
        // A refusal the proxy cannot explain or fault: the world may explain it.
        judged
            .findings
            .extend(response::content_type_conformance(&evidence));
        match response::json_body(&evidence) {
            Ok(body) => {
                judged
                    .findings
                    .extend(response::error_shape_conformance(&evidence, body.as_ref()));
                judged.body = body;
            }
            Err(f) => judged.findings.push(*f),
        }
        let world_rules: Vec<&str> = contract
            .rules_for(&op.id)
            .filter(|r| r.check.reads_world())
            .map(|r| r.id.as_str())
            .collect();
        let because = if world_rules.is_empty() {
            String::new()
        } else {
            format!(" (rules that read the cloud: {})", world_rules.join(", "))
        };
        judged.undecided.push(Undecided::new(
            crate::contract::ids::STATUS,
            format!(
                "the server refused a request the proxy finds valid with {}; what exists on the cloud may explain it{because}",
                exchange.status
            ),
        ));
    } else {
        let checked = response::judge_response(&evidence);
        judged.findings = checked.findings;
        judged.body = checked.body;
        judged.pending_job_fail = checked.pending_job_fail;
    }
    let accepted = (200..300).contains(&exchange.status);
    if accepted {
        for (id, why) in &labelled.unjudged {
            judged.undecided.push(Undecided::new(id, *why));
        }
    }
    judged
}

/// A finding against the client: its request breaks `id`. Named apart
/// from the server's findings of the same rule, with the rule's severity and source.
pub fn client_finding(
    contract: &Contract,
    case: &Case,
    id: &str,
    message: &str,
    curl: &Curl,
) -> Finding {
    Finding::new(
        contract,
        &case.id,
        &case.operation,
        &format!("{}{id}", crate::contract::ids::CLIENT_PREFIX),
        "a request the pages allow",
        format!("the client's request breaks it: {message}"),
    )
    .reproduced_by(curl.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labelled(op: &str, body: Value) -> Labelled {
        let c = Contract::builtin().unwrap();
        let op = c.operation(op).unwrap();
        let params = crate::case::default_path_params(
            op,
            crate::fixtures::EXAMPLE_PROJECT_ID,
            &crate::fixtures::example_fixtures(),
        );
        label(&c, op, "x".into(), params, Some(body))
    }

    #[test]
    fn a_finding_against_the_client_keeps_its_rules_severity_and_source() {
        let c = Contract::builtin().unwrap();
        let l = labelled("nova-attach-interface", json!({"interfaceAttachment": {}}));
        let curl = Curl::new(crate::http::PreparedRequest {
            shell_body: None,
            method: "POST".into(),
            url: "http://x/".into(),
            headers: Vec::new(),
            body: None,
            replay_auth: Default::default(),
        });
        let (id, message) = l.broken.clone().unwrap();
        assert_eq!(id, "nova-attach.port-or-net");
        let f = client_finding(&c, &l.case, &id, &message, &curl);
        assert_eq!(f.id, "client:nova-attach.port-or-net");
        assert_eq!(f.severity, c.severity_of(&id));
        assert_eq!(f.severity, crate::contract::Severity::Should);
        assert_eq!(f.source, c.source_of(&id));
        assert_eq!(
            c.severity_of(&f.id),
            f.severity,
            "reports read it by id too"
        );
    }

    #[test]
    fn a_rule_of_the_request_alone_is_judged_and_one_of_the_world_is_not() {
        let both = labelled(
            "nova-attach-interface",
            json!({"interfaceAttachment": {"port_id": "ce531f90-199f-48c0-816c-13e38010b442", "net_id": "3cb9bc59-5699-4588-a4b1-b87f96708bc6"}}),
        );
        assert_eq!(
            both.case.breaks.as_deref(),
            Some("nova-attach.port-net-exclusive")
        );
        // An unknown port is the cloud's to refuse: the request is valid here.
        let unknown = labelled(
            "nova-attach-interface",
            json!({"interfaceAttachment": {"port_id": "00000000-0000-4000-8000-00000000dead"}}),
        );
        assert!(unknown.case.breaks.is_none());
        assert!(
            !unknown
                .case
                .exercises
                .iter()
                .any(|id| id.contains("exists"))
        );
    }
}
