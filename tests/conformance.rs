//! The conformance suite as `cargo test`: one libtest-mimic trial per case,
//! named `operation::case`, against the target named by
//! `NIC_CONFORMANCE_TARGET` (a target file) or the built-in mock when unset.
//!
//! - curated cases (`cases/`) are normal trials, and their responses are
//!   insta snapshots under `snapshots/<target name>/` (`cargo insta review`);
//! - a generated budget (`NIC_CONFORMANCE_BUDGET` per operation and kind,
//!   default 5, seed `NIC_CONFORMANCE_SEED`, default 1) are ignored trials:
//!   `-- --ignored` or `-- --include-ignored` runs them.
//!
//! It gates like `run`: the same preflight before the first trial (no
//! baseline, no write), the same ledger (`nic-conformance cleanup` after a
//! crash) and locks, the same clean-up after the last trial; a trial fails
//! on findings at or above `NIC_CONFORMANCE_FAIL_ON` (`must`, the default,
//! or `should`) that the baseline `NIC_CONFORMANCE_BASELINE` does not accept,
//! and on undecided `must` rules. A failing trial prints a replay line that
//! runs it alone, as printed. `NIC_CONFORMANCE_MOCK_FAULT` (comma-separated)
//! gives the built-in mock fault profiles.
//!
//! Filtering, `--list`, `--exact` and `--format` are libtest-mimic's, so
//! `cargo nextest run --test conformance` works too.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use libtest_mimic::{Arguments, Failed, Trial};
use nic_conformance::case::{Case, CaseKind};
use nic_conformance::contract::{Contract, Severity};
use nic_conformance::curated::load_curated;
use nic_conformance::fixtures::{EXAMPLE_PROJECT_ID, example_fixtures};
use nic_conformance::generate::Generator;
use nic_conformance::http::Client;
use nic_conformance::ledger::Ledger;
use nic_conformance::mock::{FaultSet, MockConfig, RunningMock, start_local};
use nic_conformance::report::baseline::{Baseline, Origin};
use nic_conformance::runner::{RunOptions, Runner};
use nic_conformance::target::Target;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Everything the trials share, made on first use (so `--list` starts nothing).
struct World {
    runtime: tokio::runtime::Runtime,
    runner: Runner,
    snapshot_dir: PathBuf,
    fail_on: Severity,
    baseline: Option<Mutex<Baseline>>,
    _locks: Option<nic_conformance::lock::Locks>,
    _mock: Option<RunningMock>,
}

static WORLD: OnceLock<Result<World, String>> = OnceLock::new();

fn target_file() -> Option<PathBuf> {
    std::env::var_os("NIC_CONFORMANCE_TARGET").map(PathBuf::from)
}

fn fail_on() -> Result<Severity, String> {
    match std::env::var("NIC_CONFORMANCE_FAIL_ON").as_deref() {
        Err(_) | Ok("must") => Ok(Severity::Must),
        Ok("should") => Ok(Severity::Should),
        Ok(other) => Err(format!(
            "NIC_CONFORMANCE_FAIL_ON={other}: write must or should"
        )),
    }
}

/// The line that runs one trial alone, as printed (`{seed}` and `{case}` filled by the runner).
fn replay_template() -> String {
    let mut env = Vec::new();
    for name in [
        "NIC_CONFORMANCE_TARGET",
        "NIC_CONFORMANCE_BUDGET",
        "NIC_CONFORMANCE_MOCK_FAULT",
        "NIC_CONFORMANCE_FAIL_ON",
        "NIC_CONFORMANCE_BASELINE",
    ] {
        if let Ok(v) = std::env::var(name) {
            env.push(format!("{name}={}", shell_word(&v)));
        }
    }
    env.push("NIC_CONFORMANCE_SEED={seed}".into());
    format!(
        "{} cargo test --test conformance -- --exact --include-ignored {{case}}",
        env.join(" ")
    )
}

/// A word the shell reads back as written.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:,=@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn make_world(contract: Arc<Contract>) -> Result<World, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (target, mock) = match target_file() {
        Some(path) => (
            Target::load_or_builtin(Some(&path), |n| std::env::var(n).ok(), "")
                .map_err(|e| e.to_string())?,
            None,
        ),
        None => {
            let mut config = MockConfig::new(EXAMPLE_PROJECT_ID, example_fixtures());
            config.job_duration = std::time::Duration::from_millis(1);
            if let Ok(names) = std::env::var("NIC_CONFORMANCE_MOCK_FAULT") {
                let names: Vec<String> = names.split(',').map(str::to_string).collect();
                config.faults =
                    FaultSet::from_names(&contract, &names).map_err(|e| e.to_string())?;
            }
            let mock = runtime
                .block_on(start_local(contract.clone(), config))
                .map_err(|e| e.to_string())?;
            let target = Target::load_or_builtin(None, |n| std::env::var(n).ok(), &mock.base_url)
                .map_err(|e| e.to_string())?;
            (target, Some(mock))
        }
    };
    let snapshot_dir = Path::new(ROOT)
        .join("snapshots")
        .join(nic_conformance::snapshot::target_folder(&target.name));
    let baseline = match std::env::var_os("NIC_CONFORMANCE_BASELINE") {
        Some(path) => Some(Mutex::new(
            Baseline::load(Path::new(&path)).map_err(|e| e.to_string())?,
        )),
        None => None,
    };
    // A real target: the ledger and the locks `run` keeps.
    let mut opts = RunOptions::new(env_number("NIC_CONFORMANCE_SEED", 1));
    let mut locks = None;
    if mock.is_none() {
        let ledger = Ledger::default_path(&target.name, None);
        let dir = ledger
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let me = nic_conformance::lock::Holder::me("cargo test --test conformance");
        let (held, notices) =
            nic_conformance::lock::acquire(&dir, &target.mutable_resources(), &me)
                .map_err(|e| format!("{e} (one run per target at a time)"))?;
        for line in notices {
            eprintln!("notice: {line}");
        }
        locks = Some(held);
        opts.ledger = Some(ledger);
    }
    let client = Arc::new(Client::new(target).map_err(|e| e.to_string())?);
    opts.replay_template = Some(replay_template());
    let runner = Runner::new(contract, client, opts)
        .capturing_snapshots()
        .map_err(|e| e.to_string())?;
    for line in runtime
        .block_on(runner.open())
        .map_err(|e| format!("preflight: {e}"))?
    {
        eprintln!("notice: {line}");
    }
    Ok(World {
        runtime,
        runner,
        snapshot_dir,
        fail_on: fail_on()?,
        baseline,
        _locks: locks,
        _mock: mock,
    })
}

