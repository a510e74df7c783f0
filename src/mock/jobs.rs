//! The mock's asynchronous jobs. A request that starts one records it with the
//! change it will make; the change is applied, and SUCCESS or FAIL recorded, by
//! the first request that comes after the job's deadline. Nothing can see the
//! state between the deadline and that request, so no timer or task is needed.
//!
//! Jobs sit in a ring in the order they started. Every job lasts the same, so
//! that is also the order they end in, and a job's id ends in its sequence
//! number: finding a job is an index into the ring, not a hash lookup.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::state::{Id, State, random_id_shared};
use super::{FaultKind, Reply, path_param};
use crate::contract::pointer::select;
use crate::contract::{Operation, Verdict, object};

/// Ended jobs remembered for status queries (clients poll within seconds of
/// delivery); a job that has not ended yet is never forgotten.
pub const MAX_JOBS: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Init,
    Running,
    Success,
    Fail,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Init => "INIT",
            JobStatus::Running => "RUNNING",
            JobStatus::Success => "SUCCESS",
            JobStatus::Fail => "FAIL",
        }
    }
}

/// What a job changes when it succeeds.
#[derive(Debug)]
pub enum Change {
    /// Batch add: attach each NIC to the server.
    AttachNics {
        server_id: Box<str>,
        nics: Vec<NicRequest>,
    },
    /// Batch delete: detach each NIC from the server (deleting the ports the mock made).
    DetachNics {
        server_id: Box<str>,
        nic_ids: Vec<Id>,
    },
    /// A request accepted although a rule forbids it (fault): nothing changes.
    Nothing,
}

/// One entry of a batch-add request, as its job reads it.
#[derive(Debug)]
pub struct NicRequest {
    pub port_id: Option<String>,
    pub subnet_id: Option<String>,
    pub ip_address: Option<String>,
    /// `ipv6_enable: true`: the new NIC supports IPv6 addresses.
    pub ipv6_enable: bool,
    /// Why the job will fail this NIC: a rule the request broke that is
    /// checked when the job runs (the port's state, the resources it names).
    pub refused: Option<String>,
    /// The id of the port the job makes for a NIC that names no port, drawn
    /// with the request rather than under the state's lock.
    pub new_port_id: Option<Id>,
}

impl NicRequest {
    /// The fields of one NIC of the request, as sent.
    pub fn of(nic: &serde_json::Value) -> NicRequest {
        let field = |name: &str| {
            nic.get(name)
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
        };
        NicRequest {
            port_id: field("port_id"),
            subnet_id: field("subnet_id"),
            ip_address: field("ip_address"),
            ipv6_enable: nic.get("ipv6_enable") == Some(&serde_json::Value::Bool(true)),
            refused: None,
            new_port_id: None,
        }
    }

    /// The request field `name` is kept for the job (fields the job never reads: none).
    fn slot(&mut self, name: &str) -> Option<&mut Option<String>> {
        match name {
            "port_id" => Some(&mut self.port_id),
            "subnet_id" => Some(&mut self.subnet_id),
            "ip_address" => Some(&mut self.ip_address),
            _ => None,
        }
    }

    pub fn has(&mut self, name: &str) -> bool {
        self.slot(name).is_some_and(|s| s.is_some())
    }

    /// The job acts as if `name` had not been sent.
    pub fn drop_field(&mut self, name: &str) {
        if let Some(s) = self.slot(name) {
            *s = None;
        }
    }

    /// A NIC that names no port gets a new one: its id is drawn now, not under the lock.
    pub fn draw_new_port_id(&mut self) {
        if self.port_id.is_none() {
            self.new_port_id = Some(random_id_shared());
        }
    }
}

/// One NIC of an ended job: a sub-job, as the vendor's job query reports them.
#[derive(Debug, Clone, PartialEq)]
pub struct SubJob {
    /// The NIC attached or detached (for a NIC that was never made: none).
    pub nic_id: Option<Id>,
    /// Why this NIC failed; `None`: it succeeded.
    pub fail_reason: Option<String>,
}

/// What an ended job did: one sub-job per NIC, and why the job as a whole
/// failed before any NIC was tried (a fault; `Some("")`: without a reason).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobResult {
    pub sub_jobs: Vec<SubJob>,
    pub fail_reason: Option<String>,
}

impl JobResult {
    /// Every NIC succeeded.
    #[cfg(test)]
    pub fn succeeded(nics: Vec<Id>) -> JobResult {
        JobResult {
            sub_jobs: nics
                .into_iter()
                .map(|n| SubJob {
                    nic_id: Some(n),
                    fail_reason: None,
                })
                .collect(),
            fail_reason: None,
        }
    }

