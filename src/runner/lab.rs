//! The world a run's concurrent cases share: the fixtures they lease, what
//! they observe and what the run must put back. One type, so that each
//! piece of shared state has one documented owner: the stage (and file)
//! that changes it; every other stage only reads it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use serde_json::Value;

use super::address_book::AddressBook;
use super::clock::JobClock;
use super::observe::SharedListing;
use super::pool::{Pool, PortState};
use super::preflight::Families;
use super::shrink::FailedCase;
use crate::fixtures::Fixtures;
use crate::ledger::Ledger;

pub(super) struct Lab {
    // The run's lifecycle (mod.rs).
    /// Set by a signal (the CLI's handler) or the run's end; every loop reads it.
    pub(super) cancelled: Arc<AtomicBool>,
    /// When the run started: what `--time-budget` counts from (dispatch.rs reads it).
    pub(super) started: OnceLock<Instant>,

    // The preflight (preflight.rs, set once in record.rs).
    /// The API families the target serves (all until the preflight says).
    pub(super) families: OnceLock<Families>,
    /// The server's attachments before the run: never deleted, whatever a job says.
    pub(super) attached_before: OnceLock<Vec<String>>,
    /// Those no case may touch (all but the spares), with their addresses:
    /// what the frame rules compare every later listing with.
    pub(super) untouchable: OnceLock<Vec<(String, Vec<String>)>>,
    /// Supplementary NICs' updatable fields before the run.
    pub(super) sub_nic_fields: OnceLock<Vec<(String, Value)>>,

    // Leasing (lease.rs; jobs.rs moves a leased spare).
    /// The fixture's spare port and any extra ones, with their known states.
    pub(super) spares: Arc<Pool<PortState>>,
    /// The fixture's supplementary NIC and any extra ones.
    pub(super) sub_nics: Arc<Pool<()>>,
    /// Addresses the cases may ask for: none another port or a running case holds.
    pub(super) addresses: Arc<AddressBook>,

    // Turns (executor.rs).
    /// Held by each case that may change the server: `limits.server_tasks` at once.
    pub(super) server_tasks: tokio::sync::Semaphore,
    /// Held by a case whose change is read back, from its request to its
    /// read: two such cases on the same fixture must not interleave.
    pub(super) read_back: tokio::sync::Mutex<()>,

    // Observing (observe.rs) and judging the frame (steps.rs).
    /// The attachment list, shared by the state checks of concurrent cases.
    pub(super) listing: SharedListing,
    /// Untouchable NICs already reported changed (each is reported once).
    pub(super) frame_reported: Mutex<HashSet<String>>,

    // Jobs (jobs.rs).
    /// Jobs in a row that did not end in time (reset by one that does).
    pub(super) jobs_timed_out: AtomicUsize,
    /// The target's typical job time, for the first wait before a job poll.
    pub(super) job_clock: JobClock,

    // The record of what the run changed (record.rs writes, cleanup.rs undoes).
    /// What the run did to the target, for `cleanup` after a crash (none for the built-in mock).
    pub(super) ledger: OnceLock<Ledger>,
    /// The first ledger write that failed (said once, at the end).
    pub(super) ledger_failed: Mutex<Option<String>>,
    /// Supplementary NICs the run changed (their fields are put back).
    pub(super) sub_nics_changed: Mutex<Vec<String>>,
    /// Ports the server had before the run whose fields the run changed,
    /// with their fields before: put back at the end (fields.rs notes them).
    pub(super) port_fields: Mutex<Vec<(String, Value)>>,

    // Created NICs (executor.rs hands them over, cleanup.rs deletes them).
    /// NICs the run created (not spares) and has not deleted yet.
    pub(super) created: Mutex<Vec<String>>,
    /// Every NIC the run created, deleted or not: what "back as it was" looks for.
    pub(super) made: Mutex<Vec<String>>,
    /// What could not be deleted or put back.
    pub(super) leftovers: Mutex<Vec<String>>,

    // Shrinking (shrink.rs).
    /// Failing generated cases, for `save_failures`.
    pub(super) failed: Mutex<Vec<FailedCase>>,
}

impl Lab {
    pub(super) fn new(f: &Fixtures, server_tasks: usize) -> Lab {
        // Later spares are taken first; the fixture's own spare is the last resort.
        let mut spares = vec![f.spare_port_id.clone()];
        spares.extend(f.extra_spare_port_ids.iter().rev().cloned());
        // The fixture's own supplementary NIC first: a serial run only uses it.
        let mut sub_nics: Vec<String> = f.extra_sub_network_interface_ids.clone();
        sub_nics.push(f.sub_network_interface_id.clone());
        sub_nics.retain(|n| !n.is_empty());
        let server_tasks = server_tasks.clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        Lab {
            cancelled: Arc::new(AtomicBool::new(false)),
            started: OnceLock::new(),
            families: OnceLock::new(),
            attached_before: OnceLock::new(),
            untouchable: OnceLock::new(),
            sub_nic_fields: OnceLock::new(),
            spares: Pool::new(spares, PortState::Detached),
            sub_nics: Pool::new(sub_nics, ()),
            addresses: AddressBook::new(f),
            server_tasks: tokio::sync::Semaphore::new(server_tasks),
            read_back: tokio::sync::Mutex::new(()),
            listing: SharedListing::default(),
            frame_reported: Mutex::default(),
            jobs_timed_out: AtomicUsize::new(0),
            job_clock: JobClock::default(),
            ledger: OnceLock::new(),
            ledger_failed: Mutex::default(),
            sub_nics_changed: Mutex::default(),
            port_fields: Mutex::default(),
            created: Mutex::default(),
            made: Mutex::default(),
            leftovers: Mutex::default(),
            failed: Mutex::default(),
        }
    }

    /// The lab of another server of the same run: its own server, spares
    /// and turns; the run's signal, the subnet's addresses and the
    /// supplementary NICs (the network's, not a server's) shared with `first`.
    pub(super) fn beside(f: &Fixtures, server_tasks: usize, first: &Lab) -> Lab {
        Lab {
            cancelled: first.cancelled.clone(),
            sub_nics: first.sub_nics.clone(),
            addresses: first.addresses.clone(),
            ..Lab::new(f, server_tasks)
        }
    }
}
