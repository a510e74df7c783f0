//! How long a run will take on a target, before any of it is spent: the
//! plan replayed against a model of the target (a read's round trip, a
//! job's length, the fixtures) by the dispatcher's own rules. On a cloud a
//! run is the server's turns one after another (a case that changes the
//! server, its spare's setup, its job and the clean-up of what it made),
//! with the other cases beside them on the remaining lanes.

use std::time::Duration;

use serde_json::Value;

use crate::case::Case;
use crate::contract::Effect;
use crate::error::Error;
use crate::runner::Runner;
use crate::runner::clock::Backoff;
use crate::runner::dispatch::{LOOKAHEAD, turn_rank};
use crate::runner::lease::{needs_spare, wanted_spare_state};
use crate::runner::plan::Planned;
use crate::runner::pool::PortState;

/// The most planned cases a run replays to tell its time left (about a
/// tenth of a second's work per thousand).
const MAX_REPLAYED_IN_PASSING: usize = 5_000;

/// Requests of a case besides its own: the listings before and after it.
const READS_PER_CASE: u32 = 2;

/// A run's predicted wall time and what it is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub cases: usize,
    /// Jobs waited for one after another on the server's turn.
    pub jobs: usize,
    /// Of those, the spares' setups and the clean-up of created NICs.
    pub housekeeping: usize,
    pub wall: Duration,
}

/// The model of a target a run is replayed against.
#[derive(Debug, Clone, Copy)]
pub struct Model {
    pub round_trip: Duration,
    pub job: Duration,
    /// Spare ports and supplementary NICs as the fixtures give them (or as
    /// many as a recommendation tries), on each server.
    pub spares: usize,
    /// Servers whose turns the cases share (the fixture's and `extra_servers`).
    pub servers: usize,
}

/// What the model knows of one case.
#[derive(Clone, Copy)]
struct Step {
    spare: Option<PortState>,
    on_turn: bool,
    succeeds: bool,
    job: bool,
    effect: Option<Effect>,
    creates: usize,
}

/// The replayed state: the spares' states and the NICs waiting to be deleted.
struct Replay {
    spares: Vec<PortState>,
    pending: usize,
    batch: usize,
    jobs: usize,
    housekeeping: usize,
}

impl Replay {
    /// The jobs one server case waits for: its spare's setup (carrying the
    /// waiting NICs and the other attached spares along when it detaches),
    /// its own, and a clean-up once `batch` NICs wait.
    fn server_case(&mut self, s: &Step) -> usize {
        let mut jobs = 0;
        if let Some(want) = s.spare {
            if !self.spares.contains(&want) {
                jobs += 1;
                self.housekeeping += 1;
                if want == PortState::Detached {
                    self.pending = 0;
                    self.spares
                        .iter_mut()
                        .for_each(|p| *p = PortState::Detached);
                } else {
                    self.spares[0] = want;
                }
            }
            if s.succeeds {
                let i = self.spares.iter().position(|p| *p == want).unwrap_or(0);
                match s.effect {
                    Some(Effect::Attach) => self.spares[i] = PortState::Attached,
                    Some(Effect::Detach) => self.spares[i] = PortState::Detached,
                    None => {}
                }
            }
        }
        jobs += usize::from(s.job && s.succeeds);
        self.pending += if s.succeeds { s.creates } else { 0 };
        if self.pending >= self.batch.max(1) {
            jobs += 1;
            self.housekeeping += 1;
            self.pending = 0;
        }
        self.jobs += jobs;
        jobs
    }
}

/// The plan this run would send, reduced to what the model needs of each
/// case: made once, replayed against as many models as asked.
pub struct Replayable {
    /// The curated cases and the sequences' steps: the first server's, one at a time.
    serial: Vec<Step>,
    generated: Vec<Step>,
    limits: crate::target::Limits,
}

impl Replayable {
    /// The plan replayed against `model`.
    pub fn estimate(&self, model: Model) -> Estimate {
        let limits = &self.limits;
        let rtt = model.round_trip;
        let job_wait = seen_after(model.job, rtt, limits.job_poll);
        let case_time = rtt * (1 + READS_PER_CASE);
        let new_replay = || Replay {
            spares: vec![PortState::Detached; model.spares.max(1)],
            pending: 0,
            batch: limits.cleanup_batch,
            jobs: 0,
            housekeeping: 0,
        };
        let mut replays: Vec<Replay> = (0..model.servers.max(1)).map(|_| new_replay()).collect();
        let mut clocks = vec![Duration::ZERO; replays.len()];
        for s in &self.serial {
            clocks[0] += case_time + job_wait * replays[0].server_case(s) as u32;
        }
        let serial = clocks[0];
        let (on, beside): (Vec<Step>, Vec<Step>) =
            self.generated.iter().copied().partition(|s| s.on_turn);
        let beside = case_time * beside.len() as u32;
        take_turns(on, &mut replays, &mut clocks, case_time, job_wait);
        // The end: on each server, its spares and the NICs still waiting, in one job.
        for (replay, clock) in replays.iter_mut().zip(&mut clocks) {
            if replay.pending > 0 || replay.spares.contains(&PortState::Attached) {
                replay.jobs += 1;
                replay.housekeeping += 1;
                *clock += job_wait;
            }
        }
        let cases = self.serial.len() + self.generated.len();
        let jobs: usize = replays.iter().map(|r| r.jobs).sum();
        let housekeeping = replays.iter().map(|r| r.housekeeping).sum();
        let others = limits.concurrency.saturating_sub(replays.len()).max(1) as u32;
        let turns = clocks.iter().max().copied().unwrap_or_default();
        let mut wall = turns.max(serial + beside / others);
        // A rate limit bounds it from below: every case's requests and each job's polls.
        if limits.rate_per_second > 0.0 {
            let polls = (job_wait.as_secs_f64() / limits.job_poll.as_secs_f64()).ceil() + 1.0;
            let requests = cases as f64 * f64::from(1 + READS_PER_CASE) + jobs as f64 * polls;
            wall = wall.max(Duration::from_secs_f64(requests / limits.rate_per_second));
        }
        Estimate {
            cases,
            jobs,
            housekeeping,
            wall,
        }
    }
}

