//! The state rules judged on hand-made evidence.
use super::*;
use crate::case::CaseKind;
use serde_json::json;

/// A case's state evidence with no answer body.
fn evidence<'a>(
    contract: &'a Contract,
    case: &'a Case,
    view: &'a Value,
    job: Option<&'a JobOutcome>,
) -> StateEvidence<'a> {
    StateEvidence {
        contract,
        op: contract.operation(&case.operation).unwrap(),
        case,
        view,
        body: None,
        job,
        reproduce: "",
        ipv6_subnet: false,
    }
}

fn listing(ports: &[(&str, &str)]) -> Listing {
    let items: Vec<Value> = ports
        .iter()
        .map(|(p, ip)| json!({"port_id": p, "fixed_ips": [{"ip_address": ip}]}))
        .collect();
    Listing::parse(
        json!({"interfaceAttachments": items})
            .to_string()
            .as_bytes(),
    )
    .unwrap()
}

fn success(nics: &[&str]) -> JobOutcome {
    JobOutcome {
        status: "SUCCESS".into(),
        nic_ids: nics.iter().map(|n| n.to_string()).collect(),
        sub_jobs: nics
            .iter()
            .map(|n| (Some(n.to_string()), "SUCCESS".to_string()))
            .collect(),
    }
}

/// Judges `body` sent to `op` with the job and listing given; returns the finding ids.
fn effects(op: &str, body: Value, job: Option<&JobOutcome>, l: &Listing) -> Vec<String> {
    let contract = Contract::builtin().unwrap();
    let op = contract.operation(op).unwrap();
    let case = Case::bare("c".into(), &op.id, CaseKind::Valid);
    let view = Contract::view(Default::default(), body);
    let e = StateEvidence {
        contract: &contract,
        op,
        case: &case,
        view: &view,
        body: None,
        job,
        reproduce: "",
        ipv6_subnet: false,
    };
    effects_conformance(&e, Some(l))
        .into_iter()
        .map(|f| f.id)
        .collect()
}

#[test]
fn an_attach_job_that_succeeded_lists_its_port() {
    let body = json!({"nics": [{"port_id": "p1"}]});
    let job = success(&["p1"]);
    assert!(
        effects(
            "batch-add-nics",
            body.clone(),
            Some(&job),
            &listing(&[("p1", "10.0.0.5")])
        )
        .is_empty()
    );
    assert_eq!(
        effects("batch-add-nics", body, Some(&job), &listing(&[])),
        ["batch-add.job-attaches"]
    );
}

#[test]
fn a_job_that_failed_breaks_the_effect_rule_and_a_detach_must_unlist() {
    let failed = JobOutcome {
        status: "FAIL".into(),
        nic_ids: Vec::new(),
        sub_jobs: Vec::new(),
    };
    let body = json!({"nics": [{"port_id": "p1"}]});
    assert_eq!(
        effects("batch-add-nics", body, Some(&failed), &listing(&[])),
        ["batch-add.job-attaches"]
    );
    let delete = json!({"nics": [{"id": "p1"}]});
    assert_eq!(
        effects(
            "batch-delete-nics",
            delete,
            Some(&success(&[])),
            &listing(&[("p1", "10.0.0.5")])
        ),
        ["batch-delete.job-detaches"]
    );
}

#[test]
fn a_port_named_with_a_subnet_that_is_not_attached_breaks_precedence() {
    let body = json!({"nics": [{"port_id": "p1", "subnet_id": "s1"}]});
    assert_eq!(
        effects("batch-add-nics", body, Some(&success(&[])), &listing(&[])),
        ["batch-add.port-wins"]
    );
}

#[test]
fn an_ignored_address_must_not_reach_the_port() {
    let body = json!({"nics": [{"port_id": "p1", "ip_address": "10.0.0.9"}]});
    let job = success(&["p1"]);
    assert!(
        effects(
            "batch-add-nics",
            body.clone(),
            Some(&job),
            &listing(&[("p1", "10.0.0.5")])
        )
        .is_empty()
    );
    assert_eq!(
        effects(
            "batch-add-nics",
            body,
            Some(&job),
            &listing(&[("p1", "10.0.0.9")])
        ),
        ["batch-add.port-ignores-sg-ip"]
    );
}

