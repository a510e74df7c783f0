//! Shrinking failing generated cases to the smallest request that still
//! shows the same findings, saved as curated regression cases.

use std::collections::BTreeSet;
use std::path::Path;

use crate::case::CaseKind;
use crate::runner::Runner;
use crate::runner::event::CaseResult;

/// A failing generated case: operation index, kind, index, and the ids it broke.
pub(super) type FailedCase = (usize, CaseKind, usize, BTreeSet<String>);

/// At most this many failing cases are shrunk and saved per run.
const MAX_SAVED_FAILURES: usize = 20;
/// Each case's shrinking re-runs it at most this many times …
const SHRINK_RUNS: usize = 40;
/// … and for at most this long (a run already in flight ends first).
const SHRINK_TIME: std::time::Duration = std::time::Duration::from_secs(30);

impl Runner {
    /// Notes a failing generated case for shrinking, when failures are saved.
    pub(super) fn remember_failure(
        &self,
        op: usize,
        kind: CaseKind,
        index: usize,
        result: &CaseResult,
    ) {
        if self.opts.save_failures.is_none() || result.findings.is_empty() {
            return;
        }
        let mut failed = self.lab.failed.lock().unwrap_or_else(|e| e.into_inner());
        if failed.len() < MAX_SAVED_FAILURES {
            let ids = result.findings.iter().map(|f| f.id.clone()).collect();
            failed.push((op, kind, index, ids));
        }
    }

    /// Shrinks each failing generated case and appends it to
    /// `dir/regressions-<operation>.json`; returns a line per case saved or not.
    pub(super) async fn save_failures(&self, dir: &Path) -> Vec<String> {
        let mut failed =
            std::mem::take(&mut *self.lab.failed.lock().unwrap_or_else(|e| e.into_inner()));
        // In plan order, not in the order concurrent cases happened to end:
        // the saved file is the same whatever the concurrency.
        failed.sort_by(|a, b| (a.0, a.1.as_str(), a.2).cmp(&(b.0, b.1.as_str(), b.2)));
        let generator = self.generator();
        let handle = tokio::runtime::Handle::current();
        let mut out = Vec::new();
        for (op_index, kind, index, ids) in failed {
            let op = &self.contract.operations[op_index];
            let id = crate::case::generated_id(&op.id, kind, index);
            if self
                .lab
                .cancelled
                .load(std::sync::atomic::Ordering::Relaxed)
            {
                out.push(format!("not shrunk: {id} (interrupted)"));
                continue;
            }
            let started = std::time::Instant::now();
            let mut runs = 0;
            let mut cut = None;
            // Re-running a candidate is async; proptest's shrinking loop is not.
            let shrunk = tokio::task::block_in_place(|| {
                generator.shrink(op, kind, index, |candidate| {
                    // Out of budget or interrupted: no candidate counts, so
                    // shrinking ends with the smallest failing one so far.
                    if self
                        .lab
                        .cancelled
                        .load(std::sync::atomic::Ordering::Relaxed)
                    {
                        cut.get_or_insert("interrupted");
                        return false;
                    }
                    if runs >= SHRINK_RUNS || started.elapsed() >= SHRINK_TIME {
                        cut.get_or_insert("its budget ran out");
                        return false;
                    }
                    runs += 1;
                    let result = handle.block_on(self.run_case(candidate));
                    let got: BTreeSet<String> =
                        result.findings.iter().map(|f| f.id.clone()).collect();
                    !got.is_empty() && got.is_subset(&ids) && ids.iter().any(|i| got.contains(i))
                })
            });
            let Some(case) = shrunk else {
                out.push(format!(
                    "not shrunk: {id} (no smaller request showed the same findings)"
                ));
                continue;
            };
            let partly = cut
                .map(|why| format!(", partly: {why} after {runs} re-runs"))
                .unwrap_or_default();
            out.push(
                match crate::curated::save_regression(dir, &case, self.opts.seed) {
                    Ok(p) => format!("saved {} (shrunk{partly}) to {}", case.id, p.display()),
                    Err(e) => format!("error: {e}"),
                },
            );
        }
        out
    }
}
