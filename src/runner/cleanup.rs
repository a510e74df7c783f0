//! Leaving the server as it was: NICs the run created are deleted in
//! batches, and every spare is detached again at the end. What cannot be
//! removed is listed as a leftover.

use crate::runner::Runner;
use crate::runner::pool::PortState;

impl Runner {
    /// Remembers NICs a case created, for deletion in batches.
    pub(super) fn track_created(&self, ports: &[String]) {
        if !ports.is_empty() {
            self.created
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(ports.iter().cloned());
        }
    }

    /// Deletes the created NICs once `cleanup_batch` of them wait, or all of them with `all`.
    pub(super) async fn flush_created(&self, all: bool) {
        let batch = {
            let mut created = self.created.lock().unwrap_or_else(|e| e.into_inner());
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
        let primary = &self.client.target().fixtures.primary_port_id;
        ports.retain(|p| p != primary);
        ports.sort();
        ports.dedup();
        if ports.is_empty() {
            return ports;
        }
        if let Ok(listed) = self.listing().await {
            ports.retain(|p| listed.contains(p));
        }
        if ports.is_empty() || self.detach_ports(&ports).await.is_ok() {
            return Vec::new();
        }
        // One bad id fails a whole batch: try them one by one before giving up.
        let mut left = Vec::new();
        for p in ports {
            if let Err(e) = self.detach_ports(std::slice::from_ref(&p)).await {
                self.leftovers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(format!(
                        "port {p} attached to server {} ({e})",
                        self.client.target().fixtures.server_id
                    ));
                left.push(p);
            }
        }
        left
    }

    /// At the end (also after Ctrl-C): the created NICs are deleted and every
    /// spare is detached again; what cannot be is listed as a leftover.
    pub(super) async fn final_cleanup(&self) {
        self.flush_created(true).await;
        let spares = self.spares.free_where(|s| s != PortState::Detached);
        let left = self.delete_ports(spares.clone()).await;
        let done: Vec<String> = spares.into_iter().filter(|p| !left.contains(p)).collect();
        self.spares.mark(&done, PortState::Detached);
    }
}
