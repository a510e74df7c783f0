//! What each operation does to the mock's state once it is accepted, and
//! how the job query and the list of attachments answer.

use serde_json::{Value, json};

use crate::contract::pointer::get;
use crate::contract::{ErrorFamily, Operation, World, object};
use crate::mock::jobs::{Change, JobResult, JobStatus, NicRequest, Stage, SubJob};
use crate::mock::state::{AddressProblem, Id, State, random_hex, random_id, random_id_shared};
use crate::mock::{BatchMode, FaultKind, Mock, Reply, error_body, path_param};

impl Mock {
    /// Applies a job's change, unless a fault makes it fail.
    pub(super) fn apply(&self, state: &mut State, change: Change) -> JobResult {
        let faults = &self.config.faults;
        if faults.has(&FaultKind::JobFailNoReason) {
            return JobResult::failed("");
        }
        match change {
            Change::Nothing => JobResult::default(),
            Change::AttachNics { server_id, nics } => {
                if faults.has(&FaultKind::AddJobFails) {
                    return JobResult::failed("NIC attachment failed (fault add-job-fails)");
                }
                if faults.has(&FaultKind::ReaddressesPrimary)
                    && let Some(primary) = state.primary_of(&server_id).map(str::to_string)
                {
                    state.readdress_freely(&primary);
                }
                self.attach_nics(state, &server_id, &nics)
            }
            Change::DetachNics { server_id, nic_ids } => {
                let stays_listed = faults.has(&FaultKind::DeletedNicStaysListed);
                if faults.has(&FaultKind::DeletesBystander) {
                    let f = &self.config.fixtures;
                    let primary = state.primary_of(&server_id).map(str::to_string);
                    let mine = |p: &str| {
                        primary.as_deref() == Some(p)
                            || f.is_any_servers_spare(p)
                            || nic_ids.iter().any(|n| &**n == p)
                    };
                    if let Some(other) = state.bystander(&server_id, mine) {
                        state.detach(&server_id, &other);
                    }
                }
                let mut result = JobResult::default();
                for id in nic_ids {
                    // By the time the job runs another job may have taken it:
                    // a sub-job that finds nothing to delete says so.
                    let mut fail_reason = (!state.is_attached(&server_id, &id))
                        .then(|| format!("NIC {id} is not attached to server {server_id}"));
                    if state.primary_of(&server_id) == Some(&*id) {
                        // Only under a fault does a delete of the primary get this far.
                        fail_reason = Some("the primary NIC cannot be deleted".into());
                    }
                    if fail_reason.is_none() {
                        state.detach(&server_id, &id);
                        if faults.has(&FaultKind::PortStaysInUse) {
                            state.keep_in_use(&id);
                        }
                        if stays_listed {
                            state.ghosts.insert((server_id.to_string(), id.to_string()));
                        }
                    }
                    result.sub_jobs.push(SubJob {
                        nic_id: Some(id),
                        fail_reason,
                    });
                }
                result
            }
        }
    }

    /// Attaches each NIC of a batch, one sub-job each. A NIC the request
    /// refused (a rule checked when the job runs), or whose port is not in
    /// the state the catalogue requires by now, fails alone; in an atomic
    /// batch one failure fails them all and nothing changes.
    /// Why each NIC of a batch fails, before any is attached: its own
    /// refusal, the server's NIC limit, an address taken or used twice in the
    /// batch, no free address left, a port not in the state it must be in.
    fn batch_failures(
        &self,
        state: &State,
        server_id: &str,
        nics: &[NicRequest],
    ) -> Vec<Option<String>> {
        // Two NICs of one batch asking for one address: the second finds it taken.
        let mut asked: Vec<&str> = Vec::new();
        let max = self.config.max_nics_per_server;
        let mut free =
            max.saturating_sub(state.servers.get(server_id).map_or(0, |s| s.ports.len()));
        // The addresses the batch's new ports may take, counted once before any is taken.
        let new_ports = nics.iter().filter(|n| n.port_id.is_none()).count();
        let mut addresses = state.free_addresses(new_ports);
        nics.iter()
            .map(|nic| {
                if let Some(reason) = &nic.refused {
                    return Some(reason.clone());
                }
                if free == 0 {
                    return Some(format!("the server has its maximum of {max} NICs"));
                }
                free -= 1;
                if let (None, Some(ip)) = (&nic.port_id, nic.ip_address.as_deref()) {
                    let problem = state.address_problem(ip).or_else(|| {
                        asked
                            .contains(&ip)
                            .then(|| AddressProblem::InUse(ip.to_string()))
                    });
                    asked.push(ip);
                    return problem.map(|p| p.to_string());
                }
                if nic.port_id.is_none() {
                    let Some(left) = addresses.checked_sub(1) else {
                        return Some(AddressProblem::Exhausted.to_string());
                    };
                    addresses = left;
                    return None;
                }
                let port = nic.port_id.as_deref()?;
                let want = self.effects.nics.port_state.as_deref()?;
                (state.port_state(port) != Some(want)).then(|| format!("port {port} is not {want}"))
            })
            .collect()
    }

