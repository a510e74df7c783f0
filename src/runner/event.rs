//! The runner's output: a stream of events that reporters consume. The
//! runner never prints; the console, the summary, JSON and JUnit are
//! reporters of this stream, and so is anything that comes later.

use std::time::Duration;

use crate::case::{Case, CaseKind};
use crate::http::PreparedRequest;
use crate::judge::{Finding, Undecided};

/// Everything the run learnt from one case. A rule the case exercised is
/// violated (a finding names it), undecided, or else passed.
#[derive(Debug, Clone, Default)]
pub struct CaseResult {
    pub case_id: String,
    pub operation: String,
    pub kind: Option<CaseKind>,
    pub findings: Vec<Finding>,
    /// Rules the case exercised but could not judge, with the reason.
    pub undecided: Vec<Undecided>,
    /// Rule and keyword ids the case exercised.
    pub exercised: Vec<String>,
    /// A harness-side problem (not the target's fault), e.g. a case that could not be built.
    pub error: Option<String>,
    pub elapsed: Duration,
    pub replay: String,
    /// The status the case's request got (none: no answer).
    pub status: Option<u16>,
    /// The redacted response, when snapshots are captured.
    pub snapshot: Option<String>,
    /// The response body as received (credentials masked), for the reports' examples.
    pub response: Option<bytes::Bytes>,
    /// A curated case with no accepted snapshot yet: its pending one, for review.
    pub new_snapshot: Option<std::path::PathBuf>,
    /// What the case tests, stable across seeds ([`Case::class`](crate::case::Case)).
    pub class: String,
    /// Not run: a later case of a plan that had no request of a new class left.
    pub repeat: bool,
    /// Not sent, and why: a sequence's step after one that did not end as planned.
    pub not_sent: Option<String>,
}

impl CaseResult {
    /// Nothing violated, nothing undecided, no harness error.
    pub fn passed(&self) -> bool {
        self.findings.is_empty() && self.undecided.is_empty() && self.error.is_none()
    }
}

/// How the run ended.
#[derive(Debug, Clone, Default)]
pub struct RunEnd {
    pub requests: u64,
    pub retries: u64,
    /// Resources the run made and could not remove.
    pub leftovers: Vec<String>,
    /// A problem that stopped the run (unreachable target …).
    pub fatal: Option<String>,
    pub interrupted: bool,
    /// `--max-requests` was reached before every planned case ran.
    pub stopped_at_max_requests: bool,
    /// `--time-budget` was spent before every planned case ran.
    pub stopped_at_time_budget: bool,
    pub elapsed: Duration,
}

#[derive(Debug)]
pub enum Event<'a> {
    /// The plan is made: this many cases will run.
    RunStarted {
        target: &'a str,
        seed: u64,
        cases: usize,
        /// How many of them run first, one at a time (the curated cases);
        /// the rest run `width` at a time.
        serial: usize,
        width: usize,
        /// (K, N): the K-th of N shards.
        shard: Option<(usize, usize)>,
    },
    /// A dry run: the request a case would send (secrets masked when shown).
    DryRun {
        case: &'a Case,
        request: &'a PreparedRequest,
        /// What the case's setup would do first.
        setup: Option<String>,
    },
    CaseStarted {
        id: &'a str,
    },
    CaseFinished(&'a CaseResult),
    /// Something worth a line as it happens (a saved regression case, a failed save).
    Notice(&'a str),
    /// Operations the target does not serve (found by the preflight), and
    /// the rules only they exercise: neither failed nor undecided.
    NotServed {
        operations: &'a [String],
        rules: &'a [String],
    },
    /// The run's whole wall time as the estimate's model gives it (the
    /// doctor's), once the target's job time is learnt: what the progress
    /// line's time left counts down from.
    Estimated {
        wall: Duration,
    },
    RunFinished(&'a RunEnd),
}

/// A consumer of the event stream.
pub trait Reporter {
    fn event(&mut self, event: &Event);
}

/// Several reporters fed the same stream, in order.
pub struct Fanout<'a>(pub Vec<&'a mut dyn Reporter>);

impl Reporter for Fanout<'_> {
    fn event(&mut self, event: &Event) {
        for r in self.0.iter_mut() {
            r.event(event);
        }
    }
}
