//! A request before it is sent: its parts, the curl line that replays it,
//! and the masking that keeps a target's secrets out of every output.

use bytes::Bytes;

use crate::target::{Auth, Target};

/// A request ready to send (or to print with `--dry-run`).
#[derive(Debug, Clone)]
pub struct PreparedRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// Shared with the HTTP client rather than copied for it.
    pub body: Option<Bytes>,
    /// A shell command that prints the body, for a body the curl line cannot quote.
    pub shell_body: Option<String>,
    /// How the credentials can be given again when the request is replayed.
    pub replay_auth: ReplayAuth,
}

/// How a replayed request authenticates: curl can read a token from the
/// environment, but cannot compute an AK/SK signature.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ReplayAuth {
    #[default]
    None,
    /// A token, from this environment variable.
    TokenEnv(String),
    /// Signed with AK/SK.
    Signed,
}

/// A request with its curl reproduction, written out only when a finding
/// quotes it: most cases have none, and writing it quotes every header and
/// the whole body.
pub struct Curl {
    request: PreparedRequest,
    text: std::sync::OnceLock<String>,
}

impl Curl {
    pub fn new(request: PreparedRequest) -> Curl {
        Curl {
            request,
            text: std::sync::OnceLock::new(),
        }
    }

    pub fn request(&self) -> &PreparedRequest {
        &self.request
    }

    pub fn as_str(&self) -> &str {
        self.text.get_or_init(|| self.request.curl())
    }
}

const SECRET_HEADERS: [&str; 2] = ["authorization", "x-auth-token"];

impl PreparedRequest {
    /// Headers with secrets replaced by `***`.
    pub fn masked_headers(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .map(|(k, v)| {
                if SECRET_HEADERS.contains(&k.to_ascii_lowercase().as_str()) {
                    (k.clone(), "***".to_string())
                } else {
                    (k.clone(), v.clone())
                }
            })
            .collect()
    }

    /// A one-line curl reproduction with secrets masked: a token is read
    /// from its environment variable; a signed request says it cannot be replayed as is.
    pub fn curl(&self) -> String {
        let q = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
        let mut out = format!("curl -sS -X {} {}", self.method, q(&self.url));
        for (k, v) in self.masked_headers() {
            if k.eq_ignore_ascii_case("host") {
                continue;
            }
            match &self.replay_auth {
                ReplayAuth::TokenEnv(name) if k.eq_ignore_ascii_case("x-auth-token") => {
                    // Double quotes: the shell reads the token from the environment.
                    out.push_str(&format!(" -H \"{k}: ${name}\""));
                }
                _ => out.push_str(&format!(" -H {}", q(&format!("{k}: {v}")))),
            }
        }
        let signed = self.replay_auth == ReplayAuth::Signed;
        match (&self.body, &self.shell_body) {
            (_, Some(shell)) => {
                out = format!("{shell} | {out} --data-binary @-");
            }
            (Some(body), None) => out.push_str(&format!(
                " --data-raw {}",
                q(&String::from_utf8_lossy(body))
            )),
            (None, None) => {}
        }
        if signed {
            out.push_str("  # AK/SK-signed: curl cannot sign it again; replay with the run line");
        }
        out
    }
}

/// The secret values of a target, for masking by value: a target that
/// echoes a request's headers in its body must not put them in a report.
#[derive(Debug, Default)]
pub struct Secrets(Vec<String>);

impl Secrets {
    pub fn of(target: &Target) -> Secrets {
        let values = match &target.auth {
            Auth::None => Vec::new(),
            Auth::Token(t) => vec![t.expose().to_string()],
            Auth::AkSk { ak, sk } => vec![ak.expose().to_string(), sk.expose().to_string()],
        };
        Secrets(values.into_iter().filter(|v| v.len() >= 4).collect())
    }

    /// `bytes` with every secret, and every credential `request` carried
    /// (its token, its signature), replaced by `***`.
    pub fn mask(&self, bytes: Bytes, request: &PreparedRequest) -> Bytes {
        let mut needles: Vec<&str> = self.0.iter().map(String::as_str).collect();
        for (k, v) in &request.headers {
            if SECRET_HEADERS.contains(&k.to_ascii_lowercase().as_str()) {
                needles.push(v);
                if let Some((_, sig)) = v.split_once("Signature=") {
                    needles.push(sig.trim());
                }
            }
        }
        needles.retain(|n| n.len() >= 4);
        let text = String::from_utf8_lossy(&bytes);
        if !needles.iter().any(|n| text.contains(n)) {
            return bytes;
        }
        let mut masked = text.into_owned();
        // Longest first: a header value holds the signature.
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        for n in needles {
            masked = masked.replace(n, "***");
        }
        Bytes::from(masked)
    }
}

/// What the signer reads of a URL: `host[:port]`, the path with each segment
/// decoded (the signer encodes them itself), and the query's pairs, decoded.
pub fn signed_parts(url: &str) -> (String, String, Vec<(String, String)>) {
    let Ok(u) = reqwest::Url::parse(url) else {
        return Default::default();
    };
    let host = match (u.host_str(), u.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => String::new(),
    };
    let path = u
        .path()
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect::<Vec<_>>()
        .join("/");
    let query = u
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    (host, path, query)
}
