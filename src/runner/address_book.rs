//! Addresses a case may ask for right now. The generator places addresses
//! from the subnet's range; on a real network an address is refused when a
//! port holds it. The book knows the addresses the server's listing showed
//! before the run, those the target file says are in use, and those each
//! running case holds, and moves a case off any of them before it is sent.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;

use crate::case::Case;
use crate::contract::formats::is_ip_address;
use crate::contract::{Contract, pointer};
use crate::fixtures::{Cidr, Fixtures};
use crate::generate::addresses::address_fields;
use crate::judge::observed::Listing;

/// Tries before a case keeps the address it was given (a range nearly full).
const TRIES: u64 = 1024;

pub struct AddressBook {
    v4: Option<Cidr>,
    v6: Option<Cidr>,
    state: parking_lot::Mutex<Book>,
}

#[derive(Default)]
struct Book {
    /// Held by ports outside the run: never handed to a case.
    in_use: HashSet<String>,
    /// Held by running cases, until their lease ends.
    held: HashSet<String>,
    /// Held by NICs the run created, until each of those is shown gone: a
    /// delete that failed or was never read leaves its addresses taken.
    kept: Vec<(Vec<String>, Vec<String>)>,
}

impl Book {
    fn free(&self, address: &str) -> bool {
        !self.in_use.contains(address) && !self.held.contains(address)
    }
}

/// The addresses one case holds; dropping it frees them for later cases.
pub struct AddressHold {
    book: Arc<AddressBook>,
    addresses: Vec<String>,
}

impl AddressHold {
    /// The case created `ports`, which may hold its addresses: they stay
    /// taken (past the case's end) until every one of them is shown gone.
    pub fn keep_for(&mut self, ports: &[String]) {
        if ports.is_empty() || self.addresses.is_empty() {
            return;
        }
        let addresses = std::mem::take(&mut self.addresses);
        self.book
            .state
            .lock()
            .kept
            .push((ports.to_vec(), addresses));
    }
}

impl Drop for AddressHold {
    fn drop(&mut self) {
        let mut state = self.book.state.lock();
        for a in &self.addresses {
            state.held.remove(a);
        }
    }
}

impl AddressBook {
    pub fn new(fixtures: &Fixtures) -> Arc<AddressBook> {
        let (v4, v6) = fixtures.subnet_ranges();
        let book = AddressBook {
            v4,
            v6,
            state: Default::default(),
        };
        book.state
            .lock()
            .in_use
            .extend(fixtures.addresses_in_use.iter().cloned());
        Arc::new(book)
    }

    /// `ports` are shown gone (a delete's job ended SUCCESS, or a listing
    /// no longer shows them): addresses kept only for them are free again.
    pub fn ports_gone(&self, ports: &[String]) {
        let mut state = self.state.lock();
        let mut freed = Vec::new();
        state.kept.retain_mut(|(held_by, addresses)| {
            held_by.retain(|p| !ports.contains(p));
            if held_by.is_empty() {
                freed.append(addresses);
                return false;
            }
            true
        });
        for a in freed {
            state.held.remove(&a);
        }
    }

    /// Marks every address the listing shows as in use.
    pub fn note_listing(&self, listing: &Listing) {
        let mut state = self.state.lock();
        for ips in &listing.fixed_ips {
            for ip in pointer::select(ips, "/*/ip_address") {
                if let Some(ip) = ip.as_str() {
                    state.in_use.insert(ip.to_string());
                }
            }
        }
    }

