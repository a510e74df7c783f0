//! The plan: the whole suite in its stable order, then filtered. Curated
//! cases are loaded; generated ones are made when their turn comes.

use crate::case::{Case, CaseKind};
use crate::curated::{builtin_curated, load_curated};
use crate::error::Error;
use crate::runner::Runner;
use crate::runner::event::{Event, Reporter};
use crate::runner::sequence::Sequence;

/// A case to run.
#[derive(Debug, Clone)]
pub(super) enum Planned {
    Curated(Box<Case>),
    /// Steps run in order on one spare, after the curated cases.
    Sequence(Box<Sequence>),
    Generated {
        op: usize,
        kind: CaseKind,
        index: usize,
        /// The case, once the dispatcher has made it to see what it needs.
        made: Option<Box<Case>>,
    },
}

impl Planned {
    /// How many cases it runs.
    pub(super) fn size(&self) -> usize {
        match self {
            Planned::Sequence(s) => s.steps.len(),
            _ => 1,
        }
    }

    /// The cases it runs (a sequence's steps), in order.
    pub(super) fn ids(&self, runner: &Runner) -> Vec<String> {
        match self {
            Planned::Sequence(s) => s.steps.iter().map(|c| c.id.clone()).collect(),
            other => vec![runner.planned_id(other)],
        }
    }
}

impl Runner {
    fn selected_ops(&self) -> Vec<usize> {
        self.contract
            .operations
            .iter()
            .enumerate()
            .filter(|(_, op)| !op.auxiliary)
            .filter(|(_, op)| {
                self.opts.operations.is_empty() || self.opts.operations.contains(&op.id)
            })
            .filter(|(_, op)| !self.opts.skip.contains(&op.id))
            .map(|(i, _)| i)
            .collect()
    }

    fn curated(&self, ops: &[usize]) -> Result<Vec<Planned>, Error> {
        let t = self.client.target();
        if !self.opts.include_curated {
            return Ok(Vec::new());
        }
        // A folder given is read (a missing one is an error); none: the built-in cases.
        let cases = match &self.opts.cases_dir {
            Some(dir) => load_curated(dir, &self.contract, &t.project_id, &self.fixtures)?,
            None => builtin_curated(&self.contract, &t.project_id, &self.fixtures)?,
        };
        Ok(cases
            .into_iter()
            .filter(|c| {
                ops.iter()
                    .any(|&i| self.contract.operations[i].id == c.operation)
            })
            .map(|c| Planned::Curated(Box::new(c)))
            .collect())
    }

    /// The whole suite in its stable order, filtered by `--case` and `--shard`.
    pub(super) fn plan(&self) -> Result<Vec<Planned>, Error> {
        let ops = self.selected_ops();
        let mut planned = self.curated(&ops)?;
        if self.opts.include_curated {
            let selected = |id: &str| ops.iter().any(|&i| self.contract.operations[i].id == id);
            planned.extend(
                (self.sequences().into_iter())
                    .filter(|s| s.operations().all(selected))
                    .map(|s| Planned::Sequence(Box::new(s))),
            );
        }
        planned.extend(self.generated(&ops));
        if let Some(id) = &self.opts.case_filter {
            let ids: Vec<String> = planned.iter().flat_map(|p| p.ids(self)).collect();
            if !ids.contains(id) {
                let hint = crate::error::nearest(id, ids.iter().map(String::as_str))
                    .map(|n| format!("did you mean `{n}`? "))
                    .unwrap_or_default();
                return Err(Error::Usage(format!(
                    "no case `{id}` in this run\n  ({hint}`run --list` prints every id; the seed and the --operation, --kind and --budget flags decide which exist)"
                )));
            }
            // A sequence's step runs with the steps before it: they make its state.
            planned.retain(|p| p.ids(self).contains(id));
        }
        if let Some((k, n)) = self.opts.shard {
            planned = planned
                .into_iter()
                .enumerate()
                .filter(|(i, _)| i % n == k - 1)
                .map(|(_, p)| p)
                .collect();
        }
        Ok(planned)
    }

