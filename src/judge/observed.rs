//! What the runner observed of the target's state, as the state checks
//! read it: the server's attachments as the nova list shows them, and how a
//! job ended.

use serde_json::Value;

/// An answer that is not JSON at all, so nothing can be read from it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("not JSON: {0}")]
pub struct NotJson(String);

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
    pub fn parse(body: &[u8]) -> Result<Listing, NotJson> {
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

    fn parse_loosely(body: &[u8]) -> Result<Vec<ListedAttachment>, NotJson> {
        let mut body: Value = serde_json::from_slice(body).map_err(|e| NotJson(e.to_string()))?;
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

    /// The addresses listed for `port`, as text and sorted (to compare two listings).
    pub fn address_texts(&self, port: &str) -> Vec<String> {
        let mut out: Vec<String> = (self.addresses(port).into_iter())
            .map(|a| a.as_str().map_or_else(|| a.to_string(), str::to_string))
            .collect();
        out.sort();
        out
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

/// How a job ended, as its final answer reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobOutcome {
    pub status: String,
    /// The NICs the job's sub-jobs name.
    pub nic_ids: Vec<String>,
    /// Each sub-job's NIC (when it names one) and status.
    pub sub_jobs: Vec<(Option<String>, String)>,
}

impl JobOutcome {
    pub fn succeeded(&self) -> bool {
        self.status == "SUCCESS"
    }

    /// A status of a job that has not ended yet.
    pub fn is_running(status: &str) -> bool {
        matches!(status, "INIT" | "RUNNING" | "PENDING_PAYMENT")
    }

    /// The NICs whose own sub-job succeeded (in a job that may have failed as a whole).
    pub fn nics_done(&self) -> impl Iterator<Item = &str> {
        self.sub_jobs
            .iter()
            .filter(|(_, status)| status == "SUCCESS")
            .filter_map(|(nic, _)| nic.as_deref())
    }

    /// Whether `nic`'s own sub-job succeeded.
    pub fn nic_done(&self, nic: &str) -> bool {
        self.nics_done().any(|n| n == nic)
    }

    /// The outcome a job answer reports, once the job has ended (SUCCESS or FAIL).
    pub fn of_ended(body: &Value) -> Option<JobOutcome> {
        let status = body.get("status").and_then(Value::as_str)?;
        if status != "SUCCESS" && status != "FAIL" {
            return None;
        }
        let sub_jobs: Vec<(Option<String>, String)> = body["entities"]["sub_jobs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                let nic = s["entities"]["nic_id"].as_str().map(str::to_string);
                let status = s["status"].as_str().unwrap_or_default().to_string();
                (nic, status)
            })
            .collect();
        Some(JobOutcome {
            status: status.to_string(),
            nic_ids: sub_jobs.iter().filter_map(|(n, _)| n.clone()).collect(),
            sub_jobs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
