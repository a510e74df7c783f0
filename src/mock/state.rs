//! The mock's resources in memory: servers, ports, networks, subnets,
//! security groups, supplementary NICs and jobs. One mutex guards it all:
//! requests hold it only to read or apply a change, so no update is lost.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::contract::{Resource, World};
use crate::fixtures::{Cidr, Fixtures};

use super::jobs::Jobs;

/// The mock's maps hash ids on every request: a fast hasher rather than SipHash
/// (ids come from the mock itself or are checked against it, no flooding risk
/// that matters for a test double).
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
pub type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// A NIC of the mock's server that is no fixture: someone else's, attached
/// before any run, which no case may name or change (the frame rules watch it).
pub const BYSTANDER_PORT_ID: &str = "5e000000-0000-4000-8000-000000000001";

/// The range the mock's subnet hands addresses from when the fixtures name none.
const DEFAULT_RANGE: &str = "192.168.0.0/16";

/// Addresses the pages' example requests ask for: the mock never hands them
/// out itself, so those requests are served as printed.
const EXAMPLE_ADDRESSES: [&str; 1] = ["192.168.1.3"];

/// At most this many candidates are tried per search for a free address, so
/// the state's lock is never held for long (an IPv6 range is never exhausted).
const MAX_ADDRESS_SEARCH: u64 = 1 << 16;

/// An id held in several places (a map key, a server's list, a job): one
/// allocation, shared. Maps keyed by it are looked up with a `&str`.
pub type Id = Arc<str>;

#[derive(Debug, Clone)]
pub struct Port {
    pub id: Id,
    /// `DOWN` when free, `ACTIVE` when attached.
    pub state: &'static str,
    pub network_id: Id,
    pub subnet_id: Id,
    pub ip_address: String,
    /// The last three bytes of the MAC address (`fa:16:3e:xx:xx:xx`), spelled out when listed.
    pub mac: u32,
    /// The server it is attached to (its id shared with the server's entry).
    pub server_id: Option<Id>,
    pub delete_on_termination: bool,
    /// Made by an attach (deleted with its NIC) rather than pre-existing.
    pub created: bool,
    /// The nova attach's `tag` (microversion 2.49 on), shown from 2.70.
    pub tag: Option<String>,
    /// Its IPv6 address besides `ip_address`, for a NIC added with ipv6_enable.
    pub ipv6_address: Option<String>,
    /// Attachment fields an update set besides delete_on_termination (only
    /// under a fault: the page says no other can be updated), listed as set.
    pub also_updated: serde_json::Map<String, Value>,
}

impl Port {
    /// The port's addresses as nova and the network API list them (none
    /// only under a fault that assigns none).
    pub fn fixed_ips(&self) -> Value {
        let mut ips = Vec::new();
        if !self.ip_address.is_empty() {
            ips.push(json!({"subnet_id": &*self.subnet_id, "ip_address": self.ip_address}));
        }
        if let Some(v6) = &self.ipv6_address {
            ips.push(json!({"subnet_id": &*self.subnet_id, "ip_address": v6}));
        }
        Value::Array(ips)
    }
}

#[derive(Debug, Clone)]
pub struct Server {
    pub primary_port_id: String,
    /// Attached ports, in attach order. Whether a port is attached is asked
    /// of the port, so attaching is a push, with no index to keep.
    pub ports: Vec<Id>,
}

