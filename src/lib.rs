//! nic-conformance: a contract and conformance test harness for the cloud
//! NIC-management APIs (batch add NICs, nova-style attach, batch delete NICs,
//! update NIC attachment, update a supplementary network interface).
//!
//! # How a case flows through the modules
//! 1. [`contract`] loads `schemas/` — operations, JSON Schemas, the rules
//!    catalogue, documentation conflicts — and checks it, naming file and
//!    pointer on any error. Each rule kind is implemented once there and
//!    evaluated by everything below.
//! 2. [`generate`] turns schemas and rules into proptest strategies and makes
//!    valid, boundary and negative cases, each labelled with the outcome the
//!    pages promise and the ids it exercises; [`case`] holds curated cases.
//! 3. [`runner`] sends cases through a [`target`] (a vendor endpoint with
//!    token or AK/SK [`signing`], or the built-in [`mock`]), follows jobs,
//!    observes state and cleans up.
//! 4. [`checks`] judges each exchange with small functions named for the
//!    property they hold the target to, producing [`report::Finding`]s.
//! 5. [`report`] streams results into the console summary, JSON and JUnit.
//! 6. [`snapshot`] compares redacted responses with the stored baselines.

pub mod case;
pub mod checks;
pub mod cli;
pub mod contract;
pub mod fixtures;
pub mod generate;
pub mod mock;
pub mod report;
pub mod runner;
pub mod signing;
pub mod snapshot;
pub mod spec;
pub mod target;
