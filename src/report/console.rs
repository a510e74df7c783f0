//! The terminal: the closing summary, progress while a run goes, and the
//! requests a dry run would send.

use std::io::Write;

use crate::contract::{Contract, ids};
use crate::report::Summary;
use crate::runner::event::{Event, Reporter};

/// The console summary; `colour` paints snapshot diffs for a terminal.
pub fn render(summary: &Summary, contract: &Contract, colour: bool) -> String {
    let mut out = String::new();
    findings(&mut out, summary, colour);
    new_snapshots(&mut out, summary);
    accepted(&mut out, summary);
    errors(&mut out, summary);
    operations(&mut out, summary);
    rules(&mut out, summary, contract);
    undecided(&mut out, summary, contract);
    closing(&mut out, summary);
    out
}

fn line(out: &mut String, s: impl AsRef<str>) {
    out.push_str(s.as_ref());
    out.push('\n');
}

fn findings(out: &mut String, summary: &Summary, colour: bool) {
    if summary.findings.is_empty() {
        return;
    }
    line(out, "Findings");
    for d in summary.findings.values() {
        let mut f = d.first.clone();
        if colour && f.id == ids::SNAPSHOT_DRIFT {
            f.actual = paint_diff(&f.actual);
        }
        // The first cases by name; the JSON report lists them all.
        const SHOWN: usize = 8;
        let mut cases = d
            .cases
            .iter()
            .take(SHOWN)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if d.cases.len() > SHOWN {
            cases.push_str(&format!(" and {} more", d.cases.len() - SHOWN));
        }
        line(
            out,
            format!("{f}\n    seen in {} case(s): {cases}", d.count),
        );
    }
    out.push('\n');
}

/// Curated cases with no accepted snapshot for this target yet: listed
/// once, not failed (a first run against a new target is not red).
fn new_snapshots(out: &mut String, summary: &Summary) {
    if summary.new_snapshots.is_empty() {
        return;
    }
    line(
        out,
        format!(
            "New snapshots ({}; no accepted one for this target yet, so not compared)",
            summary.new_snapshots.len()
        ),
    );
    let dir = summary.new_snapshots[0]
        .parent()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    line(out, format!("  pending in {dir}"));
    out.push('\n');
}

/// The first line after a run: what to do next, by what the run found.
pub fn next_step(summary: &Summary, code: i32, snapshot_dir: &std::path::Path) -> String {
    use crate::error::exit;
    let accept = if snapshot_dir == std::path::Path::new("snapshots") {
        String::new()
    } else {
        format!(" --snapshot-dir {}", snapshot_dir.display())
    };
    let snapshots = match summary.new_snapshots.len() {
        0 => String::new(),
        n => format!(
            "; {n} new snapshot(s): look at them with `nic-conformance snapshots review{accept}`, or accept them all with `nic-conformance snapshots accept{accept}`"
        ),
    };
    let first: &str = match code {
        exit::OK if summary.dry_run => "Next: run it without --dry-run to send these requests",
        exit::OK => "Next: nothing failed; in CI, gate on the exit code",
        exit::FINDINGS if !summary.findings.is_empty() => {
            "Next: read the findings below (each with the request that replays it); accept a known one with --write-baseline FILE and a reason"
        }
        exit::FINDINGS => "Next: see the closing line for what failed the run",
        exit::UNDECIDED => "Next: see Undecided below for why a must rule could not be judged",
        exit::PARTIAL => {
            "Next: run again to the end, or pass --allow-partial to accept a partial run"
        }
        exit::NOTHING_RAN => {
            "Next: widen the selection (--case, --operation, --skip, --kind, --shard)"
        }
        exit::ABANDONED | exit::TERMINATED => {
            "Next: `nic-conformance doctor` shows whether the run left anything; `nic-conformance cleanup` undoes it"
        }
        _ => {
            "Next: fix the problem in the closing line, then run `nic-conformance doctor` and again"
        }
    };
    format!("{first}{snapshots}")
}
fn accepted(out: &mut String, summary: &Summary) {
    let Some(b) = &summary.baseline else {
        return;
    };
    if !summary.accepted.is_empty() {
        line(
            out,
            format!("Accepted by the baseline {} (not failing)", b.path),
        );
        for d in summary.accepted.values() {
            let reason = d.accepted_because.as_deref().unwrap_or_default();
            line(
                out,
                format!(
                    "  [{}] {} on {}: {} case(s); {reason}",
                    d.first.severity, d.first.id, d.first.operation, d.count
                ),
            );
        }
        out.push('\n');
    }
    for (title, list) in [
        (
            "Expired baseline entries (they fail the run)",
            b.expired.iter().collect::<Vec<_>>(),
        ),
        (
            "Stale baseline entries (matched nothing; --strict-baseline fails on them)",
            summary.stale_entries(),
        ),
        (
            "Baseline entries with no reason yet (write why each is accepted; --strict-baseline fails on them)",
            b.unreviewed().collect(),
        ),
    ] {
        if list.is_empty() {
            continue;
        }
        line(out, title);
        for e in list {
            let until = e
                .expires
                .map(|d| format!(", expired {d}"))
                .unwrap_or_default();
            line(out, format!("  {}{until}: {}", e.label(), e.reason));
        }
        out.push('\n');
    }
}

