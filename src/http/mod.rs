//! HTTP to a target: prepared requests (URL per service, token or AK/SK
//! signing), a requests-per-second limit, retries on 429 and connection
//! errors, bounded response bodies, and the exchange that comes back. Every
//! request can print its own curl reproduction, with secrets masked.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::contract::Operation;
use crate::error::Error;
use crate::signing;
use crate::target::{Auth, Target};

mod request;
use crate::malformed::Malformed;
pub use request::{Curl, PreparedRequest, ReplayAuth, Secrets, signed_parts};

/// What a request carries: the JSON the schemas describe, or bytes below them.
#[derive(Debug, Clone, Copy)]
pub enum Wire<'a> {
    Json(Option<&'a Value>),
    Malformed(&'a Malformed),
}

impl<'a> Wire<'a> {
    /// A case's request: its JSON body, or what a protocol-level case sends instead.
    pub fn of(body: Option<&'a Value>, malformed: Option<&'a Malformed>) -> Wire<'a> {
        match malformed {
            Some(m) => Wire::Malformed(m),
            None => Wire::Json(body),
        }
    }
}

/// One answer as read off the wire (secrets already masked).
struct Answer {
    status: u16,
    retry_after: Option<Duration>,
    content_type: Option<String>,
    location: Option<String>,
    allow: Option<String>,
    body: Bytes,
}

/// An answer as it came, before masking: what the proxy forwards.
pub struct Fetched {
    pub status: u16,
    /// Names in lower case, values as text.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// The headers a run reads from an answer.
const ANSWER_HEADERS: [&str; 4] = ["content-type", "location", "retry-after", "allow"];

/// Headers an AK/SK signature adds: a request signed again drops the old ones.
const SIGNATURE_HEADERS: [&str; 3] = ["authorization", "x-sdk-date", "x-sdk-content-sha256"];

/// The `User-Agent` of every request the harness sends.
pub const USER_AGENT: &str = concat!("nic-conformance/", env!("CARGO_PKG_VERSION"));

/// What came back.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub status: u16,
    pub content_type: Option<String>,
    /// Where a 3xx points (redirects are not followed by default).
    pub location: Option<String>,
    /// The methods a 405 says the path allows.
    pub allow: Option<String>,
    pub body: Bytes,
    pub retries: u32,
    pub elapsed: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportErrorKind {
    Connect,
    Timeout,
    Redirect,
    BodyTooLarge,
    /// Not sent: the run was stopped while the request waited for its turn.
    Cancelled,
    Other,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    pub kind: TransportErrorKind,
    pub message: String,
    pub retries: u32,
}

struct RateLimiter {
    interval: Duration,
    next: Mutex<Instant>,
}

impl RateLimiter {
    /// Waits for the request's turn; `false` when `stop` fired first.
    async fn acquire(&self, stop: Option<&Stop>) -> bool {
        let at = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let at = (*next).max(now);
            *next = at + self.interval;
            at
        };
        match stop {
            Some(stop) => tokio::select! {
                _ = tokio::time::sleep_until(at.into()) => true,
                _ = stop.stopped() => false,
            },
            None => {
                tokio::time::sleep_until(at.into()).await;
                true
            }
        }
    }
}

/// Set when the run stops starting cases: a case's request still waiting
/// for its turn under `rate_per_second` is not sent (housekeeping still is).
#[derive(Default)]
struct Stop {
    set: std::sync::atomic::AtomicBool,
    notify: tokio::sync::Notify,
}