    /// Moves each address of the case's body that another port or a
    /// running case holds to a free one of the same range, and holds them all.
    /// Addresses outside the ranges (ill-formed on purpose, or no range
    /// given) are left as they are.
    pub fn hold(self: &Arc<Self>, contract: &Contract, case: &mut Case) -> AddressHold {
        let mut hold = AddressHold {
            book: self.clone(),
            addresses: Vec::new(),
        };
        let schema = contract
            .operation(&case.operation)
            .and_then(|op| op.request_schema.as_ref())
            .and_then(|name| contract.schema(name));
        let (Some(schema), Some(body)) = (schema, case.body.as_mut()) else {
            return hold;
        };
        let mut state = self.state.lock();
        for at in address_fields(schema, body) {
            let Some(drawn) = pointer::get(body, &at).and_then(Value::as_str) else {
                continue;
            };
            let range = [self.v4, self.v6]
                .into_iter()
                .flatten()
                .find(|r| r.contains(drawn));
            let Some(range) = range.filter(|_| is_ip_address(drawn)) else {
                continue;
            };
            let mut address = drawn.to_string();
            let start = crate::generate::key_of(&[&case.id, &at]);
            let mut tries = 0;
            while !state.free(&address) && tries < TRIES {
                address = range.host(start.wrapping_add(tries));
                tries += 1;
            }
            if address != drawn {
                pointer::set(body, &at, Value::String(address.clone()));
            }
            state.held.insert(address.clone());
            hold.addresses.push(address);
        }
        hold
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::CaseKind;
    use crate::fixtures::example_fixtures;
    use serde_json::json;

    fn nova_case(ip: &str) -> Case {
        Case {
            id: format!("nova-attach-interface::valid::{ip}"),
            operation: "nova-attach-interface".into(),
            kind: CaseKind::Valid,
            expect: crate::contract::Expect::exact(200),
            breaks: None,
            exercises: Vec::new(),
            path_params: Default::default(),
            body: Some(
                json!({"interfaceAttachment": {"net_id": "n", "fixed_ips": [{"ip_address": ip}]}}),
            ),
            setup: None,
            description: String::new(),
            open_reading: false,
            malformed: None,
            class: String::new(),
        }
    }

    fn ip(case: &Case) -> &str {
        case.body.as_ref().unwrap()["interfaceAttachment"]["fixed_ips"][0]["ip_address"]
            .as_str()
            .unwrap()
    }

    #[test]
    fn a_held_or_listed_address_is_never_handed_out_twice() {
        let contract = Contract::builtin().unwrap();
        let mut fixtures = example_fixtures();
        fixtures.addresses_in_use = vec!["192.168.200.1".into()];
        let book = AddressBook::new(&fixtures);
        let listing = Listing::parse(
            br#"{"interfaceAttachments": [{"port_id": "p", "fixed_ips": [{"ip_address": "192.168.200.2"}]}]}"#,
        )
        .unwrap();
        book.note_listing(&listing);
        let mut first = nova_case("192.168.200.3");
        let held = book.hold(&contract, &mut first);
        assert_eq!(ip(&first), "192.168.200.3", "a free address is kept");
        for taken in ["192.168.200.1", "192.168.200.2", "192.168.200.3"] {
            let mut case = nova_case(taken);
            let _hold = book.hold(&contract, &mut case);
            assert_ne!(ip(&case), taken);
            assert!(fixtures.subnet_ranges().0.unwrap().contains(ip(&case)));
        }
        // Kept for a NIC the case made: taken until that NIC is shown gone.
        let mut kept = nova_case("192.168.200.9");
        let mut hold = book.hold(&contract, &mut kept);
        hold.keep_for(&["nic".to_string()]);
        drop(hold);
        let mut next = nova_case("192.168.200.9");
        let _next = book.hold(&contract, &mut next);
        assert_ne!(
            ip(&next),
            "192.168.200.9",
            "handed out while its NIC may hold it"
        );
        drop(_next);
        book.ports_gone(&["other".to_string()]);
        let mut next = nova_case("192.168.200.9");
        let still = book.hold(&contract, &mut next);
        assert_ne!(
            ip(&next),
            "192.168.200.9",
            "another port's removal freed it"
        );
        drop(still);
        book.ports_gone(&["nic".to_string()]);
        let mut next = nova_case("192.168.200.9");
        let _free = book.hold(&contract, &mut next);
        assert_eq!(ip(&next), "192.168.200.9", "free once its NIC is gone");
        drop(_free);
        drop(held);
        let mut again = nova_case("192.168.200.3");
        let _hold = book.hold(&contract, &mut again);
        assert_eq!(
            ip(&again),
            "192.168.200.3",
            "a released address is free again"
        );
        // Outside the range (a case that breaks the address on purpose): left alone.
        let mut outside = nova_case("10.9.9.9");
        let _hold = book.hold(&contract, &mut outside);
        assert_eq!(ip(&outside), "10.9.9.9");
    }
}
