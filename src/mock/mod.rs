//! The reference mock: all five operations, the job query and the nova list of
//! attachments, with state in memory, enforcing the contract through
//! [`Contract::judge`] (the same evaluation the generator and runner use).
//!
//! [`Mock::respond`] is the whole behaviour, synchronous and independent of
//! HTTP; [`serve`] puts axum in front of it.

mod errors;
pub mod faults;
mod jobs;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

use crate::contract::pointer::{expand, get, remove, set};
use crate::contract::{Check, Contract, ErrorFamily, Operation, Verdict, World, object};
use crate::fixtures::Fixtures;
use crate::signing;
pub use errors::error_body;
pub use faults::{Fault, FaultKind, FaultSet};
use jobs::{Change, JobResult, JobStatus, NicRequest, Progress};
use state::{Id, State, random_hex, random_id, random_id_shared};

/// The largest request body the mock reads; larger ones get 413.
pub const BODY_LIMIT: usize = 1 << 20;

#[derive(Debug, Clone)]
pub struct MockConfig {
    pub project_id: String,
    pub fixtures: Fixtures,
    pub faults: FaultSet,
    /// Refuse requests without a token or a valid AK/SK signature (401).
    pub require_auth: bool,
    /// How long a job stays INIT/RUNNING before it ends.
    pub job_duration: Duration,
    /// Access key → secret key accepted for AK/SK signatures.
    pub credentials: Vec<(String, String)>,
}

impl MockConfig {
    pub fn new(project_id: &str, fixtures: Fixtures) -> MockConfig {
        MockConfig {
            project_id: project_id.to_string(),
            fixtures,
            faults: FaultSet::default(),
            require_auth: false,
            job_duration: Duration::from_millis(20),
            credentials: Vec::new(),
        }
    }
}

/// An answer before it becomes HTTP.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Option<Value>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
        }
    }
}

pub struct Mock {
    contract: Arc<Contract>,
    config: MockConfig,
    state: Mutex<State>,
}

/// A request as the mock receives it: the verifier's view (path and query still encoded).
pub use crate::signing::ReceivedRequest as Incoming;

/// parking_lot's mutex spins, then yields, before parking: the mock's critical
/// sections are a few microseconds, so a waiter rarely sleeps. (std's futex
/// mutex measured no better under wrk on two cores.)
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock()
}

impl Mock {
    pub fn new(contract: Arc<Contract>, config: MockConfig) -> Mock {
        let state = State::new(&config.project_id, &config.fixtures, config.job_duration);
        Mock {
            contract,
            config,
            state: Mutex::new(state),
        }
    }

    pub fn config(&self) -> &MockConfig {
        &self.config
    }

