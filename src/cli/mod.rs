//! The command line: clap structs that only parse and validate, and one
//! function per command (in the submodules) that builds the library's
//! inputs and returns an exit code from the table in [`crate::error::exit`].

mod combine;
mod commands;
mod parse;
use parse::{parse_budget, parse_duration, parse_grace, parse_shard};
mod proxy;
mod reports;
mod run;
mod snapshots;
pub(crate) mod upkeep;

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::case::CaseKind;
use crate::contract::{Contract, Severity};
use crate::error::{Error, exit};

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
    /// Log what the harness does to stderr: -v each request, retry, cleanup
    /// step; -vv also job polls, leases and the ledger (RUST_LOG overrides).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print the contract: operations, schemas, rules, documentation conflicts.
    Spec {
        #[command(subcommand)]
        action: Option<SpecAction>,
        /// One JSON object instead of tables.
        #[arg(long, conflicts_with = "openapi")]
        json: bool,
        /// An OpenAPI 3.1 document of the operations, the auxiliary reads and the rules.
        #[arg(long)]
        openapi: bool,
        /// Each page's lines beside the keywords and rules that quote them, and the
        /// sentences nothing checks (with --json: as one JSON array).
        #[arg(long, conflicts_with = "openapi")]
        pages: bool,
        /// Write to FILE (atomically) instead of standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Print generated cases as JSON lines, without sending anything.
    Generate(GenerateArgs),
    /// Serve the reference mock.
    Mock(MockArgs),
    /// Run the conformance suite against a target (the built-in mock by default).
    Run(Box<RunArgs>),
    /// Review, accept or reject pending snapshots.
    Snapshots(SnapshotsArgs),
    /// Check a target before a run: endpoints, credentials and every fixture,
    /// through reads only (exit 0 ready, 2 not), and estimate how long a run takes.
    Doctor(DoctorArgs),
    /// Stand between a client and a target and judge every exchange against the
    /// contract; reports are written on Ctrl-C or SIGTERM.
    Proxy(ProxyArgs),
    /// Write a target file from what the target shows through its documented
    /// reads (the server's NICs, the supplementary NICs); never writes to it.
    Init(InitArgs),
    /// Conformance certificates: check one against this binary's contract (and a
    /// vendor's public key), or make a key pair to sign them with.
    Certificate {
        #[command(subcommand)]
        action: CertificateAction,
    },
    /// Combine runs' JSON reports: shards into one run, targets into a fleet,
    /// two targets case by case.
    Report {
        #[command(subcommand)]
        action: combine::ReportAction,
    },
    /// Undo what the last run left on a target, from its ledger and nothing
    /// else: delete the NICs it recorded as created, detach the spares it
    /// attached, restore the fields it changed (exit 0 back to the fixtures,
    /// 1 something left, named).
    Cleanup(CleanupArgs),
}

