//! The command line: clap structs that only parse and validate, and one
//! function per command that builds the library's inputs and returns an exit code.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::case::CaseKind;
use crate::contract::{Contract, Severity};
use crate::fixtures::{EXAMPLE_PROJECT_ID, Fixtures, example_fixtures};
use crate::generate::Generator;
use crate::mock::{self, FaultSet, MockConfig};
use crate::runner::client::Client;
use crate::runner::{Progress, RunOptions, Runner};
use crate::target::Target;

/// Exit codes of `run` (the README explains each).
pub mod exit {
    /// No finding at or above --fail-on.
    pub const OK: i32 = 0;
    /// Findings at or above --fail-on (or cases the harness could not run).
    pub const FINDINGS: i32 = 1;
    /// Usage, configuration or unreachable-target error.
    pub const ERROR: i32 = 2;
}

#[derive(Parser, Debug)]
#[command(
    name = "nic-conformance",
    version,
    about = "Contract and conformance tests for the cloud NIC-management APIs"
)]
pub struct Cli {
    /// Read the contract from this folder instead of the copy built into the binary.
    #[arg(long, global = true, value_name = "DIR")]
    pub schemas: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print the contract: operations, schemas, rules, documentation conflicts.
    Spec {
        /// One JSON object instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Print generated cases as JSON lines, without sending anything.
    Generate(GenerateArgs),
    /// Serve the reference mock.
    Mock(MockArgs),
    /// Run the conformance suite against a target (the built-in mock by default).
    Run(Box<RunArgs>),
    /// Review, accept or reject pending snapshots.
    Snapshots(SnapshotsArgs),
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    #[arg(long, value_name = "ID")]
    pub operation: String,
    #[arg(long, value_name = "valid|boundary|negative")]
    pub kind: CaseKind,
    #[arg(long, default_value_t = 10)]
    pub count: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Fill ids from this target's fixtures (default: the built-in mock's).
    #[arg(long, value_name = "FILE")]
    pub target: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct MockArgs {
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: String,
    /// Take project and fixture ids from a target file.
    #[arg(long, value_name = "TARGET.toml")]
    pub fixtures: Option<PathBuf>,
    /// Deviate from the contract (repeatable; see --list-faults).
    #[arg(long = "fault", value_name = "NAME")]
    pub faults: Vec<String>,
    /// Answer 401 without X-Auth-Token or a valid AK/SK signature.
    #[arg(long)]
    pub require_auth: bool,
    /// Print the fault profiles and exit.
    #[arg(long)]
    pub list_faults: bool,
    /// How long a job stays INIT/RUNNING, in milliseconds.
    #[arg(long, default_value_t = 200)]
    pub job_ms: u64,
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Target file; without it the built-in mock is started in-process.
    #[arg(long, value_name = "FILE")]
    pub target: Option<PathBuf>,
    /// Seed of the generated cases (default: a fresh one, printed in the summary).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Generated cases per operation and kind (default 25, at least one per keyword and rule).
    #[arg(long)]
    pub budget: Option<usize>,
    /// Kinds of generated case to run (repeatable; default all three).
    #[arg(long = "kind", value_name = "KIND")]
    pub kinds: Vec<CaseKind>,
    /// Only these operations (repeatable).
    #[arg(long = "operation", value_name = "ID")]
    pub operations: Vec<String>,
    /// Leave out these operations (repeatable).
    #[arg(long = "skip", value_name = "ID")]
    pub skip: Vec<String>,
    /// Run only the case with this id (as printed in findings).
    #[arg(long = "case", value_name = "ID")]
    pub case: Option<String>,
    /// Curated cases folder.
    #[arg(long, default_value = "cases", value_name = "DIR")]
    pub cases: PathBuf,
    /// Leave out the curated cases.
    #[arg(long)]
    pub no_curated: bool,
    /// Run the K-th of N deterministic shards, e.g. 2/4.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<(usize, usize)>,
    /// Stop starting cases after this many requests.
    #[arg(long)]
    pub max_requests: Option<u64>,
    /// Print every request as it would be sent (secrets masked) and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Lowest severity that fails the run.
    #[arg(long, default_value = "must", value_name = "must|should")]
    pub fail_on: Severity,
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Cases in flight at once (overrides the target file).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Requests per second, 0 for no limit (overrides the target file).
    #[arg(long)]
    pub rate: Option<f64>,
    /// With the built-in mock only: run it with these faults (repeatable).
    #[arg(long = "mock-fault", value_name = "NAME")]
    pub mock_faults: Vec<String>,
    /// Print the selected case ids and exit.
    #[arg(long)]
    pub list: bool,
    /// Shrink failing generated cases and save them as curated cases in DIR.
    #[arg(long, value_name = "DIR")]
    pub save_failures: Option<PathBuf>,
    /// How long a job may take to end, in seconds (overrides the target file).
    #[arg(long, value_name = "SECS")]
    pub job_timeout: Option<f64>,
    /// Snapshot folder (one subfolder per target name).
    #[arg(long, default_value = "snapshots", value_name = "DIR")]
    pub snapshot_dir: PathBuf,
    /// Accept every snapshot seen as the new baseline.
    #[arg(long)]
    pub record: bool,
    /// Write differing snapshots as pending, beside the accepted ones.
    #[arg(long)]
    pub update_snapshots: bool,
    /// Do not compare snapshots.
    #[arg(long)]
    pub no_snapshots: bool,
}

#[derive(Args, Debug)]
pub struct SnapshotsArgs {
    #[command(subcommand)]
    pub action: SnapshotAction,
    #[arg(long, default_value = "snapshots", value_name = "DIR", global = true)]
    pub snapshot_dir: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum SnapshotAction {
    /// Walk through pending snapshots, accepting or rejecting each.
    Review,
    /// Accept every pending snapshot.
    Accept,
    /// Reject (delete) every pending snapshot.
    Reject,
}

fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let (k, n) = s
        .split_once('/')
        .ok_or("write the shard as K/N, e.g. 1/4")?;
    let (k, n): (usize, usize) = (
        k.trim().parse().map_err(|_| "K is not a number")?,
        n.trim().parse().map_err(|_| "N is not a number")?,
    );
    if n == 0 || k == 0 || k > n {
        return Err(format!("shard {k}/{n} is out of range (1 <= K <= N)"));
    }
    Ok((k, n))
}

fn load_contract(dir: &Option<PathBuf>) -> Result<Contract, String> {
    match dir {
        Some(d) => Contract::load_dir(d).map_err(|e| e.to_string()),
        None => Contract::builtin().map_err(|e| format!("the built-in contract is broken: {e}")),
    }
}

/// Runs a parsed command; returns the process exit code.
pub fn main_impl(cli: Cli) -> i32 {
    let contract = match load_contract(&cli.schemas) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("error: {e}");
            return exit::ERROR;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::ERROR;
        }
    };
    let outcome = match cli.command {
        Command::Spec { json } => spec(&contract, json),
        Command::Generate(args) => generate(&contract, &args),
        Command::Mock(args) => runtime.block_on(serve_mock(contract, args)),
        Command::Run(args) => runtime.block_on(run(contract, *args)),
        Command::Snapshots(args) => crate::snapshot::command(&args.action, &args.snapshot_dir),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            exit::ERROR
        }
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn spec(contract: &Contract, json: bool) -> Result<i32, String> {
    let mut out = std::io::stdout().lock();
    let text = if json {
        serde_json::to_string_pretty(&crate::spec::as_json(contract)).map_err(|e| e.to_string())?
    } else {
        crate::spec::as_tables(contract)
    };
    writeln!(out, "{text}").map_err(|e| e.to_string())?;
    Ok(exit::OK)
}

