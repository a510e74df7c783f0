//! Judging: every decision whether the target did what the pages promise.
//! Each check is a function of the catalogue's rules, the case, the exchange
//! and what was observed, returning [`Finding`]s; nothing here sends a
//! request. A rule whose evidence was not observed is [`Undecided`], never
//! passed. The runner and (later) the proxy call the same functions.
//!
//! - [`response`]: one answer against status, Content-Type, body form,
//!   schema, error shape and echo, in that fixed order;
//! - [`state`]: the state around a case: effects, a rejected request that
//!   changed nothing, a dry run, the job's end;
//! - [`job`]: the job query's promises (a job ends; a failed one says why);
//! - [`snapshot`]: a curated answer against its accepted snapshot;
//! - [`observed`]: what was observed, in the form the checks read.

mod finding;
pub mod job;
pub mod observed;
pub mod response;
pub mod snapshot;
pub mod state;

pub use finding::{Finding, Undecided, sort};