    /// The job failed as a whole, with no NIC tried.
    pub fn failed(reason: impl Into<String>) -> JobResult {
        JobResult {
            sub_jobs: Vec::new(),
            fail_reason: Some(reason.into()),
        }
    }

    /// The parent ends FAIL when it failed as a whole or a sub-job failed.
    pub fn status(&self) -> JobStatus {
        let failed =
            self.fail_reason.is_some() || self.sub_jobs.iter().any(|s| s.fail_reason.is_some());
        if failed {
            JobStatus::Fail
        } else {
            JobStatus::Success
        }
    }

    /// The parent's fail_reason: its own, else the first failed sub-job's.
    pub fn reason(&self) -> Option<&str> {
        let own = self.fail_reason.as_deref();
        own.or_else(|| self.sub_jobs.iter().find_map(|s| s.fail_reason.as_deref()))
            .filter(|r| !r.is_empty())
    }
}

/// Where a job is in its life.
#[derive(Debug)]
pub enum Stage {
    /// Waiting for its deadline, with the change it will make.
    Pending(Change),
    /// Never ends (fault `job-never-ends`), or is being ended: RUNNING.
    Stuck,
    /// Ended at `at`.
    Ended { at: Id, result: JobResult },
}

#[derive(Debug)]
pub struct Job {
    /// 32 hex digits: 16 random, then the sequence number.
    id: [u8; 32],
    pub job_type: &'static str,
    pub server_id: Id,
    pub created: Instant,
    pub begin_time: Id,
    pub stage: Stage,
}

impl Job {
    pub fn id(&self) -> &str {
        std::str::from_utf8(&self.id).unwrap_or_default()
    }
}

#[derive(Debug)]
pub struct Jobs {
    ring: VecDeque<Job>,
    /// The sequence number of `ring[0]`.
    first: u64,
    /// The sequence number of the first job not yet ended.
    unended: u64,
    duration: Duration,
}

impl Jobs {
    pub fn new(duration: Duration) -> Jobs {
        Jobs {
            ring: VecDeque::new(),
            first: 0,
            unended: 0,
            duration,
        }
    }

    /// Records a job that will make `change` (`None`: it never ends); returns its id.
    pub fn start(
        &mut self,
        job_type: &'static str,
        server_id: Id,
        change: Option<Change>,
    ) -> String {
        let seq = self.first + self.ring.len() as u64;
        let mut id = [0u8; 32];
        // Infallible: the buffer holds exactly 16 bytes' worth of hex digits.
        let _ = hex::encode_to_slice(rand::random::<[u8; 8]>(), &mut id[..16]);
        let _ = hex::encode_to_slice(seq.to_be_bytes(), &mut id[16..]);
        self.ring.push_back(Job {
            id,
            job_type,
            server_id,
            created: Instant::now(),
            begin_time: utc_now(),
            stage: change.map_or(Stage::Stuck, Stage::Pending),
        });
        while self.ring.len() > MAX_JOBS && self.first < self.unended {
            self.ring.pop_front();
            self.first += 1;
        }
        String::from_utf8_lossy(&id).into_owned()
    }

    /// The next job past its deadline at `now`, with the change it makes
    /// (taken: the caller applies it and reports with [`Jobs::end`]).
    pub fn next_due(&mut self, now: Instant) -> Option<(u64, Change)> {
        loop {
            let seq = self.unended;
            let job = self.ring.get_mut(self.index(seq)?)?;
            if job.created + self.duration > now {
                return None;
            }
            self.unended += 1;
            // Stuck until `end` records how it ended; one that never ends is passed over.
            if let Stage::Pending(change) = std::mem::replace(&mut job.stage, Stage::Stuck) {
                return Some((seq, change));
            }
        }
    }

    /// Records how job `seq` ended.
    pub fn end(&mut self, seq: u64, result: JobResult) {
        let Some(job) = self.index(seq).and_then(|i| self.ring.get_mut(i)) else {
            return;
        };
        job.stage = Stage::Ended {
            at: utc_now(),
            result,
        };
    }

    /// The job with this id, if it is remembered.
    pub fn get(&self, id: &str) -> Option<&Job> {
        let seq = u64::from_str_radix(id.get(16..).filter(|s| s.len() == 16)?, 16).ok()?;
        let job = self.ring.get(self.index(seq)?)?;
        (job.id() == id).then_some(job)
    }

    /// Where job `seq` sits in the ring, if it has not been forgotten.
    fn index(&self, seq: u64) -> Option<usize> {
        usize::try_from(seq.checked_sub(self.first)?).ok()
    }
}

