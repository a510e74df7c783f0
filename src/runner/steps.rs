//! The steps of one case: ready the spare, observe, send, judge the answer,
//! follow the job, judge the state, compare the snapshot. The steps share
//! one [`CaseRun`]; every verdict comes from [`crate::judge`].

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use crate::case::{Case, CaseKind};
use crate::contract::{Check, Contract, Effect, Operation, ids};
use crate::http::{Curl, Exchange};
use crate::judge::observed::{JobOutcome, Listing};
use crate::judge::response::{Evidence, judge_response};
use crate::judge::snapshot::snapshot_conformance;
use crate::judge::state::{
    StateEvidence, dry_run_conformance, effects_conformance, job_failed_conformance,
    job_id_conformance, read_back_conformance, sub_jobs_conformance, unchanged_conformance,
};
use crate::judge::{Finding, Undecided, sort};
use crate::ledger::Entry;
use crate::runner::Runner;
use crate::runner::event::CaseResult;
use crate::runner::lease::wanted_spare_state;
use crate::runner::observe::{ListingResult, Unobserved};
use crate::runner::pool::{PortState, Taken};
use crate::snapshot::Comparison;

/// One case in flight: what its steps share.
struct CaseRun<'c> {
    case: &'c Case,
    op: &'c Operation,
    /// The request as the rules read it, built once for every check.
    view: Value,
    /// The ports the request names for its effect rules.
    named_ports: Vec<String>,
    /// The request, prepared once, with its reproduction.
    curl: Curl,
    result: CaseResult,
    started: Instant,
}

impl<'c> CaseRun<'c> {
    fn evidence<'a>(&'a self, contract: &'a Contract, exchange: &'a Exchange) -> Evidence<'a> {
        Evidence {
            contract,
            op: self.op,
            case: self.case,
            exchange,
            reproduce: &self.curl,
        }
    }

    fn state<'a>(
        &'a self,
        contract: &'a Contract,
        body: Option<&'a Value>,
        job: Option<&'a JobOutcome>,
    ) -> StateEvidence<'a> {
        StateEvidence {
            contract,
            op: self.op,
            case: self.case,
            view: &self.view,
            body,
            job,
            reproduce: self.curl.as_str(),
        }
    }

    fn finish(mut self) -> CaseResult {
        sort(&mut self.result.findings);
        for f in &mut self.result.findings {
            if f.replay.is_empty() {
                f.replay = self.result.replay.clone();
            }
        }
        self.result.elapsed = self.started.elapsed();
        self.result
    }
}

/// What was observed before the request, to compare with after it (`None`: not looked at).
#[derive(Default)]
struct Before {
    /// The attachments, for a request that should change nothing.
    listing: Option<ListingResult>,
    /// The updatable fields, for a dry run.
    updatable: Option<Result<Value, Unobserved>>,
}

/// How following the case's job went.
#[derive(Default)]
struct Followed {
    outcome: Option<JobOutcome>,
    /// Whether the state can be trusted to have settled (the job ended).
    settled: bool,
    /// Why the job's end was not observed.
    unobserved: Option<String>,
}

