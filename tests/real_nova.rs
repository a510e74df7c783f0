//! Real OpenStack nova as a target: PyPI `nova`, served by
//! `tests/real-nova/serve.py` with nova's own functional-test cloud. The
//! harness finds out that it serves nova only, runs the nova-attach
//! operation and its reads through it (housekeeping through nova's own
//! detach), decides every rule, leaves the server as it found it, and
//! reports nothing but the nova behaviours reviewed in
//! `tests/real-nova/accepted.toml`.
//!
//! It needs a virtualenv with nova (`bash tests/real-nova/setup.sh`, which
//! `.ci/run` calls); without one it says so and passes.

mod common;
use common::{BIN, ROOT, text};

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The virtualenv's python: `NIC_REAL_NOVA_PYTHON`, or the one setup.sh makes.
fn python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NIC_REAL_NOVA_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let default = Path::new(ROOT).join("target/real-nova-venv/bin/python");
    default.exists().then_some(default)
}

/// The nova server, killed when dropped.
struct Nova {
    child: Child,
    url: String,
    project_id: String,
    fixtures: Value,
}

impl Drop for Nova {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_nova(python: &Path, dir: &Path) -> Nova {
    let facts = dir.join("nova.json");
    let mut child = Command::new(python)
        .arg(Path::new(ROOT).join("tests/real-nova/serve.py"))
        .arg(&facts)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start tests/real-nova/serve.py");
    let deadline = Instant::now() + Duration::from_secs(300);
    while !facts.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            panic!("real nova exited ({status}) before serving:\n{err}");
        }
        assert!(
            Instant::now() < deadline,
            "real nova did not start in 300 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&facts).unwrap()).unwrap();
    Nova {
        child,
        url: v["url"].as_str().unwrap().to_string(),
        project_id: v["project_id"].as_str().unwrap().to_string(),
        fixtures: v["fixtures"].clone(),
    }
}

/// A nova-only target file: no vpc_url, no supplementary NIC.
fn target_file(nova: &Nova, dir: &Path) -> PathBuf {
    let f = &nova.fixtures;
    let s = |k: &str| f[k].as_str().unwrap().to_string();
    let path = dir.join("nova.toml");
    std::fs::write(
        &path,
        format!(
            "[target]\nname = \"real-nova\"\necs_url = \"{}\"\nproject_id = \"{}\"\n\
             [fixtures]\nserver_id = \"{}\"\nprimary_port_id = \"{}\"\nspare_port_id = \"{}\"\n\
             network_id = \"{}\"\nsubnet_id = \"{}\"\nsecurity_group_id = \"{}\"\nsubnet_cidr = \"{}\"\n\
             [auth]\nkind = \"token\"\ntoken_env = \"REAL_NOVA_TOKEN\"\n\
             [limits]\ntimeout_secs = 60\njob_timeout_secs = 60\njob_poll_ms = 20\nrate_per_second = 0\n",
            nova.url,
            nova.project_id,
            s("server_id"),
            s("primary_port_id"),
            s("spare_port_id"),
            s("network_id"),
            s("subnet_id"),
            s("security_group_id"),
            s("subnet_cidr"),
        ),
    )
    .unwrap();
    path
}

/// The server's attachments, through nova's own list.
fn attached(nova: &Nova) -> Vec<String> {
    let url = format!(
        "{}/v2.1/{}/servers/{}/os-interface",
        nova.url,
        nova.project_id,
        nova.fixtures["server_id"].as_str().unwrap()
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let v: Value = rt.block_on(async {
        reqwest::Client::new()
            .get(url)
            .header("x-auth-token", "conformance")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let mut ports: Vec<String> = v["interfaceAttachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["port_id"].as_str().unwrap().to_string())
        .collect();
    ports.sort();
    ports
}

fn cli(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("REAL_NOVA_TOKEN", "conformance")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn real_nova_is_run_through_its_own_api_with_no_false_finding() {
    let Some(python) = python() else {
        eprintln!(
            "skipped: no virtualenv with nova (run `bash tests/real-nova/setup.sh`, or set NIC_REAL_NOVA_PYTHON)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let nova = start_nova(&python, dir.path());
    let file = target_file(&nova, dir.path());
    let file = file.to_str().unwrap();
    let before = attached(&nova);

    // `init` reads the same fixtures from nova's own answers (the spare, which
    // no documented read lists, is named), and `doctor` finds its file ready.
    let spare = nova.fixtures["spare_port_id"].as_str().unwrap();
    let o = cli(
        &[
            "init",
            "--ecs-url",
            &nova.url,
            "--project-id",
            &nova.project_id,
            "--server-id",
            nova.fixtures["server_id"].as_str().unwrap(),
            "--token-env",
            "REAL_NOVA_TOKEN",
            "--spare-port-id",
            spare,
            "--name",
            "real-nova-init",
            "--output",
            "init.toml",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "init: {}", text(&o));
    let written = std::fs::read_to_string(dir.path().join("init.toml")).unwrap();
    for key in ["primary_port_id", "network_id", "subnet_id"] {
        let value = nova.fixtures[key].as_str().unwrap();
        assert!(
            written.contains(&format!("{key} = \"{value}\"")),
            "{key}: {written}"
        );
    }
    let o = cli(&["doctor", "--target", "init.toml"], dir.path());
    let t = text(&o);
    // Nova has no security-group read here: the one value init leaves to fill in.
    assert!(t.contains("security_group_id"), "{t}");

    let o = cli(&["doctor", "--target", file], dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("ECS v1 not served, nova v2.1 served, VPC v3 not served"),
        "{t}"
    );
    assert!(t.contains("nova's interface detach"), "{t}");

    let baseline = format!("{ROOT}/tests/real-nova/accepted.toml");
    let mut accepted_ids: Vec<String> = Vec::new();
    for (seed, concurrency) in [(1, 4), (2, 1), (3, 8), (4, 4), (5, 4)] {
        let json = dir.path().join(format!("r-{seed}.json"));
        let (seed_s, conc_s) = (seed.to_string(), concurrency.to_string());
        let o = cli(
            &[
                "run",
                "--target",
                file,
                "--seed",
                &seed_s,
                "--concurrency",
                &conc_s,
                "--no-snapshots",
                "--baseline",
                &baseline,
                "--report-json",
                json.to_str().unwrap(),
            ],
            dir.path(),
        );
        let label = format!("seed {seed}, concurrency {concurrency}");
        assert_eq!(o.status.code(), Some(0), "{label}:\n{}", text(&o));
        let r: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(r["undecided"], 0, "{label}: {}", text(&o));
        assert!(r["findings"].as_array().unwrap().is_empty(), "{label}");
        assert!(text(&o).contains("not served by this target"), "{label}");
        for f in r["accepted_findings"].as_array().unwrap() {
            accepted_ids.push(f["id"].as_str().unwrap().to_string());
        }
        assert_eq!(
            attached(&nova),
            before,
            "{label}: the server is not as it was"
        );
    }
    // Every reviewed entry is still real nova behaviour (none went stale).
    let listed: toml::Value = toml::from_str(&std::fs::read_to_string(&baseline).unwrap()).unwrap();
    for entry in listed["accepted"].as_array().unwrap() {
        let id = entry["id"].as_str().unwrap();
        assert!(
            accepted_ids.iter().any(|a| a == id),
            "{id} is in the baseline but nova no longer shows it"
        );
    }
}