    /// The whole behaviour of the mock for one request.
    pub fn respond(&self, req: &Incoming) -> Reply {
        let family = errors::family_of_path(req.raw_path);
        if self.config.require_auth {
            if let Err(e) = self.authenticate(req) {
                return Reply::json(
                    401,
                    error_body(ErrorFamily::ApiGateway, 401, &e.to_string()),
                );
            }
        }
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
        if op.method != req.method {
            return Reply::json(
                405,
                error_body(
                    op.error_family,
                    405,
                    &format!("method {} not allowed", req.method),
                ),
            );
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

    fn dispatch(&self, op: &Operation, params: Map<String, Value>, req: &Incoming) -> Reply {
        if params.get("project_id").and_then(Value::as_str) != Some(self.config.project_id.as_str())
        {
            return Reply::json(404, error_body(op.error_family, 404, "project not found"));
        }
        let body = if op.request_schema.is_some() {
            let content_type = req
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                .map(|(_, v)| v.to_ascii_lowercase());
            if !content_type.is_some_and(|ct| ct.trim_start().starts_with("application/json")) {
                return self.reject(op, 415, "Content-Type must be application/json");
            }
            match serde_json::from_slice::<Value>(req.body) {
                Ok(v) => v,
                Err(e) => {
                    return self.reject(op, 400, &format!("request body is not valid JSON: {e}"));
                }
            }
        } else {
            Value::Null
        };
        let view = Contract::view(params, body);
        // Schemas need no state: check them before taking the lock.
        let schema_verdict = self.contract.judge_schemas(op, &view);
        let job = self.requested_job(op, &view);
        let mut state = lock(&self.state);
        self.end_due_jobs(&mut state);
        let verdict =
            schema_verdict.unwrap_or_else(|| self.contract.judge_rules(op, &view, &*state));
        let dry_run_applied = matches!(verdict, Verdict::Accept { dry_run: true });
        let fake = match verdict {
            Verdict::Reject { id, .. } if self.config.faults.accepts(&id) => true,
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
        let mut reply = match (job, op.id.as_str()) {
            (Some(job), _) => self.start_job(&mut state, job, fake),
            (None, "nova-attach-interface") => self.nova_attach(&mut state, &view, fake),
            (None, "update-interface-attachment") => {
                self.update_attachment(&mut state, &view, fake)
            }
            (None, "update-sub-network-interface") => self.update_sub_nic(&mut state, &view, fake),
            (None, "show-job") => self.show_job(&state, &view),
            (None, "list-interfaces") => self.list_interfaces(&state, &view),
            (None, other) => Reply::json(
                501,
                error_body(
                    op.error_family,
                    501,
                    &format!("operation {other} not served"),
                ),
            ),
        };
        if dry_run_applied && reply.status == 200 {
            reply.status = 202;
        }
        drop(state);
        if !self.config.faults.is_empty() {
            self.apply_echo_drift(op, &view, &mut reply);
        }
        reply
    }

    /// Records a job that will make `change` (nothing, for a fake accept) and answers its id.
    fn start_job(
        &self,
        state: &mut State,
        (job_type, change): (&'static str, Change),
        fake: bool,
    ) -> Reply {
        let change = if fake { Change::Nothing } else { change };
        let never_ends = self.config.faults.has(&FaultKind::JobNeverEnds);
        let job_id = state.jobs.start(job_type, (!never_ends).then_some(change));
        Reply::json(200, object([("job_id", Value::String(job_id))]))
    }

    /// Ends every job past its deadline: a job has ended for whichever request
    /// looks first, so no request sees it late.
    fn end_due_jobs(&self, state: &mut State) {
        let now = std::time::Instant::now();
        while let Some((seq, change)) = state.jobs.next_due(now) {
            let result = self.apply(state, change);
            state.jobs.end(seq, result);
        }
    }

    /// Applies a job's change, unless a fault makes it fail.
    fn apply(&self, state: &mut State, change: Change) -> JobResult {
        let faults = &self.config.faults;
        if faults.has(&FaultKind::JobFailNoReason) {
            return Err(String::new());
        }
        match change {
            Change::Nothing => Ok(Vec::new()),
            Change::AttachNics { server_id, nics } => {
                if faults.has(&FaultKind::AddJobFails) {
                    return Err("NIC attachment failed (fault add-job-fails)".into());
                }
                let mut ids = Vec::with_capacity(nics.len());
                for nic in &nics {
                    let port_id = nic.port_id.as_deref();
                    let subnet_id = nic.subnet_id.as_deref();
                    let subnet_wins = faults.has(&FaultKind::SubnetWins) && subnet_id.is_some();
                    match port_id {
                        Some(port_id) if !subnet_wins => {
                            if state.port_state(port_id) != Some("DOWN") {
                                return Err(format!("port {port_id} is not DOWN"));
                            }
                            if faults.has(&FaultKind::PortTakesIp) {
                                if let (Some(ip), Some(port)) =
                                    (&nic.ip_address, state.ports.get_mut(port_id))
                                {
                                    port.ip_address = ip.to_string();
                                }
                            }
                            state.attach(&server_id, port_id);
                            ids.push(Id::from(port_id));
                        }
                        _ => {
                            let subnet = subnet_id.unwrap_or(&self.config.fixtures.subnet_id);
                            let port = state.new_port(
                                nic.new_port_id.clone().unwrap_or_else(random_id_shared),
                                subnet,
                                nic.ip_address.as_deref(),
                            );
                            let id = state.insert_port(port);
                            state.attach(&server_id, &id);
                            ids.push(id);
                        }
                    }
                }
                Ok(ids)
            }
            Change::DetachNics { server_id, nic_ids } => {
                let stays_listed = faults.has(&FaultKind::DeletedNicStaysListed);
                for id in &nic_ids {
                    state.detach(&server_id, id);
                    if stays_listed {
                        state.ghosts.insert((server_id.to_string(), id.to_string()));
                    }
                }
                Ok(nic_ids)
            }
        }
    }

    /// The job an accepted asynchronous request starts: its type and the
    /// change it will make (`None` for the synchronous operations). It needs
    /// no state: worked out before the lock, which then only records it.
    fn requested_job(&self, op: &Operation, view: &Value) -> Option<(&'static str, Change)> {
        let server_id = || path_param(view, "server_id").into();
        match op.id.as_str() {
            "batch-add-nics" => Some((
                "attachNics",
                Change::AttachNics {
                    server_id: server_id(),
                    // Only what the job reads, rather than a copy of the request's objects.
                    nics: view["body"]["nics"]
                        .as_array()
                        .map(|nics| nics.iter().map(NicRequest::of).collect())
                        .unwrap_or_default(),
                },
            )),
            "batch-delete-nics" => Some((
                "detachNics",
                Change::DetachNics {
                    server_id: server_id(),
                    // What a delete detaches is the catalogue's effect rule, as for the runner.
                    nic_ids: self
                        .contract
                        .named_ports(&op.id, view)
                        .into_iter()
                        .map(Id::from)
                        .collect(),
                },
            )),
            _ => None,
        }
    }

    fn nova_attach(&self, state: &mut State, view: &Value, fake: bool) -> Reply {
        let server_id = path_param(view, "server_id");
        let port_id = get(view, "/body/interfaceAttachment/port_id").and_then(Value::as_str);
        let net_id = get(view, "/body/interfaceAttachment/net_id").and_then(Value::as_str);
        let ip =
            get(view, "/body/interfaceAttachment/fixed_ips/0/ip_address").and_then(Value::as_str);
        if fake {
            return Reply::json(
                200,
                json!({"interfaceAttachment": {
                    "port_state": "ACTIVE",
                    "fixed_ips": [{"subnet_id": self.config.fixtures.subnet_id, "ip_address": ip.unwrap_or("192.168.0.250")}],
                    "port_id": port_id.map(str::to_string).unwrap_or_else(random_id),
                    "net_id": net_id.unwrap_or(&self.config.fixtures.network_id),
                    "mac_addr": "fa:16:3e:00:00:fe",
                }}),
            );
        }
        let id = match port_id {
            Some(p) => Id::from(p),
            None => {
                let network = net_id.unwrap_or(&self.config.fixtures.network_id);
                let subnet = state
                    .networks
                    .get(network)
                    .cloned()
                    .unwrap_or_else(|| Id::from(""));
                let port = state.new_port(random_id_shared(), &subnet, ip);
                state.insert_port(port)
            }
        };
        state.attach(server_id, &id);
        let attachment = state.attachment(&id).unwrap_or_default();
        Reply::json(200, object([("interfaceAttachment", attachment)]))
    }

    fn update_attachment(&self, state: &mut State, view: &Value, fake: bool) -> Reply {
        let port_id = path_param(view, "port_id");
        let value = get(view, "/body/interface_attachment/delete_on_termination")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if !fake {
            if let Some(port) = state.ports.get_mut(port_id) {
                port.delete_on_termination = value;
            }
        }
        if self.config.faults.has(&FaultKind::BodyOnUpdateAttachment) {
            return Reply::json(
                200,
                json!({"interface_attachment": {"port_id": port_id, "delete_on_termination": value}}),
            );
        }
        Reply {
            status: 200,
            body: None,
        }
    }

    fn update_sub_nic(&self, state: &mut State, view: &Value, fake: bool) -> Reply {
        let id = path_param(view, "sub_network_interface_id");
        // A fake accept (fault) changes nothing: it works on a copy.
        let mut copy;
        let updated = match state.sub_nics.get_mut(id) {
            Some(c) if !fake => c,
            Some(c) => {
                copy = c.clone();
                &mut copy
            }
            // Accepting an unknown interface (fault): answer as if it were the fixture's.
            None if fake => {
                let fixture = &self.config.fixtures.sub_network_interface_id;
                copy = state.sub_nics.get(fixture).cloned().unwrap_or_default();
                copy["id"] = json!(id);
                &mut copy
            }
            None => {
                let message = "supplementary network interface not found";
                return Reply::json(404, error_body(ErrorFamily::VpcV3, 404, message));
            }
        };
        let null = Value::Null;
        let changes = get(view, "/body/sub_network_interface").unwrap_or(&null);
        for field in ["description", "security_groups"] {
            if let Some(v) = changes.get(field) {
                updated[field] = v.clone();
            }
        }
        if let Some(pairs) = changes
            .get("allowed_address_pairs")
            .and_then(Value::as_array)
        {
            let mac = updated["mac_address"].clone();
            updated["allowed_address_pairs"] = pairs
                .iter()
                .map(|p| {
                    let mut p = p.clone();
                    if p.get("mac_address").is_none() {
                        p["mac_address"] = mac.clone();
                    }
                    p
                })
                .collect();
        }
        let mut shown = updated.clone();
        if self.config.faults.has(&FaultKind::ValueDrift) {
            shown["scope"] = json!("az-drift-1");
            shown["instance_type"] = json!("drifted");
        }
        Reply::json(
            200,
            object([
                ("sub_network_interface", shown),
                ("request_id", Value::String(random_hex())),
            ]),
        )
    }

    fn show_job(&self, state: &State, view: &Value) -> Reply {
        let id = path_param(view, "job_id");
        let Some(job) = state.jobs.get(id) else {
            return Reply::json(
                404,
                error_body(ErrorFamily::EcsV1, 404, &format!("job {id} not found")),
            );
        };
        let (status, reason, end_time, nics) = match &job.progress {
            Progress::Ended {
                at,
                result: Ok(nics),
            } => (JobStatus::Success, None, Some(&**at), &nics[..]),
            Progress::Ended { at, result: Err(r) } => {
                let reason = (!r.is_empty()).then_some(r.as_str());
                (JobStatus::Fail, reason, Some(&**at), &[][..])
            }
            _ if job.created.elapsed() < self.config.job_duration / 3 => {
                (JobStatus::Init, None, None, &[][..])
            }
            _ => (JobStatus::Running, None, None, &[][..]),
        };
        let sub_jobs: Vec<Value> = nics
            .iter()
            .map(|n| json!({"status": status.as_str(), "entities": {"nic_id": &**n}}))
            .collect();
        let mut body = json!({
            "job_id": job.id(),
            "job_type": job.job_type,
            "status": status.as_str(),
            "begin_time": &*job.begin_time,
            "end_time": end_time,
            "entities": {"sub_jobs": null},
            "error_code": if status == JobStatus::Fail { Some("Ecs.0000") } else { None },
            "fail_reason": reason,
        });
        // Moved in after: `json!` would copy the list by serializing it again.
        body["entities"]["sub_jobs"] = Value::Array(sub_jobs);
        Reply::json(200, body)
    }

    fn list_interfaces(&self, state: &State, view: &Value) -> Reply {
        let server_id = path_param(view, "server_id");
        let Some(server) = state.servers.get(server_id) else {
            return Reply::json(
                404,
                error_body(
                    ErrorFamily::Nova,
                    404,
                    &format!("server {server_id} not found"),
                ),
            );
        };
        let mut list: Vec<Value> = server
            .ports
            .iter()
            .filter_map(|p| state.attachment(p))
            .collect();
        let drift = self.config.faults.has(&FaultKind::ValueDrift);
        for (s, p) in &state.ghosts {
            if s == server_id && !state.is_attached(server_id, p) {
                list.push(json!({"port_state": "ACTIVE", "fixed_ips": [], "port_id": p, "net_id": self.config.fixtures.network_id, "mac_addr": "fa:16:3e:00:00:ff"}));
            }
        }
        if drift {
            for item in &mut list {
                item["port_state"] = json!("BUILD");
            }
        }
        Reply::json(200, object([("interfaceAttachments", Value::Array(list))]))
    }

    /// Drifts echoed values, for the echo rules the request exercises.
    fn apply_echo_drift(&self, op: &Operation, view: &Value, reply: &mut Reply) {
        let Some(body) = reply.body.as_mut() else {
            return;
        };
        if !(200..300).contains(&reply.status) {
            return;
        }
        for rule in self.contract.rules_for(&op.id) {
            let Check::Echo { response, .. } = &rule.check else {
                continue;
            };
            if !self.config.faults.drifts(&rule.id) || !rule.check.exercised(view) {
                continue;
            }
            for ptr in expand(body, response) {
                let drifted = match body.pointer(&ptr) {
                    Some(Value::String(s)) if uuid::Uuid::parse_str(s).is_ok() => {
                        json!(random_id())
                    }
                    Some(Value::String(s))
                        if s.parse::<std::net::IpAddr>().is_ok() || s.contains('/') =>
                    {
                        json!("192.0.2.254")
                    }
                    Some(Value::String(_)) => json!("drifted"),
                    Some(Value::Array(a)) if !a.is_empty() => json!(a[..a.len() - 1]),
                    Some(Value::Array(_)) => json!([self.config.fixtures.security_group_id]),
                    _ => continue,
                };
                set(body, &ptr, drifted);
            }
        }
    }

    fn apply_response_faults(&self, op: &Operation, reply: &mut Reply) {
        for (operation, pointer, value) in self.config.faults.response_faults() {
            if operation != op.id {
                continue;
            }
            let Some(body) = reply.body.as_mut() else {
                continue;
            };
            if pointer == "error-shape" {
                if reply.status >= 400 {
                    // Another family's key, with nova's integer code: only the shape is wrong.
                    *body = json!({"error": {"code": reply.status, "message": "error under the wrong family's key"}});
                }
                continue;
            }
            if !(200..300).contains(&reply.status) || reply.status == 202 {
                continue;
            }
            match value {
                Some(v) => set(
                    body,
                    pointer,
                    serde_json::from_str(v).unwrap_or(Value::Null),
                ),
                None => {
                    remove(body, pointer);
                }
            }
        }
    }

    /// The nova list of attachments of the fixture server (for tests).
    pub fn attached_ports(&self) -> Vec<String> {
        let mut state = lock(&self.state);
        self.end_due_jobs(&mut state);
        state
            .servers
            .get(self.config.fixtures.server_id.as_str())
            .map(|s| s.ports.iter().map(|p| p.to_string()).collect())
            .unwrap_or_default()
    }
}

/// A path parameter of a request view ("" when absent).
fn path_param<'a>(view: &'a Value, name: &str) -> &'a str {
    Contract::path_param(view, name).unwrap_or_default()
}

/// A mock listening on a socket.
pub struct RunningMock {
    pub base_url: String,
    pub addr: SocketAddr,
    pub mock: Arc<Mock>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningMock {
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningMock {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Serves the mock on `listener` until stopped.
pub async fn serve(
    mock: Arc<Mock>,
    listener: tokio::net::TcpListener,
) -> std::io::Result<RunningMock> {
    let addr = listener.local_addr()?;
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(mock.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
    });
    Ok(RunningMock {
        base_url: format!("http://{addr}"),
        addr,
        mock,
        shutdown: Some(tx),
        task: Some(task),
    })
}

/// Starts a mock on an ephemeral loopback port.
pub async fn start_local(
    contract: Arc<Contract>,
    config: MockConfig,
) -> std::io::Result<RunningMock> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    serve(Arc::new(Mock::new(contract, config)), listener).await
}

async fn handle(
    axum::extract::State(mock): axum::extract::State<Arc<Mock>>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let family = errors::family_of_path(&path);
    let bytes = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => {
            return to_response(
                &mock,
                Reply::json(413, error_body(family, 413, "request body too large")),
            );
        }
    };
    // A signature covers any header; without authentication only the Content-Type is read.
    let mut headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter(|(k, _)| mock.config.require_auth || *k == header::CONTENT_TYPE)
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    if mock.config.require_auth && !headers.iter().any(|(k, _)| k == "host") {
        if let Some(authority) = parts.uri.authority() {
            headers.push(("host".into(), authority.to_string()));
        }
    }
    let incoming = Incoming {
        method: parts.method.as_str(),
        raw_path: &path,
        raw_query: parts.uri.query(),
        headers: &headers,
        body: &bytes,
    };
    let reply = mock.respond(&incoming);
    to_response(&mock, reply)
}

fn to_response(mock: &Mock, reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match reply.body {
        Some(body) => {
            let mut r = Response::new(Body::from(serde_json::to_vec(&body).unwrap_or_default()));
            let ct = if mock.config.faults.has(&FaultKind::WrongContentType) {
                "text/plain"
            } else {
                "application/json;charset=UTF-8"
            };
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            r
        }
        None => Response::new(Body::empty()),
    };
    *response.status_mut() = status;
    response
}
