//! What each operation does to the mock's state once it is accepted, and
//! how the job query and the list of attachments answer.

use serde_json::{Value, json};

use crate::contract::pointer::get;
use crate::contract::{ErrorFamily, Operation, World, object};
use crate::mock::jobs::{Change, JobResult, JobStatus, Stage};
use crate::mock::state::{Id, State, random_hex, random_id, random_id_shared};
use crate::mock::{FaultKind, Mock, Reply, error_body, path_param};

impl Mock {
    /// Applies a job's change, unless a fault makes it fail.
    pub(super) fn apply(&self, state: &mut State, change: Change) -> JobResult {
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
                    match nic.port_id.as_deref() {
                        Some(port_id) => {
                            // The state the catalogue requires holds when the job runs, too.
                            if let Some(want) = &self.effects.nics.port_state {
                                if state.port_state(port_id) != Some(want.as_str()) {
                                    return Err(format!("port {port_id} is not {want}"));
                                }
                            }
                            // Only a fault keeps an address the catalogue says is ignored.
                            if let (Some(ip), Some(port)) =
                                (&nic.ip_address, state.ports.get_mut(port_id))
                            {
                                port.ip_address = ip.to_string();
                            }
                            state.attach(&server_id, port_id);
                            ids.push(Id::from(port_id));
                        }
                        None => {
                            let subnet = nic
                                .subnet_id
                                .as_deref()
                                .unwrap_or(&self.config.fixtures.subnet_id);
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
        if !no_effect {
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
        let (status, reason, end_time, nics) = match &job.stage {
            Stage::Ended {
                at,
                result: Ok(nics),
            } => (JobStatus::Success, None, Some(&**at), &nics[..]),
            Stage::Ended { at, result: Err(r) } => {
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
}
