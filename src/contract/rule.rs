//! The rules catalogue: documented behaviour a JSON Schema cannot say.
//!
//! Each rule is data (`schemas/rules.json`): an id, the operation, the page,
//! table and parameter it comes from, a severity and a [`Check`]. The check's
//! kind is implemented once, in [`super::check`], and used three ways: the mock
//! enforces it, the generator breaks or satisfies it, the runner judges by it.

use serde::{Deserialize, Serialize};

use super::Basis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Implied by a page.
    Should,
    /// Stated by a page.
    Must,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Must => "must",
            Severity::Should => "should",
        })
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "must" => Ok(Severity::Must),
            "should" => Ok(Severity::Should),
            other => Err(format!(
                "unknown severity `{other}` (expected `must` or `should`)"
            )),
        }
    }
}

/// Where a rule comes from and what it rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub page: String,
    pub table: String,
    pub parameter: String,
    /// Stated, an exception, or why it is only implied; decides the severity.
    pub basis: Basis,
    /// The page's own words, for a stated rule (checked against the built-in page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<String>,
    /// Why a rule that is not stated is kept, and at which basis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} · {} · {}", self.page, self.table, self.parameter)?;
        if let Some(quote) = &self.quote {
            write!(f, " · \u{201c}{quote}\u{201d}")?;
        }
        Ok(())
    }
}

/// Kinds of resource a fixture or the mock's state holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    Server,
    Subnet,
    Network,
    SecurityGroup,
    Port,
    /// A port attached to the server named in the path.
    AttachedPort,
    SubNic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    Attach,
    Detach,
}

/// What a rule says, in a form the mock, the generator and the checker evaluate.
///
/// `at` is a pattern of JSON pointers into the request view
/// `{"path": {...}, "body": ...}`, with `*` for every array element;
/// `field` is relative to each object `at` selects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Check {
    /// No two of `fields` together.
    MutuallyExclusive { at: String, fields: Vec<String> },
    /// `field` only together with `requires`.
    Requires {
        at: String,
        field: String,
        requires: String,
    },
    /// At least one of `fields`.
    AtLeastOne { at: String, fields: Vec<String> },
    /// The array `field` has at most `max` elements.
    MaxItems {
        at: String,
        field: String,
        max: usize,
    },
    /// Every id at `field` names an existing `resource` (not checked when `unless` is present).
    ResourceExists {
        at: String,
        field: String,
        resource: Resource,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unless: Option<String>,
    },
    /// Every id at `field` names a `resource` in `state`.
    ResourceState {
        at: String,
        field: String,
        resource: Resource,
        state: String,
    },
    /// `field`, a `resource` id, never equals the fixture named `fixture`.
    ForbiddenFixture {
        at: String,
        field: String,
        resource: Resource,
        fixture: String,
    },
    /// With both present, `winner` is used and `loser` is not.
    Precedence {
        at: String,
        winner: String,
        loser: String,
    },
    /// With `field` present, `ignored` take no effect.
    IgnoredWhen {
        at: String,
        field: String,
        ignored: Vec<String>,
    },
    /// The response carries at `response` what the request had at `request`.
    Echo { request: String, response: String },
    /// With `flag` true, a valid request is only checked.
    DryRun { flag: String },
    /// A successful (job of the) request attaches or detaches the ports at `field`.
    AsyncEffect {
        effect: Effect,
        at: String,
        field: String,
    },
    /// After a success, the auxiliary `read` shows the change: in its list at
    /// `list`, the item whose `key` equals the request's `key_from` has
    /// `field` equal to the request's `from`.
    ReadBack {
        read: String,
        list: String,
        key: String,
        key_from: String,
        field: String,
        from: String,
    },
    /// After a success, the auxiliary `read` (as for `read_back`) shows none
    /// of the fields sent in the object at `at` besides `field` with the
    /// value sent: only `field` can be updated; the others are refused or ignored.
    OnlyUpdates {
        read: String,
        list: String,
        key: String,
        key_from: String,
        at: String,
        field: String,
        /// What a generated case sends beside `field` to exercise the rule.
        probe: serde_json::Map<String, serde_json::Value>,
    },
    /// Every item of the answer's list at `response` has its own `key`.
    UniqueKeys { response: String, key: String },
    /// After a success, each NIC the request made from an object at `at`
    /// with neither `field` nor `unless` is listed with an address.
    AddressAssigned {
        at: String,
        field: String,
        unless: String,
    },
    /// After a success, the one NIC a request made from an object at `at`
    /// that asks for an address (`field`, without `unless`) is listed with it.
    AddressHeld {
        at: String,
        field: String,
        unless: String,
    },
    /// After a success, where the subnet has an IPv6 range, each NIC the
    /// request made from an object at `at` with `flag` true (and without
    /// `unless`) is listed with an IPv6 address.
    Ipv6Assigned {
        at: String,
        flag: String,
        unless: String,
    },
    /// After a request, the NICs the server had before the run that no case
    /// may name (its primary NIC, or every other) are listed as they were.
    FrameKept { primary: bool },
    /// A success has no body.
    NoResponseBody,
    /// A job ends in SUCCESS or FAIL.
    JobTerminates,
    /// A failed job has a fail_reason.
    JobFailReason,
    /// The documented status.
    Status,
    /// Never a 5xx.
    NoServerError,
    /// A JSON Content-Type on every body.
    ContentType,
    /// Bodies parse as JSON.
    JsonBody,
    /// A complete HTTP answer in time.
    Transport,
    /// A curated response equals its accepted snapshot.
    Snapshot,
}

