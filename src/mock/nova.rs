//! What nova-style clients (openstacksdk, python-novaclient, the `openstack`
//! CLI, Tempest) need around the attach: the version document they read
//! first, microversion negotiation, and the show and detach of one
//! attachment. None of it has a page here; `auxiliary-reads.md`'s facts are
//! the source (doc conflict `nova.client-surface`).

use serde_json::{Value, json};

use super::errors::error_body;
use super::{FaultKind, Mock, Reply};
use crate::contract::ErrorFamily;

/// The microversions the mock speaks.
pub const MIN_VERSION: (u32, u32) = (2, 1);
pub const MAX_VERSION: (u32, u32) = (2, 96);

const VERSION_HEADER: &str = "OpenStack-API-Version";
const LEGACY_HEADER: &str = "X-OpenStack-Nova-API-Version";

fn show((major, minor): (u32, u32)) -> String {
    format!("{major}.{minor}")
}

/// The version a nova request asked for (the default when it asked for
/// none), or the error answer: 400 malformed, 406 out of range.
pub fn negotiate(headers: &[(String, String)]) -> Result<(u32, u32), Reply> {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    };
    // The standard header wins; its value is "compute 2.N".
    let asked = match header(VERSION_HEADER) {
        Some(v) => {
            let mut parts = v.split_whitespace();
            match (parts.next(), parts.next()) {
                (Some(service), Some(version)) if service.eq_ignore_ascii_case("compute") => {
                    Some(version.to_string())
                }
                // Another service's version is not a compute one: the default.
                (Some(_), Some(_)) => None,
                _ => return Err(bad_version(&v)),
            }
        }
        None => header(LEGACY_HEADER),
    };
    let Some(asked) = asked else {
        return Ok(MIN_VERSION);
    };
    if asked.eq_ignore_ascii_case("latest") {
        return Ok(MAX_VERSION);
    }
    let parsed = asked
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)));
    let Some(version) = parsed else {
        return Err(bad_version(&asked));
    };
    if version < MIN_VERSION || version > MAX_VERSION {
        let message = format!(
            "Version {} is not supported by the API. Minimum is {} and maximum is {}.",
            asked,
            show(MIN_VERSION),
            show(MAX_VERSION)
        );
        let mut reply = Reply::json(406, error_body(ErrorFamily::Nova, 406, &message));
        echo_version(&mut reply, version);
        return Err(reply);
    }
    Ok(version)
}

fn bad_version(value: &str) -> Reply {
    let message = format!(
        "API Version String {value} is of invalid format. Must be of format MajorNum.MinorNum."
    );
    Reply::json(400, error_body(ErrorFamily::Nova, 400, &message))
}

/// Adds the headers every nova answer carries: the version used, in both
/// spellings, and `Vary` for caches.
impl Mock {
    /// nova's server delete: 204, its NICs deleted or kept by their
    /// delete_on_termination (never sent by a run: the server is a fixture).
    pub(super) fn delete_server(&self, server_id: &str) -> Reply {
        if self.state.lock().delete_server(server_id) {
            return Reply {
                status: 204,
                body: None,
                headers: Vec::new(),
            };
        }
        let message = format!("Instance {server_id} could not be found.");
        Reply::json(404, error_body(ErrorFamily::Nova, 404, &message))
    }
}

pub fn echo_version(reply: &mut Reply, version: (u32, u32)) {
    let v = show(version);
    reply.headers.push((VERSION_HEADER, format!("compute {v}")));
    reply.headers.push((LEGACY_HEADER, v));
    reply
        .headers
        .push(("Vary", format!("{VERSION_HEADER}, {LEGACY_HEADER}")));
}

/// The version document, for `GET /`, `/v2.1` and `/v2.1/{project_id}`.
pub fn version_document(base: &str) -> Value {
    json!({"version": {
        "id": "v2.1",
        "status": "CURRENT",
        "version": show(MAX_VERSION),
        "min_version": show(MIN_VERSION),
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": format!("{base}/v2.1/")}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}],
    }})
}

/// The list of versions, for `GET /`.
pub fn versions_document(base: &str) -> Value {
    let Value::Object(mut doc) = version_document(base) else {
        return Value::Null;
    };
    let version = doc.remove("version").unwrap_or(Value::Null);
    json!({"versions": [version]})
}

/// Whether a path is one a nova client reads before anything else.
pub fn is_version_path(path: &str, project_id: &str) -> bool {
    // Asked of every GET: compared in place, nothing allocated.
    let trimmed = path.trim_end_matches('/');
    trimmed.is_empty() || trimmed == "/v2.1" || trimmed.strip_prefix("/v2.1/") == Some(project_id)
}

/// The operation whose body nova holds to its documented keys.
pub const ATTACH_OPERATION: &str = "nova-attach-interface";

