//! The commands that look after a real target around runs: `doctor`
//! (ready for a run?) and `cleanup` (undo what a run left, from its ledger).

use std::path::PathBuf;
use std::sync::Arc;

use crate::cli::commands::print_lines;
use crate::cli::{CleanupArgs, DoctorArgs, TargetArgs, env_var};
use crate::contract::Contract;
use crate::error::{Error, exit};
use crate::http::Client;
use crate::ledger::Ledger;
use crate::runner::RunOptions;
use crate::target::Target;

/// The runner `doctor` and `cleanup` work through: the target file's client, no cases.
fn target_runner(
    contract: Arc<Contract>,
    args: &TargetArgs,
) -> Result<(crate::runner::Runner, PathBuf, Target), Error> {
    let target = Target::load(&args.target, env_var)?;
    let ledger = args
        .ledger
        .clone()
        .unwrap_or_else(|| Ledger::default_path(&target.name, None));
    let mut opts = RunOptions::new(0);
    opts.replay_prefix = format!("nic-conformance run --target {}", args.target.display());
    // What doctor --probe-job changes is recorded like a run's setup.
    opts.ledger = Some(ledger.clone());
    let client = Arc::new(Client::new(target.clone())?);
    Ok((
        crate::runner::Runner::new(contract, client, opts),
        ledger,
        target,
    ))
}

/// Where a target's locks live: beside its ledger.
pub fn lock_dir(ledger: &std::path::Path) -> PathBuf {
    ledger
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."))
        .to_path_buf()
}

/// Takes the target's locks for this process, or says who holds them (exit 2).
pub fn lock_target(
    target: &Target,
    ledger: &std::path::Path,
    command: &str,
) -> Result<crate::lock::Locks, Error> {
    let me = crate::lock::Holder::me(command);
    let (locks, notices) = crate::lock::acquire(&lock_dir(ledger), &target.mutable_resources(), &me)
        .map_err(|e| match e {
            crate::lock::LockError::Held { .. } => Error::Target(format!(
                "{e}\n  one run per target at a time: wait for it to end (or give each parallel job a target file of its own)"
            )),
            other => Error::Harness(other.to_string()),
        })?;
    for line in notices {
        eprintln!("notice: {line}");
    }
    Ok(locks)
}

/// `doctor`: the preflight's checks, one line each, and the ledger's state,
/// for each server of the target.
pub async fn doctor(contract: Arc<Contract>, doctor: &DoctorArgs) -> Result<i32, Error> {
    let args = &doctor.target;
    let (runner, ledger, target) = target_runner(contract, args)?;
    let mut lines = Vec::new();
    let mut ready = true;
    let mut first = None;
    for (server, ledger) in server_ledgers(&runner, &ledger) {
        let found = server.preflight_checks().await;
        let mut checks = found.checks.clone();
        if runner.servers().nth(1).is_some() {
            for c in &mut checks {
                c.subject = format!("server {}: {}", server.server_id(), c.subject);
            }
        }
        lines.extend(checks.iter().map(|c| c.to_string()));
        ready &= !found.failed();
        ready &= ledger_lines(server, &ledger, &found, &args.target, &mut lines).await;
        first.get_or_insert(found);
    }
    for (r, holder) in crate::lock::holders(&lock_dir(&ledger), &target.mutable_resources()) {
        ready = false;
        lines.push(format!(
            "FAILED    {} {}: in use by a run: {holder}\n          fix: wait for that run to end",
            r.kind, r.id
        ));
    }
    if let (true, Some(found)) = (ready, &first) {
        lines.extend(estimate_lines(&runner, doctor, &target, &ledger, found).await?);
    }
    lines.push(if ready {
        "ready: a run can start".into()
    } else {
        "not ready: fix the FAILED lines first".into()
    });
    print_lines(lines)?;
    Ok(if ready { exit::OK } else { exit::ERROR })
}

/// Each server's runner with its ledger: the first's is `ledger`, the
/// others' lie beside it ([`Ledger::for_server`]).
fn server_ledgers<'r>(
    runner: &'r crate::runner::Runner,
    ledger: &std::path::Path,
) -> Vec<(&'r crate::runner::Runner, PathBuf)> {
    (runner.servers())
        .map(|server| (server, server.ledger_path().unwrap_or(ledger).to_path_buf()))
        .collect()
}

