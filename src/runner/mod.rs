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
mod dispatch;
pub mod event;
mod executor;
mod fields;
mod jobs;
mod lease;
mod observe;
mod options;
mod plan;
pub mod pool;
mod preflight;
mod record;
pub mod sequence;
mod shrink;
mod steps;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Map, Value};

use crate::case::Case;
use crate::contract::{Contract, Operation};
use crate::error::Error;
use crate::generate::{Generator, GeneratorCache};
use crate::http::Client;
use crate::snapshot::{Redactions, SnapshotStore};
use event::{CaseResult, Event, Reporter, RunEnd};
use observe::SharedListing;
pub use options::RunOptions;
use plan::Planned;
use pool::{Pool, PortState};
use preflight::Families;
use shrink::FailedCase;

pub struct Runner {
    contract: Arc<Contract>,
    client: Arc<Client>,
    opts: RunOptions,
    /// NICs the run created (not spares) and has not deleted yet.
    created: Mutex<Vec<String>>,
    leftovers: Mutex<Vec<String>>,
    cancelled: Arc<AtomicBool>,
    snapshots: Option<Arc<SnapshotStore>>,
    /// The fixture's spare port and any extra ones, with their known states.
    spares: Arc<Pool<PortState>>,
    /// The fixture's supplementary NIC and any extra ones.
    sub_nics: Arc<Pool<()>>,
    /// The attachment list, shared by the state checks of concurrent cases.
    listing: SharedListing,
    /// Plans and strategies, built once per run.
    generated: GeneratorCache,
    capture: Option<Redactions>,
    /// Failing generated cases, for `save_failures`.
    failed: Mutex<Vec<FailedCase>>,
    /// Jobs in a row that did not end in time (reset by one that does).
    jobs_timed_out: std::sync::atomic::AtomicUsize,
    /// The target's typical job time, for the first wait before a job poll.
    job_clock: jobs::JobClock,
    /// What the run did to the target, for `cleanup` after a crash (none for the built-in mock).
    ledger: std::sync::OnceLock<crate::ledger::Ledger>,
    /// The first ledger write that failed (said once, at the end).
    ledger_failed: Mutex<Option<String>>,
    /// The server's attachments before the run.
    attached_before: std::sync::OnceLock<Vec<String>>,
    /// Those no case may touch (all but the spares), with their addresses:
    /// what the frame rules compare every later listing with.
    untouchable: std::sync::OnceLock<Vec<(String, Vec<String>)>>,
    /// Untouchable NICs already reported changed (each is reported once).
    frame_reported: Mutex<std::collections::HashSet<String>>,
    /// Supplementary NICs' updatable fields before the run, and which the run changed.
    sub_nic_fields: std::sync::OnceLock<Vec<(String, Value)>>,
    sub_nics_changed: Mutex<Vec<String>>,
    /// Ports the server had before the run whose fields the run changed,
    /// with their fields before: put back at the end.
    port_fields: Mutex<Vec<(String, Value)>>,
    /// Every NIC the run created, deleted or not: what "back as it was" looks for.
    made: Mutex<Vec<String>>,
    /// Held by each case that may change the server: `limits.server_tasks` at once.
    server_tasks: tokio::sync::Semaphore,
    /// The API families the target serves (set by the preflight; all until then).
    families: std::sync::OnceLock<Families>,
    /// Addresses the cases may ask for: none another port or a running case holds.
    addresses: Arc<address_book::AddressBook>,
    /// Held by a case whose change is read back, from its request to its
    /// read: two such cases on the same fixture must not interleave.
    read_back: tokio::sync::Mutex<()>,
    /// When the run started: what `--time-budget` counts from.
    started: std::sync::OnceLock<Instant>,
}

