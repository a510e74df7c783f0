//! The steps of one case: ready the spare, observe, send, judge the answer,
//! follow the job, judge the state, compare the snapshot. The steps share
//! one [`CaseRun`]; every verdict comes from [`crate::judge`].

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use crate::case::{Case, CaseKind};
use crate::contract::{Check, Contract, Effect, Operation, ids};
use crate::http::{Curl, Exchange, Wire};
use crate::judge::observed::{JobOutcome, Listing};
use crate::judge::response::Evidence;
use crate::judge::snapshot::snapshot_conformance;
use crate::judge::state::{
    StateEvidence, dry_run_conformance, effects_conformance, job_failed_conformance,
    job_id_conformance, read_back_conformance, sub_jobs_conformance, unchanged_conformance,
};
use crate::judge::{Finding, Undecided, sort};
use crate::malformed::Malformed;
use crate::runner::Runner;
use crate::runner::event::CaseResult;
use crate::runner::observe::{ListingResult, Unobserved};
use crate::runner::pool::{PortState, Taken};
use crate::snapshot::Comparison;

/// One case in flight: what its steps share.
pub(super) struct CaseRun<'c> {
    pub(super) case: &'c Case,
    pub(super) op: &'c Operation,
    /// The request as the rules read it, built once for every check.
    pub(super) view: Value,
    /// The ports the request names for its effect rules.
    pub(super) named_ports: Vec<String>,
    /// A dry run expected to be accepted (the catalogue's dry-run rule reads
    /// the request): it must change nothing, so it has no effect to check.
    pub(super) dry_run: bool,
    /// The request, prepared once, with its reproduction.
    pub(super) curl: Curl,
    /// What a protocol-level case sends instead of JSON.
    pub(super) malformed: Option<Malformed>,
    pub(super) result: CaseResult,
    /// The target's subnet has an IPv6 range (for the IPv6 rule).
    ipv6_subnet: bool,
    started: Instant,
}

