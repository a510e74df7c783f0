//! What a run is asked to do: which cases, how many, and what to keep.

use std::path::PathBuf;

use crate::case::CaseKind;

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub seed: u64,
    /// Generated cases per operation and kind; `None`: 25, and never fewer than
    /// the plans of a kind (so every keyword and rule gets a case).
    pub budget: Option<usize>,
    pub kinds: Vec<CaseKind>,
    pub include_curated: bool,
    pub cases_dir: Option<PathBuf>,
    /// Only these operations (empty: every documented one).
    pub operations: Vec<String>,
    pub skip: Vec<String>,
    /// Only the case with this id.
    pub case_filter: Option<String>,
    /// (K, N): run the K-th of N shards (1-based).
    pub shard: Option<(usize, usize)>,
    pub max_requests: Option<u64>,
    /// Stop starting cases once the run has taken this long; the cases that
    /// exercise each rule and keyword once come first.
    pub time_budget: Option<std::time::Duration>,
    pub dry_run: bool,
    /// How a failing case can be replayed (`--target FILE` is added when there is one).
    pub replay_prefix: String,
    /// The whole replay line, with `{seed}` and `{case}` filled in (where
    /// the prefix-and-flags form does not fit, as for `cargo test`).
    pub replay_template: Option<String>,
    /// Shrink failing generated cases and save them here as curated regression cases.
    pub save_failures: Option<PathBuf>,
    /// Where the run writes down what it creates (none: nothing to recover, the built-in mock).
    pub ledger: Option<PathBuf>,
    /// Said to every reporter when the run starts (what the caller set up differently).
    pub notices: Vec<String>,
}

impl RunOptions {
    pub fn new(seed: u64) -> RunOptions {
        RunOptions {
            seed,
            budget: None,
            kinds: CaseKind::GENERATED.to_vec(),
            include_curated: true,
            cases_dir: None,
            operations: Vec::new(),
            skip: Vec::new(),
            case_filter: None,
            shard: None,
            max_requests: None,
            time_budget: None,
            dry_run: false,
            replay_prefix: "nic-conformance run".into(),
            replay_template: None,
            save_failures: None,
            notices: Vec::new(),
            ledger: None,
        }
    }

    /// The options of the runner of another server of the run: the same
    /// cases, its own ledger, no notices (the first server's runner says them).
    pub fn for_server(&self, server_id: &str) -> RunOptions {
        RunOptions {
            ledger: (self.ledger.as_deref())
                .map(|l| crate::ledger::Ledger::for_server(l, server_id)),
            notices: Vec::new(),
            ..self.clone()
        }
    }
}
