//! Before the first write: both base URLs answer, the credentials are
//! accepted, and every fixture exists in the state the cases need, read
//! through the auxiliary reads only (never a write). The same checks are
//! `nic-conformance doctor`.

use serde_json::Value;

use crate::error::Error;
use crate::http::{Exchange, TransportError, TransportErrorKind};
use crate::judge::observed::Listing;
use crate::runner::Runner;

/// One thing the preflight looked at.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// The fixture or endpoint, as the target file names it.
    pub subject: String,
    pub outcome: CheckOutcome,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CheckOutcome {
    /// As the cases need it; what was seen.
    Ok(String),
    /// Not checked, and why (no documented read shows it).
    Unchecked(String),
    /// The run cannot start: what was found and the fix.
    Failed { found: String, fix: String },
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.outcome {
            CheckOutcome::Ok(seen) => write!(f, "ok        {}: {seen}", self.subject),
            CheckOutcome::Unchecked(why) => write!(f, "unchecked {}: {why}", self.subject),
            CheckOutcome::Failed { found, fix } => {
                write!(
                    f,
                    "FAILED    {}: {found}\n          fix: {fix}",
                    self.subject
                )
            }
        }
    }
}

/// The API families a target serves, as its reads showed them: ECS v1
/// (batch jobs, the ECS list), nova v2.1 (attach, list, show, detach) and
/// VPC v3 (supplementary NICs). An OpenStack cloud serves nova only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Families {
    pub ecs: bool,
    pub nova: bool,
    pub vpc: bool,
}

impl Default for Families {
    /// Until a preflight says otherwise, everything is served.
    fn default() -> Self {
        Families {
            ecs: true,
            nova: true,
            vpc: true,
        }
    }
}

impl Families {
    /// Whether the target serves `op`'s family.
    pub fn serves(&self, op: &crate::contract::Operation) -> bool {
        use crate::contract::ErrorFamily;
        match op.error_family {
            ErrorFamily::EcsV1 => self.ecs,
            ErrorFamily::Nova => self.nova,
            ErrorFamily::VpcV3 => self.vpc,
            _ => true,
        }
    }

    pub(super) fn describe(&self) -> String {
        let name =
            |on: bool, what: &str| format!("{what} {}", if on { "served" } else { "not served" });
        [
            name(self.ecs, "ECS v1"),
            name(self.nova, "nova v2.1"),
            name(self.vpc, "VPC v3"),
        ]
        .join(", ")
    }
}

/// What the preflight found, and what the run starts from.
#[derive(Debug, Default)]
pub struct Preflight {
    pub checks: Vec<Check>,
    /// The families whose reads answered.
    pub families: Families,
    /// The server's attachments before the run (from whichever list answered).
    pub attached: Option<Listing>,
    /// Each supplementary NIC's updatable fields, as read.
    pub sub_nics: Vec<(String, Value)>,
}

impl Preflight {
    pub fn failed(&self) -> bool {
        self.checks
            .iter()
            .any(|c| matches!(c.outcome, CheckOutcome::Failed { .. }))
    }

    fn push(&mut self, subject: impl Into<String>, outcome: CheckOutcome) {
        self.checks.push(Check {
            subject: subject.into(),
            outcome,
        });
    }

    fn fail(&mut self, subject: impl Into<String>, found: String, fix: impl Into<String>) {
        self.push(
            subject,
            CheckOutcome::Failed {
                found,
                fix: fix.into(),
            },
        );
    }

    /// The failed checks as one error (exit 2), each with its fix.
    pub fn into_error(self) -> Error {
        let lines: Vec<String> = self
            .checks
            .iter()
            .filter(|c| matches!(c.outcome, CheckOutcome::Failed { .. }))
            .map(|c| c.to_string())
            .collect();
        Error::Target(format!(
            "the target is not ready; nothing was changed:\n{}",
            lines.join("\n")
        ))
    }
}

/// A read's answer, or why there was none.
type Read = Result<Exchange, TransportError>;