    fn attach_nics(&self, state: &mut State, server_id: &str, nics: &[NicRequest]) -> JobResult {
        let failures = self.batch_failures(state, server_id, nics);
        let failed_any = failures.iter().any(Option::is_some);
        if failed_any && self.config.batch == BatchMode::Atomic {
            let first = failures.iter().flatten().next().cloned();
            let sub_jobs =
                nics.iter()
                    .zip(failures)
                    .map(|(nic, failure)| SubJob {
                        nic_id: nic.port_id.as_deref().map(Id::from),
                        fail_reason: Some(failure.unwrap_or_else(|| {
                            "not attached: another NIC of the batch failed".into()
                        })),
                    })
                    .collect();
            return JobResult {
                sub_jobs,
                fail_reason: first,
            };
        }
        let mut result = JobResult {
            sub_jobs: Vec::with_capacity(nics.len()),
            fail_reason: None,
        };
        for (nic, failure) in nics.iter().zip(failures) {
            let sub_job = match failure {
                Some(reason) => SubJob {
                    nic_id: nic.port_id.as_deref().map(Id::from),
                    fail_reason: Some(reason),
                },
                None => match self.attach_nic(state, server_id, nic) {
                    Ok(id) => SubJob {
                        nic_id: Some(id),
                        fail_reason: None,
                    },
                    Err(problem) => SubJob {
                        nic_id: None,
                        fail_reason: Some(problem.to_string()),
                    },
                },
            };
            result.sub_jobs.push(sub_job);
        }
        result
    }

    /// Attaches one NIC: the port it names, or a new port on its subnet.
    fn attach_nic(
        &self,
        state: &mut State,
        server_id: &str,
        nic: &NicRequest,
    ) -> Result<Id, AddressProblem> {
        if let Some(port_id) = nic.port_id.as_deref() {
            // Only a fault keeps an address the catalogue says is ignored.
            if let Some(ip) = &nic.ip_address {
                state.readdress(port_id, ip);
            }
            state.attach(server_id, port_id);
            return Ok(Id::from(port_id));
        }
        let subnet = nic
            .subnet_id
            .as_deref()
            .unwrap_or(&self.config.fixtures.subnet_id);
        let asked = nic
            .ip_address
            .as_deref()
            .filter(|_| !self.config.faults.has(&FaultKind::RequestedAddressIgnored));
        let mut port = state.new_port(
            nic.new_port_id.clone().unwrap_or_else(random_id_shared),
            subnet,
            asked,
        )?;
        if nic.ip_address.is_none() && self.config.faults.has(&FaultKind::NoAddressAssigned) {
            port.ip_address.clear();
        }
        if nic.ipv6_enable && !self.config.faults.has(&FaultKind::NoIpv6Address) {
            state.give_ipv6(&mut port);
        }
        let id = state.insert_port(port);
        state.attach(server_id, &id);
        Ok(id)
    }

