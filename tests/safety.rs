//! Never harm the target: each promise of docs/safety.md,
//! through the binary against the built-in mock (or a server that
//! misbehaves on purpose). A run touches only what it made, puts back
//! every field it changed, owns its target alone, writes no output over
//! what it must not, stops on a signal, and shows a target's control
//! bytes escaped.

mod common;
use common::{ROOT, command, text, wait};

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nic_conformance::contract::Contract;
use nic_conformance::fixtures::{EXAMPLE_PROJECT_ID, example_fixtures};
use nic_conformance::mock::{BYSTANDER_PORT_ID, MockConfig, RunningMock, start_local};
use serde_json::Value;

/// A mock on loopback with jobs of `job_ms`, and the runtime that serves it.
fn mock(job_ms: u64) -> (tokio::runtime::Runtime, RunningMock) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut cfg = MockConfig::new(EXAMPLE_PROJECT_ID, example_fixtures());
    cfg.job_duration = Duration::from_millis(job_ms);
    let m = rt
        .block_on(start_local(Arc::new(Contract::builtin().unwrap()), cfg))
        .unwrap();
    (rt, m)
}

/// A target file for the fixture server at `url`, named `name`.
fn target_file(dir: &Path, file: &str, name: &str, url: &str, auth: &str) -> PathBuf {
    let f = example_fixtures();
    let path = dir.join(file);
    std::fs::write(
        &path,
        format!(
            r#"[target]
name = "{name}"
ecs_url = "{url}"
vpc_url = "{url}"
project_id = "{EXAMPLE_PROJECT_ID}"
[fixtures]
server_id = "{}"
primary_port_id = "{}"
spare_port_id = "{}"
network_id = "{}"
subnet_id = "{}"
security_group_id = "{}"
sub_network_interface_id = "{}"
subnet_cidr = "192.168.0.0/16"
[auth]
{auth}
[limits]
timeout_secs = 5
job_timeout_secs = 5
job_poll_ms = 5
rate_per_second = 0
"#,
            f.server_id,
            f.primary_port_id,
            f.spare_port_id,
            f.network_id,
            f.subnet_id,
            f.security_group_id,
            f.sub_network_interface_id
        ),
    )
    .unwrap();
    path
}

