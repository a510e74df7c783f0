//! A target with several servers (`[[fixtures.extra_servers]]`): one
//! runner per server, each with its own spares, turn, listing and ledger.
//! The first server's runner runs the curated cases and the sequences (their
//! snapshots follow from one server's state); every runner takes generated
//! cases from one queue, the next that fits its server. A cloud makes one
//! change to a server at a time, so each server adds a turn.

use std::sync::{Arc, Mutex, PoisonError};

use crate::error::Error;
use crate::runner::Runner;
use crate::runner::dispatch::Queue;
use crate::runner::event::{Event, Reporter};
use crate::runner::plan::Planned;
use crate::runner::preflight::Preflight;

/// One runner's view of the run's reporter, shared by the runners of all
/// servers. The first server's also says the run's estimated wall time once
/// the target's job time is learnt ([`Runner::learnt_model`]).
struct Relay<'a, 'r> {
    shared: &'a Mutex<&'r mut dyn Reporter>,
    estimating: Option<&'a Runner>,
}

impl Reporter for Relay<'_, '_> {
    fn event(&mut self, event: &Event) {
        let mut reporter = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        reporter.event(event);
        let Event::CaseFinished(_) = event else {
            return;
        };
        let Some(runner) = self.estimating else {
            return;
        };
        if let Some(model) = runner.learnt_model() {
            self.estimating = None;
            if let Some(wall) = runner.wall_by(model) {
                reporter.event(&Event::Estimated { wall });
            }
        }
    }
}

impl Runner {
    /// Each server's preflight, the first server's first; a server that
    /// fails it stops the run before any write, named.
    pub(super) async fn preflight_servers(&self) -> Result<Vec<Preflight>, Error> {
        let mut found = Vec::new();
        for (i, runner) in self.servers().enumerate() {
            let f = runner.preflight().await.map_err(|e| match (i, e) {
                (0, e) => e,
                (_, Error::Target(m)) => {
                    Error::Target(format!("server {}: {m}", runner.server_id()))
                }
                (_, e) => e,
            })?;
            let _ = runner.lab.families.set(f.families);
            found.push(f);
        }
        Ok(found)
    }

    /// Each server's ledger opened with what its preflight found; when one
    /// cannot be, those already open are closed again (nothing was changed).
    pub(super) async fn open_ledgers(&self, found: &[Preflight]) -> Result<Vec<String>, Error> {
        let mut notices = Vec::new();
        for (i, (runner, f)) in self.servers().zip(found).enumerate() {
            match runner.open_ledger(f) {
                Ok(notice) => notices.extend(notice),
                Err(e) => {
                    for opened in self.servers().take(i) {
                        opened.close().await;
                    }
                    return Err(e);
                }
            }
        }
        Ok(notices)
    }

    /// The cases: the curated ones and the sequences on the first server,
    /// one at a time; the generated ones on every server, the run's
    /// concurrency shared among them.
    pub(super) async fn run_cases(
        self: &Arc<Self>,
        curated: Vec<Planned>,
        sequences: Vec<Planned>,
        generated: Vec<Planned>,
        reporter: &mut dyn Reporter,
    ) {
        let width = self.client.target().limits.concurrency.max(1);
        let servers = 1 + self.others.len();
        let share = |i: usize| (width / servers + usize::from(i < width % servers)).max(1);
        let queue = Queue::new(generated);
        let shared = Mutex::new(reporter);
        let first = async {
            let mut relay = Relay {
                shared: &shared,
                estimating: Some(&**self),
            };
            self.run_batch(curated, 1, &mut relay).await;
            self.run_sequences(sequences, &mut relay).await;
            self.dispatch(&queue, share(0), &mut relay).await;
        };
        let others = self.others.iter().enumerate().map(|(i, runner)| {
            let (queue, shared) = (&queue, &shared);
            async move {
                let mut relay = Relay {
                    shared,
                    estimating: None,
                };
                runner.dispatch(queue, share(i + 1), &mut relay).await
            }
        });
        futures::join!(first, futures::future::join_all(others));
    }

    /// Every server put back ([`Runner::close`]): what is left on any of them.
    pub(super) async fn close_servers(&self) -> Vec<String> {
        let mut left = Vec::new();
        for runner in self.servers() {
            left.extend(runner.close().await);
        }
        left
    }
}
