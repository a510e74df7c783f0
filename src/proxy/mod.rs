//! The validating proxy (`nic-conformance proxy`): a reverse proxy between a
//! client and a target that judges every exchange against the contract.
//!
//! Requests are routed by the operation they match (its service's URL), or
//! by prefix (`/v3` to the VPC, the rest to ECS). The client's request is
//! judged against the request schemas and the rules that read only the
//! request ([`judge`]); the answer with the runner's response checks. Jobs
//! are followed passively, through the client's own job queries: a job the
//! client never reads to its end leaves its rules undecided. With AK/SK
//! credentials each request is signed again for the target; a token passes
//! through. Each exchange becomes a [`CaseResult`] on the same event stream
//! the runner feeds, so every report of a run is a report of the proxy too.

pub mod judge;
mod session;

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::{Map, Value};

use crate::case::Case;
use crate::contract::{Contract, Operation, Service};
use crate::http::{Client, Curl, Exchange, PreparedRequest};
use crate::judge::{Finding, Undecided};
use crate::report::Summary;
use crate::runner::event::{CaseResult, Event, Reporter, RunEnd};
use crate::signing;
use crate::target::{Auth, Target};

#[derive(Debug, Clone, Default)]
pub struct ProxyOptions {
    /// Check the client's own AK/SK signature (with the target's credentials) before forwarding.
    pub verify_client: bool,
    /// Print each finding to stderr as it happens.
    pub stream_findings: bool,
    /// Keep a line per exchange for a JUnit report (memory grows with the session).
    pub keep_junit: bool,
    /// Header and body timeouts and the connection cap, as the mock has them.
    pub connections: crate::server::ConnectionLimits,
}

/// How far a client's `X-Sdk-Date` may be from now, either way: a captured
/// request replayed later is not signed again.
pub const SIGNATURE_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// A job an accepted request started, until the client reads it to its end.
struct PendingJob {
    case_id: String,
    operation: String,
    /// The request broke this rule, so the job must end FAIL.
    must_fail: Option<String>,
}

/// What the proxy has learnt so far.
struct Collector {
    summary: Summary,
    /// Every exchange as the JSON report's `case_results`, streamed to disk.
    log: Option<crate::report::json::CaseLog>,
    jobs: HashMap<String, PendingJob>,
    exchanges: u64,
    started: Instant,
}

pub struct Proxy {
    contract: Arc<Contract>,
    target: Target,
    /// The run's HTTP client: one signing path, one streaming body limit.
    client: Client,
    options: ProxyOptions,
    collector: Mutex<Collector>,
}

/// Hop-by-hop headers and those the proxy sets itself. `accept-encoding`
/// too: the proxy must read the answer to judge it, so it asks for it plain.
const NOT_FORWARDED: [&str; 11] = [
    "host",
    "content-length",
    "accept-encoding",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
    "proxy-connection",
];

impl Proxy {
    pub fn new(
        contract: Arc<Contract>,
        target: Target,
        options: ProxyOptions,
    ) -> Result<Proxy, crate::error::Error> {
        // The run's client (its TLS settings, signing, body limit); a 3xx
        // goes back to the client as it came.
        let mut forwarding = target.clone();
        forwarding.limits.follow_redirects = false;
        let client = Client::new(forwarding)?;
        let mut summary = Summary::new(&contract, options.keep_junit);
        summary.event(&Event::RunStarted {
            target: &target.name,
            seed: 0,
            cases: 0,
            serial: 0,
            width: 1,
            shard: None,
        });
        Ok(Proxy {
            contract,
            target,
            client,
            options,
            collector: Mutex::new(Collector {
                summary,
                log: None,
                jobs: HashMap::new(),
                exchanges: 0,
                started: Instant::now(),
            }),
        })
    }

    /// Streams every exchange to `log`, for the JSON report's `case_results`.
    pub fn logging_cases(self, log: crate::report::json::CaseLog) -> Proxy {
        self.collector.lock().log = Some(log);
        self
    }

    /// The operation a request is, with its path parameters (decoded, as
    /// the run's own matcher reads them: a parameter that is not UTF-8 matches nothing).
    fn operation(&self, method: &str, path: &str) -> Option<(&Operation, Map<String, Value>)> {
        (self.contract.operations.iter())
            .filter(|op| op.method.eq_ignore_ascii_case(method))
            .find_map(|op| Some((op, op.match_path(path)?)))
    }

    /// A path the proxy forwards: no `.` or `..` segment (plain or
    /// percent-encoded), so that it stays under the target URL's own path.
    fn check_path(&self, raw_path: &str) -> Result<(), String> {
        let escapes = raw_path.split('/').any(|segment| {
            let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
            decoded == "." || decoded == ".." || decoded.contains('/') || decoded.contains('\\')
        });
        if escapes || !raw_path.starts_with('/') {
            return Err(format!(
                "the path {} has a `.` or `..` segment or an encoded slash: it is not forwarded (it could leave the target URL's path)",
                crate::text::escape_controls(raw_path)
            ));
        }
        Ok(())
    }

