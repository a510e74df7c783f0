//! The commands that send nothing to a target: `spec`, `generate`, and
//! `mock` (which serves).

use std::io::Write;
use std::sync::Arc;

use crate::cli::{GenerateArgs, MockArgs, env_var};
use crate::contract::Contract;
use crate::error::{Error, exit};
use crate::fixtures::Fixtures;
use crate::generate::Generator;
use crate::mock::{self, FaultSet, MockConfig};
use crate::target::Target;

/// A closed standard output (a pager quit, `| head`) ends the printing quietly.
pub fn print_lines(lines: impl IntoIterator<Item = String>) -> Result<i32, Error> {
    let mut out = std::io::stdout().lock();
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    let _ = out.flush();
    Ok(exit::OK)
}

pub fn spec(
    contract: &Contract,
    json: bool,
    openapi: bool,
    pages: bool,
    output: Option<&std::path::Path>,
) -> Result<i32, Error> {
    let pretty = |v: serde_json::Value| {
        serde_json::to_string_pretty(&v).map_err(|e| Error::Harness(e.to_string()))
    };
    if let Some(path) = output {
        crate::cli::ReportFiles::check_writable(&[path], &[])?;
    }
    let text = if openapi {
        pretty(crate::openapi::document(contract))?
    } else if pages && json {
        pretty(serde_json::json!(crate::spec::pages::coverage(contract)))?
    } else if pages {
        crate::spec::pages::as_text(contract)
    } else if json {
        pretty(crate::spec::as_json(contract))?
    } else {
        crate::spec::as_tables(contract)
    };
    match output {
        Some(path) => {
            crate::files::write_atomic(path, format!("{text}\n").as_bytes())
                .map_err(|e| Error::file(path, format!("cannot write: {e}")))?;
            Ok(0)
        }
        None => print_lines([text]),
    }
}

/// `spec diff`: what changed from OLD to NEW; exit 1 under `--fail-on
/// breaking` when something breaks clients or servers.
pub fn spec_diff(args: &crate::cli::SpecDiffArgs) -> Result<i32, Error> {
    let load = |path: &std::path::Path| {
        if path == std::path::Path::new("builtin") {
            Contract::builtin().map_err(|e| Error::Harness(e.to_string()))
        } else if path.is_dir() {
            Contract::load_dir(path).map_err(|e| Error::file(path, e.to_string()))
        } else {
            Err(Error::file(path, "not a folder of schemas (nor `builtin`)"))
        }
    };
    let old = load(&args.old)?;
    let new = load(
        args.new
            .as_deref()
            .unwrap_or(std::path::Path::new("builtin")),
    )?;
    let changes = crate::spec::diff::diff(&old, &new);
    let text = if args.json {
        serde_json::to_string_pretty(&changes).map_err(|e| Error::Harness(e.to_string()))?
    } else {
        crate::spec::diff::as_text(&changes)
    };
    print_lines([text])?;
    let breaking = changes.iter().any(|c| c.impact.is_breaking());
    Ok(i32::from(args.fail_on.is_some() && breaking))
}