fn generate(contract: &Contract, args: &GenerateArgs) -> Result<i32, String> {
    let target = match &args.target {
        Some(path) => Some(Target::load(path, env_var).map_err(|e| e.to_string())?),
        None => None,
    };
    let fixtures = target
        .as_ref()
        .map(|t| t.fixtures.clone())
        .unwrap_or_else(example_fixtures);
    let project = target
        .as_ref()
        .map(|t| t.project_id.clone())
        .unwrap_or_else(|| EXAMPLE_PROJECT_ID.to_string());
    let op = contract.operation(&args.operation).ok_or_else(|| {
        let ids: Vec<&str> = contract
            .documented_operations()
            .map(|o| o.id.as_str())
            .collect();
        format!(
            "unknown operation `{}`\n  (one of: {})",
            args.operation,
            ids.join(", ")
        )
    })?;
    let generator = Generator::new(contract, &fixtures, &project, args.seed);
    let mut out = std::io::stdout().lock();
    for case in generator.cases(op, args.kind, args.count) {
        let target_flag = args
            .target
            .as_ref()
            .map(|p| format!(" --target {}", p.display()))
            .unwrap_or_default();
        let replay = format!(
            "nic-conformance run{target_flag} --seed {} --case {}",
            args.seed, case.id
        );
        let line = crate::spec::case_line(contract, op, &case, target.as_ref(), &replay);
        writeln!(out, "{line}").map_err(|e| e.to_string())?;
    }
    Ok(exit::OK)
}