/// A server's ledger: nothing outstanding, and the fields the last run
/// recorded as they are now. Whether it is ready.
async fn ledger_lines(
    server: &crate::runner::Runner,
    ledger: &std::path::Path,
    found: &crate::runner::Preflight,
    target_file: &std::path::Path,
    lines: &mut Vec<String>,
) -> bool {
    match crate::ledger::read(ledger) {
        Ok(Some(o)) if !o.is_clean() => {
            lines.push(format!(
                "FAILED    ledger ({}): {} did not clean up\n          fix: nic-conformance cleanup --target {}",
                ledger.display(),
                o.describe_run(),
                target_file.display()
            ));
            false
        }
        Ok(o) => {
            lines.push(format!(
                "ok        ledger ({}): nothing outstanding",
                ledger.display()
            ));
            // What the last run found, against what the target shows now.
            let differing = server.fields_differing(o.as_ref(), found).await;
            for differs in &differing {
                lines.push(format!(
                    "FAILED    {differs}\n          fix: put it back by hand (the ledger's record is what the run found)"
                ));
            }
            differing.is_empty()
        }
        Err(e) => {
            lines.push(format!("FAILED    ledger: {e}"));
            false
        }
    }
}

/// Under this, a run is worth starting without a time budget.
const WORTH_WAITING: std::time::Duration = std::time::Duration::from_secs(600);

/// The default run's wall time on this target, from a read's round trip,
/// a job's length (given or probed) and the fixtures; and how many spare
/// ports would bring it under ten minutes.
async fn estimate_lines(
    runner: &crate::runner::Runner,
    doctor: &DoctorArgs,
    target: &Target,
    ledger: &std::path::Path,
    found: &crate::runner::Preflight,
) -> Result<Vec<String>, Error> {
    use crate::runner::Model;
    let Some(round_trip) = runner.round_trip().await else {
        return Ok(vec![
            "estimate: none (the server's NICs could not be listed three times)".into(),
        ]);
    };
    let (job, how) = match (doctor.job_time, doctor.probe_job) {
        (Some(t), _) => (t, "given"),
        (None, true) => {
            let _locks = lock_target(target, ledger, "doctor --probe-job")?;
            (
                runner.probe_job(found, round_trip).await?,
                "probed: the spare attached and detached again",
            )
        }
        (None, false) => {
            return Ok(vec![format!(
                "estimate: a read takes {}; give --job-time (or --probe-job) for the run's wall time",
                crate::text::duration(round_trip)
            )]);
        }
    };
    let servers = target.fixtures.servers();
    let spares = (servers.iter())
        .map(|s| 1 + s.extra_spare_port_ids.len())
        .min()
        .unwrap_or(1);
    let model = Model {
        round_trip,
        job,
        spares,
        servers: servers.len(),
    };
    // The plan is made once; each model tried replays it.
    let plan = runner.replay_plan()?;
    let e = plan.estimate(model);
    let mut lines = vec![format!(
        "estimate: about {} for the default run ({} cases; {} jobs of {} ({how}) on {}, each server's one after another, {} of them setup and clean-up; a read takes {})",
        crate::text::duration(e.wall),
        e.cases,
        e.jobs,
        crate::text::duration(job),
        match model.servers {
            1 => "the server".to_string(),
            n => format!("{n} servers"),
        },
        e.housekeeping,
        crate::text::duration(round_trip),
    )];
    if e.wall > WORTH_WAITING {
        lines.push(recommendation(&plan, model));
    }
    Ok(lines)
}

/// The fewest spare ports, and then the fewest servers, that bring the run
/// under [`WORTH_WAITING`], or why none does.
fn recommendation(plan: &crate::runner::Replayable, model: crate::runner::Model) -> String {
    use crate::runner::Model;
    let have = model.spares;
    for n in [2, 4, 8, 16, 32, 64].into_iter().filter(|n| *n > have) {
        let e = plan.estimate(Model { spares: n, ..model });
        if e.wall <= WORTH_WAITING {
            return format!(
                "  with {n} spare ports{} ({} more in extra_spare_port_ids): about {}",
                if model.servers > 1 {
                    " on each server"
                } else {
                    ""
                },
                n - have,
                crate::text::duration(e.wall)
            );
        }
    }
    // A server's changes are one after another: only more servers go faster.
    let mut last = None;
    for servers in [2, 3, 4, 6, 8].into_iter().filter(|s| *s > model.servers) {
        for spares in [have, 4, 8, 16].into_iter().filter(|n| *n >= have) {
            let e = plan.estimate(Model {
                spares,
                servers,
                ..model
            });
            if e.wall <= WORTH_WAITING {
                return format!(
                    "  with {servers} servers of {spares} spare port(s) each ({} more in [[fixtures.extra_servers]]): about {}",
                    servers - model.servers,
                    crate::text::duration(e.wall)
                );
            }
            last = Some((servers, spares, e));
        }
    }
    match last {
        Some((servers, spares, e)) => format!(
            "  even with {servers} servers of {spares} spare ports each about {} ({} jobs wait for the servers' turns): run --time-budget 10m exercises every rule first",
            crate::text::duration(e.wall),
            e.jobs
        ),
        None => "  run --time-budget 10m exercises every rule first".into(),
    }
}

