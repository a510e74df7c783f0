//! The case executor: one case as an explicit list of stages over its
//! [`CaseRun`]. Each stage reads what the earlier ones left and adds its
//! findings; a stage that cannot go on ends the case with why (its rules
//! undecided, never passed). A new state rule is one stage function (in
//! `steps.rs`) and one line here.

use crate::case::Case;
use crate::contract::{Check, Effect, Operation, ids};
use crate::judge::Undecided;
use crate::judge::response::judge_response;
use crate::ledger::Entry;
use crate::runner::Runner;
use crate::runner::address_book::AddressHold;
use crate::runner::event::CaseResult;
use crate::runner::lease::wanted_spare_state;
use crate::runner::pool::{PortState, Taken};
use crate::runner::steps::{CaseRun, note_unfollowed_job, spare_after};

impl Runner {
    /// Runs one case: its turn on the server, its lease, then its stages.
    pub async fn run_case(&self, case: &Case) -> CaseResult {
        // One server task at a time where the cloud allows only that: a case
        // expected to change the server, or whose setup moves a spare, waits
        // its turn (taken before the lease, so no case holds a spare while it waits).
        let _turn = match self.changes_server(case) {
            true => self.lab.server_tasks.acquire().await.ok(),
            false => None,
        };
        let (case, mut lease) = self.lease(case).await;
        if lease.no_spare {
            // Every spare was retired: nothing the case would observe could be trusted.
            let reason = "setup failed: no spare port left (each was retired after the target's listing contradicted it)";
            return CaseResult {
                case_id: case.id.clone(),
                operation: case.operation.clone(),
                kind: Some(case.kind),
                class: case.class.clone(),
                undecided: (case.exercises.iter())
                    .map(|id| Undecided::new(id, reason))
                    .collect(),
                exercised: case.exercises.clone(),
                replay: self.replay(&case),
                ..Default::default()
            };
        }
        self.run_leased(&case, lease.spare.as_mut(), lease.addresses.as_mut())
            .await
    }

    /// Whether `case` may change the server: it is expected to succeed, or
    /// it needs a spare port (whose setup attaches or detaches it).
    /// (A supplementary NIC is the VPC's, not the server's: its updates
    /// never wait for the server's turn.)
    pub(super) fn changes_server(&self, case: &Case) -> bool {
        let f = &self.fixtures;
        let on_server = (self.contract.operation(&case.operation))
            .is_some_and(|op| op.path_params().contains(&"server_id"));
        (on_server && self.expected_to_succeed(case)) || crate::runner::lease::needs_spare(case, f)
    }

    /// Whether `case` breaks no rule and expects a 2xx: its effect takes place.
    pub(super) fn expected_to_succeed(&self, case: &Case) -> bool {
        case.breaks.is_none() && (200..300).any(|s| case.expect.matches(s))
    }

    /// The stages of a case that holds its lease.
    pub(super) async fn run_leased(
        &self,
        case: &Case,
        mut spare: Option<&mut Taken<PortState>>,
        addresses: Option<&mut AddressHold>,
    ) -> CaseResult {
        let Some(op) = self.contract.operation(&case.operation) else {
            return self.unknown_operation(case);
        };
        let mut run = self.case_run(case, op);
        // Before the request.
        if let Some(spare) = spare.as_deref_mut()
            && let Err(failure) = self.ready_spare(spare, wanted_spare_state(case)).await
        {
            return run.end_setup_failed(failure);
        }
        let _read_back_turn = self.read_back_turn(op).await;
        if let Err(why) = self.record_port_fields(case, op).await {
            return run.end_undecided(&format!(
                "not sent: the fields it would change could not be recorded first ({why})"
            ));
        }
        let mut before = self.observe_before(&run).await;
        let creates = self.announce_creation(&run).await;
        // The request and its answer.
        let Some(exchange) = self.send(&mut run).await else {
            return self.no_answer(run, spare, creates).await;
        };
        let judged = judge_response(&run.evidence(&self.contract, &exchange));
        run.result.findings.extend(judged.findings);
        let body = judged.body;
        if creates {
            self.record_job(&run, body.as_ref()).await;
        }
        // The job, and what it created.
        let followed = (self.follow_case_job(&mut run, exchange.status, body.as_ref())).await;
        let job = followed.outcome.as_ref();
        if judged.pending_job_fail {
            run.judge_job_failed(&self.contract, body.as_ref(), job, exchange.status);
        }
        let created = self
            .record_created(&run, body.as_ref(), job, addresses)
            .await;
        if let Some(reason) = &followed.unobserved {
            let pending = judged.pending_job_fail;
            note_unfollowed_job(&self.contract, &mut run, &mut before, reason, pending);
        }
        // The state after it.
        let accepted = case.breaks.is_none() && case.expect.matches(exchange.status);
        let took_effect = accepted && !run.dry_run;
        let observed = (self.judge_state(&mut run, &before, took_effect, body.as_ref(), job)).await;
        if took_effect {
            self.judge_read_back(&mut run).await;
        }
        self.hand_over_created(case, creates && observed.is_some(), &created)
            .await;
        if let Some(spare) = spare {
            // A batch the server took may have attached some NICs although
            // the case broke a rule (a per-NIC job that ends FAIL): unobserved,
            // the spare's state is then unknown, not as it was.
            let taken = (200..300).contains(&exchange.status);
            let after = SpareAfter {
                observed: observed.as_deref(),
                settled: followed.settled,
                changed: (accepted || taken) && self.has_effect(op),
                status: exchange.status,
            };
            self.settle_spare(&run, spare, after);
        }
        if let Some(before) = &before.updatable {
            let after = self.observe_updatable(case).await;
            self.judge_dry_run(&mut run, before, after, body.as_ref());
        }
        self.judge_snapshot(&mut run, &exchange, body.as_ref());
        self.settle_created(case).await;
        run.finish()
    }

