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
        let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        if failed.len() < MAX_SAVED_FAILURES {
            let ids = result.findings.iter().map(|f| f.id.clone()).collect();
            failed.push((op, kind, index, ids));
        }
    }

    /// Shrinks each failing generated case and appends it to
    /// `dir/regressions-<operation>.json`; returns a line per case saved or not.
    pub(super) async fn save_failures(&self, dir: &Path) -> Vec<String> {
        let failed = std::mem::take(&mut *self.failed.lock().unwrap_or_else(|e| e.into_inner()));
        let generator = self.generator();
        let handle = tokio::runtime::Handle::current();
        let mut out = Vec::new();
        for (op_index, kind, index, ids) in failed {
            let op = &self.contract.operations[op_index];
            // Re-running a candidate is async; proptest's shrinking loop is not.
            let shrunk = tokio::task::block_in_place(|| {
                generator.shrink(op, kind, index, |candidate| {
                    let result = handle.block_on(self.run_case(candidate));
                    let got: BTreeSet<String> =
                        result.findings.iter().map(|f| f.id.clone()).collect();
                    !got.is_empty() && got.is_subset(&ids) && ids.iter().any(|i| got.contains(i))
                })
            });
            let Some(case) = shrunk else { continue };
            out.push(
                match crate::case::save_regression(dir, &case, self.opts.seed) {
                    Ok(p) => format!("saved {} (shrunk) to {}", case.id, p.display()),
                    Err(e) => format!("error: {e}"),
                },
            );
        }
        out
    }
}