impl Stop {
    async fn stopped(&self) {
        loop {
            let notified = self.notify.notified();
            if self.set.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }
}

pub struct Client {
    http: reqwest::Client,
    target: Target,
    /// Every secret the client holds, masked in whatever comes back.
    secrets: Secrets,
    limiter: Option<RateLimiter>,
    stop: Stop,
    requests: std::sync::atomic::AtomicU64,
    retries: std::sync::atomic::AtomicU64,
    /// Requests in a row that got no answer (transport failures, timeouts).
    failing: std::sync::atomic::AtomicUsize,
    /// The last of them, in words.
    last_failure: parking_lot::Mutex<Option<String>>,
}

/// Redirects: none by default (a 3xx is the answer); when followed, never
/// to another scheme, host or port, where credentials and bodies must not go.
fn redirect_policy(follow: bool) -> reqwest::redirect::Policy {
    if !follow {
        return reqwest::redirect::Policy::none();
    }
    reqwest::redirect::Policy::custom(|attempt| {
        let origin = |u: &reqwest::Url| {
            (
                u.scheme().to_string(),
                u.host_str().map(str::to_string),
                u.port_or_known_default(),
            )
        };
        let same = attempt
            .previous()
            .first()
            .is_some_and(|first| origin(first) == origin(attempt.url()));
        if attempt.previous().len() > 5 || !same {
            attempt.stop()
        } else {
            attempt.follow()
        }
    })
}

impl Client {
    pub fn new(target: Target) -> Result<Client, Error> {
        let secrets = Secrets::of(&target);
        let mut builder = reqwest::Client::builder()
            .timeout(target.limits.timeout)
            .connect_timeout(target.limits.connect_timeout)
            .redirect(redirect_policy(target.limits.follow_redirects))
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true);
        if let Some(ca) = &target.ca_file {
            let pem =
                std::fs::read(ca).map_err(|e| Error::file(ca, format!("cannot read: {e}")))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| Error::file(ca, format!("not a PEM certificate: {e}")))?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if target.insecure {
            builder = builder.danger_accept_invalid_certs(true);
        }
        let http = builder
            .build()
            .map_err(|e| Error::Harness(format!("cannot build the HTTP client: {e}")))?;
        let limiter = (target.limits.rate_per_second > 0.0).then(|| RateLimiter {
            interval: Duration::from_secs_f64(1.0 / target.limits.rate_per_second),
            next: Mutex::new(Instant::now()),
        });
        Ok(Client {
            http,
            target,
            secrets,
            limiter,
            stop: Stop::default(),
            requests: 0.into(),
            retries: 0.into(),
            failing: 0.into(),
            last_failure: parking_lot::Mutex::new(None),
        })
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Requests in a row that got no answer, and the last failure, when that
    /// reaches `max_consecutive_failures`: the target is failing, not the cases.
    pub fn failing(&self) -> Option<String> {
        let n = self.failing.load(std::sync::atomic::Ordering::Relaxed);
        (n >= self.target.limits.max_consecutive_failures).then(|| {
            format!(
                "{n} requests in a row got no answer (last: {})",
                self.last_failure.lock().clone().unwrap_or_default()
            )
        })
    }

    /// Requests sent and retries made so far.
    pub fn counters(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.requests.load(Relaxed), self.retries.load(Relaxed))
    }

    /// Builds, authenticates and signs a request.
    pub fn prepare(
        &self,
        op: &Operation,
        params: &Map<String, Value>,
        body: Option<&Value>,
    ) -> PreparedRequest {
        self.prepare_wire(op, params, Wire::Json(body))
    }

    /// [`Client::prepare`] for a request that may be malformed.
    pub fn prepare_wire(
        &self,
        op: &Operation,
        params: &Map<String, Value>,
        wire: Wire<'_>,
    ) -> PreparedRequest {
        let path = op.render_path(params);
        let base = self.target.base_url(op.service);
        let mut url = format!("{base}{path}");
        let json_type = Some("application/json;charset=UTF-8".to_string());
        let (method, content_type, body, shell_body) = match wire {
            Wire::Json(body) => {
                let body = body.map(|b| Bytes::from(serde_json::to_vec(b).unwrap_or_default()));
                let ct = body.as_ref().and(json_type);
                (op.method.clone(), ct, body, None)
            }
            Wire::Malformed(m) => {
                if let Some(q) = m.query {
                    url.push(if url.contains('?') { '&' } else { '?' });
                    url.push_str(q);
                }
                let method = m.method.clone().unwrap_or_else(|| op.method.clone());
                let body = Some(m.body.clone());
                (method, m.content_type.clone(), body, m.shell.clone())
            }
        };
        // X-Project-Id is the Huawei cloud's: an OpenStack nova call carries
        // it only where the Huawei signature needs it.
        let huawei = op.error_family != crate::contract::ErrorFamily::Nova
            || matches!(self.target.auth, Auth::AkSk { .. });
        let mut headers = Vec::with_capacity(6);
        if huawei {
            headers.push(("X-Project-Id".to_string(), self.target.project_id.clone()));
        }
        if let Some(ct) = content_type {
            headers.push(("Content-Type".into(), ct));
        }
        let body_bytes = body.as_deref().unwrap_or_default();
        let replay_auth = self.authorize(&method, &url, &mut headers, body_bytes, None);
        // As every OpenStack and Huawei SDK client asks: JSON answers (nova
        // answers an unmatched path with HTML otherwise), and who is asking.
        headers.push(("Accept".into(), "application/json".into()));
        headers.push(("User-Agent".into(), USER_AGENT.into()));
        PreparedRequest {
            method,
            url,
            headers,
            body,
            shell_body,
            replay_auth,
        }
    }

