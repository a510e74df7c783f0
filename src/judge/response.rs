//! Checks on one response, each a small function named for the property it
//! holds the target to. They run in a fixed order (status first, then the
//! body's form, then its content) and return findings; preconditions (is
//! there a body? is it a success?) are kept out of the check bodies.

use serde_json::Value;

use crate::case::Case;
use crate::contract::{BodyPresence, Check, Contract, Operation, ids};
use crate::http::{Curl, Exchange};
use crate::judge::Finding;

/// One response and what it answers: the evidence every check reads.
pub struct Evidence<'a> {
    pub contract: &'a Contract,
    pub op: &'a Operation,
    pub case: &'a Case,
    pub exchange: &'a Exchange,
    pub reproduce: &'a Curl,
}

impl Evidence<'_> {
    pub fn finding(
        &self,
        id: &str,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> Finding {
        Finding::new(
            self.contract,
            &self.case.id,
            &self.op.id,
            id,
            expected,
            actual,
        )
        .reproduced_by(self.reproduce.as_str())
    }

    fn status(&self) -> u16 {
        self.exchange.status
    }

    fn is_success(&self) -> bool {
        (200..300).contains(&self.status())
    }

    /// The rule whose promised status a valid case checks (a dry run, a
    /// request whose meaning the pages leave open), or the generic one.
    fn status_rule(&self) -> String {
        if let Some(b) = &self.case.breaks {
            return b.clone();
        }
        if self.case.open_reading {
            return ids::OPEN_READING.into();
        }
        self.contract
            .rules_for(&self.op.id)
            .find(|r| {
                matches!(r.check, Check::DryRun { .. }) && self.case.exercises.contains(&r.id)
            })
            .map(|r| r.id.clone())
            .unwrap_or_else(|| ids::STATUS.into())
    }
}

fn excerpt(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
    if body.len() > 200 {
        format!("{s}…")
    } else {
        s
    }
}

/// A 5xx is never a conforming answer.
pub fn no_server_error(j: &Evidence) -> Option<Finding> {
    (j.status() >= 500).then(|| {
        j.finding(
            ids::NO_SERVER_ERROR,
            format!("{} (documented)", j.case.expect),
            format!("{}: {}", j.status(), excerpt(&j.exchange.body)),
        )
    })
}

/// Outcome of the status check: a finding, or acceptance that must be confirmed by the job.
pub enum StatusOutcome {
    Conforms,
    /// Accepted where a rejection was due; conforming only if the job ends FAIL and changes nothing.
    PendingJobFail,
    Finding(Finding),
}

/// The documented status: exact where the page gives one, the class otherwise.
pub fn status_conformance(j: &Evidence) -> StatusOutcome {
    let status = j.status();
    if status >= 500 || j.case.expect.matches(status) {
        return StatusOutcome::Conforms;
    }
    if j.case.breaks.is_some() && j.case.expect.async_fail_ok && j.op.is_async && j.is_success() {
        return StatusOutcome::PendingJobFail;
    }
    let body = excerpt(&j.exchange.body);
    // A redirect is answered as it is (not followed): say where it points.
    let to = match (&j.exchange.location, status) {
        (Some(l), 300..=399) => format!(" redirect to {l}"),
        _ => String::new(),
    };
    StatusOutcome::Finding(j.finding(
        &j.status_rule(),
        j.case.expect.to_string(),
        format!("{status}{to} {body}"),
    ))
}

/// A 405 says which methods the path allows (RFC 9110 §15.5.6; nova's `badMethod`).
pub fn allow_header(j: &Evidence) -> Option<Finding> {
    let named = (j.exchange.allow.as_deref()).is_some_and(|a| !a.trim().is_empty());
    (j.status() == 405 && !named).then(|| {
        j.finding(
            ids::WELL_FORMED,
            "405 with an Allow header",
            "405 without Allow",
        )
    })
}

