//! The main job: fire cases at a target, follow jobs, observe state, clean
//! up, and stream what happened to reporters as [`event::Event`]s. Every
//! verdict is the judge's ([`crate::judge`]); the runner only observes.
//!
//! A case runs as: lease the mutable fixtures it needs (a spare port, a
//! supplementary NIC) → bring the spare into the state the case needs →
//! observe → send → judge the answer → follow the job → judge the resulting
//! state ([`steps`]). A leased fixture belongs to one case at a time, so any
//! concurrency gives the same verdicts as a serial run. NICs the run creates
//! are deleted in batches, and every spare is detached again at the end
//! ([`cleanup`]).

mod address_book;
mod cleanup;
mod clock;
mod dispatch;
mod estimate;
pub mod event;
mod executor;
mod fields;
mod jobs;
mod lab;
mod lease;
mod observe;
mod options;
mod plan;
pub mod pool;
mod preflight;
mod record;
pub mod sequence;
mod servers;
mod shrink;
mod steps;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde_json::{Map, Value};

use crate::case::Case;
use crate::contract::{Contract, Operation};
use crate::error::Error;
use crate::fixtures::Fixtures;
use crate::generate::{Generator, GeneratorCache};
use crate::http::Client;
use crate::snapshot::{Redactions, SnapshotStore};
pub use cleanup::CleanupReport;
pub use estimate::{Estimate, Model, Replayable};
use event::{CaseResult, Event, Reporter, RunEnd};
pub use options::RunOptions;
use plan::Planned;
use preflight::Families;
pub use preflight::Preflight;

pub struct Runner {
    contract: Arc<Contract>,
    client: Arc<Client>,
    opts: RunOptions,
    /// Set before the run (`with_snapshots`), read by the snapshot stage.
    snapshots: Option<Arc<SnapshotStore>>,
    /// Set before the run (`capturing_snapshots`): curated cases keep their rendered snapshot.
    capture: Option<Redactions>,
    /// Plans and strategies, built once per run (plan.rs, generate/).
    generated: GeneratorCache,
    /// What concurrent cases share and change, each piece with its owning stage.
    lab: lab::Lab,
    /// The server this runner's cases change, with its ports and the shared fixtures.
    fixtures: Arc<Fixtures>,
    /// The target's other servers (`extra_servers`), each with a runner of
    /// its own that takes cases from the same queue ([`servers`]).
    others: Vec<Arc<Runner>>,
}

impl Runner {
    pub fn new(contract: Arc<Contract>, client: Arc<Client>, opts: RunOptions) -> Runner {
        let tasks = client.target().limits.server_tasks;
        let mut servers = client.target().fixtures.servers().into_iter();
        let first = servers.next().unwrap_or_default();
        let lab = lab::Lab::new(&first, tasks);
        let others: Vec<Arc<Runner>> = servers
            .map(|f| {
                let lab = lab::Lab::beside(&f, tasks, &lab);
                let opts = opts.for_server(&f.server_id);
                let runner = Runner::of(contract.clone(), client.clone(), opts, lab, f);
                Arc::new(runner)
            })
            .collect();
        let mut opts = opts;
        if !others.is_empty() {
            opts.notices.push(format!(
                "{} servers: the generated cases take turns on each, the curated cases and sequences run on {} (a ledger per server)",
                1 + others.len(),
                first.server_id
            ));
        }
        Runner {
            others,
            ..Runner::of(contract, client, opts, lab, first)
        }
    }

    /// The runner of one server, with no other.
    fn of(
        contract: Arc<Contract>,
        client: Arc<Client>,
        opts: RunOptions,
        lab: lab::Lab,
        fixtures: Fixtures,
    ) -> Runner {
        Runner {
            contract,
            client,
            opts,
            snapshots: None,
            capture: None,
            generated: GeneratorCache::default(),
            lab,
            fixtures: Arc::new(fixtures),
            others: Vec::new(),
        }
    }

    /// This runner and those of the target's other servers.
    pub fn servers(&self) -> impl Iterator<Item = &Runner> {
        std::iter::once(self).chain(self.others.iter().map(|r| &**r))
    }

    /// The server this runner's cases change.
    pub fn server_id(&self) -> &str {
        &self.fixtures.server_id
    }

    /// Keeps each curated case's rendered snapshot in its result (for the insta harness).
    pub fn capturing_snapshots(mut self) -> Result<Runner, Error> {
        self.capture = Some(Redactions::from_contract(&self.contract)?);
        Ok(self)
    }

    /// Where the run's ledger is written, if it keeps one.
    pub fn ledger_path(&self) -> Option<&std::path::Path> {
        self.opts.ledger.as_deref()
    }

    /// A line every reporter gets when the run starts.
    pub fn notice(&mut self, line: &str) {
        self.opts.notices.push(line.to_string());
    }

    pub fn with_snapshots(mut self, store: Arc<SnapshotStore>) -> Runner {
        self.snapshots = Some(store);
        self
    }