#[derive(Debug)]
pub struct State {
    pub servers: FastMap<Id, Server>,
    /// Boxed: the map grows with every NIC created, and a slim entry makes each regrowth cheap.
    pub ports: FastMap<Id, Box<Port>>,
    /// network id → its subnet id
    pub networks: FastMap<String, Id>,
    /// subnet id → network id
    pub subnets: FastMap<Id, Id>,
    pub security_groups: Vec<String>,
    /// Supplementary NICs, kept as their documented response object.
    pub sub_nics: FastMap<String, Value>,
    pub jobs: Jobs,
    /// (server, port) pairs deleted but still listed (fault `deleted-nic-stays-listed`).
    pub ghosts: HashSet<(String, String)>,
    mac_counter: u32,
    /// Where the search for a free address to hand out starts.
    next_host: u64,
    /// The subnets' address range (every mock subnet shares the fixture's).
    range: Cidr,
    /// Their IPv6 range, where the fixtures give one: a NIC added with
    /// ipv6_enable gets an address from it ("the NIC supports IPv6 addresses").
    range6: Option<Cidr>,
    /// Where the search for a free IPv6 address starts.
    next_host6: u64,
    /// Addresses held by a port or a supplementary NIC: a network refuses to hand one out twice.
    addresses: FastSet<String>,
}

/// Why a network refuses an address a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressProblem {
    OutOfRange(String),
    InUse(String),
    /// No address was asked for and the subnet has none left to give.
    Exhausted,
}

impl std::fmt::Display for AddressProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AddressProblem::OutOfRange(a) => {
                write!(f, "IP address {a} is not in the subnet's range")
            }
            AddressProblem::InUse(a) => write!(f, "IP address {a} is already in use"),
            AddressProblem::Exhausted => write!(f, "no free IP address is left in the subnet"),
        }
    }
}

impl AddressProblem {
    /// The status nova answers with: a conflict for an address in use, a bad
    /// request for one out of range or none left (nova's `NoMoreFixedIps`).
    pub fn status(&self) -> u16 {
        match self {
            AddressProblem::OutOfRange(_) | AddressProblem::Exhausted => 400,
            AddressProblem::InUse(_) => 409,
        }
    }
}

/// A random UUID (v4) from the thread's userspace RNG: no system call per id.
pub fn random_id() -> String {
    random_id_shared().to_string()
}

/// 32 random hex digits (job and request ids).
pub fn random_hex() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// A random UUID as a shared id (formatted on the stack: one allocation, on the batch-add path).
pub fn random_id_shared() -> Id {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let id = uuid::Builder::from_random_bytes(rand::random::<[u8; 16]>()).into_uuid();
    Id::from(&*id.hyphenated().encode_lower(&mut buf))
}

/// The supplementary NIC number `i` of the fixtures (0: the fixture's own),
/// as its documented response object.
fn sub_nic(id: &str, address: &str, i: usize, project_id: &str, f: &Fixtures) -> Value {
    json!({
        "id": id,
        "virsubnet_id": f.subnet_id,
        "private_ip_address": address,
        "ipv6_ip_address": null,
        "mac_address": format!("fa:16:3e:26:7e:{:02x}", 0x1e + i),
        "parent_device_id": f.server_id,
        "parent_id": f.primary_port_id,
        "description": "",
        "vpc_id": "c10e1e02-9db2-4bd0-89ef-52536952627e",
        "vlan_id": 3413 + i,
        "security_groups": [f.security_group_id],
        "tags": [],
        "project_id": project_id,
        "created_at": "2025-02-10T08:21:16Z",
        "allowed_address_pairs": [],
        "state": "NORMAL",
        "instance_id": "",
        "instance_type": "",
        "scope": "center",
        "security_enabled": true
    })
}

impl State {
    pub fn new(project_id: &str, f: &Fixtures, job_duration: Duration) -> State {
        let mut state = State {
            servers: FastMap::default(),
            ports: FastMap::default(),
            networks: [(f.network_id.clone(), Id::from(f.subnet_id.as_str()))]
                .into_iter()
                .collect(),
            subnets: [(
                Id::from(f.subnet_id.as_str()),
                Id::from(f.network_id.as_str()),
            )]
            .into_iter()
            .collect(),
            security_groups: std::iter::once(&f.security_group_id)
                .chain(&f.extra_security_group_ids)
                .cloned()
                .collect(),
            sub_nics: FastMap::default(),
            jobs: Jobs::new(job_duration),
            ghosts: HashSet::new(),
            mac_counter: 0,
            next_host: 0,
            range: f
                .subnet_ranges()
                .0
                .unwrap_or_else(|| DEFAULT_RANGE.parse().expect("a valid range")),
            range6: f.subnet_ranges().1,
            next_host6: 0,
            addresses: FastSet::default(),
        };
        state.addresses.extend(f.addresses_in_use.iter().cloned());
        for (i, server) in f.servers().iter().enumerate() {
            state.add_server(server, i);
        }
        for (i, id) in std::iter::once(&f.sub_network_interface_id)
            .chain(&f.extra_sub_network_interface_ids)
            .enumerate()
        {
            let address = (state.free_address()).unwrap_or_else(|| state.range.host(i as u64));
            let nic = sub_nic(id, &address, i, project_id, f);
            state.addresses.insert(address);
            state.sub_nics.insert(id.clone(), nic);
        }
        state
    }

