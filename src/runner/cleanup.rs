//! Leaving the server as it was: NICs the run created are deleted in
//! batches, every spare is detached again and every supplementary NIC the
//! run changed gets its fields back at the end. What cannot be undone is
//! listed as a leftover. On a real target each step is written to the
//! ledger first ([`crate::ledger`]), so `nic-conformance cleanup` can finish
//! the job after a crash.

use serde_json::{Value, json};

use crate::ledger::{Entry, Ledger, Outstanding};
use crate::runner::Runner;
use crate::runner::pool::PortState;

/// What `cleanup` did and what it could not do.
#[derive(Debug, Default)]
pub struct CleanupReport {
    pub done: Vec<String>,
    /// Still not as the fixtures want it, each named.
    pub left: Vec<String>,
    /// Maybe the run's, maybe not: left alone and named.
    pub uncertain: Vec<String>,
    /// Why nothing was done (the ledger's run finished).
    pub nothing: Option<String>,
}

use crate::runner::fields::PORT_UPDATE;

/// What a restore sends and records, per kind of resource.
struct Restore {
    /// The update operation.
    op: &'static str,
    /// Its path parameter naming the resource.
    param: &'static str,
    /// The resource in words, for what is left.
    what: &'static str,
    /// The ledger entry that strikes the resource's record.
    done: fn(String) -> Entry,
}

impl Runner {
    /// Puts back the fields of each supplementary NIC in `changed`; returns
    /// the ones it could not, each with why.
    async fn restore_sub_nics(&self, changed: &[(String, Value)]) -> Vec<(String, String)> {
        let kind = Restore {
            op: "update-sub-network-interface",
            param: "sub_network_interface_id",
            what: "supplementary NIC",
            done: |id| Entry::Restored { id },
        };
        self.restore(&kind, changed).await
    }

    /// Puts back the fields of each port in `changed` (through the update
    /// the run changed them with); returns the ones it could not, each with why.
    async fn restore_ports(&self, changed: &[(String, Value)]) -> Vec<(String, String)> {
        let kind = Restore {
            op: PORT_UPDATE,
            param: "port_id",
            what: "port",
            done: |port_id| Entry::PortRestored { port_id },
        };
        self.restore(&kind, changed).await
    }

    /// Sends `kind`'s update with each resource's recorded fields, in the
    /// request's wrapper object; records each restore that succeeded.
    async fn restore(&self, kind: &Restore, changed: &[(String, Value)]) -> Vec<(String, String)> {
        let Some(op) = self.contract.operation(kind.op) else {
            return Vec::new();
        };
        let Some((wrapper, _)) = self.updatable_fields(kind.op).into_iter().next() else {
            return Vec::new();
        };
        let mut left = Vec::new();
        for (id, fields) in changed {
            tracing::info!(resource = %id, "cleanup: restoring its fields");
            let params = self.params(op, &[(kind.param, id)]);
            let body = json!({ wrapper.as_str(): fields });
            let why = match self.client.send(op, &params, Some(&body)).await {
                Ok(a) if (200..300).contains(&a.status) => {
                    self.record((kind.done)(id.clone())).await;
                    continue;
                }
                Ok(a) => format!("answered {}", a.status),
                Err(e) => e.to_string(),
            };
            let what = kind.what;
            left.push((
                id.clone(),
                format!("{what} {id}: restoring {fields}: {why}"),
            ));
        }
        left
    }

