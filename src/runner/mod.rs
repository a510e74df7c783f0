//! The main job: fire cases at a target, judge every response, follow jobs,
//! observe state, clean up, and stream results into a [`Summary`].
//!
//! A case runs as: lease the mutable fixtures it needs (a spare port, a
//! supplementary NIC) → bring the spare into the state the case needs →
//! observe → send → check the response → follow the job → check the
//! resulting state. A leased fixture belongs to one case at a time, so any
//! concurrency gives the same verdicts as a serial run. NICs the run creates
//! are deleted in batches, and every spare is detached again at the end.

pub mod client;
pub mod listing;
pub mod pool;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt;
use serde_json::{Map, Value, json};

use crate::case::{Case, CaseKind, load_curated};
use crate::checks::{self, Judged, StatusOutcome};
use crate::contract::{Check, Contract, Effect, Operation, Setup};
use crate::generate::{Generator, GeneratorCache};
use crate::report::{CaseResult, Finding, Summary};
use crate::snapshot::SnapshotStore;
use client::{Client, Curl, Exchange, TransportErrorKind};
use listing::{Listing, ListingResult, SharedListing};
use pool::{Pool, PortState};

type SpareLease = pool::Lease<PortState>;

/// How progress is shown while a run goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// An indicatif bar on standard error.
    Bar,
    /// One line per failing case and a line every 10% (not a terminal).
    Lines,
    Quiet,
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub seed: u64,
    /// Generated cases per operation and kind; `None`: 25, and never fewer than
    /// the plans of a kind (so every keyword and rule gets a case).
    pub budget: Option<usize>,
    pub kinds: Vec<CaseKind>,
    pub include_curated: bool,
    pub cases_dir: Option<PathBuf>,
    /// Only these operations (empty: all five).
    pub operations: Vec<String>,
    pub skip: Vec<String>,
    /// Only the case with this id.
    pub case_filter: Option<String>,
    /// (K, N): run the K-th of N shards (1-based).
    pub shard: Option<(usize, usize)>,
    pub max_requests: Option<u64>,
    pub dry_run: bool,
    pub progress: Progress,
    pub keep_junit: bool,
    /// How a failing case can be replayed (`--target FILE` is added when there is one).
    pub replay_prefix: String,
    /// Shrink failing generated cases and save them here as curated regression cases.
    pub save_failures: Option<PathBuf>,
}

impl RunOptions {
    pub fn new(seed: u64) -> RunOptions {
        RunOptions {
            seed,
            budget: None,
            kinds: CaseKind::GENERATED.to_vec(),
            include_curated: true,
            cases_dir: Some(PathBuf::from("cases")),
            operations: Vec::new(),
            skip: Vec::new(),
            case_filter: None,
            shard: None,
            max_requests: None,
            dry_run: false,
            progress: Progress::Quiet,
            keep_junit: false,
            replay_prefix: "nic-conformance run".into(),
            save_failures: None,
        }
    }
}

/// A case to run: curated ones are loaded, generated ones made when their turn comes.
#[derive(Debug, Clone)]
enum Planned {
    Curated(Box<Case>),
    Generated {
        op: usize,
        kind: CaseKind,
        index: usize,
    },
}

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
    capture: Option<crate::snapshot::Redactions>,
    /// Failing generated cases (operation index, kind, index, finding ids), for `save_failures`.
    failed: Mutex<Vec<FailedCase>>,
}

/// Whether any string in `v` is `id`.
fn mentions(v: &Value, id: &str) -> bool {
    match v {
        Value::String(s) => s == id,
        Value::Array(items) => items.iter().any(|i| mentions(i, id)),
        Value::Object(map) => map.values().any(|i| mentions(i, id)),
        _ => false,
    }
}

/// Replaces every string equal to `from` in `v` with `to`.
fn replace_string(v: &mut Value, from: &str, to: &str) {
    match v {
        Value::String(s) if s == from => *s = to.to_string(),
        Value::Array(items) => items.iter_mut().for_each(|i| replace_string(i, from, to)),
        Value::Object(map) => map.values_mut().for_each(|i| replace_string(i, from, to)),
        _ => {}
    }
}

/// What a case holds while it runs; dropping it returns the fixtures to their pools.
struct Lease {
    spare: Option<SpareLease>,
    sub_nic: Option<pool::Lease<()>>,
}

/// A failing generated case: operation index, kind, index, and the ids it broke.
type FailedCase = (usize, CaseKind, usize, BTreeSet<String>);

/// At most this many failing cases are shrunk and saved per run.
const MAX_SAVED_FAILURES: usize = 20;

