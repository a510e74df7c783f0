//! Fault profiles: ways the mock can deviate from the contract, one id at a time.
//!
//! Rule faults are derived from the catalogue (a new rule brings its fault
//! without code here); the others name the schema keyword or rule they break.
//! Each fault lists exactly the ids a conformance run must report against it.

use std::collections::BTreeSet;

use crate::contract::{Check, Contract};
use crate::error::Error;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// Answers success (changing nothing) to a request that breaks this rule or keyword.
    Accept(String),
    /// Changes the value an echo rule compares.
    DriftEcho(String),
    /// Every rejection is a 500 instead of the documented 4xx.
    ServerErrorOnReject,
    /// A dry run applies the change.
    DryRunApplies,
    /// A body on the update that must have none.
    BodyOnUpdateAttachment,
    /// JSON bodies declared as text/plain.
    WrongContentType,
    /// Batch-add jobs end in FAIL.
    AddJobFails,
    /// Jobs stay RUNNING forever.
    JobNeverEnds,
    /// Every job ends FAIL with no fail_reason.
    JobFailNoReason,
    /// A deleted NIC stays listed.
    DeletedNicStaysListed,
    /// With both port_id and subnet_id, a new NIC is made on the subnet.
    SubnetWins,
    /// With port_id, ip_address is applied to the port.
    PortTakesIp,
    /// One response field is replaced (operation, JSON pointer, value; `null` pointer value removes).
    Response {
        operation: &'static str,
        pointer: &'static str,
        value: Option<&'static str>,
    },
    /// Values no schema constrains drift (only a snapshot can tell).
    ValueDrift,
    /// The job query answers 404 for every job, also the one just started.
    JobQueryFails,
    /// The list of a server's attachments answers 404.
    ListingFails,
    /// An update of a NIC's attachment answers success and changes nothing.
    UpdateNotApplied,
    /// A body it cannot decode (not UTF-8, a multipart type without a
    /// boundary) is an unhandled error: 500, as a WSGI server that decodes without a guard.
    ServerErrorOnUndecodable,
    /// A method the path does not declare is answered 404 with no Allow, as a router that matches method and path together.
    MethodNotFound,
    /// A detached port leaves the listing but stays ACTIVE: attaching it again is refused as in use.
    PortStaysInUse,
    /// A NIC added on a subnet without an address is listed with none.
    NoAddressAssigned,
    /// An attachment update applies the fields sent besides delete_on_termination.
    AppliesOtherFields,
    /// A NIC added with ipv6_enable on a subnet with an IPv6 range gets no IPv6 address.
    NoIpv6Address,
    /// A batch delete looks for the primary NIC in its first entry only: with
    /// the primary further down it is accepted (200, not 403) and only its
    /// job finds out, failing the primary's sub-job.
    PrimaryCheckedFirstOnly,
    /// A NIC added on a subnet gets the next free address, not the one asked for.
    RequestedAddressIgnored,
    /// A batch delete also detaches a NIC of the server it does not name (someone else's).
    DeletesBystander,
    /// A batch add also gives the server's primary NIC a new address.
    ReaddressesPrimary,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub name: String,
    pub kind: FaultKind,
    /// The ids a run must report, and only these.
    pub breaks: Vec<String>,
}

/// Schema keywords whose acceptance is worth a fault of its own, with what
/// follows from it: an accepted description is echoed, so the response then
/// breaks the same constraint of the response schema.
const ACCEPTED_KEYWORDS: &[(&str, &str, &[&str])] = &[
    (
        "accept-long-description",
        "update-sub-network-interface.request#/properties/sub_network_interface/properties/description/maxLength",
        &[
            "update-sub-network-interface.response.200#/properties/sub_network_interface/properties/description/maxLength",
        ],
    ),
    (
        "accept-angle-brackets",
        "update-sub-network-interface.request#/properties/sub_network_interface/properties/description/pattern",
        &[
            "update-sub-network-interface.response.200#/properties/sub_network_interface/properties/description/pattern",
        ],
    ),
    (
        "accept-empty-nics",
        "batch-add-nics.request#/properties/nics/minItems",
        &[],
    ),
    (
        "accept-non-uuid-port",
        "batch-add-nics.request#/properties/nics/items/properties/port_id/format",
        &[],
    ),
    (
        "accept-missing-delete-on-termination",
        "update-interface-attachment.request#/properties/interface_attachment/required",
        &[],
    ),
];