    /// The NICs a case made, once its checks are done: settled in the
    /// ledger when the state was `seen` (every one is then named), and only
    /// now open to a batch delete.
    async fn hand_over_created(&self, case: &Case, seen: bool, created: &[String]) {
        if seen {
            self.record(Entry::Settled {
                case: case.id.clone(),
            })
            .await;
        }
        self.track_created(created);
    }

    fn unknown_operation(&self, case: &Case) -> CaseResult {
        CaseResult {
            case_id: case.id.clone(),
            operation: case.operation.clone(),
            error: Some(format!("unknown operation {}", case.operation)),
            replay: self.replay(case),
            ..Default::default()
        }
    }

    /// The job a create started, on the ledger as soon as the answer names it.
    async fn record_job(&self, run: &CaseRun<'_>, body: Option<&serde_json::Value>) {
        let job_id = body.and_then(|b| b.get("job_id")).and_then(|j| j.as_str());
        if let Some(job_id) = job_id {
            self.record(Entry::Job {
                case: run.case.id.clone(),
                job_id: job_id.to_string(),
            })
            .await;
        }
    }

    /// Deletes the NICs cases have made, when enough are waiting. Deleting
    /// is changing the server: only a case that holds a turn does it.
    async fn settle_created(&self, case: &Case) {
        if self.changes_server(case) {
            self.flush_created(false).await;
        }
    }

    /// A change read back afterwards: no other such case in between.
    async fn read_back_turn(&self, op: &Operation) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        let reads_back = (self.contract)
            .rule_where(&op.id, |c| matches!(c, Check::ReadBack { .. }))
            .is_some();
        match reads_back {
            true => Some(self.lab.read_back.lock().await),
            false => None,
        }
    }

    /// Written down before a request that may create NICs goes out (and a
    /// spare it attaches itself is the run's to detach). Whether it may.
    async fn announce_creation(&self, run: &CaseRun<'_>) -> bool {
        let creates = self
            .contract
            .effect_rule(&run.op.id, Effect::Attach)
            .is_some();
        if creates {
            let f = &self.fixtures;
            for port in run.named_ports.iter().filter(|p| f.is_spare(p)) {
                self.record(Entry::Attaching {
                    port_id: port.clone(),
                    server_id: f.server_id.clone(),
                })
                .await;
            }
            self.record(Entry::Creating {
                case: run.case.id.clone(),
                server_id: f.server_id.clone(),
            })
            .await;
        }
        creates
    }

    /// No answer: every other rule the case exercised went unobserved.
    async fn no_answer(
        &self,
        mut run: CaseRun<'_>,
        spare: Option<&mut Taken<PortState>>,
        creates: bool,
    ) -> CaseResult {
        if let Some(spare) = spare {
            spare.state = PortState::Unknown;
        }
        let stopped = run.result.findings.is_empty();
        if stopped && creates {
            // Never sent: it created nothing.
            self.record(Entry::Settled {
                case: run.case.id.clone(),
            })
            .await;
        }
        let reason = if stopped {
            "not sent: the run was stopped while it waited for its turn"
        } else {
            "the request got no answer (see response.transport)"
        };
        run.result.undecided = (run.case.exercises.iter())
            .filter(|id| stopped || id.as_str() != ids::TRANSPORT)
            .map(|id| Undecided::new(id, reason))
            .collect();
        run.finish()
    }

    /// The NICs the request created, recorded at once (a run killed from
    /// here on leaves them to `cleanup`), their addresses held until they are gone.
    async fn record_created(
        &self,
        run: &CaseRun<'_>,
        body: Option<&serde_json::Value>,
        job: Option<&crate::judge::observed::JobOutcome>,
        addresses: Option<&mut AddressHold>,
    ) -> Vec<String> {
        let f = &self.fixtures;
        let state = run.state(&self.contract, body, job);
        let mut created = state.created_ports(&run.named_ports, &f.primary_port_id);
        // A job that names a NIC the server had before the run did not create it.
        if let Some(baseline) = self.lab.attached_before.get() {
            created.retain(|p| !baseline.contains(p));
        }
        if let Some(hold) = addresses {
            hold.keep_for(&created);
        }
        for port in &created {
            self.record(Entry::Created {
                port_id: port.clone(),
                server_id: f.server_id.clone(),
            })
            .await;
        }
        created
    }

    /// The spare's state after its case, and whether it is retired: the
    /// listing disagreed with a change the job reported done, or moved the
    /// spare when nothing moved it, so no later case may rest on it.
    fn settle_spare(&self, run: &CaseRun<'_>, spare: &mut Taken<PortState>, after: SpareAfter<'_>) {
        let known = spare.state;
        spare.state = spare_after(run, spare, after.observed, after.settled, after.changed);
        let effect_broken = run.result.findings.iter().any(|f| {
            (self.contract.rule(&f.id))
                .is_some_and(|r| matches!(r.check, Check::AsyncEffect { .. }))
                && run.named_ports.iter().any(|p| p == &spare.id)
        });
        let refused = (400..500).contains(&after.status);
        let moved_alone = refused
            && known != PortState::Unknown
            && spare.state != PortState::Unknown
            && spare.state != known;
        spare.retire = effect_broken || moved_alone;
    }
}

/// What a spare's case saw, for the spare's state after it.
struct SpareAfter<'a> {
    observed: Option<&'a crate::judge::observed::Listing>,
    /// The job ended (the listing shows its end).
    settled: bool,
    /// The request was accepted and changes attachments.
    changed: bool,
    status: u16,
}
