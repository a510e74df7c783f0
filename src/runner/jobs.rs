//! Following jobs: a case's own job, and the jobs the runner starts itself
//! to attach or detach fixtures (setup and cleanup).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::case::{Case, CaseKind};
use crate::contract::{Effect, Operation};
use crate::error::Error;
use crate::http::Curl;
use crate::judge::Finding;
use crate::judge::job::{fail_reason_conformance, job_completes_finding};
use crate::judge::observed::JobOutcome;
use crate::judge::response::{Evidence, judge_response};
use crate::ledger::Entry;
use crate::runner::Runner;
use crate::runner::lease::SetupFailure;
use crate::runner::pool::PortState;

/// A job the runner started for setup or cleanup did not bring what it needed.
#[derive(Debug)]
pub(super) struct HousekeepingError {
    pub(super) message: String,
    /// What the job query showed on the way (a job that never ends …).
    pub(super) findings: Vec<Finding>,
}

/// What one answer of the job query says about following the job.
enum JobAnswer {
    Ended(JobOutcome, Value),
    /// Not ended yet: its status so far.
    Running(String),
    /// Asking again will not help: why.
    Unfollowable(String),
}

/// Reads one job answer: a refused id (a 4xx) will not be found by asking
/// again, and a status outside the job's enum cannot be waited out.
fn read_job_answer(status: u16, body: Option<Value>) -> JobAnswer {
    if (400..500).contains(&status) {
        return JobAnswer::Unfollowable(status.to_string());
    }
    let Some(body) = body else {
        return JobAnswer::Running(format!("{status} without a JSON body"));
    };
    if let Some(outcome) = JobOutcome::of_ended(&body) {
        return JobAnswer::Ended(outcome, body);
    }
    let job_status = body.get("status").and_then(Value::as_str).unwrap_or("");
    if !JobOutcome::is_running(job_status) && (200..300).contains(&status) {
        return JobAnswer::Unfollowable(format!(
            "status {job_status:?}, not one of the job's statuses"
        ));
    }
    JobAnswer::Running(job_status.to_string())
}

/// After this many jobs in a row have not ended in time, the run stops waiting for jobs.
const JOB_TIMEOUTS_BEFORE_GIVING_UP: usize = 3;

/// The first wait before polling something that changes (a job, a listing
/// after a detach), unless `job_poll` is shorter.
const FIRST_POLL: Duration = Duration::from_millis(100);

/// The waits between polls: soon at first, doubling up to `job_poll` as a
/// cap. Once jobs have ended, the first wait is three quarters of a typical
/// job (learnt by [`JobClock`]), the next few a sixteenth of one each (so
/// its end is seen within a sixteenth of a job, where a run waits for jobs
/// one after another), then doubling again: a job is rarely over sooner,
/// and every poll is a request to the target.
#[derive(Debug, Clone)]
pub(super) struct Backoff {
    next: Duration,
    cap: Duration,
    first: Option<Duration>,
    /// Fine steps left before the waits double.
    fine: u8,
}

/// Fine steps after the first learnt wait: up to 1 1/8 of a typical job.
const FINE_STEPS: u8 = 6;

impl Backoff {
    pub(super) fn new(cap: Duration, typical: Option<Duration>) -> Backoff {
        let start = (cap / 8)
            .clamp(Duration::from_millis(1), FIRST_POLL)
            .min(cap);
        // Jobs hardly longer than the first poll's wait gain nothing from
        // waiting longer (and a timer's rounding would only add to it).
        let typical = typical.filter(|t| *t >= start * 4);
        Backoff {
            next: typical.map_or(start, |t| (t / 16).max(start).min(cap)),
            cap,
            first: typical.map(|t| t * 3 / 4),
            fine: typical.map_or(0, |_| FINE_STEPS - 1),
        }
    }

    pub(super) fn next_wait(&mut self) -> Duration {
        if let Some(first) = self.first.take() {
            return first;
        }
        let wait = self.next;
        match self.fine {
            0 => self.next = (self.next * 2).min(self.cap),
            _ => self.fine -= 1,
        }
        wait
    }
}

/// The target's typical job time, learnt as jobs end: a moving average of
/// the time from the request's answer to the poll that saw the job end.
#[derive(Debug, Default)]
pub(super) struct JobClock {
    /// Microseconds; 0 until enough jobs have ended.
    average_us: AtomicU64,
    ended: AtomicU64,
}

