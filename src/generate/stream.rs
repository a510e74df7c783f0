//! Cases one after another: each case of an operation and kind sends a
//! request of a class no earlier one sent ([`super::distinct`]), so the
//! cases of a kind are made in index order, and a case made again takes the
//! draw it took the first time.

use std::sync::Arc;

use super::{ATTEMPTS, Generator, Plan, distinct, runner_for};
use crate::case::{Case, CaseKind};
use crate::contract::Operation;
use proptest::strategy::{Strategy, ValueTree};

pub(super) type SharedStream = Arc<parking_lot::Mutex<Stream>>;

/// The cases of one operation and kind made so far, in index order.
#[derive(Debug, Default)]
pub(super) struct Stream {
    /// Per case, the draw it took (its attempt number), or `None`: its plan had nothing new.
    pub(super) chosen: Vec<Option<u32>>,
    /// The fingerprints of every case made.
    fingerprints: std::collections::HashSet<u64>,
    /// Plans (by index) with no request of a new class left.
    exhausted: std::collections::HashSet<usize>,
}

/// Which draw a case takes.
pub(super) enum Pick<'a> {
    /// The first that fits and is new.
    New(&'a dyn Fn(&Case) -> bool),
    /// The one at this attempt (a case made before, made again alike).
    Attempt(u32),
}

impl Generator<'_> {
    /// Case `index` of `kind` for `op`; the same seed always gives the same
    /// case. Every case of a kind sends a request of a class no earlier case
    /// of that kind sent (see [`distinct`]): `None` for a case whose plan had
    /// no such request left ([`Generator::is_repeat`]).
    pub fn case(&self, op: &Operation, kind: CaseKind, index: usize) -> Option<Case> {
        let (_, plans) = self.plan_at(op, kind, index)?;
        let stream = self.stream(op, kind);
        let mut stream = stream.lock();
        if let Some(chosen) = stream.chosen.get(index).copied() {
            drop(stream);
            let (at, plan) = (index % plans.len(), &plans[index % plans.len()]);
            return self
                .draw(op, kind, index, at, plan, Pick::Attempt(chosen?))
                .map(|(c, _)| c);
        }
        // Each case depends on those before it: make them in order.
        let mut made = None;
        for j in stream.chosen.len()..=index {
            let at = j % plans.len();
            let case = match stream.exhausted.contains(&at) {
                true => None,
                false => {
                    let seen = &stream.fingerprints;
                    let new = |c: &Case| !seen.contains(&distinct::fingerprint(c, self.fixtures));
                    self.draw(op, kind, j, at, &plans[at], Pick::New(&new))
                }
            };
            match &case {
                Some((c, attempt)) => {
                    stream
                        .fingerprints
                        .insert(distinct::fingerprint(c, self.fixtures));
                    stream.chosen.push(Some(*attempt));
                }
                None => {
                    stream.exhausted.insert(at);
                    stream.chosen.push(None);
                }
            }
            made = case.map(|(c, _)| c);
        }
        made
    }

    /// Whether case `index` is left out because its plan had no request of a new class left.
    pub fn is_repeat(&self, op: &Operation, kind: CaseKind, index: usize) -> bool {
        let stream = self.stream(op, kind);
        let stream = stream.lock();
        stream.chosen.get(index) == Some(&None)
    }

    pub(super) fn stream(&self, op: &Operation, kind: CaseKind) -> SharedStream {
        let mut all = self.cache.streams.lock();
        all.entry((op.id.clone(), kind)).or_default().clone()
    }

    /// Draws the plan's request: the first that fits and `Pick::New` accepts,
    /// or the one at a known attempt; with the attempt's number.
    pub(super) fn draw(
        &self,
        op: &Operation,
        kind: CaseKind,
        index: usize,
        at: usize,
        plan: &Plan,
        pick: Pick<'_>,
    ) -> Option<(Case, u32)> {
        if let Plan::Malformed(class) = plan {
            let new = self.malformed_case(op, kind, index, *class)?;
            return match pick {
                Pick::New(accept) if !accept(&new) => None,
                _ => Some((new, 0)),
            };
        }
        let mut runner = runner_for(self.seed, &op.id, kind, index);
        let strategies = self.strategies(op, kind, at, plan);
        let (body_s, path_s) = &*strategies;
        // A rule a valid draw exercises only now and then gets more draws,
        // then settles for a plain valid request rather than none.
        let (attempts, fallback) = match plan {
            Plan::Exercise { .. } => (ATTEMPTS * 8, Some(Plan::Valid)),
            _ => (ATTEMPTS, None),
        };
        let mut attempt = 0u32;
        for plan in std::iter::once(plan).chain(fallback.as_ref()) {
            for _ in 0..attempts {
                let body = body_s.new_tree(&mut runner).ok()?.current();
                let drawn = match &path_s {
                    Some(s) => Some(s.new_tree(&mut runner).ok()?.current()),
                    None => None,
                };
                let this = attempt;
                attempt += 1;
                if let Pick::Attempt(k) = pick
                    && this != k
                {
                    continue;
                }
                let params = self.path_params(op, plan, drawn);
                let case = self.finish(op, kind, index, plan, params, body);
                match (case, &pick) {
                    (Some(c), Pick::New(accept)) if accept(&c) => return Some((c, this)),
                    (c, Pick::Attempt(_)) => return c.map(|c| (c, this)),
                    _ => {}
                }
            }
        }
        None
    }
}
