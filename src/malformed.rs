//! Requests below the schemas: bytes that are not UTF-8, JSON that does not
//! parse, a Content-Type that is not JSON, a method the path does not
//! declare. A server's parser and router answer these before any rule does,
//! and that is where production servers fail (an unhandled decode error is a 500).
//!
//! Every one carries a body that no reading accepts: its only key is the
//! operation's top-level key with a value of the wrong type. A server that
//! ignores the Content-Type, drops the bad bytes or keeps the first of two
//! keys still refuses it, so a malformed request never changes the target.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// One class of protocol-level request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Malformation {
    /// A body that is not UTF-8 (RFC 8259 requires it).
    NotUtf8,
    /// JSON cut short.
    TruncatedJson,
    /// A complete JSON value followed by more bytes.
    TrailingGarbage,
    /// No body at all, with a JSON Content-Type.
    EmptyBody,
    /// The top-level key twice.
    DuplicateKeys,
    /// A body larger than any of these operations needs (1 MiB and more).
    Oversize,
    /// `Content-Type: text/plain`.
    TextPlain,
    /// `Content-Type: multipart/form-data` with no boundary parameter.
    MultipartNoBoundary,
    /// `Content-Type: application/json; charset=utf-16`, the body in UTF-16.
    #[serde(rename = "utf-16")]
    Utf16,
    /// No Content-Type header.
    NoContentType,
    /// A method the path does not declare (PATCH: none of these APIs uses it, so it cannot act).
    UndeclaredMethod,
    /// A query parameter no page declares.
    UnknownQuery,
}

/// The wrong-typed value under the top-level key: every key of these bodies holds an object or a list.
const WRONG: &str = "1";

/// Bytes beyond the largest body a gateway in front of these APIs commonly takes (1 MiB).
const OVERSIZE: usize = (1 << 20) + 1024;

impl Malformation {
    pub const ALL: [Malformation; 12] = [
        Malformation::NotUtf8,
        Malformation::TruncatedJson,
        Malformation::TrailingGarbage,
        Malformation::EmptyBody,
        Malformation::DuplicateKeys,
        Malformation::Oversize,
        Malformation::TextPlain,
        Malformation::MultipartNoBoundary,
        Malformation::Utf16,
        Malformation::NoContentType,
        Malformation::UndeclaredMethod,
        Malformation::UnknownQuery,
    ];

    /// Its name in ids, reports and `--case` (kebab case, as serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            Malformation::NotUtf8 => "not-utf8",
            Malformation::TruncatedJson => "truncated-json",
            Malformation::TrailingGarbage => "trailing-garbage",
            Malformation::EmptyBody => "empty-body",
            Malformation::DuplicateKeys => "duplicate-keys",
            Malformation::Oversize => "oversize",
            Malformation::TextPlain => "text-plain",
            Malformation::MultipartNoBoundary => "multipart-no-boundary",
            Malformation::Utf16 => "utf-16",
            Malformation::NoContentType => "no-content-type",
            Malformation::UndeclaredMethod => "undeclared-method",
            Malformation::UnknownQuery => "unknown-query",
        }
    }

    /// What the request is, in a sentence.
    pub fn describe(self) -> &'static str {
        match self {
            Malformation::NotUtf8 => "a body that is not UTF-8",
            Malformation::TruncatedJson => "JSON cut short",
            Malformation::TrailingGarbage => "JSON followed by more bytes",
            Malformation::EmptyBody => "an empty body",
            Malformation::DuplicateKeys => "the top-level key twice",
            Malformation::Oversize => "a body of more than 1 MiB",
            Malformation::TextPlain => "Content-Type text/plain",
            Malformation::MultipartNoBoundary => {
                "Content-Type multipart/form-data without a boundary"
            }
            Malformation::Utf16 => {
                "Content-Type application/json; charset=utf-16 and a UTF-16 body"
            }
            Malformation::NoContentType => "no Content-Type",
            Malformation::UndeclaredMethod => "a method the path does not declare (PATCH)",
            Malformation::UnknownQuery => "a query parameter no page declares",
        }
    }

    /// The status the class is answered with where one is due: 405 for a method, any 4xx otherwise.
    pub fn expected_status(self) -> Option<u16> {
        (self == Malformation::UndeclaredMethod).then_some(405)
    }

    /// The request for an operation whose body's top-level key is `key`.
    pub fn request(self, key: &str) -> Malformed {
        let key = serde_json::to_string(key).unwrap_or_else(|_| "\"\"".into());
        let json = |body: String| (Some("application/json".to_string()), body.into_bytes());
        let (content_type, body): (Option<String>, Vec<u8>) = match self {
            Malformation::NotUtf8 => {
                let mut b = format!("{{{key}: \"").into_bytes();
                b.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
                b.extend_from_slice(b"\"}");
                (Some("application/json".into()), b)
            }
            Malformation::TruncatedJson => json(format!("{{{key}: {WRONG}")),
            Malformation::TrailingGarbage => json(format!("{{{key}: {WRONG}}} }}x")),
            Malformation::EmptyBody => (Some("application/json".into()), Vec::new()),
            Malformation::DuplicateKeys => json(format!("{{{key}: null, {key}: {WRONG}}}")),
            Malformation::Oversize => {
                let pad = "x".repeat(OVERSIZE);
                json(format!("{{{key}: \"{pad}\"}}"))
            }
            Malformation::TextPlain => (
                Some("text/plain".into()),
                format!("{{{key}: {WRONG}}}").into_bytes(),
            ),
            Malformation::MultipartNoBoundary => (
                Some("multipart/form-data".into()),
                format!("{{{key}: {WRONG}}}").into_bytes(),
            ),
            Malformation::Utf16 => {
                let text = format!("{{{key}: {WRONG}}}");
                let mut b = vec![0xff, 0xfe];
                b.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
                (Some("application/json; charset=utf-16".into()), b)
            }
            Malformation::NoContentType => (None, format!("{{{key}: {WRONG}}}").into_bytes()),
            Malformation::UndeclaredMethod | Malformation::UnknownQuery => {
                json(format!("{{{key}: {WRONG}}}"))
            }
        };
        let shell = match self {
            Malformation::Oversize => Some(format!(
                "printf '{{%s: \"%s\"}}' '{key}' \"$(head -c {OVERSIZE} /dev/zero | tr '\\0' x)\""
            )),
            Malformation::NotUtf8 | Malformation::Utf16 => {
                Some(format!("printf '{}'", octal(&body)))
            }
            _ => None,
        };
        Malformed {
            method: (self == Malformation::UndeclaredMethod).then(|| "PATCH".to_string()),
            query: (self == Malformation::UnknownQuery).then_some("nic_conformance_unknown=1"),
            content_type,
            body: Bytes::from(body),
            shell,
        }
    }
}