impl Runner {
    pub fn new(contract: Arc<Contract>, client: Arc<Client>, opts: RunOptions) -> Runner {
        let f = &client.target().fixtures;
        // Later spares are taken first; the fixture's own spare is the last resort.
        let mut spares = vec![f.spare_port_id.clone()];
        spares.extend(f.extra_spare_port_ids.iter().rev().cloned());
        // The fixture's own supplementary NIC first: a serial run only uses it.
        let mut sub_nics: Vec<String> = f.extra_sub_network_interface_ids.clone();
        sub_nics.push(f.sub_network_interface_id.clone());
        sub_nics.retain(|n| !n.is_empty());
        let addresses = address_book::AddressBook::new(f);
        let server_tasks =
            (client.target().limits.server_tasks).clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        Runner {
            contract,
            client,
            opts,
            created: Mutex::default(),
            leftovers: Mutex::default(),
            cancelled: Arc::new(AtomicBool::new(false)),
            snapshots: None,
            spares: Pool::new(spares, PortState::Detached),
            sub_nics: Pool::new(sub_nics, ()),
            listing: SharedListing::default(),
            generated: GeneratorCache::default(),
            capture: None,
            failed: Mutex::default(),
            jobs_timed_out: Default::default(),
            job_clock: Default::default(),
            read_back: tokio::sync::Mutex::new(()),
            started: Default::default(),
            addresses,
            ledger: Default::default(),
            ledger_failed: Mutex::default(),
            attached_before: Default::default(),
            untouchable: Default::default(),
            frame_reported: Mutex::default(),
            sub_nic_fields: Default::default(),
            sub_nics_changed: Mutex::default(),
            port_fields: Mutex::default(),
            made: Mutex::default(),
            server_tasks: tokio::sync::Semaphore::new(server_tasks),
            families: Default::default(),
        }
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
        self.cancelled.clone()
    }

    fn generator(&self) -> Generator<'_> {
        let t = self.client.target();
        Generator::new(&self.contract, &t.fixtures, &t.project_id, self.opts.seed)
            .sharing(&self.generated)
    }

    /// Path parameters for an auxiliary request: the fixtures', then `extra`.
    fn params(&self, op: &Operation, extra: &[(&str, &str)]) -> Map<String, Value> {
        let t = self.client.target();
        let mut p = crate::case::default_path_params(op, &t.project_id, &t.fixtures);
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
        let _ = self.families.set(found.families);
        Ok(self.open_ledger(&found)?.into_iter().collect())
    }

    /// What [`Runner::run`] does after its last case: the NICs it made
    /// deleted, the spares detached, the fields put back. What is left, if anything.
    pub async fn close(&self) -> Vec<String> {
        self.final_cleanup().await;
        let mut left = self.leftovers.lock().map(|l| l.clone()).unwrap_or_default();
        if let Some(e) = self.ledger_failed.lock().ok().and_then(|f| f.clone()) {
            left.push(format!("the ledger could not be written: {e}"));
        }
        left
    }

    /// Runs the suite, streaming events to `reporter`. Never panics on a bad
    /// target; always ends with [`Event::RunFinished`].
    pub async fn run(self: &Arc<Self>, reporter: &mut dyn Reporter) {
        let started = Instant::now();
        let _ = self.started.set(started);
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
            end.interrupted = self.cancelled.load(Ordering::Relaxed);
            end.elapsed = started.elapsed();
            reporter.event(&Event::RunFinished(&end));
            return;
        }
        let found = match self.preflight().await {
            Ok(found) => found,
            Err(e) => {
                started_event(reporter, &planned);
                end.fatal = Some(e.to_string());
                reporter.event(&Event::RunFinished(&end));
                return;
            }
        };
        // Only what the target serves is run; the rest is "not served".
        let _ = self.families.set(found.families);
        let (planned, not_served) = self.served(planned, found.families);
        started_event(reporter, &planned);
        self.report_not_served(reporter, &not_served, found.families);
        match self.open_ledger(&found) {
            Ok(notice) => {
                if let Some(line) = notice {
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
        self.run_batch(curated, 1, reporter).await;
        self.run_sequences(sequences, reporter).await;
        self.run_batch(generated, width, reporter).await;
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
        end.interrupted = self.cancelled.load(Ordering::Relaxed);
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
            for line in self.save_failures(dir).await {
                reporter.event(&Event::Notice(&line));
            }
        }
        end.leftovers = self.close().await;
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
