//! The job query's own promises: a job ends, and a failed one says why.

use serde_json::Value;

use crate::case::Case;
use crate::contract::{Contract, ids};
use crate::judge::Finding;

/// A job answer that ended FAIL names its reason.
pub fn fail_reason_conformance(
    contract: &Contract,
    case: &Case,
    answer: &Value,
    reproduce: &str,
) -> Option<Finding> {
    if answer.get("status").and_then(Value::as_str) != Some("FAIL") {
        return None;
    }
    let reason = answer.get("fail_reason");
    if reason
        .and_then(Value::as_str)
        .is_some_and(|r| !r.trim().is_empty())
    {
        return None;
    }
    let received = reason
        .map(|v| v.to_string())
        .unwrap_or_else(|| "(absent)".into());
    Some(
        Finding::new(
            contract,
            &case.id,
            &case.operation,
            ids::JOB_FAIL_REASON,
            "a fail_reason for a FAIL job",
            received,
        )
        .reproduced_by(reproduce),
    )
}

/// The job did not end within the time allowed.
pub fn job_completes_finding(
    contract: &Contract,
    case: &Case,
    within: std::time::Duration,
    last: String,
    reproduce: &str,
) -> Finding {
    Finding::new(
        contract,
        &case.id,
        &case.operation,
        ids::JOB_COMPLETES,
        format!("SUCCESS or FAIL within {within:?}"),
        last,
    )
    .reproduced_by(reproduce)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::CaseKind;
    use serde_json::json;

    #[test]
    fn a_failed_job_names_its_reason() {
        let contract = Contract::builtin().unwrap();
        let case = Case::bare("c".into(), "batch-add-nics", CaseKind::Valid);
        let f = |answer: Value| fail_reason_conformance(&contract, &case, &answer, "");
        assert!(f(json!({"status": "SUCCESS"})).is_none());
        assert!(f(json!({"status": "FAIL", "fail_reason": "quota"})).is_none());
        assert_eq!(
            f(json!({"status": "FAIL", "fail_reason": " "})).unwrap().id,
            ids::JOB_FAIL_REASON
        );
        assert_eq!(f(json!({"status": "FAIL"})).unwrap().actual, "(absent)");
    }
}