#[test]
fn a_rejected_request_that_changed_a_named_port_is_a_finding() {
    let contract = Contract::builtin().unwrap();
    let op = contract.operation("batch-delete-nics").unwrap();
    let case = Case::bare("c".into(), &op.id, CaseKind::Negative);
    let view = Value::Null;
    let e = evidence(&contract, &case, &view, None);
    let named = ["p1".to_string()];
    let before = listing(&[("p1", "10.0.0.5")]);
    let id = "batch-delete.primary-forbidden";
    assert!(unchanged_conformance(&e, id, &named, &before, &before).is_empty());
    let found = unchanged_conformance(&e, id, &named, &before, &listing(&[]));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, id);
    assert!(
        found[0].actual.contains("not attached"),
        "{}",
        found[0].actual
    );
}

#[test]
fn a_dry_run_that_changed_a_field_breaks_the_dry_run_rule() {
    let contract = Contract::builtin().unwrap();
    let op = contract.operation("update-sub-network-interface").unwrap();
    let case = Case::bare("c".into(), &op.id, CaseKind::Valid);
    let e = evidence(&contract, &case, &Value::Null, None);
    let before = json!(["a"]);
    assert!(dry_run_conformance(&e, &before, Some(&before)).is_none());
    assert!(
        dry_run_conformance(&e, &before, None).is_none(),
        "not observed: no verdict"
    );
    let f = dry_run_conformance(&e, &before, Some(&json!(["b"]))).unwrap();
    assert_eq!(f.id, "update-subnic.dry-run");
}

/// A batch judged NIC by NIC: a NIC whose own sub-job succeeded may have
/// changed; one whose sub-job failed may not; the sub-jobs must agree
/// with the listing.
#[test]
fn a_failed_batch_is_judged_nic_by_nic() {
    let contract = Contract::builtin().unwrap();
    let op = contract.operation("batch-add-nics").unwrap();
    let case = Case::bare("c".into(), &op.id, CaseKind::Negative);
    let job = JobOutcome {
        status: "FAIL".into(),
        nic_ids: vec!["good".into(), "bad".into()],
        sub_jobs: vec![
            (Some("good".into()), "SUCCESS".into()),
            (Some("bad".into()), "FAIL".into()),
        ],
    };
    let e = evidence(&contract, &case, &Value::Null, Some(&job));
    let named = ["good".to_string(), "bad".to_string()];
    let before = listing(&[("bad", "10.0.0.5")]);
    let id = "batch-add.port-down";
    // The good NIC attached, the bad one as it was: conforming.
    let after = listing(&[("bad", "10.0.0.5"), ("good", "10.0.0.6")]);
    assert!(unchanged_conformance(&e, id, &named, &before, &after).is_empty());
    assert!(sub_jobs_conformance(&e, &after).is_empty());
    // The bad NIC changed: a finding.
    let changed = listing(&[("good", "10.0.0.6")]);
    assert_eq!(
        unchanged_conformance(&e, id, &named, &before, &changed).len(),
        1
    );
    // The good NIC's sub-job says SUCCESS but it is not listed: a finding.
    let missing = sub_jobs_conformance(&e, &before);
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].id, "batch-add.job-attaches");
    // A FAIL job whose sub-jobs all say SUCCESS names no failed NIC: a finding.
    let odd = JobOutcome {
        sub_jobs: vec![(Some("good".into()), "SUCCESS".into())],
        ..job.clone()
    };
    let e = StateEvidence {
        job: Some(&odd),
        ..e
    };
    assert_eq!(sub_jobs_conformance(&e, &after).len(), 1);
}

/// The read shows the field as sent: passed; otherwise violated; a read
/// without the item or the field (its fields are optional) decides nothing.
#[test]
fn an_update_is_read_back_or_left_undecided() {
    let contract = Contract::builtin().unwrap();
    let case = Case::bare("c".into(), "update-interface-attachment", CaseKind::Valid);
    let view = json!({"path": {"port_id": "p1"}, "body": {"interface_attachment": {"delete_on_termination": true}}});
    let e = evidence(&contract, &case, &view, None);
    let rule = contract.rule("update-attachment.reads-back").unwrap();
    let read =
        |item: Value| read_back_conformance(&e, rule, &json!({"interfaceAttachments": [item]}));
    assert_eq!(
        read(json!({"port_id": "p1", "delete_on_termination": true})),
        Ok(None)
    );
    let f = read(json!({"port_id": "p1", "delete_on_termination": false}))
        .unwrap()
        .unwrap();
    assert_eq!(f.id, "update-attachment.reads-back");
    assert!(
        read(json!({"port_id": "p1"})).is_err(),
        "no field: undecided"
    );
    assert!(read(json!({"port_id": "p2", "delete_on_termination": true})).is_err());
}