impl Runner {
    /// Runs one case: lease, setup, request, checks, job, state, cleanup.
    pub async fn run_case(&self, case: &Case) -> CaseResult {
        // One server task at a time where the cloud allows only that: a case
        // expected to change the server, or whose setup moves a spare, waits
        // its turn (taken before the lease, so no case holds a spare while it waits).
        let _turn = match self.changes_server(case) {
            true => self.server_tasks.acquire().await.ok(),
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
                undecided: case
                    .exercises
                    .iter()
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
    fn changes_server(&self, case: &Case) -> bool {
        let f = &self.client.target().fixtures;
        let expected_to_succeed =
            case.breaks.is_none() && (200..300).any(|s| case.expect.matches(s));
        expected_to_succeed || crate::runner::lease::needs_spare(case, f)
    }

    async fn run_leased(
        &self,
        case: &Case,
        mut spare: Option<&mut Taken<PortState>>,
        addresses: Option<&mut crate::runner::address_book::AddressHold>,
    ) -> CaseResult {
        let Some(op) = self.contract.operation(&case.operation) else {
            return CaseResult {
                case_id: case.id.clone(),
                operation: case.operation.clone(),
                error: Some(format!("unknown operation {}", case.operation)),
                replay: self.replay(case),
                ..Default::default()
            };
        };
        let mut run = self.case_run(case, op);
        if let Some(spare) = spare.as_deref_mut()
            && let Err(failure) = self.ready_spare(spare, wanted_spare_state(case)).await
        {
            // The case never ran: its rules are undecided; the setup's own
            // call carries the finding.
            let replay = run.result.replay.clone();
            let reason = format!("setup failed: {}", failure.reason);
            run.result.undecided = (case.exercises.iter())
                .map(|id| Undecided::new(id, &reason))
                .collect();
            let finding = (failure.finding).map(|f| f.in_case(&case.id).replayed_by(replay));
            run.result.findings.extend(finding);
            return run.finish();
        }
        // A change read back afterwards: no other such case in between.
        let reads_back = self
            .contract
            .rule_where(&op.id, |c| matches!(c, Check::ReadBack { .. }))
            .is_some();
        let _serial = match reads_back {
            true => Some(self.read_back.lock().await),
            false => None,
        };
        // No write to a port the server had before the run without its fields on record.
        if let Err(why) = self.record_port_fields(case, op).await {
            let reason =
                format!("not sent: the fields it would change could not be recorded first ({why})");
            run.result.undecided = (case.exercises.iter())
                .map(|id| Undecided::new(id, &reason))
                .collect();
            return run.finish();
        }
        let mut before = self.observe_before(&run).await;
        // Written down before the request that may create NICs goes out.
        let creates = self.contract.effect_rule(&op.id, Effect::Attach).is_some();
        if creates {
            let f = &self.client.target().fixtures;
            // A spare the request itself attaches is the run's to detach.
            for port in run.named_ports.iter().filter(|p| f.is_spare(p)) {
                self.record(Entry::Attaching {
                    port_id: port.clone(),
                    server_id: f.server_id.clone(),
                });
            }
            self.record(Entry::Creating {
                case: case.id.clone(),
                server_id: f.server_id.clone(),
            });
        }
        let Some(exchange) = self.send(&mut run).await else {
            if let Some(spare) = spare {
                spare.state = PortState::Unknown;
            }
            // No answer: every other rule the case exercised went unobserved.
            let stopped = run.result.findings.is_empty();
            if stopped && creates {
                // Never sent: it created nothing.
                self.record(Entry::Settled {
                    case: case.id.clone(),
                });
            }
            let reason = if stopped {
                "not sent: the run was stopped while it waited for its turn"
            } else {
                "the request got no answer (see response.transport)"
            };
            run.result.undecided = (case.exercises.iter())
                .filter(|id| stopped || id.as_str() != ids::TRANSPORT)
                .map(|id| Undecided::new(id, reason))
                .collect();
            return run.finish();
        };
        let verdict = judge_response(&run.evidence(&self.contract, &exchange));
        run.result.findings.extend(verdict.findings);
        let body = verdict.body;
        let followed = self
            .follow_case_job(&mut run, exchange.status, body.as_ref())
            .await;
        let job = followed.outcome.as_ref();
        let primary = &self.client.target().fixtures.primary_port_id;
        let (failed, mut created) = {
            let state = run.state(&self.contract, body.as_ref(), job);
            let failed = verdict
                .pending_job_fail
                .then(|| job_failed_conformance(&state, exchange.status))
                .flatten();
            (failed, state.created_ports(&run.named_ports, primary))
        };
        // A job that names a NIC the server had before the run did not create it.
        if let Some(baseline) = self.baseline.get() {
            created.retain(|p| !baseline.contains(p));
        }
        // Their addresses stay taken until they are shown gone.
        if let Some(hold) = addresses {
            hold.keep_for(&created);
        }
        // Recorded at once: a run killed from here on leaves them to `cleanup`.
        for port in &created {
            self.record(Entry::Created {
                port_id: port.clone(),
                server_id: self.client.target().fixtures.server_id.clone(),
            });
        }
        run.result.findings.extend(failed);
        if let Some(reason) = &followed.unobserved {
            let pending = verdict.pending_job_fail;
            note_unfollowed_job(&self.contract, &mut run, &mut before, reason, pending);
        }
        let accepted = case.breaks.is_none() && case.expect.matches(exchange.status);
        // A dry run changes nothing by design; any other accepted request
        // took effect, whatever 2xx it was answered with (202 where no
        // status is printed starts a job like 200 does).
        let dry_run = self
            .contract
            .rules_for(&op.id)
            .any(|r| matches!(r.check, Check::DryRun { .. }) && r.check.exercised(&run.view));
        let took_effect = accepted && !dry_run;
        let observed = self
            .judge_state(&mut run, &before, took_effect, body.as_ref(), job)
            .await;
        if took_effect {
            self.judge_read_back(&mut run).await;
        }
        // Every NIC it made is named only when the state was seen.
        if creates && observed.is_some() {
            self.record(Entry::Settled {
                case: case.id.clone(),
            });
        }
        // Only now, with this case's checks done, may a batch delete take them.
        self.track_created(&created);
        if let Some(spare) = spare {
            let changed = accepted && self.has_effect(op);
            let known = spare.state;
            spare.state = spare_after(&run, spare, observed.as_deref(), followed.settled, changed);
            // The listing disagreed with a change the job reported done, or
            // moved the spare when nothing moved it: what it shows of this
            // spare can no longer be trusted, so no later case rests on it.
            let effect_broken = run.result.findings.iter().any(|f| {
                self.contract
                    .rule(&f.id)
                    .is_some_and(|r| matches!(r.check, Check::AsyncEffect { .. }))
                    && run.named_ports.iter().any(|p| p == &spare.id)
            });
            let refused = (400..500).contains(&exchange.status);
            let moved_alone = refused
                && known != PortState::Unknown
                && spare.state != PortState::Unknown
                && spare.state != known;
            spare.retire = effect_broken || moved_alone;
        }
        if let Some(before) = &before.updatable {
            let after = self.observe_updatable(case).await;
            self.judge_dry_run(&mut run, before, after, body.as_ref());
        }
        self.judge_snapshot(&mut run, &exchange, body.as_ref());
        // Deleting is changing the server: only a case that holds a turn does it.
        if self.changes_server(case) {
            self.flush_created(false).await;
        }
        run.finish()
    }

    /// The case as its steps share it: its view, the ports it names, its request.
    fn case_run<'c>(&self, case: &'c Case, op: &'c Operation) -> CaseRun<'c> {
        let view = case.view();
        CaseRun {
            case,
            op,
            named_ports: self.contract.named_ports(&op.id, &view),
            view,
            curl: Curl::new(
                self.client
                    .prepare(op, &case.path_params, case.body.as_ref()),
            ),
            result: CaseResult {
                case_id: case.id.clone(),
                operation: case.operation.clone(),
                kind: Some(case.kind),
                exercised: case.exercises.clone(),
                replay: self.replay(case),
                ..Default::default()
            },
            started: Instant::now(),
        }
    }

    /// Sends the case's request; a transport failure is the case's finding.
    async fn send(&self, run: &mut CaseRun<'_>) -> Option<Exchange> {
        let case = run.case;
        let sent = self
            .client
            .send_case(
                run.op,
                &case.path_params,
                case.body.as_ref(),
                Some(run.curl.request()),
            )
            .await;
        match sent {
            Ok(exchange) => {
                run.result.status = Some(exchange.status);
                run.result.response = Some(exchange.body.clone());
                Some(exchange)
            }
            Err(e) if e.kind == crate::http::TransportErrorKind::Cancelled => None,
            Err(e) => {
                let f = Finding::new(
                    &self.contract,
                    &case.id,
                    &case.operation,
                    ids::TRANSPORT,
                    format!("{} (documented)", case.expect),
                    format!("{:?}: {e}", e.kind),
                )
                .reproduced_by(run.curl.as_str());
                run.result.findings.push(f);
                None
            }
        }
    }

    /// Whether a successful request of `op` changes the server's attachments.
    fn has_effect(&self, op: &Operation) -> bool {
        self.contract
            .rules_for(&op.id)
            .any(|r| matches!(r.check, Check::AsyncEffect { .. }))
    }

    /// Observes what the case will be compared with afterwards.
    async fn observe_before(&self, run: &CaseRun<'_>) -> Before {
        let mut before = Before::default();
        if run.case.breaks.is_some() && !run.named_ports.is_empty() {
            before.listing = Some(self.listing().await);
        }
        if run.case.expect.status == Some(202) {
            before.updatable = Some(self.observe_updatable(run.case).await);
        }
        before
    }

    /// For an accepted asynchronous request: follows its job to the end.
    async fn follow_case_job(
        &self,
        run: &mut CaseRun<'_>,
        status: u16,
        body: Option<&Value>,
    ) -> Followed {
        if !run.op.is_async || !(200..300).contains(&status) {
            return Followed {
                settled: true,
                ..Followed::default()
            };
        }
        let job_id = body.and_then(|b| b.get("job_id")).and_then(Value::as_str);
        let Some(job_id) = job_id else {
            let findings = job_id_conformance(&run.state(&self.contract, body, None), status);
            run.result.findings.extend(findings);
            if self
                .contract
                .effect_rule(&run.op.id, Effect::Attach)
                .is_some()
            {
                // Let the attach settle before the spare is looked at again.
                self.settle_listed(&run.named_ports).await;
            }
            return Followed {
                unobserved: Some(format!("the {status} answer carries no job_id to follow")),
                ..Followed::default()
            };
        };
        run.result.exercised.extend([
            ids::JOB_COMPLETES.to_string(),
            ids::JOB_FAIL_REASON.to_string(),
        ]);
        match self.follow_job(job_id, run.case, &run.curl).await {
            Ok((outcome, findings)) => {
                run.result.findings.extend(findings);
                Followed {
                    outcome: Some(outcome),
                    settled: true,
                    unobserved: None,
                }
            }
            Err(e) => {
                run.result.findings.extend(e.findings);
                Followed {
                    unobserved: Some(e.reason),
                    ..Followed::default()
                }
            }
        }
    }

    /// The state after the request: an accepted request made its effect, a
    /// rejected one changed nothing. Returns the listing it was judged on.
    /// What could not be listed is undecided.
    async fn judge_state(
        &self,
        run: &mut CaseRun<'_>,
        before: &Before,
        took_effect: bool,
        body: Option<&Value>,
        job: Option<&JobOutcome>,
    ) -> Option<Arc<Listing>> {
        if took_effect {
            let state = run.state(&self.contract, body, job);
            if !state.effects_need_listing() {
                return None;
            }
            let listing = self.listing().await;
            let state = run.state(&self.contract, body, job);
            let (findings, undecided) = match &listing {
                Ok(l) => (effects_conformance(&state, Some(l)), Vec::new()),
                Err(e) => (
                    Vec::new(),
                    state.effects_undecided(&format!("cannot list the attachments: {e}")),
                ),
            };
            run.result.findings.extend(findings);
            run.result.undecided.extend(undecided);
            return listing.ok();
        }
        let (Some(before), Some(broken)) = (&before.listing, &run.case.breaks) else {
            return None;
        };
        let after = self.listing().await;
        match (before, &after) {
            (Ok(before), Ok(after)) => {
                let state = run.state(&self.contract, body, job);
                let mut findings =
                    unchanged_conformance(&state, broken, &run.named_ports, before, after);
                findings.extend(sub_jobs_conformance(&state, after));
                run.result.findings.extend(findings);
            }
            (Err(e), _) | (_, Err(e)) => {
                let reason = format!("cannot list the attachments: {e}");
                run.result.undecided.push(Undecided::new(broken, reason));
            }
        }
        after.ok()
    }

    /// After an accepted update, each read-back rule's auxiliary read shows
    /// what was sent; a read that fails leaves the rule undecided.
    async fn judge_read_back(&self, run: &mut CaseRun<'_>) {
        let rules: Vec<&crate::contract::Rule> = self
            .contract
            .rules_for(&run.op.id)
            .filter(|r| matches!(r.check, Check::ReadBack { .. }) && r.check.exercised(&run.view))
            .collect();
        for rule in rules {
            let Check::ReadBack { read, .. } = &rule.check else {
                continue;
            };
            let Some(read) = self.contract.operation(read) else {
                continue;
            };
            // The read's path parameters, as the case named them.
            let mut params = self.params(read, &[]);
            for (name, value) in params.iter_mut() {
                if let Some(v) = run.case.path_params.get(name) {
                    *value = v.clone();
                }
            }
            let call = format!("{} {}", read.method, read.path);
            let answer = match self.client.send(read, &params, None).await {
                Ok(a) if a.status == 200 => serde_json::from_slice::<Value>(&a.body)
                    .map_err(|_| format!("{call} answered without JSON")),
                Ok(a) => Err(format!("{call} answered {}", a.status)),
                Err(e) => Err(format!("{call}: {e}")),
            };
            match answer {
                Ok(answer) => {
                    let state = run.state(&self.contract, None, None);
                    match read_back_conformance(&state, rule, &answer) {
                        Ok(f) => run.result.findings.extend(f),
                        Err(why) => {
                            let reason = format!("{call}: {why}");
                            run.result.undecided.push(Undecided::new(&rule.id, reason));
                        }
                    }
                }
                Err(reason) => run.result.undecided.push(Undecided::new(&rule.id, reason)),
            }
        }
    }

    /// A dry run left the resource as it was; unread, the rule is undecided.
    fn judge_dry_run(
        &self,
        run: &mut CaseRun<'_>,
        before: &Result<Value, Unobserved>,
        after: Result<Value, Unobserved>,
        body: Option<&Value>,
    ) {
        let state = run.state(&self.contract, body, None);
        match (before, &after) {
            (Ok(before), Ok(after)) => {
                let f = dry_run_conformance(&state, before, Some(after));
                run.result.findings.extend(f);
            }
            (Err(e), _) | (_, Err(e)) => {
                let rule = self
                    .contract
                    .rule_where(&run.op.id, |c| matches!(c, Check::DryRun { .. }));
                if let Some(rule) = rule {
                    let reason = format!("cannot read the resource back: {e}");
                    run.result.undecided.push(Undecided::new(&rule.id, reason));
                }
            }
        }
    }

    /// A curated answer: kept rendered for the insta harness, compared with its snapshot.
    fn judge_snapshot(&self, run: &mut CaseRun<'_>, exchange: &Exchange, body: Option<&Value>) {
        if run.case.kind != CaseKind::Curated {
            return;
        }
        if let Some(redactions) = &self.capture {
            let ct = exchange.content_type.as_deref();
            let text = redactions.render(&run.op.id, exchange.status, ct, body, &exchange.body);
            run.result.snapshot = Some(text);
        }
        let Some(store) = &self.snapshots else {
            return;
        };
        match store.compare(run.case, exchange, body) {
            Ok(comparison) => {
                if let Comparison::Missing { pending, .. } = &comparison {
                    run.result.new_snapshot = Some(pending.clone());
                } else {
                    run.result.exercised.push(ids::SNAPSHOT_DRIFT.to_string());
                }
                let f =
                    snapshot_conformance(&self.contract, run.case, comparison, run.curl.as_str());
                run.result.findings.extend(f);
            }
            Err(e) => run.result.error = Some(e.to_string()),
        }
    }
}

/// The state a spare is in after its case, as far as the run can tell: what
/// the last listing showed once the state settled, the old state when nothing
/// could have changed it, unknown otherwise (looked at before its next use).
fn spare_after(
    run: &CaseRun<'_>,
    spare: &Taken<PortState>,
    observed: Option<&Listing>,
    settled: bool,
    changes_attachments: bool,
) -> PortState {
    match observed {
        Some(l) if settled && l.contains(&spare.id) => PortState::Attached,
        Some(_) if settled => PortState::Detached,
        None if settled && run.result.findings.is_empty() && !changes_attachments => spare.state,
        _ => PortState::Unknown,
    }
}

/// A job that was not followed to its end: the rules that needed its end
/// are undecided, and so is a rule the request broke if a FAIL job was its
/// only way to conform (which NICs the job changed is unknown).
fn note_unfollowed_job(
    contract: &Contract,
    run: &mut CaseRun<'_>,
    before: &mut Before,
    reason: &str,
    pending_job_fail: bool,
) {
    let mut undecided = run.state(contract, None, None).effects_undecided(reason);
    undecided.push(Undecided::new(ids::JOB_FAIL_REASON, reason));
    if let Some(broken) = run.case.breaks.as_ref().filter(|_| pending_job_fail) {
        undecided.push(Undecided::new(broken, reason));
        before.listing = None;
    }
    run.result.undecided.extend(undecided);
}