/// Whether an attach body holds only the `documented` keys (the request
/// schema's), and `tag` from 2.49; the error answer otherwise.
pub fn check_attach_keys(
    body: &Value,
    documented: &[String],
    version: (u32, u32),
) -> Result<(), Reply> {
    let Some(attachment) = body.get("interfaceAttachment").and_then(Value::as_object) else {
        return Ok(()); // the schema judges the shape
    };
    let unknown: Vec<&String> = attachment
        .keys()
        .filter(|k| {
            let tag = k.as_str() == "tag" && version >= (2, 49);
            !documented.contains(k) && !tag
        })
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = unknown.iter().map(|k| k.as_str()).collect();
    let message = format!(
        "Invalid input for field/attribute interfaceAttachment. Additional properties are not allowed ({} {} unexpected)",
        names.join(", "),
        if names.len() == 1 { "was" } else { "were" }
    );
    Err(Reply::json(
        400,
        error_body(ErrorFamily::Nova, 400, &message),
    ))
}

/// nova's 404 for an unknown server or a port not attached to it.
fn not_attached(state: &super::state::State, server_id: &str, port_id: &str) -> Option<Reply> {
    let message = if !state.servers.contains_key(server_id) {
        format!("Instance {server_id} could not be found.")
    } else if !state.is_attached(server_id, port_id) {
        format!("Port {port_id} is not attached")
    } else {
        return None;
    };
    Some(Reply::json(
        404,
        error_body(ErrorFamily::Nova, 404, &message),
    ))
}

impl Mock {
    /// Show one attachment (`GET .../os-interface/{port_id}`).
    pub(super) fn show_attachment(
        &self,
        server_id: &str,
        port_id: &str,
        version: (u32, u32),
    ) -> Reply {
        let mut state = self.state.lock();
        self.end_due_jobs(&mut state);
        if let Some(missing) = not_attached(&state, server_id, port_id) {
            return missing;
        }
        let mut attachment = state.attachment(port_id).unwrap_or_default();
        if version >= (2, 70) {
            let tag = state.ports.get(port_id).and_then(|p| p.tag.clone());
            attachment["tag"] = tag.map_or(Value::Null, Value::String);
        }
        Reply::json(200, json!({"interfaceAttachment": attachment}))
    }

    /// Detach one attachment (`DELETE .../os-interface/{port_id}`): 202, no
    /// body; the port is detached (and deleted if the attach made it).
    pub(super) fn detach_attachment(&self, server_id: &str, port_id: &str) -> Reply {
        let mut state = self.state.lock();
        self.end_due_jobs(&mut state);
        if let Some(missing) = not_attached(&state, server_id, port_id) {
            return missing;
        }
        let primary = state
            .servers
            .get(server_id)
            .is_some_and(|s| s.primary_port_id == port_id);
        if primary {
            let m = "The primary NIC of a server cannot be detached.";
            return Reply::json(409, error_body(ErrorFamily::Nova, 409, m));
        }
        state.detach(server_id, port_id);
        if self.config.faults.has(&FaultKind::PortStaysInUse) {
            state.keep_in_use(port_id);
        }
        Reply {
            status: 202,
            body: None,
            headers: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(k: &str, v: &str) -> Vec<(String, String)> {
        vec![(k.to_string(), v.to_string())]
    }

    #[test]
    fn microversions_are_negotiated_as_nova_does() {
        assert_eq!(negotiate(&[]).unwrap(), (2, 1));
        assert_eq!(
            negotiate(&h("OpenStack-API-Version", "compute 2.70")).unwrap(),
            (2, 70)
        );
        assert_eq!(
            negotiate(&h("X-OpenStack-Nova-API-Version", "2.49")).unwrap(),
            (2, 49)
        );
        assert_eq!(
            negotiate(&h("openstack-api-version", "compute latest")).unwrap(),
            MAX_VERSION
        );
        assert_eq!(
            negotiate(&h("OpenStack-API-Version", "compute 2.99"))
                .unwrap_err()
                .status,
            406
        );
        assert_eq!(
            negotiate(&h("OpenStack-API-Version", "compute foo"))
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            negotiate(&h("X-OpenStack-Nova-API-Version", "foo"))
                .unwrap_err()
                .status,
            400
        );
        let mut r = Reply::json(200, Value::Null);
        echo_version(&mut r, (2, 70));
        assert!(
            r.headers
                .contains(&("OpenStack-API-Version", "compute 2.70".into()))
        );
        assert!(r.headers.iter().any(|(k, _)| *k == "Vary"));
    }

    #[test]
    fn attach_keys_follow_the_microversion() {
        let keys: Vec<String> = ["port_id", "net_id", "fixed_ips"]
            .map(String::from)
            .to_vec();
        let tagged = json!({"interfaceAttachment": {"net_id": "n", "tag": "t"}});
        assert!(check_attach_keys(&tagged, &keys, (2, 48)).is_err());
        assert!(check_attach_keys(&tagged, &keys, (2, 49)).is_ok());
        let odd = json!({"interfaceAttachment": {"net_id": "n", "colour": "red"}});
        let e = check_attach_keys(&odd, &keys, (2, 96)).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(
            e.body.unwrap()["badRequest"]["message"]
                .as_str()
                .unwrap()
                .contains("colour")
        );
    }
}