fn run_trial(contract: &Arc<Contract>, case: &Case) -> Result<(), Failed> {
    let world = WORLD
        .get_or_init(|| make_world(contract.clone()))
        .as_ref()
        .map_err(|e| Failed::from(e.clone()))?;
    let result = world.runtime.block_on(world.runner.run_case(case));
    if let Some(e) = result.error {
        return Err(format!("harness error: {e}").into());
    }
    // The gate `run` applies: at or above --fail-on, not accepted by the baseline.
    let mut problems = Vec::new();
    let origin = Origin::of(&result);
    for f in &result.findings {
        let accepted = world.baseline.as_ref().and_then(|b| {
            let mut b = b.lock().unwrap_or_else(|e| e.into_inner());
            b.accept(&f.id, &f.operation, &origin)
                .map(|e| e.reason.clone())
        });
        match accepted {
            Some(reason) => println!("accepted by the baseline ({reason}): {f}"),
            None if f.severity >= world.fail_on => problems.push(f.to_string()),
            None => println!("below the gate ({} and up fail): {f}", world.fail_on),
        }
    }
    // Not observed is not passed, where the rule is at the gate.
    for u in &result.undecided {
        let line = format!("undecided {}: {}", u.id, u.reason);
        if contract.severity_of(&u.id) >= world.fail_on {
            problems.push(line);
        } else {
            println!("{line}");
        }
    }
    if let Some(snapshot) = result.snapshot {
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(&world.snapshot_dir);
        settings.set_prepend_module_to_snapshot(false);
        settings.set_description(case.description.clone());
        settings.set_omit_expression(true);
        let name = nic_conformance::snapshot::snapshot_name(&case.id);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            settings.bind(|| insta::assert_snapshot!(name.as_str(), snapshot));
        }));
        if outcome.is_err() {
            problems.push(format!(
                "snapshot {name} differs (see the diff above; `cargo insta review` to accept)"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        // A finding names its replay line; an undecided rule alone does not.
        if !problems.iter().any(|p| p.contains(&result.replay)) {
            problems.push(format!("replay: {}", result.replay));
        }
        Err(problems.join("\n").into())
    }
}

fn trials(contract: &Arc<Contract>) -> Result<Vec<Trial>, String> {
    let target = Target::load_or_builtin(target_file().as_deref(), |n| std::env::var(n).ok(), "")
        .map_err(|e| e.to_string())?;
    let (project, fixtures) = (target.project_id, target.fixtures);
    let curated = load_curated(
        &Path::new(ROOT).join("cases"),
        contract,
        &project,
        &fixtures,
    )
    .map_err(|e| e.to_string())?;
    let generator = Generator::new(
        contract,
        &fixtures,
        &project,
        env_number("NIC_CONFORMANCE_SEED", 1),
    );
    let budget = env_number("NIC_CONFORMANCE_BUDGET", 5) as usize;
    let mut generated = Vec::new();
    for op in contract.documented_operations() {
        for kind in CaseKind::GENERATED {
            generated.extend(generator.cases(op, kind, budget));
        }
    }
    let mut out = Vec::new();
    for (case, ignored) in curated
        .into_iter()
        .map(|c| (c, false))
        .chain(generated.into_iter().map(|c| (c, true)))
    {
        let contract = contract.clone();
        let name = case.id.clone();
        let kind = if ignored { "generated" } else { "" };
        out.push(
            Trial::test(name, move || run_trial(&contract, &case))
                .with_kind(kind)
                .with_ignored_flag(ignored),
        );
    }
    Ok(out)
}

fn main() {
    // insta finds the workspace without running `cargo metadata`.
    // SAFETY: set before any thread is started.
    unsafe { std::env::set_var("INSTA_WORKSPACE_ROOT", ROOT) };
    let args = Arguments::from_args();
    let contract = match Contract::builtin() {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let trials = match trials(&contract) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let conclusion = libtest_mimic::run(&args, trials);
    // After the last trial, what `run` does after its last case.
    if let Some(Ok(world)) = WORLD.get() {
        let left = world.runtime.block_on(world.runner.close());
        if !left.is_empty() {
            eprintln!(
                "error: could not clean up (`nic-conformance cleanup` with the target file undoes it):"
            );
            for l in &left {
                eprintln!("  {l}");
            }
            std::process::exit(101);
        }
    }
    conclusion.exit();
}