/// Jobs seen to end before their average is trusted.
const JOBS_BEFORE_LEARNING: u64 = 3;

impl JobClock {
    pub(super) fn typical(&self) -> Option<Duration> {
        let us = self.average_us.load(Ordering::Relaxed);
        (self.ended.load(Ordering::Relaxed) >= JOBS_BEFORE_LEARNING && us > 0)
            .then(|| Duration::from_micros(us))
    }

    /// The average so far, however few jobs have ended.
    pub(super) fn average(&self) -> Option<Duration> {
        let us = self.average_us.load(Ordering::Relaxed);
        (self.ended.load(Ordering::Relaxed) > 0).then(|| Duration::from_micros(us))
    }

    pub(super) fn ended(&self, took: Duration) {
        let us = took.as_micros().min(u64::MAX as u128) as u64;
        let n = self.ended.fetch_add(1, Ordering::Relaxed);
        let old = self.average_us.load(Ordering::Relaxed);
        // A racing update loses one sample: an average, not a ledger.
        let new = if n == 0 { us } else { (old * 4 + us) / 5 };
        self.average_us.store(new, Ordering::Relaxed);
    }
}

/// A job that could not be followed to its end: why, and what its queries showed.
#[derive(Debug)]
pub(super) struct JobUnobserved {
    pub(super) reason: String,
    pub(super) findings: Vec<Finding>,
}

impl JobUnobserved {
    fn because(reason: impl Into<String>) -> JobUnobserved {
        JobUnobserved {
            reason: reason.into(),
            findings: Vec::new(),
        }
    }
}

impl Runner {
    /// Follows a job until it ends or the timeout; judges every job answer.
    /// Stops at once when the job cannot be followed: the query refuses the
    /// id it was just given, answers a status outside the job's enum, or
    /// several jobs in a row have not ended in time.
    pub(super) async fn follow_job(
        &self,
        job_id: &str,
        case: &Case,
        curl: &Curl,
    ) -> Result<(JobOutcome, Vec<Finding>), JobUnobserved> {
        let op = self.job_query()?;
        let limits = &self.client.target().limits;
        let started = Instant::now();
        let deadline = started + limits.job_timeout;
        let mut backoff = Backoff::new(limits.job_poll, self.lab.job_clock.typical());
        let params = self.params(op, &[("job_id", job_id)]);
        let query = format!("the job query {} {}", op.method, op.path);
        let mut findings: Vec<Finding> = Vec::new();
        // The job query judged as a case of its own; the case's id names its findings.
        let job_case = Case::bare(case.id.clone(), &op.id, case.kind);
        let mut last: String;
        loop {
            tokio::time::sleep(backoff.next_wait()).await;
            match self.client.send(op, &params, None).await {
                Ok(answer) => {
                    let judged = judge_response(&Evidence {
                        contract: &self.contract,
                        op,
                        case: &job_case,
                        exchange: &answer,
                        reproduce: curl,
                    });
                    for f in judged.findings {
                        if !findings.iter().any(|g| g.id == f.id) {
                            findings.push(f);
                        }
                    }
                    match read_job_answer(answer.status, judged.body) {
                        JobAnswer::Ended(outcome, body) => {
                            self.lab.jobs_timed_out.store(0, Ordering::Relaxed);
                            self.lab.job_clock.ended(started.elapsed());
                            let f =
                                fail_reason_conformance(&self.contract, case, &body, curl.as_str());
                            findings.extend(f);
                            return Ok((outcome, findings));
                        }
                        JobAnswer::Running(status) => {
                            tracing::debug!(job = %job_id, case = %case.id, "job {status}");
                            last = status;
                        }
                        JobAnswer::Unfollowable(why) => {
                            let reason = format!("{query} answered {why} for job {job_id}");
                            return Err(JobUnobserved { reason, findings });
                        }
                    }
                }
                Err(e) => last = e.to_string(),
            }
            if Instant::now() >= deadline {
                self.lab.jobs_timed_out.fetch_add(1, Ordering::Relaxed);
                findings.push(job_completes_finding(
                    &self.contract,
                    case,
                    limits.job_timeout,
                    format!("job {job_id} still {last}"),
                    curl.as_str(),
                ));
                return Err(JobUnobserved {
                    reason: format!("job {job_id} did not end within {:?}", limits.job_timeout),
                    findings,
                });
            }
        }
    }

