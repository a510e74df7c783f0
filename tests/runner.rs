//! The runner, end to end through the binary: a clean run against the
//! faithful mock, every fault profile caught with exactly its ids, hostile
//! servers reported and survived, configuration errors explained, shards
//! that add up, dry runs that send nothing, and secrets that never leak.

mod common;
use common::{BIN, ROOT, text};

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

fn run(args: &[&str]) -> Output {
    run_env(args, &[])
}

fn run_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut args: Vec<&str> = args.to_vec();
    // Each run against a target file keeps its own ledger, away from the checkout.
    let ledger_dir = tempfile::tempdir().unwrap();
    let ledger = ledger_dir.path().join("ledger.jsonl");
    let ledger = ledger.to_str().unwrap();
    let writes_ledger = matches!(
        args.first(),
        Some(&"run") | Some(&"cleanup") | Some(&"doctor")
    );
    if writes_ledger && args.contains(&"--target") && !args.contains(&"--ledger") {
        args.extend(["--ledger", ledger]);
    }
    common::run_in(&args, Path::new(ROOT), env)
}

fn report(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn finding_ids(r: &Value) -> BTreeSet<String> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_default_run_against_the_faithful_mock_has_no_finding() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let junit = dir.path().join("junit.xml");
    let o = run(&[
        "run",
        "--seed",
        "4",
        "--report-json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = report(&json);
    assert!(
        r["findings"].as_array().unwrap().is_empty(),
        "{}",
        r["findings"]
    );
    let cases = r["cases"].as_u64().unwrap();
    assert!(cases > 300, "{cases} cases");
    // Every rule of the documented operations was exercised.
    for rule in r["rules"].as_array().unwrap() {
        let id = rule["id"].as_str().unwrap();
        assert_ne!(rule["status"], "never exercised", "{id} never exercised");
    }
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count() as u64, cases);
    assert!(
        text(&o).contains("update-sub-network-interface"),
        "summary per operation"
    );
}

/// Servers that differ from the default mock only where the pages allow it
/// (batches per NIC or all-or-nothing; 200 or another 2xx where no status is
/// printed; addresses checked against the subnet and in use, as the mock
/// always does): no `must` finding for any of them, and exit 0.
#[test]
fn servers_that_differ_only_where_the_pages_allow_get_no_must_finding() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (batch, success)) in [
        ("atomic", "usual"),
        ("per-nic", "other"),
        ("atomic", "other"),
    ]
    .into_iter()
    .enumerate()
    {
        for seed in ["11", "12"] {
            let json = dir.path().join(format!("r{i}-{seed}.json"));
            let o = run(&[
                "run",
                "--seed",
                seed,
                "--mock-batch",
                batch,
                "--mock-success",
                success,
                "--report-json",
                json.to_str().unwrap(),
            ]);
            assert_eq!(o.status.code(), Some(0), "{batch} {success}: {}", text(&o));
            let r = report(&json);
            let musts: Vec<&Value> = r["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["severity"] == "must")
                .collect();
            assert!(musts.is_empty(), "{batch} {success} seed {seed}: {musts:?}");
            let ids = finding_ids(&r);
            let expected: BTreeSet<String> = if success == "other" {
                ["response.usual-status".to_string()].into()
            } else {
                BTreeSet::new()
            };
            assert_eq!(ids, expected, "{batch} {success} seed {seed}");
        }
    }
    // A 202 answer starts a job like 200 does: its effect is still checked,
    // so a deleted NIC that stays listed is caught under either status.
    let json = dir.path().join("effect.json");
    let o = run(&[
        "run",
        "--seed",
        "1",
        "--mock-success",
        "other",
        "--mock-fault",
        "deleted-nic-stays-listed",
        "--no-snapshots",
        "--report-json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let musts: BTreeSet<String> = report(&json)["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "must")
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(musts, ["batch-delete.job-detaches".to_string()].into());
}

fn faults() -> Vec<(String, BTreeSet<String>)> {
    let o = run(&["mock", "--list-faults"]);
    assert_eq!(o.status.code(), Some(0));
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (name, ids) = l.split_once('\t').expect("name<TAB>ids");
            (
                name.to_string(),
                ids.split(", ").map(str::to_string).collect(),
            )
        })
        .collect()
}

