//! The existing resources a run may use, and the world they imply for the
//! generator: which ids exist, which port is DOWN, which NIC is primary.

use serde::{Deserialize, Serialize};

use crate::contract::{Model, Resource, Setup, World};

/// `[fixtures]` of a target file; the mock prints the same names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixtures {
    pub server_id: String,
    /// The server's primary NIC (cannot be deleted).
    pub primary_port_id: String,
    /// A DOWN port that can be attached (and is detached again by the run).
    pub spare_port_id: String,
    pub network_id: String,
    pub subnet_id: String,
    pub security_group_id: String,
    /// Optional: empty when the target serves no VPC API.
    #[serde(default)]
    pub sub_network_interface_id: String,
    /// More DOWN ports like the spare: cases that attach a spare run in
    /// parallel up to their number (optional).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_spare_port_ids: Vec<String>,
    /// More supplementary NICs like the fixture's: update cases run in
    /// parallel up to their number (optional).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_sub_network_interface_ids: Vec<String>,
    /// More existing security groups (optional): cases that name several
    /// security groups take them from here, never a made-up one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_security_group_ids: Vec<String>,
    /// The subnet's IPv4 range, e.g. `192.168.0.0/24` (optional): cases that
    /// ask for an address take a free-looking one from it. Without it, cases
    /// leave addresses to the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_cidr: Option<String>,
    /// The subnet's IPv6 range (optional), for cases that ask for an IPv6 address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_ipv6_cidr: Option<String>,
    /// Addresses of the subnet held by ports the server's listing does not
    /// show (the spares, other servers' NICs) (optional): no case asks for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses_in_use: Vec<String>,
    /// More servers like the fixture's, on the same network (optional):
    /// cases that change a server spread over them, one turn per server.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_servers: Vec<ServerFixtures>,
}

/// One more server of `[[fixtures.extra_servers]]`: what is its own; the
/// network, subnet, security groups and supplementary NICs are the fixtures'.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFixtures {
    pub server_id: String,
    pub primary_port_id: String,
    pub spare_port_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_spare_port_ids: Vec<String>,
}

/// An address range `address/prefix`, IPv4 or IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    base: std::net::IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not a CIDR block (address/prefix)"))?;
        let base: std::net::IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("`{addr}` is not an IP address"))?;
        let prefix: u8 = prefix
            .trim()
            .parse()
            .map_err(|_| format!("`{prefix}` is not a prefix length"))?;
        let bits = if base.is_ipv4() { 32 } else { 128 };
        // At least a handful of hosts besides the network, gateway and broadcast addresses.
        if prefix > bits - 3 {
            return Err(format!("/{prefix} leaves no room for test addresses"));
        }
        Ok(Cidr { base, prefix })
    }
}

impl Cidr {
    pub fn is_ipv4(&self) -> bool {
        self.base.is_ipv4()
    }

    /// A host address of the range's upper half picked by `key`, never its
    /// last address (broadcast). Clouds hand out the lower addresses first,
    /// so an address from the upper half is unlikely to be in use.
    pub fn host(&self, key: u64) -> String {
        match self.base {
            std::net::IpAddr::V4(v4) => {
                let size = 1u64 << (32 - self.prefix);
                let network = u32::from(v4) as u64 & !(size - 1);
                let addr = network + size / 2 + key % (size / 2 - 1);
                std::net::Ipv4Addr::from(addr as u32).to_string()
            }
            std::net::IpAddr::V6(v6) => {
                let host_bits = (128 - self.prefix as u32).min(63);
                let size = 1u128 << host_bits;
                let network = u128::from(v6) & !((1u128 << (128 - self.prefix as u32)) - 1);
                let addr = network + size / 2 + (key as u128) % (size / 2 - 1);
                std::net::Ipv6Addr::from(addr).to_string()
            }
        }
    }

    /// How many hosts [`Cidr::low_host`] cycles through.
    pub fn low_hosts(&self) -> u64 {
        let bits = if self.is_ipv4() { 32 } else { 128 };
        let host_bits = (bits - self.prefix as u32).min(63);
        (1u64 << host_bits) / 2 - 2
    }

    /// The `n`th host of the range's lower half (wrapping), past the network
    /// address and the gateway: where a cloud hands out addresses first.
    pub fn low_host(&self, n: u64) -> String {
        match self.base {
            std::net::IpAddr::V4(v4) => {
                let size = 1u64 << (32 - self.prefix);
                let network = u32::from(v4) as u64 & !(size - 1);
                let addr = network + 2 + n % (size / 2 - 2);
                std::net::Ipv4Addr::from(addr as u32).to_string()
            }
            std::net::IpAddr::V6(v6) => {
                let host_bits = (128 - self.prefix as u32).min(63);
                let size = 1u128 << host_bits;
                let network = u128::from(v6) & !((1u128 << (128 - self.prefix as u32)) - 1);
                let addr = network + 2 + (n as u128) % (size / 2 - 2);
                std::net::Ipv6Addr::from(addr).to_string()
            }
        }
    }

