//! The run's record of what it does to a real target, in the ledger
//! ([`crate::ledger`]): opened after the preflight with the server's
//! attachments before the run, and each entry on disk before the request it
//! announces, so `nic-conformance cleanup` can undo a run that died.

use crate::error::Error;
use crate::ledger::{Entry, Ledger};
use crate::runner::Runner;
use crate::runner::preflight::Preflight;

impl Runner {
    /// Starts this run's record in the ledger, refusing to start over an
    /// earlier run's outstanding changes (they would be lost from the
    /// record) and without a baseline (no write without one). Returns a
    /// notice when a torn last line was dropped.
    pub(super) fn open_ledger(&self, found: &Preflight) -> Result<Option<String>, Error> {
        if let Some(listing) = &found.attached {
            let f = &self.fixtures;
            let untouchable = (listing.ports.iter())
                .filter(|p| !f.is_spare(p))
                .map(|p| (p.clone(), listing.address_texts(p)))
                .collect();
            let _ = self.lab.untouchable.set(untouchable);
        }
        let Some(path) = &self.opts.ledger else {
            let attached = found.attached.as_ref().map(|l| l.ports.clone());
            let _ = self.lab.attached_before.set(attached.unwrap_or_default());
            let _ = self.lab.sub_nic_fields.set(found.sub_nics.clone());
            return Ok(None);
        };
        let earlier = crate::ledger::read(path).map_err(|e| {
            Error::file(
                path,
                format!("{e}\n  (check the target by hand, then delete the ledger)"),
            )
        })?;
        if let Some(o) = earlier.filter(|o| !o.is_clean()) {
            return Err(Error::Target(format!(
                "{} did not clean up: {}\n  run `nic-conformance cleanup{}` first (ledger: {})",
                o.describe_run(),
                super::cleanup::describe(&o),
                self.target_flag(),
                path.display()
            )));
        }
        let Some(listing) = &found.attached else {
            return Err(Error::Target(
                "the server's NICs could not be read, so there is no record of them to restore: nothing was changed".into(),
            ));
        };
        let (ledger, notice) = Ledger::open(path)
            .map_err(|e| Error::file(path, format!("cannot write the ledger: {e}")))?;
        let t = self.client.target();
        let attached = listing.ports.clone();
        for entry in [
            Entry::Run {
                started: crate::signing::sdk_date_now(),
                seed: self.opts.seed,
                target: t.name.clone(),
            },
            Entry::AttachedBefore {
                server_id: self.fixtures.server_id.clone(),
                attached: attached.clone(),
            },
        ] {
            ledger
                .append(&entry)
                .map_err(|e| Error::file(path, format!("cannot write the ledger: {e}")))?;
        }
        let _ = self.lab.attached_before.set(attached);
        let _ = self.lab.sub_nic_fields.set(found.sub_nics.clone());
        let _ = self.lab.ledger.set(ledger);
        Ok(notice)
    }

    /// ` --target FILE` as the replay prefix has it, for messages.
    pub(super) fn target_flag(&self) -> String {
        self.opts
            .replay_prefix
            .split_once(" --target ")
            .map(|(_, f)| format!(" --target {f}"))
            .unwrap_or_default()
    }

    /// Writes an entry to the ledger, if the run keeps one, and waits until
    /// it is on disk. A failed write is said once at the end; the run goes on.
    pub(super) async fn record(&self, entry: Entry) {
        let Some(ledger) = self.lab.ledger.get() else {
            return;
        };
        tracing::debug!(?entry, "ledger");
        if let Err(e) = ledger.write(&entry).await {
            self.lab
                .ledger_failed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert_with(|| format!("{}: {e}", ledger.path().display()));
        }
    }

    /// Writes an entry that must be on disk before the write it announces:
    /// `Err` (and the write is not sent) when the ledger cannot take it.
    pub(super) async fn record_first(&self, entry: Entry) -> Result<(), String> {
        let Some(ledger) = self.lab.ledger.get() else {
            return Ok(());
        };
        tracing::debug!(?entry, "ledger");
        ledger.write(&entry).await.map_err(|e| {
            format!(
                "the ledger {} cannot be written: {e}",
                ledger.path().display()
            )
        })
    }

    /// Notes, before the first update of a supplementary NIC, the fields to put back.
    pub(super) async fn record_sub_nic_change(&self, id: &str) {
        {
            let mut changed = self
                .lab
                .sub_nics_changed
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if changed.iter().any(|c| c == id) {
                return;
            }
            changed.push(id.to_string());
        }
        let fields = self
            .lab
            .sub_nic_fields
            .get()
            .and_then(|all| all.iter().find(|(i, _)| i == id))
            .map(|(_, f)| f.clone());
        if let Some(fields) = fields {
            self.record(Entry::SubNic {
                id: id.to_string(),
                fields,
            })
            .await;
        }
    }
}
