//! `run`: the conformance run against a target file or the built-in mock.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::cli::{ReportFiles, RunArgs, env_var};
use crate::contract::Contract;
use crate::error::{Error, exit};
use crate::http::Client;
use crate::mock::{self, FaultSet, MockConfig, RunningMock};
use crate::report::console::{Progress, ProgressStyle, render};
use crate::report::{Gate, Summary, baseline, json};
use crate::runner::event::Fanout;
use crate::runner::{RunOptions, Runner};
use crate::snapshot::{SnapshotStore, WriteMode};
use crate::target::Target;

/// The target of the run; the built-in mock is started here when there is no file.
async fn resolve_target(
    contract: &Arc<Contract>,
    args: &RunArgs,
) -> Result<(Target, Option<RunningMock>), Error> {
    if args.target.is_some() {
        let mock_only = !args.mock_faults.is_empty()
            || args.mock_batch != Default::default()
            || args.mock_success != Default::default()
            || args.mock_validate != Default::default();
        if mock_only {
            return Err(Error::Usage(
                "--mock-fault, --mock-batch, --mock-success and --mock-validate apply to the built-in mock only\n  (drop --target, or drop them)".into(),
            ));
        }
        // A dry run sends nothing: it needs no credentials (they show as ***).
        let target = if args.dry_run {
            Target::load_or_builtin(args.target.as_deref(), crate::cli::commands::no_secrets, "")?
        } else {
            Target::load_or_builtin(args.target.as_deref(), env_var, "")?
        };
        return Ok((target, None));
    }
    let builtin = Target::builtin("");
    let mut config = MockConfig::new(&builtin.project_id, builtin.fixtures.clone());
    config.faults = FaultSet::from_names(contract, &args.mock_faults)?;
    config.batch = args.mock_batch;
    config.success = args.mock_success;
    config.validate = args.mock_validate;
    config.job_duration = std::time::Duration::from_millis(1);
    let running = mock::start_local(contract.clone(), config)
        .await
        .map_err(|e| Error::Harness(format!("cannot start the built-in mock: {e}")))?;
    let target = Target::load_or_builtin(None, env_var, &running.base_url)?;
    Ok((target, Some(running)))
}

fn options(contract: &Contract, args: &RunArgs) -> Result<RunOptions, Error> {
    let mut opts = RunOptions::new(args.seed.unwrap_or_else(crate::runner::fresh_seed));
    opts.budget = args.budget;
    if !args.kinds.is_empty() {
        opts.kinds = args.kinds.clone();
    }
    opts.include_curated = !args.no_curated;
    opts.cases_dir = args.cases.clone().or_else(|| {
        let here = std::path::PathBuf::from("cases");
        here.is_dir().then_some(here)
    });
    opts.operations = args.operations.clone();
    opts.skip = args.skip.clone();
    for id in opts.operations.iter().chain(&opts.skip) {
        crate::cli::commands::documented_operation(contract, id)?;
    }
    opts.case_filter = args.case.clone();
    opts.save_failures = args.save_failures.clone();
    opts.shard = args.shard;
    opts.max_requests = args.max_requests;
    opts.time_budget = args.time_budget;
    opts.dry_run = args.dry_run;
    opts.replay_prefix = match &args.target {
        Some(p) => format!("nic-conformance run --target {}", p.display()),
        None => "nic-conformance run".into(),
    };
    Ok(opts)
}

/// Ctrl-C or SIGTERM (a cancelled CI job) stops starting cases; the cases in
/// flight finish, the run cleans up and writes its reports, within `grace`.
/// A second signal, or the grace spent, ends the run at once, saying how to
/// undo what is left.
fn on_interrupt(
    cancel: Arc<std::sync::atomic::AtomicBool>,
    client: Arc<Client>,
    terminated: Arc<std::sync::atomic::AtomicBool>,
    left_behind: String,
    grace: std::time::Duration,
    scratch: Option<std::path::PathBuf>,
) {
    tokio::spawn(async move {
        let first = signal().await;
        let (name, again) = if first == exit::TERMINATED {
            ("SIGTERM", "a second SIGTERM or Ctrl-C")
        } else {
            ("interrupted", "Ctrl-C again")
        };
        eprintln!(
            "\n{name}: finishing the cases in flight and cleaning up for at most {}s ({again} quits now)",
            grace.as_secs_f64()
        );
        terminated.store(first == exit::TERMINATED, Ordering::Relaxed);
        cancel.store(true, Ordering::Relaxed);
        client.stop_cases();
        let code = tokio::select! {
            second = signal() => {
                eprintln!("abandoned without cleaning up: {left_behind}");
                second
            }
            _ = tokio::time::sleep(grace) => {
                eprintln!(
                    "the shutdown grace of {}s is spent; stopping without finishing the cleanup: {left_behind}",
                    grace.as_secs_f64()
                );
                first
            }
        };
        // The JSON report's scratch file would be left hidden beside it.
        if let Some(path) = &scratch {
            let _ = std::fs::remove_file(path);
        }
        std::process::exit(code);
    });
}