/// Cases the harness could not run (not the target's fault), with why.
fn errors(out: &mut String, summary: &Summary) {
    if summary.errors.is_empty() {
        return;
    }
    line(out, "Errors (the harness could not run these cases)");
    for (case, message) in &summary.errors {
        line(out, format!("  {case}: {message}"));
    }
    out.push('\n');
}

fn operations(out: &mut String, summary: &Summary) {
    line(
        out,
        format!(
            "{:<30} {:>7} {:>7} {:>6} {:>7} {:>9} {:>7}",
            "operation", "cases", "passed", "must", "should", "undecided", "errors"
        ),
    );
    for (op, s) in &summary.operations {
        line(
            out,
            format!(
                "{op:<30} {:>7} {:>7} {:>6} {:>7} {:>9} {:>7}",
                s.cases, s.passed, s.must, s.should, s.undecided, s.errors
            ),
        );
    }
    out.push('\n');
}

fn rules(out: &mut String, summary: &Summary, contract: &Contract) {
    line(
        out,
        format!(
            "{:<42} {:>7} {:>10} {:>9} {:>9}  status",
            "rule", "sev", "exercised", "violated", "undecided"
        ),
    );
    for (id, s) in &summary.rules {
        // A String, so the width applies (Severity's Display writes bare words).
        let severity = contract.severity_of(id).to_string();
        let status = match s.status() {
            "violated" => "VIOLATED",
            "undecided" => "UNDECIDED",
            other => other,
        };
        line(
            out,
            format!(
                "{id:<42} {severity:>7} {:>10} {:>9} {:>9}  {status}",
                s.exercised, s.violated, s.undecided
            ),
        );
    }
    out.push('\n');
}

/// The rules that could not be judged, each with the first reason (which names the call that failed).
fn undecided(out: &mut String, summary: &Summary, contract: &Contract) {
    let undecided: Vec<_> = summary
        .rules
        .iter()
        .filter(|(_, r)| r.status() == "undecided")
        .collect();
    if undecided.is_empty() {
        return;
    }
    line(out, "Undecided (not observed, so not passed)");
    for (id, r) in undecided {
        line(
            out,
            format!(
                "[{}] {id} in {} case(s): {}",
                contract.severity_of(id),
                r.undecided,
                r.undecided_reason.as_deref().unwrap_or("")
            ),
        );
    }
    out.push('\n');
}

fn closing(out: &mut String, summary: &Summary) {
    if !summary.end.leftovers.is_empty() {
        line(out, "Could not clean up (remove these by hand):");
        for l in &summary.end.leftovers {
            line(out, format!("  {l}"));
        }
    }
    cut_short_and_unexercised(out, summary);
    if let Some(f) = &summary.end.fatal {
        line(out, format!("error: {f}"));
    }
    // A proxy's session has exchanges, not generated cases: no seed to replay.
    let (what, against, seed) = match summary.proxied {
        true => ("exchanges", "through the proxy to", String::new()),
        false => (
            "cases",
            "against",
            format!("; seed {0} (--seed {0} to reproduce)", summary.seed),
        ),
    };
    line(
        out,
        format!(
            "{} {what}, {} passed, {} failed, {} undecided {against} {}{} in {:.2}s ({} requests, {} retries){seed}",
            summary.cases,
            summary.passed,
            summary.failed(),
            summary.undecided_only,
            summary.target,
            summary
                .shard
                .map(|(k, n)| format!(" (shard {k}/{n})"))
                .unwrap_or_default(),
            summary.end.elapsed.as_secs_f64(),
            summary.end.requests,
            summary.end.retries,
        ),
    );
    for (n, what) in [
        (summary.not_sent.len() as u64, NOT_SENT),
        (summary.repeats, REPEATS),
    ] {
        if n > 0 {
            line(out, format!("{n} {what}"));
        }
    }
}