/// Response fields a fault corrupts, one family of response property each.
const RESPONSE_FAULTS: &[(&str, &str, &str, Option<&str>, &str)] = &[
    (
        "bad-mac-address",
        "nova-attach-interface",
        "/interfaceAttachment/mac_addr",
        Some("\"fa:16:3e:zz:00:01\""),
        "nova-attach-interface.response.200#/properties/interfaceAttachment/properties/mac_addr/format",
    ),
    (
        "vlan-out-of-range",
        "update-sub-network-interface",
        "/sub_network_interface/vlan_id",
        Some("4095"),
        "update-sub-network-interface.response.200#/properties/sub_network_interface/properties/vlan_id/maximum",
    ),
    (
        "vlan-wrong-type",
        "update-sub-network-interface",
        "/sub_network_interface/vlan_id",
        Some("\"3413\""),
        "update-sub-network-interface.response.200#/properties/sub_network_interface/properties/vlan_id/type",
    ),
    (
        "bad-created-at",
        "update-sub-network-interface",
        "/sub_network_interface/created_at",
        Some("\"2025-02-10 08:21:16\""),
        "update-sub-network-interface.response.200#/properties/sub_network_interface/properties/created_at/format",
    ),
    (
        "bad-state",
        "update-sub-network-interface",
        "/sub_network_interface/state",
        Some("\"ATTACHED\""),
        "update-sub-network-interface.response.200#/properties/sub_network_interface/properties/state/enum",
    ),
    (
        "missing-job-id",
        "batch-add-nics",
        "/job_id",
        None,
        "batch-add-nics.response.200#/required",
    ),
    (
        "missing-mac-address",
        "update-sub-network-interface",
        "/sub_network_interface/mac_address",
        None,
        "update-sub-network-interface.response.200#/properties/sub_network_interface/required",
    ),
    (
        "undocumented-field",
        "update-sub-network-interface",
        "/sub_network_interface/x_vendor_extension",
        Some("true"),
        "update-sub-network-interface.response.200#/properties/sub_network_interface/additionalProperties",
    ),
    (
        "duplicate-tag-keys",
        "update-sub-network-interface",
        "/sub_network_interface/tags",
        Some(r#"[{"key": "env", "value": "a"}, {"key": "env", "value": "b"}]"#),
        "update-subnic.tag-keys-unique",
    ),
    (
        "nova-error-shape",
        "nova-attach-interface",
        "error-shape",
        None,
        "error.nova#/propertyNames/enum",
    ),
];

/// Every fault the mock offers, in a stable order.
pub fn catalogue(contract: &Contract) -> Vec<Fault> {
    let mut faults = Vec::new();
    for rule in &contract.rules {
        if rule.check.is_request_constraint() {
            faults.push(Fault {
                name: format!("accept:{}", rule.id),
                kind: FaultKind::Accept(rule.id.clone()),
                breaks: vec![rule.id.clone()],
            });
        }
        if matches!(rule.check, Check::Echo { .. }) {
            faults.push(Fault {
                name: format!("drift:{}", rule.id),
                kind: FaultKind::DriftEcho(rule.id.clone()),
                breaks: vec![rule.id.clone()],
            });
        }
    }
    for (name, id, follows) in ACCEPTED_KEYWORDS {
        let mut breaks = vec![(*id).to_string()];
        breaks.extend(follows.iter().map(|s| s.to_string()));
        faults.push(Fault {
            name: (*name).into(),
            kind: FaultKind::Accept((*id).into()),
            breaks,
        });
    }
    for (name, operation, pointer, value, id) in RESPONSE_FAULTS {
        faults.push(Fault {
            name: (*name).into(),
            kind: FaultKind::Response {
                operation,
                pointer,
                value: *value,
            },
            breaks: if *name == "missing-job-id" {
                // Without a job id no attach can be confirmed (the delete cases' setup attaches).
                vec![(*id).into(), "batch-add.job-attaches".into()]
            } else {
                vec![(*id).into()]
            },
        });
    }
    let fixed: [(&str, FaultKind, &[&str]); 23] = [
        (
            "server-error-on-reject",
            FaultKind::ServerErrorOnReject,
            &["response.no-server-error"],
        ),
        (
            "dry-run-applies",
            FaultKind::DryRunApplies,
            &["update-subnic.dry-run"],
        ),
        (
            "body-on-update-attachment",
            FaultKind::BodyOnUpdateAttachment,
            &["update-attachment.no-response-body"],
        ),
        (
            "wrong-content-type",
            FaultKind::WrongContentType,
            &["response.content-type"],
        ),
        (
            "add-job-fails",
            FaultKind::AddJobFails,
            &["batch-add.job-attaches"],
        ),
        (
            "job-never-ends",
            FaultKind::JobNeverEnds,
            &["job.completes"],
        ),
        (
            "job-fail-no-reason",
            FaultKind::JobFailNoReason,
            &[
                "batch-add.job-attaches",
                "batch-delete.job-detaches",
                "job.fail-reason",
            ],
        ),
        (
            "deleted-nic-stays-listed",
            FaultKind::DeletedNicStaysListed,
            &["batch-delete.job-detaches"],
        ),
        (
            "subnet-wins",
            FaultKind::SubnetWins,
            &["batch-add.port-wins"],
        ),
        (
            "port-takes-ip",
            FaultKind::PortTakesIp,
            &["batch-add.port-ignores-sg-ip"],
        ),
        // The auxiliary calls: a finding against the call, the rules that
        // need it undecided (never passed).
        (
            "job-query-fails",
            FaultKind::JobQueryFails,
            &["response.status"],
        ),
        (
            "listing-fails",
            FaultKind::ListingFails,
            &["response.status"],
        ),
        (
            "update-not-applied",
            FaultKind::UpdateNotApplied,
            &["update-attachment.reads-back"],
        ),
        (
            "server-error-on-undecodable",
            FaultKind::ServerErrorOnUndecodable,
            &["response.no-server-error"],
        ),
        (
            "method-not-found",
            FaultKind::MethodNotFound,
            &["request.well-formed"],
        ),
        (
            "port-stays-in-use",
            FaultKind::PortStaysInUse,
            &["response.status"],
        ),
        (
            "applies-other-fields",
            FaultKind::AppliesOtherFields,
            &["update-attachment.only-delete-on-termination"],
        ),
        (
            "requested-address-ignored",
            FaultKind::RequestedAddressIgnored,
            &["batch-add.address-held"],
        ),
        (
            "deletes-bystander",
            FaultKind::DeletesBystander,
            &["frame.others-kept"],
        ),
        (
            "readdresses-primary",
            FaultKind::ReaddressesPrimary,
            &["frame.primary-kept"],
        ),
        (
            "primary-checked-first-only",
            FaultKind::PrimaryCheckedFirstOnly,
            &["batch-delete.primary-forbidden"],
        ),
        (
            "no-ipv6-address",
            FaultKind::NoIpv6Address,
            &["batch-add.ipv6-address"],
        ),
        (
            "no-address-assigned",
            FaultKind::NoAddressAssigned,
            &["batch-add.address-assigned"],
        ),
    ];
    for (name, kind, breaks) in fixed {
        faults.push(Fault {
            name: name.into(),
            kind,
            breaks: breaks.iter().map(|s| s.to_string()).collect(),
        });
    }
    faults.push(Fault {
        name: "value-drift".into(),
        kind: FaultKind::ValueDrift,
        breaks: vec!["snapshot.drift".into()],
    });
    faults
}

/// The faults a mock runs with.
#[derive(Debug, Clone, Default)]
pub struct FaultSet {
    kinds: BTreeSet<FaultKind>,
}

impl FaultSet {
    /// Resolves fault names against the catalogue.
    pub fn from_names(contract: &Contract, names: &[String]) -> Result<FaultSet, Error> {
        let all = catalogue(contract);
        let mut kinds = BTreeSet::new();
        for name in names {
            let Some(f) = all.iter().find(|f| &f.name == name) else {
                return Err(Error::Usage(format!(
                    "unknown fault `{name}`\n  (list them with `nic-conformance mock --list-faults`)"
                )));
            };
            kinds.insert(f.kind.clone());
        }
        Ok(FaultSet { kinds })
    }

    pub fn has(&self, kind: &FaultKind) -> bool {
        self.kinds.contains(kind)
    }

    pub fn accepts(&self, id: &str) -> bool {
        self.kinds.contains(&FaultKind::Accept(id.to_string()))
    }

    pub fn drifts(&self, rule: &str) -> bool {
        self.kinds.contains(&FaultKind::DriftEcho(rule.to_string()))
    }

    pub fn response_faults(
        &self,
    ) -> impl Iterator<Item = (&'static str, &'static str, Option<&'static str>)> + '_ {
        self.kinds.iter().filter_map(|k| match k {
            FaultKind::Response {
                operation,
                pointer,
                value,
            } => Some((*operation, *pointer, *value)),
            _ => None,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }
}