/// `cleanup`: undoes what the ledgers record, server by server; exit 0
/// when the target is back.
pub async fn cleanup(contract: Arc<Contract>, args: &CleanupArgs) -> Result<i32, Error> {
    let (runner, ledger, target) = target_runner(contract, &args.target)?;
    let _locks = lock_target(
        &target,
        &ledger,
        &format!(
            "nic-conformance cleanup --target {}",
            args.target.target.display()
        ),
    )?;
    let mut lines = Vec::new();
    let (mut left, mut uncertain) = (false, false);
    for (server, ledger) in server_ledgers(&runner, &ledger) {
        let report = cleanup_server(server, &ledger, args, &mut lines).await?;
        if let Some(nothing) = &report.nothing {
            lines.push(nothing.clone());
            continue;
        }
        lines.extend(report.done.iter().map(|d| format!("done: {d}")));
        lines.extend(report.uncertain.iter().map(|u| format!("UNCERTAIN: {u}")));
        lines.extend(report.left.iter().map(|l| format!("LEFT: {l}")));
        left |= !report.left.is_empty();
        uncertain |= !report.uncertain.is_empty();
    }
    let back = !left && !uncertain;
    if lines.iter().any(|l| l.starts_with("done: ") || !back) {
        lines.push(if back {
            "the target is back to its fixtures".into()
        } else if !left {
            "the run's own changes are undone; the UNCERTAIN ports are for you to decide".into()
        } else {
            "the target is not back: remove what is LEFT by hand".into()
        });
    }
    print_lines(lines)?;
    Ok(if back { exit::OK } else { exit::FINDINGS })
}

/// Undoes what one server's ledger records.
async fn cleanup_server(
    runner: &crate::runner::Runner,
    ledger: &std::path::Path,
    args: &CleanupArgs,
    lines: &mut Vec<String>,
) -> Result<crate::runner::CleanupReport, Error> {
    let outstanding = crate::ledger::read(ledger).map_err(|e| {
        Error::file(
            ledger,
            format!("{e}\n  (fix or delete the line, then run cleanup again)"),
        )
    })?;
    match &outstanding {
        None => lines.push(format!(
            "no ledger at {}: only the target file's spare ports are detached",
            ledger.display()
        )),
        Some(o) if o.finished => {}
        Some(_) => {
            let notice = runner
                .continue_ledger(ledger)
                .map_err(|e| Error::file(ledger, format!("cannot write the ledger: {e}")))?;
            lines.extend(notice.map(|n| format!("notice: {n}")));
        }
    }
    if !outstanding.as_ref().is_some_and(|o| o.finished) {
        runner.detect_families().await;
    }
    Ok(runner
        .cleanup_from(outstanding.as_ref(), args.include_uncertain)
        .await)
}

/// `init`: reads the target, writes a commented target file, never writes to the target.
pub async fn init(contract: Arc<Contract>, args: &crate::cli::InitArgs) -> Result<i32, Error> {
    let file_error = |message: String| Error::File {
        path: args.output.clone(),
        message,
    };
    if args.output.exists() && !args.force {
        return Err(file_error(
            "exists already (pass --force to replace it, or --output another file)".into(),
        ));
    }
    crate::files::refuse_special(&args.output).map_err(|e| file_error(e.to_string()))?;
    let opts = crate::init::InitOptions {
        name: args.name.clone(),
        ecs_url: args.ecs_url.clone(),
        vpc_url: args.vpc_url.clone(),
        project_id: args.project_id.clone(),
        server_id: args.server_id.clone(),
        auth_kind: args.auth.clone(),
        token_env: args.token_env.clone(),
        ak_env: args.ak_env.clone(),
        sk_env: args.sk_env.clone(),
        spare_port_ids: args.spare_port_ids.clone(),
    };
    let target = crate::init::read_target(&opts, env_var).map_err(Error::Usage)?;
    let client = Client::new(target)?;
    let found = crate::init::discover(&contract, &client)
        .await
        .map_err(Error::Target)?;
    let text = crate::init::render(&opts, &found);
    crate::files::write_atomic(&args.output, text.as_bytes())
        .map_err(|e| file_error(e.to_string()))?;
    let blanks = text.matches("# FILL IN:").count();
    let mut lines = vec![format!(
        "wrote {} from the {} list of server {}'s NICs (primary port {}){}",
        args.output.display(),
        found.family,
        args.server_id,
        found.primary_port_id,
        match found.sub_network_interface_ids.len() {
            0 => String::new(),
            n => format!(", {n} supplementary NIC(s) listed"),
        }
    )];
    lines.extend(found.notes.iter().map(|n| format!("note: {n}")));
    lines.push(match blanks {
        0 => format!(
            "next: check it, then `nic-conformance doctor --target {}`",
            args.output.display()
        ),
        n => format!(
            "next: fill in the {n} value(s) marked FILL IN, then `nic-conformance doctor --target {}`",
            args.output.display()
        ),
    });
    print_lines(lines)?;
    Ok(exit::OK)
}
