//! `proxy`: the validating proxy in front of a target, until Ctrl-C or SIGTERM.

use std::sync::Arc;

use crate::cli::{ProxyArgs, ReportFiles, env_var};
use crate::contract::Contract;
use crate::error::Error;
use crate::proxy::{Proxy, ProxyOptions};
use crate::report::Gate;
use crate::report::console::render;
use crate::target::Target;

pub async fn proxy(contract: Arc<Contract>, args: ProxyArgs) -> Result<i32, Error> {
    let outputs: Vec<&std::path::Path> = args.reports.paths().map(|p| p.as_path()).collect();
    ReportFiles::check_writable(&outputs, &[args.target.as_path()])?;
    let target = Target::load_or_builtin(Some(&args.target), env_var, "")?;
    refuse_open_signer(&target, &args.listen, args.verify_client)?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| Error::Usage(format!("cannot listen on {}: {e}", args.listen)))?;
    let options = ProxyOptions {
        verify_client: args.verify_client,
        stream_findings: !args.quiet,
        keep_junit: args.reports.junit.is_some(),
        connections: Default::default(),
    };
    let mut proxy = Proxy::new(contract.clone(), target.clone(), options)?;
    // The JSON report lists every exchange, as a run's lists every case.
    if let Some(path) = &args.reports.report_json {
        let log = crate::report::json::CaseLog::beside(path)
            .map_err(|e| Error::file(path, format!("cannot write beside the report: {e}")))?;
        proxy = proxy.logging_cases(log);
    }
    let running = crate::proxy::serve(proxy, listener)
        .await
        .map_err(|e| Error::Harness(format!("cannot serve the proxy: {e}")))?;
    crate::cli::commands::print_lines([running.base_url.clone()])?;
    wait_for_signal().await;
    eprintln!("stopping: writing the reports");
    let (summary, mut log) = running.stop_with_log().await;
    let gate = Gate::new(args.fail_on);
    args.reports
        .write(&summary, &contract, gate, &target, log.as_mut())?;
    let (code, why) = if summary.cases == 0 {
        (
            crate::error::exit::NOTHING_RAN,
            "no exchange passed through the proxy".to_string(),
        )
    } else {
        summary.exit_status(&contract, gate)
    };
    let text = render(&summary, &contract, false);
    crate::cli::commands::print_lines([format!("{text}exit {code}: {why}")])?;
    Ok(code)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = term.recv() => {},
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// A proxy in front of an AK/SK target signs every request it forwards with
/// the target's keys: without `--verify-client` anyone who reaches it gets
/// signed requests, so it may then listen on loopback only.
fn refuse_open_signer(target: &Target, listen: &str, verify_client: bool) -> Result<(), Error> {
    if verify_client || !matches!(target.auth, crate::target::Auth::AkSk { .. }) {
        return Ok(());
    }
    let loopback = listen
        .parse::<std::net::SocketAddr>()
        .map(|a| a.ip().is_loopback())
        .unwrap_or_else(|_| listen.starts_with("localhost:"));
    if loopback {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "--listen {listen} is not a loopback address, and the target signs with AK/SK: anyone who reaches the proxy would get requests signed with your keys\n  (add --verify-client, so only requests signed with the target's keys are forwarded, or listen on 127.0.0.1)"
    )))
}