    /// The generated cases of `ops`, index by index across operations and
    /// kinds (under a time budget, every plan's first case first).
    fn generated(&self, ops: &[usize]) -> Vec<Planned> {
        let mut out = Vec::new();
        let generator = self.generator();
        let mut streams = Vec::new();
        for &i in ops {
            let op = &self.contract.operations[i];
            for &kind in &self.opts.kinds {
                let plans = generator.plans(op, kind).len();
                if plans == 0 {
                    continue; // e.g. no boundary in a body of one boolean
                }
                // Never fewer than the kind's plans: every keyword and rule
                // gets its case whatever the budget.
                let count = self.opts.budget.unwrap_or(25).max(plans);
                streams.push((i, kind, count));
            }
        }
        // Interleaved (index by index across operations and kinds): cases that
        // attach spares alternate with cases that detach them, so the pool stays
        // balanced, and every stretch of the run mixes slow and quick cases.
        // Under a time budget, the cases that exercise every keyword and rule
        // once (index < plans) come before any second round.
        let covering: Vec<(usize, CaseKind, usize)> = match self.opts.time_budget {
            Some(_) => (streams.iter())
                .map(|&(op, kind, n)| {
                    let plans = generator.plans(&self.contract.operations[op], kind).len();
                    (op, kind, n.min(plans))
                })
                .collect(),
            None => Vec::new(),
        };
        let first_round = covering.iter().map(|s| s.2).max().unwrap_or(0);
        for index in 0..first_round {
            out.extend(
                (covering.iter())
                    .filter(|s| index < s.2)
                    .map(|&(op, kind, _)| Planned::Generated {
                        op,
                        kind,
                        index,
                        made: None,
                    }),
            );
        }
        let longest = streams.iter().map(|s| s.2).max().unwrap_or(0);
        for index in 0..longest {
            // A huge budget takes a while to lay out: a signal stops it too.
            if index % 4096 == 0
                && self
                    .lab
                    .cancelled
                    .load(std::sync::atomic::Ordering::Relaxed)
            {
                break;
            }
            out.extend(
                streams
                    .iter()
                    .zip(covering.iter().map(|c| c.2).chain(std::iter::repeat(0)))
                    .filter(|(s, covered)| index < s.2 && index >= *covered)
                    .map(|(s, _)| s)
                    .map(|&(op, kind, _)| Planned::Generated {
                        op,
                        kind,
                        index,
                        made: None,
                    }),
            );
        }
        out
    }

    pub(super) fn planned_id(&self, p: &Planned) -> String {
        match p {
            Planned::Curated(c) => c.id.clone(),
            Planned::Sequence(s) => s.steps[0].id.clone(),
            Planned::Generated {
                op, kind, index, ..
            } => crate::case::generated_id(&self.contract.operations[*op].id, *kind, *index),
        }
    }

    pub(super) fn planned_operation<'a>(&'a self, p: &'a Planned) -> &'a str {
        match p {
            Planned::Curated(c) => &c.operation,
            Planned::Sequence(s) => &s.steps[0].operation,
            Planned::Generated { op, .. } => &self.contract.operations[*op].id,
        }
    }

    /// The ids of the cases the options select, without sending anything.
    pub fn list(&self) -> Result<Vec<String>, Error> {
        Ok(self.plan()?.iter().flat_map(|p| p.ids(self)).collect())
    }

    /// Shows every planned request (as [`Event::DryRun`]) and sends nothing.
    pub(super) fn dry_run(&self, planned: &[Planned], reporter: &mut dyn Reporter) {
        let generator = self.generator();
        for p in planned {
            // A long dry run stops on Ctrl-C like a run does.
            if self
                .lab
                .cancelled
                .load(std::sync::atomic::Ordering::Relaxed)
            {
                break;
            }
            let cases = match p {
                Planned::Curated(c) => vec![(**c).clone()],
                Planned::Sequence(s) => s.steps.clone(),
                Planned::Generated {
                    op, kind, index, ..
                } => (generator.case(&self.contract.operations[*op], *kind, *index))
                    .into_iter()
                    .collect(),
            };
            for case in cases {
                self.dry_run_case(&case, reporter);
            }
        }
    }

    /// The request one case would send, and what its setup would do first.
    fn dry_run_case(&self, case: &Case, reporter: &mut dyn Reporter) {
        {
            let Some(op) = self.contract.operation(&case.operation) else {
                return;
            };
            let malformed = case.malformed_request();
            let wire = crate::http::Wire::of(case.body.as_ref(), malformed.as_ref());
            let request = self.client.prepare_wire(op, &case.path_params, wire);
            let setup =
                (case.setup == Some(crate::contract::Setup::SparePortAttached)).then(|| {
                    let attach = self
                        .contract
                        .job_operation(crate::contract::Effect::Attach)
                        .map(|o| o.id.as_str())
                        .unwrap_or("an attach");
                    format!(
                        "attach the spare port {} first ({attach}), detach it after",
                        self.fixtures.spare_port_id
                    )
                });
            reporter.event(&Event::DryRun {
                case,
                request: &request,
                setup,
            });
        }
    }
}