/// What a finished job said.
struct JobOutcome {
    status: String,
    nic_ids: Vec<String>,
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
        }
    }

    /// Keeps each curated case's rendered snapshot in its result (for the insta harness).
    pub fn capturing_snapshots(mut self) -> Result<Runner, String> {
        self.capture = Some(crate::snapshot::Redactions::from_contract(&self.contract)?);
        Ok(self)
    }

    pub fn with_snapshots(mut self, store: Arc<SnapshotStore>) -> Runner {
        self.snapshots = Some(store);
        self
    }

    /// Set to stop dispatching cases (Ctrl-C); running cases finish and clean up.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancelled.clone()
    }

    fn selected_ops(&self) -> Vec<usize> {
        self.contract
            .operations
            .iter()
            .enumerate()
            .filter(|(_, op)| !op.auxiliary)
            .filter(|(_, op)| {
                self.opts.operations.is_empty() || self.opts.operations.contains(&op.id)
            })
            .filter(|(_, op)| !self.opts.skip.contains(&op.id))
            .map(|(i, _)| i)
            .collect()
    }

    fn generator(&self) -> Generator<'_> {
        let t = self.client.target();
        Generator::new(&self.contract, &t.fixtures, &t.project_id, self.opts.seed)
            .sharing(&self.generated)
    }

    /// The whole suite in its stable order, filtered by `--case` and `--shard`.
    fn plan(&self) -> Result<Vec<Planned>, String> {
        let t = self.client.target();
        let ops = self.selected_ops();
        let mut planned = Vec::new();
        if self.opts.include_curated {
            if let Some(dir) = &self.opts.cases_dir {
                if dir.exists() {
                    let cases = load_curated(dir, &self.contract, &t.project_id, &t.fixtures)
                        .map_err(|e| e.to_string())?;
                    planned.extend(
                        cases
                            .into_iter()
                            .filter(|c| {
                                ops.iter()
                                    .any(|&i| self.contract.operations[i].id == c.operation)
                            })
                            .map(|c| Planned::Curated(Box::new(c))),
                    );
                }
            }
        }
        let generator = self.generator();
        let mut streams = Vec::new();
        for &i in &ops {
            let op = &self.contract.operations[i];
            for &kind in &self.opts.kinds {
                let plans = generator.plans(op, kind).len();
                if plans == 0 {
                    continue; // e.g. no boundary in a body of one boolean
                }
                let count = match self.opts.budget {
                    Some(n) => n,
                    None if kind == CaseKind::Valid => 25,
                    None => plans.max(25),
                };
                streams.push((i, kind, count));
            }
        }
        // Interleaved (index by index across operations and kinds): cases that
        // attach spares alternate with cases that detach them, so the pool stays
        // balanced, and every stretch of the run mixes slow and quick cases.
        let longest = streams.iter().map(|s| s.2).max().unwrap_or(0);
        for index in 0..longest {
            planned.extend(
                streams
                    .iter()
                    .filter(|s| index < s.2)
                    .map(|&(op, kind, _)| Planned::Generated { op, kind, index }),
            );
        }
        if let Some(id) = &self.opts.case_filter {
            planned.retain(|p| self.planned_id(p) == *id);
        }
        if let Some((k, n)) = self.opts.shard {
            planned = planned
                .into_iter()
                .enumerate()
                .filter(|(i, _)| i % n == k - 1)
                .map(|(_, p)| p)
                .collect();
        }
        Ok(planned)
    }

    fn planned_id(&self, p: &Planned) -> String {
        match p {
            Planned::Curated(c) => c.id.clone(),
            Planned::Generated { op, kind, index } => format!(
                "{}::{}::{index}",
                self.contract.operations[*op].id,
                kind.as_str()
            ),
        }
    }

    /// The ids of the cases the options select, without sending anything.
    pub fn list(&self) -> Result<Vec<String>, String> {
        Ok(self.plan()?.iter().map(|p| self.planned_id(p)).collect())
    }

    fn replay(&self, case: &Case) -> String {
        format!(
            "{} --seed {} --case {}",
            self.opts.replay_prefix, self.opts.seed, case.id
        )
    }

    /// Checks that the target answers at all; an unreachable target stops the run (exit 2).
    async fn preflight(&self) -> Result<(), String> {
        let t = self.client.target();
        let Some(list) = self.contract.operation("list-interfaces") else {
            return Ok(());
        };
        let params = self.params(list, &[]);
        match self.client.send(list, &params, None).await {
            Ok(x) if x.status == 401 || x.status == 403 => Err(format!(
                "the target refused the credentials ({} on {}{})\n  (check [auth] in the target file and the environment variables it names)",
                x.status,
                t.ecs_url,
                list.render_path(&params)
            )),
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.kind,
                    TransportErrorKind::Connect | TransportErrorKind::Timeout
                ) =>
            {
                Err(format!(
                    "target unreachable at {}: {e}\n  (check target.ecs_url and the network or proxy settings)",
                    t.ecs_url
                ))
            }
            Err(_) => Ok(()), // a misbehaving target is judged case by case
        }
    }

    fn params(&self, op: &Operation, extra: &[(&str, &str)]) -> Map<String, Value> {
        let t = self.client.target();
        let mut p = crate::case::default_path_params(op, &t.project_id, &t.fixtures);
        for (k, v) in extra {
            p.insert((*k).to_string(), Value::String((*v).to_string()));
        }
        p
    }

    /// Runs the suite; never panics on a bad target, and always returns a summary.
    pub async fn run(self: &Arc<Self>) -> Summary {
        let started = Instant::now();
        let t = self.client.target();
        let mut summary = Summary::new(
            &self.contract,
            &t.name,
            self.opts.seed,
            self.opts.keep_junit,
        );
        let planned = match self.plan() {
            Ok(p) => p,
            Err(e) => {
                summary.fatal = Some(e);
                return summary;
            }
        };
        if self.opts.dry_run {
            self.print_dry_run(&planned);
            summary.elapsed = started.elapsed();
            return summary;
        }
        if let Err(e) = self.preflight().await {
            summary.fatal = Some(e);
            return summary;
        }
        let total = planned.len() as u64;
        let bar = match self.opts.progress {
            Progress::Bar => {
                let bar = indicatif::ProgressBar::new(total);
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} cases {msg}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                Some(bar)
            }
            _ => None,
        };
        let concurrency = t.limits.concurrency.max(1);
        // Curated cases first, one at a time in file order, so the state they
        // see (and so their snapshots) is the same in every run.
        let (curated, generated): (Vec<Planned>, Vec<Planned>) = planned
            .into_iter()
            .partition(|p| matches!(p, Planned::Curated(_)));
        let mut done = 0u64;
        for (batch, width) in [(curated, 1), (generated, concurrency)] {
            self.run_batch(batch, width, &mut summary, bar.as_ref(), &mut done, total)
                .await;
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        summary.interrupted = self.cancelled.load(Ordering::Relaxed);
        if let Some(dir) = &self.opts.save_failures {
            for saved in self.save_failures(dir).await {
                match saved {
                    Ok(line) => eprintln!("{line}"),
                    Err(e) => eprintln!("error: {e}"),
                }
            }
        }
        self.final_cleanup().await;
        summary.leftovers = self.leftovers.lock().map(|l| l.clone()).unwrap_or_default();
        let (requests, retries) = self.client.counters();
        summary.requests = requests;
        summary.retries = retries;
        summary.elapsed = started.elapsed();
        summary
    }

    /// One planned case: generated now if need be, then run.
    async fn execute(&self, p: Planned) -> CaseResult {
        match p {
            Planned::Curated(c) => self.run_case(&c).await,
            Planned::Generated { op, kind, index } => {
                let operation = &self.contract.operations[op];
                let Some(case) = self.generator().case(operation, kind, index) else {
                    return CaseResult {
                        case_id: format!("{}::{}::{index}", operation.id, kind.as_str()),
                        operation: operation.id.clone(),
                        kind: Some(kind),
                        error: Some("could not generate a request for this plan (report this as a harness bug)".into()),
                        ..Default::default()
                    };
                };
                let result = self.run_case(&case).await;
                if self.opts.save_failures.is_some() && !result.findings.is_empty() {
                    let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
                    if failed.len() < MAX_SAVED_FAILURES {
                        failed.push((
                            op,
                            kind,
                            index,
                            result.findings.iter().map(|f| f.id.clone()).collect(),
                        ));
                    }
                }
                result
            }
        }
    }

    /// Runs cases `width` at a time, each as a task of its own so that
    /// generating and judging use every core, streaming results into `summary`.
    async fn run_batch(
        self: &Arc<Self>,
        planned: Vec<Planned>,
        width: usize,
        summary: &mut Summary,
        bar: Option<&indicatif::ProgressBar>,
        done: &mut u64,
        total: u64,
    ) {
        let mut stream = futures::stream::iter(planned)
            .take_while(|_| {
                let stop = self.cancelled.load(Ordering::Relaxed)
                    || self
                        .opts
                        .max_requests
                        .is_some_and(|m| self.client.counters().0 >= m);
                futures::future::ready(!stop)
            })
            .map(|p| {
                let runner = Arc::clone(self);
                let id = runner.planned_id(&p);
                let operation = match &p {
                    Planned::Curated(c) => c.operation.clone(),
                    Planned::Generated { op, .. } => runner.contract.operations[*op].id.clone(),
                };
                let task = tokio::spawn(async move { runner.execute(p).await });
                async move {
                    // A panic in a case is a harness bug, reported as that case's error.
                    task.await.unwrap_or_else(|e| CaseResult {
                        case_id: id,
                        operation,
                        error: Some(format!("the harness failed on this case (a bug): {e}")),
                        ..Default::default()
                    })
                }
            })
            .buffer_unordered(width.max(1));
        while let Some(result) = stream.next().await {
            *done += 1;
            match self.opts.progress {
                Progress::Bar => {
                    if let Some(bar) = bar {
                        bar.inc(1);
                        if !result.findings.is_empty() {
                            bar.set_message(format!("last finding: {}", result.findings[0].id));
                        }
                    }
                }
                Progress::Lines => {
                    if !result.findings.is_empty() || result.error.is_some() {
                        let ids: Vec<&str> =
                            result.findings.iter().map(|f| f.id.as_str()).collect();
                        eprintln!(
                            "FAIL {} [{}]{}",
                            result.case_id,
                            ids.join(", "),
                            result
                                .error
                                .as_deref()
                                .map(|e| format!(" error: {e}"))
                                .unwrap_or_default()
                        );
                    }
                    if total >= 10 && *done % (total / 10).max(1) == 0 {
                        eprintln!("{done}/{total} cases");
                    }
                }
                Progress::Quiet => {}
            }
            summary.record(result);
        }
    }

    /// Shrinks each failing generated case to the smallest request that still
    /// shows the same findings, and appends it to `dir/regressions-<operation>.json`.
    async fn save_failures(&self, dir: &std::path::Path) -> Vec<Result<String, String>> {
        let failed = std::mem::take(&mut *self.failed.lock().unwrap_or_else(|e| e.into_inner()));
        let generator = self.generator();
        let handle = tokio::runtime::Handle::current();
        let mut out = Vec::new();
        for (op_index, kind, index, ids) in failed {
            let op = &self.contract.operations[op_index];
            // Re-running a candidate is async; proptest's shrinking loop is not.
            let shrunk = tokio::task::block_in_place(|| {
                generator.shrink(op, kind, index, |candidate| {
                    let result = handle.block_on(self.run_case(candidate));
                    let got: BTreeSet<String> =
                        result.findings.iter().map(|f| f.id.clone()).collect();
                    !got.is_empty() && got.is_subset(&ids) && ids.iter().any(|i| got.contains(i))
                })
            });
            let Some(case) = shrunk else { continue };
            out.push(
                crate::case::save_regression(dir, &case, self.opts.seed)
                    .map(|p| format!("saved {} (shrunk) to {}", case.id, p.display())),
            );
        }
        out
    }

    fn print_dry_run(&self, planned: &[Planned]) {
        let generator = self.generator();
        for p in planned {
            let case = match p {
                Planned::Curated(c) => Some((**c).clone()),
                Planned::Generated { op, kind, index } => {
                    generator.case(&self.contract.operations[*op], *kind, *index)
                }
            };
            let Some(case) = case else { continue };
            let Some(op) = self.contract.operation(&case.operation) else {
                continue;
            };
            let req = self
                .client
                .prepare(op, &case.path_params, case.body.as_ref());
            println!(
                "# {} (expect {}){}",
                case.id,
                case.expect,
                case.breaks
                    .as_deref()
                    .map(|b| format!(", breaks {b}"))
                    .unwrap_or_default()
            );
            if case.setup == Some(Setup::SparePortAttached) {
                println!(
                    "# setup: attach the spare port {} first (batch-add-nics), detach it after",
                    self.client.target().fixtures.spare_port_id
                );
            }
            println!("{} {}", req.method, req.url);
            for (k, v) in req.masked_headers() {
                println!("{k}: {v}");
            }
            if let Some(body) = &req.body {
                println!("\n{}", String::from_utf8_lossy(body));
            }
            println!();
        }
    }

    /// Takes what the case needs exclusively from the pools: a spare port, a
    /// supplementary NIC. The case is rebound to the ones it got: every
    /// spare, every supplementary NIC is the same to the contract.
    async fn lease(&self, case: &Case) -> (Case, Lease) {
        let f = &self.client.target().fixtures;
        let mut lease = Lease {
            spare: None,
            sub_nic: None,
        };
        let names = |id: &str| {
            case.path_params.values().any(|v| mentions(v, id))
                || case.body.as_ref().is_some_and(|b| mentions(b, id))
        };
        let mut rebinding: Vec<(&str, String)> = Vec::new();
        if case.setup == Some(Setup::SparePortAttached) || names(&f.spare_port_id) {
            lease.spare = self.spares.take_port(Self::wanted_spare_state(case)).await;
            if let Some(spare) = &lease.spare {
                rebinding.push((&f.spare_port_id, spare.id.clone()));
            }
        }
        if names(&f.sub_network_interface_id) {
            lease.sub_nic = self.sub_nics.take(|_| 0).await;
            if let Some(nic) = &lease.sub_nic {
                rebinding.push((&f.sub_network_interface_id, nic.id.clone()));
            }
        }
        let mut rebound = case.clone();
        for (from, to) in rebinding.iter().filter(|(from, to)| from != to) {
            for v in rebound.path_params.values_mut() {
                replace_string(v, from, to);
            }
            if let Some(body) = rebound.body.as_mut() {
                replace_string(body, from, to);
            }
        }
        (rebound, lease)
    }

    fn finding(
        &self,
        case: &Case,
        id: &str,
        expected: impl Into<String>,
        actual: impl Into<String>,
        reproduce: &str,
    ) -> Finding {
        Finding {
            case: case.id.clone(),
            operation: case.operation.clone(),
            id: id.into(),
            source: self.contract.source_of(id),
            severity: self.contract.severity_of(id),
            expected: expected.into(),
            actual: actual.into(),
            reproduce: reproduce.into(),
        }
    }

    /// The state a case needs its spare in: attached for the operations whose
    /// setup attaches it, detached (as the target file promises) otherwise.
    fn wanted_spare_state(case: &Case) -> PortState {
        if case.setup == Some(Setup::SparePortAttached) {
            PortState::Attached
        } else {
            PortState::Detached
        }
    }

    /// Runs one case: lease, setup, request, checks, job, state, cleanup.
    pub async fn run_case(&self, case: &Case) -> CaseResult {
        let (case, mut lease) = self.lease(case).await;
        self.run_leased(&case, lease.spare.as_mut()).await
    }

    async fn run_leased(&self, case: &Case, mut spare: Option<&mut SpareLease>) -> CaseResult {
        let started = Instant::now();
        let mut result = CaseResult {
            case_id: case.id.clone(),
            operation: case.operation.clone(),
            kind: Some(case.kind),
            exercised: case.exercises.clone(),
            replay: self.replay(case),
            ..Default::default()
        };
        let Some(op) = self.contract.operation(&case.operation) else {
            result.error = Some(format!("unknown operation {}", case.operation));
            return result;
        };
        if let Some(spare) = spare.as_deref_mut() {
            if let Err(f) = self
                .ready_spare(spare, Self::wanted_spare_state(case))
                .await
            {
                result.findings.push(Finding {
                    case: case.id.clone(),
                    reproduce: result.replay.clone(),
                    ..f
                });
                result.elapsed = started.elapsed();
                return result;
            }
        }
        // The request as the rules read it, built once for every check below.
        let view = case.view();
        let named_ports = self.contract.named_ports(&op.id, &view);
        let before = if case.breaks.is_some() && !named_ports.is_empty() {
            self.listing().await.ok()
        } else {
            None
        };
        let dry_run_before = if case.expect.status == Some(202) {
            self.observe_sub_nic(case).await
        } else {
            None
        };

        let request = self
            .client
            .prepare(op, &case.path_params, case.body.as_ref());
        let curl = Curl::of(&request);
        let exchange = match self
            .client
            .send_prepared(op, &case.path_params, case.body.as_ref(), Some(&request))
            .await
        {
            Ok(x) => x,
            Err(e) => {
                result.findings.push(self.finding(
                    case,
                    "response.transport",
                    format!("{} (documented)", case.expect),
                    format!("{:?}: {e}", e.kind),
                    curl.as_str(),
                ));
                if let Some(spare) = spare {
                    spare.state = PortState::Unknown;
                }
                result.elapsed = started.elapsed();
                return result;
            }
        };
        let (findings, body, pending_fail) = self.judge_response(op, case, &exchange, &curl);
        result.findings.extend(findings);

        // Asynchronous operations: follow the job, then look at the state.
        let mut job: Option<JobOutcome> = None;
        let mut settled = true;
        if op.is_async && (200..300).contains(&exchange.status) {
            let job_id = body
                .as_ref()
                .and_then(|b| b.get("job_id"))
                .and_then(Value::as_str);
            if let Some(job_id) = job_id {
                result
                    .exercised
                    .extend(["job.completes".to_string(), "job.fail-reason".to_string()]);
                match self.follow_job(job_id, case, &curl).await {
                    Ok((outcome, findings)) => {
                        result.findings.extend(findings);
                        job = Some(outcome);
                    }
                    Err(findings) => {
                        result.findings.extend(findings);
                        settled = false;
                    }
                }
            } else {
                // The async rules promise a job id at once; without one nothing can be followed.
                for rule in self.contract.rules_for(&op.id) {
                    if matches!(rule.check, Check::AsyncEffect { .. }) {
                        result.findings.push(self.finding(
                            case,
                            &rule.id,
                            "a job_id to follow",
                            format!("{} with no job_id", exchange.status),
                            curl.as_str(),
                        ));
                    }
                }
                if op.id == "batch-add-nics" {
                    // Let the attach settle before the spare is looked at again.
                    self.settle_listed(&named_ports).await;
                }
                settled = false;
            }
        }
        if let Some(job) = job
            .as_ref()
            .filter(|j| pending_fail && j.status == "SUCCESS")
        {
            let id = case.breaks.clone().unwrap_or_default();
            result.findings.push(self.finding(
                case,
                &id,
                format!("{} or a job that ends FAIL", case.expect),
                format!("{} and a job that ended {}", exchange.status, job.status),
                curl.as_str(),
            ));
        }
        // NICs the request made (attached, but not ports it named) are deleted later, in batches.
        let primary = &self.client.target().fixtures.primary_port_id;
        let created: Vec<String> = self
            .contract
            .rules_for(&op.id)
            .filter(|r| {
                matches!(
                    r.check,
                    Check::AsyncEffect {
                        effect: Effect::Attach,
                        ..
                    }
                )
            })
            .flat_map(|r| self.effect_targets(op, &r.check, &view, body.as_ref(), job.as_ref()))
            .filter(|p| !named_ports.contains(p) && p != primary)
            .collect();

        let accepted = case.breaks.is_none() && case.expect.matches(exchange.status);
        let mut observed: Option<Arc<Listing>> = None;
        if accepted && exchange.status != 202 {
            let (findings, listing) = self
                .check_effects(op, case, &view, body.as_ref(), job.as_ref(), &curl)
                .await;
            result.findings.extend(findings);
            observed = listing;
        } else if let (Some(before), Some(id)) = (&before, &case.breaks) {
            let (findings, listing) = self
                .check_unchanged(case, id, before, &named_ports, &curl)
                .await;
            result.findings.extend(findings);
            observed = listing;
        }
        // Only now, with this case's checks done, may a batch delete take them.
        self.track_created(&created);
        if let Some(spare) = spare {
            let changes_attachments = accepted && self.has_effect(op);
            spare.state = match &observed {
                Some(l) if settled && l.contains(&spare.id) => PortState::Attached,
                Some(_) if settled => PortState::Detached,
                None if settled && result.findings.is_empty() && !changes_attachments => {
                    spare.state
                }
                _ => PortState::Unknown,
            };
        }
        if let Some(before) = dry_run_before {
            let after = self.observe_sub_nic(case).await;
            if after.as_ref().is_some_and(|a| a != &before) {
                result.findings.push(self.finding(
                    case,
                    "update-subnic.dry-run",
                    format!("no change ({before})"),
                    after.map(|a| a.to_string()).unwrap_or_default(),
                    curl.as_str(),
                ));
            }
        }
        if let (Some(redactions), CaseKind::Curated) = (&self.capture, case.kind) {
            let ct = exchange.content_type.as_deref();
            let text =
                redactions.render(&op.id, exchange.status, ct, body.as_ref(), &exchange.body);
            result.snapshot = Some(text);
        }
        if let (Some(store), CaseKind::Curated) = (&self.snapshots, case.kind) {
            match store.compare(
                &self.contract,
                case,
                &exchange,
                body.as_ref(),
                curl.as_str(),
            ) {
                Ok(Some(f)) => result.findings.push(f),
                Ok(None) => {}
                Err(e) => result.error = Some(e),
            }
            result
                .exercised
                .extend(["snapshot.drift".to_string(), "snapshot.missing".to_string()]);
        }
        self.flush_created(false).await;
        checks::sort(&mut result.findings);
        result.elapsed = started.elapsed();
        result
    }

    /// Whether a successful request of `op` changes the server's attachments.
    fn has_effect(&self, op: &Operation) -> bool {
        self.contract
            .rules_for(&op.id)
            .any(|r| matches!(r.check, Check::AsyncEffect { .. }))
    }

    /// Response checks in their fixed order.
    fn judge_response(
        &self,
        op: &Operation,
        case: &Case,
        exchange: &Exchange,
        curl: &Curl<'_>,
    ) -> (Vec<Finding>, Option<Value>, bool) {
        let j = Judged {
            contract: &self.contract,
            op,
            case,
            exchange,
            reproduce: curl,
        };
        let mut findings = Vec::new();
        findings.extend(checks::no_server_error(&j));
        let mut pending_fail = false;
        match checks::status_conformance(&j) {
            StatusOutcome::Conforms => {}
            StatusOutcome::PendingJobFail => pending_fail = true,
            StatusOutcome::Finding(f) => findings.push(f),
        }
        findings.extend(checks::content_type_conformance(&j));
        let body = match checks::json_body(&j).map_err(|f| *f) {
            Ok(b) => b,
            Err(f) => {
                findings.push(f);
                None
            }
        };
        findings.extend(checks::response_schema_conformance(&j, body.as_ref()));
        findings.extend(checks::error_shape_conformance(&j, body.as_ref()));
        findings.extend(checks::echo_conformance(&j, body.as_ref()));
        (findings, body, pending_fail)
    }

    /// The server's attachments, listed after this call began (shared between cases).
    async fn listing(&self) -> ListingResult {
        self.listing.get(|| self.fetch_listing()).await
    }

    async fn fetch_listing(&self) -> Result<Listing, String> {
        let list = self
            .contract
            .operation("list-interfaces")
            .ok_or("no list-interfaces operation")?;
        let x = self
            .client
            .send(list, &self.params(list, &[]), None)
            .await
            .map_err(|e| e.to_string())?;
        if x.status != 200 {
            return Err(format!("listing attachments answered {}", x.status));
        }
        Listing::parse(&x.body)
    }

    /// The case's supplementary NIC as it is now: an update that changes nothing returns it whole.
    async fn observe_sub_nic(&self, case: &Case) -> Option<Value> {
        let op = self.contract.operation("update-sub-network-interface")?;
        let x = self
            .client
            .send(
                op,
                &case.path_params,
                Some(&json!({"sub_network_interface": {}})),
            )
            .await
            .ok()?;
        let body: Value = serde_json::from_slice(&x.body).ok()?;
        let nic = body.get("sub_network_interface")?;
        Some(json!({
            "description": nic.get("description"),
            "security_groups": nic.get("security_groups"),
            "allowed_address_pairs": nic.get("allowed_address_pairs"),
        }))
    }

    /// Follows a job until it ends or the timeout; checks every job response.
    async fn follow_job(
        &self,
        job_id: &str,
        case: &Case,
        curl: &Curl<'_>,
    ) -> Result<(JobOutcome, Vec<Finding>), Vec<Finding>> {
        let Some(op) = self.contract.operation("show-job") else {
            return Err(Vec::new());
        };
        let limits = &self.client.target().limits;
        let deadline = Instant::now() + limits.job_timeout;
        let mut interval = limits.job_poll;
        let params = self.params(op, &[("job_id", job_id)]);
        let mut findings = Vec::new();
        // The job query judged as a case of its own; the case's id names its findings.
        let job_case = Case::bare(case.id.clone(), &op.id, case.kind);
        let mut last = String::from("no answer");
        loop {
            tokio::time::sleep(interval).await;
            interval = (interval * 2).min(limits.job_poll * 8);
            match self.client.send(op, &params, None).await {
                Ok(x) => {
                    let (f, body, _) = self.judge_response(op, &job_case, &x, curl);
                    for f in f {
                        if !findings.iter().any(|g: &Finding| g.id == f.id) {
                            findings.push(f);
                        }
                    }
                    if let Some(body) = body {
                        let status = body
                            .get("status")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string();
                        last = status.clone();
                        if status == "SUCCESS" || status == "FAIL" {
                            if status == "FAIL"
                                && body
                                    .get("fail_reason")
                                    .and_then(Value::as_str)
                                    .is_none_or(|r| r.trim().is_empty())
                            {
                                findings.push(
                                    self.finding(
                                        case,
                                        "job.fail-reason",
                                        "a fail_reason for a FAIL job",
                                        body.get("fail_reason")
                                            .map(|v| v.to_string())
                                            .unwrap_or_else(|| "(absent)".into()),
                                        curl.as_str(),
                                    ),
                                );
                            }
                            let nic_ids = body["entities"]["sub_jobs"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(|s| s["entities"]["nic_id"].as_str())
                                .map(str::to_string)
                                .collect();
                            return Ok((JobOutcome { status, nic_ids }, findings));
                        }
                    }
                }
                Err(e) => last = e.to_string(),
            }
            if Instant::now() >= deadline {
                findings.push(self.finding(
                    case,
                    "job.completes",
                    format!("SUCCESS or FAIL within {:?}", limits.job_timeout),
                    format!("job {job_id} still {last}"),
                    curl.as_str(),
                ));
                return Err(findings);
            }
        }
    }

    /// After an accepted request: the promised state change happened. Returns
    /// the findings and the listing they were judged on, if one was taken.
    async fn check_effects(
        &self,
        op: &Operation,
        case: &Case,
        view: &Value,
        body: Option<&Value>,
        job: Option<&JobOutcome>,
        curl: &Curl<'_>,
    ) -> (Vec<Finding>, Option<Arc<Listing>>) {
        let mut findings = Vec::new();
        let mut listing: Option<Arc<Listing>> = None;
        for rule in self.contract.rules_for(&op.id) {
            let Check::AsyncEffect { effect, .. } = &rule.check else {
                continue;
            };
            if op.is_async {
                match job {
                    Some(j) if j.status == "SUCCESS" => {}
                    Some(j) => {
                        findings.push(self.finding(
                            case,
                            &rule.id,
                            "job SUCCESS",
                            format!("job {}", j.status),
                            curl.as_str(),
                        ));
                        continue;
                    }
                    None => continue, // job.completes already reported
                }
            }
            let ports = self.effect_targets(op, &rule.check, view, body, job);
            if listing.is_none() {
                listing = self.listing().await.ok();
            }
            let Some(listed) = &listing else {
                continue;
            };
            let winners: Vec<String> = self
                .contract
                .rules_for(&op.id)
                .flat_map(|r| r.check.precedence_winners(view))
                .collect();
            for p in ports.iter().collect::<BTreeSet<_>>() {
                let is_listed = listed.contains(p);
                match effect {
                    Effect::Attach if !is_listed => {
                        let id = if winners.contains(p) {
                            self.contract
                                .rules_for(&op.id)
                                .find(|r| matches!(r.check, Check::Precedence { .. }))
                                .map(|r| r.id.clone())
                                .unwrap_or(rule.id.clone())
                        } else {
                            rule.id.clone()
                        };
                        findings.push(self.finding(
                            case,
                            &id,
                            format!("port {p} listed among the server's interfaces"),
                            "not listed",
                            curl.as_str(),
                        ));
                    }
                    Effect::Detach if is_listed => findings.push(self.finding(
                        case,
                        &rule.id,
                        format!("port {p} no longer listed"),
                        "still listed",
                        curl.as_str(),
                    )),
                    _ => {}
                }
            }
        }
        for rule in self.contract.rules_for(&op.id) {
            for (port, field, value) in rule.check.ignored_values(view) {
                if field != "ip_address" || job.is_none_or(|j| j.status != "SUCCESS") {
                    continue;
                }
                if listing.is_none() {
                    listing = self.listing().await.ok();
                }
                let Some(listing) = listing.as_ref() else {
                    continue;
                };
                if listing.addresses(&port).contains(&&value) {
                    findings.push(self.finding(
                        case,
                        &rule.id,
                        format!("port {port} keeps its own address ({field} {value} ignored)"),
                        format!("port has {value}"),
                        curl.as_str(),
                    ));
                }
            }
        }
        (findings, listing)
    }

    /// The ports an effect rule says the request attached or detached: those
    /// it names, else (a new NIC on a network) the one a synchronous answer
    /// returns, and for an attach job that succeeded, the NICs the job reports.
    fn effect_targets(
        &self,
        op: &Operation,
        check: &Check,
        view: &Value,
        body: Option<&Value>,
        job: Option<&JobOutcome>,
    ) -> Vec<String> {
        let Check::AsyncEffect { effect, .. } = check else {
            return Vec::new();
        };
        let mut ports = check.effect_ports(view);
        if ports.is_empty() && !op.is_async {
            ports.extend(
                body.and_then(|b| crate::contract::pointer::get(b, "/interfaceAttachment/port_id"))
                    .and_then(Value::as_str)
                    .map(|p| p.trim().to_string()),
            );
        }
        if let Some(j) = job.filter(|j| j.status == "SUCCESS" && *effect == Effect::Attach) {
            ports.extend(j.nic_ids.iter().cloned());
        }
        ports
    }

    /// Waits (up to the job timeout) until `ports` are listed: for attaches whose job cannot be followed.
    async fn settle_listed(&self, ports: &[String]) {
        let limits = &self.client.target().limits;
        let deadline = Instant::now() + limits.job_timeout;
        while Instant::now() < deadline {
            match self.listing().await {
                Ok(listed) if ports.iter().all(|p| listed.contains(p)) => return,
                Err(_) => return,
                _ => tokio::time::sleep(limits.job_poll * 4).await,
            }
        }
    }

    /// After a rejected request: the ports it named are as they were.
    async fn check_unchanged(
        &self,
        case: &Case,
        id: &str,
        before: &Listing,
        named: &[String],
        curl: &Curl<'_>,
    ) -> (Vec<Finding>, Option<Arc<Listing>>) {
        let Ok(after) = self.listing().await else {
            return (Vec::new(), None);
        };
        let state = |l: &Listing, p: &str| {
            if l.contains(p) {
                "attached"
            } else {
                "not attached"
            }
        };
        let findings = named
            .iter()
            .filter(|p| before.contains(p) != after.contains(p))
            .map(|p| {
                self.finding(
                    case,
                    id,
                    format!(
                        "a rejected request changes nothing (port {p} {})",
                        state(before, p)
                    ),
                    format!("port {p} {}", state(&after, p)),
                    curl.as_str(),
                )
            })
            .collect();
        (findings, Some(after))
    }

    /// Sends a NIC job for a case's setup or cleanup and waits for its end.
    /// Errors carry what went wrong and any findings the job query produced.
    async fn housekeeping_job(
        &self,
        op_id: &str,
        body: Value,
    ) -> Result<JobOutcome, (String, Vec<Finding>)> {
        let op = self
            .contract
            .operation(op_id)
            .ok_or_else(|| (format!("no {op_id} operation"), Vec::new()))?;
        let params = self.params(op, &[]);
        let request = self.client.prepare(op, &params, Some(&body));
        let x = self
            .client
            .send_prepared(op, &params, Some(&body), Some(&request))
            .await
            .map_err(|e| (e.to_string(), Vec::new()))?;
        let job_id = serde_json::from_slice::<Value>(&x.body)
            .ok()
            .and_then(|b| b.get("job_id").and_then(Value::as_str).map(str::to_string));
        let Some(job_id) = job_id.filter(|_| x.status == 200) else {
            return Err((format!("{op_id} answered {}", x.status), Vec::new()));
        };
        let case = Case::bare(
            format!("{op_id} (setup or cleanup)"),
            &op.id,
            CaseKind::Valid,
        );
        // A finding on the job reproduces the request that made it.
        self.follow_job(&job_id, &case, &Curl::of(&request))
            .await
            .map(|(outcome, _)| outcome)
            .map_err(|findings| (format!("job {job_id} did not end"), findings))
    }

    /// Brings a leased spare into the state its case needs: looks when the
    /// state is unknown, attaches or detaches it when it is the other one.
    async fn ready_spare(&self, spare: &mut SpareLease, want: PortState) -> Result<(), Finding> {
        if spare.state == PortState::Unknown {
            spare.state = match self.listing().await {
                Ok(l) if l.contains(&spare.id) => PortState::Attached,
                Ok(_) => PortState::Detached,
                Err(e) => {
                    return Err(self.setup_finding(
                        "batch-add.job-attaches",
                        "the spare port's state (case setup)",
                        &format!("cannot list the attachments: {e}"),
                    ));
                }
            };
        }
        if spare.state == want {
            return Ok(());
        }
        let outcome = match want {
            PortState::Attached => self.attach_port(&spare.id).await,
            _ => self
                .detach_ports(std::slice::from_ref(&spare.id))
                .await
                .map_err(|e| {
                    self.setup_finding(
                        "batch-delete.job-detaches",
                        "the spare port detached (case setup)",
                        &e,
                    )
                }),
        };
        // A failed setup may still complete later: look again before the next use.
        spare.state = if outcome.is_ok() {
            want
        } else {
            PortState::Unknown
        };
        outcome
    }

    /// Attaches a port through batch-add-nics and waits for the job (case setup).
    async fn attach_port(&self, port: &str) -> Result<(), Finding> {
        match self
            .housekeeping_job("batch-add-nics", json!({"nics": [{"port_id": port}]}))
            .await
        {
            Ok(j) if j.status == "SUCCESS" => Ok(()),
            Ok(j) => Err(self.setup_finding(
                "batch-add.job-attaches",
                "the spare port attached (case setup)",
                &format!("setup attach job ended {}", j.status),
            )),
            // The job query's own finding (e.g. a job that never ends) says more than the setup's.
            Err((message, findings)) => Err(findings.into_iter().next().unwrap_or_else(|| {
                self.setup_finding(
                    "batch-add.job-attaches",
                    "the spare port attached (case setup)",
                    &message,
                )
            })),
        }
    }

    fn setup_finding(&self, id: &str, expected: &str, actual: &str) -> Finding {
        let operation = self
            .contract
            .rule(id)
            .map(|r| r.operation.clone())
            .unwrap_or_default();
        Finding {
            case: String::new(),
            operation,
            id: id.into(),
            source: self.contract.source_of(id),
            severity: self.contract.severity_of(id),
            expected: expected.into(),
            actual: actual.into(),
            reproduce: String::new(),
        }
    }

    /// Detaches ports through batch-delete-nics.
    async fn detach_ports(&self, ports: &[String]) -> Result<(), String> {
        let body = json!({"nics": ports.iter().map(|p| json!({"id": p})).collect::<Vec<_>>()});
        match self.housekeeping_job("batch-delete-nics", body).await {
            Ok(j) if j.status == "SUCCESS" => Ok(()),
            Ok(j) => Err(format!("detach job ended {}", j.status)),
            Err((message, _)) => Err(message),
        }
    }

    /// Remembers NICs a case created, for deletion in batches.
    fn track_created(&self, ports: &[String]) {
        if !ports.is_empty() {
            self.created
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(ports.iter().cloned());
        }
    }

    /// Deletes the created NICs once `cleanup_batch` of them wait, or all of them with `all`.
    async fn flush_created(&self, all: bool) {
        let batch = {
            let mut created = self.created.lock().unwrap_or_else(|e| e.into_inner());
            if created.is_empty()
                || (!all && created.len() < self.client.target().limits.cleanup_batch)
            {
                return;
            }
            std::mem::take(&mut *created)
        };
        self.delete_ports(batch).await;
    }

    /// Detaches whichever of `ports` are still listed; lists what it cannot as leftovers.
    /// Returns the ports it left attached.
    async fn delete_ports(&self, mut ports: Vec<String>) -> Vec<String> {
        let primary = &self.client.target().fixtures.primary_port_id;
        ports.retain(|p| p != primary);
        ports.sort();
        ports.dedup();
        if ports.is_empty() {
            return ports;
        }
        if let Ok(listed) = self.listing().await {
            ports.retain(|p| listed.contains(p));
        }
        if ports.is_empty() || self.detach_ports(&ports).await.is_ok() {
            return Vec::new();
        }
        // One bad id fails a whole batch: try them one by one before giving up.
        let mut left = Vec::new();
        for p in ports {
            if let Err(e) = self.detach_ports(std::slice::from_ref(&p)).await {
                self.leftovers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(format!(
                        "port {p} attached to server {} ({e})",
                        self.client.target().fixtures.server_id
                    ));
                left.push(p);
            }
        }
        left
    }

    /// At the end (also after Ctrl-C): the created NICs are deleted and every
    /// spare is detached again; what cannot be is listed as a leftover.
    async fn final_cleanup(&self) {
        self.flush_created(true).await;
        let spares = self.spares.free_where(|s| s != PortState::Detached);
        let left = self.delete_ports(spares.clone()).await;
        let done: Vec<String> = spares.into_iter().filter(|p| !left.contains(p)).collect();
        self.spares.mark(&done, PortState::Detached);
    }
}

/// The deterministic seed used when none is given: time-based, printed in the summary.
pub fn fresh_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64 % 1_000_000_000)
        .unwrap_or(1)
}
