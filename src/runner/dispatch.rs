//! Which case starts next. In plan order, except where the target is
//! scarce: fewer spare ports than cases in flight, or fewer server tasks
//! (`limits.server_tasks`) than cases in flight. Then the next case is
//! picked from the next few by what it needs: while a case holds the
//! server's turn, one that leaves the server alone; while the turn is
//! free, one that changes the server and finds a spare as it stands (one
//! that would leave its spare where it found it before one that moves it).
//! A spare is attached or detached for a case only when no case waiting can
//! use it as it stands. On a cloud each of those is a job of seconds, and
//! the server's turn is what a run waits for.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use crate::case::Case;
use crate::fixtures::Fixtures;
use crate::runner::Runner;
use crate::runner::event::{CaseResult, Event, Reporter};
use crate::runner::lease::{needs_spare, wanted_spare_state};
use crate::runner::plan::Planned;
use crate::runner::pool::PortState;

/// How far past the next case the dispatcher looks for one that fits: far
/// enough to hold a run's distinct cases of every operation, near enough
/// that the cases made ahead (kept until they run) stay a few megabytes.
pub(super) const LOOKAHEAD: usize = 512;

/// A case waiting to start, and what it needs once looked at.
struct Waiting {
    planned: Planned,
    looked: Option<Looked>,
    /// The server the case was made for when looked at: another server's
    /// runner makes it again for its own (what it needs is the same).
    made_for: Option<Arc<Fixtures>>,
}

/// The cases waiting to start, in plan order: one runner's, or shared by
/// the runners of a target's servers, each taking the next that fits it.
pub(super) struct Queue(parking_lot::Mutex<VecDeque<Waiting>>);

impl Queue {
    pub(super) fn new(planned: Vec<Planned>) -> Queue {
        let waiting = planned.into_iter().map(|planned| Waiting {
            planned,
            looked: None,
            made_for: None,
        });
        Queue(parking_lot::Mutex::new(waiting.collect()))
    }

    fn is_empty(&self) -> bool {
        self.0.lock().is_empty()
    }
}

/// What the dispatcher knows of a waiting case.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Looked {
    /// The spare state it needs (`None`: it needs no spare).
    spare: Option<PortState>,
    /// It may change the server, so it holds the server's turn.
    changes_server: bool,
    /// It is expected to succeed, so a spare it names is moved by the case itself.
    moves_spare: bool,
    /// A plan's first case (under a time budget these all run first).
    covering: bool,
}

impl Runner {
    /// Runs cases `width` at a time, each as a task of its own so that
    /// generating and judging use every core, streaming results to `reporter`.
    pub(super) async fn run_batch(
        self: &Arc<Self>,
        planned: Vec<Planned>,
        width: usize,
        reporter: &mut dyn Reporter,
    ) {
        self.dispatch(&Queue::new(planned), width, reporter).await
    }

    /// Takes cases from `queue` until it is empty, `width` in flight at once.
    pub(super) async fn dispatch(
        self: &Arc<Self>,
        queue: &Queue,
        width: usize,
        reporter: &mut dyn Reporter,
    ) {
        let width = width.max(1);
        let lanes = self.client.target().limits.server_tasks.max(1);
        let choosy = self.lab.spares.len() < width || lanes < width;
        // Cases in flight that hold (or wait for) one of the server's turns.
        let mut on_server = 0usize;
        let mut in_flight = FuturesUnordered::new();
        loop {
            while in_flight.len() < width && !queue.is_empty() && !self.stop_starting() {
                let next = match choosy {
                    true => self.pick(&mut queue.0.lock(), on_server >= lanes),
                    false => (queue.0.lock().pop_front()).map(|w| (self.made_here(w), None)),
                };
                let Some((mut p, looked)) = next else { break };
                // A repeat with nothing new to send is settled here, without a task.
                if let Some(repeat) = self.settle_repeat(&mut p) {
                    reporter.event(&Event::CaseFinished(&repeat));
                    continue;
                }
                let id = self.planned_id(&p);
                reporter.event(&Event::CaseStarted { id: &id });
                let operation = self.planned_operation(&p).to_string();
                let holds_turn = looked.is_some_and(|l| l.changes_server);
                on_server += usize::from(holds_turn);
                let runner = Arc::clone(self);
                let task = tokio::spawn(async move { runner.execute(p).await });
                in_flight.push(async move {
                    // A panic in a case is a harness bug, reported as that case's error.
                    let result = task.await.unwrap_or_else(|e| CaseResult {
                        case_id: id,
                        operation,
                        error: Some(format!("the harness failed on this case (a bug): {e}")),
                        ..Default::default()
                    });
                    (result, holds_turn)
                });
            }
            let Some((result, held_turn)) = in_flight.next().await else {
                break;
            };
            on_server -= usize::from(held_turn);
            reporter.event(&Event::CaseFinished(&result));
        }
    }