    /// Brings the target back from what a ledger records, and nothing
    /// else: deletes the NICs the run recorded as created and detaches the
    /// spares it recorded as attached, while the server still lists them;
    /// restores the fields it recorded; then lists again to say what is
    /// still not back. A NIC the run may have created but never named is
    /// only reported, unless `include_uncertain`. A ledger whose last run
    /// finished changes nothing. With no ledger, only the target file's
    /// spare ports are detached.
    pub async fn cleanup_from(
        &self,
        outstanding: Option<&Outstanding>,
        include_uncertain: bool,
    ) -> CleanupReport {
        let f = &self.fixtures;
        if let Some(report) = self.nothing_to_undo(outstanding) {
            return report;
        }
        let mut report = CleanupReport::default();
        if let Some(o) = outstanding {
            self.wait_for_creates(o, &mut report).await;
        }
        let listed = match self.fresh_listing().await {
            Ok(l) => l,
            Err(e) => {
                report
                    .left
                    .push(format!("cannot list the server's NICs: {e}"));
                return report;
            }
        };
        let spares: Vec<&String> = std::iter::once(&f.spare_port_id)
            .chain(&f.extra_spare_port_ids)
            .collect();
        let baseline: Option<&Vec<String>> =
            outstanding.and_then(|o| o.attached_before.as_ref().map(|(_, b)| b));
        // Never a port the server had before the run, whatever was recorded.
        let before =
            |p: &String| *p == f.primary_port_id || baseline.is_some_and(|b| b.contains(p));
        let recorded = |p: &String| match outstanding {
            Some(o) => o.created.contains(p) || o.attached.contains(p),
            None => spares.contains(&p),
        };
        let mut remove: Vec<String> = listed
            .iter()
            .filter(|p| !before(p) && recorded(p))
            .cloned()
            .collect();
        // Created by a request whose NICs were never named: maybe the run's, maybe not.
        let uncertain: Vec<String> = match (outstanding, baseline) {
            (Some(o), Some(_)) if o.unnamed_creates > 0 => listed
                .iter()
                .filter(|p| !before(p) && !recorded(p) && !spares.contains(p))
                .cloned()
                .collect(),
            _ => Vec::new(),
        };
        if include_uncertain {
            remove.extend(uncertain.iter().cloned());
        } else if let Some(o) = outstanding {
            for p in &uncertain {
                report.uncertain.push(format!(
                    "port {p}: maybe created by {}, whose request's NICs were never named; left alone (check it, then `cleanup --include-uncertain` deletes it)",
                    o.describe_run()
                ));
            }
        }
        if !remove.is_empty() {
            self.delete_ports(remove.clone()).await;
        }
        if let Some(o) = outstanding {
            self.restore_recorded(o, &mut report).await;
        }
        let is_spare = |p: &String| spares.contains(&p);
        self.check_removed(&remove, is_spare, &mut report).await;
        if report.left.is_empty() && report.uncertain.is_empty() {
            self.record(Entry::Finished).await;
        }
        report
    }

    /// The report of a clean-up that must change nothing: the run finished
    /// cleanly, or its ledger names another server.
    fn nothing_to_undo(&self, outstanding: Option<&Outstanding>) -> Option<CleanupReport> {
        let f = &self.fixtures;
        let mut report = CleanupReport::default();
        if let Some(o) = outstanding.filter(|o| o.finished) {
            report.nothing = Some(format!(
                "{} finished and left nothing to undo: nothing was changed",
                o.describe_run()
            ));
            return Some(report);
        }
        let (server, _) = outstanding
            .and_then(|o| o.attached_before.as_ref())
            .filter(|(s, _)| *s != f.server_id)?;
        report.left.push(format!(
            "the ledger records server {server}, the target file names {}: nothing was changed (use the target file of that run)",
            f.server_id
        ));
        Some(report)
    }

    /// The server's attached ports, from a listing sent now.
    async fn fresh_listing(&self) -> Result<Vec<String>, String> {
        self.listing()
            .await
            .map(|l| l.ports.clone())
            .map_err(|e| e.to_string())
    }

    /// Appends to the ledger at `path` from now on (`cleanup` strikes what
    /// it undoes); returns a notice when a torn last line was dropped.
    pub fn continue_ledger(&self, path: &std::path::Path) -> std::io::Result<Option<String>> {
        let (ledger, notice) = Ledger::open(path)?;
        let _ = self.lab.ledger.set(ledger);
        Ok(notice)
    }
}

/// An outstanding ledger in words.
pub(super) fn describe(o: &Outstanding) -> String {
    let mut parts = Vec::new();
    if !o.created.is_empty() {
        parts.push(format!(
            "{} NIC(s) created ({})",
            o.created.len(),
            o.created.join(", ")
        ));
    }
    if o.unnamed_creates > 0 {
        parts.push(format!(
            "{} request(s) that may have created NICs",
            o.unnamed_creates
        ));
    }
    if !o.attached.is_empty() {
        parts.push(format!("spare(s) attached ({})", o.attached.join(", ")));
    }
    if !o.sub_nics.is_empty() {
        let ids: Vec<&str> = o.sub_nics.iter().map(|(i, _)| i.as_str()).collect();
        parts.push(format!("supplementary NIC(s) changed ({})", ids.join(", ")));
    }
    if !o.ports.is_empty() {
        let ids: Vec<&str> = o.ports.iter().map(|(i, _)| i.as_str()).collect();
        parts.push(format!("port field(s) changed ({})", ids.join(", ")));
    }
    parts.join("; ")
}