/// `certificate verify FILE`: exit 0 when it holds for this binary's
/// contract, 1 with each problem otherwise.
pub fn certificate_verify(
    contract: &Contract,
    file: &std::path::Path,
    public_key: Option<&std::path::Path>,
) -> Result<i32, Error> {
    use crate::report::certificate::Certificate;
    let text = std::fs::read_to_string(file)
        .map_err(|e| Error::file(file, format!("cannot read: {e}")))?;
    let cert: Certificate = serde_json::from_str(&text).map_err(|e| {
        Error::file(
            file,
            format!(
                "not a certificate: line {}, column {}: {e}",
                e.line(),
                e.column()
            ),
        )
    })?;
    use crate::report::certificate::keys;
    let expected = public_key
        .map(|p| keys::read_verifying(p).map_err(|e| Error::file(p, e)))
        .transpose()?;
    let mut problems = cert.problems(contract);
    let mut lines = Vec::new();
    match cert.check_signature(expected.as_ref()) {
        Err(e) => problems.push(e),
        Ok(Some(key)) if expected.is_some() => {
            lines.push(format!("signed by the public key given ({key})"))
        }
        Ok(Some(key)) => lines.push(format!(
            "signed by key {key} (give --public-key with the vendor's key to check whose it is)"
        )),
        Ok(None) => lines.push("not signed".into()),
    }
    lines.extend(problems.iter().map(|p| format!("problem: {p}")));
    let violated = cert.rules.iter().filter(|r| r.violated > 0).count();
    lines.push(if problems.is_empty() {
        format!(
            "verified: contract {}, {} rules ({violated} violated), {} finding(s), {} accepted, exit {} on {} ({} to {})",
            &cert.contract_digest[..12.min(cert.contract_digest.len())],
            cert.rules.len(),
            cert.findings.len(),
            cert.accepted.len(),
            cert.exit_code,
            cert.target.name,
            cert.started,
            cert.ended
        )
    } else {
        format!("not verified: {} problem(s)", problems.len())
    });
    lines.push(format!("re-run the same cases: {}", cert.rerun_command()));
    print_lines(lines)?;
    Ok(i32::from(!problems.is_empty()))
}

/// A fresh key pair; the secret file is made readable by its owner only.
pub fn certificate_keygen(
    secret: &std::path::Path,
    public: &std::path::Path,
) -> Result<i32, Error> {
    crate::cli::ReportFiles::check_writable(&[secret, public], &[])?;
    let (secret_hex, public_hex) = crate::report::certificate::keys::generate();
    crate::files::write_secret(secret, format!("{secret_hex}\n").as_bytes())
        .map_err(|e| Error::file(secret, format!("cannot write the secret key: {e}")))?;
    crate::files::write_atomic(public, format!("{public_hex}\n").as_bytes())
        .map_err(|e| Error::file(public, format!("cannot write the public key: {e}")))?;
    print_lines([format!(
        "wrote the secret key to {} (keep it; sign with run --certificate F --sign-key {}) and the public key {public_hex} to {}",
        secret.display(),
        secret.display(),
        public.display()
    )])
}

/// An operation id, or an error listing the valid ones.
/// The environment for a command that sends nothing: every secret the
/// target file names reads as a placeholder, so none has to be exported.
pub(crate) fn no_secrets(_name: &str) -> Option<String> {
    Some("unused-by-this-command".into())
}

pub fn documented_operation<'c>(
    contract: &'c Contract,
    id: &str,
) -> Result<&'c crate::contract::Operation, Error> {
    contract
        .documented_operations()
        .find(|o| o.id == id)
        .ok_or_else(|| {
            let ids: Vec<&str> = contract
                .documented_operations()
                .map(|o| o.id.as_str())
                .collect();
            let hint = crate::error::nearest(id, ids.iter().copied())
                .map(|n| format!("did you mean `{n}`? "))
                .unwrap_or_default();
            Error::Usage(format!(
                "unknown operation `{id}`\n  ({hint}one of: {})",
                ids.join(", ")
            ))
        })
}

pub fn generate(contract: &Contract, args: &GenerateArgs) -> Result<i32, Error> {
    // Nothing is sent: the credentials the file names are not needed.
    let target = Target::load_or_builtin(args.target.as_deref(), no_secrets, "")?;
    let op = documented_operation(contract, &args.operation)?;
    let generator = Generator::new(contract, &target.fixtures, &target.project_id, args.seed);
    let target_flag = args
        .target
        .as_ref()
        .map(|p| format!(" --target {}", p.display()))
        .unwrap_or_default();
    let shown = args.target.as_ref().map(|_| &target);
    let lines = generator.cases(op, args.kind, args.count).map(|case| {
        let replay = format!(
            "nic-conformance run{target_flag} --seed {} --case {}",
            args.seed, case.id
        );
        crate::spec::case_line(contract, op, &case, shown, &replay).to_string()
    });
    print_lines(lines)
}