impl Check {
    /// Constraints on requests: a request can break them, the generator
    /// makes negative cases for them, the mock rejects what breaks them.
    pub fn is_request_constraint(&self) -> bool {
        matches!(
            self,
            Check::MutuallyExclusive { .. }
                | Check::Requires { .. }
                | Check::AtLeastOne { .. }
                | Check::MaxItems { .. }
                | Check::ResourceExists { .. }
                | Check::ResourceState { .. }
                | Check::ForbiddenFixture { .. }
        )
    }

    /// Whether the check reads what exists on the target (a resource, its
    /// state, a fixture), not the request alone.
    pub fn reads_world(&self) -> bool {
        matches!(
            self,
            Check::ResourceExists { .. }
                | Check::ResourceState { .. }
                | Check::ForbiddenFixture { .. }
        )
    }

    /// Whether one request and its answer decide the check, with no
    /// knowledge of the world and no read of the state after it.
    pub fn decided_by_exchange(&self) -> bool {
        (self.is_request_constraint() && !self.reads_world())
            || matches!(
                self,
                Check::Echo { .. }
                    | Check::UniqueKeys { .. }
                    | Check::NoResponseBody
                    | Check::Status
                    | Check::NoServerError
                    | Check::ContentType
                    | Check::JsonBody
                    | Check::Transport
            )
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Check::MutuallyExclusive { .. } => "mutually_exclusive",
            Check::Requires { .. } => "requires",
            Check::AtLeastOne { .. } => "at_least_one",
            Check::MaxItems { .. } => "max_items",
            Check::ResourceExists { .. } => "resource_exists",
            Check::ResourceState { .. } => "resource_state",
            Check::ForbiddenFixture { .. } => "forbidden_fixture",
            Check::Precedence { .. } => "precedence",
            Check::IgnoredWhen { .. } => "ignored_when",
            Check::Echo { .. } => "echo",
            Check::ReadBack { .. } => "read_back",
            Check::DryRun { .. } => "dry_run",
            Check::AsyncEffect { .. } => "async_effect",
            Check::UniqueKeys { .. } => "unique_keys",
            Check::OnlyUpdates { .. } => "only_updates",
            Check::AddressAssigned { .. } => "address_assigned",
            Check::Ipv6Assigned { .. } => "ipv6_assigned",
            Check::AddressHeld { .. } => "address_held",
            Check::FrameKept { .. } => "frame_kept",
            Check::NoResponseBody => "no_response_body",
            Check::JobTerminates => "job_terminates",
            Check::JobFailReason => "job_fail_reason",
            Check::Status => "status",
            Check::NoServerError => "no_server_error",
            Check::ContentType => "content_type",
            Check::JsonBody => "json_body",
            Check::Transport => "transport",
            Check::Snapshot => "snapshot",
        }
    }

    /// Whether the check looks its resource up under the server the path
    /// names (an attached port), so it reads `/path/server_id` too.
    pub fn reads_server(&self) -> bool {
        matches!(
            self,
            Check::ResourceExists {
                resource: Resource::AttachedPort,
                ..
            } | Check::ResourceState {
                resource: Resource::AttachedPort,
                ..
            } | Check::ForbiddenFixture {
                resource: Resource::AttachedPort,
                ..
            }
        )
    }

    /// The request fields the check names, relative to the request view, for the loader to verify.
    pub fn named_fields(&self) -> Vec<(String, String)> {
        let join = |at: &str, f: &str| (at.to_string(), f.to_string());
        match self {
            Check::MutuallyExclusive { at, fields } | Check::AtLeastOne { at, fields } => {
                fields.iter().map(|f| join(at, f)).collect()
            }
            Check::Requires {
                at,
                field,
                requires,
            } => vec![join(at, field), join(at, requires)],
            Check::MaxItems { at, field, .. }
            | Check::ResourceState { at, field, .. }
            | Check::ForbiddenFixture { at, field, .. }
            | Check::AsyncEffect { at, field, .. } => vec![join(at, field)],
            Check::ResourceExists {
                at, field, unless, ..
            } => {
                let mut v = vec![join(at, field)];
                v.extend(unless.iter().map(|u| join(at, u)));
                v
            }
            Check::Precedence { at, winner, loser } => vec![join(at, winner), join(at, loser)],
            Check::AddressAssigned { at, field, unless } => vec![join(at, field), join(at, unless)],
            Check::Ipv6Assigned { at, flag, unless } => vec![join(at, flag), join(at, unless)],
            Check::AddressHeld { at, field, unless } => vec![join(at, field), join(at, unless)],
            Check::OnlyUpdates {
                key_from,
                at,
                field,
                ..
            } => vec![(key_from.clone(), String::new()), join(at, field)],
            Check::IgnoredWhen { at, field, ignored } => {
                let mut v = vec![join(at, field)];
                v.extend(ignored.iter().map(|i| join(at, i)));
                v
            }
            Check::Echo { request, .. } => vec![(request.clone(), String::new())],
            Check::ReadBack { key_from, from, .. } => vec![
                (key_from.clone(), String::new()),
                (from.clone(), String::new()),
            ],
            Check::DryRun { flag } => vec![(flag.clone(), String::new())],
            _ => Vec::new(),
        }
    }
}

