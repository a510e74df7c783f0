//! The commands that look after a real target around runs: `doctor`
//! (ready for a run?) and `cleanup` (undo what a run left, from its ledger).

use std::path::PathBuf;
use std::sync::Arc;

use crate::cli::commands::print_lines;
use crate::cli::{TargetArgs, env_var};
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
) -> Result<(crate::runner::Runner, PathBuf), Error> {
    let target = Target::load(&args.target, env_var)?;
    let ledger = args
        .ledger
        .clone()
        .unwrap_or_else(|| Ledger::default_path(&target.name, None));
    let mut opts = RunOptions::new(0);
    opts.replay_prefix = format!("nic-conformance run --target {}", args.target.display());
    let client = Arc::new(Client::new(target)?);
    Ok((crate::runner::Runner::new(contract, client, opts), ledger))
}

/// `doctor`: the preflight's checks, one line each, and the ledger's state.
pub async fn doctor(contract: Arc<Contract>, args: &TargetArgs) -> Result<i32, Error> {
    let (runner, ledger) = target_runner(contract, args)?;
    let found = runner.preflight_checks().await;
    let mut lines: Vec<String> = found.checks.iter().map(|c| c.to_string()).collect();
    let mut ready = !found.failed();
    match crate::ledger::read(&ledger) {
        Ok(Some(o)) if !o.is_clean() => {
            ready = false;
            lines.push(format!(
                "FAILED    ledger ({}): an earlier run did not clean up\n          fix: nic-conformance cleanup --target {}",
                ledger.display(),
                args.target.display()
            ));
        }
        Ok(_) => lines.push(format!(
            "ok        ledger ({}): nothing outstanding",
            ledger.display()
        )),
        Err(e) => {
            ready = false;
            lines.push(format!("FAILED    ledger: {e}"));
        }
    }
    lines.push(if ready {
        "ready: a run can start".into()
    } else {
        "not ready: fix the FAILED lines first".into()
    });
    print_lines(lines)?;
    Ok(if ready { exit::OK } else { exit::ERROR })
}

/// `cleanup`: undoes what the ledger records; exit 0 when the target is back.
pub async fn cleanup(contract: Arc<Contract>, args: &TargetArgs) -> Result<i32, Error> {
    let (runner, ledger) = target_runner(contract, args)?;
    let outstanding = crate::ledger::read(&ledger).map_err(|e| {
        Error::file(
            &ledger,
            format!("{e}\n  (fix or delete the line, then run cleanup again)"),
        )
    })?;
    let mut lines = Vec::new();
    match &outstanding {
        None => lines.push(format!(
            "no ledger at {}: only the spare ports are detached",
            ledger.display()
        )),
        Some(_) => {
            runner
                .continue_ledger(&ledger)
                .map_err(|e| Error::file(&ledger, format!("cannot write the ledger: {e}")))?;
        }
    }
    let report = runner.cleanup_from(outstanding.as_ref()).await;
    lines.extend(report.done.iter().map(|d| format!("done: {d}")));
    lines.extend(report.left.iter().map(|l| format!("LEFT: {l}")));
    let back = report.left.is_empty();
    lines.push(if back {
        "the target is back to its fixtures".into()
    } else {
        "the target is not back: remove what is LEFT by hand".into()
    });
    print_lines(lines)?;
    Ok(if back { exit::OK } else { exit::FINDINGS })
}
