//! `init`: a target file written from what the target itself shows, through
//! the documented reads only (never a write). The server's NIC list gives
//! the primary port, its network, subnet and address; the VPC list of
//! supplementary NICs gives one to update and a security group. What no
//! documented read shows (a DOWN port to attach, the subnet's exact range)
//! is left for the operator, said so in the file.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::contract::Contract;
use crate::http::Client;
use crate::target::{Auth, Limits, Secret, Target};

/// What the operator tells `init`.
#[derive(Debug, Clone)]
pub struct InitOptions {
    pub name: String,
    pub ecs_url: String,
    pub vpc_url: Option<String>,
    pub project_id: String,
    pub server_id: String,
    /// `token`, `aksk` or `none`.
    pub auth_kind: String,
    pub token_env: String,
    pub ak_env: String,
    pub sk_env: String,
    /// DOWN ports the operator names (no documented read lists them).
    pub spare_port_ids: Vec<String>,
}

/// What the reads showed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Discovered {
    /// Which list answered: `nova` or `ecs`.
    pub family: String,
    pub primary_port_id: String,
    pub network_id: String,
    pub subnet_id: String,
    /// The primary NIC's IPv4 address, for a guessed `/24`.
    pub primary_address: Option<String>,
    /// The server's other NICs (never used as spares: they are in use).
    pub other_ports: Vec<String>,
    pub sub_network_interface_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
    /// Reads that did not answer, with why (said in the file's header).
    pub notes: Vec<String>,
}

