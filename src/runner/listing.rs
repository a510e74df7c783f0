//! The server's attachments as the nova list shows them, shared between
//! concurrent cases.
//!
//! A caller always gets a listing whose request was sent after it asked, so
//! the listing reflects every change the caller has seen complete. Callers
//! that ask while a listing is in flight are all served by the next one: at
//! 64 cases in flight, one request answers many state checks.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

/// One answer of the attachment list.
#[derive(Debug, Default)]
pub struct Listing {
    /// Port ids, trimmed, in the order listed.
    pub ports: Vec<String>,
    /// The `fixed_ips` of each attachment, in the same order (`Null` when absent).
    pub fixed_ips: Vec<Value>,
}

/// The two fields the runner reads from each listed attachment. Typed, so
/// the other fields are skipped rather than built into values: listings are
/// long (every NIC of the server) and read often.
#[derive(serde::Deserialize)]
struct ListedAttachment {
    #[serde(default)]
    port_id: Value,
    #[serde(default)]
    fixed_ips: Value,
}

#[derive(serde::Deserialize)]
struct ListingBody {
    #[serde(default, rename = "interfaceAttachments")]
    attachments: Vec<ListedAttachment>,
}

impl Listing {
    /// Reads a `{"interfaceAttachments": [...]}` body. A JSON body without
    /// the array lists nothing, so every attach it should show is reported
    /// (the list's own shape is judged where the list is a case).
    pub fn parse(body: &[u8]) -> Result<Listing, String> {
        let attachments = match serde_json::from_slice::<ListingBody>(body) {
            Ok(listing) => listing.attachments,
            // Not the documented shape (the array is something else, or an item
            // is not an object): read what can be read, as values.
            Err(_) => Self::parse_loosely(body)?,
        };
        let (ports, fixed_ips) = attachments
            .into_iter()
            .filter_map(|a| Some((a.port_id.as_str()?.trim().to_string(), a.fixed_ips)))
            .unzip();
        Ok(Listing { ports, fixed_ips })
    }

    fn parse_loosely(body: &[u8]) -> Result<Vec<ListedAttachment>, String> {
        let mut body: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        let items = match body.get_mut("interfaceAttachments").map(Value::take) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        Ok(items
            .into_iter()
            .map(|mut a| ListedAttachment {
                port_id: a.get_mut("port_id").map(Value::take).unwrap_or_default(),
                fixed_ips: a.get_mut("fixed_ips").map(Value::take).unwrap_or_default(),
            })
            .collect())
    }

    pub fn contains(&self, port: &str) -> bool {
        self.ports.iter().any(|p| p == port)
    }

    /// The addresses listed for `port` (none if it is not listed).
    pub fn addresses(&self, port: &str) -> Vec<&Value> {
        let Some(i) = self.ports.iter().position(|p| p == port) else {
            return Vec::new();
        };
        self.fixed_ips[i]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.get("ip_address"))
            .collect()
    }
}

pub type ListingResult = Result<Arc<Listing>, String>;

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
        Fut: Future<Output = Result<Listing, String>>,
    {
        let ticket = self.asked.fetch_add(1, Ordering::SeqCst) + 1;
        let _turn = self.sending.lock().await;
        if let Some((serves, result)) = &*self.last.lock() {
            if *serves >= ticket {
                return result.clone();
            }
        }
        // Every ticket taken up to now asked before this request goes out.
        let serves = self.asked.load(Ordering::SeqCst);
        let result = fetch().await.map(Arc::new);
        *self.last.lock() = Some((serves, result.clone()));
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    #[test]
    fn parse_trims_ids_and_keeps_attachments() {
        let l = Listing::parse(
            br#"{"interfaceAttachments":[{"port_id":" a","fixed_ips":[]},{"port_id":"b"}]}"#,
        )
        .unwrap();
        assert_eq!(l.ports, ["a", "b"]);
        assert!(l.contains("a") && !l.contains("c"));
        assert!(l.addresses("b").is_empty());
        assert!(Listing::parse(b"{}").unwrap().ports.is_empty());
        assert!(Listing::parse(b"not json").is_err());
    }

    #[test]
    fn addresses_are_read_from_fixed_ips() {
        let l = Listing::parse(
            br#"{"interfaceAttachments":[{"port_id":"a","mac_addr":"x","fixed_ips":[{"subnet_id":"s","ip_address":"10.0.0.5"},{"ip_address":"10.0.0.6"}]}]}"#,
        )
        .unwrap();
        assert_eq!(l.addresses("a"), ["10.0.0.5", "10.0.0.6"]);
        assert!(l.addresses("z").is_empty());
    }

    /// A listing off its documented shape still yields what it can.
    #[test]
    fn an_odd_listing_is_read_loosely() {
        // An item that is not an object, and a port id that is not a string.
        let l = Listing::parse(
            br#"{"interfaceAttachments":[7,{"port_id":"a","fixed_ips":[{"ip_address":"10.0.0.5"}]},{"port_id":3}]}"#,
        )
        .unwrap();
        assert_eq!(l.ports, ["a"]);
        assert_eq!(l.addresses("a"), ["10.0.0.5"]);
        // The array is not an array: nothing listed.
        assert!(
            Listing::parse(br#"{"interfaceAttachments":{"port_id":"a"}}"#)
                .unwrap()
                .ports
                .is_empty()
        );
    }

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
        let first = shared.get(|| async { Err("down".to_string()) }).await;
        assert_eq!(first.unwrap_err(), "down");
        let second = shared.get(|| async { Ok(Listing::default()) }).await;
        assert!(second.is_ok(), "a later caller sends a new request");
    }
}