/// Why the run stopped early, and the rules it never exercised.
fn cut_short_and_unexercised(out: &mut String, summary: &Summary) {
    if summary.end.interrupted {
        line(out, "Interrupted: the run stopped early.");
    }
    if summary.end.stopped_at_time_budget && summary.is_partial() {
        line(
            out,
            format!(
                "Stopped at --time-budget: {} of {} planned cases ran (those that exercise each rule and keyword first).",
                summary.cases, summary.planned
            ),
        );
    }
    if summary.end.stopped_at_max_requests && summary.is_partial() {
        line(
            out,
            format!(
                "Stopped at --max-requests: {} of {} planned cases ran.",
                summary.cases, summary.planned
            ),
        );
    }
    let never: Vec<&str> = summary
        .rules
        .iter()
        .filter(|(_, r)| r.status() == "never exercised")
        .map(|(id, _)| id.as_str())
        .collect();
    if !never.is_empty() {
        line(
            out,
            format!(
                "{} rule(s) never exercised, so neither passed nor violated: {}",
                never.len(),
                never.join(", ")
            ),
        );
    }
}

const NOT_SENT: &str = "sequence step(s) not sent, since an earlier step did not end as planned";
const REPEATS: &str = "planned case(s) not sent: their plan had no request of a new class left (a bigger budget buys distinct cases, not repeats)";