    fn service_of(op: Option<&Operation>, path: &str) -> Service {
        match op {
            Some(op) => op.service,
            None if path.starts_with("/v3/") => Service::Vpc,
            None => Service::Ecs,
        }
    }

    /// The request for the target: the client's headers, the target's
    /// credentials (signed by the run's client: only the headers the proxy
    /// controls are signed, the rest pass unsigned).
    fn outgoing(
        &self,
        method: &str,
        url: &str,
        client_headers: &[(String, String)],
        body: &Bytes,
    ) -> PreparedRequest {
        let mut headers: Vec<(String, String)> = (client_headers.iter())
            .filter(|(k, _)| !NOT_FORWARDED.contains(&k.as_str()))
            .cloned()
            .collect();
        let replay_auth = self.client.authorize(
            method,
            url,
            &mut headers,
            body,
            Some(&["content-type", "x-project-id"]),
        );
        PreparedRequest {
            method: method.to_string(),
            url: url.to_string(),
            headers,
            body: (!body.is_empty()).then(|| body.clone()),
            shell_body: None,
            replay_auth,
        }
    }

    /// The client's signature checked against the target's credentials.
    fn verify_client(
        &self,
        method: &str,
        raw_path: &str,
        raw_query: Option<&str>,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<(), signing::VerifyError> {
        // Only an AK/SK target's requests are signed by the proxy; with any
        // other the client's own credentials pass through as they are.
        let (ak, sk) = match &self.target.auth {
            Auth::AkSk { ak, sk } => (ak.expose().to_string(), sk.expose().to_string()),
            _ => return Ok(()),
        };
        let date = headers
            .iter()
            .find(|(k, _)| k == "x-sdk-date")
            .map(|(_, v)| v.as_str())
            .ok_or(signing::VerifyError::Missing)?;
        if !signing::date_is_fresh(date, SIGNATURE_MAX_AGE) {
            return Err(signing::VerifyError::Stale(date.to_string()));
        }
        // The date must be one the signature covers, or it proves nothing.
        let auth = headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default();
        let signs_date = auth.split(',').any(|part| {
            part.trim()
                .strip_prefix("SignedHeaders=")
                .is_some_and(|h| h.split(';').any(|h| h.eq_ignore_ascii_case("x-sdk-date")))
        });
        if !signs_date {
            return Err(signing::VerifyError::MissingSignedHeader(
                "x-sdk-date".into(),
            ));
        }
        signing::verify(
            &signing::ReceivedRequest {
                method,
                raw_path,
                raw_query,
                headers,
                body,
            },
            |given| (given == ak).then(|| sk.clone()),
        )
    }

    /// One exchange: judged, recorded, and the answer handed back.
    async fn handle(self: Arc<Self>, req: Request) -> Response {
        let started = Instant::now();
        let (parts, body) = req.into_parts();
        let method = parts.method.as_str().to_string();
        let raw_path = parts.uri.path().to_string();
        let raw_query = parts.uri.query().map(str::to_string);
        let headers: Vec<(String, String)> = (parts.headers.iter())
            .map(|(k, v)| {
                let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
                (k.as_str().to_ascii_lowercase(), value)
            })
            .collect();
        if let Err(why) = self.check_path(&raw_path) {
            return plain(400, &why);
        }
        let matched = self.operation(&method, &raw_path);
        let op_id = matched.as_ref().map(|(op, _)| op.id.clone());
        let case_id = {
            let mut c = self.collector.lock();
            c.exchanges += 1;
            format!(
                "{}#{}",
                op_id.as_deref().unwrap_or("unmatched"),
                c.exchanges
            )
        };
        let body = match self
            .read_body(&parts.headers, body, &case_id, op_id.as_deref())
            .await
        {
            Ok(body) => body,
            Err(refusal) => return refusal,
        };
        if self.options.verify_client
            && let Err(e) =
                self.verify_client(&method, &raw_path, raw_query.as_deref(), &headers, &body)
        {
            let message = format!("the client's AK/SK signature does not verify: {e}");
            self.record_error(&case_id, op_id.as_deref(), &message);
            return plain(401, &message);
        }
        let service = Self::service_of(matched.as_ref().map(|(op, _)| *op), &raw_path);
        let query = raw_query
            .as_deref()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        let url = format!("{}{raw_path}{query}", self.target.base_url(service));
        let outgoing = self.outgoing(&method, &url, &headers, &body);
        let sent = self.send(&outgoing).await;
        let (status, answer_headers, answer_body) = match sent {
            Ok(a) => (a.status, a.headers, a.body),
            Err(e) => {
                let message = format!("the target did not answer: {e}");
                if let Some((op, params)) = matched {
                    self.record_no_answer(op, case_id, params, &body, &outgoing, &message);
                }
                return plain(502, &message);
            }
        };
        if let Some((op, params)) = matched {
            let header = |name: &str| {
                (answer_headers.iter())
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.clone())
            };
            let exchange = Exchange {
                status,
                content_type: header("content-type"),
                location: header("location"),
                allow: header("allow"),
                body: self.client.secrets().mask(answer_body.clone(), &outgoing),
                retries: 0,
                elapsed: started.elapsed(),
            };
            self.judge(op, case_id, params, &body, outgoing, &exchange);
        }
        forwarded(status, answer_headers, answer_body)
    }

