//! nic-conformance: a contract and conformance test harness for the cloud
//! NIC-management APIs (batch add NICs, nova-style attach, batch delete NICs,
//! update NIC attachment, update a supplementary network interface).
//!
//! # How a case flows through the modules
//! 1. [`contract`] loads `schemas/`: operations, JSON Schemas, the rules
//!    catalogue, documentation conflicts. It checks them, naming file and
//!    pointer on any error. Each rule kind is implemented once there and
//!    evaluated by everything below.
//! 2. [`generate`] turns schemas and rules into proptest strategies and makes
//!    valid, boundary and negative cases, each labelled with the outcome the
//!    pages promise and the ids it exercises; [`case`] holds curated cases.
//! 3. [`runner`] sends cases through [`http`] to a [`target`] (a vendor
//!    endpoint with token or AK/SK [`signing`], or the built-in [`mock`]),
//!    follows jobs, observes state and cleans up.
//! 4. [`judge`] decides every verdict: the answer, the state around it, the
//!    snapshot ([`snapshot`] stores them), as [`judge::Finding`]s.
//! 5. The runner streams [`runner::event::Event`]s; [`report`] consumes them
//!    into the console summary, progress, JSON, JUnit and HTML.
//! 6. [`cli`] parses, calls the above, and maps the outcome to an exit code
//!    ([`error::exit`]).
//!
//! Layers depend one way: contract ← generate, judge ← runner ← report ← cli;
//! the mock stands beside the runner, on the contract. The [`proxy`] stands
//! beside the runner too: it judges exchanges a client makes with the same
//! [`judge`] functions and feeds the same reports; [`openapi`] renders the
//! contract for tools that read OpenAPI.

pub mod case;
pub mod cli;
pub mod contract;
pub mod curated;
pub mod error;
pub mod files;
pub mod fixtures;
pub mod generate;
pub mod http;
pub mod init;
pub mod judge;
pub mod ledger;
pub mod lock;
pub mod malformed;
pub mod mock;
pub mod openapi;
pub mod proxy;
pub mod report;
pub mod runner;
pub mod server;
pub mod signing;
pub mod snapshot;
pub mod spec;
pub mod target;
pub mod text;