#[derive(Subcommand, Debug)]
pub enum CertificateAction {
    /// The contract digest is this binary's, the counts add up and agree with the
    /// findings listed; prints the command that re-runs the same cases.
    Verify {
        /// A certificate written by `run --certificate`.
        file: PathBuf,
        /// The vendor's ed25519 public key (hex, from `certificate keygen`): the
        /// certificate must carry a signature that this key makes.
        #[arg(long, value_name = "FILE")]
        public_key: Option<PathBuf>,
    },
    /// Write a fresh ed25519 key pair for `run --sign-key` (secret) and
    /// `certificate verify --public-key` (public), one line of hex each.
    Keygen {
        #[arg(long, value_name = "FILE")]
        secret: PathBuf,
        #[arg(long, value_name = "FILE")]
        public: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum SpecAction {
    /// What changed between two contracts: each keyword and rule added, removed,
    /// tightened or loosened, marked breaking for clients, for servers, or neither.
    Diff(SpecDiffArgs),
}

#[derive(Args, Debug)]
pub struct SpecDiffArgs {
    /// The older contract: a folder like `schemas/`, or `builtin`.
    pub old: PathBuf,
    /// The newer contract: a folder, or `builtin` (the default: this binary's).
    pub new: Option<PathBuf>,
    /// Exit 1 when a change is breaking, for clients or for servers (`breaking`).
    #[arg(long, value_name = "WHAT", value_parser = ["breaking"])]
    pub fail_on: Option<String>,
    /// One JSON array of changes instead of lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// The compute endpoint (ECS, or nova's without /v2.1).
    #[arg(long, value_name = "URL")]
    pub ecs_url: String,
    /// The VPC endpoint, where there is one (supplementary NICs).
    #[arg(long, value_name = "URL")]
    pub vpc_url: Option<String>,
    /// The project (tenant) the server belongs to.
    #[arg(long, value_name = "ID")]
    pub project_id: String,
    /// The server the runs attach to and detach from.
    #[arg(long, value_name = "ID")]
    pub server_id: String,
    /// The target's name (the snapshot folder's too).
    #[arg(long, default_value = "my-target")]
    pub name: String,
    /// How requests authenticate: token, aksk or none.
    #[arg(long, default_value = "token", value_parser = ["token", "aksk", "none"])]
    pub auth: String,
    /// The environment variable holding the token (read now, named in the file).
    #[arg(long, default_value = "NIC_TOKEN", value_name = "NAME")]
    pub token_env: String,
    /// The environment variable holding the access key (with --auth aksk).
    #[arg(long, default_value = "NIC_AK", value_name = "NAME")]
    pub ak_env: String,
    /// The environment variable holding the secret key (with --auth aksk).
    #[arg(long, default_value = "NIC_SK", value_name = "NAME")]
    pub sk_env: String,
    /// A DOWN port the run may attach (no documented read lists ports); repeat for more.
    #[arg(long = "spare-port-id", value_name = "ID")]
    pub spare_port_ids: Vec<String>,
    /// Where to write the target file.
    #[arg(long, short, default_value = "target.toml", value_name = "FILE")]
    pub output: PathBuf,
    /// Replace an existing file.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct CleanupArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Also delete NICs the run may have created but never named (a
    /// request whose job it never saw end): by default they are only listed.
    #[arg(long)]
    pub include_uncertain: bool,
}

#[derive(Args, Debug)]
pub struct TargetArgs {
    /// Target file.
    #[arg(long, value_name = "FILE")]
    pub target: PathBuf,
    /// Ledger file (default: .nic-conformance/ledger-<target name>.jsonl).
    #[arg(long, value_name = "FILE")]
    pub ledger: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// How long the target's jobs take (e.g. 10s, 1500ms), for the run's estimate.
    #[arg(long, value_name = "DURATION", value_parser = parse::parse_job_time)]
    pub job_time: Option<std::time::Duration>,
    /// Measure a job: attach the spare port and detach it again (two jobs,
    /// recorded in the ledger under the target's lock: the only writes doctor makes).
    #[arg(long, conflicts_with = "job_time")]
    pub probe_job: bool,
}

/// What fails a run beyond its findings: the flags `run` and `report merge` share.
#[derive(Args, Debug, Clone)]
pub struct GateArgs {
    /// Lowest severity that fails the run.
    #[arg(long, default_value = "must", value_name = "must|should")]
    pub fail_on: Severity,
    /// A run cut short (interrupted, --max-requests, --time-budget) exits 0 when nothing
    /// else failed.
    #[arg(long)]
    pub allow_partial: bool,
    /// A rule or keyword no case exercised fails the run.
    #[arg(long)]
    pub fail_on_unexercised: bool,
}

/// The report files a run or a proxy session writes when it ends.
#[derive(Args, Debug, Clone)]
pub struct ReportFiles {
    /// JSON for tools: every case, finding, rule and undecided reason.
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,
    /// JUnit XML: a test case per case, properties seed and target.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// One self-contained HTML page for people: the run, rules by operation, findings with
    /// their exchanges, doc conflicts.
    #[arg(long, value_name = "FILE")]
    pub report_html: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ProxyArgs {
    #[arg(long, default_value = "127.0.0.1:8081", value_name = "ADDR")]
    pub listen: String,
    /// The target the proxy forwards to (its ECS and VPC URLs and credentials).
    #[arg(long, value_name = "FILE")]
    pub target: PathBuf,
    /// Check the client's AK/SK signature with the target's credentials before forwarding.
    #[arg(long)]
    pub verify_client: bool,
    /// Lowest severity that makes the session exit 1.
    #[arg(long, default_value = "must", value_name = "must|should")]
    pub fail_on: Severity,
    #[command(flatten)]
    pub reports: ReportFiles,
    /// Print no finding as it happens, only the closing summary.
    #[arg(long, short)]
    pub quiet: bool,
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
    /// Added to every answer, in milliseconds: a cloud's round trip on loopback.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// How a batch of several NICs fails: NIC by NIC (the others are
    /// attached) or as a whole (nothing changes).
    #[arg(long, default_value = "per-nic", value_name = "per-nic|atomic")]
    pub batch: crate::mock::BatchMode,
    /// The success status where a page prints none: 200, or another 2xx
    /// (202 for a request that starts a job, 204 for an answer without a body).
    #[arg(long, default_value = "usual", value_name = "usual|other")]
    pub success: crate::mock::SuccessStatus,
    /// A request the pages leave open (an empty optional list, an ignored
    /// field's unknown id, an address pair without an address): accepted, or
    /// refused as the strictest conforming server would.
    #[arg(long, default_value = "lenient", value_name = "lenient|strict")]
    pub validate: crate::mock::Validation,
    /// Write one JSON line per request (time, method, path, status, ms) to FILE, `-` for stderr.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// NICs one server may have; an attach beyond it fails (a real server allows about 12).
    #[arg(long, default_value_t = crate::mock::DEFAULT_MAX_NICS_PER_SERVER, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_nics_per_server: usize,
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Target file; without it the built-in mock is started in-process.
    #[arg(long, value_name = "FILE")]
    pub target: Option<PathBuf>,
    /// Seed of the generated cases (default: a fresh one, printed in the summary).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Generated cases planned per operation and kind (default 25, at least one per plan; a plan is drawn again only while it has a new class of request to send).
    #[arg(long, value_parser = parse_budget)]
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
    /// Curated cases folder (default: `cases` when it exists, else the copy built into the binary).
    #[arg(long, value_name = "DIR")]
    pub cases: Option<PathBuf>,
    /// Leave out the curated cases.
    #[arg(long)]
    pub no_curated: bool,
    /// Run the K-th of N deterministic shards, e.g. 2/4.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<(usize, usize)>,
    /// Stop starting cases after this many requests.
    #[arg(long)]
    pub max_requests: Option<u64>,
    /// Stop starting cases after this long (e.g. 90s, 10m, 1h; clean-up comes
    /// after it): the cases that exercise every rule and keyword once go first.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub time_budget: Option<std::time::Duration>,
    /// Print every request as it would be sent (secrets masked) and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub gate: GateArgs,
    /// Print only the closing summary (no progress lines).
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub reports: ReportFiles,
    /// Findings listed in this baseline (TOML) are reported as accepted; only the others fail.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Write the run's findings to FILE as accepted entries (keeping the reasons already there).
    #[arg(long, value_name = "FILE")]
    pub write_baseline: Option<PathBuf>,
    /// Write a conformance certificate to FILE: the contract's digest, the target (no
    /// credentials), seed and selection, per rule passed/violated/undecided with the findings
    /// (check it with `nic-conformance certificate verify FILE`).
    #[arg(long, value_name = "FILE")]
    pub certificate: Option<PathBuf>,
    /// Sign the certificate with this ed25519 secret key (hex, from `certificate keygen`).
    #[arg(long, value_name = "FILE", requires = "certificate")]
    pub sign_key: Option<PathBuf>,
    /// Run the same cases against a second target too (a target file, or `mock`
    /// for the built-in mock without faults) and list the cases whose answers
    /// differ (exit 1 where one side violates a rule the other does not).
    #[arg(long, value_name = "FILE|mock", conflicts_with_all = ["list", "dry_run", "write_baseline"])]
    pub compare_with: Option<String>,
    /// A baseline entry that matched nothing in the run fails it.
    #[arg(long, requires = "baseline")]
    pub strict_baseline: bool,
    /// Cases in flight at once (overrides the target file).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub concurrency: Option<u64>,
    /// Requests per second, 0 for no limit (overrides the target file).
    #[arg(long)]
    pub rate: Option<f64>,
    /// With the built-in mock only: run it with these faults (repeatable).
    #[arg(long = "mock-fault", value_name = "NAME")]
    pub mock_faults: Vec<String>,
    /// With the built-in mock only: how a batch of several NICs fails.
    #[arg(long, default_value = "per-nic", value_name = "per-nic|atomic")]
    pub mock_batch: crate::mock::BatchMode,
    /// With the built-in mock only: the success status where a page prints none.
    #[arg(long, default_value = "usual", value_name = "usual|other")]
    pub mock_success: crate::mock::SuccessStatus,
    /// With the built-in mock only: accept a request the pages leave open, or refuse it.
    #[arg(long, default_value = "lenient", value_name = "lenient|strict")]
    pub mock_validate: crate::mock::Validation,
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
    /// Ledger of what the run creates, for `cleanup` after a crash (with
    /// --target; default .nic-conformance/ledger-<target name>.jsonl).
    #[arg(long, value_name = "FILE")]
    pub ledger: Option<PathBuf>,
    /// After Ctrl-C or SIGTERM, how long the run may spend finishing its
    /// cases and cleaning up before it exits anyway, naming the ledger and
    /// `cleanup` (fit it inside your CI runner's grace period).
    #[arg(long, default_value = "20", value_name = "SECS", value_parser = parse_grace)]
    pub shutdown_grace: f64,
}

/// The most generated cases per operation and kind: a plan holds every
/// case's place, so a budget beyond memory is refused rather than tried.
pub const MAX_BUDGET: usize = 1_000_000;

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

fn load_contract(dir: &Option<PathBuf>) -> Result<Contract, Error> {
    match dir {
        Some(d) => Ok(Contract::load_dir(d)?),
        None => Contract::builtin()
            .map_err(|e| Error::Harness(format!("the built-in contract is broken: {e}"))),
    }
}

/// Logs to stderr at the level `-v` asks for, or as `RUST_LOG` says.
fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "nic_conformance=info",
        _ => "nic_conformance=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours for a terminal only: a log file or a CI log gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// Runs a parsed command; returns the process exit code.
pub fn main_impl(cli: Cli) -> i32 {
    init_logging(cli.verbose);
    let contract = match load_contract(&cli.schemas) {
        Ok(c) => Arc::new(c),
        Err(e) => return report_error(&e),
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
        Command::Spec {
            action: Some(SpecAction::Diff(args)),
            ..
        } => commands::spec_diff(&args),
        Command::Spec {
            action: None,
            json,
            openapi,
            pages,
            output,
        } => commands::spec(&contract, json, openapi, pages, output.as_deref()),
        Command::Generate(args) => commands::generate(&contract, &args),
        Command::Mock(args) => runtime.block_on(commands::serve_mock(contract, args)),
        Command::Run(args) if args.compare_with.is_some() => {
            runtime.block_on(combine::compare_run(contract, *args))
        }
        Command::Run(args) => runtime.block_on(run::run(contract, *args)),
        Command::Snapshots(args) => snapshots::command(&args.action, &args.snapshot_dir),
        Command::Doctor(args) => runtime.block_on(upkeep::doctor(contract, &args)),
        Command::Proxy(args) => runtime.block_on(proxy::proxy(contract, args)),
        Command::Cleanup(args) => runtime.block_on(upkeep::cleanup(contract, &args)),
        Command::Init(args) => runtime.block_on(upkeep::init(contract, &args)),
        Command::Certificate {
            action: CertificateAction::Verify { file, public_key },
        } => commands::certificate_verify(&contract, &file, public_key.as_deref()),
        Command::Certificate {
            action: CertificateAction::Keygen { secret, public },
        } => commands::certificate_keygen(&secret, &public),
        Command::Report { action } => combine::command(&contract, &action),
    };
    outcome.unwrap_or_else(|e| report_error(&e))
}

/// Prints an error with its whole cause chain; returns its exit code.
fn report_error(e: &Error) -> i32 {
    let mut text = format!("error: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let line = s.to_string();
        if !text.contains(&line) {
            text.push_str(&format!("\n  caused by: {line}"));
        }
        source = s.source();
    }
    eprintln!("{text}");
    e.exit_code()
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}