#[test]
fn every_fault_profile_fails_the_run_with_exactly_the_ids_it_breaks() {
    let faults = faults();
    assert!(faults.len() > 40, "{} faults", faults.len());
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (name, breaks) in &faults {
        let json = dir.path().join(format!("{}.json", name.replace(':', "_")));
        let mut args = vec![
            "run",
            "--seed",
            "1",
            "--budget",
            "0",
            "--fail-on",
            "should",
            "--job-timeout",
            "0.3",
            "--mock-fault",
            name,
            "--report-json",
            json.to_str().unwrap(),
        ];
        if !breaks.contains("snapshot.drift") {
            args.push("--no-snapshots");
        }
        let o = run(&args);
        if o.status.code() != Some(1) {
            failures.push(format!("{name}: exit {:?}\n{}", o.status.code(), text(&o)));
            continue;
        }
        let mut found = finding_ids(&report(&json));
        // A spare left in use refuses whichever case leases it next; when that
        // case rests on an open reading (a curated port-ignores-ip), its
        // refusal is noted there rather than as a wrong status.
        if name == "port-stays-in-use" {
            found.remove("request.open-reading");
        }
        if &found != breaks {
            failures.push(format!(
                "{name}: expected exactly {breaks:?}, report names {found:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_configuration_error_names_the_file_the_key_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.toml");
    std::fs::write(
        &file,
        target_toml(
            "http://127.0.0.1:9",
            "kind = \"token\"\ntoken_env = \"NIC_TEST_TOKEN_UNSET\"",
            "",
        ),
    )
    .unwrap();
    let o = run(&["run", "--target", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let t = text(&o);
    assert!(
        t.contains("t.toml")
            && t.contains("auth.token_env")
            && t.contains("fix: export NIC_TEST_TOKEN_UNSET="),
        "{t}"
    );
    std::fs::write(&file, target_toml("not a url", "kind = \"none\"", "")).unwrap();
    let t = text(&run(&["run", "--target", file.to_str().unwrap()]));
    assert!(t.contains("target.ecs_url") && t.contains("fix:"), "{t}");
}

#[test]
fn an_unreachable_target_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.toml");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        &file,
        target_toml(
            &format!("http://127.0.0.1:{port}"),
            "kind = \"none\"",
            "max_retries = 0\nconnect_timeout_secs = 1",
        ),
    )
    .unwrap();
    let o = run(&["run", "--target", file.to_str().unwrap(), "--budget", "1"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("unreachable"), "{}", text(&o));
}

#[test]
fn shards_together_run_exactly_the_unsharded_suite() {
    let all: Vec<String> = String::from_utf8(run(&["run", "--seed", "3", "--list"]).stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert!(all.len() > 300);
    let mut union = Vec::new();
    for k in 1..=3 {
        let shard: Vec<String> = String::from_utf8(
            run(&["run", "--seed", "3", "--list", "--shard", &format!("{k}/3")]).stdout,
        )
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
        assert!(!shard.is_empty());
        union.extend(shard);
    }
    let mut sorted_all = all.clone();
    sorted_all.sort();
    union.sort();
    assert_eq!(
        union, sorted_all,
        "the shards are disjoint and cover the suite"
    );
    assert_eq!(
        run(&["run", "--list", "--shard", "4/3"]).status.code(),
        Some(2)
    );
}

fn target_toml(url: &str, auth: &str, limits: &str) -> String {
    format!(
        r#"[target]
name = "test-target"
ecs_url = "{url}"
vpc_url = "{url}"
project_id = "0605767a3300d5762fb7c0186d9e1779"
[fixtures]
server_id = "6e2f4c1a-8f0b-4a7e-9b52-1d3c0e9a7f10"
primary_port_id = "a1d0f6b2-3c4e-4f5a-8b6c-7d8e9f0a1b2c"
spare_port_id = "ce531f90-199f-48c0-816c-13e38010b442"
network_id = "3cb9bc59-5699-4588-a4b1-b87f96708bc6"
subnet_id = "d32019d3-bc6e-4319-9c1d-6722fc136a23"
security_group_id = "f0ac4394-7e4a-4409-9701-ba8be283dbc3"
sub_network_interface_id = "2be868f2-f7c9-48db-abc0-eea0b9105b0d"
[auth]
{auth}
[limits]
timeout_secs = 1
job_timeout_secs = 1
job_poll_ms = 5
rate_per_second = 0
{limits}
"#
    )
}

#[test]
fn a_dry_run_prints_requests_with_secrets_masked_and_sends_nothing() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.toml");
    std::fs::write(
        &file,
        target_toml(
            &format!("http://127.0.0.1:{port}"),
            "kind = \"aksk\"\nak_env = \"NIC_TEST_AK\"\nsk_env = \"NIC_TEST_SK\"",
            "",
        ),
    )
    .unwrap();
    let o = run_env(
        &[
            "run",
            "--target",
            file.to_str().unwrap(),
            "--dry-run",
            "--budget",
            "2",
        ],
        &[
            ("NIC_TEST_AK", "AKSECRETVALUE123"),
            ("NIC_TEST_SK", "SKSECRETVALUE456"),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("POST http://127.0.0.1") && t.contains("Authorization: ***"),
        "{t}"
    );
    assert!(
        !t.contains("AKSECRETVALUE123") && !t.contains("SKSECRETVALUE456"),
        "a secret leaked"
    );
    assert!(
        listener.accept().is_err(),
        "a dry run connected to the target"
    );
}

/// A server that misbehaves in one way on every request.
fn hostile(mode: &'static str) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            counter.fetch_add(1, Ordering::Relaxed);
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                let n = s.read(&mut buf).unwrap_or(0);
                let is_get = buf[..n].starts_with(b"GET");
                let _ = match mode {
                    // Reads answer (the primary NIC listed): the run has its
                    // baseline; writes misbehave.
                    m if is_get && m != "slow" => {
                        let body = r#"{"interfaceAttachments": [{"port_id": "a1d0f6b2-3c4e-4f5a-8b6c-7d8e9f0a1b2c"}]}"#;
                        s.write_all(format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len()).as_bytes())
                    }
                    "drop-writes" => Ok(()),
                    "slow" => {
                        std::thread::sleep(Duration::from_secs(3));
                        s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                    }
                    "not-json" => s.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 10\r\nconnection: close\r\n\r\n<html></ht"),
                    "huge" => {
                        let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 52428800\r\nconnection: close\r\n\r\n");
                        let chunk = vec![b' '; 1 << 20];
                        for _ in 0..50 {
                            if s.write_all(&chunk).is_err() {
                                break;
                            }
                        }
                        Ok(())
                    }
                    "drop" => Ok(()),
                    _ => s.write_all(b"HTTP/1.1 302 Found\r\nlocation: /again\r\ncontent-length: 0\r\n\r\n"),
                };
            });
        }
    });
    (port, hits)
}

#[test]
fn hostile_servers_are_reported_and_the_run_finishes() {
    for (mode, expect) in [
        ("not-json", "response.json-body"),
        ("huge", "response.transport"),
        ("drop", "response.transport"),
        ("redirect", "response.status"),
        ("slow", "unreachable"),
    ] {
        let (port, hits) = hostile(mode);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        let json = dir.path().join("r.json");
        std::fs::write(
            &file,
            target_toml(
                &format!("http://127.0.0.1:{port}"),
                "kind = \"none\"",
                "max_retries = 0",
            ),
        )
        .unwrap();
        let o = run(&[
            "run",
            "--target",
            file.to_str().unwrap(),
            "--operation",
            "update-sub-network-interface",
            "--no-curated",
            "--budget",
            "1",
            "--kind",
            "valid",
            "--no-snapshots",
            "--report-json",
            json.to_str().unwrap(),
        ]);
        let t = text(&o);
        assert!(hits.load(Ordering::Relaxed) > 0, "{mode}: never connected");
        assert!(
            matches!(o.status.code(), Some(1) | Some(2)),
            "{mode}: exit {:?}\n{t}",
            o.status.code()
        );
        if expect == "unreachable" {
            assert!(
                t.contains("unreachable") || t.contains("response.transport"),
                "{mode}: {t}"
            );
        } else {
            let r = report(&json);
            assert!(finding_ids(&r).contains(expect), "{mode}: {t}");
            // Nothing came back, so nothing else can have passed.
            if mode == "drop" {
                let ok = rules_with_status(&r, "ok");
                assert!(ok.is_empty(), "{mode}: passed without an answer: {ok:?}");
            }
        }
    }
}