/// The time as `yyyy-MM-ddTHH:mm:ssZ`, formatted once per second per thread (jobs ask for it twice each).
pub fn utc_now() -> Id {
    thread_local! {
        static CACHE: std::cell::RefCell<(u64, Id)> = std::cell::RefCell::new((u64::MAX, Id::from("")));
    }
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != secs {
            let d = crate::signing::sdk_date_now(); // 20250101T000000Z
            cache.1 = Id::from(format!(
                "{}-{}-{}T{}:{}:{}Z",
                &d[0..4],
                &d[4..6],
                &d[6..8],
                &d[9..11],
                &d[11..13],
                &d[13..15]
            ));
            cache.0 = secs;
        }
        cache.1.clone()
    })
}

impl super::Mock {
    /// Records a job that will make `change` (nothing, for a request accepted
    /// in error) and answers its id.
    pub(super) fn start_job(
        &self,
        state: &mut State,
        (job_type, change): (&'static str, Change),
        server_id: Id,
        no_effect: bool,
    ) -> Reply {
        let change = if no_effect { Change::Nothing } else { change };
        let never_ends = self.config.faults.has(&FaultKind::JobNeverEnds);
        let job_id = state
            .jobs
            .start(job_type, server_id, (!never_ends).then_some(change));
        Reply::json(200, object([("job_id", Value::String(job_id))]))
    }

    /// Ends every job past its deadline: a job has ended for whichever request
    /// looks first, so no request sees it late.
    pub(super) fn end_due_jobs(&self, state: &mut State) {
        let now = std::time::Instant::now();
        while let Some((seq, change)) = state.jobs.next_due(now) {
            let result = self.apply(state, change);
            state.jobs.end(seq, result);
        }
    }

    /// The job an accepted asynchronous request starts: its type and the
    /// change it will make (`None` for the synchronous operations). It needs
    /// no state: worked out before the lock, which then only records it.
    /// What a job attaches or detaches is the catalogue's effect rule, as for
    /// the generator and the judge.
    pub(super) fn requested_job(
        &self,
        op: &Operation,
        view: &Value,
    ) -> Option<(&'static str, Change)> {
        let server_id = || path_param(view, "server_id").into();
        if let Some((_, at)) = self.effects.attach.as_ref().filter(|(a, _)| *a == op.id) {
            let nics = select(view, at)
                .into_iter()
                .map(|nic| self.nic_request(nic))
                .collect();
            return Some((
                "attachNics",
                Change::AttachNics {
                    server_id: server_id(),
                    nics,
                },
            ));
        }
        if self.effects.detach.as_ref() != Some(&op.id) {
            return None;
        }
        let nic_ids = self
            .contract
            .named_ports(&op.id, view)
            .into_iter()
            .map(Id::from)
            .collect();
        Some((
            "detachNics",
            Change::DetachNics {
                server_id: server_id(),
                nic_ids,
            },
        ))
    }

    /// Judges a batch of several NICs: the rules a job may check (those whose
    /// break may end in a FAIL job) are left to the job, NIC by NIC, and the
    /// rest decide the answer. Returns the verdict, and whether a fault accepts a NIC's
    /// refusal (the job then succeeds and changes nothing).
    pub(super) fn judge_batch(
        &self,
        op: &Operation,
        view: &Value,
        state: &State,
        nics: &mut [NicRequest],
    ) -> (Verdict, bool) {
        // One NIC: refused at once, as a single request is. Several: each NIC
        // is judged by the job, so one bad NIC does not refuse the others.
        if nics.len() < 2 {
            return (self.contract.judge_rules(op, view, state), false);
        }
        let in_job = |r: &crate::contract::Rule| r.expect.is_some_and(|e| e.async_fail_ok);
        let verdict = self
            .contract
            .judge_rules_where(op, view, state, |r| !in_job(r));
        let all = self.contract.judge_rules_where(op, view, state, in_job);
        let (Verdict::Accept { .. }, Verdict::Reject { .. }) = (&verdict, &all) else {
            return (verdict, false);
        };
        // Which NICs the job will refuse: each judged alone.
        let Some((_, at)) = self.effects.attach.as_ref() else {
            return (verdict, false);
        };
        let list = at.strip_suffix("/*").unwrap_or(at);
        let mut accepted_in_error = false;
        for (i, nic) in select(view, at).into_iter().enumerate() {
            let mut alone = view.clone();
            crate::contract::pointer::set(&mut alone, list, Value::Array(vec![nic.clone()]));
            if let Verdict::Reject { id, message, .. } =
                self.contract.judge_rules_where(op, &alone, state, in_job)
            {
                accepted_in_error |= self.config.faults.accepts(&id);
                if let Some(request) = nics.get_mut(i) {
                    request.refused = Some(format!("{message} [{id}]"));
                }
            }
        }
        (verdict, accepted_in_error)
    }

    /// One NIC of an attaching request as its job will make it: the winner of
    /// each precedence rule kept and the loser dropped, fields a present field
    /// makes ignored dropped (faults `subnet-wins` and `port-takes-ip` bend
    /// exactly these).
    pub(super) fn nic_request(&self, nic: &Value) -> NicRequest {
        let mut request = NicRequest::of(nic);
        let faults = &self.config.faults;
        for (winner, loser) in &self.effects.nics.precedence {
            if request.has(winner) && request.has(loser) {
                let dropped = if faults.has(&FaultKind::SubnetWins) {
                    winner
                } else {
                    loser
                };
                request.drop_field(dropped);
            }
        }
        for (field, ignored) in &self.effects.nics.ignored_when {
            if !request.has(field) {
                continue;
            }
            for i in ignored {
                let kept = faults.has(&FaultKind::PortTakesIp) && i == "ip_address";
                if !kept {
                    request.drop_field(i);
                }
            }
        }
        request.draw_new_port_id();
        request
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs(ms: u64) -> Jobs {
        Jobs::new(Duration::from_millis(ms))
    }

    #[test]
    fn a_job_is_found_by_its_id_and_not_by_a_made_up_one() {
        let mut jobs = jobs(0);
        let a = jobs.start("attachNics", Id::from("s"), Some(Change::Nothing));
        let b = jobs.start("detachNics", Id::from("s"), Some(Change::Nothing));
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(jobs.get(&a).map(|j| j.job_type), Some("attachNics"));
        assert_eq!(jobs.get(&b).map(|j| j.job_type), Some("detachNics"));
        // Same sequence number, other random half: not that job.
        let forged = format!("{}{}", "0".repeat(16), &a[16..]);
        assert!(jobs.get(&forged).is_none());
        for bad in [
            "",
            "xyz",
            &a[..31],
            &format!("{a}0"),
            "ffffffffffffffffffffffffffffffff",
        ] {
            assert!(jobs.get(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn jobs_end_in_order_once_past_their_deadline() {
        let mut jobs = jobs(50);
        let a = jobs.start("attachNics", Id::from("s"), Some(Change::Nothing));
        let b = jobs.start("attachNics", Id::from("s"), Some(Change::Nothing));
        let start = jobs.get(&a).unwrap().created;
        assert!(jobs.next_due(start).is_none(), "ended before its deadline");
        let later = jobs.get(&b).unwrap().created + Duration::from_millis(50);
        let (first, _) = jobs.next_due(later).unwrap();
        jobs.end(first, JobResult::succeeded(vec![Id::from("nic")]));
        let (second, _) = jobs.next_due(later).unwrap();
        jobs.end(second, JobResult::failed(""));
        assert!(jobs.next_due(later).is_none(), "a job ended twice");
        assert!(matches!(
            &jobs.get(&a).unwrap().stage,
            Stage::Ended { result, .. } if result.status() == JobStatus::Success
                && result.sub_jobs[0].nic_id == Some(Id::from("nic"))
        ));
        assert!(matches!(
            &jobs.get(&b).unwrap().stage,
            Stage::Ended { result, .. } if result.status() == JobStatus::Fail
                && result.reason().is_none()
        ));
    }

    #[test]
    fn a_job_that_never_ends_is_passed_over() {
        let mut jobs = jobs(0);
        let stuck = jobs.start("attachNics", Id::from("s"), None);
        let after = jobs.start("attachNics", Id::from("s"), Some(Change::Nothing));
        let later = Instant::now() + Duration::from_millis(1);
        let (seq, _) = jobs.next_due(later).unwrap();
        jobs.end(seq, JobResult::default());
        assert!(matches!(jobs.get(&stuck).unwrap().stage, Stage::Stuck));
        assert!(matches!(
            jobs.get(&after).unwrap().stage,
            Stage::Ended { .. }
        ));
    }

    #[test]
    fn ended_jobs_are_forgotten_past_the_limit_but_unended_ones_are_kept() {
        let mut jobs = jobs(0);
        let oldest = jobs.start("attachNics", Id::from("s"), Some(Change::Nothing));
        for _ in 0..MAX_JOBS + 10 {
            jobs.start("attachNics", Id::from("s"), Some(Change::Nothing));
        }
        // None has ended: all are kept, so their changes are not lost.
        assert!(jobs.get(&oldest).is_some());
        let later = Instant::now() + Duration::from_millis(1);
        while let Some((seq, _)) = jobs.next_due(later) {
            jobs.end(seq, JobResult::default());
        }
        let newest = jobs.start("attachNics", Id::from("s"), Some(Change::Nothing));
        assert!(
            jobs.get(&oldest).is_none(),
            "an ended job kept past the limit"
        );
        assert!(jobs.get(&newest).is_some());
        assert_eq!(jobs.ring.len(), MAX_JOBS);
    }
}