/// The fixture lines `mock` prints after its URL, pasteable into a target file.
fn fixture_lines(project: &str, fixtures: &Fixtures) -> Vec<String> {
    let mut lines = vec![format!("project_id = \"{project}\"")];
    for name in Fixtures::NAMES {
        lines.push(format!(
            "{name} = \"{}\"",
            fixtures.get(name).unwrap_or_default()
        ));
    }
    // The extras as TOML arrays, so the lines paste into a target file's [fixtures].
    let array = |ids: &[String]| {
        let quoted: Vec<String> = ids.iter().map(|i| format!("\"{i}\"")).collect();
        format!("[{}]", quoted.join(", "))
    };
    for (name, cidr) in [
        ("subnet_cidr", &fixtures.subnet_cidr),
        ("subnet_ipv6_cidr", &fixtures.subnet_ipv6_cidr),
    ] {
        if let Some(cidr) = cidr {
            lines.push(format!("{name} = \"{cidr}\""));
        }
    }
    for (name, ids) in [
        ("extra_spare_port_ids", &fixtures.extra_spare_port_ids),
        (
            "extra_security_group_ids",
            &fixtures.extra_security_group_ids,
        ),
        (
            "extra_sub_network_interface_ids",
            &fixtures.extra_sub_network_interface_ids,
        ),
    ] {
        if !ids.is_empty() {
            lines.push(format!("{name} = {}", array(ids)));
        }
    }
    // Inline tables, so they paste into [fixtures] like the rest.
    let servers: Vec<String> = (fixtures.extra_servers.iter())
        .map(|s| {
            format!(
                "{{ server_id = \"{}\", primary_port_id = \"{}\", spare_port_id = \"{}\", extra_spare_port_ids = {} }}",
                s.server_id,
                s.primary_port_id,
                s.spare_port_id,
                array(&s.extra_spare_port_ids)
            )
        })
        .collect();
    if !servers.is_empty() {
        lines.push(format!("extra_servers = [{}]", servers.join(", ")));
    }
    lines
}

pub async fn serve_mock(contract: Arc<Contract>, args: MockArgs) -> Result<i32, Error> {
    if args.list_faults {
        let lines = mock::faults::catalogue(&contract)
            .into_iter()
            .map(|f| format!("{}\t{}", f.name, f.breaks.join(", ")));
        return print_lines(lines);
    }
    // Only the fixtures are read: the credentials the file names are not needed.
    let target = Target::load_or_builtin(args.fixtures.as_deref(), no_secrets, "")?;
    let mut config = MockConfig::new(&target.project_id, target.fixtures.clone());
    config.faults = FaultSet::from_names(&contract, &args.faults)?;
    config.require_auth = args.require_auth;
    config.batch = args.batch;
    config.success = args.success;
    config.validate = args.validate;
    config.max_nics_per_server = args.max_nics_per_server;
    config.job_duration = std::time::Duration::from_millis(args.job_ms);
    config.latency = std::time::Duration::from_millis(args.latency_ms);
    let ak = env_var("NIC_MOCK_AK").unwrap_or_else(|| "TESTAKEXAMPLE0000000".into());
    let sk =
        env_var("NIC_MOCK_SK").unwrap_or_else(|| "testskexample00000000000000000000000000".into());
    config.credentials = vec![(ak, sk)];
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| Error::Usage(format!("cannot listen on {}: {e}", args.listen)))?;
    let mut served = mock::Mock::new(contract, config);
    if let Some(path) = &args.log {
        let out: Box<dyn Write + Send> = if path.as_os_str() == "-" {
            Box::new(std::io::stderr())
        } else {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| Error::file(path, format!("cannot write the request log: {e}")))?;
            Box::new(file)
        };
        served = served.with_log(out);
    }
    let running = mock::serve(Arc::new(served), listener)
        .await
        .map_err(|e| Error::Harness(format!("cannot serve the mock: {e}")))?;
    let mut lines = vec![running.base_url.clone()];
    lines.extend(fixture_lines(&target.project_id, &target.fixtures));
    print_lines(lines)?;
    let _ = tokio::signal::ctrl_c().await;
    running.stop().await;
    Ok(exit::OK)
}
