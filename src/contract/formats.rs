//! Formats the pages state that JSON Schema has no name for.
//!
//! Registered with the `jsonschema` validator under the names the schemas use
//! (`mac-address`, `ip-address`, `ip-or-cidr`, `utc-seconds`); the generator
//! produces values for the same names, so the names live here once.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Every custom format with its check, for registration and for tests.
/// A format's check.
pub type FormatCheck = fn(&str) -> bool;

pub const CUSTOM_FORMATS: &[(&str, FormatCheck)] = &[
    ("mac-address", is_mac_address),
    ("ip-address", is_ip_address),
    ("ip-or-cidr", is_ip_or_cidr),
    ("utc-seconds", is_utc_seconds),
];

/// `fa:16:3e:63:75:b2`: six pairs of hex digits separated by colons.
pub fn is_mac_address(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// An IPv4 or IPv6 address, nothing around it.
pub fn is_ip_address(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok()
}

/// "Single IP address, for example, 192.168.21.25; a CIDR block, for example, 192.168.21.0/24".
pub fn is_ip_or_cidr(s: &str) -> bool {
    match s.split_once('/') {
        None => is_ip_address(s),
        Some((ip, bits)) => {
            let Ok(bits) = bits.parse::<u8>() else {
                return false;
            };
            if bits.to_string().len() != s.len() - ip.len() - 1 {
                return false; // rejects "+8" or "08"
            }
            if ip.parse::<Ipv4Addr>().is_ok() {
                bits <= 32
            } else if ip.parse::<Ipv6Addr>().is_ok() {
                bits <= 128
            } else {
                false
            }
        }
    }
}

/// `yyyy-MM-ddTHH:mm:ssZ` exactly, with a real calendar date and time.
pub fn is_utc_seconds(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 20 {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| b[r.clone()].iter().all(u8::is_ascii_digit);
    if !(digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'Z')
    {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(u32::MAX);
    let (year, month, day) = (num(0..4), num(5..7), num(8..10));
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days_in_month).contains(&day) && num(11..13) < 24 && num(14..16) < 60 && num(17..19) < 60
}

/// Formats jsonschema knows by itself; used by the loader to reject a typo'd format name.
pub const STANDARD_FORMATS: &[&str] = &["uuid", "ipv4", "ipv6", "date-time"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_addresses() {
        assert!(is_mac_address("fa:16:3e:63:75:b2"));
        assert!(is_mac_address("FA:16:3E:63:75:B2"));
        assert!(!is_mac_address("fa:16:3e:63:75"));
        assert!(!is_mac_address("fa-16-3e-63-75-b2"));
        assert!(!is_mac_address("fa:16:3e:63:75:bg"));
        assert!(!is_mac_address("fa:16:3e:63:75:b2 "));
    }

    #[test]
    fn ip_or_cidr() {
        assert!(is_ip_or_cidr("192.168.21.25"));
        assert!(is_ip_or_cidr("192.168.21.0/24"));
        assert!(is_ip_or_cidr("1.1.1.1/0"));
        assert!(is_ip_or_cidr("2001:db8::/32"));
        assert!(!is_ip_or_cidr("192.168.21.0/33"));
        assert!(!is_ip_or_cidr("192.168.21.0/+8"));
        assert!(!is_ip_or_cidr("192.168.21/24"));
        assert!(!is_ip_or_cidr("10.0.0.0/"));
    }

    #[test]
    fn utc_seconds() {
        assert!(is_utc_seconds("2025-02-10T08:21:16Z"));
        assert!(is_utc_seconds("2024-02-29T23:59:59Z"));
        assert!(!is_utc_seconds("2025-02-29T00:00:00Z"));
        assert!(!is_utc_seconds("2025-02-10T08:21:16.000Z"));
        assert!(!is_utc_seconds("2025-02-10 08:21:16Z"));
        assert!(!is_utc_seconds("2025-13-10T08:21:16Z"));
        assert!(!is_utc_seconds("2025-02-10T24:00:00Z"));
    }
}