async fn serve_mock(contract: Arc<Contract>, args: MockArgs) -> Result<i32, String> {
    if args.list_faults {
        for f in mock::faults::catalogue(&contract) {
            println!("{}\t{}", f.name, f.breaks.join(", "));
        }
        return Ok(exit::OK);
    }
    let (project, fixtures): (String, Fixtures) = match &args.fixtures {
        Some(path) => {
            let t = Target::load(path, env_var).map_err(|e| e.to_string())?;
            (t.project_id, t.fixtures)
        }
        None => (EXAMPLE_PROJECT_ID.to_string(), example_fixtures()),
    };
    let mut config = MockConfig::new(&project, fixtures.clone());
    config.faults = FaultSet::from_names(&contract, &args.faults)?;
    config.require_auth = args.require_auth;
    config.job_duration = std::time::Duration::from_millis(args.job_ms);
    let ak = env_var("NIC_MOCK_AK").unwrap_or_else(|| "TESTAKEXAMPLE0000000".into());
    let sk =
        env_var("NIC_MOCK_SK").unwrap_or_else(|| "testskexample00000000000000000000000000".into());
    config.credentials = vec![(ak, sk)];
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let running = mock::serve(Arc::new(mock::Mock::new(contract, config)), listener)
        .await
        .map_err(|e| e.to_string())?;
    println!("{}", running.base_url);
    println!("project_id = \"{project}\"");
    for name in Fixtures::NAMES {
        println!("{name} = \"{}\"", fixtures.get(name).unwrap_or_default());
    }
    // The extras as TOML arrays, so the lines paste into a target file's [fixtures].
    let array = |ids: &[String]| {
        let quoted: Vec<String> = ids.iter().map(|i| format!("\"{i}\"")).collect();
        format!("[{}]", quoted.join(", "))
    };
    for (name, ids) in [
        ("extra_spare_port_ids", &fixtures.extra_spare_port_ids),
        (
            "extra_sub_network_interface_ids",
            &fixtures.extra_sub_network_interface_ids,
        ),
    ] {
        if !ids.is_empty() {
            println!("{name} = {}", array(ids));
        }
    }
    let _ = std::io::stdout().flush();
    let _ = tokio::signal::ctrl_c().await;
    running.stop().await;
    Ok(exit::OK)
}