/// Where the page prints no success status any 2xx passes; one other than
/// the usual status is worth a note (at the rule's `should`).
pub fn usual_status(j: &Evidence) -> Option<Finding> {
    let status = j.status();
    let unprinted = j.case.expect.class == Some(crate::contract::StatusClass::Success);
    (unprinted && j.is_success() && status != j.op.success_status).then(|| {
        j.finding(
            ids::USUAL_STATUS,
            format!("{} (usual; the page prints no status)", j.op.success_status),
            status.to_string(),
        )
    })
}

/// A body is declared as JSON.
pub fn content_type_conformance(j: &Evidence) -> Option<Finding> {
    if j.exchange.body.is_empty() {
        return None;
    }
    let ct = j.exchange.content_type.as_deref().unwrap_or("");
    let json = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/json");
    (!json).then(|| {
        j.finding(
            ids::CONTENT_TYPE,
            "application/json",
            if ct.is_empty() {
                "no Content-Type".to_string()
            } else {
                ct.to_string()
            },
        )
    })
}

/// The body parses as JSON (when there is one); returns it.
pub fn json_body(j: &Evidence) -> Result<Option<Value>, Box<Finding>> {
    if j.exchange.body.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(&j.exchange.body)
        .map(Some)
        .map_err(|e| {
            Box::new(j.finding(
                ids::JSON_BODY,
                "a JSON body",
                format!("{e}: {}", excerpt(&j.exchange.body)),
            ))
        })
}

/// A success body matches the documented response schema, and is absent where the page says none.
pub fn response_schema_conformance(j: &Evidence, body: Option<&Value>) -> Vec<Finding> {
    if !j.is_success() {
        return Vec::new();
    }
    let Some(spec) = j.op.response(j.status()) else {
        return Vec::new();
    };
    match (spec.body, body) {
        (BodyPresence::None, Some(_)) => {
            let id = j
                .contract
                .rules_for(&j.op.id)
                .find(|r| matches!(r.check, Check::NoResponseBody))
                .map(|r| r.id.clone())
                .unwrap_or_else(|| ids::STATUS.into());
            vec![j.finding(&id, "no body", excerpt(&j.exchange.body))]
        }
        (BodyPresence::Json, None) => {
            let id = spec
                .schema
                .as_deref()
                .map(|s| format!("{s}#/type"))
                .unwrap_or_else(|| ids::JSON_BODY.into());
            vec![j.finding(&id, "a JSON body", "no body")]
        }
        (_, Some(body)) => schema_findings(j, spec.schema.as_deref(), body),
        _ => Vec::new(),
    }
}

fn schema_findings(j: &Evidence, schema: Option<&str>, body: &Value) -> Vec<Finding> {
    let Some(schema) = schema.and_then(|s| j.contract.schema(s)) else {
        return Vec::new();
    };
    // Most responses conform: the cheap check first, the error walk only on failure.
    if schema.is_valid(body) {
        return Vec::new();
    }
    schema
        .violations(body)
        .into_iter()
        .map(|v| {
            let at = if v.instance_path.is_empty() {
                "/".to_string()
            } else {
                v.instance_path.clone()
            };
            let actual = body
                .pointer(&v.instance_path)
                .map(|x| x.to_string())
                .unwrap_or_else(|| "(absent)".into());
            let keyword = v.id.rsplit('/').next().unwrap_or("").to_string();
            let documented = schema_rule_text(
                schema.subschema(v.id.split_once('#').map(|x| x.1).unwrap_or("")),
                &keyword,
            );
            j.finding(
                &v.id,
                format!("{documented} at {at}"),
                format!("{actual}: {}", v.message),
            )
        })
        .collect()
}

/// What a keyword demands, in words, from its value in the schema.
fn schema_rule_text(value: Option<&Value>, keyword: &str) -> String {
    match value {
        Some(v) => format!("{keyword} {v}"),
        None => keyword.to_string(),
    }
}