/// What a conforming server answers to a request that breaks a rule or keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The exact status a page gives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The status class when no page gives the exact status ("4xx").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<StatusClass>,
    /// The status the reference mock uses within the class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mock_status: Option<u16>,
    /// An asynchronous operation may instead accept and let the job end FAIL, changing nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub async_fail_ok: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StatusClass {
    #[serde(rename = "2xx")]
    Success,
    #[serde(rename = "4xx")]
    ClientError,
}

impl Expect {
    pub const CLIENT_ERROR: Expect = Expect {
        status: None,
        class: Some(StatusClass::ClientError),
        mock_status: Some(400),
        async_fail_ok: false,
    };

    pub fn exact(status: u16) -> Expect {
        Expect {
            status: Some(status),
            class: None,
            mock_status: None,
            async_fail_ok: false,
        }
    }

    /// The status the mock answers with.
    pub fn mock_status(&self) -> u16 {
        self.status.or(self.mock_status).unwrap_or(400)
    }

    pub fn matches(&self, status: u16) -> bool {
        match (self.status, self.class) {
            (Some(s), _) => s == status,
            (None, Some(StatusClass::ClientError)) => (400..500).contains(&status),
            (None, Some(StatusClass::Success)) => (200..300).contains(&status),
            (None, None) => true,
        }
    }
}

impl std::fmt::Display for Expect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.status, self.class) {
            (Some(s), _) => write!(f, "{s}"),
            (None, Some(StatusClass::ClientError)) => f.write_str("4xx"),
            (None, Some(StatusClass::Success)) => f.write_str("2xx"),
            (None, None) => f.write_str("any"),
        }?;
        if self.async_fail_ok {
            f.write_str(" or a FAIL job")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    /// An operation id, or `*` for every operation.
    pub operation: String,
    pub source: Source,
    pub statement: String,
    /// Derived from `source.basis` when the catalogue is loaded, never written in it.
    #[serde(skip_deserializing, default = "unset_severity")]
    pub severity: Severity,
    pub check: Check,
    /// For request constraints: the answer to a request that breaks the rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expect>,
    /// Rules that every request breaking this one also breaks (the page's rules overlap).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also_breaks: Vec<String>,
}

fn unset_severity() -> Severity {
    Severity::Should
}

impl Rule {
    pub fn applies_to(&self, operation: &str) -> bool {
        self.operation == "*" || self.operation == operation
    }
}