    /// Whether `address` is a host of the range (neither its network nor its broadcast address).
    pub fn contains(&self, address: &str) -> bool {
        let Ok(ip) = address.parse::<std::net::IpAddr>() else {
            return false;
        };
        match (self.base, ip) {
            (std::net::IpAddr::V4(base), std::net::IpAddr::V4(ip)) => {
                let size = 1u64 << (32 - self.prefix);
                let network = u32::from(base) as u64 & !(size - 1);
                let ip = u32::from(ip) as u64;
                ip > network && ip < network + size - 1
            }
            (std::net::IpAddr::V6(base), std::net::IpAddr::V6(ip)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.prefix as u32)
                };
                let network = u128::from(base) & mask;
                let ip = u128::from(ip);
                ip & mask == network && ip != network
            }
            _ => false,
        }
    }
}

impl Fixtures {
    /// The fixtures of each server, the fixture's own first: each names one
    /// server and its ports, and shares the rest (the network, the security
    /// groups and the supplementary NICs, which belong to the network).
    pub fn servers(&self) -> Vec<Fixtures> {
        let first = Fixtures {
            extra_servers: Vec::new(),
            ..self.clone()
        };
        let others = self.extra_servers.iter().map(|s| Fixtures {
            server_id: s.server_id.clone(),
            primary_port_id: s.primary_port_id.clone(),
            spare_port_id: s.spare_port_id.clone(),
            extra_spare_port_ids: s.extra_spare_port_ids.clone(),
            ..first.clone()
        });
        std::iter::once(first.clone()).chain(others).collect()
    }

    /// Each server's and port's id with the key that names it, the
    /// fixture's own server first.
    pub fn server_ids(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (i, f) in self.servers().into_iter().enumerate() {
            let key = |name: &str| match i {
                0 => format!("fixtures.{name}"),
                i => format!("fixtures.extra_servers[{}].{name}", i - 1),
            };
            out.push((key("server_id"), f.server_id));
            out.push((key("primary_port_id"), f.primary_port_id));
            out.push((key("spare_port_id"), f.spare_port_id));
            let extra = key("extra_spare_port_ids");
            out.extend(
                f.extra_spare_port_ids
                    .into_iter()
                    .map(|p| (extra.clone(), p)),
            );
        }
        out
    }

    /// Whether `port` is one of the spare ports the target file names.
    pub fn is_spare(&self, port: &str) -> bool {
        self.spare_port_id == port || self.extra_spare_port_ids.iter().any(|p| p == port)
    }

    /// Whether `port` is a spare of any server the fixtures name.
    pub fn is_any_servers_spare(&self, port: &str) -> bool {
        self.is_spare(port)
            || (self.extra_servers.iter()).any(|s| {
                s.spare_port_id == port || s.extra_spare_port_ids.iter().any(|p| p == port)
            })
    }

    /// The subnet's ranges, as far as the target file gives them.
    pub fn subnet_ranges(&self) -> (Option<Cidr>, Option<Cidr>) {
        let parse = |c: &Option<String>| c.as_deref().and_then(|c| c.parse().ok());
        (parse(&self.subnet_cidr), parse(&self.subnet_ipv6_cidr))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        Some(match name {
            "server_id" => &self.server_id,
            "primary_port_id" => &self.primary_port_id,
            "spare_port_id" => &self.spare_port_id,
            "network_id" => &self.network_id,
            "subnet_id" => &self.subnet_id,
            "security_group_id" => &self.security_group_id,
            "sub_network_interface_id" => &self.sub_network_interface_id,
            _ => return None,
        })
    }

    pub const NAMES: [&'static str; 7] = [
        "server_id",
        "primary_port_id",
        "spare_port_id",
        "network_id",
        "subnet_id",
        "security_group_id",
        "sub_network_interface_id",
    ];
}

/// The world as the generator assumes it before a case runs: only the fixtures exist.
#[derive(Debug, Clone)]
pub struct FixtureWorld<'f> {
    pub fixtures: &'f Fixtures,
    pub project_id: &'f str,
    /// State the runner sets up before the case (e.g. the spare port attached).
    pub setup: Option<Setup>,
    /// Deterministic source of unknown ids.
    pub unknown: String,
}

impl<'f> FixtureWorld<'f> {
    pub fn new(fixtures: &'f Fixtures, project_id: &'f str, setup: Option<Setup>) -> Self {
        FixtureWorld {
            fixtures,
            project_id,
            setup,
            unknown: "00000000-0000-4000-8000-00000000dead".to_string(),
        }
    }

    fn spare_attached(&self) -> bool {
        self.setup == Some(Setup::SparePortAttached)
    }
}