fn cli_env(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Output {
    common::run_in(args, cwd, env)
}

fn cli(args: &[&str], cwd: &Path) -> Output {
    cli_env(args, cwd, &[])
}

/// `COMMAND --target FILE --ledger LEDGER [extra]`.
fn with_target(command: &str, file: &Path, ledger: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        command,
        "--target",
        file.to_str().unwrap(),
        "--ledger",
        ledger.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    cli(&args, Path::new(ROOT))
}

/// Starts a run in the background and waits until it has attached a NIC.
/// The mock server's NICs before any run: its primary, and someone else's.
fn as_before_the_run() -> [String; 2] {
    [
        example_fixtures().primary_port_id,
        BYSTANDER_PORT_ID.to_string(),
    ]
}

fn run_until_attached(file: &Path, ledger: &Path, extra: &[&str], mock: &RunningMock) -> Child {
    let mut args = vec![
        "run",
        "--target",
        file.to_str().unwrap(),
        "--ledger",
        ledger.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let child = command(&args, Path::new(ROOT), &[]).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    // The primary and someone else's NIC are there before the run.
    while mock.mock.attached_ports().len() < 3 {
        assert!(Instant::now() < deadline, "the run never attached anything");
        std::thread::sleep(Duration::from_millis(5));
    }
    child
}

/// Attaches a new NIC to the fixture server by hand, as someone else
/// sharing the account would; returns its port id.
fn attach_by_hand(rt: &tokio::runtime::Runtime, mock: &RunningMock) -> String {
    let f = example_fixtures();
    let url = format!(
        "{}/v2.1/{EXAMPLE_PROJECT_ID}/servers/{}/os-interface",
        mock.base_url, f.server_id
    );
    let body = serde_json::json!({"interfaceAttachment": {"net_id": f.network_id}});
    let answer: Value = rt.block_on(async {
        let a = reqwest::Client::new()
            .post(url)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(a.status(), 200);
        a.json().await.unwrap()
    });
    answer["interfaceAttachment"]["port_id"]
        .as_str()
        .unwrap()
        .to_string()
}

const QUICK: [&str; 6] = [
    "--seed",
    "3",
    "--budget",
    "5",
    "--no-snapshots",
    "--no-curated",
];

/// Created means recorded: after a finished run `cleanup` changes nothing,
/// and after a killed one it deletes only the NICs its ledger names; a NIC
/// someone attached by hand survives both.
#[test]
fn cleanup_deletes_only_what_the_ledger_records() {
    let (rt, mock) = mock(20);
    let dir = tempfile::tempdir().unwrap();
    let url = mock.base_url.clone();
    let file = target_file(dir.path(), "t.toml", "safety", &url, "kind = \"none\"");
    let ledger = dir.path().join("ledger.jsonl");
    let f = example_fixtures();

    let o = with_target("run", &file, &ledger, &QUICK);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let by_hand = attach_by_hand(&rt, &mock);
    let o = with_target("cleanup", &file, &ledger, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("nothing was changed"), "{}", text(&o));
    assert!(
        mock.mock.attached_ports().contains(&by_hand),
        "cleanup deleted a NIC the run never made: {}",
        text(&o)
    );

    // Killed halfway; someone attaches a NIC before the cleanup.
    let mut extra = QUICK.to_vec();
    extra[3] = "60";
    extra.extend(["--concurrency", "1"]);
    let mut child = run_until_attached(&file, &ledger, &extra, &mock);
    child.kill().unwrap();
    let _ = child.wait();
    let second = attach_by_hand(&rt, &mock);
    let o = with_target("cleanup", &file, &ledger, &[]);
    let attached = mock.mock.attached_ports();
    for hand in [&by_hand, &second] {
        assert!(attached.contains(hand), "{hand} deleted: {}", text(&o));
    }
    // A NIC the run may have made but never named is only reported.
    let named = text(&o).contains("UNCERTAIN");
    assert_eq!(
        o.status.code(),
        Some(if named { 1 } else { 0 }),
        "{}",
        text(&o)
    );
    let others: Vec<&String> = attached
        .iter()
        .filter(|p| ![&f.primary_port_id, &by_hand, &second].contains(p))
        .collect();
    assert!(others.len() <= 1, "the run's NICs are left: {others:?}");
    rt.block_on(mock.stop());
}

/// A killed run over two servers is undone on both: each server's ledger
/// names what the run made there, `doctor` says which ledger is not
/// clean, and one `cleanup` puts both servers back.
#[test]
fn a_killed_run_over_two_servers_is_undone_on_both() {
    use nic_conformance::fixtures::ServerFixtures;
    let second = ServerFixtures {
        server_id: "6e2f4c1a-8f0b-4a7e-9b52-000000000002".into(),
        primary_port_id: "a1d0f6b2-3c4e-4f5a-8b6c-000000000002".into(),
        spare_port_id: "ce531f90-199f-48c0-816c-000000000002".into(),
        extra_spare_port_ids: Vec::new(),
    };
    let mut fixtures = example_fixtures();
    fixtures.extra_servers = vec![second.clone()];
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut cfg = MockConfig::new(EXAMPLE_PROJECT_ID, fixtures);
    cfg.job_duration = Duration::from_millis(20);
    let mock = rt
        .block_on(start_local(Arc::new(Contract::builtin().unwrap()), cfg))
        .unwrap();
    let before = mock.mock.attached_to(&second.server_id);
    let dir = tempfile::tempdir().unwrap();
    let file = target_file(
        dir.path(),
        "t.toml",
        "two",
        &mock.base_url,
        "kind = \"none\"",
    );
    let text_of = std::fs::read_to_string(&file).unwrap().replace(
        "[auth]",
        &format!(
            "[[fixtures.extra_servers]]\nserver_id = \"{}\"\nprimary_port_id = \"{}\"\nspare_port_id = \"{}\"\n[auth]",
            second.server_id, second.primary_port_id, second.spare_port_id
        ),
    );
    std::fs::write(&file, text_of).unwrap();
    let ledger = dir.path().join("ledger.jsonl");
    let second_ledger = dir
        .path()
        .join(format!("ledger.server-{}.jsonl", second.server_id));

    let mut extra = QUICK.to_vec();
    extra[3] = "60";
    let mut child = command(
        &[
            &[
                "run",
                "--target",
                file.to_str().unwrap(),
                "--ledger",
                ledger.to_str().unwrap(),
            ],
            &extra[..],
        ]
        .concat(),
        Path::new(ROOT),
        &[],
    )
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while mock.mock.attached_to(&second.server_id).len() <= before.len() {
        assert!(
            Instant::now() < deadline,
            "the run never attached anything to the second server"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    let _ = child.wait();
    assert!(
        second_ledger.exists(),
        "the second server keeps a ledger of its own"
    );

    let o = with_target("doctor", &file, &ledger, &[]);
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("FAILED    ledger ({})", second_ledger.display())),
        "doctor names the second server's ledger: {}",
        text(&o)
    );
    let o = with_target("cleanup", &file, &ledger, &[]);
    let named = text(&o).contains("UNCERTAIN");
    assert_eq!(
        o.status.code(),
        Some(if named { 1 } else { 0 }),
        "{}",
        text(&o)
    );
    let left: Vec<String> = (mock.mock.attached_to(&second.server_id).into_iter())
        .filter(|p| !before.contains(p))
        .collect();
    assert!(
        left.len() <= usize::from(named),
        "the run's NICs are left on the second server: {left:?}\n{}",
        text(&o)
    );
    assert!(!left.contains(&second.spare_port_id), "{}", text(&o));
    rt.block_on(mock.stop());
}

/// No baseline, no write: when the server's NICs cannot be read, the run
/// stops with exit 2 before its first write; a read that fails twice and
/// then answers is waited for.
#[test]
fn a_run_without_a_baseline_writes_nothing() {
    let (rt, mock) = mock(1);
    let dir = tempfile::tempdir().unwrap();
    let file = target_file(
        dir.path(),
        "t.toml",
        "safety",
        &mock.base_url,
        "kind = \"none\"",
    );
    let ledger = dir.path().join("ledger.jsonl");
    mock.mock.make_listings_unavailable(1_000);
    let o = with_target("run", &file, &ledger, &QUICK);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("answered 503"), "{}", text(&o));
    assert_eq!(mock.mock.writes(), 0, "a write without a baseline");
    mock.mock.make_listings_unavailable(2);
    let o = with_target("run", &file, &ledger, &QUICK);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    rt.block_on(mock.stop());
}

/// The primary NIC is never the harness's to change: the update cases work
/// on a spare, and a curated case that names the primary has its field
/// recorded first and put back after, by the run or by `cleanup`.
#[test]
fn the_primary_nics_fields_are_unchanged_after_a_run_and_after_cleanup() {
    let (rt, mock) = mock(5);
    let dir = tempfile::tempdir().unwrap();
    let file = target_file(
        dir.path(),
        "t.toml",
        "safety",
        &mock.base_url,
        "kind = \"none\"",
    );
    let ledger = dir.path().join("ledger.jsonl");
    let primary = example_fixtures().primary_port_id;
    let before = mock.mock.delete_on_termination(&primary);
    assert_eq!(before, Some(false));
    // The page's example sets true: it must not land on the primary.
    let o = with_target(
        "run",
        &file,
        &ledger,
        &[
            "--operation",
            "update-interface-attachment",
            "--no-snapshots",
            "--budget",
            "10",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(mock.mock.delete_on_termination(&primary), before);

    // A curated case aimed at the primary: recorded, changed, put back.
    let cases = dir.path().join("cases");
    std::fs::create_dir(&cases).unwrap();
    std::fs::write(
        cases.join("primary.json"),
        r#"{"operation": "update-interface-attachment", "cases": [
            {"name": "primary", "path": {"port_id": "{primary_port_id}"},
             "body": {"interface_attachment": {"delete_on_termination": true}}, "expect": "200"}]}"#,
    )
    .unwrap();
    let o = with_target(
        "run",
        &file,
        &ledger,
        &[
            "--operation",
            "update-interface-attachment",
            "--cases",
            cases.to_str().unwrap(),
            "--budget",
            "0",
            "--kind",
            "valid",
            "--no-snapshots",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(mock.mock.delete_on_termination(&primary), before);
    let log = std::fs::read_to_string(&ledger).unwrap();
    assert!(log.contains("\"port-fields\"") && log.contains("\"port-restored\""));

    // A run killed with SIGKILL right after it changed the primary: `cleanup`
    // puts the field back from the ledger.
    let child = command(
        &[
            "run",
            "--target",
            file.to_str().unwrap(),
            "--ledger",
            ledger.to_str().unwrap(),
            "--operation",
            "update-interface-attachment",
            "--cases",
            cases.to_str().unwrap(),
            "--no-snapshots",
            "--rate",
            "5",
        ],
        Path::new(ROOT),
        &[],
    )
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while mock.mock.delete_on_termination(&primary) != Some(true) {
        assert!(
            Instant::now() < deadline,
            "the run never updated the primary"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    signal(&child, "KILL");
    let _ = wait(child, Duration::from_secs(30), &["killed run"]);
    let o = with_target("cleanup", &file, &ledger, &["--include-uncertain"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("restored port {primary}")),
        "{}",
        text(&o)
    );
    assert_eq!(mock.mock.delete_on_termination(&primary), before);
    assert_eq!(mock.mock.attached_ports(), as_before_the_run());

    // A run killed after changing it: `cleanup` puts it back from the ledger.
    let killed = format!(
        "{{\"entry\":\"run\",\"started\":\"x\",\"seed\":1,\"target\":\"safety\"}}\n\
         {{\"entry\":\"baseline\",\"server_id\":\"{}\",\"attached\":[\"{primary}\"]}}\n\
         {{\"entry\":\"port-fields\",\"port_id\":\"{primary}\",\"fields\":{{\"delete_on_termination\":false}}}}\n",
        example_fixtures().server_id
    );
    std::fs::write(&ledger, killed).unwrap();
    let o = with_target(
        "run",
        &file,
        &ledger,
        &["--cases", cases.to_str().unwrap(), "--no-snapshots"],
    );
    assert_eq!(o.status.code(), Some(2), "an open ledger blocks a run");
    set_delete_on_termination(&rt, &mock, &primary, true);
    let doctor = with_target("doctor", &file, &ledger, &[]);
    assert_eq!(doctor.status.code(), Some(2), "{}", text(&doctor));
    let o = with_target("cleanup", &file, &ledger, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(mock.mock.delete_on_termination(&primary), before);
    // The ledger's record against the target: a field changed by hand since shows.
    set_delete_on_termination(&rt, &mock, &primary, true);
    let doctor = with_target("doctor", &file, &ledger, &[]);
    assert_eq!(doctor.status.code(), Some(2), "{}", text(&doctor));
    assert!(
        text(&doctor).contains("delete_on_termination is true (the run found false)"),
        "{}",
        text(&doctor)
    );
    rt.block_on(mock.stop());
}

fn set_delete_on_termination(
    rt: &tokio::runtime::Runtime,
    mock: &RunningMock,
    port: &str,
    value: bool,
) {
    let f = example_fixtures();
    let url = format!(
        "{}/v1/{EXAMPLE_PROJECT_ID}/cloudservers/{}/os-interface/{port}",
        mock.base_url, f.server_id
    );
    let body = serde_json::json!({"interface_attachment": {"delete_on_termination": value}});
    let status = rt.block_on(async {
        reqwest::Client::new()
            .put(url)
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200);
}

/// One owner per target: a second run while one holds the target exits 2
/// naming the holder; a holder killed with SIGKILL is taken over with a
/// notice.
#[test]
fn a_second_run_on_a_locked_target_exits_2_naming_the_holder() {
    let (rt, mock) = mock(50);
    let dir = tempfile::tempdir().unwrap();
    let file = target_file(
        dir.path(),
        "t.toml",
        "safety",
        &mock.base_url,
        "kind = \"none\"",
    );
    let ledger = dir.path().join("ledger.jsonl");
    let mut extra = QUICK.to_vec();
    extra[3] = "200";
    let mut first = run_until_attached(&file, &ledger, &extra, &mock);
    let pid = first.id();
    let writes = mock.mock.writes();
    for (command, extra) in [("run", &QUICK[..4]), ("cleanup", &[][..])] {
        let o = with_target(command, &file, &ledger, extra);
        assert_eq!(o.status.code(), Some(2), "{command}: {}", text(&o));
        assert!(
            text(&o).contains(&format!("in use by another run: pid {pid}")),
            "{command}: {}",
            text(&o)
        );
    }
    let doctor = with_target("doctor", &file, &ledger, &[]);
    assert!(
        text(&doctor).contains("in use by a run"),
        "{}",
        text(&doctor)
    );
    first.kill().unwrap();
    let _ = first.wait();
    // Only the first run wrote (the second never started).
    assert!(mock.mock.writes() >= writes);
    let o = with_target("cleanup", &file, &ledger, &["--include-uncertain"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(&"took over the lock on server".to_string()),
        "{}",
        text(&o)
    );
    assert_eq!(mock.mock.attached_ports(), as_before_the_run());
    rt.block_on(mock.stop());
}

/// The CI recipe of docs/ci.md, as written: shards in parallel, each on a target
/// file of its own, pass with no finding. The same shards sharing one target
/// file are refused (exit 2), never judged on each other's changes.
#[test]
fn the_readmes_parallel_shard_recipe_passes_with_no_finding() {
    let dir = tempfile::tempdir().unwrap();
    let mocks: Vec<(tokio::runtime::Runtime, RunningMock)> = (0..3).map(|_| mock(5)).collect();
    let ci = dir.path().join("ci");
    std::fs::create_dir(&ci).unwrap();
    for (k, (_, m)) in mocks.iter().enumerate() {
        target_file(
            &ci,
            &format!("shard-{}.toml", k + 1),
            "ci-region",
            &m.base_url,
            "kind = \"none\"",
        );
    }
    let shard_run = |k: usize, file: &str| {
        let (target, shard) = (format!("ci/{file}"), format!("{k}/3"));
        let (junit, json) = (format!("junit-{k}.xml"), format!("report-{k}.json"));
        let args = [
            "run",
            "--target",
            &target,
            "--seed",
            "20261122",
            "--shard",
            &shard,
            "--junit",
            &junit,
            "--report-json",
            &json,
            "--no-snapshots",
        ]
        .map(str::to_string);
        command(&args.each_ref().map(String::as_str), dir.path(), &[])
            .spawn()
            .unwrap()
    };
    let children: Vec<Child> = (1..=3)
        .map(|k| shard_run(k, &format!("shard-{k}.toml")))
        .collect();
    for (k, child) in children.into_iter().enumerate() {
        let o = wait(child, Duration::from_secs(120), &["shard"]);
        assert_eq!(o.status.code(), Some(0), "shard {}: {}", k + 1, text(&o));
    }
    for (_, m) in &mocks {
        assert_eq!(m.mock.attached_ports(), as_before_the_run());
    }
    // The unsafe variant: every shard on one target file, at once.
    let children: Vec<Child> = (1..=3).map(|k| shard_run(k, "shard-1.toml")).collect();
    let codes: Vec<Option<i32>> = children
        .into_iter()
        .map(|c| wait(c, Duration::from_secs(120), &["shard"]).status.code())
        .collect();
    assert!(
        codes.iter().all(|c| matches!(c, Some(0) | Some(2))),
        "a shard judged another's changes: {codes:?}"
    );
    assert!(codes.contains(&Some(2)), "no shard was refused: {codes:?}");
    for (rt, m) in mocks {
        rt.block_on(m.stop());
    }
}

/// Outputs: a report path that is a FIFO, a device node, a symlink, the
/// target file, or another report's path is refused with exit 2 before any
/// request, and left as it was.
#[cfg(unix)]
#[test]
fn report_paths_that_must_not_be_replaced_are_refused() {
    use std::os::unix::fs::FileTypeExt;
    let (rt, mock) = mock(1);
    let dir = tempfile::tempdir().unwrap();
    let file = target_file(
        dir.path(),
        "t.toml",
        "safety",
        &mock.base_url,
        "kind = \"none\"",
    );
    let target_text = std::fs::read_to_string(&file).unwrap();
    let fifo = dir.path().join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let real = dir.path().join("real.json");
    std::fs::write(&real, "keep").unwrap();
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let device = dir.path().join("null");
    // Root makes a device node; elsewhere the system's own stands in.
    let made = Command::new("mknod")
        .args([device.to_str().unwrap(), "c", "1", "3"])
        .status()
        .is_ok_and(|s| s.success());
    let device = if made {
        device
    } else {
        PathBuf::from("/dev/null")
    };
    let same = dir.path().join("same.json");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--report-json", fifo.to_str().unwrap()],
            "not a regular file",
        ),
        (
            vec!["--junit", device.to_str().unwrap()],
            "not a regular file",
        ),
        (vec!["--report-html", link.to_str().unwrap()], "symlink"),
        (
            vec!["--report-json", file.to_str().unwrap()],
            "an input of this command",
        ),
        (
            vec![
                "--report-json",
                same.to_str().unwrap(),
                "--junit",
                same.to_str().unwrap(),
            ],
            "another output",
        ),
    ];
    let ledger = dir.path().join("ledger.jsonl");
    for (extra, why) in cases {
        let mut args = QUICK.to_vec();
        args.extend(extra);
        let o = with_target("run", &file, &ledger, &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(why), "{args:?}: {}", text(&o));
    }
    let o = cli(&["spec", "--output", link.to_str().unwrap()], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(mock.mock.writes(), 0);
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&real).unwrap(), "keep");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), target_text);
    assert!(!same.exists());
    rt.block_on(mock.stop());
}

fn signal(child: &Child, name: &str) {
    Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
}

/// Signals and bounds: SIGTERM stops a long dry run within 2 s; a budget
/// beyond memory is refused; after SIGTERM the cleanup gets its grace and
/// then the run exits naming the ledger and `cleanup`.
#[test]
fn signals_stop_long_work_and_cleanup_has_a_deadline() {
    let root = Path::new(ROOT);
    let o = cli(
        &["run", "--dry-run", "--budget", "18446744073709551615"],
        root,
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("at most 1000000"), "{}", text(&o));

    let mut cmd = command(&["run", "--dry-run", "--budget", "1000000"], root, &[]);
    let child = cmd.stdout(Stdio::null()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let sent = Instant::now();
    signal(&child, "TERM");
    let o = wait(child, Duration::from_secs(60), &["dry run"]);
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "took {:?}",
        sent.elapsed()
    );
    assert_eq!(o.status.code(), Some(143), "{}", text(&o));

    let (rt, mock) = mock(20);
    let dir = tempfile::tempdir().unwrap();
    let file = target_file(
        dir.path(),
        "t.toml",
        "safety",
        &mock.base_url,
        "kind = \"none\"",
    );
    let ledger = dir.path().join("ledger.jsonl");
    // One request a second: the cases and their cleanup crawl.
    let mut extra = QUICK.to_vec();
    extra.extend(["--rate", "1", "--shutdown-grace", "2", "--concurrency", "4"]);
    let child = run_until_attached(&file, &ledger, &extra, &mock);
    let sent = Instant::now();
    signal(&child, "TERM");
    let o = wait(child, Duration::from_secs(60), &["slow run"]);
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "took {:?}",
        sent.elapsed()
    );
    assert_eq!(o.status.code(), Some(143), "{}", text(&o));
    let mut t = text(&o);
    if t.contains("shutdown grace") {
        assert!(
            t.contains("cleanup --target") && t.contains("ledger"),
            "{t}"
        );
        let o = with_target("cleanup", &file, &ledger, &["--include-uncertain"]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        t.push_str(&text(&o));
        t.push_str(&std::fs::read_to_string(&ledger).unwrap());
    }
    assert_eq!(mock.mock.attached_ports(), as_before_the_run(), "{t}");
    rt.block_on(mock.stop());
}

/// A credential that cannot be a header (a pasted CR LF) is refused when
/// the target file is loaded, before the preflight.
#[test]
fn a_credential_with_a_line_break_is_refused_at_load() {
    let (rt, mock) = mock(1);
    let dir = tempfile::tempdir().unwrap();
    let auth = "kind = \"token\"\ntoken_env = \"SAFETY_TOKEN\"";
    let file = target_file(dir.path(), "t.toml", "safety", &mock.base_url, auth);
    let o = cli_env(
        &["run", "--target", file.to_str().unwrap()],
        dir.path(),
        &[("SAFETY_TOKEN", "abc\r\nX-Injected: 1")],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("SAFETY_TOKEN"), "{}", text(&o));
    assert!(!text(&o).contains("X-Injected"), "the value is never shown");
    assert!(text(&o).contains("control or non-ASCII"), "{}", text(&o));
    assert_eq!(mock.mock.writes(), 0);
    // Refused at load: no preflight ran, so no ledger was opened (and left open).
    assert!(
        !dir.path().join(".nic-conformance").exists(),
        "{}",
        text(&o)
    );
    rt.block_on(mock.stop());
}

/// A torn last line (a write cut by a crash) is dropped with a notice, and
/// later runs and cleanups go on; earlier runs' lines are never lost.
#[test]
fn a_torn_ledger_line_is_dropped_and_later_runs_go_on() {
    let (rt, mock) = mock(1);
    let dir = tempfile::tempdir().unwrap();
    let file = target_file(
        dir.path(),
        "t.toml",
        "safety",
        &mock.base_url,
        "kind = \"none\"",
    );
    let ledger = dir.path().join("ledger.jsonl");
    let o = with_target("run", &file, &ledger, &QUICK);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let first = std::fs::read_to_string(&ledger).unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&ledger)
        .unwrap()
        .write_all(b"{\"entry\":\"crea")
        .unwrap();
    let o = with_target("run", &file, &ledger, &QUICK);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("dropped a torn last line"),
        "{}",
        text(&o)
    );
    let o = with_target("run", &file, &ledger, &QUICK);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let all = std::fs::read_to_string(&ledger).unwrap();
    assert!(all.starts_with(&first), "an earlier run's lines were lost");
    assert_eq!(all.matches("\"entry\":\"run\"").count(), 3);
    rt.block_on(mock.stop());
}

/// A server that lists the fixture's primary NIC on every read and answers
/// every write 400 with a body full of terminal control bytes.
fn control_bytes_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                let _ = s.set_read_timeout(Some(Duration::from_millis(300)));
                let n = s.read(&mut buf).unwrap_or(0);
                let (status, body) = if buf[..n].starts_with(b"GET") {
                    let primary = example_fixtures().primary_port_id;
                    (
                        "200 OK",
                        format!("{{\"interfaceAttachments\": [{{\"port_id\": \"{primary}\"}}]}}"),
                    )
                } else {
                    (
                        "400 Bad Request",
                        "{\"error\": {\"message\": \"\u{1b}[2J\u{1b}[H\u{7}exit 0\r\u{0}\"}}"
                            .into(),
                    )
                };
                let _ = s.write_all(
                    format!(
                        "HTTP/1.1 {status}\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                );
            });
        }
    });
    port
}