    /// The client's body, up to the target's limit and within the body
    /// timeout; else the refusal to answer (recorded as an error of the session).
    async fn read_body(
        &self,
        headers: &axum::http::HeaderMap,
        body: Body,
        case_id: &str,
        op_id: Option<&str>,
    ) -> Result<Bytes, Response> {
        let limit = self.target.limits.max_body_bytes;
        let too_large = |declared: u64| {
            format!(
                "the request body ({declared} bytes declared) is over the target's max_body_mb ({limit} bytes); not forwarded"
            )
        };
        // A declared length over the limit is refused before it is buffered.
        let body_timeout = self.options.connections.body_timeout;
        if let Some(declared) =
            crate::server::declared_length(headers).filter(|n| *n > limit as u64)
        {
            let message = too_large(declared);
            self.record_error(case_id, op_id, &message);
            // A body of a few times the limit is read and dropped, so the
            // client reads the 413 rather than a broken pipe; a larger one
            // is not read at all.
            if declared <= DRAIN_CAP {
                let _ = tokio::time::timeout(body_timeout, drain(body)).await;
            }
            let mut answer = plain(413, &message);
            answer.headers_mut().insert(
                axum::http::header::CONNECTION,
                HeaderValue::from_static("close"),
            );
            return Err(answer);
        }
        let read = tokio::time::timeout(body_timeout, axum::body::to_bytes(body, limit)).await;
        match read {
            Ok(Ok(b)) => Ok(b),
            Err(_) => {
                let message = format!(
                    "the request body did not arrive within {}s",
                    body_timeout.as_secs_f64()
                );
                self.record_error(case_id, op_id, &message);
                Err(plain(408, &message))
            }
            Ok(Err(_)) => {
                let message = format!(
                    "the request body is over the target's max_body_mb ({} bytes); not forwarded",
                    limit
                );
                self.record_error(case_id, op_id, &message);
                Err(plain(413, &message))
            }
        }
    }

    /// One attempt through the run's client; an error never shows the URL,
    /// which may carry a query the client sent.
    async fn send(&self, req: &PreparedRequest) -> Result<crate::http::Fetched, String> {
        let url = reqwest::Url::parse(&req.url).ok();
        self.client.fetch(req).await.map_err(|e| {
            let mut shown = e.to_string().replace(&req.url, "(the target)");
            if let Some(url) = &url {
                shown = shown.replace(url.as_str(), "(the target)");
            }
            shown
        })
    }
}

/// The target's answer as the proxy gives it to the client.
fn forwarded(status: u16, headers: Vec<(String, String)>, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    for (k, v) in headers {
        if NOT_FORWARDED.contains(&k.to_ascii_lowercase().as_str()) {
            continue;
        }
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(k), HeaderValue::from_str(&v)) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// The most a refused body is read (and dropped) before the 413.
const DRAIN_CAP: u64 = 64 << 20;

/// Reads a body to its end, keeping nothing.
async fn drain(body: Body) {
    use futures::StreamExt;
    let mut chunks = body.into_data_stream();
    while let Some(Ok(_)) = chunks.next().await {}
}

fn plain(status: u16, message: &str) -> Response {
    let mut r = Response::new(Body::from(
        serde_json::json!({"error": {"code": format!("NIC.PROXY.{status}"), "message": message}})
            .to_string(),
    ));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// A proxy serving on a listener, until [`RunningProxy::stop`].
pub struct RunningProxy {
    pub base_url: String,
    proxy: Arc<Proxy>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningProxy {
    /// Stops serving and returns what the session found.
    pub async fn stop(self) -> Summary {
        self.stop_with_log().await.0
    }

    /// [`RunningProxy::stop`], and the case log given by [`Proxy::logging_cases`].
    pub async fn stop_with_log(mut self) -> (Summary, Option<crate::report::json::CaseLog>) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        let summary = self.proxy.finish();
        (summary, self.proxy.collector.lock().log.take())
    }
}

/// Serves `proxy` on `listener`.
pub async fn serve(
    proxy: Proxy,
    listener: tokio::net::TcpListener,
) -> std::io::Result<RunningProxy> {
    let addr = listener.local_addr()?;
    let proxy = Arc::new(proxy);
    let app = axum::Router::new().fallback({
        let proxy = proxy.clone();
        move |req: Request| proxy.clone().handle(req)
    });
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let limits = proxy.options.connections;
    let task = tokio::spawn(crate::server::accept_loop(listener, app, limits, rx));
    Ok(RunningProxy {
        base_url: format!("http://{addr}"),
        proxy,
        shutdown: Some(tx),
        task: Some(task),
    })
}
