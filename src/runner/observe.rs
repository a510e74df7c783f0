//! Observing the target's state without changing it: the server's
//! attachments (shared between concurrent cases) and the supplementary NIC.
//!
//! A caller always gets a listing whose request was sent after it asked, so
//! the listing reflects every change the caller has seen complete. Callers
//! that ask while a listing is in flight are all served by the next one: at
//! 64 cases in flight, one request answers many state checks.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use std::time::Instant;

use serde_json::Value;

use crate::case::Case;
use crate::judge::observed::Listing;
use crate::runner::Runner;

/// Why something could not be observed (the listing failed, the read answered an error).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct Unobserved(pub String);

/// A listing, or why none could be had (shared by every caller it serves).
pub type ListingResult = Result<Arc<Listing>, Unobserved>;

/// Coalesces concurrent requests for the listing (see the module comment).
#[derive(Default)]
pub struct SharedListing {
    /// Tickets handed out so far: a caller's ticket is its place in time.
    asked: AtomicU64,
    /// Held while a listing is in flight: one at a time.
    sending: tokio::sync::Mutex<()>,
    /// The last answer and the highest ticket it serves (those taken before it was sent).
    last: parking_lot::Mutex<Option<(u64, ListingResult)>>,
}

impl SharedListing {
    /// A listing sent after this call began; `fetch` sends one when none will do.
    pub async fn get<F, Fut>(&self, fetch: F) -> ListingResult
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Listing, Unobserved>>,
    {
        let ticket = self.asked.fetch_add(1, Ordering::SeqCst) + 1;
        let _turn = self.sending.lock().await;
        if let Some((serves, result)) = &*self.last.lock()
            && *serves >= ticket
        {
            return result.clone();
        }
        // Every ticket taken up to now asked before this request goes out.
        let serves = self.asked.load(Ordering::SeqCst);
        let result = fetch().await.map(Arc::new);
        *self.last.lock() = Some((serves, result.clone()));
        result
    }
}

impl Runner {
    /// The server's attachments, listed after this call began (shared between cases).
    pub(super) async fn listing(&self) -> ListingResult {
        self.lab.listing.get(|| self.fetch_listing()).await
    }

    /// The list of the server's NICs the run observes through: nova's, or
    /// the ECS one on a target that serves no nova (both list
    /// `interfaceAttachments` with `port_id` and `fixed_ips`).
    pub(super) fn listing_operation(&self) -> Option<&crate::contract::Operation> {
        let nova = self.lab.families.get().is_none_or(|f| f.nova);
        let id = if nova {
            "list-interfaces"
        } else {
            "list-server-interfaces"
        };
        self.contract.operation(id)
    }

    async fn fetch_listing(&self) -> Result<Listing, Unobserved> {
        let list = self
            .listing_operation()
            .ok_or_else(|| Unobserved("no operation lists the server's NICs".into()))?;
        let answer = self
            .client
            .send(list, &self.params(list, &[]), None)
            .await
            .map_err(|e| Unobserved(e.to_string()))?;
        if answer.status != 200 {
            return Err(Unobserved(format!(
                "{} {} answered {}",
                list.method, list.path, answer.status
            )));
        }
        Listing::parse(&answer.body).map_err(|e| Unobserved(e.to_string()))
    }

    /// The fields of the case's resource that its request could change, as
    /// they are now, read through the resource's auxiliary GET (never a write).
    pub(super) async fn observe_updatable(&self, case: &Case) -> Result<Value, Unobserved> {
        let unobserved = |m: String| Unobserved(m);
        let op = self
            .contract
            .operation(&case.operation)
            .ok_or_else(|| unobserved(format!("no operation {}", case.operation)))?;
        let read = self
            .contract
            .read_of(op)
            .ok_or_else(|| unobserved(format!("no read of what {} writes", op.id)))?;
        let fields = self.contract.updated_fields(&op.id);
        let answer = self
            .client
            .send(read, &case.path_params, None)
            .await
            .map_err(|e| unobserved(e.to_string()))?;
        let call = format!("{} {}", read.method, read.path);
        if answer.status != 200 {
            return Err(unobserved(format!("{call} answered {}", answer.status)));
        }
        let body: Value = serde_json::from_slice(&answer.body)
            .map_err(|_| unobserved(format!("{call} answered without JSON")))?;
        Ok(Value::Array(
            fields
                .iter()
                .map(|f| {
                    let values = crate::contract::pointer::select(&body, f);
                    Value::Array(values.into_iter().cloned().collect())
                })
                .collect(),
        ))
    }

    /// Waits (up to the job timeout) until `ports` are listed: for attaches whose job cannot be followed.
    pub(super) async fn settle_listed(&self, ports: &[String]) {
        let limits = &self.client.target().limits;
        let deadline = Instant::now() + limits.job_timeout;
        let mut backoff = super::clock::Backoff::new(limits.job_poll, None);
        while Instant::now() < deadline {
            match self.listing().await {
                Ok(listed) if ports.iter().all(|p| listed.contains(p)) => return,
                Err(_) => return,
                _ => tokio::time::sleep(backoff.next_wait()).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    /// Callers that ask while one listing is in flight share the next one,
    /// and nobody is served a listing sent before it asked.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_share_a_fresh_listing() {
        let shared = Arc::new(SharedListing::default());
        let sent = Arc::new(AtomicUsize::new(0));
        // The "server state": a counter bumped before each caller asks.
        let version = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let (shared, sent, version) = (shared.clone(), sent.clone(), version.clone());
            tasks.push(tokio::spawn(async move {
                let seen_before = version.fetch_add(1, Ordering::SeqCst) + 1;
                let listing = shared
                    .get(|| async {
                        sent.fetch_add(1, Ordering::SeqCst);
                        let now = version.load(Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        Ok(Listing {
                            ports: vec![now.to_string()],
                            fixed_ips: Vec::new(),
                        })
                    })
                    .await
                    .unwrap();
                let observed: usize = listing.ports[0].parse().unwrap();
                assert!(
                    observed >= seen_before,
                    "served a listing older than the caller's own change"
                );
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let sent = sent.load(Ordering::SeqCst);
        assert!(sent < 32, "{sent} listings for 32 concurrent callers");
        assert!(sent >= 1);
    }

    #[tokio::test]
    async fn an_error_is_shared_and_the_next_caller_retries() {
        let shared = SharedListing::default();
        let first = shared
            .get(|| async { Err(Unobserved("down".to_string())) })
            .await;
        assert_eq!(first.unwrap_err().0, "down");
        let second = shared.get(|| async { Ok(Listing::default()) }).await;
        assert!(second.is_ok(), "a later caller sends a new request");
    }
}