    /// Makes a generated case that is a later round of its plan: the repeat
    /// result when the plan has nothing new left, else `None` with the case
    /// kept in `p` for its task.
    fn settle_repeat(&self, p: &mut Planned) -> Option<CaseResult> {
        let Planned::Generated {
            op,
            kind,
            index,
            made: made @ None,
        } = p
        else {
            return None;
        };
        let operation = &self.contract.operations[*op];
        let generator = self.generator();
        if *index < generator.plans(operation, *kind).len() {
            return None; // a plan's first case always runs (or is a harness error)
        }
        *made = generator.case(operation, *kind, *index).map(Box::new);
        (made.is_none() && generator.is_repeat(operation, *kind, *index)).then(|| CaseResult {
            case_id: crate::case::generated_id(&operation.id, *kind, *index),
            operation: operation.id.clone(),
            kind: Some(*kind),
            repeat: true,
            ..Default::default()
        })
    }

    /// Stopped (a signal), failing (the target stopped answering), or the request budget spent.
    pub(super) fn stop_starting(&self) -> bool {
        self.lab.cancelled.load(Ordering::Relaxed)
            || self.client.failing().is_some()
            || (self.opts.max_requests).is_some_and(|m| self.client.counters().0 >= m)
            || self.time_spent()
    }

    /// Whether `--time-budget` is spent (counted from the start of the run).
    pub(super) fn time_spent(&self) -> bool {
        match (self.opts.time_budget, self.lab.started.get()) {
            (Some(budget), Some(started)) => started.elapsed() >= budget,
            _ => false,
        }
    }

    /// The best of the next [`LOOKAHEAD`] cases (see [`Runner::rank`]),
    /// the first of them on a tie; none while every server turn is taken
    /// and every case waiting needs one. Under a time budget the window ends
    /// where the covering round does, so every plan's first case still
    /// runs before any second round.
    fn pick(
        &self,
        queue: &mut VecDeque<Waiting>,
        turn_taken: bool,
    ) -> Option<(Planned, Option<Looked>)> {
        let mut best: Option<(u8, usize)> = None;
        let mut round = None;
        for (i, waiting) in queue.iter_mut().take(LOOKAHEAD).enumerate() {
            let looked = self.look(waiting);
            if self.opts.time_budget.is_some()
                && *round.get_or_insert(looked.covering) != looked.covering
            {
                break;
            }
            let rank = self.rank(looked, turn_taken);
            if best.is_none_or(|(r, _)| rank < r) {
                best = Some((rank, i));
            }
            if rank == 0 {
                break;
            }
        }
        let (rank, i) = best?;
        // Every turn is taken and only cases that need one wait: start none
        // now, so the next is chosen when a turn and its spare are free again.
        if turn_taken && rank > 0 {
            return None;
        }
        let waiting = queue.remove(i)?;
        let looked = waiting.looked;
        Some((self.made_here(waiting), looked))
    }

    /// The waiting case as this runner sends it: one made for another
    /// server is made again, for this one.
    fn made_here(&self, w: Waiting) -> Planned {
        let mut planned = w.planned;
        let elsewhere = w.made_for.is_some_and(|f| !Arc::ptr_eq(&f, &self.fixtures));
        if let (true, Planned::Generated { made, .. }) = (elsewhere, &mut planned) {
            *made = None;
        }
        planned
    }

    /// Lower starts sooner. While another case holds the server's turn, a
    /// case that leaves the server alone runs beside it. While the turn is
    /// free, a case that takes it: first one whose spare is free as it
    /// stands and stays so, then one that moves its spare (a case of the
    /// other state becomes ready), then one that needs a spare moved first;
    /// a case that leaves the server alone last.
    fn rank(&self, looked: Looked, turn_taken: bool) -> u8 {
        let ready = looked
            .spare
            .is_none_or(|state| self.lab.spares.has_free(|s| s == state));
        let on_turn = turn_rank(ready, looked.moves_spare && looked.spare.is_some());
        match (looked.changes_server, turn_taken) {
            (false, true) => 0,
            (false, false) => 3,
            (true, true) => 1 + on_turn,
            (true, false) => on_turn,
        }
    }

    /// What a waiting case needs; a generated case is made now (and kept,
    /// so it is made once).
    fn look(&self, w: &mut Waiting) -> Looked {
        if let Some(looked) = w.looked {
            return looked;
        }
        let (case, covering): (Option<&Case>, bool) = match &mut w.planned {
            Planned::Curated(c) => (Some(&**c), true),
            Planned::Sequence(s) => (s.steps.first(), true),
            Planned::Generated {
                op,
                kind,
                index,
                made,
            } => {
                let operation = &self.contract.operations[*op];
                let generator = self.generator();
                *made = generator.case(operation, *kind, *index).map(Box::new);
                let covering = *index < generator.plans(operation, *kind).len();
                (made.as_deref(), covering)
            }
        };
        let f = &self.fixtures;
        let looked = Looked {
            spare: case.filter(|c| needs_spare(c, f)).map(wanted_spare_state),
            changes_server: case.is_some_and(|c| self.changes_server(c)),
            moves_spare: case.is_some_and(|c| self.expected_to_succeed(c)),
            covering,
        };
        w.looked = Some(looked);
        w.made_for = Some(self.fixtures.clone());
        looked
    }
}

/// Among cases that take the server's turn, lower starts sooner: one whose
/// spare is free as it stands and stays so, then one that moves its spare,
/// then one that needs its spare moved first. The estimate ranks by it too.
pub(super) fn turn_rank(ready: bool, moves_spare: bool) -> u8 {
    match (ready, moves_spare) {
        (true, false) => 0,
        (true, true) => 1,
        (false, _) => 2,
    }
}