/// The target the reads go to: the options, no fixtures but the server.
pub fn read_target(
    opts: &InitOptions,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Target, String> {
    let secret = |name: &str| {
        env(name)
            .map(|v| Secret::new(v).from_env(name))
            .ok_or_else(|| format!("the environment variable {name} is not set (init reads the credentials the target file will name)"))
    };
    let auth = match opts.auth_kind.as_str() {
        "none" => Auth::None,
        "token" => Auth::Token(secret(&opts.token_env)?),
        "aksk" => Auth::AkSk {
            ak: secret(&opts.ak_env)?,
            sk: secret(&opts.sk_env)?,
        },
        other => return Err(format!("unknown --auth `{other}` (token, aksk or none)")),
    };
    let mut target = Target::builtin(&opts.ecs_url);
    target.name = opts.name.clone();
    target.ecs_url = opts.ecs_url.trim_end_matches('/').to_string();
    target.vpc_url = (opts.vpc_url.as_deref().unwrap_or_default())
        .trim_end_matches('/')
        .to_string();
    target.project_id = opts.project_id.clone();
    target.fixtures = Default::default();
    target.fixtures.server_id = opts.server_id.clone();
    target.auth = auth;
    target.limits = Limits::cloud();
    Ok(target)
}

/// Reads the server's NICs (nova's list, else ECS's) and, with a VPC
/// endpoint, the supplementary NICs. An error when neither list answers.
pub async fn discover(contract: &Contract, client: &Client) -> Result<Discovered, String> {
    let t = client.target();
    let mut params = Map::new();
    params.insert("project_id".into(), t.project_id.clone().into());
    params.insert("server_id".into(), t.fixtures.server_id.clone().into());
    let (family, listing) = read_listing(contract, client, &params).await?;
    let mut found = Discovered {
        family: family.into(),
        ..Discovered::default()
    };
    let attachments = (listing
        .get("interfaceAttachments")
        .and_then(Value::as_array))
    .cloned()
    .unwrap_or_default();
    // The first NIC listed is the one the server was made with.
    let Some(primary) = attachments.first() else {
        return Err(format!(
            "server {} lists no NIC: a run needs its primary NIC",
            t.fixtures.server_id
        ));
    };
    found.primary_port_id = text(primary, "port_id");
    found.network_id = text(primary, "net_id");
    let ips = (primary.get("fixed_ips").and_then(Value::as_array))
        .cloned()
        .unwrap_or_default();
    if let Some(ip) = ips.first() {
        found.subnet_id = text(ip, "subnet_id");
    }
    found.primary_address = (ips.iter())
        .filter_map(|ip| ip.get("ip_address")?.as_str())
        .find(|a| a.parse::<std::net::Ipv4Addr>().is_ok())
        .map(str::to_string);
    found.other_ports = (attachments.iter().skip(1))
        .map(|a| text(a, "port_id"))
        .collect();
    if !t.vpc_url.is_empty() {
        read_sub_nics(contract, client, &params, &mut found).await;
    }
    Ok(found)
}

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The first list of the server's NICs that answers with JSON, and its family.
async fn read_listing(
    contract: &Contract,
    client: &Client,
    params: &Map<String, Value>,
) -> Result<(&'static str, Value), String> {
    let mut refusals = Vec::new();
    for (family, op_id) in [
        ("nova", "list-interfaces"),
        ("ecs", "list-server-interfaces"),
    ] {
        let Some(op) = contract.operation(op_id) else {
            continue;
        };
        let call = format!("{} {}", op.method, op.render_path(params));
        match client.send(op, params, None).await {
            Ok(x) if x.status == 200 => match serde_json::from_slice::<Value>(&x.body) {
                Ok(body) => return Ok((family, body)),
                Err(_) => refusals.push(format!("{call}: 200 without a JSON body")),
            },
            Ok(x) => {
                let shown = String::from_utf8_lossy(&x.body[..x.body.len().min(200)]).to_string();
                let shown = crate::text::escape_controls(&shown);
                refusals.push(format!("{call}: {} {shown}", x.status));
            }
            Err(e) => refusals.push(format!("{call}: {e}")),
        }
    }
    Err(format!(
        "neither list of the server's NICs answered, so there is nothing to write a target file from:\n  {}\n  (check the endpoint, the project and server ids, and the credentials)",
        refusals.join("\n  ")
    ))
}

/// This server's supplementary NICs, and the security groups the listed ones use.
async fn read_sub_nics(
    contract: &Contract,
    client: &Client,
    params: &Map<String, Value>,
    found: &mut Discovered,
) {
    let Some(op) = contract.operation("list-sub-network-interfaces") else {
        return;
    };
    let body: Value = match client.send(op, params, None).await {
        Ok(x) if x.status == 200 => serde_json::from_slice(&x.body).unwrap_or_default(),
        Ok(x) => {
            let note = format!("the VPC list of supplementary NICs answered {}", x.status);
            found.notes.push(note);
            return;
        }
        Err(e) => {
            let note = format!("the VPC list of supplementary NICs did not answer: {e}");
            found.notes.push(note);
            return;
        }
    };
    let nics = (body.get("sub_network_interfaces").and_then(Value::as_array))
        .cloned()
        .unwrap_or_default();
    found.sub_network_interface_ids = this_servers(&nics, found);
    // Any listed security group will do: cases only name it.
    let groups = (nics.iter())
        .flat_map(|n| {
            n.get("security_groups")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .filter_map(Value::as_str);
    for sg in groups {
        if !found.security_group_ids.iter().any(|s| s == sg) {
            found.security_group_ids.push(sg.to_string());
        }
    }
}

/// The supplementary NICs whose parent is one of the server's ports: a run
/// updates them (and puts them back); another server's is someone else's.
fn this_servers(nics: &[Value], found: &Discovered) -> Vec<String> {
    (nics.iter())
        .filter(|n| {
            let parent = text(n, "parent_id");
            parent == found.primary_port_id || found.other_ports.contains(&parent)
        })
        .map(|n| text(n, "id"))
        .collect()
}

/// A TOML string.
fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A TOML list of strings.
fn list(v: &[String]) -> String {
    format!(
        "[{}]",
        v.iter().map(|s| q(s)).collect::<Vec<_>>().join(", ")
    )
}

/// The target file: every key docs/real-cloud.md documents, the discovered
/// values filled in, what `init` could not know marked `FILL IN`.
pub fn render(opts: &InitOptions, found: &Discovered) -> String {
    let mut f = String::new();
    let _ = writeln!(
        f,
        "# Written by `nic-conformance init` from the target's own reads ({} list of the\n\
         # server's NICs). Check every value, fill in the FILL IN ones, then run\n\
         # `nic-conformance doctor --target THIS_FILE` before the first run.",
        found.family
    );
    for note in &found.notes {
        let _ = writeln!(f, "# note: {note}");
    }
    target_section(&mut f, opts);
    fixtures_section(&mut f, opts, found);
    auth_section(&mut f, opts);
    limits_section(&mut f);
    f
}

fn target_section(f: &mut String, opts: &InitOptions) {
    let _ = writeln!(f, "\n[target]");
    let _ = writeln!(
        f,
        "name = {}   # also the snapshot folder name",
        q(&opts.name)
    );
    let _ = writeln!(f, "ecs_url = {}", q(&opts.ecs_url));
    let _ = match &opts.vpc_url {
        Some(url) => writeln!(f, "vpc_url = {}", q(url)),
        None => writeln!(
            f,
            "# vpc_url = \"https://vpc.example.com\"   # where there is a VPC API"
        ),
    };
    let _ = writeln!(f, "project_id = {}", q(&opts.project_id));
}

fn fixtures_section(f: &mut String, opts: &InitOptions, found: &Discovered) {
    let _ = writeln!(f, "\n[fixtures]   # existing resources the cases may use");
    let _ = writeln!(f, "server_id = {}", q(&opts.server_id));
    let _ = writeln!(
        f,
        "primary_port_id = {}   # the first NIC the server lists: the run never detaches or deletes it",
        q(&found.primary_port_id)
    );
    let _ = match opts.spare_port_ids.split_first() {
        Some((first, [])) => writeln!(
            f,
            "spare_port_id = {}   # a DOWN port the run attaches and detaches",
            q(first)
        ),
        Some((first, rest)) => writeln!(
            f,
            "spare_port_id = {}   # a DOWN port the run attaches and detaches\nextra_spare_port_ids = {}",
            q(first),
            list(rest)
        ),
        None => writeln!(
            f,
            "spare_port_id = \"\"   # FILL IN: a DOWN port of network {} that no server uses (no documented\n\
             #   read lists ports; create one, e.g. `openstack port create --network NET spare`)",
            found.network_id
        ),
    };
    let _ = writeln!(f, "network_id = {}", q(&found.network_id));
    let _ = writeln!(
        f,
        "subnet_id = {}   # the primary NIC's subnet",
        q(&found.subnet_id)
    );
    let _ = match found.security_group_ids.split_first() {
        Some((first, rest)) => writeln!(
            f,
            "security_group_id = {}   # from the supplementary NICs' list\n# extra_security_group_ids = {}",
            q(first),
            list(rest)
        ),
        None => writeln!(
            f,
            "security_group_id = \"\"   # FILL IN: a security group of the project"
        ),
    };
    let _ = match found.sub_network_interface_ids.split_first() {
        Some((first, rest)) => writeln!(
            f,
            "sub_network_interface_id = {}   # the run updates it and puts every field back\n\
             # extra_sub_network_interface_ids = {}",
            q(first),
            list(&rest[..rest.len().min(15)])
        ),
        None if opts.vpc_url.is_some() => writeln!(
            f,
            "sub_network_interface_id = \"\"   # FILL IN: a supplementary NIC of this server (none was listed)"
        ),
        None => writeln!(
            f,
            "# sub_network_interface_id = \"\"   # with vpc_url: a supplementary NIC to update"
        ),
    };
    ranges(f, found);
}

/// The subnet's ranges: the IPv4 one guessed from the primary NIC's address.
fn ranges(f: &mut String, found: &Discovered) {
    let guess =
        (found.primary_address.as_deref()).and_then(|a| a.parse::<std::net::Ipv4Addr>().ok());
    let _ = match guess {
        Some(a) => {
            let [x, y, z, _] = a.octets();
            writeln!(
                f,
                "subnet_cidr = \"{x}.{y}.{z}.0/24\"   # guessed from the primary NIC's address {a}: check the subnet's range"
            )
        }
        None => writeln!(
            f,
            "# subnet_cidr = \"192.168.0.0/24\"   # the subnet's range: cases then ask for addresses in it"
        ),
    };
    let _ = writeln!(
        f,
        "# subnet_ipv6_cidr = \"2001:db8::/64\"\n\
         # addresses_in_use = []   # addresses of the subnet held by ports the server does not list"
    );
}

fn auth_section(f: &mut String, opts: &InitOptions) {
    let _ = writeln!(f, "\n[auth]");
    let _ = writeln!(
        f,
        "kind = {}   # token (X-Auth-Token), aksk (signed), or none\n\
         # names of environment variables, never the secrets",
        q(&opts.auth_kind)
    );
    let (token, aksk) = match opts.auth_kind.as_str() {
        "token" => ("", "# "),
        "aksk" => ("# ", ""),
        _ => ("# ", "# "),
    };
    let _ = writeln!(f, "{token}token_env = {}", q(&opts.token_env));
    let _ = writeln!(f, "{aksk}ak_env = {}", q(&opts.ak_env));
    let _ = writeln!(f, "{aksk}sk_env = {}", q(&opts.sk_env));
    let _ = writeln!(
        f,
        "\n[tls]\n# ca_file = \"corp-ca.pem\"   # a CA to trust besides the system's\ninsecure = false"
    );
}

fn limits_section(f: &mut String) {
    let l = Limits::cloud();
    let _ = writeln!(
        f,
        "\n[limits]   # a real cloud's defaults; see docs/real-cloud.md"
    );
    for (key, value) in [
        ("timeout_secs", l.timeout.as_secs().to_string()),
        (
            "connect_timeout_secs",
            l.connect_timeout.as_secs().to_string(),
        ),
        ("rate_per_second", l.rate_per_second.to_string()),
        ("concurrency", l.concurrency.to_string()),
        ("max_retries", l.max_retries.to_string()),
        ("job_timeout_secs", l.job_timeout.as_secs().to_string()),
        ("job_poll_ms", l.job_poll.as_millis().to_string()),
        (
            "max_body_mb",
            (l.max_body_bytes / (1024 * 1024)).to_string(),
        ),
        ("cleanup_batch", l.cleanup_batch.to_string()),
        ("follow_redirects", l.follow_redirects.to_string()),
        (
            "max_consecutive_failures",
            l.max_consecutive_failures.to_string(),
        ),
        ("server_tasks", l.server_tasks.to_string()),
    ] {
        let _ = writeln!(f, "{key} = {value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_servers_supplementary_nics_are_offered() {
        let found = Discovered {
            primary_port_id: "p1".into(),
            other_ports: vec!["p2".into()],
            ..Discovered::default()
        };
        let nics = serde_json::json!([
            {"id": "a", "parent_id": "p1"},
            {"id": "b", "parent_id": "someone-elses"},
            {"id": "c", "parent_id": "p2"},
        ]);
        assert_eq!(this_servers(nics.as_array().unwrap(), &found), ["a", "c"]);
    }
}