impl Runner {
    /// The plan this run would send, replayed against `model`.
    pub fn estimate(&self, model: Model) -> Result<Estimate, Error> {
        Ok(self.replay_plan()?.estimate(model))
    }

    /// The plan this run would send, to replay against several models.
    pub fn replay_plan(&self) -> Result<Replayable, Error> {
        Ok(self.replayable(self.plan()?))
    }

    /// The plan, each case reduced to what the model needs of it.
    pub(super) fn replayable(&self, planned: Vec<Planned>) -> Replayable {
        let mut serial = Vec::new();
        let mut generated = Vec::new();
        let generator = self.generator();
        for p in &planned {
            match p {
                Planned::Curated(c) => serial.push(self.modelled(c)),
                Planned::Sequence(seq) => serial.extend(seq.steps.iter().map(|c| self.modelled(c))),
                Planned::Generated {
                    op, kind, index, ..
                } => {
                    let operation = &self.contract.operations[*op];
                    if let Some(case) = generator.case(operation, *kind, *index) {
                        generated.push(self.modelled(&case));
                    }
                }
            }
        }
        Replayable {
            serial,
            generated,
            limits: self.client.target().limits.clone(),
        }
    }

    fn modelled(&self, case: &Case) -> Step {
        let f = &self.fixtures;
        let op = self.contract.operation(&case.operation);
        let effect = [Effect::Attach, Effect::Detach]
            .into_iter()
            .find(|e| self.contract.effect_rule(&case.operation, *e).is_some());
        Step {
            spare: needs_spare(case, f).then(|| wanted_spare_state(case)),
            on_turn: self.changes_server(case),
            succeeds: self.expected_to_succeed(case),
            job: op.is_some_and(|o| o.is_async),
            effect,
            creates: match effect {
                Some(Effect::Attach) => created_by(case, f),
                _ => 0,
            },
        }
    }
}

impl Runner {
    /// The model of the target as the run has learnt it (a job's length and
    /// a read's round trip, from its job queries); none before (or on a
    /// target without jobs).
    pub(super) fn learnt_model(&self) -> Option<Model> {
        let clock = &self.lab.job_clock;
        Some(Model {
            round_trip: clock.round_trip()?,
            job: clock.length()?,
            spares: self.servers().map(|s| s.lab.spares.len()).min()?,
            servers: self.servers().count(),
        })
    }

    /// The run's wall time by `model`, replayed while the run goes on: none
    /// for a plan too big to replay in passing (a cloud's runs are far smaller).
    pub(super) fn wall_by(&self, model: Model) -> Option<Duration> {
        let planned = self.plan().ok()?;
        if planned.len() > MAX_REPLAYED_IN_PASSING {
            return None;
        }
        Some(self.replayable(planned).estimate(model).wall)
    }

    /// A read's round trip: the median of three listings of the server
    /// (sent outside the rate limit, which the estimate counts apart).
    pub async fn round_trip(&self) -> Option<Duration> {
        let op = self.listing_operation()?;
        let request = self.client.prepare(op, &self.params(op, &[]), None);
        let mut times = Vec::new();
        for _ in 0..3 {
            let started = std::time::Instant::now();
            let answer = self.client.fetch(&request).await.ok()?;
            if answer.status != 200 {
                return None;
            }
            times.push(started.elapsed());
        }
        times.sort();
        times.get(1).copied()
    }