fn transport_unreachable(e: &TransportError) -> bool {
    matches!(
        e.kind,
        TransportErrorKind::Connect | TransportErrorKind::Timeout
    )
}

/// The fix for an unreachable URL: a certificate problem is not the network's.
fn reach_fix(e: &TransportError, key: &str) -> String {
    let m = e.message.to_ascii_lowercase();
    if m.contains("certificate") || m.contains("unknownissuer") || m.contains("tls") {
        format!(
            "the certificate of {key} is not trusted: set [tls] ca_file to the CA that signs it (a path relative to the target file)"
        )
    } else {
        format!("check {key} and the network or proxy settings")
    }
}

impl Runner {
    /// Sends an auxiliary read with the fixtures' path parameters and `extra`.
    async fn read(&self, op_id: &str, extra: &[(&str, &str)]) -> Option<(String, Read)> {
        let op = self.contract.operation(op_id)?;
        let params = self.params(op, extra);
        let call = format!("{} {}", op.method, op.render_path(&params));
        Some((call, self.client.send(op, &params, None).await))
    }

    /// Every check of the preflight; the run starts only when none failed.
    pub async fn preflight_checks(&self) -> Preflight {
        let t = self.client.target();
        let mut out = Preflight::default();
        let (nova, ecs) = self.read_listings().await;
        let Some(listed) = self.check_server(&mut out, nova, ecs).await else {
            return out;
        };
        self.check_fixture_ports(&listed, &mut out);
        self.check_ranges(&listed, &mut out);
        out.attached = Some(listed);
        if t.vpc_url.is_empty() || self.fixtures.sub_network_interface_id.is_empty() {
            out.families.vpc = false;
        } else {
            self.check_sub_nics(&mut out).await;
            out.families.vpc = !out.sub_nics.is_empty();
        }
        out.push(
            "API families",
            CheckOutcome::Ok(format!(
                "{} (from the reads that answered; an operation not served is not run)",
                out.families.describe()
            )),
        );
        if !out.families.ecs && !out.families.nova {
            out.fail(
                "API families",
                "neither ECS v1 nor nova v2.1 lists the server's NICs".into(),
                "check target.ecs_url",
            );
        }
        self.check_undo_endpoints(&mut out).await;
        for (name, what) in [
            ("network_id", "a network"),
            ("subnet_id", "a subnet"),
            ("security_group_id", "a security group"),
        ] {
            out.push(
                format!("fixtures.{name}"),
                CheckOutcome::Unchecked(format!("no documented read shows {what}")),
            );
        }
        out
    }

    /// The server's NICs through both lists. A server error or no answer
    /// is tried again a few times: the listing is what the run puts back,
    /// so it is worth a wait.
    async fn read_listings(&self) -> (Option<(String, Read)>, Option<(String, Read)>) {
        let mut nova = self.read("list-interfaces", &[]).await;
        let mut ecs = self.read("list-server-interfaces", &[]).await;
        for wait in [250, 1000, 2000] {
            let flaky = |r: &Option<(String, Read)>| match r {
                Some((_, Ok(a))) => a.status >= 500,
                Some((_, Err(e))) => !transport_unreachable(e),
                None => false,
            };
            if answered(&nova) || answered(&ecs) || !(flaky(&nova) || flaky(&ecs)) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
            nova = self.read("list-interfaces", &[]).await;
            ecs = self.read("list-server-interfaces", &[]).await;
        }
        (nova, ecs)
    }

