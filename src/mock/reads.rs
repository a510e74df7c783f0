//! Reads clients make to wait on and find what the operations change, with
//! no page here (doc conflict `mock.client-reads`): a server (nova and ECS
//! v1, minimal: id, name, status, the addresses of its NICs), a VPC port
//! (its status, device and addresses; also at the network API's `/v2.0/ports`)
//! and the VPC list of supplementary NICs.

use serde_json::{Map, Value, json};

use super::errors::error_body;
use super::state::State;
use super::{Mock, Reply};
use crate::contract::{ErrorFamily, Operation};

impl Mock {
    /// A read `operations.json` declares, answered here rather than by the
    /// catalogue's effects: the server shows, the port show, the list of
    /// supplementary NICs, and nova's show and detach of one attachment.
    /// `None` for any other operation, or another project's path.
    pub(super) fn respond_read(
        &self,
        op: &Operation,
        params: &Map<String, Value>,
        query: Option<&str>,
        version: Option<(u32, u32)>,
    ) -> Option<Reply> {
        let param = |name: &str| params.get(name).and_then(Value::as_str).unwrap_or("");
        let project = self.config.project_id.as_str();
        if param("project_id") != project {
            return None;
        }
        match op.id.as_str() {
            "show-interface" => {
                let version = version.unwrap_or((2, 1));
                return Some(self.show_attachment(param("server_id"), param("port_id"), version));
            }
            "detach-interface" => {
                return Some(self.detach_attachment(param("server_id"), param("port_id")));
            }
            "show-server" | "show-cloud-server" | "show-port" | "list-sub-network-interfaces" => {}
            _ => return None,
        }
        let mut state = self.state.lock();
        self.end_due_jobs(&mut state);
        Some(match op.id.as_str() {
            "show-server" | "show-cloud-server" => {
                let id = param("server_id");
                match (server(&state, id, project), op.error_family) {
                    (Some(s), _) => Reply::json(200, json!({"server": s})),
                    (None, ErrorFamily::Nova) => not_found(
                        ErrorFamily::Nova,
                        &format!("Instance {id} could not be found."),
                    ),
                    (None, family) => not_found(family, &format!("server {id} not found")),
                }
            }
            "show-port" => {
                let id = param("port_id");
                match port(&state, id) {
                    Some(p) => Reply::json(200, json!({"port": p})),
                    None => not_found(op.error_family, &format!("port {id} not found")),
                }
            }
            _ => Reply::json(200, sub_nic_page(&state, query)),
        })
    }

    /// A read clients make that no page declares (nova's server list, the
    /// network API's port and network reads), by its shape; `None` for any
    /// other path.
    pub(super) fn respond_undeclared_read(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
    ) -> Option<Reply> {
        if method != "GET" {
            return None;
        }
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let ours = matches!(
            segments[..],
            ["v2.1", _, "servers", "detail"]
                | ["v2.0", "ports"]
                | ["v2.0", "ports", _]
                | ["v2.0", "networks"]
                | ["v2.0", "networks", _]
        );
        if !ours {
            return None;
        }
        let state = {
            let mut state = self.state.lock();
            self.end_due_jobs(&mut state);
            state
        };
        undeclared_read(&state, &segments, query, self.config.project_id.as_str())
    }
}

/// A read no page declares, by its shape.
fn undeclared_read(
    state: &State,
    segments: &[&str],
    query: Option<&str>,
    project: &str,
) -> Option<Reply> {
    let reply = match segments {
        ["v2.1", p, "servers", "detail"] if *p == project => {
            let wanted = query_value(query, "name");
            let servers: Vec<Value> = state
                .servers
                .keys()
                .filter(|id| match &wanted {
                    None => true,
                    Some(w) => server_name(id) == *w || &***id == w.as_str(),
                })
                .filter_map(|id| server(state, id, project))
                .collect();
            Reply::json(200, json!({"servers": servers}))
        }
        // The network API's port lookup (`openstack server add port`, `port list --server`).
        ["v2.0", "ports"] => {
            let mut ports: Vec<&str> = state.ports.keys().map(|k| &**k).collect();
            ports.sort_unstable();
            let ports: Vec<Value> = ports
                .into_iter()
                .filter_map(|id| port(state, id))
                .filter(|p| {
                    ["id", "name", "device_id", "network_id"].iter().all(|key| {
                        query_value(query, key).is_none_or(|w| p[key].as_str() == Some(&*w))
                    })
                })
                .collect();
            Reply::json(200, json!({"ports": ports}))
        }
        ["v2.0", "ports", id] => match port(state, id) {
            Some(p) => Reply::json(200, json!({"port": p})),
            None => Reply::json(
                404,
                json!({"NeutronError": {"type": "PortNotFound", "message": format!("Port {id} could not be found."), "detail": ""}}),
            ),
        },
        ["v2.0", "networks"] => {
            let wanted = query_value(query, "id").or_else(|| query_value(query, "name"));
            let networks: Vec<Value> = state
                .networks
                .iter()
                .filter(|(id, _)| wanted.as_deref().is_none_or(|w| w == id.as_str()))
                .map(|(id, subnet)| network(id, subnet, project))
                .collect();
            Reply::json(200, json!({"networks": networks}))
        }
        ["v2.0", "networks", id] => match state.networks.get(*id) {
            Some(subnet) => Reply::json(200, json!({"network": network(id, subnet, project)})),
            None => Reply::json(
                404,
                json!({"NeutronError": {"type": "NetworkNotFound", "message": format!("Network {id} could not be found."), "detail": ""}}),
            ),
        },
        _ => return None,
    };
    Some(reply)
}

