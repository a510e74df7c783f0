//! Following jobs: a case's own job, and the jobs the runner starts itself
//! to attach or detach fixtures (setup and cleanup).

use std::sync::atomic::Ordering;
use std::time::Instant;

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
use crate::runner::clock::Backoff;
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
        // When a poll last saw the job running, from the request's answer.
        let mut running = std::time::Duration::ZERO;
        loop {
            tokio::time::sleep(backoff.next_wait()).await;
            match self.client.send(op, &params, None).await {
                Ok(answer) => {
                    self.lab.job_clock.polled(answer.elapsed);
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
                            (self.lab.job_clock).ended_between(running, started.elapsed());
                            let f =
                                fail_reason_conformance(&self.contract, case, &body, curl.as_str());
                            findings.extend(f);
                            return Ok((outcome, findings));
                        }
                        JobAnswer::Running(status) => {
                            tracing::debug!(job = %job_id, case = %case.id, "job {status}");
                            running = started.elapsed();
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
                server_id: self.fixtures.server_id.clone(),
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
                    server_id: self.fixtures.server_id.clone(),
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
