//! The reference mock: the documented operations, the job query and the nova list of
//! attachments, with state in memory, enforcing the contract through
//! [`Contract::judge`] (the same evaluation the generator and the judge use).
//! What the catalogue says beyond accept-or-refuse (which field wins, which
//! are ignored, which state a port must be in) is read from it too.
//!
//! [`Mock::respond`] is the whole behaviour, synchronous and independent of
//! HTTP ([`operations`] holds each operation's effect, [`deviate`] the
//! response faults); [`serve`] puts axum in front of it.

mod config;
mod deviate;
mod effects;
mod errors;
pub mod faults;
mod jobs;
mod nova;
mod operations;
mod reads;
mod serve;
mod state;
pub use state::BYSTANDER_PORT_ID;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{Map, Value, json};

use crate::contract::{Contract, ErrorFamily, Operation, Verdict};
use crate::signing;
pub use errors::error_body;
pub use faults::{Fault, FaultKind, FaultSet};
use jobs::Change;
pub use serve::{RunningMock, serve, start_local};
use state::{Id, State, random_hex};

/// The largest request body the mock reads; larger ones get 413.
pub const BODY_LIMIT: usize = 1 << 20;

pub use crate::server::ConnectionLimits;
pub use config::{BatchMode, DEFAULT_MAX_NICS_PER_SERVER, MockConfig, SuccessStatus, Validation};

/// An answer before it becomes HTTP.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    /// Headers beyond Content-Type (`Allow`, nova's version headers).
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }
}

pub struct Mock {
    contract: Arc<Contract>,
    config: MockConfig,
    /// What the catalogue says the operations do, beyond accepting or refusing.
    effects: Effects,
    /// One lock over all state. parking_lot's mutex spins, then yields,
    /// before parking: the critical sections are a few microseconds. (std's
    /// futex mutex measured no better under wrk on two cores.)
    state: Mutex<State>,
    /// Requests that could change something (any method but GET and HEAD), answered so far.
    writes: std::sync::atomic::AtomicU64,
    /// One JSON line per request served over HTTP (`mock --log`).
    log: Option<Mutex<Box<dyn std::io::Write + Send>>>,
    /// How many more reads of a server's NICs answer 503 (a cloud having a bad minute).
    unavailable_listings: std::sync::atomic::AtomicU64,
}

use effects::Effects;

/// A request as the mock receives it: the verifier's view (path and query still encoded).
pub use crate::signing::ReceivedRequest as Incoming;

impl Mock {
    pub fn new(contract: Arc<Contract>, config: MockConfig) -> Mock {
        let state = State::new(&config.project_id, &config.fixtures, config.job_duration);
        Mock {
            effects: Effects::of(&contract),
            contract,
            config,
            state: Mutex::new(state),
            writes: Default::default(),
            log: None,
            unavailable_listings: Default::default(),
        }
    }

    /// Writes one JSON line per request served (method, path, status, time) to `out`.
    pub fn with_log(mut self, out: Box<dyn std::io::Write + Send>) -> Mock {
        self.log = Some(Mutex::new(out));
        self
    }