/// An error body has the shape of the operation's API family.
pub fn error_shape_conformance(j: &Evidence, body: Option<&Value>) -> Vec<Finding> {
    if j.status() < 400 {
        return Vec::new();
    }
    let Some(body) = body else { return Vec::new() };
    let family = if j.status() == 401 {
        crate::contract::ErrorFamily::ApiGateway
    } else {
        j.op.error_family
    };
    let name = j.contract.error_schema(family).map(|s| s.name.clone());
    schema_findings(j, name.as_deref(), body)
}

/// Updated and requested fields come back as they were sent.
pub fn echo_conformance(j: &Evidence, body: Option<&Value>) -> Vec<Finding> {
    let (Some(body), true) = (body, j.is_success()) else {
        return Vec::new();
    };
    if j.status() == 202 {
        return Vec::new(); // a dry run echoes nothing
    }
    let view = j.case.view();
    j.contract
        .rules_for(&j.op.id)
        .filter_map(|r| {
            r.check
                .echo_mismatch(&view, body)
                .map(|(sent, got)| j.finding(&r.id, format!("{sent} (as sent)"), got.to_string()))
        })
        .collect()
}

/// A keyed list in the answer (a NIC's tags) names each key once.
pub fn unique_keys_conformance(j: &Evidence, body: Option<&Value>) -> Vec<Finding> {
    let (Some(body), true) = (body, j.is_success()) else {
        return Vec::new();
    };
    j.contract
        .rules_for(&j.op.id)
        .filter_map(|r| {
            let twice = r.check.duplicate_keys(body);
            (!twice.is_empty()).then(|| {
                j.finding(
                    &r.id,
                    "each key once",
                    format!("{} more than once", twice.join(", ")),
                )
            })
        })
        .collect()
}

/// What the response checks concluded about one exchange.
pub struct ResponseJudgement {
    pub findings: Vec<Finding>,
    /// The parsed body, when it was JSON.
    pub body: Option<Value>,
    /// Accepted where a rejection was due: conforming only if the job ends FAIL.
    pub pending_job_fail: bool,
}