/// Waits for Ctrl-C or SIGTERM; returns the exit code each stands for.
async fn signal() -> i32 {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => exit::ABANDONED,
                _ = term.recv() => exit::TERMINATED,
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    exit::ABANDONED
}

/// The reports asked for, written after the run.
fn write_reports(
    contract: &Contract,
    args: &RunArgs,
    target: &Target,
    summary: &Summary,
    log: Option<&mut json::CaseLog>,
) -> Result<(), Error> {
    args.reports
        .write(summary, contract, gate(args), target, log)?;
    if let Some(path) = &args.write_baseline {
        // Accepted findings stay accepted: the new baseline is all the run found.
        let found = summary.findings.values().chain(summary.accepted.values());
        let entries = baseline::entries_for(found);
        for e in entries.iter().filter(|e| e.is_broad()) {
            eprintln!(
                "warning: the baseline entry {} names no case or class: it accepts every finding of its id on the operation",
                e.label()
            );
        }
        baseline::write(path, entries, summary.baseline.as_ref())?;
    }
    Ok(())
}

fn gate(args: &RunArgs) -> Gate {
    Gate {
        fail_on: args.gate.fail_on,
        allow_partial: args.gate.allow_partial,
        fail_on_unexercised: args.gate.fail_on_unexercised,
        strict_baseline: args.strict_baseline,
    }
}

/// What the run will need, checked before it starts: the output paths
/// can be written, the curated cases folder exists.
fn check_inputs(args: &RunArgs) -> Result<(), Error> {
    let mut outputs: Vec<&std::path::Path> = args.reports.paths().map(|p| p.as_path()).collect();
    outputs.extend(args.write_baseline.as_deref());
    outputs.extend(args.certificate.as_deref());
    outputs.extend(args.ledger.as_deref());
    // The baseline may be rewritten in place (`--baseline F --write-baseline F`).
    let baseline = args.baseline.as_deref().filter(|b| {
        args.write_baseline
            .as_deref()
            .is_none_or(|w| crate::files::find_clash(&[w], &[b]).is_none())
    });
    let inputs: Vec<&std::path::Path> =
        args.target.as_deref().into_iter().chain(baseline).collect();
    ReportFiles::check_writable(&outputs, &inputs)?;
    if let Some(dir) = args
        .cases
        .as_ref()
        .filter(|d| !args.no_curated && !d.is_dir())
    {
        return Err(Error::file(
            dir,
            "no such folder of curated cases\n  (leave out --cases for the built-in ones, or pass --no-curated)",
        ));
    }
    Ok(())
}