    /// Adds the target's credentials to a request: its token where the
    /// request carries none, or an AK/SK signature over the headers
    /// `sign_only` names (all of them when `None`), any earlier signature
    /// dropped. One signing path for the run's requests and the proxy's.
    pub fn authorize(
        &self,
        method: &str,
        url: &str,
        headers: &mut Vec<(String, String)>,
        body: &[u8],
        sign_only: Option<&[&str]>,
    ) -> ReplayAuth {
        match &self.target.auth {
            Auth::None => ReplayAuth::None,
            Auth::Token(token) => {
                if !(headers.iter()).any(|(k, _)| k.eq_ignore_ascii_case("x-auth-token")) {
                    headers.push(("X-Auth-Token".into(), token.expose().to_string()));
                }
                ReplayAuth::TokenEnv(token.env().unwrap_or("NIC_TOKEN").to_string())
            }
            Auth::AkSk { ak, sk } => {
                let is = |k: &str, names: &[&str]| names.iter().any(|n| k.eq_ignore_ascii_case(n));
                headers.retain(|(k, _)| !is(k, &SIGNATURE_HEADERS));
                let signs = |k: &str| sign_only.is_none_or(|only| is(k, only));
                let (mut signed, unsigned): (Vec<_>, Vec<_>) = std::mem::take(headers)
                    .into_iter()
                    .partition(|(k, _)| signs(k));
                signed.push((signing::DATE_HEADER.into(), signing::sdk_date_now()));
                let (host, path, query) = signed_parts(url);
                let req = signing::SignableRequest {
                    method,
                    host: &host,
                    path: &path,
                    query: &query,
                    headers: &signed,
                    body,
                };
                let sig = signing::sign(&req, ak.expose(), sk.expose());
                *headers = unsigned;
                headers.extend(signed);
                // reqwest sends the URL's host itself.
                let added = sig.added_headers.into_iter();
                headers.extend(added.filter(|(k, _)| !k.eq_ignore_ascii_case("host")));
                headers.push(("Authorization".into(), sig.authorization));
                ReplayAuth::Signed
            }
        }
    }

    /// The target's secrets, for masking what a report shows.
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// Sends with retries on 429 (honouring Retry-After) and on connection errors.
    pub async fn send(
        &self,
        op: &Operation,
        params: &Map<String, Value>,
        body: Option<&Value>,
    ) -> Result<Exchange, TransportError> {
        self.send_prepared(op, params, body, None).await
    }

    /// [`Client::send`], with the first attempt already prepared (the caller
    /// keeps it for its reproduction); a retry prepares afresh, for a fresh signature.
    pub async fn send_prepared(
        &self,
        op: &Operation,
        params: &Map<String, Value>,
        body: Option<&Value>,
        first: Option<&PreparedRequest>,
    ) -> Result<Exchange, TransportError> {
        self.send_with(op, params, Wire::Json(body), first, false)
            .await
    }

    /// A case's request: like [`Client::send_prepared`], but not sent at
    /// all once [`Client::stop_cases`] was called while it waited for its turn.
    pub async fn send_case(
        &self,
        op: &Operation,
        params: &Map<String, Value>,
        wire: Wire<'_>,
        first: Option<&PreparedRequest>,
    ) -> Result<Exchange, TransportError> {
        self.send_with(op, params, wire, first, true).await
    }

    /// Stops every case request still waiting for its turn (Ctrl-C, SIGTERM).
    pub fn stop_cases(&self) {
        self.stop
            .set
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.stop.notify.notify_waiters();
    }