    /// A job's length, measured: the spare attached and detached again
    /// (two jobs), recorded in the ledger like a run's setup, and the
    /// target put back as it was. The mean of the two, each taken halfway
    /// between the poll that saw it run and the one that saw it end.
    pub async fn probe_job(
        &self,
        found: &crate::runner::Preflight,
        round_trip: Duration,
    ) -> Result<Duration, Error> {
        let cap = self.client.target().limits.job_poll;
        self.open_ledger(found)?;
        let measured = async {
            let mut spare = (self.lab.spares.take_port(PortState::Detached).await)
                .ok_or_else(|| Error::Target("no spare port to probe a job with".into()))?;
            let started = std::time::Instant::now();
            for want in [PortState::Attached, PortState::Detached] {
                (self.ready_spare(&mut spare, want).await)
                    .map_err(|f| Error::Target(format!("the probe's job failed: {}", f.reason)))?;
            }
            // The job clock holds the time from each answer to the poll that
            // saw the end; a nova-only target has no job: its attach and
            // detach, as long as they took, stand for one.
            Ok(match self.lab.job_clock.average() {
                Some(seen) => ended_within(seen, round_trip, cap),
                None => started.elapsed() / 2,
            })
        }
        .await;
        let left = self.close().await;
        if !left.is_empty() {
            return Err(Error::Target(format!(
                "the probe could not put the target back: {}",
                left.join("; ")
            )));
        }
        measured
    }
}

/// NICs a request that attaches would create: those naming no spare port.
fn created_by(case: &Case, f: &crate::fixtures::Fixtures) -> usize {
    let Some(body) = &case.body else { return 0 };
    let names_spare = |v: &Value| {
        v.get("port_id")
            .or_else(|| v.get("interfaceAttachment").and_then(|a| a.get("port_id")))
            .and_then(Value::as_str)
            .is_some_and(|p| f.is_spare(p))
    };
    match body.get("nics").and_then(Value::as_array) {
        Some(nics) => nics.iter().filter(|n| !names_spare(n)).count(),
        None => usize::from(!names_spare(body)),
    }
}

/// The cases on the servers' turns, as the dispatchers take them from
/// their shared queue: the server that is free first takes the best of the
/// next [`LOOKAHEAD`] for its spares as they stand (one ready before one
/// that moves its spare, before one that needs a setup; see `dispatch.rs`).
/// Each server's clock runs on by the case's round trips and jobs.
fn take_turns(
    on: Vec<Step>,
    replays: &mut [Replay],
    clocks: &mut [Duration],
    case_time: Duration,
    job_wait: Duration,
) {
    let mut waiting: std::collections::VecDeque<Step> = on.into();
    while !waiting.is_empty() {
        let free = (0..clocks.len()).min_by_key(|&i| clocks[i]).unwrap_or(0);
        let replay = &mut replays[free];
        let rank = |s: &Step| {
            let ready = s.spare.is_none_or(|want| replay.spares.contains(&want));
            turn_rank(ready, s.spare.is_some() && s.succeeds)
        };
        let window = waiting.len().min(LOOKAHEAD);
        let best = (0..window).min_by_key(|&i| rank(&waiting[i])).unwrap_or(0);
        let Some(s) = waiting.remove(best) else { break };
        clocks[free] += case_time + job_wait * replay.server_case(&s) as u32;
    }
}

/// The middle of the span a job seen to end `seen` after its request's
/// answer (polled from cold: nothing learnt yet) ended in: after the poll
/// before the one that saw it.
fn ended_within(seen: Duration, rtt: Duration, cap: Duration) -> Duration {
    let mut backoff = Backoff::new(cap, None);
    let mut before = Duration::ZERO;
    loop {
        let wait = backoff.next_wait();
        let next = before + wait + rtt;
        // A poll lands a little after its nominal time (timers, the client's own work).
        let late = rtt + wait / 10;
        if next + late >= seen || next > Duration::from_secs(3600) {
            return (before + seen) / 2;
        }
        before = next;
    }
}

/// When a job of `job` is seen to end, polled as a run polls once it has
/// learnt the job time (each poll a round trip).
fn seen_after(job: Duration, rtt: Duration, cap: Duration) -> Duration {
    let mut backoff = Backoff::new(cap, Some(job));
    let mut at = rtt; // the request that starts it
    let mut waited = Duration::ZERO;
    while waited < job && waited < Duration::from_secs(3600) {
        let wait = backoff.next_wait();
        waited += wait + rtt;
        at += wait + rtt;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2 s job polled from cold (after 100, 200, 400, 800, 1000 ms, each
    /// poll a 100 ms round trip) is seen to end 3 s after its answer; it
    /// ended after the poll at 1.9 s.
    #[test]
    fn a_probed_job_is_taken_between_the_last_two_polls() {
        let ms = Duration::from_millis;
        assert_eq!(ended_within(ms(3000), ms(100), ms(1000)), ms(2450));
        assert_eq!(
            ended_within(ms(3050), ms(100), ms(1000)),
            ms(2475),
            "a late poll"
        );
        assert_eq!(ended_within(ms(200), ms(100), ms(1000)), ms(100));
    }

    #[test]
    fn a_job_is_seen_soon_after_it_ends() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        let seen = seen_after(s(10), ms(100), s(1));
        assert!(seen >= s(10) && seen <= s(11), "{seen:?}");
        let seen = seen_after(s(2), ms(100), s(1));
        assert!(seen >= s(2) && seen <= ms(2500), "{seen:?}");
    }
}