pub async fn run(contract: Arc<Contract>, args: RunArgs) -> Result<i32, Error> {
    check_inputs(&args)?;
    let started = crate::signing::sdk_date_now();
    let (mut target, builtin) = resolve_target(&contract, &args).await?;
    apply_limit_flags(&mut target, &args);
    let mut opts = options(&contract, &args)?;
    // A real target keeps a ledger; the built-in mock's state ends with the run.
    if args.target.is_some() {
        opts.ledger = Some(
            args.ledger
                .clone()
                .unwrap_or_else(|| crate::ledger::Ledger::default_path(&target.name, args.shard)),
        );
    }
    let client = Arc::new(Client::new(target.clone())?);
    let mut runner = Runner::new(contract.clone(), client.clone(), opts);
    if args.list {
        let ids = runner.list()?;
        return crate::cli::commands::print_lines(ids);
    }
    runner = with_snapshots(runner, &contract, &args, &target)?;
    let terminated = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let left_behind = left_behind(&args, &runner);
    // One run per target: held until the process ends (dry runs send nothing).
    let _locks = match (args.target.as_ref(), runner.ledger_path()) {
        (Some(file), Some(ledger)) if !args.dry_run => Some(crate::cli::upkeep::lock_target(
            &target,
            ledger,
            &format!("nic-conformance run --target {}", file.display()),
        )?),
        _ => None,
    };
    on_interrupt(
        runner.cancel_flag(),
        client.clone(),
        terminated.clone(),
        left_behind,
        std::time::Duration::from_secs_f64(args.shutdown_grace),
        args.reports
            .report_json
            .as_deref()
            .map(json::CaseLog::path_beside),
    );
    let mut progress = Progress::new(progress_style(&args));
    let mut summary = Summary::new(&contract, args.reports.junit.is_some());
    summary.baseline = args
        .baseline
        .as_deref()
        .map(baseline::Baseline::load)
        .transpose()?;
    let mut log = match &args.reports.report_json {
        Some(p) if !args.dry_run => Some(
            json::CaseLog::beside(p)
                .map_err(|e| Error::file(p, format!("cannot write the report there: {e}")))?,
        ),
        _ => None,
    };
    {
        let mut reporters: Vec<&mut dyn crate::runner::event::Reporter> =
            vec![&mut progress, &mut summary];
        if let Some(log) = log.as_mut() {
            reporters.push(log);
        }
        Arc::new(runner).run(&mut Fanout(reporters)).await;
    }
    summary.terminated = terminated.load(Ordering::Relaxed);
    let code = conclude(&contract, &args, &target, &summary, log.as_mut(), started)?;
    if let Some(m) = builtin {
        m.stop().await;
    }
    Ok(code)
}

/// After the run: the exit status, the reports, the baseline and the
/// certificate written, the summary printed; the exit code.
fn conclude(
    contract: &Contract,
    args: &RunArgs,
    target: &Target,
    summary: &Summary,
    log: Option<&mut json::CaseLog>,
    started: String,
) -> Result<i32, Error> {
    let (mut code, mut why) = summary.exit_status(contract, gate(args));
    let written = write_reports(contract, args, target, summary, log);
    // Writing a baseline accepts what the run found: the step that writes it succeeds.
    if let (Some(path), Ok(()), exit::FINDINGS) = (&args.write_baseline, &written, code)
        && summary.errors.is_empty()
    {
        code = exit::OK;
        why = format!(
            "wrote the baseline {} ({why}, now accepted there); write each entry's reason before gating on it",
            path.display()
        );
    }
    let certified = match &args.certificate {
        Some(path) if !args.dry_run => {
            write_certificate(path, contract, args, target, summary, started, code)
        }
        _ => Ok(()),
    };
    if !args.dry_run || code != exit::OK {
        print_summary(summary, contract, args, code, &why)?;
    }
    written?;
    certified?;
    Ok(code)
}

/// The run's certificate, written atomically.
fn write_certificate(
    path: &std::path::Path,
    contract: &Contract,
    args: &RunArgs,
    target: &Target,
    summary: &Summary,
    started: String,
    exit_code: i32,
) -> Result<(), Error> {
    use crate::report::certificate::{Certificate, RunFacts};
    let mut endpoints: Vec<String> = [&target.ecs_url, &target.vpc_url]
        .into_iter()
        .filter(|u| !u.is_empty())
        .map(|u| crate::report::html::without_userinfo(u))
        .collect();
    endpoints.dedup();
    let facts = RunFacts {
        target_name: &target.name,
        target_file: args.target.as_ref().map(|f| f.display().to_string()),
        endpoints,
        selection: selection(args),
        started,
        ended: crate::signing::sdk_date_now(),
        exit_code,
    };
    let mut cert = Certificate::of(summary, contract, facts);
    if let Some(key) = &args.sign_key {
        let key =
            crate::report::certificate::keys::read_signing(key).map_err(|e| Error::file(key, e))?;
        cert.sign(&key);
    }
    let text = serde_json::to_string_pretty(&cert).map_err(|e| Error::Harness(e.to_string()))?;
    crate::files::write_atomic(path, format!("{text}\n").as_bytes())
        .map_err(|e| Error::file(path, format!("cannot write: {e}")))
}