    /// Notes a request served, when a log is kept, with the rule or keyword
    /// ids a refusal names (a failed write is dropped: the log must not stop the mock).
    pub fn log_request(&self, method: &str, path: &str, reply: &Reply, elapsed: Duration) {
        if let Some(log) = &self.log {
            // Refusals end their message with `[id]`; the body holds no credential.
            let mut refused = Vec::new();
            let mut stack: Vec<&Value> = reply.body.iter().collect();
            while let Some(v) = stack.pop() {
                match v {
                    Value::String(s) => {
                        if let Some(id) = s
                            .trim_end()
                            .strip_suffix(']')
                            .and_then(|s| s.rsplit_once('['))
                        {
                            refused.push(id.1.to_string());
                        }
                    }
                    Value::Object(m) => stack.extend(m.values()),
                    Value::Array(a) => stack.extend(a.iter()),
                    _ => {}
                }
            }
            let line = json!({
                "time": jobs::utc_now().to_string(),
                "method": method,
                "path": path,
                "status": reply.status,
                "ms": elapsed.as_secs_f64() * 1000.0,
                "refused": refused,
            });
            let mut out = log.lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }

    /// How many requests that could change something (not GET or HEAD) it has answered.
    pub fn writes(&self) -> u64 {
        self.writes.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn config(&self) -> &MockConfig {
        &self.config
    }

    /// The next `n` reads of a server's NICs (either list) answer 503, as a
    /// cloud does when its network service has a bad minute.
    pub fn make_listings_unavailable(&self, n: u64) {
        self.unavailable_listings
            .store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// A port's `delete_on_termination` as the mock holds it.
    pub fn delete_on_termination(&self, port_id: &str) -> Option<bool> {
        let state = self.state.lock();
        state.ports.get(port_id).map(|p| p.delete_on_termination)
    }

    /// The whole behaviour of the mock for one request.
    pub fn respond(&self, req: &Incoming) -> Reply {
        if req.method != "GET" && req.method != "HEAD" {
            self.writes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let family = errors::family_of_path(req.raw_path);
        if self.config.require_auth
            && let Err(e) = self.authenticate(req)
        {
            return Reply::json(
                401,
                error_body(ErrorFamily::ApiGateway, 401, &e.to_string()),
            );
        }
        let path = req.raw_path;
        if req.method == "GET" && path.ends_with("/os-interface") {
            use std::sync::atomic::Ordering::SeqCst;
            let left = self.unavailable_listings.load(SeqCst);
            if left > 0
                && self
                    .unavailable_listings
                    .compare_exchange(left, left - 1, SeqCst, SeqCst)
                    .is_ok()
            {
                return Reply::json(503, error_body(family, 503, "the network service is busy"));
            }
        }
        // Nova clients read the version document first and speak microversions.
        let network_version = path.trim_end_matches('/') == "/v2.0";
        if req.method == "GET"
            && (network_version || nova::is_version_path(path, &self.config.project_id))
        {
            let host = req
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("host"))
                .map(|(_, v)| v.as_str())
                .unwrap_or("localhost");
            let base = format!("http://{host}");
            let doc = if network_version {
                reads::network_version_document(&base)
            } else if path.trim_end_matches('/').is_empty() {
                nova::versions_document(&base)
            } else {
                nova::version_document(&base)
            };
            return Reply::json(200, doc);
        }
        if path.starts_with("/v2.1/") {
            let version = match nova::negotiate(req.headers) {
                Ok(v) => v,
                Err(refusal) => return refusal,
            };
            let mut reply = self
                .respond_undeclared_read(req.method, path, req.raw_query)
                .unwrap_or_else(|| self.respond_nova(req, version));
            nova::echo_version(&mut reply, version);
            return reply;
        }
        if let Some(reply) = self.respond_undeclared_read(req.method, path, req.raw_query) {
            return reply;
        }
        self.respond_operation(req, family, None)
    }

    /// Under `primary-checked-first-only`: a batch delete that names the
    /// primary NIC after its first entry is let through to its job.
    fn misses_primary(&self, refused_by: &str, view: &Value, state: &State) -> bool {
        self.config.faults.has(&FaultKind::PrimaryCheckedFirstOnly)
            && refused_by == "batch-delete.primary-forbidden"
            && view.pointer("/body/nics/0/id").and_then(Value::as_str)
                != state.primary_of(path_param(view, "server_id"))
    }

    /// A nova-family request: a server's delete, then the contract's
    /// operations (unknown attach keys refused as nova does).
    fn respond_nova(&self, req: &Incoming, version: (u32, u32)) -> Reply {
        let segments: Vec<&str> = req.raw_path.trim_matches('/').split('/').collect();
        if let ["v2.1", project, "servers", server] = segments[..]
            && req.method == "DELETE"
            && project == self.config.project_id
        {
            return self.delete_server(server);
        }
        let mut tag = None;
        if req.method == "POST"
            && segments.last() == Some(&"os-interface")
            && let Ok(body) = serde_json::from_slice::<Value>(req.body)
        {
            if let Err(refusal) = nova::check_attach_keys(&body, &self.effects.attach_keys, version)
            {
                return refusal;
            }
            tag = body
                .pointer("/interfaceAttachment/tag")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        let mut reply = self.respond_operation(req, ErrorFamily::Nova, Some(version));
        // Tags are all there is left to do: most nova requests need no second lock.
        if tag.is_none() && version < (2, 70) {
            return reply;
        }
        let attached = reply
            .body
            .as_ref()
            .and_then(|b| b.pointer("/interfaceAttachment/port_id"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut state = self.state.lock();
        if let (Some(port), Some(tag)) = (&attached, tag)
            && let Some(p) = state.ports.get_mut(port.as_str())
        {
            p.tag = Some(tag);
        }
        // From 2.70 every attachment shows its tag (null when it has none).
        if version >= (2, 70)
            && let Some(body) = reply.body.as_mut()
        {
            let items: Vec<&mut Value> = if body.get("interfaceAttachments").is_some() {
                body["interfaceAttachments"]
                    .as_array_mut()
                    .map(|a| a.iter_mut().collect())
                    .unwrap_or_default()
            } else {
                body.get_mut("interfaceAttachment").into_iter().collect()
            };
            for item in items {
                let port = item.get("port_id").and_then(Value::as_str).unwrap_or("");
                let tag = state.ports.get(port).and_then(|p| p.tag.clone());
                if let Some(obj) = item.as_object_mut() {
                    obj.insert("tag".into(), tag.map_or(Value::Null, Value::String));
                }
            }
        }
        reply
    }

    /// A request for one of the contract's operations, matched by its
    /// template in `operations.json` (the one routing of every operation the
    /// mock serves); `version` is nova's microversion on its paths.
    fn respond_operation(
        &self,
        req: &Incoming,
        family: ErrorFamily,
        version: Option<(u32, u32)>,
    ) -> Reply {
        let path = req.raw_path;
        // Two operations can share a path (list and attach): the method picks one.
        let mut candidates = self
            .contract
            .operations
            .iter()
            .filter(|op| op.path_matches(path))
            .peekable();
        let Some(&first) = candidates.peek() else {
            return Reply::json(
                404,
                error_body(family, 404, &format!("no such resource: {path}")),
            );
        };
        let op = candidates.find(|o| o.method == req.method).unwrap_or(first);
        let Some(params) = op.match_path(path) else {
            return Reply::json(
                400,
                error_body(family, 400, "the path is not valid UTF-8 once decoded"),
            );
        };
        if op.method != req.method && self.config.faults.has(&FaultKind::MethodNotFound) {
            return Reply::json(
                404,
                error_body(family, 404, &format!("no such resource: {path}")),
            );
        }
        if op.method != req.method {
            let allowed: Vec<&str> = self
                .contract
                .operations
                .iter()
                .filter(|o| o.path_matches(path))
                .map(|o| o.method.as_str())
                .collect();
            let mut reply = Reply::json(
                405,
                error_body(
                    op.error_family,
                    405,
                    &format!("method {} not allowed", req.method),
                ),
            );
            reply.headers.push(("Allow", allowed.join(", ")));
            return reply;
        }
        if let Some(reply) = self.respond_read(op, &params, req.raw_query, version) {
            return reply;
        }
        let mut reply = self.dispatch(op, params, req);
        if !self.config.faults.is_empty() {
            self.apply_response_faults(op, &mut reply);
        }
        reply
    }

    fn authenticate(&self, req: &Incoming) -> Result<(), signing::VerifyError> {
        let token = req
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("x-auth-token"));
        if token.is_some_and(|(_, v)| !v.trim().is_empty()) {
            return Ok(());
        }
        signing::verify(req, |ak| {
            self.config
                .credentials
                .iter()
                .find(|(a, _)| a == ak)
                .map(|(_, s)| s.clone())
        })
    }

    fn reject(&self, op: &Operation, status: u16, message: &str) -> Reply {
        let status = if self.config.faults.has(&FaultKind::ServerErrorOnReject) {
            500
        } else {
            status
        };
        Reply::json(status, error_body(op.error_family, status, message))
    }

    /// The request's JSON body (`Null` for an operation that takes none), or the refusal.
    fn read_body(&self, op: &Operation, req: &Incoming) -> Result<Value, Reply> {
        if op.request_schema.is_none() {
            return Ok(Value::Null);
        }
        let content_type = req
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.to_ascii_lowercase());
        if self.config.faults.has(&FaultKind::ServerErrorOnUndecodable) {
            let multipart = content_type
                .as_deref()
                .is_some_and(|ct| ct.starts_with("multipart/") && !ct.contains("boundary="));
            if multipart || std::str::from_utf8(req.body).is_err() {
                return Err(Reply::json(
                    500,
                    error_body(op.error_family, 500, "unhandled"),
                ));
            }
        }
        if !content_type.is_some_and(|ct| ct.trim_start().starts_with("application/json")) {
            return Err(self.reject(op, 415, "Content-Type must be application/json"));
        }
        serde_json::from_slice::<Value>(req.body)
            .map_err(|e| self.reject(op, 400, &format!("request body is not valid JSON: {e}")))
    }

    fn dispatch(&self, op: &Operation, params: Map<String, Value>, req: &Incoming) -> Reply {
        if params.get("project_id").and_then(Value::as_str) != Some(self.config.project_id.as_str())
        {
            return Reply::json(404, error_body(op.error_family, 404, "project not found"));
        }
        let body = match self.read_body(op, req) {
            Ok(body) => body,
            Err(refusal) => return refusal,
        };
        let view = Contract::view(params, body);
        // Schemas need no state: check them before taking the lock.
        let schema_verdict = self.contract.judge_schemas(op, &view);
        let mut job = self.requested_job(op, &view);
        let mut state = self.state.lock();
        self.end_due_jobs(&mut state);

        let mut refused_in_error = false;
        let verdict = schema_verdict.unwrap_or_else(|| match job.as_mut() {
            Some((_, Change::AttachNics { nics, .. })) => {
                let (verdict, accepted) = self.judge_batch(op, &view, &state, nics);
                refused_in_error = accepted;
                verdict
            }
            _ => self.contract.judge_rules(op, &view, &*state),
        });
        if self.config.validate == Validation::Strict
            && matches!(verdict, Verdict::Accept { .. })
            && self.contract.open_reading(op, &view, &*state)
        {
            let why = "a request the pages leave open, refused as a strict server may [request.open-reading]";
            return self.reject(op, 400, why);
        }
        let dry_run_applied = matches!(verdict, Verdict::Accept { dry_run: true });
        // A request a fault accepts although a rule forbids it is answered as
        // accepted and changes nothing.
        let no_effect = refused_in_error
            || match verdict {
                Verdict::Reject { id, .. } if self.config.faults.accepts(&id) => true,
                Verdict::Reject { id, .. } if self.misses_primary(&id, &view, &state) => false,
                Verdict::Reject {
                    id,
                    expect,
                    message,
                } => {
                    return self.reject(op, expect.mock_status(), &format!("{message} [{id}]"));
                }
                Verdict::Accept { dry_run } => {
                    if dry_run && !self.config.faults.has(&FaultKind::DryRunApplies) {
                        return Reply::json(202, json!({"request_id": random_hex()}));
                    }
                    false
                }
            };
        let mut reply = match job {
            Some(job) => {
                let server_id = Id::from(path_param(&view, "server_id"));
                self.start_job(&mut state, job, server_id, no_effect)
            }
            None => self.effect(op, &mut state, &view, no_effect),
        };
        if dry_run_applied && reply.status == 200 {
            reply.status = 202;
        }
        drop(state);
        if !self.config.faults.is_empty() {
            self.apply_echo_drift(op, &view, &mut reply);
        }
        self.other_success_status(op, &mut reply);
        reply
    }

    /// With `--success other`, where a page prints no success status: 202
    /// for an answer that starts a job, 204 for one with no body.
    fn other_success_status(&self, op: &Operation, reply: &mut Reply) {
        if self.config.success != SuccessStatus::Other
            || reply.status != 200
            || op.success_status_printed
        {
            return;
        }
        let starts_job = reply
            .body
            .as_ref()
            .is_some_and(|b| b.get("job_id").is_some());
        if starts_job {
            reply.status = 202;
        } else if reply.body.is_none() {
            reply.status = 204;
        }
    }

    /// The effect of an operation that starts no job, by its id.
    fn effect(&self, op: &Operation, state: &mut State, view: &Value, no_effect: bool) -> Reply {
        match op.id.as_str() {
            "nova-attach-interface" => self.nova_attach(state, view, no_effect),
            "update-interface-attachment" => self.update_attachment(state, view, no_effect),
            "update-sub-network-interface" => self.update_sub_nic(op, state, view, no_effect),
            "show-job" => self.show_job(state, view),
            "show-sub-network-interface" => self.show_sub_nic(state, view),
            "list-server-interfaces" => self.list_server_interfaces(state, view),
            "list-interfaces" => self.list_interfaces(state, view),
            other => Reply::json(
                501,
                error_body(
                    op.error_family,
                    501,
                    &format!("operation {other} not served"),
                ),
            ),
        }
    }

    /// The nova list of attachments of the fixture server (for tests).
    pub fn attached_ports(&self) -> Vec<String> {
        self.attached_to(&self.config.fixtures.server_id)
    }

    /// The nova list of attachments of a server (for tests).
    pub fn attached_to(&self, server_id: &str) -> Vec<String> {
        let mut state = self.state.lock();
        self.end_due_jobs(&mut state);
        state
            .servers
            .get(server_id)
            .map(|s| s.ports.iter().map(|p| p.to_string()).collect())
            .unwrap_or_default()
    }
}

/// A path parameter of a request view ("" when absent).
fn path_param<'a>(view: &'a Value, name: &str) -> &'a str {
    Contract::path_param(view, name).unwrap_or_default()
}