impl<'c> CaseRun<'c> {
    pub(super) fn evidence<'a>(
        &'a self,
        contract: &'a Contract,
        exchange: &'a Exchange,
    ) -> Evidence<'a> {
        Evidence {
            contract,
            op: self.op,
            case: self.case,
            exchange,
            reproduce: &self.curl,
        }
    }

    pub(super) fn state<'a>(
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
            ipv6_subnet: self.ipv6_subnet,
        }
    }

    /// Ends the case before its request was judged: every rule it
    /// exercises is undecided, for `reason`.
    pub(super) fn end_undecided(mut self, reason: &str) -> CaseResult {
        self.result.undecided = (self.case.exercises.iter())
            .map(|id| Undecided::new(id, reason))
            .collect();
        self.finish()
    }

    /// Ends the case whose setup failed: the setup's own call carries the
    /// finding, the case's rules are undecided.
    pub(super) fn end_setup_failed(
        mut self,
        failure: crate::runner::lease::SetupFailure,
    ) -> CaseResult {
        let replay = self.result.replay.clone();
        let finding = (failure.finding).map(|f| f.in_case(&self.case.id).replayed_by(replay));
        self.result.findings.extend(finding);
        self.end_undecided(&format!("setup failed: {}", failure.reason))
    }

    /// A request that broke a rule was accepted: its job must end FAIL.
    pub(super) fn judge_job_failed(
        &mut self,
        contract: &Contract,
        body: Option<&Value>,
        job: Option<&JobOutcome>,
        status: u16,
    ) {
        let failed = job_failed_conformance(&self.state(contract, body, job), status);
        self.result.findings.extend(failed);
    }

    pub(super) fn finish(mut self) -> CaseResult {
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
pub(super) struct Before {
    /// The attachments, for a request that should change nothing.
    pub(super) listing: Option<ListingResult>,
    /// The updatable fields, for a dry run.
    pub(super) updatable: Option<Result<Value, Unobserved>>,
}

/// How following the case's job went.
#[derive(Default)]
pub(super) struct Followed {
    pub(super) outcome: Option<JobOutcome>,
    /// Whether the state can be trusted to have settled (the job ended).
    pub(super) settled: bool,
    /// Why the job's end was not observed.
    pub(super) unobserved: Option<String>,
}

impl Runner {
    /// The case as its steps share it: its view, the ports it names, its request.
    pub(super) fn case_run<'c>(&self, case: &'c Case, op: &'c Operation) -> CaseRun<'c> {
        let view = case.view();
        let malformed = case.malformed_request();
        let accepted = case.breaks.is_none() && (200..300).any(|s| case.expect.matches(s));
        let dry_run = accepted
            && (self.contract.rules_for(&op.id))
                .any(|r| matches!(r.check, Check::DryRun { .. }) && r.check.exercised(&view));
        let ipv6_subnet = self.fixtures.subnet_ipv6_cidr.is_some();
        CaseRun {
            case,
            op,
            named_ports: self.contract.named_ports(&op.id, &view),
            dry_run,
            view,
            curl: Curl::new(self.client.prepare_wire(
                op,
                &case.path_params,
                Wire::of(case.body.as_ref(), malformed.as_ref()),
            )),
            malformed,
            ipv6_subnet,
            result: CaseResult {
                case_id: case.id.clone(),
                operation: case.operation.clone(),
                kind: Some(case.kind),
                class: case.class.clone(),
                exercised: self.judgeable(op, &case.exercises, ipv6_subnet),
                replay: self.replay(case),
                ..Default::default()
            },
            started: Instant::now(),
        }
    }

    /// The rules a case exercises that this target lets the judge decide:
    /// without an IPv6 range in the fixtures no IPv6 rule is judged, so
    /// none is counted (as passed).
    fn judgeable(&self, op: &Operation, exercises: &[String], ipv6_subnet: bool) -> Vec<String> {
        let undecidable = |id: &String| {
            !ipv6_subnet
                && self
                    .contract
                    .rules_for(&op.id)
                    .any(|r| &r.id == id && matches!(r.check, Check::Ipv6Assigned { .. }))
        };
        exercises
            .iter()
            .filter(|id| !undecidable(id))
            .cloned()
            .collect()
    }

    /// Sends the case's request; a transport failure is the case's finding.
    pub(super) async fn send(&self, run: &mut CaseRun<'_>) -> Option<Exchange> {
        let case = run.case;
        let sent = self
            .client
            .send_case(
                run.op,
                &case.path_params,
                Wire::of(case.body.as_ref(), run.malformed.as_ref()),
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
    pub(super) fn has_effect(&self, op: &Operation) -> bool {
        self.contract
            .rules_for(&op.id)
            .any(|r| matches!(r.check, Check::AsyncEffect { .. }))
    }

    /// Observes what the case will be compared with afterwards.
    pub(super) async fn observe_before(&self, run: &CaseRun<'_>) -> Before {
        let mut before = Before::default();
        if run.case.breaks.is_some() && !run.named_ports.is_empty() {
            before.listing = Some(self.listing().await);
        }
        if run.dry_run {
            before.updatable = Some(self.observe_updatable(run.case).await);
        }
        before
    }

    /// For an accepted asynchronous request: follows its job to the end.
    pub(super) async fn follow_case_job(
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
    pub(super) async fn judge_state(
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
            if let Ok(l) = &listing {
                self.judge_frame(run, body, job, l);
            }
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
                self.judge_frame(run, body, job, after);
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

    /// The NICs no case may touch are as they were before the run; each
    /// change is reported once, against the case after which it was seen.
    fn judge_frame(
        &self,
        run: &mut CaseRun<'_>,
        body: Option<&Value>,
        job: Option<&JobOutcome>,
        after: &Listing,
    ) {
        let Some(before) = self.lab.untouchable.get() else {
            return;
        };
        let primary = &self.fixtures.primary_port_id;
        let state = run.state(&self.contract, body, job);
        let findings =
            crate::judge::state::frame_conformance(&state, before, primary, after, |p| {
                after.address_texts(p)
            });
        let mut reported = self
            .lab
            .frame_reported
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for (port, finding) in findings {
            if reported.insert(port) {
                run.result.findings.push(finding);
            }
        }
        let watched = |primary_too: bool| before.iter().any(|(p, _)| (p == primary) == primary_too);
        if watched(true) {
            run.result.exercised.push(ids::FRAME_PRIMARY.to_string());
        }
        if watched(false) {
            run.result.exercised.push(ids::FRAME_OTHERS.to_string());
        }
    }

    /// After an accepted update, each read-back rule's auxiliary read shows
    /// what was sent; a read that fails leaves the rule undecided.
    pub(super) async fn judge_read_back(&self, run: &mut CaseRun<'_>) {
        let rules: Vec<&crate::contract::Rule> = self
            .contract
            .rules_for(&run.op.id)
            .filter(|r| {
                matches!(r.check, Check::ReadBack { .. } | Check::OnlyUpdates { .. })
                    && r.check.exercised(&run.view)
            })
            .collect();
        for rule in rules {
            let (Check::ReadBack { read, .. } | Check::OnlyUpdates { read, .. }) = &rule.check
            else {
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
    pub(super) fn judge_dry_run(
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
    pub(super) fn judge_snapshot(
        &self,
        run: &mut CaseRun<'_>,
        exchange: &Exchange,
        body: Option<&Value>,
    ) {
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
pub(super) fn spare_after(
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
pub(super) fn note_unfollowed_job(
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