/// The network API's version document (`GET /v2.0`), which openstacksdk
/// reads before its port lookup.
pub(super) fn network_version_document(base: &str) -> Value {
    json!({"version": {"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": format!("{base}/v2.0/")}]}})
}

fn not_found(family: ErrorFamily, message: &str) -> Reply {
    Reply::json(404, error_body(family, 404, message))
}

fn query_value(query: Option<&str>, key: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

fn server_name(id: &str) -> String {
    format!("nic-conformance-{}", &id[..id.len().min(8)])
}

/// A server as a client waits on it: ACTIVE, with the addresses of its NICs.
fn server(state: &State, id: &str, project: &str) -> Option<Value> {
    let s = state.servers.get(id)?;
    let mut addresses: Map<String, Value> = Map::new();
    for port_id in &s.ports {
        let Some(p) = state.ports.get(&**port_id) else {
            continue;
        };
        let entry = json!({
            "addr": p.ip_address,
            "version": if p.ip_address.contains(':') { 6 } else { 4 },
            "OS-EXT-IPS:type": "fixed",
            "OS-EXT-IPS-MAC:mac_addr": state.attachment(port_id).and_then(|a| a["mac_addr"].as_str().map(str::to_string)),
        });
        let net = format!("network-{}", &p.network_id[..p.network_id.len().min(8)]);
        if let Some(Value::Array(list)) = addresses.get_mut(&net) {
            list.push(entry);
        } else {
            addresses.insert(net, Value::Array(vec![entry]));
        }
    }
    Some(json!({
        "id": id,
        "name": server_name(id),
        "status": "ACTIVE",
        "tenant_id": project,
        "addresses": addresses,
        // Booted from a volume (no image); the flavor embedded as from 2.47.
        "image": "",
        "flavor": {"original_name": "s6.small.1", "vcpus": 1, "ram": 1024, "disk": 40, "ephemeral": 0, "swap": 0, "extra_specs": {}},
    }))
}

/// A port as the VPC shows it: DOWN when free, ACTIVE with its server's id when attached.
fn port(state: &State, id: &str) -> Option<Value> {
    let p = state.ports.get(id)?;
    let mac = state
        .attachment(id)
        .and_then(|a| a["mac_addr"].as_str().map(str::to_string));
    Some(json!({
        "id": &*p.id,
        "name": "",
        "admin_state_up": true,
        "status": p.state,
        "device_id": p.server_id.as_deref().unwrap_or(""),
        "device_owner": if p.server_id.is_some() { "compute:nova" } else { "" },
        "network_id": &*p.network_id,
        "mac_address": mac,
        "fixed_ips": p.fixed_ips(),
    }))
}

/// A network as the network API shows it: its id doubles as its name.
fn network(id: &str, subnet: &str, project: &str) -> Value {
    json!({"id": id, "name": id, "status": "ACTIVE", "admin_state_up": true, "subnets": [subnet], "project_id": project, "tenant_id": project})
}

/// One page of supplementary NICs, filtered by `id`, `parent_id` and
/// `parent_device_id`, `limit` long after `marker`.
fn sub_nic_page(state: &State, query: Option<&str>) -> Value {
    let mut all: Vec<&Value> = state.sub_nics.values().collect();
    all.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    for key in ["id", "parent_id", "parent_device_id"] {
        if let Some(want) = query_value(query, key) {
            all.retain(|n| n[key].as_str() == Some(want.as_str()));
        }
    }
    if let Some(marker) = query_value(query, "marker")
        && let Some(i) = all
            .iter()
            .position(|n| n["id"].as_str() == Some(marker.as_str()))
    {
        all.drain(..=i);
    }
    let limit = query_value(query, "limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(2000);
    let more = all.len() > limit;
    all.truncate(limit);
    let next = all.last().filter(|_| more).and_then(|n| n["id"].as_str());
    json!({
        "sub_network_interfaces": all,
        "page_info": {"previous_marker": all.first().and_then(|n| n["id"].as_str()), "current_count": all.len(), "next_marker": next},
        "request_id": super::state::random_hex(),
    })
}
