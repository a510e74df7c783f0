//! Stateful sequences: steps that act on one spare port (or supplementary
//! NIC) one after another, built from the documented effects and the run's
//! own undo. Each step is a case judged on its own, with the state checked
//! after it; the state a step starts from is the one the steps before it
//! left, so a server that forgets a detach, keeps a deleted NIC or applies a
//! dry run fails the step that relies on it.
//!
//! - `attach-again` (nova): attach the spare, detach it (the run's undo,
//!   confirmed by the listing), attach the same port again.
//! - `add-delete-twice` (ECS): add the spare by its port, delete it, twice.
//! - `dry-run-then-update` (VPC): the same update of a supplementary NIC as a
//!   dry run (nothing changes), then for real (read back).
//! - `update-after-detach` (ECS): update the attached spare's attachment,
//!   then the same update once it is detached (refused: not attached).
//!
//! A step after one that did not end as planned (another status, a state not
//! observed) is not sent: the state it needs was not reached. The summary
//! lists it apart; it judges nothing, so it neither passes nor fails. Steps are curated-kind cases (`OP::sequence-NAME::N`), so a
//! baseline names them, and `--case` with a step's id runs its sequence.

use serde_json::{Value, json};

use crate::case::{Case, CaseKind, default_path_params};
use crate::contract::{Check, Setup};
use crate::fixtures::FixtureWorld;
use crate::runner::Runner;
use crate::runner::event::CaseResult;

/// A step before it is labelled: the operation, the body, and whether the
/// steps before it leave the spare attached.
type StepPlan<'a> = (&'a str, Value, Option<Setup>);

/// Steps run in order under one lease.
#[derive(Debug, Clone)]
pub struct Sequence {
    pub name: &'static str,
    pub steps: Vec<Case>,
}

impl Sequence {
    /// The operations its steps call.
    pub fn operations(&self) -> impl Iterator<Item = &str> {
        self.steps.iter().map(|s| s.operation.as_str())
    }
}

impl Runner {
    /// Every sequence the contract and the fixtures allow.
    pub fn sequences(&self) -> Vec<Sequence> {
        let f = &self.fixtures;
        let spare = json!(f.spare_port_id);
        let attach = json!({"interfaceAttachment": {"port_id": spare}});
        let add = json!({"nics": [{"port_id": spare}]});
        let delete = json!({"nics": [{"id": spare}]});
        let update = json!({"interface_attachment": {"delete_on_termination": true}});
        let description = json!({"description": "nic-conformance sequence"});
        let dry_run = json!({"dry_run": true, "sub_network_interface": description});
        let real = json!({"sub_network_interface": description});
        let attached = Some(Setup::SparePortAttached);
        let plans: [(&'static str, Vec<StepPlan>); 4] = [
            (
                "attach-again",
                vec![
                    ("nova-attach-interface", attach.clone(), None),
                    ("nova-attach-interface", attach, None),
                ],
            ),
            (
                "add-delete-twice",
                vec![
                    ("batch-add-nics", add.clone(), None),
                    ("batch-delete-nics", delete.clone(), attached),
                    ("batch-add-nics", add, None),
                    ("batch-delete-nics", delete, attached),
                ],
            ),
            (
                "dry-run-then-update",
                vec![
                    ("update-sub-network-interface", dry_run, None),
                    ("update-sub-network-interface", real, None),
                ],
            ),
            (
                "update-after-detach",
                vec![
                    ("update-interface-attachment", update.clone(), attached),
                    ("update-interface-attachment", update, None),
                ],
            ),
        ];
        plans
            .into_iter()
            .filter_map(|(name, steps)| {
                let steps = (steps.into_iter().enumerate())
                    .map(|(i, (op, body, setup))| self.step(name, i + 1, op, body, setup))
                    .collect::<Option<Vec<Case>>>()?;
                Some(Sequence { name, steps })
            })
            .collect()
    }

    /// Step `n` of a sequence: labelled by the contract in the state the
    /// steps before it leave (`setup`: the spare attached, or not).
    fn step(
        &self,
        sequence: &str,
        n: usize,
        operation: &str,
        body: Value,
        setup: Option<Setup>,
    ) -> Option<Case> {
        let target = self.client.target();
        let op = self.contract.operation(operation)?;
        let params = default_path_params(op, &target.project_id, &self.fixtures);
        if params.values().any(|v| v.as_str() == Some("")) {
            return None; // a fixture the target does not have (no supplementary NIC)
        }
        let view = crate::contract::Contract::view(params, body);
        let world = FixtureWorld::new(&self.fixtures, &target.project_id, setup);
        let (expect, breaks, exercises) = Case::label(&self.contract, op, &view, &world);
        let (path_params, body) = crate::contract::Contract::view_parts(view);
        Some(Case {
            id: format!("{operation}::sequence-{sequence}::{n}"),
            operation: operation.to_string(),
            kind: CaseKind::Curated,
            expect,
            breaks,
            exercises,
            path_params,
            body,
            setup,
            description: format!("step {n} of the sequence {sequence}"),
            open_reading: false,
            malformed: None,
            class: String::new(),
        })
    }

    /// Runs a sequence's steps in order on one spare (or supplementary NIC),
    /// holding the server's turn throughout.
    pub(super) async fn run_sequence(&self, sequence: &Sequence) -> Vec<CaseResult> {
        let _turn = self.lab.server_tasks.acquire().await.ok();
        let (_, mut lease) = self.lease(&sequence.steps[0]).await;
        let mut results = Vec::with_capacity(sequence.steps.len());
        let mut stopped: Option<String> = None;
        for step in &sequence.steps {
            let step = lease.rebind(step);
            if lease.no_spare && stopped.is_none() {
                stopped = Some("no spare port left".into());
            }
            if self.stop_starting() && stopped.is_none() {
                stopped = Some("not sent: the run was stopped".into());
            }
            if let Some(why) = &stopped {
                results.push(self.not_reached(&step, why));
                continue;
            }
            let result = (self.run_leased(&step, lease.spare.as_mut(), None)).await;
            // A finding about the answer's shape leaves the state as planned;
            // another status, a state not observed or not as the step left
            // it (a NIC still listed, an update not applied) does not.
            let state_broken = result.findings.iter().any(|f| {
                (self.contract.rule(&f.id)).is_some_and(|r| {
                    matches!(
                        r.check,
                        Check::AsyncEffect { .. }
                            | Check::ReadBack { .. }
                            | Check::DryRun { .. }
                            | Check::JobTerminates
                    )
                })
            });
            let reached = result.error.is_none()
                && result.undecided.is_empty()
                && !state_broken
                && result.status.is_some_and(|s| step.expect.matches(s));
            if !reached {
                stopped = Some(format!(
                    "not sent: step {} did not end as planned, so the state this step needs was not reached",
                    result.case_id
                ));
            }
            results.push(result);
        }
        results
    }

    /// A step not sent: it judged nothing (the step that stopped the
    /// sequence has the finding), and the summary says why.
    fn not_reached(&self, step: &Case, why: &str) -> CaseResult {
        CaseResult {
            case_id: step.id.clone(),
            operation: step.operation.clone(),
            kind: Some(step.kind),
            not_sent: Some(why.to_string()),
            replay: self.replay(step),
            ..Default::default()
        }
    }
}