/// Every response check in its fixed order: status first, then the body's
/// form (Content-Type, JSON), then its content (schema, error shape, echo).
pub fn judge_response(j: &Evidence) -> ResponseJudgement {
    let mut findings = Vec::new();
    findings.extend(no_server_error(j));
    let mut pending_job_fail = false;
    match status_conformance(j) {
        StatusOutcome::Conforms => {}
        StatusOutcome::PendingJobFail => pending_job_fail = true,
        StatusOutcome::Finding(f) => findings.push(f),
    }
    findings.extend(usual_status(j));
    findings.extend(allow_header(j));
    findings.extend(content_type_conformance(j));
    let body = match json_body(j) {
        Ok(b) => b,
        Err(f) => {
            findings.push(*f);
            None
        }
    };
    findings.extend(response_schema_conformance(j, body.as_ref()));
    findings.extend(error_shape_conformance(j, body.as_ref()));
    findings.extend(echo_conformance(j, body.as_ref()));
    findings.extend(unique_keys_conformance(j, body.as_ref()));
    ResponseJudgement {
        findings,
        body,
        pending_job_fail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::CaseKind;
    use crate::http::PreparedRequest;
    use serde_json::json;

    /// The finding ids the response checks give `status`, `content_type` and `body` for `case`.
    fn judged(case: &Case, status: u16, content_type: Option<&str>, body: &str) -> Vec<String> {
        let contract = Contract::builtin().unwrap();
        let op = contract.operation(&case.operation).unwrap();
        let exchange = Exchange {
            status,
            content_type: content_type.map(str::to_string),
            body: bytes::Bytes::from(body.to_string()),
            location: None,
            allow: None,
            retries: 0,
            elapsed: std::time::Duration::ZERO,
        };
        let curl = Curl::new(PreparedRequest {
            shell_body: None,
            method: "PUT".into(),
            url: "http://localhost/x".into(),
            headers: Vec::new(),
            body: None,
            replay_auth: Default::default(),
        });
        let judged = judge_response(&Evidence {
            contract: &contract,
            op,
            case,
            exchange: &exchange,
            reproduce: &curl,
        });
        judged.findings.into_iter().map(|f| f.id).collect()
    }

    fn case(operation: &str) -> Case {
        Case::bare("c".into(), operation, CaseKind::Valid)
    }

    #[test]
    fn a_documented_answer_gives_no_finding() {
        let c = case("update-interface-attachment");
        assert!(judged(&c, 200, None, "").is_empty());
    }

    #[test]
    fn where_the_page_prints_no_status_any_2xx_passes_with_a_note() {
        let contract = Contract::builtin().unwrap();
        let mut c = case("update-interface-attachment");
        c.expect = contract
            .operation("update-interface-attachment")
            .unwrap()
            .success_expect();
        assert!(judged(&c, 200, None, "").is_empty());
        assert_eq!(judged(&c, 204, None, ""), [ids::USUAL_STATUS]);
        assert_eq!(
            contract.severity_of(ids::USUAL_STATUS),
            crate::contract::Severity::Should
        );
        let mut add = case("batch-add-nics");
        add.expect = contract
            .operation("batch-add-nics")
            .unwrap()
            .success_expect();
        // A 202 still carries the job id the usual 200 promises.
        let found = judged(&add, 202, Some("application/json"), r#"{"job_id": "j1"}"#);
        assert_eq!(found, [ids::USUAL_STATUS]);
        let found = judged(&add, 202, Some("application/json"), r#"{"job_id": 7}"#);
        assert!(found.iter().any(|id| id.ends_with("/type")), "{found:?}");
    }

    #[test]
    fn status_comes_first_and_a_5xx_is_always_a_finding() {
        let c = case("update-interface-attachment");
        assert_eq!(judged(&c, 404, None, ""), [ids::STATUS]);
        let found = judged(&c, 503, Some("application/json"), "{}");
        assert!(
            found.contains(&ids::NO_SERVER_ERROR.to_string()),
            "{found:?}"
        );
    }

    #[test]
    fn a_body_must_be_declared_and_parse_as_json() {
        let mut c = case("update-interface-attachment");
        c.expect = crate::contract::Expect::exact(404);
        let found = judged(&c, 404, Some("text/html"), "<html>");
        assert!(found.contains(&ids::CONTENT_TYPE.to_string()), "{found:?}");
        assert!(found.contains(&ids::JSON_BODY.to_string()), "{found:?}");
    }

    #[test]
    fn a_body_where_the_page_promises_none_breaks_its_rule() {
        let c = case("update-interface-attachment");
        let found = judged(&c, 200, Some("application/json"), "{}");
        assert_eq!(found, ["update-attachment.no-response-body"]);
    }

    #[test]
    fn a_success_body_is_judged_by_the_response_schema() {
        let c = case("batch-add-nics");
        assert!(judged(&c, 200, Some("application/json"), r#"{"job_id": "j1"}"#).is_empty());
        let found = judged(&c, 200, Some("application/json"), r#"{"job_id": 7}"#);
        assert!(found.iter().any(|id| id.ends_with("/type")), "{found:?}");
    }

    #[test]
    fn an_echo_that_differs_from_the_request_breaks_the_echo_rule() {
        let mut c = case("update-sub-network-interface");
        c.path_params
            .insert("sub_network_interface_id".into(), json!("n1"));
        c.path_params.insert("project_id".into(), json!("p"));
        c.body = Some(json!({"sub_network_interface": {"description": "sent"}}));
        let body = json!({"sub_network_interface": {"id": "n1", "project_id": "p", "description": "other"}, "request_id": "r"});
        let found = judged(&c, 200, Some("application/json"), &body.to_string());
        assert!(
            found.contains(&"update-subnic.echo-description".to_string()),
            "{found:?}"
        );
    }
}