impl Runner {
    /// Remembers NICs a case created, for deletion in batches.
    pub(super) fn track_created(&self, ports: &[String]) {
        if !ports.is_empty() {
            self.lab
                .made
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(ports.iter().cloned());
            self.lab
                .created
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(ports.iter().cloned());
        }
    }

    /// Puts NICs back among those waiting to be deleted.
    pub(super) fn track_pending(&self, ports: &[String]) {
        (self.lab.created.lock().unwrap_or_else(|e| e.into_inner())).extend(ports.iter().cloned());
    }

    /// Takes every created NIC waiting to be deleted that the server still
    /// lists (the others are gone already: their addresses are free again).
    pub(super) async fn take_created_listed(&self) -> Vec<String> {
        let mut waiting =
            std::mem::take(&mut *self.lab.created.lock().unwrap_or_else(|e| e.into_inner()));
        if waiting.is_empty() {
            return waiting;
        }
        match self.listing().await {
            Ok(listed) => {
                let gone: Vec<String> = (waiting.iter())
                    .filter(|p| !listed.contains(p))
                    .cloned()
                    .collect();
                self.lab.addresses.ports_gone(&gone);
                waiting.retain(|p| listed.contains(p));
                waiting
            }
            Err(_) => {
                self.track_pending(&waiting);
                Vec::new()
            }
        }
    }

    /// Deletes the created NICs once `cleanup_batch` of them wait, or all of them with `all`.
    pub(super) async fn flush_created(&self, all: bool) {
        let batch = {
            let mut created = self.lab.created.lock().unwrap_or_else(|e| e.into_inner());
            if created.is_empty()
                || (!all && created.len() < self.client.target().limits.cleanup_batch)
            {
                return;
            }
            std::mem::take(&mut *created)
        };
        self.delete_ports(batch).await;
    }

    /// Detaches whichever of `ports` are still listed; lists what it cannot as leftovers.
    /// Returns the ports it left attached.
    async fn delete_ports(&self, mut ports: Vec<String>) -> Vec<String> {
        let primary = &self.fixtures.primary_port_id;
        ports.retain(|p| p != primary);
        ports.sort();
        ports.dedup();
        if ports.is_empty() {
            return ports;
        }
        if let Ok(listed) = self.listing().await {
            let gone: Vec<String> = ports
                .iter()
                .filter(|p| !listed.contains(p))
                .cloned()
                .collect();
            self.lab.addresses.ports_gone(&gone);
            ports.retain(|p| listed.contains(p));
        }
        tracing::info!(ports = ?ports, "cleanup: deleting or detaching");
        if ports.is_empty() || self.detach_ports(&ports).await.is_ok() {
            for p in &ports {
                self.record(Entry::Detached { port_id: p.clone() }).await;
            }
            self.lab.addresses.ports_gone(&ports);
            return Vec::new();
        }
        // One bad id fails a whole batch: try them one by one before giving up.
        let mut left = Vec::new();
        for p in ports {
            if let Err(e) = self.detach_ports(std::slice::from_ref(&p)).await {
                self.lab
                    .leftovers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(format!(
                        "port {p} attached to server {} ({e})",
                        self.fixtures.server_id
                    ));
                left.push(p);
            } else {
                self.lab.addresses.ports_gone(std::slice::from_ref(&p));
                self.record(Entry::Detached { port_id: p }).await;
            }
        }
        left
    }

    /// A create the run never saw end may still be running: its NICs appear
    /// when its job ends, so they are waited for before `cleanup` looks.
    async fn wait_for_creates(&self, o: &Outstanding, report: &mut CleanupReport) {
        if o.unnamed_creates == 0 {
            return;
        }
        for job in &o.unnamed_jobs {
            if let Err(why) = self.wait_job_end(job).await {
                let line = format!("a create of the run did not end: {why}");
                report.left.push(line);
            }
        }
        if o.unnamed_creates > o.unnamed_jobs.len() {
            self.wait_listing_settles().await;
        }
    }