    async fn send_with(
        &self,
        op: &Operation,
        params: &Map<String, Value>,
        wire: Wire<'_>,
        mut first: Option<&PreparedRequest>,
        stoppable: bool,
    ) -> Result<Exchange, TransportError> {
        use std::sync::atomic::Ordering::Relaxed;
        let started = Instant::now();
        let mut retries = 0u32;
        loop {
            let stop = stoppable.then_some(&self.stop);
            let turn = match &self.limiter {
                Some(l) => l.acquire(stop).await,
                None => true,
            };
            if !turn || stop.is_some_and(|s| s.set.load(std::sync::atomic::Ordering::SeqCst)) {
                return Err(TransportError {
                    kind: TransportErrorKind::Cancelled,
                    message: "not sent: the run was stopped".into(),
                    retries,
                });
            }
            self.requests.fetch_add(1, Relaxed);
            let outcome = match first.take() {
                Some(prepared) => self.send_once(prepared).await,
                None => self.send_once(&self.prepare_wire(op, params, wire)).await,
            };
            let backoff = Duration::from_millis(100u64 << retries.min(6));
            match outcome {
                Ok(answer) if answer.status == 429 && retries < self.target.limits.max_retries => {
                    let wait = answer.retry_after.unwrap_or(backoff);
                    tracing::info!(op = %op.id, retry = retries + 1, "429: retrying in {wait:?}");
                    retries += 1;
                    self.retries.fetch_add(1, Relaxed);
                    tokio::time::sleep(wait.min(Duration::from_secs(60))).await;
                }
                Ok(answer) => {
                    // The path only: it holds ids, never a secret.
                    tracing::info!(
                        op = %op.id,
                        status = answer.status,
                        ms = started.elapsed().as_millis() as u64,
                        "{} {}",
                        op.method,
                        op.render_path(params)
                    );
                    self.failing.store(0, Relaxed);
                    return Ok(Exchange {
                        status: answer.status,
                        content_type: answer.content_type,
                        body: answer.body,
                        location: answer.location,
                        allow: answer.allow,
                        retries,
                        elapsed: started.elapsed(),
                    });
                }
                Err(e)
                    if e.kind == TransportErrorKind::Connect
                        && retries < self.target.limits.max_retries =>
                {
                    tracing::info!(op = %op.id, retry = retries + 1, "cannot connect ({e}): retrying");
                    retries += 1;
                    self.retries.fetch_add(1, Relaxed);
                    tokio::time::sleep(backoff).await;
                }
                Err(mut e) => {
                    tracing::warn!(op = %op.id, "{} {}: {e}", op.method, op.render_path(params));
                    e.retries = retries;
                    if e.kind != TransportErrorKind::BodyTooLarge {
                        self.failing.fetch_add(1, Relaxed);
                        *self.last_failure.lock() = Some(format!("{} {}: {e}", op.method, op.path));
                    }
                    return Err(e);
                }
            }
        }
    }

    async fn send_once(&self, req: &PreparedRequest) -> Result<Answer, TransportError> {
        let fetched = self.fetch_keeping(req, &ANSWER_HEADERS).await?;
        let header = |name: &str| {
            (fetched.headers.iter())
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let content_type = header("content-type");
        let location = header("location")
            .map(|l| String::from_utf8_lossy(&self.secrets.mask(Bytes::from(l), req)).into_owned());
        let retry_after = header("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        Ok(Answer {
            status: fetched.status,
            retry_after,
            content_type,
            location,
            allow: header("allow"),
            body: self.secrets.mask(fetched.body, req),
        })
    }

    /// One attempt, with no retry and no rate limit: the answer as it came
    /// (not masked), its body read chunk by chunk up to the target's limit.
    pub async fn fetch(&self, req: &PreparedRequest) -> Result<Fetched, TransportError> {
        self.fetch_keeping(req, &[]).await
    }

    /// [`Client::fetch`], keeping only the headers `keep` names (all when empty).
    async fn fetch_keeping(
        &self,
        req: &PreparedRequest,
        keep: &[&str],
    ) -> Result<Fetched, TransportError> {
        let method =
            reqwest::Method::from_bytes(req.method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut builder = self.http.request(method, &req.url);
        for (k, v) in &req.headers {
            builder = builder.header(k, v);
        }
        if let Some(body) = &req.body {
            builder = builder.body(body.clone());
        }
        let classify = |e: reqwest::Error| {
            let kind = if e.is_timeout() {
                TransportErrorKind::Timeout
            } else if e.is_redirect() {
                TransportErrorKind::Redirect
            } else if e.is_connect() {
                TransportErrorKind::Connect
            } else {
                TransportErrorKind::Other
            };
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                message.push_str(&format!(": {s}"));
                source = s.source();
            }
            TransportError {
                kind,
                message,
                retries: 0,
            }
        };
        let mut response = builder.send().await.map_err(classify)?;
        let status = response.status().as_u16();
        let headers = (response.headers().iter())
            .filter(|(k, _)| keep.is_empty() || keep.contains(&k.as_str()))
            .map(|(k, v)| {
                let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
                (k.as_str().to_string(), v)
            })
            .collect();
        let limit = self.target.limits.max_body_bytes;
        if response
            .content_length()
            .is_some_and(|n| n as usize > limit)
        {
            return Err(TransportError {
                kind: TransportErrorKind::BodyTooLarge,
                message: format!(
                    "response body of {} bytes exceeds the {limit}-byte limit",
                    response.content_length().unwrap_or(0)
                ),
                retries: 0,
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > limit {
                return Err(TransportError {
                    kind: TransportErrorKind::BodyTooLarge,
                    message: format!("response body exceeds the {limit}-byte limit"),
                    retries: 0,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            status,
            headers,
            body: Bytes::from(body),
        })
    }
}
