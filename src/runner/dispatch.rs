//! Which case starts next. In plan order, except where spare ports are
//! fewer than the cases in flight: then the next case is the first of the
//! next few that a free spare serves as it is (or that needs none), so a
//! spare is attached or detached for a case only when no case waiting can
//! use it as it stands. On a cloud each of those is a job of seconds.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use crate::runner::Runner;
use crate::runner::event::{CaseResult, Event, Reporter};
use crate::runner::lease::{needs_spare, wanted_spare_state};
use crate::runner::plan::Planned;
use crate::runner::pool::PortState;

/// How far past the next case the dispatcher looks for one a spare serves as it is.
const LOOKAHEAD: usize = 32;

/// A case waiting to start, and the spare state it needs once looked at
/// (`Some(None)`: it needs no spare).
struct Waiting {
    planned: Planned,
    need: Option<Option<PortState>>,
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
        let width = width.max(1);
        let scarce = self.lab.spares.len() < width;
        let mut queue: VecDeque<Waiting> = (planned.into_iter())
            .map(|planned| Waiting {
                planned,
                need: None,
            })
            .collect();
        let mut in_flight = FuturesUnordered::new();
        loop {
            while in_flight.len() < width && !queue.is_empty() && !self.stop_starting() {
                let next = match scarce {
                    true => self.pick(&mut queue),
                    false => queue.pop_front().map(|w| w.planned),
                };
                let Some(mut p) = next else { break };
                // A repeat with nothing new to send is settled here, without a task.
                if let Some(repeat) = self.settle_repeat(&mut p) {
                    reporter.event(&Event::CaseFinished(&repeat));
                    continue;
                }
                let id = self.planned_id(&p);
                reporter.event(&Event::CaseStarted { id: &id });
                let operation = self.planned_operation(&p).to_string();
                let runner = Arc::clone(self);
                let task = tokio::spawn(async move { runner.execute(p).await });
                in_flight.push(async move {
                    // A panic in a case is a harness bug, reported as that case's error.
                    task.await.unwrap_or_else(|e| CaseResult {
                        case_id: id,
                        operation,
                        error: Some(format!("the harness failed on this case (a bug): {e}")),
                        ..Default::default()
                    })
                });
            }
            let Some(result) = in_flight.next().await else {
                break;
            };
            reporter.event(&Event::CaseFinished(&result));
        }
    }

    /// Stopped (a signal), failing (the target stopped answering), or the request budget spent.
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

    /// The first of the next [`LOOKAHEAD`] cases that needs no spare or
    /// finds one free in the state it needs; else the next case.
    fn pick(&self, queue: &mut VecDeque<Waiting>) -> Option<Planned> {
        let window = queue.len().min(LOOKAHEAD);
        for i in 0..window {
            let need = self.need_of(&mut queue[i]);
            let ready = match need {
                None => true,
                Some(state) => self.lab.spares.has_free(|s| s == state),
            };
            if ready {
                return queue.remove(i).map(|w| w.planned);
            }
        }
        queue.pop_front().map(|w| w.planned)
    }

    /// The spare state a waiting case needs; a generated case is made now
    /// (and kept, so it is made once).
    fn need_of(&self, w: &mut Waiting) -> Option<PortState> {
        if let Some(need) = w.need {
            return need;
        }
        let f = &self.client.target().fixtures;
        let need = match &mut w.planned {
            Planned::Curated(c) => needs_spare(c, f).then(|| wanted_spare_state(c)),
            Planned::Sequence(s) => {
                needs_spare(&s.steps[0], f).then(|| wanted_spare_state(&s.steps[0]))
            }
            Planned::Generated {
                op,
                kind,
                index,
                made,
            } => {
                let operation = &self.contract.operations[*op];
                *made = self
                    .generator()
                    .case(operation, *kind, *index)
                    .map(Box::new);
                (made.as_deref())
                    .filter(|c| needs_spare(c, f))
                    .map(wanted_spare_state)
            }
        };
        w.need = Some(need);
        need
    }
}
