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
//! Filtering, `--list`, `--exact` and `--format` are libtest-mimic's, so
//! `cargo nextest run --test conformance` works too.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use libtest_mimic::{Arguments, Failed, Trial};
use nic_conformance::case::{Case, CaseKind, load_curated};
use nic_conformance::contract::Contract;
use nic_conformance::fixtures::{EXAMPLE_PROJECT_ID, example_fixtures};
use nic_conformance::generate::Generator;
use nic_conformance::http::Client;
use nic_conformance::mock::{MockConfig, RunningMock, start_local};
use nic_conformance::runner::{RunOptions, Runner};
use nic_conformance::target::Target;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Everything the trials share, made on first use (so `--list` starts nothing).
struct World {
    runtime: tokio::runtime::Runtime,
    runner: Runner,
    snapshot_dir: PathBuf,
    _mock: Option<RunningMock>,
}

static WORLD: OnceLock<Result<World, String>> = OnceLock::new();

fn target_file() -> Option<PathBuf> {
    std::env::var_os("NIC_CONFORMANCE_TARGET").map(PathBuf::from)
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
    let client = Arc::new(Client::new(target).map_err(|e| e.to_string())?);
    let mut opts = RunOptions::new(env_number("NIC_CONFORMANCE_SEED", 1));
    opts.replay_prefix = "cargo test --test conformance -- --exact".into();
    let runner = Runner::new(contract, client, opts)
        .capturing_snapshots()
        .map_err(|e| e.to_string())?;
    Ok(World {
        runtime,
        runner,
        snapshot_dir,
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
    let mut problems: Vec<String> = result.findings.iter().map(|f| f.to_string()).collect();
    // Not observed is not passed.
    problems.extend(
        result
            .undecided
            .iter()
            .map(|u| format!("undecided {}: {}", u.id, u.reason)),
    );
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
    libtest_mimic::run(&args, trials).exit();
}