    /// Set to stop dispatching cases (Ctrl-C); running cases finish and clean up.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.lab.cancelled.clone()
    }

    fn generator(&self) -> Generator<'_> {
        let t = self.client.target();
        Generator::new(
            &self.contract,
            &self.fixtures,
            &t.project_id,
            self.opts.seed,
        )
        .sharing(&self.generated)
    }

    /// Path parameters for an auxiliary request: the fixtures', then `extra`.
    fn params(&self, op: &Operation, extra: &[(&str, &str)]) -> Map<String, Value> {
        let t = self.client.target();
        let mut p = crate::case::default_path_params(op, &t.project_id, &self.fixtures);
        for (k, v) in extra {
            p.insert((*k).to_string(), Value::String((*v).to_string()));
        }
        p
    }

    fn replay(&self, case: &Case) -> String {
        match &self.opts.replay_template {
            Some(t) => t
                .replace("{seed}", &self.opts.seed.to_string())
                .replace("{case}", &case.id),
            None => format!(
                "{} --seed {} --case {}",
                self.opts.replay_prefix, self.opts.seed, case.id
            ),
        }
    }

    /// What [`Runner::run`] does before its first case, for a harness that
    /// runs the cases itself (the cargo-test face): the preflight (no
    /// baseline, no write) and the ledger. The notices to show.
    pub async fn open(&self) -> Result<Vec<String>, Error> {
        let found = self.preflight().await?;
        let _ = self.lab.families.set(found.families);
        Ok(self.open_ledger(&found)?.into_iter().collect())
    }

    /// What [`Runner::run`] does after its last case: the NICs it made
    /// deleted, the spares detached, the fields put back. What is left, if anything.
    pub async fn close(&self) -> Vec<String> {
        self.final_cleanup().await;
        let mut left = self
            .lab
            .leftovers
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default();
        if let Some(e) = self.lab.ledger_failed.lock().ok().and_then(|f| f.clone()) {
            left.push(format!("the ledger could not be written: {e}"));
        }
        left
    }

    /// Runs the suite, streaming events to `reporter`. Never panics on a bad
    /// target; always ends with [`Event::RunFinished`].
    pub async fn run(self: &Arc<Self>, reporter: &mut dyn Reporter) {
        let started = Instant::now();
        for runner in self.servers() {
            let _ = runner.lab.started.set(started);
        }
        let mut end = RunEnd::default();
        let target = &self.client.target().name;
        let planned = match self.plan() {
            Ok(p) => p,
            Err(e) => {
                end.fatal = Some(e.to_string());
                reporter.event(&Event::RunFinished(&end));
                return;
            }
        };
        let width = self.client.target().limits.concurrency.max(1);
        let started_event = |reporter: &mut dyn Reporter, planned: &[Planned]| {
            reporter.event(&Event::RunStarted {
                target,
                seed: self.opts.seed,
                cases: planned.iter().map(Planned::size).sum(),
                serial: (planned.iter())
                    .filter(|p| !matches!(p, Planned::Generated { .. }))
                    .map(Planned::size)
                    .sum(),
                width,
                shard: self.opts.shard,
            });
            for line in &self.opts.notices {
                reporter.event(&Event::Notice(line));
            }
        };
        if self.opts.dry_run {
            started_event(reporter, &planned);
            self.dry_run(&planned, reporter);
            end.interrupted = self.lab.cancelled.load(Ordering::Relaxed);
            end.elapsed = started.elapsed();
            reporter.event(&Event::RunFinished(&end));
            return;
        }
        let found = match self.preflight_servers().await {
            Ok(found) => found,
            Err(e) => {
                started_event(reporter, &planned);
                end.fatal = Some(e.to_string());
                reporter.event(&Event::RunFinished(&end));
                return;
            }
        };
        // Only what the target serves is run; the rest is "not served".
        let families = self.lab.families.get().copied().unwrap_or_default();
        let (planned, not_served) = self.served(planned, families);
        started_event(reporter, &planned);
        self.report_not_served(reporter, &not_served, families);
        match self.open_ledgers(&found).await {
            Ok(notices) => {
                for line in notices {
                    reporter.event(&Event::Notice(&line));
                }
            }
            Err(e) => {
                end.fatal = Some(e.to_string());
                reporter.event(&Event::RunFinished(&end));
                return;
            }
        }
        // Curated cases first, one at a time in file order, so the state they
        // see (and so their snapshots) is the same in every run.
        let (curated, generated): (Vec<Planned>, Vec<Planned>) = planned
            .into_iter()
            .partition(|p| !matches!(p, Planned::Generated { .. }));
        let (sequences, curated): (Vec<Planned>, Vec<Planned>) = curated
            .into_iter()
            .partition(|p| matches!(p, Planned::Sequence(_)));
        self.run_cases(curated, sequences, generated, reporter)
            .await;
        self.finish(&mut end, reporter).await;
        end.elapsed = started.elapsed();
        reporter.event(&Event::RunFinished(&end));
    }

    /// The operations the target does not serve, and the rules only they
    /// exercise: said once, neither failed nor undecided.
    fn report_not_served(
        &self,
        reporter: &mut dyn Reporter,
        not_served: &[String],
        families: Families,
    ) {
        if not_served.is_empty() {
            return;
        }
        let rules: Vec<String> = (self.contract.rules.iter())
            .filter(|r| not_served.contains(&r.operation))
            .map(|r| r.id.clone())
            .collect();
        let line = format!(
            "not served by this target, so not run: {} ({})",
            not_served.join(", "),
            families.describe()
        );
        reporter.event(&Event::Notice(&line));
        reporter.event(&Event::NotServed {
            operations: not_served,
            rules: &rules,
        });
    }

    /// After the last case: why the run ended, the failures saved, the
    /// target put back ([`Runner::close`]), the requests counted.
    async fn finish(&self, end: &mut RunEnd, reporter: &mut dyn Reporter) {
        end.interrupted = self.lab.cancelled.load(Ordering::Relaxed);
        // A target that stopped answering ends the run as unreachable (exit 2).
        if let Some(why) = self.client.failing() {
            end.fatal = Some(format!(
                "the target stopped answering, so no more cases were started: {why}\n  (check it is up; [limits] max_consecutive_failures sets how many failures in a row stop a run)"
            ));
        }
        end.stopped_at_max_requests = self
            .opts
            .max_requests
            .is_some_and(|m| self.client.counters().0 >= m);
        end.stopped_at_time_budget = self.time_spent();
        if let Some(dir) = &self.opts.save_failures {
            for runner in self.servers() {
                for line in runner.save_failures(dir).await {
                    reporter.event(&Event::Notice(&line));
                }
            }
        }
        end.leftovers = self.close_servers().await;
        (end.requests, end.retries) = self.client.counters();
    }

    /// The planned cases of the operations `families` serves, and the ids
    /// of the operations it does not.
    fn served(&self, planned: Vec<Planned>, families: Families) -> (Vec<Planned>, Vec<String>) {
        let not_served: Vec<String> = (self.contract.operations.iter())
            .filter(|op| !op.auxiliary && !families.serves(op))
            .map(|op| op.id.clone())
            .collect();
        let served = |op: &str| !not_served.iter().any(|id| id == op);
        let planned = planned
            .into_iter()
            .filter(|p| match p {
                Planned::Sequence(s) => s.operations().all(served),
                other => served(self.planned_operation(other)),
            })
            .collect();
        (planned, not_served)
    }

    /// The sequences, one after another, each step reported as a case.
    async fn run_sequences(&self, sequences: Vec<Planned>, reporter: &mut dyn Reporter) {
        for p in sequences {
            let Planned::Sequence(sequence) = p else {
                continue;
            };
            if self.stop_starting() {
                break;
            }
            for step in &sequence.steps {
                reporter.event(&Event::CaseStarted { id: &step.id });
            }
            for result in self.run_sequence(&sequence).await {
                reporter.event(&Event::CaseFinished(&result));
            }
        }
    }

    /// One planned case: generated now if need be, then run.
    async fn execute(&self, p: Planned) -> CaseResult {
        let (op, kind, index, made) = match p {
            Planned::Curated(c) => return self.run_case(&c).await,
            // Sequences never reach the dispatcher: `run` hands them to `run_sequences`.
            Planned::Sequence(s) => {
                return CaseResult {
                    case_id: s.steps[0].id.clone(),
                    operation: s.steps[0].operation.clone(),
                    error: Some("a sequence was dispatched as one case (a harness bug)".into()),
                    ..Default::default()
                };
            }
            Planned::Generated {
                op,
                kind,
                index,
                made,
            } => (op, kind, index, made),
        };
        let operation = &self.contract.operations[op];
        let made = made.map(|c| *c);
        let generator = self.generator();
        let Some(case) = made.or_else(|| generator.case(operation, kind, index)) else {
            // A plan's first case always exists; a later one only while it has something new to send.
            if generator.is_repeat(operation, kind, index) {
                return CaseResult {
                    case_id: crate::case::generated_id(&operation.id, kind, index),
                    operation: operation.id.clone(),
                    kind: Some(kind),
                    repeat: true,
                    ..Default::default()
                };
            }
            return CaseResult {
                case_id: crate::case::generated_id(&operation.id, kind, index),
                operation: operation.id.clone(),
                kind: Some(kind),
                error: Some(
                    "could not generate a request for this plan (report this as a harness bug)"
                        .into(),
                ),
                ..Default::default()
            };
        };
        let result = self.run_case(&case).await;
        self.remember_failure(op, kind, index, &result);
        result
    }
}

/// The deterministic seed used when none is given: time-based, printed in the summary.
pub fn fresh_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64 % 1_000_000_000)
        .unwrap_or(1)
}