/// Colours a unified diff for a terminal.
pub fn paint_diff(diff: &str) -> String {
    diff.lines()
        .map(|l| {
            if l.starts_with('+') && !l.starts_with("+++") {
                format!("\x1b[32m{l}\x1b[0m")
            } else if l.starts_with('-') && !l.starts_with("---") {
                format!("\x1b[31m{l}\x1b[0m")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// How progress is shown while a run goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressStyle {
    /// An indicatif bar on standard error.
    Bar,
    /// One line per failing case as it finishes and a progress line every
    /// few seconds with the elapsed time and an ETA (not a terminal: CI logs).
    Lines,
    Quiet,
}

/// Progress on standard error, and a dry run's requests on standard output.
pub struct Progress {
    style: ProgressStyle,
    bar: Option<indicatif::ProgressBar>,
    total: u64,
    done: u64,
    eta: Eta,
    started: std::time::Instant,
    last_line: std::time::Instant,
}

/// The time a run has left, by its two phases: the curated cases run one
/// at a time first, then the rest `width` at a time. Each phase's pace is
/// measured as it goes; until a concurrent case has finished, the serial
/// pace shared by `width` stands in. (The whole run's average pace, the
/// serial start included, overstated a run's length several times over.)
#[derive(Debug, Clone, Default)]
pub struct Eta {
    serial: u64,
    concurrent: u64,
    width: u64,
    serial_done: u64,
    concurrent_done: u64,
    /// Seconds into the run when the last serial case ended.
    serial_end: f64,
    /// The run's wall time by the estimate's model, once the run has it.
    modelled: Option<f64>,
}

impl Eta {
    pub fn new(cases: usize, serial: usize, width: usize) -> Eta {
        Eta {
            serial: serial as u64,
            concurrent: cases.saturating_sub(serial) as u64,
            width: width.max(1) as u64,
            ..Eta::default()
        }
    }

    /// A case ended `at` seconds into the run.
    pub fn finished(&mut self, curated: bool, at: f64) {
        if curated && self.serial_done < self.serial {
            self.serial_done += 1;
            self.serial_end = at;
        } else {
            self.concurrent_done += 1;
        }
    }

    /// Seconds left, `now` seconds into the run: by the estimate's model
    /// while the run is within it, else by the pace so far (none until a
    /// pace is known).
    pub fn left(&self, now: f64) -> Option<f64> {
        if let Some(wall) = self.modelled.filter(|w| *w > now) {
            return Some(wall - now);
        }
        let serial_left = self.serial - self.serial_done;
        let concurrent_left = self.concurrent.saturating_sub(self.concurrent_done);
        let serial_pace = (self.serial_done > 0).then(|| self.serial_end / self.serial_done as f64);
        // A concurrent pace needs a few cases past the first wave's start.
        let concurrent_pace = if self.concurrent_done >= self.width.min(4) {
            Some((now - self.serial_end).max(0.0) / self.concurrent_done as f64)
        } else {
            serial_pace.map(|p| p / self.width as f64)
        };
        let serial = match serial_left {
            0 => 0.0,
            _ => serial_left as f64 * serial_pace?,
        };
        let concurrent = match concurrent_left {
            0 => 0.0,
            _ => concurrent_left as f64 * concurrent_pace?,
        };
        Some(serial + concurrent)
    }
}

/// How often a log line says how far the run is.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

impl Progress {
    pub fn new(style: ProgressStyle) -> Progress {
        Progress {
            style,
            bar: None,
            total: 0,
            done: 0,
            eta: Eta::default(),
            started: std::time::Instant::now(),
            last_line: std::time::Instant::now(),
        }
    }

    fn case_finished(&mut self, result: &crate::runner::event::CaseResult) {
        self.done += 1;
        let curated = result.kind == Some(crate::case::CaseKind::Curated);
        self.eta
            .finished(curated, self.started.elapsed().as_secs_f64());
        match self.style {
            ProgressStyle::Bar => {
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                    if let Some(f) = result.findings.first() {
                        bar.set_message(format!("last finding: {}", f.id));
                    }
                }
            }
            ProgressStyle::Lines => {
                if !result.findings.is_empty() || result.error.is_some() {
                    let ids: Vec<&str> = result.findings.iter().map(|f| f.id.as_str()).collect();
                    eprintln!(
                        "FAIL {} [{}]{}",
                        result.case_id,
                        ids.join(", "),
                        result
                            .error
                            .as_deref()
                            .map(|e| format!(" error: {e}"))
                            .unwrap_or_default()
                    );
                }
                if self.last_line.elapsed() >= PROGRESS_EVERY {
                    self.last_line = std::time::Instant::now();
                    let elapsed = self.started.elapsed().as_secs_f64();
                    let eta = match self.eta.left(elapsed) {
                        Some(left) => format!("about {left:.0}s left"),
                        None => "estimating the time left".into(),
                    };
                    eprintln!(
                        "{}/{} cases, {elapsed:.0}s elapsed, {eta}",
                        self.done, self.total
                    );
                }
            }
            ProgressStyle::Quiet => {}
        }
    }
}

impl Reporter for Progress {
    fn event(&mut self, event: &Event) {
        match event {
            Event::RunStarted {
                cases,
                serial,
                width,
                ..
            } => {
                self.total = *cases as u64;
                self.eta = Eta::new(*cases, *serial, *width);
                self.started = std::time::Instant::now();
                self.last_line = self.started;
                if self.style == ProgressStyle::Bar {
                    let bar = indicatif::ProgressBar::new(self.total);
                    bar.set_style(
                        indicatif::ProgressStyle::with_template(
                            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} cases {msg}",
                        )
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                    );
                    self.bar = Some(bar);
                }
            }
            Event::CaseFinished(result) => self.case_finished(result),
            Event::Notice(line) => eprintln!("{line}"),
            Event::DryRun {
                case,
                request,
                setup,
            } => print_dry_run(case, request, setup.as_deref()),
            Event::RunFinished(_) => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
            }
            Event::Estimated { wall } => self.eta.modelled = Some(wall.as_secs_f64()),
            Event::CaseStarted { .. } | Event::NotServed { .. } => {}
        }
    }
}

/// A request as a dry run shows it: the case, its setup, and the request with secrets masked.
fn print_dry_run(
    case: &crate::case::Case,
    request: &crate::http::PreparedRequest,
    setup: Option<&str>,
) {
    let mut out = std::io::stdout().lock();
    let mut text = format!(
        "# {} (expect {}){}\n",
        case.id,
        case.expect,
        case.breaks
            .as_deref()
            .map(|b| format!(", breaks {b}"))
            .unwrap_or_default()
    );
    if let Some(setup) = setup {
        text.push_str(&format!("# setup: {setup}\n"));
    }
    text.push_str(&format!("{} {}\n", request.method, request.url));
    for (k, v) in request.masked_headers() {
        text.push_str(&format!("{k}: {v}\n"));
    }
    if let Some(body) = &request.body {
        let body = String::from_utf8_lossy(body);
        text.push_str(&format!("\n{}\n", crate::text::escape_controls(&body)));
    }
    text.push('\n');
    // A closed stdout (a pager quit) stops the printing, not the process.
    let _ = out.write_all(text.as_bytes());
}

#[cfg(test)]
#[path = "console_tests.rs"]
mod tests;