    /// The endpoint, the credentials and the server, from the two lists'
    /// answers; the server's NICs when a list answered (missing only when
    /// both say so).
    async fn check_server(
        &self,
        out: &mut Preflight,
        nova: Option<(String, Read)>,
        ecs: Option<(String, Read)>,
    ) -> Option<Listing> {
        let t = self.client.target();
        let f = &self.fixtures;
        let mut listing: Option<Listing> = None;
        let mut statuses = Vec::new();
        let mut ecs_reached = false;
        let mut not_found = 0;
        out.families.nova = answered(&nova) || self.nova_version_answers().await;
        out.families.ecs = answered(&ecs);
        for (call, read) in nova.into_iter().chain(ecs) {
            match read {
                Err(e) if transport_unreachable(&e) => {
                    out.fail(
                        format!("target.ecs_url ({})", t.ecs_url),
                        format!("unreachable: {e}"),
                        reach_fix(&e, "target.ecs_url"),
                    );
                    return None;
                }
                Err(e) => statuses.push(format!("{call}: {e}")),
                Ok(a) if a.status == 401 || a.status == 403 => {
                    out.fail(
                        "[auth]",
                        format!("{call} answered {}: the credentials were refused", a.status),
                        "check [auth] in the target file and the environment variables it names",
                    );
                    return None;
                }
                Ok(a) => {
                    ecs_reached = true;
                    not_found += usize::from(a.status == 404);
                    if a.status == 200 && listing.is_none() {
                        listing = Listing::parse(&a.body).ok();
                    }
                    let read = if a.status == 200 { " (not a list)" } else { "" };
                    statuses.push(format!("{call} answered {}{read}", a.status));
                }
            }
        }
        if ecs_reached {
            out.push(
                format!("target.ecs_url ({})", t.ecs_url),
                CheckOutcome::Ok("reachable, credentials accepted".into()),
            );
        }
        let Some(listed) = listing else {
            let subject = format!("fixtures.server_id ({})", f.server_id);
            let found = format!("neither list of its NICs answers: {}", statuses.join("; "));
            // Otherwise there is nothing to put the server back to, and no write without it.
            let fix = if not_found == statuses.len() {
                "check server_id and project_id in the target file (the server must exist in that project)".to_string()
            } else {
                "the run needs the server's NICs before its first write (what it puts back): try again when a list answers".into()
            };
            out.fail(subject, found, fix);
            return None;
        };
        out.push(
            format!("fixtures.server_id ({})", f.server_id),
            CheckOutcome::Ok(format!("exists, {} NIC(s) attached", listed.ports.len())),
        );
        Some(listed)
    }

    /// The primary NIC is attached, and no spare is.
    fn check_fixture_ports(&self, listed: &Listing, out: &mut Preflight) {
        let f = &self.fixtures;
        if listed.contains(&f.primary_port_id) {
            out.push(
                format!("fixtures.primary_port_id ({})", f.primary_port_id),
                CheckOutcome::Ok("attached to the server".into()),
            );
        } else {
            out.fail(
                format!("fixtures.primary_port_id ({})", f.primary_port_id),
                "not among the server's NICs".into(),
                "set primary_port_id in the target file to the server's primary NIC".to_string(),
            );
        }
        let spares = std::iter::once(&f.spare_port_id).chain(&f.extra_spare_port_ids);
        let attached: Vec<&String> = spares.filter(|s| listed.contains(s)).collect();
        if attached.is_empty() {
            out.push(
                "fixtures.spare_port_id and extras",
                CheckOutcome::Ok(
                    "none attached to the server (their existence has no documented read)".into(),
                ),
            );
        } else {
            let ids: Vec<&str> = attached.iter().map(|s| s.as_str()).collect();
            out.fail(
                "fixtures.spare_port_id and extras",
                format!("attached to the server: {}", ids.join(", ")),
                format!(
                    "an earlier run may have left them: `nic-conformance cleanup{}` detaches them",
                    self.target_flag()
                ),
            );
        }
    }