    /// The `i`th server of the fixtures with its ports: the primary and a
    /// bystander attached, the spares not.
    fn add_server(&mut self, f: &Fixtures, i: usize) {
        // The fixture ports exist before any attach: detaching them keeps them.
        for id in [&f.primary_port_id, &f.spare_port_id]
            .into_iter()
            .chain(&f.extra_spare_port_ids)
        {
            // A range too small for every fixture still gives each one an address.
            let fallback = self.range.host(self.mac_counter as u64);
            let port = match self.new_port(Id::from(id.as_str()), &f.subnet_id, None) {
                Ok(port) => port,
                Err(_) => self
                    .new_port(Id::from(id.as_str()), &f.subnet_id, Some(&fallback))
                    .expect("an address was given"),
            };
            self.insert_port(Port {
                created: false,
                ..port
            });
        }
        self.servers.insert(
            Id::from(f.server_id.as_str()),
            Server {
                primary_port_id: f.primary_port_id.clone(),
                ports: Vec::new(),
            },
        );
        self.attach(&f.server_id, &f.primary_port_id);
        let bystander = match i {
            0 => BYSTANDER_PORT_ID.to_string(),
            i => format!("5e000000-0000-4000-8000-{:012x}", i + 1),
        };
        if let Ok(port) = self.new_port(Id::from(bystander.as_str()), &f.subnet_id, None) {
            self.insert_port(Port {
                created: false,
                ..port
            });
            self.attach(&f.server_id, &bystander);
        }
    }

    /// A new DOWN port on `subnet_id` (not inserted), holding `ip` or else
    /// a free address; refused when no address is asked for and none is left.
    pub fn new_port(
        &mut self,
        id: Id,
        subnet_id: &str,
        ip: Option<&str>,
    ) -> Result<Port, AddressProblem> {
        let ip = match ip {
            Some(ip) => ip.to_string(),
            None => self.free_address().ok_or(AddressProblem::Exhausted)?,
        };
        self.mac_counter += 1;
        let (subnet_id, network_id) = match self.subnets.get_key_value(subnet_id) {
            Some((key, network)) => (key.clone(), network.clone()),
            None => (Id::from(subnet_id), Id::from("")),
        };
        Ok(Port {
            id,
            state: "DOWN",
            network_id,
            subnet_id,
            ip_address: ip,
            mac: self.mac_counter & 0xff_ffff,
            server_id: None,
            delete_on_termination: false,
            created: true,
            tag: None,
            also_updated: serde_json::Map::new(),
            ipv6_address: None,
        })
    }

    /// Gives a new port an IPv6 address too, where the subnet has an IPv6
    /// range and the port holds none yet; false when it cannot.
    pub fn give_ipv6(&mut self, port: &mut Port) -> bool {
        let Some(range) = self.range6 else {
            return false;
        };
        if port.ip_address.contains(':') || port.ipv6_address.is_some() {
            return true;
        }
        for _ in 0..range.low_hosts().min(MAX_ADDRESS_SEARCH) {
            let address = range.low_host(self.next_host6);
            self.next_host6 = self.next_host6.wrapping_add(1);
            if self.may_hand_out(&address) {
                port.ipv6_address = Some(address);
                return true;
            }
        }
        false
    }

