//! Reading a target file: its sections, and every key checked with an
//! error that names the file, the key and the fix.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{Auth, Limits, Secret, Target};
use crate::fixtures::Fixtures;

/// A problem in the target file or its environment: file, key and fix.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {key}: {message}\n  (fix: {fix})")]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub message: String,
    pub fix: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetFile {
    target: TargetSection,
    fixtures: Fixtures,
    #[serde(default)]
    auth: AuthSection,
    #[serde(default)]
    tls: TlsSection,
    #[serde(default)]
    limits: LimitsSection,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetSection {
    name: String,
    ecs_url: String,
    /// Optional: a target without the VPC API (an OpenStack cloud) leaves it out.
    #[serde(default)]
    vpc_url: String,
    project_id: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AuthSection {
    #[serde(default)]
    kind: Option<String>,
    ak_env: Option<String>,
    sk_env: Option<String>,
    token_env: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TlsSection {
    ca_file: Option<PathBuf>,
    #[serde(default)]
    insecure: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    timeout_secs: Option<f64>,
    connect_timeout_secs: Option<f64>,
    rate_per_second: Option<f64>,
    concurrency: Option<usize>,
    max_retries: Option<u32>,
    job_timeout_secs: Option<f64>,
    job_poll_ms: Option<u64>,
    max_body_mb: Option<usize>,
    cleanup_batch: Option<usize>,
    follow_redirects: Option<bool>,
    max_consecutive_failures: Option<usize>,
    server_tasks: Option<usize>,
}

impl Target {
    /// Reads a target file; `env` looks up environment variables (secrets).
    pub fn load(path: &Path, env: impl Fn(&str) -> Option<String>) -> Result<Target, ConfigError> {
        let file = path.display().to_string();
        let text =
            crate::files::read_text_capped(path, crate::files::MAX_INPUT_BYTES).map_err(|e| {
                ConfigError {
            file: file.clone(),
            key: "-".into(),
            message: format!("cannot read the target file: {e}"),
            fix: "pass the path of a TOML target file (see docs/real-cloud.md, or write one with `nic-conformance init`)"
                .into(),
        }
            })?;
        Target::parse(&file, &text, env)
    }

    pub fn parse(
        file: &str,
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Target, ConfigError> {
        let at = KeyChecker(file);
        let raw: TargetFile = toml::from_str(text).map_err(|e| {
            let key = e.span().map(|s| {
                let line = text[..s.start].lines().count().max(1);
                format!("line {line}")
            });
            at.err(key.as_deref().unwrap_or("-"), e.message().to_string(), "compare with the example target file in docs/real-cloud.md; keys are [target], [fixtures], [auth], [tls], [limits]")
        })?;
        at.check_target(&raw.target)?;
        at.check_fixtures(&raw.fixtures, !raw.target.vpc_url.is_empty())?;
        let auth = at.auth(&raw.auth, &env)?;
        // A relative CA path is the target file's neighbour, wherever the run starts.
        let ca_file = raw
            .tls
            .ca_file
            .as_ref()
            .map(|ca| match Path::new(file).parent() {
                Some(dir) if ca.is_relative() => dir.join(ca),
                _ => ca.clone(),
            });
        if let Some(ca) = &ca_file {
            let pem = std::fs::read(ca).map_err(|e| {
                at.err(
                    "tls.ca_file",
                    format!("cannot read `{}`: {e}", ca.display()),
                    "point at a PEM file with the CA certificate (a relative path is read beside the target file)",
                )
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).unwrap_or_default();
            if certs.is_empty() {
                return Err(at.err(
                    "tls.ca_file",
                    format!("`{}` holds no PEM certificate", ca.display()),
                    "export the CA certificate as PEM (-----BEGIN CERTIFICATE-----)",
                ));
            }
        }
        let limits = at.limits(&raw.limits)?;
        Ok(Target {
            name: raw.target.name,
            ecs_url: raw.target.ecs_url.trim_end_matches('/').to_string(),
            vpc_url: raw.target.vpc_url.trim_end_matches('/').to_string(),
            project_id: raw.target.project_id,
            fixtures: raw.fixtures,
            auth,
            ca_file,
            insecure: raw.tls.insecure,
            limits,
            file: Some(PathBuf::from(file)),
        })
    }

    /// The target a command works on: the file's when one is given, else
    /// the built-in mock (its example project and fixtures) at `base_url`.
    pub fn load_or_builtin(
        path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        base_url: &str,
    ) -> Result<Target, ConfigError> {
        match path {
            Some(path) => Target::load(path, env),
            None => Ok(Target::builtin(base_url)),
        }
    }
}

/// Checks the keys of one target file; every error names the file, the key and the fix.
struct KeyChecker<'a>(&'a str);

impl KeyChecker<'_> {
    fn err(&self, key: &str, message: String, fix: &str) -> ConfigError {
        ConfigError {
            file: self.0.to_string(),
            key: key.into(),
            message,
            fix: fix.into(),
        }
    }

    fn check_target(&self, t: &TargetSection) -> Result<(), ConfigError> {
        for (key, url) in [
            ("target.ecs_url", &t.ecs_url),
            ("target.vpc_url", &t.vpc_url),
        ] {
            if key == "target.vpc_url" && url.is_empty() {
                continue;
            }
            let fix = "write the endpoint as https://host[:port]";
            let parsed = reqwest::Url::parse(url)
                .map_err(|e| self.err(key, format!("`{url}` is not a URL: {e}"), fix))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(self.err(key, format!("`{url}` is not an http(s) URL"), fix));
            }
        }
        if t.project_id.trim().is_empty() {
            return Err(self.err(
                "target.project_id",
                "is empty".into(),
                "set the project ID the fixtures belong to",
            ));
        }
        Ok(())
    }

    fn check_fixtures(&self, fixtures: &Fixtures, vpc: bool) -> Result<(), ConfigError> {
        for (key, cidr, want_v4) in [
            ("fixtures.subnet_cidr", &fixtures.subnet_cidr, true),
            (
                "fixtures.subnet_ipv6_cidr",
                &fixtures.subnet_ipv6_cidr,
                false,
            ),
        ] {
            let Some(cidr) = cidr else { continue };
            let parsed: crate::fixtures::Cidr = cidr.parse().map_err(|e| {
                self.err(
                    key,
                    e,
                    "write the subnet's range as address/prefix, e.g. 192.168.0.0/24",
                )
            })?;
            if parsed.is_ipv4() != want_v4 {
                return Err(self.err(
                    key,
                    format!(
                        "`{cidr}` is not an IPv{} range",
                        if want_v4 { 4 } else { 6 }
                    ),
                    "subnet_cidr takes the IPv4 range, subnet_ipv6_cidr the IPv6 one",
                ));
            }
        }
        for name in Fixtures::NAMES {
            // The supplementary NIC is the VPC API's: without a vpc_url, none.
            if name == "sub_network_interface_id" && !vpc {
                continue;
            }
            if fixtures.get(name).is_none_or(|v| v.trim().is_empty()) {
                return Err(self.err(
                    &format!("fixtures.{name}"),
                    "is empty".into(),
                    "set the id of an existing resource (see the fixtures list in docs/real-cloud.md)",
                ));
            }
        }
        self.check_servers(fixtures)
    }

    /// Each server of `extra_servers` names its own server and ports, and
    /// no id is named twice: two servers' cases would take the same port.
    fn check_servers(&self, fixtures: &Fixtures) -> Result<(), ConfigError> {
        let mut seen: std::collections::HashMap<&str, &str> = Default::default();
        let ids = fixtures.server_ids();
        for (key, id) in &ids {
            if id.trim().is_empty() {
                return Err(self.err(
                    key,
                    "is empty".into(),
                    "set the id of an existing resource (see the fixtures list in docs/real-cloud.md)",
                ));
            }
            if let Some(first) = seen.insert(id, key) {
                return Err(self.err(
                    key,
                    format!("`{id}` is named by {first} too"),
                    "give each server its own server, primary port and spare ports",
                ));
            }
        }
        Ok(())
    }

    /// A secret from the environment variable the file names (or the default one).
    fn secret(
        &self,
        env: &impl Fn(&str) -> Option<String>,
        key: &str,
        name: &Option<String>,
        default: &str,
    ) -> Result<Secret, ConfigError> {
        let name = name.clone().unwrap_or_else(|| default.to_string());
        match env(&name) {
            // A value that cannot be a header (CR, LF, other control or
            // non-ASCII bytes) would fail only after the preflight, or split a header.
            Some(v) if v.bytes().any(|b| !(0x20..0x7f).contains(&b)) => Err(self.err(
                key,
                format!(
                    "environment variable `{name}` holds a control or non-ASCII character (a pasted line break?)"
                ),
                &format!("export {name} again without it"),
            )),
            Some(v) if !v.is_empty() => Ok(Secret::new(v).from_env(&name)),
            _ => Err(self.err(
                key,
                format!("environment variable `{name}` is not set"),
                &format!(
                    "export {name}=... before the run (secrets are read from the environment only)"
                ),
            )),
        }
    }

    fn auth(
        &self,
        a: &AuthSection,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Auth, ConfigError> {
        Ok(match a.kind.as_deref().unwrap_or("none") {
            "none" => Auth::None,
            "token" => {
                Auth::Token(self.secret(env, "auth.token_env", &a.token_env, "NIC_TOKEN")?)
            }
            "aksk" => Auth::AkSk {
                ak: self.secret(env, "auth.ak_env", &a.ak_env, "NIC_AK")?,
                sk: self.secret(env, "auth.sk_env", &a.sk_env, "NIC_SK")?,
            },
            other => {
                return Err(self.err(
                    "auth.kind",
                    format!("unknown kind `{other}`"),
                    "use \"aksk\", \"token\" or \"none\"",
                ));
            }
        })
    }

    fn secs(&self, key: &str, v: Option<f64>, default: Duration) -> Result<Duration, ConfigError> {
        match v {
            None => Ok(default),
            Some(s) if s > 0.0 && s.is_finite() => Ok(Duration::from_secs_f64(s)),
            Some(s) => Err(self.err(
                key,
                format!("{s} is not a positive number of seconds"),
                "use a number above 0",
            )),
        }
    }

    /// `value`, refused when it is zero (`zero` says what 0 would do, `fix` what to write).
    fn nonzero<T: Default + PartialEq>(
        &self,
        key: &str,
        value: Option<T>,
        zero: &str,
        fix: &str,
    ) -> Result<Option<T>, ConfigError> {
        match value {
            Some(v) if v == T::default() => Err(self.err(key, zero.to_string(), fix)),
            v => Ok(v),
        }
    }

    fn limits(&self, l: &LimitsSection) -> Result<Limits, ConfigError> {
        let mut limits = Limits::cloud();
        limits.timeout = self.secs("limits.timeout_secs", l.timeout_secs, limits.timeout)?;
        limits.connect_timeout = self.secs(
            "limits.connect_timeout_secs",
            l.connect_timeout_secs,
            limits.connect_timeout,
        )?;
        limits.job_timeout = self.secs(
            "limits.job_timeout_secs",
            l.job_timeout_secs,
            limits.job_timeout,
        )?;
        if let Some(r) = l.rate_per_second {
            if !(r >= 0.0 && r.is_finite()) {
                return Err(self.err(
                    "limits.rate_per_second",
                    format!("{r} is not a rate"),
                    "use 0 (no limit) or a positive number",
                ));
            }
            limits.rate_per_second = r;
        }
        if let Some(n) = self.nonzero(
            "limits.server_tasks",
            l.server_tasks,
            "0 would run no case that changes the server",
            "use 1 (what real clouds allow) or more",
        )? {
            limits.server_tasks = n;
        }
        if let Some(c) = self.nonzero(
            "limits.concurrency",
            l.concurrency,
            "0 would send nothing",
            "use 1 or more",
        )? {
            limits.concurrency = c;
        }
        limits.max_retries = l.max_retries.unwrap_or(limits.max_retries);
        if let Some(ms) = self.nonzero(
            "limits.job_poll_ms",
            l.job_poll_ms,
            "0 would poll without pause",
            "use 1 or more (1000 suits a real cloud)",
        )? {
            limits.job_poll = Duration::from_millis(ms);
        }
        if let Some(mb) = self.nonzero(
            "limits.max_body_mb",
            l.max_body_mb,
            "0 would refuse every answer with a body",
            "use 1 or more",
        )? {
            limits.max_body_bytes = mb << 20;
        }
        if let Some(n) = self.nonzero(
            "limits.cleanup_batch",
            l.cleanup_batch,
            "0 would never delete the NICs the run creates",
            "use 1 (delete right after each case) or more",
        )? {
            limits.cleanup_batch = n;
        }
        limits.follow_redirects = l.follow_redirects.unwrap_or(limits.follow_redirects);
        if let Some(n) = self.nonzero(
            "limits.max_consecutive_failures",
            l.max_consecutive_failures,
            "0 would stop before the first case",
            "use 1 or more",
        )? {
            limits.max_consecutive_failures = n;
        }
        Ok(limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[target]
name = "r1"
ecs_url = "https://ecs.example.com"
vpc_url = "https://vpc.example.com"
project_id = "p1"
[fixtures]
server_id = "s"
primary_port_id = "pp"
spare_port_id = "sp"
network_id = "n"
subnet_id = "sn"
security_group_id = "sg"
sub_network_interface_id = "sni"
[auth]
kind = "aksk"
ak_env = "MY_AK"
sk_env = "MY_SK"
"#;

    fn env(name: &str) -> Option<String> {
        match name {
            "MY_AK" => Some("ak-value".into()),
            "MY_SK" => Some("sk-value".into()),
            _ => None,
        }
    }

    #[test]
    fn parses_a_full_target_and_hides_secrets() {
        let t = Target::parse("t.toml", GOOD, env).unwrap();
        assert_eq!(t.vpc_url, "https://vpc.example.com");
        let shown = format!("{t:?}");
        assert!(
            !shown.contains("sk-value") && !shown.contains("ak-value"),
            "{shown}"
        );
    }

    #[test]
    fn missing_secret_names_key_and_fix() {
        let e = Target::parse("t.toml", GOOD, |_| None).unwrap_err();
        assert_eq!(e.key, "auth.ak_env");
        let msg = e.to_string();
        assert!(
            msg.contains("t.toml") && msg.contains("MY_AK") && msg.contains("export MY_AK"),
            "{msg}"
        );
    }

    #[test]
    fn bad_url_names_the_key() {
        let text = GOOD.replace("https://vpc.example.com", "vpc.example.com");
        let e = Target::parse("t.toml", &text, env).unwrap_err();
        assert_eq!(e.key, "target.vpc_url");
    }

    #[test]
    fn unknown_key_names_the_line() {
        let text = GOOD.replace("[auth]", "[auth]\nkidn = \"x\"");
        let e = Target::parse("t.toml", &text, env).unwrap_err();
        assert!(e.key.starts_with("line "), "{e}");
        assert!(e.message.contains("kidn"), "{e}");
    }

    #[test]
    fn empty_fixture_is_refused() {
        let text = GOOD.replace("spare_port_id = \"sp\"", "spare_port_id = \"\"");
        let e = Target::parse("t.toml", &text, env).unwrap_err();
        assert_eq!(e.key, "fixtures.spare_port_id");
    }

    #[test]
    fn extra_servers_name_their_own_ports_and_share_the_rest() {
        let server = |s: &str, p: &str, sp: &str| {
            format!(
                "[[fixtures.extra_servers]]\nserver_id = \"{s}\"\nprimary_port_id = \"{p}\"\nspare_port_id = \"{sp}\"\n"
            )
        };
        let with = |extra: &str| GOOD.replace("[auth]", &format!("{extra}[auth]"));
        let t = Target::parse("t.toml", &with(&server("s2", "pp2", "sp2")), env).unwrap();
        let servers = t.fixtures.servers();
        assert_eq!(servers.len(), 2);
        assert_eq!(
            (
                servers[1].server_id.as_str(),
                servers[1].spare_port_id.as_str()
            ),
            ("s2", "sp2")
        );
        assert_eq!(servers[1].subnet_id, "sn");
        assert_eq!(servers[1].sub_network_interface_id, "sni");
        assert!(servers.iter().all(|f| f.extra_servers.is_empty()));
        // A port two servers name would be taken by two cases at once.
        let e = Target::parse("t.toml", &with(&server("s2", "pp2", "sp")), env).unwrap_err();
        assert_eq!(e.key, "fixtures.extra_servers[0].spare_port_id");
        assert!(e.message.contains("fixtures.spare_port_id"), "{e}");
        let e = Target::parse("t.toml", &with(&server("s2", "", "sp2")), env).unwrap_err();
        assert_eq!(e.key, "fixtures.extra_servers[0].primary_port_id");
    }

    #[test]
    fn a_ca_file_is_read_beside_the_target_file_and_must_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let pem = include_str!("../../tests/data/test-ca.pem");
        std::fs::write(dir.path().join("ca.pem"), pem).unwrap();
        std::fs::write(dir.path().join("junk.pem"), "not a certificate").unwrap();
        let file = dir.path().join("t.toml");
        let with = |ca: &str| GOOD.replace("[auth]", &format!("[tls]\nca_file = \"{ca}\"\n[auth]"));
        std::fs::write(&file, with("ca.pem")).unwrap();
        // Loaded from elsewhere: the relative path is the target file's neighbour.
        let t = Target::load(&file, env).unwrap();
        assert_eq!(
            t.ca_file.as_deref(),
            Some(dir.path().join("ca.pem").as_path())
        );
        assert!(crate::http::Client::new(t).is_ok());
        std::fs::write(&file, with("junk.pem")).unwrap();
        let e = Target::load(&file, env).unwrap_err();
        assert_eq!(e.key, "tls.ca_file");
        assert!(e.message.contains("no PEM certificate"), "{e}");
    }

    #[test]
    fn zero_limits_are_refused_with_the_key() {
        for key in [
            "concurrency",
            "cleanup_batch",
            "job_poll_ms",
            "max_body_mb",
            "max_consecutive_failures",
        ] {
            let text = format!("{GOOD}[limits]\n{key} = 0\n");
            let e = Target::parse("t.toml", &text, env).unwrap_err();
            assert_eq!(e.key, format!("limits.{key}"), "{e}");
        }
        let e = Target::parse(
            "t.toml",
            &format!("{GOOD}[limits]\ntimeout_secs = 0\n"),
            env,
        )
        .unwrap_err();
        assert_eq!(e.key, "limits.timeout_secs");
    }
}
