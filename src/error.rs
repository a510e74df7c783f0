//! The harness's own errors, kept apart from findings (the target broke a
//! documented rule): a bad configuration or input file, a target that cannot
//! be reached or refuses the credentials, a broken harness, a failed file
//! write. Each maps to one exit code of the table in [`exit`].

use std::path::PathBuf;

use crate::contract::ContractError;
use crate::curated::CaseFileError;
use crate::target::ConfigError;

/// The process exit codes, the one table the CLI and the README share.
pub mod exit {
    /// Cases ran and nothing at or above `--fail-on` was found.
    pub const OK: i32 = 0;
    /// Findings at or above `--fail-on`, or cases the harness could not run.
    pub const FINDINGS: i32 = 1;
    /// Usage, configuration, input file or unreachable-target error.
    pub const ERROR: i32 = 2;
    /// No finding, but a `must` rule could not be judged: what it needed
    /// (the job query, the listing, a setup step) failed.
    pub const UNDECIDED: i32 = 3;
    /// The run selected no case (`--case`, `--operation`, `--skip`, `--shard`).
    pub const NOTHING_RAN: i32 = 4;
    /// The run was cut short (interrupted, or `--max-requests` reached)
    /// with nothing else to report; `--allow-partial` makes it 0.
    pub const PARTIAL: i32 = 5;
    /// A second Ctrl-C: the run was abandoned without cleaning up.
    pub const ABANDONED: i32 = 130;
    /// SIGTERM: the run stopped starting cases, cleaned up and wrote its reports
    /// (a second SIGTERM quits at once, with the same code).
    pub const TERMINATED: i32 = 143;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The flags do not make sense together.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Contract(#[from] ContractError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    CaseFile(#[from] CaseFileError),
    /// The target cannot be reached, or refuses the credentials.
    #[error("{0}")]
    Target(String),
    /// A file the harness reads or writes (snapshots, reports, saved cases).
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    /// The harness could not do its own work (a runtime, a client, a bug).
    #[error("{0}")]
    Harness(String),
}

impl Error {
    pub fn file(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Error {
        Error::File {
            path: path.into(),
            message: message.to_string(),
        }
    }

    /// Every error of the harness stops the command with the same code; the
    /// kinds stay apart for the message and for callers that recover.
    pub fn exit_code(&self) -> i32 {
        exit::ERROR
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The id of `known` nearest to `id` (a typo's likely meaning), if one is near.
pub fn nearest<'a>(id: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (strsim::levenshtein(id, k), k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}