    /// Puts back the fields the run recorded (supplementary NICs, ports).
    async fn restore_recorded(&self, o: &Outstanding, report: &mut CleanupReport) {
        let failed = self.restore_sub_nics(&o.sub_nics).await;
        for (id, _) in &o.sub_nics {
            match failed.iter().find(|(f, _)| f == id) {
                Some((_, why)) => report.left.push(why.clone()),
                None => report.done.push(format!("restored supplementary NIC {id}")),
            }
        }
        let failed = self.restore_ports(&o.ports).await;
        for (port, fields) in &o.ports {
            match failed.iter().find(|(f, _)| f == port) {
                Some((_, why)) => report.left.push(why.clone()),
                None => report.done.push(format!("restored port {port}: {fields}")),
            }
        }
    }

    /// Done is what a new listing no longer shows; what it still shows is left.
    async fn check_removed(
        &self,
        removed: &[String],
        is_spare: impl Fn(&String) -> bool,
        report: &mut CleanupReport,
    ) {
        let server = &self.fixtures.server_id;
        let now = match self.fresh_listing().await {
            Ok(now) => now,
            Err(e) => {
                let line = format!("cannot list the server's NICs again: {e}");
                report.left.push(line);
                return;
            }
        };
        for p in removed {
            let what = if is_spare(p) {
                "detached spare"
            } else {
                "deleted NIC"
            };
            if now.contains(p) {
                let line = format!("port {p} is still attached to server {server}");
                report.left.push(line);
            } else {
                report.done.push(format!("{what} {p}"));
            }
        }
    }

    /// A create killed before its answer named a job may still be running:
    /// waits until the listing stays the same for a while (four job polls,
    /// at least a second), within the job timeout.
    async fn wait_listing_settles(&self) {
        let limits = &self.client.target().limits;
        let window = (limits.job_poll * 4).max(std::time::Duration::from_secs(1));
        let deadline = std::time::Instant::now() + limits.job_timeout;
        let mut last = self.fresh_listing().await.ok();
        while std::time::Instant::now() < deadline {
            tokio::time::sleep(window).await;
            let now = self.fresh_listing().await.ok();
            if now == last {
                return;
            }
            last = now;
        }
    }

    /// At the end (also after Ctrl-C): the created NICs are deleted, every
    /// spare is detached again and the supplementary NICs the run changed
    /// get their fields back; what cannot be is listed as a leftover. With
    /// a ledger, a server back at its baseline closes it.
    pub(super) async fn final_cleanup(&self) {
        // The created NICs and the spares in one batch: one job at the end.
        let created =
            std::mem::take(&mut *self.lab.created.lock().unwrap_or_else(|e| e.into_inner()));
        let mut spares = self.lab.spares.free_where(|s| s != PortState::Detached);
        spares.extend(self.lab.spares.retired());
        let left = self.delete_ports([created, spares.clone()].concat()).await;
        let done: Vec<String> = spares.into_iter().filter(|p| !left.contains(p)).collect();
        self.lab.spares.mark(&done, PortState::Detached);
        let Some(baseline) = self.lab.attached_before.get() else {
            return;
        };
        let changed: Vec<(String, Value)> = {
            let ids = self
                .lab
                .sub_nics_changed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            let fields = self.lab.sub_nic_fields.get().cloned().unwrap_or_default();
            fields
                .into_iter()
                .filter(|(id, _)| ids.contains(id))
                .collect()
        };
        let mut not_restored = self.restore_sub_nics(&changed).await;
        let ports = self
            .lab
            .port_fields
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        not_restored.extend(self.restore_ports(&ports).await);
        self.lab
            .leftovers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(not_restored.iter().map(|(_, why)| why.clone()));
        // Back means: nothing the run made or attached is still listed. A
        // NIC someone else attached meanwhile is theirs, and left alone.
        let f = &self.fixtures;
        let made = self
            .lab
            .made
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let ours = |p: &String| {
            !baseline.contains(p)
                && (made.contains(p) || *p == f.spare_port_id || f.extra_spare_port_ids.contains(p))
        };
        let back = match self.fresh_listing().await {
            Ok(now) => {
                for p in now.iter().filter(|p| !baseline.contains(p) && !ours(p)) {
                    tracing::warn!(port = %p, "attached during the run by someone else: left alone");
                }
                !now.iter().any(ours)
            }
            Err(_) => false,
        };
        if back && not_restored.is_empty() {
            self.record(Entry::Finished).await;
        } else if let Some(path) = &self.opts.ledger {
            self.lab.leftovers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!(
                    "the server is not back as it was: `nic-conformance cleanup{}` undoes what the ledger ({}) records",
                    self.target_flag(),
                    path.display()
                ));
        }
    }
}