/// Control bytes from a target reach neither the console nor the HTML page raw.
#[test]
fn a_targets_control_bytes_are_shown_escaped() {
    let port = control_bytes_server();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let file = target_file(dir.path(), "t.toml", "safety", &url, "kind = \"none\"");
    let ledger = dir.path().join("ledger.jsonl");
    let html = dir.path().join("r.html");
    let o = with_target(
        "run",
        &file,
        &ledger,
        &[
            "--operation",
            "update-sub-network-interface",
            "--no-curated",
            "--budget",
            "1",
            "--kind",
            "valid",
            "--no-snapshots",
            "-v",
            "--report-html",
            html.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let page = std::fs::read(&html).unwrap();
    for (what, bytes) in [
        ("stdout", &o.stdout),
        ("stderr", &o.stderr),
        ("page", &page),
    ] {
        for raw in [0x1b_u8, 0x07, 0x00, b'\r'] {
            assert!(
                !bytes.contains(&raw),
                "{what} holds byte {raw:#04x}: {}",
                text(&o)
            );
        }
    }
    assert!(text(&o).contains("\\u001b[2J"), "{}", text(&o));
}

/// A second Ctrl-C quits at once (exit 130) naming the ledger and
/// `cleanup`, and leaves no hidden scratch file beside the JSON report.
#[test]
fn a_second_interrupt_quits_at_once_and_leaves_no_scratch_file() {
    let (rt, mock) = mock(20);
    let dir = tempfile::tempdir().unwrap();
    let file = target_file(
        dir.path(),
        "t.toml",
        "safety",
        &mock.base_url,
        "kind = \"none\"",
    );
    let ledger = dir.path().join("ledger.jsonl");
    let json = dir.path().join("r.json");
    let mut extra = QUICK.to_vec();
    extra.extend(["--rate", "2", "--report-json", json.to_str().unwrap()]);
    let child = run_until_attached(&file, &ledger, &extra, &mock);
    signal(&child, "INT");
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, "INT");
    let o = wait(child, Duration::from_secs(30), &["interrupted run"]);
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    assert!(text(&o).contains("cleanup --target"), "{}", text(&o));
    let hidden: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".r.json"))
        .collect();
    assert!(hidden.is_empty(), "left behind: {hidden:?}");
    let o = with_target("cleanup", &file, &ledger, &["--include-uncertain"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(mock.mock.attached_ports(), as_before_the_run());
    rt.block_on(mock.stop());
}

/// `init` writes a target file from the server's own reads (the primary port,
/// its network and subnet, a supplementary NIC, a security group) and sends
/// nothing but reads; with the spare it cannot discover named, `doctor` finds
/// the written file ready. It never replaces a file without --force.
#[test]
fn init_writes_a_ready_target_file_from_reads_alone() {
    let (_rt, m) = mock(1);
    let f = example_fixtures();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.toml");
    let init = |extra: &[&str]| {
        let mut args = vec![
            "init",
            "--ecs-url",
            &m.base_url,
            "--vpc-url",
            &m.base_url,
            "--project-id",
            EXAMPLE_PROJECT_ID,
            "--server-id",
            &f.server_id,
            "--auth",
            "token",
            "--name",
            "fresh",
            "--output",
            "t.toml",
        ];
        args.extend(extra);
        cli_env(&args, dir.path(), &[("NIC_TOKEN", "secret-token-value")])
    };
    let o = init(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("fill in the 1 value(s) marked FILL IN"),
        "{}",
        text(&o)
    );
    assert_eq!(m.mock.writes(), 0, "init wrote to the target");
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(!written.contains("secret-token-value"), "{written}");
    for (key, value) in [
        ("primary_port_id", &f.primary_port_id),
        ("network_id", &f.network_id),
        ("subnet_id", &f.subnet_id),
        ("sub_network_interface_id", &f.sub_network_interface_id),
        ("security_group_id", &f.security_group_id),
    ] {
        assert!(
            written.contains(&format!("{key} = \"{value}\"")),
            "{key} is not {value}:\n{written}"
        );
    }
    assert!(written.contains("token_env = \"NIC_TOKEN\""), "{written}");
    let o = init(&["--spare-port-id", &f.spare_port_id]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "an existing file is kept: {}",
        text(&o)
    );
    assert!(text(&o).contains("--force"), "{}", text(&o));
    let o = init(&["--spare-port-id", &f.spare_port_id, "--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = cli_env(
        &["doctor", "--target", "t.toml"],
        dir.path(),
        &[("NIC_TOKEN", "secret-token-value")],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "doctor on the written file: {}",
        text(&o)
    );
    assert_eq!(m.mock.writes(), 0);
    // A target that answers neither list: a clear error, no file.
    let o = cli_env(
        &[
            "init",
            "--ecs-url",
            &m.base_url,
            "--project-id",
            EXAMPLE_PROJECT_ID,
            "--server-id",
            "no-such-server",
            "--auth",
            "none",
            "--output",
            "u.toml",
        ],
        dir.path(),
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("neither list of the server's NICs answered"),
        "{}",
        text(&o)
    );
    assert!(!dir.path().join("u.toml").exists());
}