    /// Releases the addresses a deleted port held.
    fn release(&mut self, port: &Port) {
        self.addresses.remove(&port.ip_address);
        if let Some(v6) = &port.ipv6_address {
            self.addresses.remove(v6);
        }
    }

    /// The lowest-numbered free address after the last one handed out, as
    /// a cloud's allocator gives (lower half of the range, wrapping); none
    /// when every candidate is held.
    fn free_address(&mut self) -> Option<String> {
        for _ in 0..self.range.low_hosts().min(MAX_ADDRESS_SEARCH) {
            let n = self.next_host;
            self.next_host = self.next_host.wrapping_add(1);
            let address = self.range.low_host(n);
            if self.may_hand_out(&address) {
                return Some(address);
            }
        }
        None
    }

    /// How many addresses could be handed out now, counting up to `up_to`
    /// (a batch counts before it takes any, so an atomic batch changes nothing).
    pub fn free_addresses(&self, up_to: usize) -> usize {
        let mut found = 0;
        let mut at = self.next_host;
        for _ in 0..self.range.low_hosts().min(MAX_ADDRESS_SEARCH) {
            if found >= up_to {
                break;
            }
            found += usize::from(self.may_hand_out(&self.range.low_host(at)));
            at = at.wrapping_add(1);
        }
        found
    }

    /// Neither held nor one the pages' examples ask for.
    fn may_hand_out(&self, address: &str) -> bool {
        !self.addresses.contains(address) && !EXAMPLE_ADDRESSES.contains(&address)
    }

    /// Why the network would refuse to give a new port `address`, if it would.
    pub fn address_problem(&self, address: &str) -> Option<AddressProblem> {
        let in_range = if address.contains(':') {
            self.range6.is_some_and(|r| r.contains(address))
        } else {
            self.range.contains(address)
        };
        if !in_range {
            return Some(AddressProblem::OutOfRange(address.to_string()));
        }
        self.addresses
            .contains(address)
            .then(|| AddressProblem::InUse(address.to_string()))
    }

    /// The primary NIC of a server.
    pub fn primary_of(&self, server_id: &str) -> Option<&str> {
        self.servers
            .get(server_id)
            .map(|s| s.primary_port_id.as_str())
    }

    /// Gives a port the next free address (a fault's doing: nothing asked for it).
    pub fn readdress_freely(&mut self, port_id: &str) {
        if let Some(address) = self.free_address() {
            self.readdress(port_id, &address);
        }
    }

    /// The first NIC attached to the server that no attach made and that
    /// `mine` does not claim: someone else's.
    pub fn bystander(&self, server_id: &str, mine: impl Fn(&str) -> bool) -> Option<Id> {
        let server = self.servers.get(server_id)?;
        server
            .ports
            .iter()
            .find(|p| !mine(p) && self.ports.get(&***p).is_some_and(|port| !port.created))
            .cloned()
    }

    /// Gives a port another address (releasing its old one).
    pub fn readdress(&mut self, port_id: &str, address: &str) {
        if let Some(port) = self.ports.get_mut(port_id) {
            self.addresses.remove(&port.ip_address);
            port.ip_address = address.to_string();
            self.addresses.insert(address.to_string());
        }
    }

    /// Inserts a port made by [`State::new_port`]; returns its id.
    pub fn insert_port(&mut self, port: Port) -> Id {
        self.addresses.insert(port.ip_address.clone());
        if let Some(v6) = &port.ipv6_address {
            self.addresses.insert(v6.clone());
        }
        let id = port.id.clone();
        self.ports.insert(id.clone(), Box::new(port));
        id
    }

    /// Attaches a port to a server (nothing if either is unknown or the port is attached already).
    pub fn attach(&mut self, server_id: &str, port_id: &str) {
        let (Some(server_id), Some(port)) = (
            self.servers
                .get_key_value(server_id)
                .map(|(id, _)| id.clone()),
            self.ports.get_mut(port_id),
        ) else {
            return;
        };
        if port.server_id.is_some() {
            return;
        }
        port.state = "ACTIVE";
        let id = port.id.clone();
        port.server_id = Some(server_id.clone());
        if let Some(server) = self.servers.get_mut(&*server_id) {
            server.ports.push(id);
        }
    }

