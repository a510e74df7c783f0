//! SDK-HMAC-SHA256 request signing (AK/SK), shared by the runner (sign) and the mock (verify).
//!
//! Reproduces the vendor SDK signer byte for byte (see `tests/data/signing-vectors.json`):
//! the canonical request is method, the path with every segment percent-encoded
//! and a trailing `/`, the sorted query, the sorted lower-case headers, the
//! signed header names and the hex SHA-256 of the body (`UNSIGNED-PAYLOAD` for
//! a non-JSON Content-Type, announced in `X-Sdk-Content-Sha256`).

use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};

pub const ALGORITHM: &str = "SDK-HMAC-SHA256";
pub const DATE_HEADER: &str = "X-Sdk-Date";
pub const CONTENT_SHA_HEADER: &str = "X-Sdk-Content-Sha256";
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// RFC 3986 unreserved characters stay; everything else is percent-encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub fn encode_segment(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// A request as the signer sees it; `path` and `query` are not yet encoded.
#[derive(Debug, Clone)]
pub struct SignableRequest<'a> {
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    /// Headers present at signing time (must include `X-Sdk-Date`).
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// Everything the signer computes, for tests and for the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub signed_headers: String,
    pub canonical_request: String,
    pub string_to_sign: String,
    pub authorization: String,
    /// Headers the signer adds to the request (`Host`, maybe `X-Sdk-Content-Sha256`).
    pub added_headers: Vec<(String, String)>,
}

fn hex_sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac_hex(key: &[u8], data: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    hex::encode(mac.finalize().into_bytes())
}

fn canonical_uri(segments: impl Iterator<Item = String>) -> String {
    let mut uri: String = segments
        .map(|s| encode_segment(&s))
        .collect::<Vec<_>>()
        .join("/");
    if !uri.ends_with('/') {
        uri.push('/');
    }
    uri
}