impl World for FixtureWorld<'_> {
    fn exists(&self, resource: Resource, id: &str, server_id: Option<&str>) -> bool {
        self.known_ids(resource).iter().any(|k| k == id)
            && (resource != Resource::AttachedPort
                || server_id.is_none_or(|s| s == self.fixtures.server_id))
    }

    fn port_state(&self, id: &str) -> Option<&str> {
        if id == self.fixtures.primary_port_id
            || (id == self.fixtures.spare_port_id && self.spare_attached())
        {
            Some("ACTIVE")
        } else if id == self.fixtures.spare_port_id {
            Some("DOWN")
        } else {
            None
        }
    }

    fn fixture(&self, name: &str, _: Option<&str>) -> Option<String> {
        self.fixtures.get(name).map(str::to_string)
    }
}

impl Model for FixtureWorld<'_> {
    fn known_ids(&self, resource: Resource) -> Vec<String> {
        let f = self.fixtures;
        let ids: Vec<&str> = match resource {
            Resource::Server => vec![&f.server_id],
            Resource::Subnet => vec![&f.subnet_id],
            Resource::Network => vec![&f.network_id],
            Resource::SecurityGroup => std::iter::once(&f.security_group_id)
                .chain(&f.extra_security_group_ids)
                .map(String::as_str)
                .collect(),
            Resource::Port => vec![&f.spare_port_id, &f.primary_port_id],
            Resource::AttachedPort if self.spare_attached() => {
                vec![&f.spare_port_id, &f.primary_port_id]
            }
            Resource::AttachedPort => vec![&f.primary_port_id],
            Resource::SubNic => vec![&f.sub_network_interface_id],
        };
        ids.into_iter().map(str::to_string).collect()
    }

    fn unknown_id(&self) -> String {
        self.unknown.clone()
    }
}

/// Fixture ids for examples and tests (the same ids the mock makes by default).
pub fn example_fixtures() -> Fixtures {
    Fixtures {
        server_id: "6e2f4c1a-8f0b-4a7e-9b52-1d3c0e9a7f10".into(),
        primary_port_id: "a1d0f6b2-3c4e-4f5a-8b6c-7d8e9f0a1b2c".into(),
        spare_port_id: "ce531f90-199f-48c0-816c-13e38010b442".into(),
        network_id: "3cb9bc59-5699-4588-a4b1-b87f96708bc6".into(),
        subnet_id: "d32019d3-bc6e-4319-9c1d-6722fc136a23".into(),
        security_group_id: "f0ac4394-7e4a-4409-9701-ba8be283dbc3".into(),
        sub_network_interface_id: "2be868f2-f7c9-48db-abc0-eea0b9105b0d".into(),
        // The built-in mock offers more spares and supplementary NICs, so the
        // cases that change them run in parallel.
        extra_spare_port_ids: (1..=63)
            .map(|i| format!("5a4e0000-0000-4000-8000-{i:012x}"))
            .collect(),
        extra_sub_network_interface_ids: (1..=15)
            .map(|i| format!("5b1c0000-0000-4000-8000-{i:012x}"))
            .collect(),
        extra_security_group_ids: vec![
            "5c9d0000-0000-4000-8000-000000000001".into(),
            "5c9d0000-0000-4000-8000-000000000002".into(),
        ],
        // The range the mock hands its ports' addresses from.
        subnet_cidr: Some("192.168.0.0/16".into()),
        // Its IPv6 range: a NIC added with ipv6_enable gets an address from it.
        subnet_ipv6_cidr: Some("2001:db8:a0::/64".into()),
        addresses_in_use: Vec::new(),
        extra_servers: Vec::new(),
    }
}

pub const EXAMPLE_PROJECT_ID: &str = "0605767a3300d5762fb7c0186d9e1779";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_stay_inside_the_range_and_off_its_edges() {
        let v4: Cidr = "10.1.2.0/24".parse().unwrap();
        for key in [0, 1, 126, 127, 233, 234, 1_000_003] {
            let host: std::net::Ipv4Addr = v4.host(key).parse().unwrap();
            let last = host.octets()[3];
            assert_eq!(&host.octets()[..3], &[10, 1, 2]);
            assert!((128..255).contains(&last), "{host}");
            assert!(v4.contains(&host.to_string()));
            let low: std::net::Ipv4Addr = v4.low_host(key).parse().unwrap();
            assert!((2..128).contains(&low.octets()[3]), "{low}");
        }
        assert!(!v4.contains("10.1.2.0") && !v4.contains("10.1.2.255"));
        assert!(!v4.contains("10.1.3.7") && !v4.contains("fe80::1") && !v4.contains("x"));
        let v6: Cidr = "2001:db8::/64".parse().unwrap();
        assert!(v6.host(7).starts_with("2001:db8::"), "{}", v6.host(7));
        assert!(v6.contains(&v6.host(7)) && !v6.contains("2001:db9::1"));
        assert!("10.0.0.0/31".parse::<Cidr>().is_err());
        assert!("10.0.0.0".parse::<Cidr>().is_err());
        assert!("10.0.0.300/24".parse::<Cidr>().is_err());
    }
}