impl std::fmt::Display for Malformation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Malformation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Malformation::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("unknown protocol class `{s}`"))
    }
}

/// `bytes` as a printf format: printable ASCII as it is, everything else octal.
fn octal(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            b'%' => "%%".to_string(),
            b'\\' => "\\\\".to_string(),
            b'\'' => "\\047".to_string(),
            0x20..=0x7e => (b as char).to_string(),
            _ => format!("\\{b:03o}"),
        })
        .collect()
}

/// A protocol-level request, ready to replace the JSON one.
#[derive(Debug, Clone, PartialEq)]
pub struct Malformed {
    /// Replaces the operation's method.
    pub method: Option<String>,
    /// Added to the URL.
    pub query: Option<&'static str>,
    /// `None`: the request carries no Content-Type.
    pub content_type: Option<String>,
    pub body: Bytes,
    /// A shell command that prints the body, where quoting it is not possible (binary) or sensible (huge).
    pub shell: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_class_is_what_it_says() {
        let body = |m: Malformation| m.request("nics").body;
        assert!(std::str::from_utf8(&body(Malformation::NotUtf8)).is_err());
        for m in [
            Malformation::TruncatedJson,
            Malformation::TrailingGarbage,
            Malformation::EmptyBody,
        ] {
            assert!(
                serde_json::from_slice::<serde_json::Value>(&body(m)).is_err(),
                "{m}"
            );
        }
        // Parsed by any reading, each is refused: the key holds a number, never a list.
        for m in [Malformation::DuplicateKeys, Malformation::TextPlain] {
            let v: serde_json::Value = serde_json::from_slice(&body(m)).unwrap();
            assert_eq!(v["nics"], 1, "{m}");
        }
        assert!(body(Malformation::Oversize).len() > 1 << 20);
        assert_eq!(body(Malformation::Utf16)[..4], [0xff, 0xfe, b'{', 0]);
        assert_eq!(
            Malformation::NoContentType.request("nics").content_type,
            None
        );
        assert_eq!(
            Malformation::UndeclaredMethod
                .request("nics")
                .method
                .as_deref(),
            Some("PATCH")
        );
        for m in Malformation::ALL {
            assert_eq!(m.as_str().parse::<Malformation>(), Ok(m));
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
        }
    }

    #[test]
    fn the_shell_line_prints_the_bytes_sent() {
        let m = Malformation::NotUtf8.request("nics");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(m.shell.as_deref().unwrap())
            .output()
            .unwrap();
        assert_eq!(out.stdout, m.body);
    }
}