    /// The job query, unless there is none or jobs stopped ending in time.
    fn job_query(&self) -> Result<&Operation, JobUnobserved> {
        let Some(op) = self.contract.operation("show-job") else {
            return Err(JobUnobserved::because(
                "no show-job operation in the contract",
            ));
        };
        let timed_out = self.lab.jobs_timed_out.load(Ordering::Relaxed);
        if timed_out >= JOB_TIMEOUTS_BEFORE_GIVING_UP {
            return Err(JobUnobserved::because(format!(
                "{timed_out} jobs in a row did not end within {:?}; this one was not waited for",
                self.client.target().limits.job_timeout
            )));
        }
        Ok(op)
    }

    /// Waits, without judging, until a job another process started has ended
    /// (`cleanup` after a run killed mid-job), or the job timeout; why not, if not.
    pub(super) async fn wait_job_end(&self, job_id: &str) -> Result<(), String> {
        let op = (self.contract.operation("show-job")).ok_or("no show-job operation")?;
        let limits = &self.client.target().limits;
        let deadline = Instant::now() + limits.job_timeout;
        let mut backoff = Backoff::new(limits.job_poll, None);
        let params = self.params(op, &[("job_id", job_id)]);
        loop {
            let answer = self.client.send(op, &params, None).await;
            let last = match answer {
                Ok(a) => {
                    let body = serde_json::from_slice(&a.body).ok();
                    match read_job_answer(a.status, body) {
                        JobAnswer::Ended(..) => return Ok(()),
                        JobAnswer::Unfollowable(why) => return Err(format!("job {job_id}: {why}")),
                        JobAnswer::Running(status) => status,
                    }
                }
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "job {job_id} still {last} after {:?}",
                    limits.job_timeout
                ));
            }
            tokio::time::sleep(backoff.next_wait()).await;
        }
    }

    /// Sends a job that attaches or detaches ports (case setup or cleanup) and waits for its end.
    async fn housekeeping_job(
        &self,
        effect: Effect,
        body: Value,
    ) -> Result<JobOutcome, HousekeepingError> {
        let fail = |message: String| HousekeepingError {
            message,
            findings: Vec::new(),
        };
        let op = self
            .contract
            .job_operation(effect)
            .ok_or_else(|| fail(format!("no operation whose job does a {effect:?}")))?;
        let params = self.params(op, &[]);
        let curl = Curl::new(self.client.prepare(op, &params, Some(&body)));
        let answer = self
            .client
            .send_prepared(op, &params, Some(&body), Some(curl.request()))
            .await
            .map_err(|e| fail(e.to_string()))?;
        let job_id = serde_json::from_slice::<Value>(&answer.body)
            .ok()
            .and_then(|b| b.get("job_id").and_then(Value::as_str).map(str::to_string));
        let Some(job_id) = job_id.filter(|_| op.success_expect().matches(answer.status)) else {
            return Err(fail(format!("{} answered {}", op.id, answer.status)));
        };
        let case = Case::bare(
            format!("{} (setup or cleanup)", op.id),
            &op.id,
            CaseKind::Valid,
        );
        // A finding on the job reproduces the request that made it.
        self.follow_job(&job_id, &case, &curl)
            .await
            .map(|(outcome, _)| outcome)
            .map_err(|e| HousekeepingError {
                message: e.reason,
                findings: e.findings,
            })
    }

    /// Whether the target serves the ECS batch jobs (all the housekeeping
    /// goes through them where it does, through nova's own calls where not).
    fn ecs_served(&self) -> bool {
        self.lab.families.get().is_none_or(|f| f.ecs)
    }

    /// Attaches a port through nova's attach (200 with the attachment).
    async fn nova_attach(&self, port: &str) -> Result<(), String> {
        let op = self
            .contract
            .operation("nova-attach-interface")
            .ok_or("no nova attach in the contract")?;
        let params = self.params(op, &[]);
        let body = json!({"interfaceAttachment": {"port_id": port}});
        match self.client.send(op, &params, Some(&body)).await {
            Ok(a) if op.success_expect().matches(a.status) => {
                self.settle_listed(&[port.to_string()]).await;
                Ok(())
            }
            Ok(a) => Err(format!("{} answered {}", op.id, a.status)),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Detaches ports one by one through nova's DELETE (202: accepted, done
    /// later), then waits until the listing no longer shows them.
    pub(super) async fn nova_detach(&self, ports: &[String]) -> Result<(), String> {
        let op = self
            .contract
            .operation("detach-interface")
            .ok_or("no nova detach in the contract")?;
        let limits = &self.client.target().limits;
        // As many at once as the server takes tasks (one on a real cloud).
        for chunk in ports.chunks(limits.server_tasks.max(1)) {
            let sent = futures::future::join_all(chunk.iter().map(|p| self.nova_detach_one(op, p)));
            if let Some(Err(e)) = sent.await.into_iter().find(Result::is_err) {
                return Err(e);
            }
        }
        let deadline = Instant::now() + limits.job_timeout;
        let mut backoff = Backoff::new(limits.job_poll, None);
        loop {
            match self.listing().await {
                Ok(l) if !ports.iter().any(|p| l.contains(p)) => return Ok(()),
                Ok(_) if Instant::now() >= deadline => {
                    return Err(format!(
                        "still listed {:?} after the detach",
                        limits.job_timeout
                    ));
                }
                Ok(_) => tokio::time::sleep(backoff.next_wait()).await,
                Err(e) => return Err(format!("cannot list the attachments: {e}")),
            }
        }
    }

    async fn nova_detach_one(
        &self,
        op: &crate::contract::Operation,
        port: &str,
    ) -> Result<(), String> {
        let params = self.params(op, &[("port_id", port)]);
        match self.client.send(op, &params, None).await {
            // 404: not attached (any more), which is what was wanted.
            Ok(a) if (200..300).contains(&a.status) || a.status == 404 => Ok(()),
            Ok(a) => Err(format!("{} of {port} answered {}", op.id, a.status)),
            Err(e) => Err(format!("{} of {port}: {e}", op.id)),
        }
    }

    /// Attaches or detaches a spare (case setup): through a batch job where
    /// the target serves ECS, through nova's attach and detach where not.
    pub(super) async fn move_spare(&self, effect: Effect, port: &str) -> Result<(), SetupFailure> {
        if !self.ecs_served() {
            return self.move_spare_nova(effect, port).await;
        }
        // NICs the run made and has not deleted yet go in the same job as a
        // spare's detach: one job where there would be two.
        // So do the other spares left attached: free, they wait for a case
        // that needs one detached, and this is one.
        let (riders, mut spares) = match effect {
            Effect::Detach => (
                self.take_created_listed().await,
                (self.lab.spares).take_free_where(|s| s == PortState::Attached),
            ),
            Effect::Attach => (Vec::new(), Vec::new()),
        };
        if !riders.is_empty() || !spares.is_empty() {
            let others: Vec<String> = spares.iter().map(|s| s.id.clone()).collect();
            let outcome = self.detach_with(port, &riders, &others).await;
            for spare in &mut spares {
                spare.state = match outcome {
                    Ok(()) => PortState::Detached,
                    Err(()) => PortState::Unknown,
                };
            }
            match outcome {
                Ok(()) => return Ok(()),
                // Never blame the spare for a rider: put them back, try it alone.
                Err(()) => self.track_pending(&riders),
            }
        }
        let (done, body) = match effect {
            Effect::Attach => ("attached", json!({"nics": [{"port_id": port}]})),
            Effect::Detach => ("detached", json!({"nics": [{"id": port}]})),
        };
        let reason = |why: &str| format!("the spare port {port} could not be {done}: {why}");
        if effect == Effect::Attach {
            self.record(Entry::Attaching {
                port_id: port.to_string(),
                server_id: self.client.target().fixtures.server_id.clone(),
            })
            .await;
        }
        match self.housekeeping_job(effect, body).await {
            Ok(j) if j.succeeded() => {
                if effect == Effect::Detach {
                    self.record(Entry::Detached {
                        port_id: port.to_string(),
                    })
                    .await;
                }
                Ok(())
            }
            Ok(j) => {
                let why = format!("the setup job ended {}", j.status);
                let expected = format!("the spare port {done} (case setup)");
                Err(SetupFailure {
                    reason: reason(&why),
                    finding: Some(self.setup_finding(effect, &expected, &why)),
                })
            }
            // The job query's own finding (e.g. a job that never ends) says more
            // than the setup's; a job not followed to its end says nothing.
            Err(e) => Err(SetupFailure {
                reason: reason(&e.message),
                finding: e.findings.into_iter().next(),
            }),
        }
    }

    async fn move_spare_nova(&self, effect: Effect, port: &str) -> Result<(), SetupFailure> {
        let outcome = match effect {
            Effect::Attach => {
                self.record(Entry::Attaching {
                    port_id: port.to_string(),
                    server_id: self.client.target().fixtures.server_id.clone(),
                })
                .await;
                self.nova_attach(port).await
            }
            Effect::Detach => {
                let done = self.nova_detach(&[port.to_string()]).await;
                if done.is_ok() {
                    self.record(Entry::Detached {
                        port_id: port.to_string(),
                    })
                    .await;
                }
                done
            }
        };
        outcome.map_err(|why| SetupFailure {
            reason: format!("the spare port {port} could not be moved: {why}"),
            finding: None,
        })
    }

    /// Detaches ports: through one batch-delete job where the target serves
    /// ECS (one job for many ports, whichever call attached them), through
    /// nova's detach, port by port, where it serves nova only.
    pub(super) async fn detach_ports(&self, ports: &[String]) -> Result<(), Error> {
        if self.ecs_served() {
            return self.detach_ports_ecs(ports).await;
        }
        self.nova_detach(ports).await.map_err(Error::Target)
    }

    /// Detaches a spare, other free `spares` and the run's created `riders`
    /// in one batch job; on success each is recorded detached.
    async fn detach_with(
        &self,
        spare: &str,
        riders: &[String],
        spares: &[String],
    ) -> Result<(), ()> {
        let mut ports = vec![spare.to_string()];
        ports.extend(spares.iter().cloned());
        ports.extend(riders.iter().cloned());
        tracing::info!(ports = ?ports, "setup: detaching spares with the run's NICs in one job");
        self.detach_ports_ecs(&ports).await.map_err(|_| ())?;
        for p in ports {
            self.record(crate::ledger::Entry::Detached { port_id: p })
                .await;
        }
        self.lab.addresses.ports_gone(riders);
        Ok(())
    }

    /// Detaches ports through a batch-delete job.
    async fn detach_ports_ecs(&self, ports: &[String]) -> Result<(), Error> {
        let body = json!({"nics": ports.iter().map(|p| json!({"id": p})).collect::<Vec<_>>()});
        match self.housekeeping_job(Effect::Detach, body).await {
            Ok(j) if j.succeeded() => Ok(()),
            Ok(j) => Err(Error::Target(format!("detach job ended {}", j.status))),
            Err(e) => Err(Error::Target(e.message)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waits(mut b: Backoff, n: usize) -> Vec<u64> {
        (0..n).map(|_| b.next_wait().as_millis() as u64).collect()
    }

    /// Against a cloud (job_poll 1 s): the first poll after 100 ms, doubling
    /// to the cap; once jobs are known to take 4 s, the first after 3 s, the
    /// next six a quarter of a second apart, then doubling.
    /// Against the in-process mock (8 ms): 1, 2, 4, 8 ms.
    #[test]
    fn polls_start_soon_back_off_to_the_cap_and_learn_the_job_time() {
        let second = Duration::from_secs(1);
        assert_eq!(
            waits(Backoff::new(second, None), 6),
            [100, 200, 400, 800, 1000, 1000]
        );
        assert_eq!(
            waits(Backoff::new(second, Some(Duration::from_secs(4))), 10),
            [3000, 250, 250, 250, 250, 250, 250, 500, 1000, 1000]
        );
        assert_eq!(
            waits(Backoff::new(Duration::from_millis(8), None), 5),
            [1, 2, 4, 8, 8]
        );
        // Jobs of 2 ms against the in-process mock: nothing to learn.
        let ms = Duration::from_millis;
        assert_eq!(waits(Backoff::new(ms(8), Some(ms(2))), 3), [1, 2, 4]);
        let clock = JobClock::default();
        for _ in 0..2 {
            clock.ended(Duration::from_secs(4));
        }
        assert_eq!(clock.typical(), None, "two jobs are not yet a habit");
        clock.ended(Duration::from_secs(4));
        assert_eq!(clock.typical(), Some(Duration::from_secs(4)));
        clock.ended(Duration::from_secs(9));
        assert_eq!(clock.typical(), Some(Duration::from_secs(5)));
    }
}
