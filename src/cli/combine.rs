//! `report merge` and `report diff`: runs' JSON reports read back and
//! combined, never a request sent.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};

use crate::cli::commands::print_lines;
use crate::cli::{GateArgs, ReportFiles, RunArgs};
use crate::contract::Contract;
use crate::error::Error;
use crate::files::write_atomic;
use crate::report::compare::{compare, mismatch};
use crate::report::fleet::Fleet;
use crate::report::merge::{RunReport, merge_shards};
use crate::report::{Gate, html, json, junit};

#[derive(Subcommand, Debug)]
pub enum ReportAction {
    /// Shards of one run (`run --shard K/N --report-json …`) into the report of
    /// the whole run; reports of different targets into a fleet page (a
    /// target × rule matrix, the findings by rule across targets).
    Merge(MergeArgs),
    /// Two runs of the same cases (same seed and contract) against two
    /// targets, case by case: where one side violates a rule the other does
    /// not (exit 1), and where both answered as the pages allow but differently.
    Diff {
        /// The first run's JSON report (A).
        a: PathBuf,
        /// The second run's JSON report (B).
        b: PathBuf,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// JSON reports written by `run --report-json`.
    #[arg(required = true, num_args = 1.., value_name = "REPORT")]
    pub reports: Vec<PathBuf>,
    /// The merged run's gate (`--fail-on` also gates a fleet's JUnit).
    #[command(flatten)]
    pub gate: GateArgs,
    #[command(flatten)]
    pub files: ReportFiles,
}

pub fn command(contract: &Contract, action: &ReportAction) -> Result<i32, Error> {
    match action {
        ReportAction::Merge(args) => merge(contract, args),
        ReportAction::Diff { a, b, json } => diff(a, b, *json),
    }
}

fn read_all(paths: &[PathBuf]) -> Result<Vec<RunReport>, Error> {
    paths.iter().map(|p| RunReport::read(p)).collect()
}

fn merge(contract: &Contract, args: &MergeArgs) -> Result<i32, Error> {
    let outputs: Vec<&std::path::Path> = args.files.paths().map(PathBuf::as_path).collect();
    let inputs: Vec<&std::path::Path> = args.reports.iter().map(PathBuf::as_path).collect();
    ReportFiles::check_writable(&outputs, &inputs)?;
    if outputs.is_empty() {
        return Err(Error::Usage(
            "nothing to write: give --report-json, --report-html or --junit".into(),
        ));
    }
    let reports = read_all(&args.reports)?;
    if reports.iter().any(|r| r.shard().is_some()) {
        return merge_run(contract, args, &reports);
    }
    let fleet = Fleet::of(reports, contract);
    if let Some(path) = &args.files.report_json {
        let text = serde_json::to_string_pretty(&fleet.to_json())
            .map_err(|e| Error::Harness(e.to_string()))?;
        write_atomic(path, text.as_bytes())
            .map_err(|e| Error::file(path, format!("cannot write the fleet report: {e}")))?;
    }
    if let Some(path) = &args.files.junit {
        let text = fleet
            .to_junit(contract, args.gate.fail_on)
            .map_err(Error::Harness)?;
        write_atomic(path, text.as_bytes())
            .map_err(|e| Error::file(path, format!("cannot write the JUnit report: {e}")))?;
    }
    if let Some(path) = &args.files.report_html {
        write_atomic(path, html::fleet::fleet_html(&fleet, contract).as_bytes())
            .map_err(|e| Error::file(path, format!("cannot write the fleet page: {e}")))?;
    }
    let mut lines = vec![format!("a fleet of {} runs:", fleet.members.len())];
    for m in &fleet.members {
        let mut notes = String::new();
        if m.other_contract {
            notes.push_str(" (other contract)");
        }
        if m.other_seed {
            notes.push_str(" (other seed)");
        }
        let violated = m.statuses.values().filter(|s| *s == "violated").count();
        lines.push(format!(
            "  {}: exit {}, {violated} rule(s) violated{notes}",
            m.label,
            m.report.number("exit_code").unwrap_or(-1)
        ));
    }
    print_lines(lines)?;
    Ok(fleet.exit_code())
}

/// The shards' reports as the report of the whole run.
fn merge_run(contract: &Contract, args: &MergeArgs, reports: &[RunReport]) -> Result<i32, Error> {
    let (summary, cases) =
        merge_shards(reports, contract, args.files.junit.is_some()).map_err(Error::Usage)?;
    let gate = Gate {
        allow_partial: args.gate.allow_partial,
        fail_on_unexercised: args.gate.fail_on_unexercised,
        ..Gate::new(args.gate.fail_on)
    };
    if let Some(path) = &args.files.report_json {
        let mut report = json::to_json(&summary, contract, gate);
        report["case_results"] = serde_json::Value::Array(cases);
        json::write_report(path, &report, None)
            .map_err(|e| Error::file(path, format!("cannot write the report: {e}")))?;
    }
    if let Some(path) = &args.files.junit {
        write_atomic(path, junit::to_junit(&summary, gate)?.as_bytes())
            .map_err(|e| Error::file(path, format!("cannot write the JUnit report: {e}")))?;
    }
    if let Some(path) = &args.files.report_html {
        write_atomic(
            path,
            html::to_html(&summary, contract, gate, &[]).as_bytes(),
        )
        .map_err(|e| Error::file(path, format!("cannot write the HTML report: {e}")))?;
    }
    let (code, why) = summary.exit_status(contract, gate);
    println!(
        "merged {} shards of {} (seed {}): {} cases, {} passed; exit {code}: {why}",
        reports.len(),
        summary.target,
        summary.seed,
        summary.cases,
        summary.passed
    );
    Ok(code)
}

fn diff(a: &std::path::Path, b: &std::path::Path, as_json: bool) -> Result<i32, Error> {
    let (ra, rb) = (RunReport::read(a)?, RunReport::read(b)?);
    if let Some(why) = mismatch(&ra, &rb) {
        return Err(Error::Usage(format!(
            "{} and {} did not run the same cases: {why} (run both with the same --seed and selection)",
            a.display(),
            b.display()
        )));
    }
    let comparison = compare(&ra, &rb);
    let text = match as_json {
        true => {
            serde_json::to_string_pretty(&comparison).map_err(|e| Error::Harness(e.to_string()))?
        }
        false => comparison.to_text(),
    };
    print_lines(text.lines().map(str::to_string))?;
    Ok(comparison.exit_code())
}

/// `run --compare-with OTHER`: the run as asked (A), then the same seed and
/// selection against OTHER (B), then their cases side by side.
pub async fn compare_run(contract: Arc<Contract>, mut args: RunArgs) -> Result<i32, Error> {
    let Some(other) = args.compare_with.take() else {
        return crate::cli::run::run(contract, args).await;
    };
    let seed = *args.seed.get_or_insert_with(rand::random);
    let scratch =
        std::env::temp_dir().join(format!("nic-conformance-compare-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)
        .map_err(|e| Error::file(&scratch, format!("cannot make a scratch folder: {e}")))?;
    let result = compare_in(contract, args, &other, seed, &scratch).await;
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

async fn compare_in(
    contract: Arc<Contract>,
    mut a: RunArgs,
    other: &str,
    seed: u64,
    scratch: &std::path::Path,
) -> Result<i32, Error> {
    let report_a = a
        .reports
        .report_json
        .get_or_insert_with(|| scratch.join("a.json"))
        .clone();
    let mut b = a.clone();
    b.target = (other != "mock").then(|| PathBuf::from(other));
    b.mock_faults.clear();
    b.reports = ReportFiles {
        report_json: Some(scratch.join("b.json")),
        junit: None,
        report_html: None,
    };
    b.certificate = None;
    b.baseline = None;
    b.strict_baseline = false;
    b.ledger = None;
    println!("A: the run as asked (seed {seed})");
    let code_a = crate::cli::run::run(contract.clone(), a).await?;
    println!("\nB: the same cases against {other}");
    let code_b = crate::cli::run::run(contract, b.clone()).await?;
    let (ra, rb) = (
        RunReport::read(&report_a)?,
        RunReport::read(&scratch.join("b.json"))?,
    );
    let comparison = compare(&ra, &rb);
    println!("\nA exited {code_a}, B exited {code_b}");
    print_lines(comparison.to_text().lines().map(str::to_string))?;
    Ok(comparison.exit_code())
}