    pub(super) fn nova_attach(&self, state: &mut State, view: &Value, no_effect: bool) -> Reply {
        let server_id = path_param(view, "server_id");
        let port_id = get(view, "/body/interfaceAttachment/port_id").and_then(Value::as_str);
        let net_id = get(view, "/body/interfaceAttachment/net_id").and_then(Value::as_str);
        let ip =
            get(view, "/body/interfaceAttachment/fixed_ips/0/ip_address").and_then(Value::as_str);
        if no_effect {
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
        let attached = state.servers.get(server_id).map_or(0, |s| s.ports.len());
        if attached >= self.config.max_nics_per_server {
            let message = format!(
                "Maximum number of ports exceeded: the server has its maximum of {} NICs",
                self.config.max_nics_per_server
            );
            return Reply::json(403, error_body(ErrorFamily::Nova, 403, &message));
        }
        let id = match port_id {
            Some(p) => Id::from(p),
            None => {
                if let Some(problem) = ip.and_then(|ip| state.address_problem(ip)) {
                    let body =
                        error_body(ErrorFamily::Nova, problem.status(), &problem.to_string());
                    return Reply::json(problem.status(), body);
                }
                let network = net_id.unwrap_or(&self.config.fixtures.network_id);
                let subnet = state
                    .networks
                    .get(network)
                    .cloned()
                    .unwrap_or_else(|| Id::from(""));
                match state.new_port(random_id_shared(), &subnet, ip) {
                    Ok(port) => state.insert_port(port),
                    Err(problem) => {
                        let body =
                            error_body(ErrorFamily::Nova, problem.status(), &problem.to_string());
                        return Reply::json(problem.status(), body);
                    }
                }
            }
        };
        state.attach(server_id, &id);
        let attachment = state.attachment(&id).unwrap_or_default();
        Reply::json(200, object([("interfaceAttachment", attachment)]))
    }

    pub(super) fn update_attachment(
        &self,
        state: &mut State,
        view: &Value,
        no_effect: bool,
    ) -> Reply {
        let port_id = path_param(view, "port_id");
        let value = get(view, "/body/interface_attachment/delete_on_termination")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let applied = !no_effect && !self.config.faults.has(&FaultKind::UpdateNotApplied);
        if applied && let Some(port) = state.ports.get_mut(port_id) {
            port.delete_on_termination = value;
            if self.config.faults.has(&FaultKind::AppliesOtherFields) {
                let sent = get(view, "/body/interface_attachment").and_then(Value::as_object);
                for (k, v) in sent.into_iter().flatten() {
                    if k != "delete_on_termination" {
                        port.also_updated.insert(k.clone(), v.clone());
                    }
                }
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
            headers: Vec::new(),
        }
    }

    pub(super) fn update_sub_nic(
        &self,
        op: &Operation,
        state: &mut State,
        view: &Value,
        no_effect: bool,
    ) -> Reply {
        let id = path_param(view, "sub_network_interface_id");
        // A request accepted in error (fault) changes nothing: it works on a copy.
        let mut copy;
        let updated = match state.sub_nics.get_mut(id) {
            Some(c) if !no_effect => c,
            Some(c) => {
                copy = c.clone();
                &mut copy
            }
            // Accepting an unknown interface (fault): answer as if it were the fixture's.
            None if no_effect => {
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
        // The fields an update changes are those the catalogue's echo rules
        // say come back as sent: `/<wrapper>/<field>[/...]` in the answer.
        let null = Value::Null;
        for (wrapper, field) in self.effects.updated(&op.id) {
            let changes = view
                .get("body")
                .and_then(|b| b.get(wrapper))
                .unwrap_or(&null);
            if let Some(v) = changes.get(field) {
                updated[field] = v.clone();
            }
        }
        // An address pair without a MAC takes the interface's own.
        let mac = updated["mac_address"].clone();
        if let Some(pairs) = updated
            .get_mut("allowed_address_pairs")
            .and_then(Value::as_array_mut)
        {
            for p in pairs.iter_mut() {
                if p.get("mac_address").is_none() {
                    p["mac_address"] = mac.clone();
                }
            }
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

    /// The supplementary NIC as the update answers it (without changing it).
    pub(super) fn show_sub_nic(&self, state: &State, view: &Value) -> Reply {
        let id = path_param(view, "sub_network_interface_id");
        let Some(nic) = state.sub_nics.get(id) else {
            let message = "supplementary network interface not found";
            return Reply::json(404, error_body(ErrorFamily::VpcV3, 404, message));
        };
        Reply::json(
            200,
            object([
                ("sub_network_interface", nic.clone()),
                ("request_id", Value::String(random_hex())),
            ]),
        )
    }

    pub(super) fn show_job(&self, state: &State, view: &Value) -> Reply {
        let id = path_param(view, "job_id");
        let job = state
            .jobs
            .get(id)
            .filter(|_| !self.config.faults.has(&FaultKind::JobQueryFails));
        let Some(job) = job else {
            return Reply::json(
                404,
                error_body(ErrorFamily::EcsV1, 404, &format!("job {id} not found")),
            );
        };
        let (status, result, end_time) = match &job.stage {
            Stage::Ended { at, result } => (result.status(), Some(result), Some(&**at)),
            _ if job.created.elapsed() < self.config.job_duration / 3 => {
                (JobStatus::Init, None, None)
            }
            _ => (JobStatus::Running, None, None),
        };
        let failed = |reason: Option<&str>| reason.map(|_| "Ecs.0000");
        let sub_jobs: Vec<Value> = result
            .map(|r| &r.sub_jobs[..])
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, sub)| {
                let reason = sub.fail_reason.as_deref();
                let status = if reason.is_some() {
                    JobStatus::Fail
                } else {
                    JobStatus::Success
                };
                json!({
                    "status": status.as_str(),
                    "job_id": format!("{}-{i}", job.id()),
                    "job_type": job.job_type.trim_end_matches('s'),
                    "begin_time": &*job.begin_time,
                    "end_time": end_time,
                    "error_code": failed(reason),
                    "fail_reason": reason,
                    "entities": {
                        "server_id": &*job.server_id,
                        "nic_id": sub.nic_id.as_deref(),
                        "errorcode_message": reason,
                    },
                })
            })
            .collect();
        let reason = result.and_then(JobResult::reason);
        let mut body = json!({
            "job_id": job.id(),
            "job_type": job.job_type,
            "status": status.as_str(),
            "begin_time": &*job.begin_time,
            "end_time": end_time,
            "entities": {
                "server_id": &*job.server_id,
                "sub_jobs_total": sub_jobs.len(),
                "sub_jobs": null,
            },
            "error_code": if status == JobStatus::Fail { Some("Ecs.0000") } else { None },
            "fail_reason": reason,
        });
        // Moved in after: `json!` would copy the list by serializing it again.
        body["entities"]["sub_jobs"] = Value::Array(sub_jobs);
        Reply::json(200, body)
    }

    pub(super) fn list_interfaces(&self, state: &State, view: &Value) -> Reply {
        let server_id = path_param(view, "server_id");
        let server = state
            .servers
            .get(server_id)
            .filter(|_| !self.config.faults.has(&FaultKind::ListingFails));
        let Some(server) = server else {
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

    /// The ECS v1 list of a server's NICs: the nova attachments, each with
    /// its delete_on_termination.
    pub(super) fn list_server_interfaces(&self, state: &State, view: &Value) -> Reply {
        let server_id = path_param(view, "server_id");
        let Some(server) = state.servers.get(server_id) else {
            let message = format!("server {server_id} not found");
            return Reply::json(404, error_body(ErrorFamily::EcsV1, 404, &message));
        };
        let list: Vec<Value> = server
            .ports
            .iter()
            .filter_map(|p| {
                let mut item = state.attachment(p)?;
                let port = state.ports.get(&**p)?;
                item["delete_on_termination"] = Value::Bool(port.delete_on_termination);
                for (k, v) in &port.also_updated {
                    item[k.as_str()] = v.clone();
                }
                Some(item)
            })
            .collect();
        Reply::json(200, object([("interfaceAttachments", Value::Array(list))]))
    }
}