async fn run(contract: Arc<Contract>, args: RunArgs) -> Result<i32, String> {
    if args.target.is_some() && !args.mock_faults.is_empty() {
        return Err("--mock-fault applies to the built-in mock only\n  (drop --target, or drop --mock-fault)".into());
    }
    let mut builtin = None;
    let mut target = match &args.target {
        Some(path) => Target::load(path, env_var).map_err(|e| e.to_string())?,
        None => {
            let mut config = MockConfig::new(EXAMPLE_PROJECT_ID, example_fixtures());
            config.faults = FaultSet::from_names(&contract, &args.mock_faults)?;
            config.job_duration = std::time::Duration::from_millis(1);
            let running = mock::start_local(contract.clone(), config)
                .await
                .map_err(|e| format!("cannot start the built-in mock: {e}"))?;
            let t = Target::builtin(&running.base_url);
            builtin = Some(running);
            t
        }
    };
    if let Some(c) = args.concurrency {
        target.limits.concurrency = c.max(1);
    }
    if let Some(r) = args.rate {
        target.limits.rate_per_second = r.max(0.0);
    }
    if let Some(secs) = args.job_timeout.filter(|s| *s > 0.0 && s.is_finite()) {
        target.limits.job_timeout = std::time::Duration::from_secs_f64(secs);
    }
    let client = Arc::new(Client::new(target.clone())?);
    let seed = args.seed.unwrap_or_else(crate::runner::fresh_seed);
    let mut opts = RunOptions::new(seed);
    opts.budget = args.budget;
    if !args.kinds.is_empty() {
        opts.kinds = args.kinds.clone();
    }
    opts.include_curated = !args.no_curated;
    opts.cases_dir = Some(args.cases.clone());
    opts.operations = args.operations.clone();
    opts.skip = args.skip.clone();
    for id in opts.operations.iter().chain(&opts.skip) {
        if contract.documented_operations().all(|o| &o.id != id) {
            return Err(format!(
                "unknown operation `{id}`\n  (see `nic-conformance spec`)"
            ));
        }
    }
    opts.case_filter = args.case.clone();
    opts.save_failures = args.save_failures.clone();
    opts.shard = args.shard;
    opts.max_requests = args.max_requests;
    opts.dry_run = args.dry_run;
    opts.keep_junit = args.junit.is_some();
    opts.progress = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        Progress::Bar
    } else {
        Progress::Lines
    };
    opts.replay_prefix = match &args.target {
        Some(p) => format!("nic-conformance run --target {}", p.display()),
        None => "nic-conformance run".into(),
    };
    let mut runner = Runner::new(contract.clone(), client, opts);
    if args.list {
        for id in runner.list()? {
            println!("{id}");
        }
        return Ok(exit::OK);
    }
    if !args.no_snapshots {
        let mode = crate::snapshot::Mode::from_flags(args.record, args.update_snapshots);
        let store = crate::snapshot::SnapshotStore::open(
            &args.snapshot_dir,
            &target.name,
            mode,
            &contract,
        )?;
        runner = runner.with_snapshots(Arc::new(store));
    }
    let cancel = runner.cancel_flag();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!(
                "\ninterrupted: finishing the cases in flight and cleaning up (Ctrl-C again to quit now)"
            );
            cancel.store(true, std::sync::atomic::Ordering::Relaxed);
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    let summary = Arc::new(runner).run().await;
    if !args.dry_run {
        print!(
            "{}",
            summary.render(
                &contract,
                std::io::IsTerminal::is_terminal(&std::io::stdout())
            )
        );
    }
    if let Some(path) = &args.report_json {
        let text =
            serde_json::to_vec_pretty(&summary.to_json(&contract)).map_err(|e| e.to_string())?;
        crate::report::write_atomic(path, &text)
            .map_err(|e| format!("{}: cannot write the report: {e}", path.display()))?;
    }
    if let Some(path) = &args.junit {
        let xml = summary.to_junit()?;
        crate::report::write_atomic(path, xml.as_bytes())
            .map_err(|e| format!("{}: cannot write the JUnit report: {e}", path.display()))?;
    }
    if let Some(m) = builtin {
        m.stop().await;
    }
    Ok(summary.exit_code(args.fail_on))
}