    /// The endpoints the run's housekeeping depends on, tried through
    /// reads before any write: the ECS job query (an unknown job must be
    /// refused, not routed nowhere) and nova's one-interface read (the
    /// path its detach uses).
    async fn check_undo_endpoints(&self, out: &mut Preflight) {
        let f = &self.fixtures;
        if out.families.ecs {
            let unknown = "00000000-0000-4000-8000-00000000dead";
            if let Some((call, read)) = self.read("show-job", &[("job_id", unknown)]).await {
                match read {
                    Ok(a)
                        if a.status < 500 && a.status != 405 && !(300..400).contains(&a.status) =>
                    {
                        out.push(
                            "the ECS job query",
                            CheckOutcome::Ok(format!(
                                "{call} answers ({} for an unknown job)",
                                a.status
                            )),
                        )
                    }
                    Ok(a) => out.fail(
                        "the ECS job query",
                        format!("{call} answered {} for an unknown job", a.status),
                        "the run follows every ECS batch job through it: check target.ecs_url",
                    ),
                    Err(e) => out.fail(
                        "the ECS job query",
                        format!("{call}: {e}"),
                        "the run follows every ECS batch job through it: check target.ecs_url",
                    ),
                }
            }
        }
        if out.families.nova {
            let read = self
                .read("show-interface", &[("port_id", f.primary_port_id.as_str())])
                .await;
            if let Some((call, read)) = read {
                match read {
                    Ok(a) if a.status == 200 => out.push(
                        "nova's interface detach",
                        CheckOutcome::Ok(format!("{call} answers 200 (the detach's path)")),
                    ),
                    Ok(a) if out.families.ecs => out.push(
                        "nova's interface detach",
                        CheckOutcome::Unchecked(format!("{call} answered {}; the run undoes through ECS", a.status)),
                    ),
                    Ok(a) => out.fail(
                        "nova's interface detach",
                        format!("{call} answered {}", a.status),
                        "without ECS the run detaches through nova: check target.ecs_url and primary_port_id",
                    ),
                    Err(e) => out.fail(
                        "nova's interface detach",
                        format!("{call}: {e}"),
                        "check target.ecs_url",
                    ),
                }
            }
        }
    }

    /// Whether nova's version document answers: nova is served even when
    /// its list of the server's NICs is broken (that is the cases' to judge).
    async fn nova_version_answers(&self) -> bool {
        matches!(
            self.read("show-compute-version", &[]).await,
            Some((_, Ok(a))) if a.status == 200
        )
    }

    /// Finds out which families the target serves, through the two lists
    /// of the server's NICs (for `cleanup`, which undoes through them).
    pub async fn detect_families(&self) -> Families {
        let t = self.client.target();
        let answered = |r: Option<(String, Read)>| matches!(r, Some((_, Ok(a))) if a.status == 200);
        let families = Families {
            nova: answered(self.read("list-interfaces", &[]).await)
                || self.nova_version_answers().await,
            ecs: answered(self.read("list-server-interfaces", &[]).await),
            vpc: !t.vpc_url.is_empty() && !self.fixtures.sub_network_interface_id.is_empty(),
        };
        let _ = self.lab.families.set(families);
        families
    }

    /// Addresses listed on the fixture subnet lie in `subnet_cidr`.
    fn check_ranges(&self, listed: &Listing, out: &mut Preflight) {
        let f = &self.fixtures;
        let (Some(v4), Some(text)) = (f.subnet_ranges().0, f.subnet_cidr.as_deref()) else {
            return;
        };
        let on_subnet: Vec<&str> = listed
            .fixed_ips
            .iter()
            .flat_map(|ips| ips.as_array().into_iter().flatten())
            .filter(|ip| ip.get("subnet_id").and_then(Value::as_str) == Some(&f.subnet_id))
            .filter_map(|ip| ip.get("ip_address")?.as_str())
            .filter(|ip| !ip.contains(':'))
            .collect();
        match on_subnet.iter().find(|ip| !v4.contains(ip)) {
            Some(ip) => out.fail(
                format!("fixtures.subnet_cidr ({text})"),
                format!("{ip}, listed on subnet {}, lies outside it", f.subnet_id),
                "set subnet_cidr to the fixture subnet's range",
            ),
            None if on_subnet.is_empty() => out.push(
                format!("fixtures.subnet_cidr ({text})"),
                CheckOutcome::Unchecked("no listed address on the fixture subnet".into()),
            ),
            None => out.push(
                format!("fixtures.subnet_cidr ({text})"),
                CheckOutcome::Ok(format!(
                    "holds the {} listed address(es) of the subnet",
                    on_subnet.len()
                )),
            ),
        }
    }