/// The `run` arguments that choose the cases, as a re-run needs them.
fn selection(args: &RunArgs) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(b) = args.budget {
        out.extend(["--budget".to_string(), b.to_string()]);
    }
    for k in &args.kinds {
        let kind = serde_json::to_value(k).ok();
        let kind = kind.as_ref().and_then(|v| v.as_str()).unwrap_or_default();
        out.extend(["--kind".to_string(), kind.to_string()]);
    }
    for o in &args.operations {
        out.extend(["--operation".to_string(), o.clone()]);
    }
    for s in &args.skip {
        out.extend(["--skip".to_string(), s.clone()]);
    }
    if let Some(c) = &args.case {
        out.extend(["--case".to_string(), c.clone()]);
    }
    if args.no_curated {
        out.push("--no-curated".into());
    }
    if let Some((k, n)) = args.shard {
        out.extend(["--shard".to_string(), format!("{k}/{n}")]);
    }
    // Both decide how far the run got; a time budget also orders the cases.
    if let Some(m) = args.max_requests {
        out.extend(["--max-requests".to_string(), m.to_string()]);
    }
    if let Some(t) = args.time_budget {
        out.extend(["--time-budget".to_string(), format!("{}s", t.as_secs())]);
    }
    // The built-in mock's faults make it the target it was.
    for f in &args.mock_faults {
        out.extend(["--mock-fault".to_string(), f.clone()]);
    }
    out
}

/// `--concurrency`, `--rate` and `--job-timeout` over the target file's limits.
fn apply_limit_flags(target: &mut Target, args: &RunArgs) {
    if let Some(c) = args.concurrency {
        target.limits.concurrency = c as usize;
    }
    if let Some(r) = args.rate {
        target.limits.rate_per_second = r.max(0.0);
    }
    if let Some(secs) = args.job_timeout.filter(|s| *s > 0.0 && s.is_finite()) {
        target.limits.job_timeout = std::time::Duration::from_secs_f64(secs);
    }
}

/// The snapshot store the run compares curated answers with, if any.
fn with_snapshots(
    mut runner: Runner,
    contract: &Contract,
    args: &RunArgs,
    target: &Target,
) -> Result<Runner, Error> {
    // Snapshots are the default mock's answers: a variant answers otherwise by design.
    let variant = args.mock_batch != Default::default() || args.mock_success != Default::default();
    if variant && args.target.is_none() && !args.no_snapshots {
        runner.notice(
            "snapshots not compared: they were recorded against the mock without --mock-batch or --mock-success",
        );
    } else if !args.no_snapshots {
        let mode = WriteMode::from_flags(args.record, args.update_snapshots);
        let store = SnapshotStore::open(&args.snapshot_dir, &target.name, mode, contract)?;
        runner = runner.with_snapshots(Arc::new(store));
    }
    Ok(runner)
}

/// What an abandoned run says it leaves, and how to undo it.
fn left_behind(args: &RunArgs, runner: &Runner) -> String {
    match (&args.target, runner.ledger_path()) {
        (Some(file), Some(ledger)) => format!(
            "the ledger {} records what the run left; `nic-conformance cleanup --target {}` undoes it",
            ledger.display(),
            file.display()
        ),
        _ => "the built-in mock's state ends with the process".into(),
    }
}

fn progress_style(args: &RunArgs) -> ProgressStyle {
    if args.quiet {
        ProgressStyle::Quiet
    } else if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        ProgressStyle::Bar
    } else {
        ProgressStyle::Lines
    }
}

/// What to do next, the summary, and the closing line with the exit code.
fn print_summary(
    summary: &Summary,
    contract: &Contract,
    args: &RunArgs,
    code: i32,
    why: &str,
) -> Result<i32, Error> {
    let colour = std::io::IsTerminal::is_terminal(&std::io::stdout());
    // A run that could not start has nothing to summarise: the closing line says why.
    let text = if args.dry_run || (summary.cases == 0 && summary.end.fatal.is_some()) {
        String::new()
    } else {
        let next = crate::report::console::next_step(summary, code, &args.snapshot_dir);
        format!("{next}\n\n{}", render(summary, contract, colour))
    };
    crate::cli::commands::print_lines([format!("{text}exit {code}: {why}")])
}
