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
    ReportFiles::check_writable(args.reports.paths())?;
    let target = Target::load_or_builtin(Some(&args.target), env_var, "")?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| Error::Usage(format!("cannot listen on {}: {e}", args.listen)))?;
    let options = ProxyOptions {
        verify_client: args.verify_client,
        stream_findings: !args.quiet,
        keep_junit: args.reports.junit.is_some(),
    };
    let proxy = Proxy::new(contract.clone(), target.clone(), options)?;
    let running = crate::proxy::serve(proxy, listener)
        .await
        .map_err(|e| Error::Harness(format!("cannot serve the proxy: {e}")))?;
    crate::cli::commands::print_lines([running.base_url.clone()])?;
    wait_for_signal().await;
    eprintln!("stopping: writing the reports");
    let summary = running.stop().await;
    let gate = Gate::new(args.fail_on);
    args.reports
        .write(&summary, &contract, gate, &target, None)?;
    let (code, why) = if summary.cases == 0 {
        (
            crate::error::exit::NOTHING_RAN,
            "no exchange passed through the proxy".to_string(),
        )
    } else {
        summary.verdict(&contract, gate)
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