    /// The fields an update of a supplementary NIC can change, as (wrapper
    /// object, field) from its request schema: what a restore sends back.
    pub(super) fn sub_nic_fields(&self) -> Vec<(String, String)> {
        self.updatable_fields("update-sub-network-interface")
    }

    /// The fields an update operation can change, as (wrapper object,
    /// field) from its request schema.
    pub(super) fn updatable_fields(&self, op_id: &str) -> Vec<(String, String)> {
        let Some(schema) = self
            .contract
            .operation(op_id)
            .and_then(|op| op.request_schema.as_ref())
            .and_then(|n| self.contract.schema(n))
        else {
            return Vec::new();
        };
        let props = schema.document.get("properties").and_then(Value::as_object);
        props
            .into_iter()
            .flatten()
            .flat_map(|(wrapper, node)| {
                let inner = node.get("properties").and_then(Value::as_object);
                inner
                    .into_iter()
                    .flatten()
                    .map(move |(name, _)| (wrapper.clone(), name.clone()))
            })
            .collect()
    }

    /// Each supplementary NIC through the VPC show: the VPC URL answers and the NIC exists.
    async fn check_sub_nics(&self, out: &mut Preflight) {
        let t = self.client.target();
        let f = &self.fixtures;
        let fields = self.sub_nic_fields();
        let ids =
            std::iter::once(&f.sub_network_interface_id).chain(&f.extra_sub_network_interface_ids);
        let mut seen = 0;
        for id in ids {
            let Some((call, read)) = self
                .read(
                    "show-sub-network-interface",
                    &[("sub_network_interface_id", id)],
                )
                .await
            else {
                return;
            };
            let subject = format!("fixtures.sub_network_interface_id ({id})");
            match read {
                Err(e) if transport_unreachable(&e) => {
                    out.fail(
                        format!("target.vpc_url ({})", t.vpc_url),
                        format!("unreachable: {e}"),
                        reach_fix(&e, "target.vpc_url"),
                    );
                    return;
                }
                Err(e) => {
                    out.push(subject, CheckOutcome::Unchecked(format!("{call}: {e}")));
                }
                Ok(a) if a.status == 401 || a.status == 403 => {
                    out.fail(
                        "[auth]",
                        format!("{call} answered {}: the VPC refused the credentials", a.status),
                        "check [auth]: the credentials must be valid for the VPC endpoint too",
                    );
                    return;
                }
                Ok(a) if a.status == 404 => out.fail(
                    subject,
                    format!("{call} answered 404"),
                    "set sub_network_interface_id (and the extras) to supplementary NICs of the project",
                ),
                Ok(a) if a.status == 200 => {
                    seen += 1;
                    let body: Value = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
                    let object: serde_json::Map<String, Value> = fields
                        .iter()
                        .filter_map(|(wrapper, name)| {
                            Some((name.clone(), body.get(wrapper)?.get(name)?.clone()))
                        })
                        .collect();
                    out.sub_nics.push((id.clone(), Value::Object(object)));
                    out.push(subject, CheckOutcome::Ok("exists".into()));
                }
                // A read that answers oddly is judged by the cases that need it.
                Ok(a) => out.push(
                    subject,
                    CheckOutcome::Unchecked(format!("{call} answered {}", a.status)),
                ),
            }
        }
        if seen > 0 {
            out.push(
                format!("target.vpc_url ({})", t.vpc_url),
                CheckOutcome::Ok("reachable, credentials accepted".into()),
            );
        }
    }

    /// The run's preflight: every check passes, or the run stops before its
    /// first write (exit 2) naming what failed. The addresses the server
    /// holds are kept out of the cases'.
    pub(super) async fn preflight(&self) -> Result<Preflight, Error> {
        let found = self.preflight_checks().await;
        if found.failed() {
            return Err(found.into_error());
        }
        if let Some(listing) = &found.attached {
            self.lab.addresses.note_listing(listing);
        }
        Ok(found)
    }
}

/// A list of the server's NICs answered 200.
fn answered(r: &Option<(String, Read)>) -> bool {
    matches!(r, Some((_, Ok(a))) if a.status == 200)
}
