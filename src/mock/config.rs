//! How a mock is set up: its project, fixtures, faults, authentication,
//! job timing, and the behaviours the pages allow several of.

use std::time::Duration;

use crate::fixtures::Fixtures;
use crate::server::ConnectionLimits;

use super::FaultSet;

#[derive(Debug, Clone)]
pub struct MockConfig {
    pub project_id: String,
    pub fixtures: Fixtures,
    pub faults: FaultSet,
    /// Refuse requests without a token or a valid AK/SK signature (401).
    pub require_auth: bool,
    /// How long a job stays INIT/RUNNING before it ends.
    pub job_duration: Duration,
    /// Added to every answer: a cloud's round trip on a loopback stand-in.
    pub latency: Duration,
    /// Access key → secret key accepted for AK/SK signatures.
    pub credentials: Vec<(String, String)>,
    /// How a batch job treats a NIC that fails.
    pub batch: BatchMode,
    /// The success status where a page prints none.
    pub success: SuccessStatus,
    /// Whether a request the pages leave open is accepted or refused.
    pub validate: Validation,
    /// NICs one server may have: an attach beyond it fails (a batch NIC's
    /// sub-job, a nova attach with 403), so no load grows a listing without end.
    pub max_nics_per_server: usize,
    /// How long slow clients are waited for, and how many connections are held.
    pub connections: ConnectionLimits,
}

/// The mock's default NIC quota per server. A real server allows about a
/// dozen; the built-in run keeps up to 64 spares attached and 16 cases in
/// flight at once, so the mock allows more (`--max-nics-per-server 12` for the real figure).
pub const DEFAULT_MAX_NICS_PER_SERVER: usize = 1024;

/// The success status of an operation whose page prints none: the pages
/// allow any 2xx (doc conflict ecs.success-status-unprinted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SuccessStatus {
    /// 200, as the pages' siblings answer.
    #[default]
    Usual,
    /// 202 for a request that starts a job, 204 for one answered without a body.
    Other,
}

impl std::str::FromStr for SuccessStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "usual" => Ok(SuccessStatus::Usual),
            "other" => Ok(SuccessStatus::Other),
            other => Err(format!("unknown success status `{other}` (usual or other)")),
        }
    }
}

/// How a batch job treats a NIC that fails: the pages allow both (doc
/// conflict ecs-async.batch-failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BatchMode {
    /// Each NIC is its own sub-job: the others are attached, the job ends FAIL.
    #[default]
    PerNic,
    /// One failure fails the whole job and nothing changes.
    Atomic,
}

impl std::str::FromStr for BatchMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "per-nic" => Ok(BatchMode::PerNic),
            "atomic" => Ok(BatchMode::Atomic),
            other => Err(format!("unknown batch mode `{other}` (per-nic or atomic)")),
        }
    }
}

/// What the mock makes of a request the pages give no single meaning
/// (`Contract::open_reading`: an empty optional list, an ignored field with
/// a value that would be refused where it counts, an address pair without an
/// address). Both conform (doc conflicts request.open-readings,
/// batch-add.ignored-fields-not-validated, batch-add.subnet-beside-port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Validation {
    /// Accepts it, as far as the rules allow.
    #[default]
    Lenient,
    /// Refuses it with a 400: every refusal a conforming server may make.
    Strict,
}

impl std::str::FromStr for Validation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "lenient" => Ok(Validation::Lenient),
            "strict" => Ok(Validation::Strict),
            other => Err(format!("unknown validation `{other}` (lenient or strict)")),
        }
    }
}

impl MockConfig {
    pub fn new(project_id: &str, fixtures: Fixtures) -> MockConfig {
        MockConfig {
            project_id: project_id.to_string(),
            fixtures,
            faults: FaultSet::default(),
            require_auth: false,
            job_duration: Duration::from_millis(20),
            latency: Duration::ZERO,
            credentials: Vec::new(),
            batch: BatchMode::default(),
            success: SuccessStatus::default(),
            validate: Validation::default(),
            max_nics_per_server: DEFAULT_MAX_NICS_PER_SERVER,
            connections: ConnectionLimits::default(),
        }
    }
}
