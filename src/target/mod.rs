//! The target file (`--target TARGET.toml`): where to send, as whom, with
//! which fixtures and limits. Secrets come from the environment only.
//! Reading and checking the file is [`file`]'s.

mod file;

pub use file::ConfigError;

use std::path::PathBuf;
use std::time::Duration;

use crate::contract::Service;
use crate::fixtures::Fixtures;

/// A secret from the environment; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    value: String,
    /// The environment variable it came from, for replay lines that read it again.
    env: Option<String>,
}

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret {
            value: s.into(),
            env: None,
        }
    }

    /// The same secret, read from the environment variable `name`.
    pub fn from_env(self, name: &str) -> Secret {
        Secret {
            env: Some(name.to_string()),
            ..self
        }
    }

    pub fn expose(&self) -> &str {
        &self.value
    }

    /// The environment variable that holds it, if it came from one.
    pub fn env(&self) -> Option<&str> {
        self.env.as_deref()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug, Clone)]
pub enum Auth {
    None,
    Token(Secret),
    AkSk { ak: Secret, sk: Secret },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Whole-request timeout.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Requests per second (0: unlimited).
    pub rate_per_second: f64,
    pub concurrency: usize,
    pub max_retries: u32,
    /// How long a job may take to end.
    pub job_timeout: Duration,
    /// The longest wait between job polls: the first comes after an eighth
    /// of it (at most 100 ms), and the waits double up to it.
    pub job_poll: Duration,
    /// Largest response body read.
    pub max_body_bytes: usize,
    /// NICs the run created are deleted this many at a time (1: right after
    /// their case), or sooner along with a spare's detach. More saves jobs;
    /// a server's NIC quota bounds it.
    pub cleanup_batch: usize,
    /// Follow redirects (never to another scheme, host or port). Off: a 3xx
    /// is judged as the answer it is, since the pages document none.
    pub follow_redirects: bool,
    /// Transport failures or timeouts in a row after which the run stops
    /// starting cases: the target is failing, not the cases.
    pub max_consecutive_failures: usize,
    /// Cases that may change the server at once (those expected to succeed,
    /// and those whose setup attaches a spare). Real clouds refuse a second
    /// attach or detach while one is in progress (409): 1 serialises them;
    /// the negative cases still run `concurrency` at a time.
    pub server_tasks: usize,
}

impl Limits {
    /// Limits for a real cloud: polite and patient.
    pub fn cloud() -> Limits {
        Limits {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            rate_per_second: 10.0,
            concurrency: 4,
            max_retries: 3,
            job_timeout: Duration::from_secs(300),
            job_poll: Duration::from_millis(1000),
            max_body_bytes: 10 << 20,
            // A server has room for a few NICs beside its own (about a dozen
            // in all); a spare's detach takes the ones waiting along sooner.
            cleanup_batch: 4,
            follow_redirects: false,
            max_consecutive_failures: 10,
            server_tasks: 1,
        }
    }

    /// Limits for the in-process mock: as fast as it goes.
    pub fn local() -> Limits {
        Limits {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(2),
            rate_per_second: 0.0,
            concurrency: 16,
            max_retries: 2,
            job_timeout: Duration::from_secs(3),
            job_poll: Duration::from_millis(8),
            max_body_bytes: 10 << 20,
            cleanup_batch: 32,
            follow_redirects: false,
            max_consecutive_failures: 10,
            // The built-in mock does one server task at a time by its lock.
            server_tasks: 4096,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub ecs_url: String,
    pub vpc_url: String,
    pub project_id: String,
    pub fixtures: Fixtures,
    pub auth: Auth,
    /// PEM file of a CA to trust in addition to the system's.
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate (explicit opt-in).
    pub insecure: bool,
    pub limits: Limits,
    /// Where the file was read from (for messages).
    pub file: Option<PathBuf>,
}

impl Target {
    /// Everything a run may change on this target, for [`crate::lock`]:
    /// the server, each spare port, each supplementary NIC.
    pub fn mutable_resources(&self) -> Vec<crate::lock::Resource> {
        let f = &self.fixtures;
        let ecs = format!("{}|{}", self.ecs_url.trim_end_matches('/'), self.project_id);
        let vpc = format!("{}|{}", self.vpc_url.trim_end_matches('/'), self.project_id);
        let one = |kind, id: &String, scope: &String| crate::lock::Resource {
            kind,
            id: id.clone(),
            scope: scope.clone(),
        };
        let mut out = Vec::new();
        for s in f.servers() {
            out.push(one("server", &s.server_id, &ecs));
            out.extend(
                std::iter::once(&s.spare_port_id)
                    .chain(&s.extra_spare_port_ids)
                    .map(|p| one("spare-port", p, &ecs)),
            );
        }
        out.extend(
            std::iter::once(&f.sub_network_interface_id)
                .chain(&f.extra_sub_network_interface_ids)
                .filter(|n| !n.is_empty())
                .map(|n| one("sub-nic", n, &vpc)),
        );
        out
    }

    pub fn base_url(&self, service: Service) -> &str {
        match service {
            Service::Ecs => &self.ecs_url,
            Service::Vpc => &self.vpc_url,
        }
    }
}

impl Target {
    /// The built-in mock as a target.
    pub fn builtin(base_url: &str) -> Target {
        Target {
            name: "builtin-mock".into(),
            ecs_url: base_url.to_string(),
            vpc_url: base_url.to_string(),
            project_id: crate::fixtures::EXAMPLE_PROJECT_ID.into(),
            fixtures: crate::fixtures::example_fixtures(),
            auth: Auth::None,
            ca_file: None,
            insecure: false,
            limits: Limits::local(),
            file: None,
        }
    }
}