fn canonical_query(query: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (encode_segment(k), encode_segment(v)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn is_json(content_type: Option<&str>) -> bool {
    content_type.is_none_or(|ct| {
        ct.trim()
            .to_ascii_lowercase()
            .starts_with("application/json")
    })
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Builds the canonical request and signature from headers that are all signed.
fn compute(
    method: &str,
    uri: &str,
    query: &str,
    headers: &[(String, String)],
    payload_hash: &str,
    ak: &str,
    sk: &str,
) -> Signature {
    let mut lower: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    lower.sort();
    let canonical_headers: String = lower.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_headers = lower
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request =
        format!("{method}\n{uri}\n{query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}");
    let date = header(headers, DATE_HEADER).unwrap_or_default();
    let string_to_sign = format!(
        "{ALGORITHM}\n{date}\n{}",
        hex_sha256(canonical_request.as_bytes())
    );
    let signature = hmac_hex(sk.as_bytes(), string_to_sign.as_bytes());
    let authorization =
        format!("{ALGORITHM} Access={ak}, SignedHeaders={signed_headers}, Signature={signature}");
    Signature {
        signed_headers,
        canonical_request,
        string_to_sign,
        authorization,
        added_headers: Vec::new(),
    }
}

/// Signs a request as the vendor SDK does.
pub fn sign(req: &SignableRequest, ak: &str, sk: &str) -> Signature {
    let mut headers = req.headers.to_vec();
    let mut added = Vec::new();
    let payload_hash = if is_json(header(&headers, "Content-Type")) {
        hex_sha256(req.body)
    } else {
        added.push((CONTENT_SHA_HEADER.to_string(), UNSIGNED_PAYLOAD.to_string()));
        UNSIGNED_PAYLOAD.to_string()
    };
    if header(&headers, "Host").is_none() {
        added.push(("Host".to_string(), req.host.to_string()));
    }
    headers.extend(added.iter().cloned());
    let uri = canonical_uri(req.path.split('/').map(str::to_string));
    let mut sig = compute(
        req.method,
        &uri,
        &canonical_query(req.query),
        &headers,
        &payload_hash,
        ak,
        sk,
    );
    sig.added_headers = added;
    sig
}

/// The current time in the `X-Sdk-Date` format.
pub fn sdk_date_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("no credentials (neither X-Auth-Token nor an SDK-HMAC-SHA256 Authorization header)")]
    Missing,
    #[error("malformed Authorization header")]
    Malformed,
    #[error("unknown access key")]
    UnknownKey,
    #[error("signed header `{0}` is missing from the request")]
    MissingSignedHeader(String),
    #[error("signature does not match")]
    Mismatch,
    #[error("X-Sdk-Date {0} is not within 15 minutes of now (a replayed or mis-clocked request)")]
    Stale(String),
}

/// Seconds since 1970 of an `X-Sdk-Date` (`YYYYMMDDTHHMMSSZ`).
pub fn parse_sdk_date(date: &str) -> Option<i64> {
    let b = date.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = date.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    Some(days_from_civil(y, m as u32, d as u32) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Whether an `X-Sdk-Date` lies within `max_age` of now, either way.
pub fn date_is_fresh(date: &str, max_age: std::time::Duration) -> bool {
    let Some(at) = parse_sdk_date(date) else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    (now - at).unsigned_abs() <= max_age.as_secs()
}

/// A civil date to days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A received request, as the server sees it: path and query still percent-encoded.
pub struct ReceivedRequest<'a> {
    pub method: &'a str,
    pub raw_path: &'a str,
    pub raw_query: Option<&'a str>,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// Checks an SDK-HMAC-SHA256 signature; `secret_for` maps an access key to its secret.
pub fn verify(
    req: &ReceivedRequest,
    secret_for: impl Fn(&str) -> Option<String>,
) -> Result<(), VerifyError> {
    let auth = header(req.headers, "Authorization").ok_or(VerifyError::Missing)?;
    let rest = auth
        .strip_prefix(ALGORITHM)
        .ok_or(VerifyError::Malformed)?
        .trim();
    let mut access = None;
    let mut signed = None;
    let mut given = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or(VerifyError::Malformed)?;
        match k {
            "Access" => access = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => given = Some(v),
            _ => return Err(VerifyError::Malformed),
        }
    }
    let (access, signed, given) = (
        access.ok_or(VerifyError::Malformed)?,
        signed.ok_or(VerifyError::Malformed)?,
        given.ok_or(VerifyError::Malformed)?,
    );
    let sk = secret_for(access).ok_or(VerifyError::UnknownKey)?;
    let mut headers = Vec::new();
    for name in signed.split(';') {
        let value = header(req.headers, name)
            .ok_or_else(|| VerifyError::MissingSignedHeader(name.to_string()))?;
        headers.push((name.to_string(), value.to_string()));
    }
    let payload_hash = match header(req.headers, CONTENT_SHA_HEADER) {
        Some(v)
            if v == UNSIGNED_PAYLOAD && signed.split(';').any(|h| h == "x-sdk-content-sha256") =>
        {
            v.to_string()
        }
        _ => hex_sha256(req.body),
    };
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    let uri = canonical_uri(req.raw_path.split('/').map(decode));
    let query: Vec<(String, String)> = req
        .raw_query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(&k.replace('+', " ")), decode(&v.replace('+', " ")))
        })
        .collect();
    let expected = compute(
        req.method,
        &uri,
        &canonical_query(&query),
        &headers,
        &payload_hash,
        access,
        &sk,
    );
    let expected_sig = expected
        .authorization
        .rsplit("Signature=")
        .next()
        .unwrap_or_default();
    // Constant-time comparison of the hex signatures.
    let same = expected_sig.len() == given.len()
        && expected_sig
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_089), (2025, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        for days in [0, 19_782, 20_089, 25_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn sdk_dates_parse_and_only_recent_ones_are_fresh() {
        assert_eq!(parse_sdk_date("19700101T000001Z"), Some(1));
        assert_eq!(
            parse_sdk_date("20240229T120000Z"),
            Some(19_782 * 86_400 + 43_200)
        );
        for bad in [
            "",
            "2024-02-29T12:00:00Z",
            "20241329T120000Z",
            "2024022XT120000Z",
        ] {
            assert_eq!(parse_sdk_date(bad), None, "{bad}");
        }
        let fifteen = std::time::Duration::from_secs(900);
        assert!(date_is_fresh(&sdk_date_now(), fifteen));
        assert!(!date_is_fresh("20200101T000000Z", fifteen));
        assert!(!date_is_fresh("not a date", fifteen));
    }

    #[test]
    fn segments_encode_everything_but_unreserved() {
        assert_eq!(encode_segment("a b:c~d*"), "a%20b%3Ac~d%2A");
    }
}