    /// Detaches a port from a server, deleting it if the mock made it.
    pub fn detach(&mut self, server_id: &str, port_id: &str) {
        if let Some(server) = self.servers.get_mut(server_id) {
            // Linear in the server's NICs, as keeping their order costs anyway.
            if let Some(i) = server.ports.iter().position(|p| &**p == port_id) {
                server.ports.remove(i);
            }
        }
        let created = self.ports.get(port_id).is_some_and(|p| p.created);
        if created {
            if let Some(port) = self.ports.remove(port_id) {
                self.release(&port);
            }
        } else if let Some(port) = self.ports.get_mut(port_id) {
            port.state = "DOWN";
            port.server_id = None;
        }
    }

    /// Deletes a server as the update page's Table 3 describes its NICs'
    /// fate: a NIC with delete_on_termination true is deleted with it
    /// ("true: Delete the NIC"), any other is detached and kept, DOWN (even
    /// one an attach made). False when there is no such server.
    pub fn delete_server(&mut self, server_id: &str) -> bool {
        let Some(server) = self.servers.remove(server_id) else {
            return false;
        };
        for port_id in server.ports {
            let deletes = self
                .ports
                .get(&*port_id)
                .is_some_and(|p| p.delete_on_termination);
            if deletes {
                if let Some(port) = self.ports.remove(&*port_id) {
                    self.release(&port);
                }
            } else if let Some(port) = self.ports.get_mut(&*port_id) {
                port.state = "DOWN";
                port.server_id = None;
                port.created = false;
            }
        }
        true
    }

    /// A detached port that stays ACTIVE (a fault): listed nowhere, yet refused as in use.
    pub fn keep_in_use(&mut self, port_id: &str) {
        if let Some(port) = self.ports.get_mut(port_id) {
            port.state = "ACTIVE";
        }
    }

    /// Whether the port is attached to the server.
    pub fn is_attached(&self, server_id: &str, port_id: &str) -> bool {
        self.ports
            .get(port_id)
            .is_some_and(|p| p.server_id.as_deref() == Some(server_id))
    }

    /// The nova interfaceAttachment object of a port.
    pub fn attachment(&self, port_id: &str) -> Option<Value> {
        let p = self.ports.get(port_id)?;
        let m = p.mac;
        Some(json!({
            "port_state": p.state,
            // A port with no address (only under a fault) lists none.
            "fixed_ips": p.fixed_ips(),
            "port_id": &*p.id,
            "net_id": &*p.network_id,
            "mac_addr": format!("fa:16:3e:{:02x}:{:02x}:{:02x}", (m >> 16) & 0xff, (m >> 8) & 0xff, m & 0xff),
        }))
    }
}

impl World for State {
    fn exists(&self, resource: Resource, id: &str, server_id: Option<&str>) -> bool {
        match resource {
            Resource::Server => self.servers.contains_key(id),
            Resource::Subnet => self.subnets.contains_key(id),
            Resource::Network => self.networks.contains_key(id),
            Resource::SecurityGroup => self.security_groups.iter().any(|s| s == id),
            Resource::Port => self.ports.contains_key(id),
            Resource::AttachedPort => server_id.is_some_and(|s| self.is_attached(s, id)),
            Resource::SubNic => self.sub_nics.contains_key(id),
        }
    }

    fn port_state(&self, id: &str) -> Option<&str> {
        self.ports.get(id).map(|p| p.state)
    }

    fn fixture(&self, name: &str, server_id: Option<&str>) -> Option<String> {
        match name {
            // The only fixture rules name: the primary NIC of the request's server.
            "primary_port_id" => (server_id.and_then(|s| self.servers.get(s)))
                .or_else(|| self.servers.values().next())
                .map(|s| s.primary_port_id.clone()),
            _ => None,
        }
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