#[test]
fn secrets_never_reach_output_reports_or_snapshots() {
    use nic_conformance::contract::Contract;
    use nic_conformance::fixtures::{EXAMPLE_PROJECT_ID, example_fixtures};
    use nic_conformance::mock::{MockConfig, start_local};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut cfg = MockConfig::new(EXAMPLE_PROJECT_ID, example_fixtures());
    cfg.require_auth = true;
    cfg.credentials = vec![("AKLEAKCHECK0001".into(), "SKLEAKCHECKSECRET0001".into())];
    cfg.job_duration = Duration::from_millis(2);
    // One fault so findings (with their curl reproductions) are printed too.
    cfg.faults = nic_conformance::mock::FaultSet::from_names(
        &Contract::builtin().unwrap(),
        &["vlan-out-of-range".into()],
    )
    .unwrap();
    let mock = rt
        .block_on(start_local(Arc::new(Contract::builtin().unwrap()), cfg))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.toml");
    let json = dir.path().join("r.json");
    let junit = dir.path().join("j.xml");
    let html = dir.path().join("r.html");
    let snaps = dir.path().join("snaps");
    for auth in [
        "kind = \"aksk\"\nak_env = \"NIC_TEST_AK\"\nsk_env = \"NIC_TEST_SK\"",
        "kind = \"token\"\ntoken_env = \"NIC_TEST_TOKEN\"",
    ] {
        std::fs::write(&file, target_toml(&mock.base_url, auth, "")).unwrap();
        let o = run_env(
            &[
                "run",
                "-vv",
                "--target",
                file.to_str().unwrap(),
                "--budget",
                "2",
                "--report-json",
                json.to_str().unwrap(),
                "--junit",
                junit.to_str().unwrap(),
                "--report-html",
                html.to_str().unwrap(),
                "--snapshot-dir",
                snaps.to_str().unwrap(),
                "--record",
            ],
            &[
                ("NIC_TEST_AK", "AKLEAKCHECK0001"),
                ("NIC_TEST_SK", "SKLEAKCHECKSECRET0001"),
                ("NIC_TEST_TOKEN", "TOKENLEAKCHECK0001"),
            ],
        );
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let r = report(&json);
        assert!(finding_ids(&r).contains("update-sub-network-interface.response.200#/properties/sub_network_interface/properties/vlan_id/maximum"), "{}", text(&o));
        let mut everything = text(&o);
        everything.push_str(&std::fs::read_to_string(&json).unwrap());
        everything.push_str(&std::fs::read_to_string(&junit).unwrap());
        everything.push_str(&std::fs::read_to_string(&html).unwrap());
        for entry in walk(&snaps) {
            everything.push_str(&std::fs::read_to_string(entry).unwrap());
        }
        for secret in [
            "AKLEAKCHECK0001",
            "SKLEAKCHECKSECRET0001",
            "TOKENLEAKCHECK0001",
            "Signature=",
        ] {
            assert!(!everything.contains(secret), "{secret} leaked");
        }
        // A signed request's curl line masks the signature and says it
        // cannot be replayed as is; a token's reads the variable it came from.
        let expected = if auth.contains("token") {
            "X-Auth-Token: $NIC_TEST_TOKEN"
        } else {
            "curl cannot sign it again"
        };
        assert!(
            everything.contains(expected),
            "the curl reproduction: {expected}"
        );
        assert!(everything.contains("--seed"), "the replay line");
        assert!(
            everything.contains("POST /v1/") && everything.contains("lease"),
            "-vv logs each request and lease"
        );
    }
    rt.block_on(mock.stop());
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn max_requests_bounds_the_run_and_operation_and_skip_select() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let o = run(&[
        "run",
        "--seed",
        "1",
        "--concurrency",
        "1",
        "--max-requests",
        "20",
        "--no-snapshots",
        "--report-json",
        json.to_str().unwrap(),
    ]);
    // Cut short: its own exit code, unless a partial run is allowed.
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    assert!(text(&o).contains("--max-requests"), "{}", text(&o));
    let r = report(&json);
    assert_eq!(r["exit_code"], 5);
    assert!(r["cases"].as_u64() < r["planned"].as_u64(), "{r}");
    let results = r["case_results"].as_array().unwrap();
    assert_eq!(results.len() as u64, r["cases"].as_u64().unwrap());
    assert!(
        results
            .iter()
            .all(|c| c["replay"].as_str().unwrap().contains("--case"))
    );
    // Stops starting cases at 20; the case in flight (at most a dozen requests) finishes and cleans up.
    assert!(
        r["requests"].as_u64().unwrap() <= 20 + 12,
        "{}",
        r["requests"]
    );
    let ops: Vec<String> = String::from_utf8(
        run(&[
            "run",
            "--list",
            "--operation",
            "batch-delete-nics",
            "--skip",
            "batch-delete-nics",
            "--operation",
            "update-interface-attachment",
        ])
        .stdout,
    )
    .unwrap()
    .lines()
    .map(|l| l.split("::").next().unwrap().to_string())
    .collect::<BTreeSet<_>>()
    .into_iter()
    .collect();
    assert_eq!(ops, ["update-interface-attachment"]);
    let allowed = run(&[
        "run",
        "--seed",
        "1",
        "--max-requests",
        "20",
        "--no-snapshots",
        "--allow-partial",
    ]);
    assert_eq!(allowed.status.code(), Some(0), "{}", text(&allowed));
    // A selection of nothing is not a pass.
    let o = run(&[
        "run",
        "--operation",
        "batch-add-nics",
        "--skip",
        "batch-add-nics",
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(text(&o).contains("no case selected"), "{}", text(&o));
    // An id that names no case is a usage error with the nearest id.
    let o = run(&["run", "--seed", "1", "--case", "batch-add-nics::valid::O"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("did you mean `batch-add-nics::valid::0`"),
        "{}",
        text(&o)
    );
    // A budget of one still gives every rule its case (snapshots need curated cases).
    let json = dir.path().join("b.json");
    let o = run(&[
        "run",
        "--seed",
        "2",
        "--budget",
        "1",
        "--no-curated",
        "--report-json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let never: Vec<String> = report(&json)["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "never exercised")
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(never, ["snapshot.drift"]);
    let o = run(&["run", "--concurrency", "0"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn a_failing_generated_case_is_shrunk_and_saved_as_a_curated_case() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(&[
        "run",
        "--seed",
        "2",
        "--no-curated",
        "--no-snapshots",
        "--operation",
        "update-sub-network-interface",
        "--kind",
        "negative",
        "--budget",
        "30",
        "--mock-fault",
        "accept-long-description",
        "--save-failures",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let saved: Value = serde_json::from_str(
        &std::fs::read_to_string(
            dir.path()
                .join("regressions-update-sub-network-interface.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let case = &saved["cases"][0];
    assert_eq!(
        case["breaks"],
        "update-sub-network-interface.request#/properties/sub_network_interface/properties/description/maxLength"
    );
    assert_eq!(
        case["body"]["sub_network_interface"]["description"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        256
    );
    assert_eq!(
        case["body"]["sub_network_interface"]
            .as_object()
            .unwrap()
            .len(),
        1,
        "shrunk to the one field: {case}"
    );
    // The saved case replays as a curated case.
    let o = run(&[
        "run",
        "--cases",
        dir.path().to_str().unwrap(),
        "--budget",
        "0",
        "--no-snapshots",
        "--operation",
        "update-sub-network-interface",
        "--mock-fault",
        "accept-long-description",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("regression-negative"), "{}", text(&o));
}

/// Runs the generated suite in-process against a fresh faithful mock.
fn run_in_process(
    concurrency: usize,
    cleanup_batch: usize,
    spares: usize,
) -> (
    nic_conformance::report::Summary,
    Vec<String>,
    nic_conformance::fixtures::Fixtures,
) {
    use nic_conformance::contract::Contract;
    use nic_conformance::fixtures::{EXAMPLE_PROJECT_ID, example_fixtures};
    use nic_conformance::http::Client;
    use nic_conformance::mock::{MockConfig, start_local};
    use nic_conformance::runner::{RunOptions, Runner};
    use nic_conformance::target::Target;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let contract = Arc::new(Contract::builtin().unwrap());
        let mut fixtures = example_fixtures();
        fixtures.extra_spare_port_ids.truncate(spares - 1);
        let mut config = MockConfig::new(EXAMPLE_PROJECT_ID, fixtures.clone());
        config.job_duration = Duration::from_millis(1);
        let mock = start_local(contract.clone(), config).await.unwrap();
        let mut target = Target::builtin(&mock.base_url);
        target.fixtures = fixtures.clone();
        target.limits.concurrency = concurrency;
        target.limits.cleanup_batch = cleanup_batch;
        let client = Arc::new(Client::new(target).unwrap());
        let mut opts = RunOptions::new(7);
        opts.include_curated = false;
        opts.budget = Some(60);
        let mut summary = nic_conformance::report::Summary::new(&contract, false);
        Arc::new(Runner::new(contract.clone(), client, opts))
            .run(&mut summary)
            .await;
        let attached = mock.mock.attached_ports();
        mock.stop().await;
        (summary, attached, fixtures)
    })
}

/// Spares travel between cases in the state the last case left them, and
/// created NICs are deleted in batches; whatever the concurrency, the pool
/// size or the batch, the verdicts stay clean and the server ends as it began.
#[test]
fn pooled_spares_and_batched_cleanup_leave_the_server_as_it_was() {
    // Batch 1 at high concurrency deletes while other cases still check theirs.
    for (concurrency, batch, spares) in [(1, 1, 1), (8, 4, 2), (64, 1, 64), (64, 32, 64)] {
        let (summary, attached, fixtures) = run_in_process(concurrency, batch, spares);
        let label = format!("concurrency {concurrency}, batch {batch}, {spares} spares");
        assert_eq!(
            summary.worst(),
            None,
            "{label}: findings {:?}",
            summary.findings
        );
        // Every plan, then each drawn again while it has a new class to send.
        let planned = summary.cases + summary.repeats;
        assert!(planned >= 60 * 14, "{label}: {planned} planned");
        assert!(summary.cases >= 400, "{label}: {} cases", summary.cases);
        assert!(
            summary.end.leftovers.is_empty(),
            "{label}: {:?}",
            summary.end.leftovers
        );
        assert_eq!(
            attached,
            [
                fixtures.primary_port_id.clone(),
                nic_conformance::mock::BYSTANDER_PORT_ID.to_string()
            ],
            "{label}: the server still has NICs the run made or attached"
        );
    }
}

/// The rules of `r` with the given status in the JSON report.
fn rules_with_status(r: &Value, status: &str) -> BTreeSet<String> {
    r["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|rule| rule["status"] == status)
        .map(|rule| rule["id"].as_str().unwrap().to_string())
        .collect()
}

/// When the calls the state checks rely on fail, the rules that need them
/// are undecided (never passed), the finding is against the call itself, and
/// the undecided section names the call.
#[test]
fn rules_that_need_a_failing_call_are_undecided_not_passed() {
    let dir = tempfile::tempdir().unwrap();
    for (fault, needs, call) in [
        (
            "listing-fails",
            ["nova-attach.attachment-listed", "batch-delete.job-detaches"],
            "GET /v2.1/{project_id}/servers/{server_id}/os-interface answered 404",
        ),
        (
            "job-query-fails",
            ["batch-add.job-attaches", "batch-delete.job-detaches"],
            "GET /v1/{project_id}/jobs/{job_id} answered 404",
        ),
    ] {
        let json = dir.path().join(format!("{fault}.json"));
        let started = Instant::now();
        let o = run(&[
            "run",
            "--seed",
            "1",
            "--no-snapshots",
            "--mock-fault",
            fault,
            "--report-json",
            json.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(1), "{fault}: {}", text(&o));
        // Decided at once: nothing waits out a job timeout.
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{fault} took {:?}",
            started.elapsed()
        );
        let r = report(&json);
        let undecided = rules_with_status(&r, "undecided");
        let ok = rules_with_status(&r, "ok");
        for id in needs {
            assert!(
                undecided.contains(id),
                "{fault}: {id} not undecided: {undecided:?}"
            );
            assert!(!ok.contains(id), "{fault}: {id} reported ok");
        }
        // The finding is against the failing call, not the operation's rule.
        let findings = r["findings"].as_array().unwrap();
        assert!(
            findings.iter().all(|f| f["id"] == "response.status"),
            "{fault}: {findings:?}"
        );
        assert!(
            text(&o).contains(call),
            "{fault}: the call is not named\n{}",
            text(&o)
        );
    }
}

/// No finding, but a `must` rule not judged: the run does not pass (exit 3).
#[test]
fn a_must_rule_left_undecided_exits_3() {
    let o = run(&[
        "run",
        "--seed",
        "1",
        "--no-snapshots",
        "--no-curated",
        "--operation",
        "nova-attach-interface",
        "--kind",
        "valid",
        "--mock-fault",
        "listing-fails",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    // Every case undecided (the listing each needs fails), none failed.
    let t = text(&o);
    let line = t
        .lines()
        .find(|l| l.contains(" undecided against "))
        .unwrap_or_default();
    let count = |word: &str| {
        let before = line.split(&format!(" {word}")).next().unwrap_or_default();
        before
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse::<usize>().ok())
    };
    assert_eq!(count("failed,"), Some(0), "{t}");
    assert_eq!(count("undecided"), count("cases,"), "{t}");
}

/// Jobs that never end are each waited for up to the timeout, a few times;
/// then the rest are undecided rather than waited out one by one.
#[test]
fn jobs_that_never_end_are_not_waited_out_case_by_case() {
    let started = Instant::now();
    let o = run(&[
        "run",
        "--seed",
        "1",
        "--no-snapshots",
        "--job-timeout",
        "1",
        "--mock-fault",
        "job-never-ends",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // Over a hundred cases follow jobs; a handful of timeouts at most are waited.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        text(&o).contains("jobs in a row did not end"),
        "{}",
        text(&o)
    );
}

/// `nic-conformance COMMAND --target FILE --ledger LEDGER [extra]`.
fn with_target(command: &str, file: &Path, ledger: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        command,
        "--target",
        file.to_str().unwrap(),
        "--ledger",
        ledger.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(&args)
}

/// Starts a run in the background and waits until it has attached a NIC.
fn run_until_attached(
    file: &Path,
    ledger: &Path,
    extra: &[&str],
    mock: &nic_conformance::mock::RunningMock,
) -> std::process::Child {
    let child = Command::new(BIN)
        .args(["run", "--target", file.to_str().unwrap()])
        .args(["--ledger", ledger.to_str().unwrap()])
        .args(extra)
        .current_dir(ROOT)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    // The primary and someone else's NIC are there before the run.
    while mock.mock.attached_ports().len() < 3 {
        assert!(Instant::now() < deadline, "the run never attached anything");
        std::thread::sleep(Duration::from_millis(5));
    }
    child
}

/// A real target's safety net: a target that is not ready stops the run
/// before any write, and a run killed halfway is undone by `cleanup` from
/// its ledger.
#[test]
fn a_target_not_ready_stops_before_writing_and_a_killed_run_is_cleaned_up() {
    use nic_conformance::contract::Contract;
    use nic_conformance::fixtures::{EXAMPLE_PROJECT_ID, example_fixtures};
    use nic_conformance::mock::{MockConfig, start_local};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut cfg = MockConfig::new(EXAMPLE_PROJECT_ID, example_fixtures());
    cfg.job_duration = Duration::from_millis(20);
    let mock = rt
        .block_on(start_local(Arc::new(Contract::builtin().unwrap()), cfg))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.toml");
    let ledger = dir.path().join("ledger.jsonl");
    let good = target_toml(&mock.base_url, "kind = \"none\"", "");

    // A server that does not exist: exit 2, naming it, and nothing written.
    let missing = good.replace(
        "server_id = \"6e2f4c1a-8f0b-4a7e-9b52-1d3c0e9a7f10\"",
        "server_id = \"00000000-0000-4000-8000-000000000000\"",
    );
    std::fs::write(&file, &missing).unwrap();
    let o = with_target("run", &file, &ledger, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("fixtures.server_id"), "{}", text(&o));
    let doctor = with_target("doctor", &file, &ledger, &[]);
    assert_eq!(doctor.status.code(), Some(2), "{}", text(&doctor));

    // An unreachable VPC URL: exit 2 at once.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let no_vpc = good.replace(
        &format!("vpc_url = \"{}\"", mock.base_url),
        &format!("vpc_url = \"{closed_url}\""),
    );
    std::fs::write(&file, &no_vpc).unwrap();
    let started = Instant::now();
    let o = with_target("run", &file, &ledger, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("target.vpc_url"), "{}", text(&o));
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(
        mock.mock.writes(),
        0,
        "a write reached a target that was not ready"
    );

    // A run killed halfway, then `cleanup`: only the primary NIC is left.
    std::fs::write(&file, &good).unwrap();
    let extra = [
        "--seed",
        "3",
        "--budget",
        "60",
        "--no-snapshots",
        "--concurrency",
        "1",
    ];
    let mut child = run_until_attached(&file, &ledger, &extra, &mock);
    child.kill().unwrap();
    let _ = child.wait();
    let f = example_fixtures();
    let doctor = with_target("doctor", &file, &ledger, &[]);
    assert_eq!(doctor.status.code(), Some(2), "{}", text(&doctor));
    assert!(text(&doctor).contains("cleanup"), "{}", text(&doctor));
    let mut o = with_target("cleanup", &file, &ledger, &[]);
    // Killed while a create was in flight: a NIC it may have made is only
    // named until the operator says to delete it.
    if text(&o).contains("UNCERTAIN") {
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains("--include-uncertain"), "{}", text(&o));
        o = with_target("cleanup", &file, &ledger, &["--include-uncertain"]);
    }
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let as_before = [
        f.primary_port_id.clone(),
        nic_conformance::mock::BYSTANDER_PORT_ID.to_string(),
    ];
    assert_eq!(mock.mock.attached_ports(), as_before, "{}", text(&o));
    let doctor = with_target("doctor", &file, &ledger, &[]);
    assert_eq!(doctor.status.code(), Some(0), "{}", text(&doctor));

    // SIGTERM (a cancelled CI job): the run cleans up, writes its report and says 143.
    let json = dir.path().join("r.json");
    let html = dir.path().join("r.html");
    let extra = [
        "--seed",
        "4",
        "--budget",
        "60",
        "--no-snapshots",
        "--concurrency",
        "2",
        "--report-json",
        json.to_str().unwrap(),
        "--report-html",
        html.to_str().unwrap(),
    ];
    let child = run_until_attached(&file, &ledger, &extra, &mock);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", text(&out));
    assert_eq!(mock.mock.attached_ports(), as_before);
    assert_eq!(report(&json)["exit_code"], 143);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("exit 143: SIGTERM"),
        "the HTML report says why the run stopped"
    );
    let doctor = with_target("doctor", &file, &ledger, &[]);
    assert_eq!(doctor.status.code(), Some(0), "{}", text(&doctor));

    // The run's wall time before it is spent: from a job time given, or
    // probed with the spare (attached, detached again, the ledger closed).
    let given = with_target("doctor", &file, &ledger, &["--job-time", "10s"]);
    assert_eq!(given.status.code(), Some(0), "{}", text(&given));
    assert!(
        text(&given).contains("jobs of 10.0s (given)"),
        "{}",
        text(&given)
    );
    // No number of spares brings one server under ten minutes: another server does.
    assert!(
        text(&given)
            .contains("servers of 1 spare port(s) each (1 more in [[fixtures.extra_servers]])"),
        "a recommendation: {}",
        text(&given)
    );
    let writes = mock.mock.writes();
    let probed = with_target("doctor", &file, &ledger, &["--probe-job"]);
    assert_eq!(probed.status.code(), Some(0), "{}", text(&probed));
    assert!(text(&probed).contains("(probed"), "{}", text(&probed));
    assert_eq!(mock.mock.writes(), writes + 2, "the probe is two jobs");
    assert_eq!(mock.mock.attached_ports(), as_before);
    // Recorded like a run's setup: a probe killed halfway is cleaned up.
    let record = std::fs::read_to_string(&ledger).unwrap();
    let probe = record
        .rsplit("\"entry\":\"run\"")
        .next()
        .unwrap_or_default();
    assert!(
        probe.contains("\"entry\":\"attaching\"") && probe.contains("\"entry\":\"finished\""),
        "the probe's attach is in the ledger: {record}"
    );
    let doctor = with_target("doctor", &file, &ledger, &[]);
    assert_eq!(doctor.status.code(), Some(0), "{}", text(&doctor));
    rt.block_on(mock.stop());
}

/// A server that answers every request with the request itself (headers
/// and body) as a JSON string, or redirects it to `to`.
fn echo_server(redirect_to: Option<String>) -> (u16, Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let log = log.clone();
            let to = redirect_to.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                let _ = s.set_read_timeout(Some(Duration::from_millis(300)));
                let n = s.read(&mut buf).unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).to_string();
                log.lock().unwrap().push(request.clone());
                let reply = match &to {
                    Some(to) => format!(
                        "HTTP/1.1 307 Temporary Redirect\r\nlocation: {to}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    ),
                    None => {
                        // Listing the fixture's primary NIC, so the preflight lets cases run.
                        let primary = "a1d0f6b2-3c4e-4f5a-8b6c-7d8e9f0a1b2c";
                        let body = serde_json::json!({
                            "interfaceAttachments": [{"port_id": primary, "fixed_ips": []}],
                            "echo": request,
                        })
                        .to_string();
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    }
                };
                let _ = s.write_all(reply.as_bytes());
            });
        }
    });
    (port, seen)
}

#[test]
fn an_echoing_target_or_a_redirect_to_another_host_leaks_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.toml");
    let json = dir.path().join("r.json");
    let junit = dir.path().join("j.xml");
    let html = dir.path().join("r.html");
    let env = [
        ("NIC_TEST_AK", "AKECHOCHECK0001"),
        ("NIC_TEST_SK", "SKECHOCHECKSECRET0001"),
        ("NIC_TEST_TOKEN", "TOKENECHOCHECK0001"),
    ];
    let (echo, _) = echo_server(None);
    for auth in [
        "kind = \"aksk\"\nak_env = \"NIC_TEST_AK\"\nsk_env = \"NIC_TEST_SK\"",
        "kind = \"token\"\ntoken_env = \"NIC_TEST_TOKEN\"",
    ] {
        let url = format!("http://127.0.0.1:{echo}");
        std::fs::write(&file, target_toml(&url, auth, "max_retries = 0")).unwrap();
        let snaps = dir.path().join("snaps");
        let o = run_env(
            &[
                "run",
                "--target",
                file.to_str().unwrap(),
                "--budget",
                "1",
                "--record",
                "--snapshot-dir",
                snaps.to_str().unwrap(),
                "--report-json",
                json.to_str().unwrap(),
                "--junit",
                junit.to_str().unwrap(),
                "--report-html",
                html.to_str().unwrap(),
            ],
            &env,
        );
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let mut everything = text(&o);
        everything.push_str(&std::fs::read_to_string(&json).unwrap());
        everything.push_str(&std::fs::read_to_string(&junit).unwrap());
        everything.push_str(&std::fs::read_to_string(&html).unwrap());
        let recorded = walk(&snaps);
        assert!(!recorded.is_empty(), "no snapshot recorded");
        for snap in recorded {
            everything.push_str(&std::fs::read_to_string(snap).unwrap());
        }
        assert!(everything.contains("echo"), "the echo reached the report");
        for (_, secret) in env {
            assert!(!everything.contains(secret), "{secret} leaked");
        }
        assert!(!everything.contains("Signature="), "a signature leaked");
    }

    // A redirect to another host: not followed, reported, and the other host never sees the token.
    let (other, other_seen) = echo_server(None);
    let (redirecting, _) = echo_server(Some(format!("http://localhost:{other}/elsewhere")));
    for follow in ["false", "true"] {
        let url = format!("http://127.0.0.1:{redirecting}");
        let limits = format!("max_retries = 0\nfollow_redirects = {follow}");
        std::fs::write(
            &file,
            target_toml(
                &url,
                "kind = \"token\"\ntoken_env = \"NIC_TEST_TOKEN\"",
                &limits,
            ),
        )
        .unwrap();
        let o = run_env(
            &[
                "run",
                "--target",
                file.to_str().unwrap(),
                "--budget",
                "1",
                "--no-curated",
                "--no-snapshots",
                "--report-json",
                json.to_str().unwrap(),
            ],
            &env,
        );
        assert!(matches!(o.status.code(), Some(1) | Some(2)), "{}", text(&o));
        assert!(
            other_seen.lock().unwrap().is_empty(),
            "follow_redirects = {follow}: a request reached the other host"
        );
        if o.status.code() == Some(1) {
            assert!(
                text(&o).contains("redirect to http://localhost:"),
                "{}",
                text(&o)
            );
        }
    }
}

/// A target whose writes stop getting answers: the run stops starting cases
/// after `max_consecutive_failures` and exits 2, not one timeout per case.
#[test]
fn a_target_that_stops_answering_ends_the_run_early() {
    let (port, hits) = hostile("drop-writes");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.toml");
    let url = format!("http://127.0.0.1:{port}");
    std::fs::write(
        &file,
        target_toml(
            &url,
            "kind = \"none\"",
            "max_retries = 0\nmax_consecutive_failures = 5",
        ),
    )
    .unwrap();
    let o = run(&[
        "run",
        "--target",
        file.to_str().unwrap(),
        "--no-snapshots",
        "--concurrency",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("stopped answering"), "{}", text(&o));
    // Far fewer than the suite's hundreds of cases were tried.
    assert!(
        hits.load(Ordering::Relaxed) < 120,
        "{} connections",
        hits.load(Ordering::Relaxed)
    );
}

/// Shrinking is bounded: however many cases fail, at most 20 are shrunk,
/// each within 40 re-runs, and the run says which were cut short.
#[test]
fn shrinking_many_failures_stays_within_its_budget() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let saved = dir.path().join("saved");
    let o = run(&[
        "run",
        "--seed",
        "1",
        "--no-snapshots",
        "--mock-fault",
        "vlan-out-of-range",
        "--save-failures",
        saved.to_str().unwrap(),
        "--report-json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let r = report(&json);
    let failed = r["failed"].as_u64().unwrap();
    assert!(
        failed > 20,
        "{failed} failing cases: the bound is not tried"
    );
    let saves = text(&o).matches("saved ").count() + text(&o).matches("not shrunk").count();
    assert!(saves <= 20, "{saves} cases shrunk");
    assert!(
        text(&o).contains("budget ran out after 40 re-runs"),
        "{}",
        text(&o)
    );
    // The run's own requests plus at most 20 × 40 re-runs of a few requests each.
    let requests = r["requests"].as_u64().unwrap();
    assert!(requests < 800 + 20 * 40 * 4, "{requests} requests");
}

/// A dry run sends nothing, so it asks for no credentials: a target file
/// whose token variable is unset still prints every request.
#[test]
fn a_dry_run_needs_no_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.toml");
    std::fs::write(
        &file,
        target_toml(
            "http://127.0.0.1:9",
            "kind = \"token\"\ntoken_env = \"NIC_TEST_UNSET_TOKEN\"",
            "",
        ),
    )
    .unwrap();
    let o = run(&[
        "run",
        "--target",
        file.to_str().unwrap(),
        "--dry-run",
        "--budget",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("X-Auth-Token: ***"), "{}", text(&o));
    let o = run(&["run", "--target", file.to_str().unwrap(), "--budget", "1"]);
    assert_eq!(o.status.code(), Some(2), "a real run still needs them");
    assert!(text(&o).contains("NIC_TEST_UNSET_TOKEN"), "{}", text(&o));
}

/// Valid means valid on every conforming server: against a mock that refuses
/// every request the pages leave open (an empty optional list, an unknown id
/// beside a port_id, an address pair without an address), under each batch
/// mode and success status the pages allow, no seed gets a `must` finding.
#[test]
fn seeds_one_to_fifty_against_the_strictest_conforming_server_get_no_must_finding() {
    use nic_conformance::contract::{Contract, Severity};
    use nic_conformance::fixtures::{EXAMPLE_PROJECT_ID, example_fixtures};
    use nic_conformance::http::Client;
    use nic_conformance::mock::{BatchMode, MockConfig, SuccessStatus, Validation, start_local};
    use nic_conformance::runner::{RunOptions, Runner};
    use nic_conformance::target::Target;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let contract = Arc::new(Contract::builtin().unwrap());
    let mut musts = Vec::new();
    let mut refused = 0;
    for seed in 1..=50u64 {
        let batch = [BatchMode::PerNic, BatchMode::Atomic][seed as usize % 2];
        let success = [SuccessStatus::Usual, SuccessStatus::Other][seed as usize / 2 % 2];
        let summary = rt.block_on(async {
            let mut config = MockConfig::new(EXAMPLE_PROJECT_ID, example_fixtures());
            config.job_duration = Duration::from_millis(1);
            config.validate = Validation::Strict;
            config.batch = batch;
            config.success = success;
            let mock = start_local(contract.clone(), config).await.unwrap();
            let client = Arc::new(Client::new(Target::builtin(&mock.base_url)).unwrap());
            let mut opts = RunOptions::new(seed);
            opts.budget = Some(1);
            let mut summary = nic_conformance::report::Summary::new(&contract, false);
            Arc::new(Runner::new(contract.clone(), client, opts))
                .run(&mut summary)
                .await;
            mock.stop().await;
            summary
        });
        assert!(summary.cases > 100, "seed {seed}: {} cases", summary.cases);
        refused += summary.rules["request.open-reading"].violated;
        musts.extend(
            (summary.findings.values())
                .filter(|f| f.first.severity == Severity::Must)
                .map(|f| {
                    format!(
                        "seed {seed} {batch:?} {success:?}: {} {:?}: {}",
                        f.first.id, f.cases, f.first.actual
                    )
                }),
        );
    }
    assert!(musts.is_empty(), "{}", musts.join("\n"));
    // The strict server did refuse open readings: they were noted at should.
    assert!(refused > 50, "only {refused} open readings refused");
}

/// A stateful sequence acts on one spare step by step: the state a step
/// starts from is the one the steps before it left. A detach that leaves the
/// port in use passes every check of the detach itself (the listing no longer
/// shows it) and fails the step that attaches the same port again; the step
/// after a failed one is not sent and is undecided.
#[test]
fn a_sequence_catches_what_a_step_left_behind_and_stops_after_a_failed_step() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let steps = |fault: Option<&str>, case: &str| {
        let mut args = vec!["run", "--seed", "1", "--no-snapshots", "--case", case];
        args.extend(fault.map(|f| ["--mock-fault", f]).into_iter().flatten());
        args.extend(["--report-json", json.to_str().unwrap()]);
        let o = run(&args);
        let r = report(&json);
        let outcome: Vec<(String, String)> = (r["case_results"].as_array().unwrap().iter())
            .map(|c| {
                (
                    c["id"].as_str().unwrap().into(),
                    c["outcome"].as_str().unwrap().into(),
                )
            })
            .collect();
        (o, outcome, r)
    };
    // Faithful: every step of both sequences passes, in order.
    for case in [
        "nova-attach-interface::sequence-attach-again::2",
        "batch-delete-nics::sequence-add-delete-twice::4",
    ] {
        let (o, outcome, _) = steps(None, case);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(
            outcome.len() >= 2 && outcome.iter().all(|(_, s)| s == "passed"),
            "{outcome:?}"
        );
    }
    let (o, outcome, r) = steps(
        Some("port-stays-in-use"),
        "nova-attach-interface::sequence-attach-again::1",
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        outcome,
        [
            (
                "nova-attach-interface::sequence-attach-again::1".into(),
                "passed".into()
            ),
            (
                "nova-attach-interface::sequence-attach-again::2".into(),
                "failed".into()
            ),
        ]
    );
    assert_eq!(finding_ids(&r), ["response.status".to_string()].into());
    let (_, outcome, _) = steps(
        Some("port-stays-in-use"),
        "batch-add-nics::sequence-add-delete-twice::1",
    );
    let states: Vec<&str> = outcome.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(
        states,
        ["passed", "passed", "failed", "not sent"],
        "{outcome:?}"
    );
    assert_eq!(
        report(&json)["not_sent"][0]["case"],
        "batch-delete-nics::sequence-add-delete-twice::4"
    );
}

/// Under `--time-budget` each operation and kind's first round (one case
/// per plan: every keyword and rule) comes before any second round, the
/// same cases in all; a budget shorter than the run stops it starting
/// cases, exit 5 naming the budget (0 with --allow-partial).
#[test]
fn a_time_budget_runs_every_rule_first_and_stops_starting_cases_when_spent() {
    use nic_conformance::case::CaseKind;
    use nic_conformance::contract::Contract;
    use nic_conformance::fixtures::{EXAMPLE_PROJECT_ID, example_fixtures};
    let list = |extra: &[&str]| -> Vec<String> {
        let mut args = vec![
            "run",
            "--seed",
            "7",
            "--budget",
            "40",
            "--no-curated",
            "--list",
        ];
        args.extend(extra);
        let o = run(&args);
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    };
    let (plain, budgeted) = (list(&[]), list(&["--time-budget", "10m"]));
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    assert_eq!(sorted(&plain), sorted(&budgeted), "the same cases");
    let contract = Contract::builtin().unwrap();
    let fixtures = example_fixtures();
    let generator =
        nic_conformance::generate::Generator::new(&contract, &fixtures, EXAMPLE_PROJECT_ID, 7);
    let first_round = |id: &str| {
        let mut parts = id.rsplitn(3, "::");
        let index: usize = parts.next().unwrap().parse().unwrap();
        let kind = match parts.next().unwrap() {
            "valid" => CaseKind::Valid,
            "boundary" => CaseKind::Boundary,
            _ => CaseKind::Negative,
        };
        let name = parts.next().unwrap();
        let op = contract.operations.iter().find(|o| o.id == name).unwrap();
        index < generator.plans(op, kind).len()
    };
    let cut = budgeted.iter().position(|id| !first_round(id)).unwrap();
    assert!(
        cut > 0 && budgeted[cut..].iter().all(|id| !first_round(id)),
        "cut at {cut}"
    );
    let later = plain.iter().position(|id| !first_round(id)).unwrap();
    assert!(
        plain[later..].iter().any(|id| first_round(id)),
        "without a budget the rounds interleave (else this test shows nothing)"
    );

    // Jobs of 300 ms against a one-second budget: the run stops starting cases.
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut config = nic_conformance::mock::MockConfig::new(EXAMPLE_PROJECT_ID, fixtures);
    config.job_duration = Duration::from_millis(300);
    let mock = rt
        .block_on(nic_conformance::mock::start_local(
            Arc::new(Contract::builtin().unwrap()),
            config,
        ))
        .unwrap();
    let file = dir.path().join("t.toml");
    std::fs::write(&file, target_toml(&mock.base_url, "kind = \"none\"", "")).unwrap();
    let report = dir.path().join("r.json");
    let args = [
        "run",
        "--target",
        file.to_str().unwrap(),
        "--seed",
        "7",
        "--no-snapshots",
        "--quiet",
        "--time-budget",
        "1s",
        "--report-json",
        report.to_str().unwrap(),
    ];
    let o = run(&args);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    assert!(text(&o).contains("--time-budget spent"), "{}", text(&o));
    assert!(
        text(&o).contains("Stopped at --time-budget"),
        "{}",
        text(&o)
    );
    let r = self::report(&report);
    assert_eq!(r["stopped_at_time_budget"], true);
    assert!(r["cases"].as_u64().unwrap() < r["planned"].as_u64().unwrap());
    assert!(r["elapsed_secs"].as_f64().unwrap() < 30.0);
    rt.block_on(mock.stop());
}

/// A sink the in-process mock writes its request log to.
#[derive(Clone, Default)]
struct SharedLog(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for SharedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The mock on loopback with jobs of 20 ms, its requests logged to `log`,
/// and a client for `fixtures` with a cloud's limits (one server task, NICs
/// deleted four at a time) but no rate limit and polls of 40 ms at most.
async fn cloud_like(
    contract: &Arc<nic_conformance::contract::Contract>,
    fixtures: &nic_conformance::fixtures::Fixtures,
    log: &SharedLog,
) -> (
    nic_conformance::mock::RunningMock,
    Arc<nic_conformance::http::Client>,
) {
    use nic_conformance::mock::{Mock, MockConfig, serve};
    use nic_conformance::target::{Limits, Target};
    let mut config = MockConfig::new(
        nic_conformance::fixtures::EXAMPLE_PROJECT_ID,
        fixtures.clone(),
    );
    config.job_duration = Duration::from_millis(20);
    let mock = Mock::new(contract.clone(), config).with_log(Box::new(log.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mock = serve(Arc::new(mock), listener).await.unwrap();
    let mut target = Target::builtin(&mock.base_url);
    target.fixtures = fixtures.clone();
    target.limits = Limits {
        rate_per_second: 0.0,
        job_poll: Duration::from_millis(40),
        ..Limits::cloud()
    };
    (
        mock,
        Arc::new(nic_conformance::http::Client::new(target).unwrap()),
    )
}

/// On a cloud a run is the server's jobs one after another. With the
/// README's fixtures (one spare port) and a cloud's limits (one server task,
/// NICs deleted four at a time), a spare is detached together with the NICs
/// waiting to be deleted, and a case waits for the server's turn only when it
/// changes the server: the jobs the mock starts stay within a fifth of what
/// `doctor` estimates from the plan, and the estimate's own parts add up.
#[test]
fn a_cloud_like_run_starts_the_jobs_its_estimate_counts() {
    use nic_conformance::contract::Contract;
    use nic_conformance::fixtures::example_fixtures;
    use nic_conformance::runner::{Model, RunOptions, Runner};

    let rt = tokio::runtime::Runtime::new().unwrap();
    let log = SharedLog::default();
    let (summary, estimate, attached, fixtures) = rt.block_on(async {
        let contract = Arc::new(Contract::builtin().unwrap());
        let mut fixtures = example_fixtures();
        fixtures.extra_spare_port_ids.clear();
        fixtures.extra_sub_network_interface_ids.clear();
        let (mock, client) = cloud_like(&contract, &fixtures, &log).await;
        let opts = RunOptions::new(1);
        let runner = Arc::new(Runner::new(contract.clone(), client, opts));
        let model = Model {
            round_trip: Duration::ZERO,
            job: Duration::from_millis(20),
            spares: 1,
            servers: 1,
        };
        let estimate = runner.estimate(model).unwrap();
        let mut summary = nic_conformance::report::Summary::new(&contract, false);
        runner.run(&mut summary).await;
        let attached = mock.mock.attached_ports();
        mock.stop().await;
        (summary, estimate, attached, fixtures)
    });
    assert_eq!(summary.worst(), None, "findings {:?}", summary.findings);
    assert_eq!(
        summary.cases as usize, estimate.cases,
        "the estimate replays the run's plan"
    );
    assert_eq!(
        attached,
        [
            fixtures.primary_port_id.clone(),
            nic_conformance::mock::BYSTANDER_PORT_ID.to_string()
        ],
        "the server ends as it began"
    );
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert_jobs_near_the_estimate(&text, &estimate);
}

/// The jobs the mock's log shows started (a batch add or delete answered
/// 200) are within a fifth of what the estimate counts.
fn assert_jobs_near_the_estimate(log: &str, estimate: &nic_conformance::runner::Estimate) {
    let jobs = (log.lines())
        .filter(|l| l.contains("\"method\":\"POST\"") && l.contains("\"status\":200"))
        .filter(|l| l.contains("/nics\"") || l.contains("/nics/delete\""))
        .count();
    eprintln!("jobs started {jobs}, estimated {estimate:?}");
    let (low, high) = (estimate.jobs * 4 / 5, estimate.jobs * 6 / 5);
    assert!(
        (low..=high).contains(&jobs),
        "the mock started {jobs} jobs; the estimate counts {} ({} of them setup and clean-up)",
        estimate.jobs,
        estimate.housekeeping
    );
}

/// The estimated wall times a run said.
#[derive(Default)]
struct Estimates(Vec<Duration>);

impl nic_conformance::runner::event::Reporter for Estimates {
    fn event(&mut self, event: &nic_conformance::runner::event::Event) {
        if let nic_conformance::runner::event::Event::Estimated { wall } = event {
            self.0.push(*wall);
        }
    }
}

/// A target with two servers: the cases that change a server take turns
/// on both, each server keeps a ledger of its own, and both end as they
/// began, with no finding. Each server adds a turn on a cloud, so the
/// second server takes a share of the jobs.
#[test]
fn a_run_over_two_servers_changes_both_and_leaves_both_as_they_were() {
    use nic_conformance::contract::Contract;
    use nic_conformance::fixtures::{ServerFixtures, example_fixtures};
    use nic_conformance::runner::event::Fanout;
    use nic_conformance::runner::{Model, RunOptions, Runner};

    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger-two.jsonl");
    let mut fixtures = example_fixtures();
    fixtures.extra_spare_port_ids.truncate(1);
    fixtures.extra_sub_network_interface_ids.clear();
    let second = ServerFixtures {
        server_id: "6e2f4c1a-8f0b-4a7e-9b52-000000000002".into(),
        primary_port_id: "a1d0f6b2-3c4e-4f5a-8b6c-000000000002".into(),
        spare_port_id: "ce531f90-199f-48c0-816c-000000000002".into(),
        extra_spare_port_ids: vec!["ce531f90-199f-48c0-816c-000000000003".into()],
    };
    fixtures.extra_servers = vec![second.clone()];
    let rt = tokio::runtime::Runtime::new().unwrap();
    let log = SharedLog::default();
    let (summary, before, after, estimate) = rt.block_on(async {
        let contract = Arc::new(Contract::builtin().unwrap());
        let (mock, client) = cloud_like(&contract, &fixtures, &log).await;
        let servers = [fixtures.server_id.clone(), second.server_id.clone()];
        let before = servers.clone().map(|s| mock.mock.attached_to(&s));
        let mut opts = RunOptions::new(1);
        opts.ledger = Some(ledger.clone());
        let runner = Arc::new(Runner::new(contract.clone(), client, opts));
        let estimate = runner.estimate(Model {
            round_trip: Duration::ZERO,
            job: Duration::from_millis(20),
            spares: 2,
            servers: 2,
        });
        let mut summary = nic_conformance::report::Summary::new(&contract, false);
        let mut walls = Estimates::default();
        runner
            .run(&mut Fanout(vec![&mut summary, &mut walls]))
            .await;
        let after = servers.map(|s| mock.mock.attached_to(&s));
        mock.stop().await;
        assert_eq!(
            walls.0.len(),
            1,
            "the run says its estimated wall time once it has learnt the job time"
        );
        (summary, before, after, estimate.unwrap())
    });
    assert_eq!(summary.worst(), None, "findings {:?}", summary.findings);
    assert_eq!(
        before[1].len(),
        2,
        "the second server has a primary NIC and a bystander"
    );
    assert_eq!(after, before, "both servers end as they began");
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let changes = |server: &str| {
        (text.lines())
            .filter(|l| l.contains("\"method\":\"POST\"") && l.contains(server))
            .count()
    };
    let (first, other) = (changes(&fixtures.server_id), changes(&second.server_id));
    eprintln!("changes sent to the first server {first}, to the second {other}");
    assert!(
        other * 3 >= first,
        "the second server took {other} changes, the first {first}"
    );
    assert_jobs_near_the_estimate(&text, &estimate);
    let second_ledger = dir
        .path()
        .join(format!("ledger-two.server-{}.jsonl", second.server_id));
    for path in [&ledger, &second_ledger] {
        let o = nic_conformance::ledger::read(path).unwrap();
        assert!(
            o.is_some_and(|o| o.finished && o.is_clean()),
            "{} is closed with nothing outstanding",
            path.display()
        );
    }
}
