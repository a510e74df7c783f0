//! `proxy`: the validating proxy in front of a target, until Ctrl-C or SIGTERM.

use std::sync::Arc;

use crate::cli::{ProxyArgs, env_var};
use crate::contract::Contract;
use crate::error::Error;
use crate::files::{check_writable, write_atomic};
use crate::proxy::{Proxy, ProxyOptions};
use crate::report::console::render;
use crate::report::{Gate, html, json, junit};
use crate::target::Target;

pub async fn proxy(contract: Arc<Contract>, args: ProxyArgs) -> Result<i32, Error> {
    for path in [&args.report_json, &args.report_html, &args.junit]
        .into_iter()
        .flatten()
    {
        check_writable(path)
            .map_err(|e| Error::file(path, format!("cannot write the report there: {e}")))?;
    }
    let target = Target::load_or_builtin(Some(&args.target), env_var, "")?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| Error::Usage(format!("cannot listen on {}: {e}", args.listen)))?;
    let options = ProxyOptions {
        verify_client: args.verify_client,
        stream_findings: !args.quiet,
        keep_junit: args.junit.is_some(),
    };
    let urls = [
        ("ECS URL", target.ecs_url.clone()),
        ("VPC URL", target.vpc_url.clone()),
    ];
    let proxy = Proxy::new(contract.clone(), target, options)?;
    let running = crate::proxy::serve(proxy, listener)
        .await
        .map_err(|e| Error::Harness(format!("cannot serve the proxy: {e}")))?;
    crate::cli::commands::print_lines([running.base_url.clone()])?;
    wait_for_signal().await;
    eprintln!("stopping: writing the reports");
    let summary = running.stop().await;
    let gate = Gate::new(args.fail_on);
    if let Some(path) = &args.report_json {
        json::write_report(path, &json::to_json(&summary, &contract, gate), None)
            .map_err(|e| Error::file(path, format!("cannot write the report: {e}")))?;
    }
    if let Some(path) = &args.junit {
        write_atomic(path, junit::to_junit(&summary)?.as_bytes())
            .map_err(|e| Error::file(path, format!("cannot write the JUnit report: {e}")))?;
    }
    if let Some(path) = &args.report_html {
        let page = html::to_html(&summary, &contract, gate, &urls);
        write_atomic(path, page.as_bytes())
            .map_err(|e| Error::file(path, format!("cannot write the HTML report: {e}")))?;
    }
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
