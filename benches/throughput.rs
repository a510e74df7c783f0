//! Throughput figures, measured in one process run so they can be compared
//! as ratios on a shared, noisy machine.
//!
//! `cargo bench --bench throughput` runs every section; pass section names to
//! pick: `cargo bench --bench throughput -- respond mock generate run memory`.
//! - respond: the mock's own work per request, without HTTP (one thread);
//! - mock: requests/s of the mock on the update-sub-NIC and batch-add routes
//!   at 1, 8 and 64 connections (wrk when installed, else a tokio client);
//! - generate: cases generated per second per operation and kind;
//! - run: cases/s of a full run (generated, sent, judged) at concurrency 1, 8,
//!   64 against the in-process mock, next to the mock's raw request rate
//!   measured right before it, as a ratio;
//! - proxy: the validating proxy in front of the mock against the mock alone:
//!   p50 and p99 latency at one connection (the difference is what the proxy
//!   adds) and requests/s at 64 connections;
//! - memory: peak RSS of a 100,000-case run of the binary cargo builds for the bench.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nic_conformance::case::CaseKind;
use nic_conformance::contract::Contract;
use nic_conformance::fixtures::{EXAMPLE_PROJECT_ID, example_fixtures};
use nic_conformance::generate::Generator;
use nic_conformance::http::Client;
use nic_conformance::mock::{Incoming, Mock, MockConfig, RunningMock, start_local};
use nic_conformance::report::Summary;
use nic_conformance::runner::{RunOptions, Runner};
use nic_conformance::target::Target;

const SECONDS: u64 = 4;

// The same allocator as the binary, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn mock_config() -> MockConfig {
    let mut c = MockConfig::new(EXAMPLE_PROJECT_ID, example_fixtures());
    c.job_duration = Duration::from_millis(1);
    c
}

struct Route {
    name: &'static str,
    method: &'static str,
    path: String,
    body: String,
}

fn routes() -> Vec<Route> {
    let f = example_fixtures();
    vec![
        Route {
            name: "update-sub-network-interface",
            method: "PUT",
            path: format!(
                "/v3/{EXAMPLE_PROJECT_ID}/vpc/sub-network-interfaces/{}",
                f.sub_network_interface_id
            ),
            body: format!(
                r#"{{"sub_network_interface": {{"description": "bench", "security_groups": ["{}"]}}}}"#,
                f.security_group_id
            ),
        },
        Route {
            name: "batch-add-nics",
            method: "POST",
            path: format!("/v1/{EXAMPLE_PROJECT_ID}/cloudservers/{}/nics", f.server_id),
            body: format!(r#"{{"nics": [{{"subnet_id": "{}"}}]}}"#, f.subnet_id),
        },
    ]
}

fn have_wrk() -> bool {
    Command::new("wrk")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Requests per second at `connections`, with wrk.
fn wrk_rate(base: &str, route: &Route, connections: usize) -> f64 {
    let script = std::env::temp_dir().join(format!("nic-bench-{}.lua", std::process::id()));
    let body = route.body.replace('\\', "\\\\").replace('"', "\\\"");
    std::fs::write(&script, format!("wrk.method = \"{}\"\nwrk.body = \"{body}\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n", route.method)).unwrap();
    let threads = connections.min(2);
    let out = Command::new("wrk")
        .args([
            "-t",
            &threads.to_string(),
            "-c",
            &connections.to_string(),
            "-d",
            &format!("{SECONDS}s"),
            "-s",
            script.to_str().unwrap(),
            &format!("{base}{}", route.path),
        ])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&out.stdout);
    let non2xx = text
        .lines()
        .find(|l| l.contains("Non-2xx"))
        .map(str::to_string);
    assert!(non2xx.is_none(), "wrk saw errors: {non2xx:?}\n{text}");
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Requests per second at `connections`, with a tokio/reqwest client in this process.
async fn client_rate(base: &str, route: &Route, connections: usize) -> f64 {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()
        .unwrap();
    let url = format!("{base}{}", route.path);
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (http, url, body, method) =
                (http.clone(), url.clone(), route.body.clone(), route.method);
            tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
                    let r = http
                        .request(m, &url)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .unwrap();
                    assert!(r.status().is_success());
                    let _ = r.bytes().await;
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

fn raw_rate(
    rt: &tokio::runtime::Runtime,
    mock: &RunningMock,
    route: &Route,
    connections: usize,
) -> (f64, &'static str) {
    raw_rate_url(rt, &mock.base_url, route, connections)
}

fn raw_rate_url(
    rt: &tokio::runtime::Runtime,
    base: &str,
    route: &Route,
    connections: usize,
) -> (f64, &'static str) {
    if have_wrk() {
        (wrk_rate(base, route, connections), "wrk")
    } else {
        (
            rt.block_on(client_rate(base, route, connections)),
            "tokio client",
        )
    }
}

/// Concurrency levels: 1, 8 and 64, or those in `BENCH_CONCURRENCY` (e.g. `64` or `8,64`).
fn levels() -> Vec<usize> {
    std::env::var("BENCH_CONCURRENCY")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![1, 8, 64])
}

/// An axum server that does nothing but answer a fixed job id: the floor
/// the mock's own work is measured against, in the same run.
async fn start_bare() -> (String, tokio::sync::oneshot::Sender<()>) {
    async fn answer(req: axum::extract::Request) -> axum::response::Response {
        let _ = axum::body::to_bytes(req.into_body(), 1 << 20).await;
        axum::response::Response::new(axum::body::Body::from(
            r#"{"job_id":"0123456789abcdef0123456789abcdef"}"#,
        ))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let app = axum::Router::new().fallback(answer);
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    (base, tx)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Rounds per figure: the median of three interleaved rounds resists a noisy neighbour.
const ROUNDS: usize = 3;

fn bench_mock() {
    println!("\n## mock request rate (median of {ROUNDS} rounds of {SECONDS}s per figure)");
    let rt = runtime();
    let contract = Arc::new(Contract::builtin().unwrap());
    for connections in levels() {
        let mut bare = Vec::new();
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); routes().len()];
        let mut tool = "";
        for _ in 0..ROUNDS {
            let (base, stop) = rt.block_on(start_bare());
            let floor = Route {
                name: "bare",
                method: "POST",
                path: "/".into(),
                body: "{}".into(),
            };
            bare.push(raw_rate_url(&rt, &base, &floor, connections).0);
            let _ = stop.send(());
            for (i, route) in routes().iter().enumerate() {
                // A fresh mock per figure: batch-add state grows with every request.
                let mock = rt
                    .block_on(start_local(contract.clone(), mock_config()))
                    .unwrap();
                let (rate, t) = raw_rate(&rt, &mock, route, connections);
                rates[i].push(rate);
                tool = t;
                rt.block_on(mock.stop());
            }
        }
        let bare = median(bare);
        println!(
            "bare axum handler (floor)              {connections:>3} connections: {bare:>9.0} req/s ({tool})"
        );
        for (route, r) in routes().iter().zip(rates) {
            let rate = median(r);
            println!(
                "mock {:<30} {connections:>3} connections: {rate:>9.0} req/s ({tool}), {:.2} of the bare handler",
                route.name,
                rate / bare
            );
        }
    }
}

fn bench_generate() {
    println!("\n## generation rate");
    let contract = Contract::builtin().unwrap();
    let f = example_fixtures();
    let g = Generator::new(&contract, &f, EXAMPLE_PROJECT_ID, 1);
    for op in contract.documented_operations() {
        let mut line = format!("generate {:<30}", op.id);
        for kind in CaseKind::GENERATED {
            let started = Instant::now();
            let mut n = 0usize;
            while started.elapsed() < Duration::from_secs(1) {
                n += g.cases(op, kind, 200).count();
            }
            line.push_str(&format!(
                " {:>9}: {:>7.0}/s",
                kind.as_str(),
                n as f64 / started.elapsed().as_secs_f64()
            ));
        }
        println!("{line}");
    }
}

fn bench_run() {
    println!("\n## full run against the in-process mock (generated, sent, judged)");
    let rt = runtime();
    let contract = Arc::new(Contract::builtin().unwrap());
    let route = &routes()[0];
    for concurrency in levels() {
        let mock = rt
            .block_on(start_local(contract.clone(), mock_config()))
            .unwrap();
        // The raw rate two ways: the harness's own HTTP stack (reqwest on tokio, in
        // this process, as the run uses it) and wrk (C, in a process of its own).
        let raw = rt.block_on(client_rate(&mock.base_url, route, concurrency));
        let wrk = have_wrk().then(|| wrk_rate(&mock.base_url, route, concurrency));
        let mut target = Target::builtin(&mock.base_url);
        target.limits.concurrency = concurrency;
        let client = Arc::new(Client::new(target).unwrap());
        let mut opts = RunOptions::new(1);
        opts.include_curated = false;
        opts.budget = Some(if concurrency == 1 { 200 } else { 1000 });
        let runner = Arc::new(Runner::new(contract.clone(), client, opts));
        let started = Instant::now();
        let mut summary = Summary::new(&contract, false);
        rt.block_on(runner.run(&mut summary));
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(summary.worst(), None, "the faithful mock gave findings");
        let cases = summary.cases as f64 / secs;
        let requests = summary.end.requests as f64 / secs;
        let vs_wrk = wrk
            .map(|w| format!("; wrk {w:>6.0} req/s, cases/wrk {:.3}", cases / w))
            .unwrap_or_default();
        println!(
            "run concurrency {concurrency:>2}: {cases:>6.0} cases/s, {requests:>6.0} req/s ({:.2} requests/case); raw (reqwest) {raw:>6.0} req/s, cases/raw {:.3}, requests/raw {:.3}{vs_wrk}",
            summary.end.requests as f64 / summary.cases as f64,
            cases / raw,
            requests / raw
        );
        rt.block_on(mock.stop());
    }
}

/// The binary cargo built for this bench (optimized, and never a stale copy).
const BIN: &str = env!("CARGO_BIN_EXE_nic-conformance");

/// Peak RSS (MB) of a run of the binary with `args`, and its last output line.
fn peak_rss(args: &[&str]) -> (f64, f64, String) {
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    loop {
        if let Ok(s) = std::fs::read_to_string(&status_file)
            && let Some(kb) = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        {
            peak_kb = peak_kb.max(kb);
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    (
        peak_kb as f64 / 1024.0,
        started.elapsed().as_secs_f64(),
        last,
    )
}

fn bench_memory() {
    println!("\n## peak memory of a 100,000-case run (the optimized binary)");
    // 5 operations × 3 kinds × 7,150 cases, less the body without a boundary ≈ 100,000 cases.
    let run = [
        "run",
        "--seed",
        "1",
        "--no-curated",
        "--no-snapshots",
        "--budget",
        "7150",
        "--concurrency",
        "16",
    ];
    let (mb, secs, last) = peak_rss(&run);
    println!(
        "memory: runner with the built-in mock in one process: peak RSS {mb:.1} MB over {secs:.0}s; {last}"
    );

    // The runner alone, against the mock in a process of its own.
    let (mut mock, base) = start_mock_process(&["--job-ms", "1"]);
    let f = example_fixtures();
    let extra: Vec<String> = f
        .extra_spare_port_ids
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect();
    let target = std::env::temp_dir().join(format!("nic-bench-target-{}.toml", std::process::id()));
    std::fs::write(
        &target,
        format!(
            "[target]\nname = \"builtin-mock\"\necs_url = \"{base}\"\nvpc_url = \"{base}\"\nproject_id = \"{EXAMPLE_PROJECT_ID}\"\n[fixtures]\nserver_id = \"{}\"\nprimary_port_id = \"{}\"\nspare_port_id = \"{}\"\nnetwork_id = \"{}\"\nsubnet_id = \"{}\"\nsecurity_group_id = \"{}\"\nsub_network_interface_id = \"{}\"\nextra_spare_port_ids = [{}]\n[limits]\nrate_per_second = 0\nconcurrency = 16\njob_poll_ms = 8\njob_timeout_secs = 5\n",
            f.server_id, f.primary_port_id, f.spare_port_id, f.network_id, f.subnet_id, f.security_group_id, f.sub_network_interface_id, extra.join(", ")
        ),
    )
    .unwrap();
    let mut remote = run.to_vec();
    remote.extend(["--target", target.to_str().unwrap()]);
    let (mb, secs, last) = peak_rss(&remote);
    println!(
        "memory: runner alone against a mock process: peak RSS {mb:.1} MB over {secs:.0}s; {last}"
    );
    let _ = mock.kill();
    let _ = mock.wait();
    let _ = std::fs::remove_file(target);
}

/// A loopback stand-in for a cloud: the built-in mock in a process of its
/// own with jobs of `BENCH_JOB_MS` (2000) and `BENCH_LATENCY_MS` (100) added
/// to every answer, and the default run against it (the README's fixtures:
/// one spare port and one supplementary NIC, or `BENCH_SPARES` and
/// `BENCH_SUB_NICS` of each, on `BENCH_SERVERS` (1) servers with
/// `BENCH_SPARES` each; the limits a real cloud gets). With
/// `BENCH_OTHER_BIN` (another build of the harness) the two are run
/// alternately, each against a fresh mock, `BENCH_ROUNDS` (1) times. Before
/// each run of this build, `doctor --job-time` prints its estimate.
fn bench_cloud() {
    let env_num = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let job_ms = env_num("BENCH_JOB_MS", 2000);
    let latency_ms = env_num("BENCH_LATENCY_MS", 100);
    let spares = env_num("BENCH_SPARES", 1).max(1) as usize;
    let sub_nics = env_num("BENCH_SUB_NICS", 1).max(1) as usize;
    let rounds = env_num("BENCH_ROUNDS", 1);
    let servers = env_num("BENCH_SERVERS", 1).max(1) as usize;
    println!(
        "\n## a run against a cloud-like stand-in: jobs of {job_ms} ms, {latency_ms} ms added round trip, {servers} server(s) with {spares} spare port(s) each, {sub_nics} supplementary NIC(s)"
    );
    let mut bins = vec![("this build", BIN.to_string())];
    if let Ok(other) = std::env::var("BENCH_OTHER_BIN") {
        bins.push(("BENCH_OTHER_BIN", other));
    }
    for round in 1..=rounds {
        for (name, bin) in &bins {
            let dir = std::env::temp_dir().join(format!(
                "nic-bench-cloud-{}-{round}-{}",
                std::process::id(),
                bins.iter().position(|b| &b.1 == bin).unwrap_or(0)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            // The mock makes the servers its fixtures name; its URL comes after.
            let fixtures = dir.join("fixtures.toml");
            let fixture_text = cloud_target("http://127.0.0.1:1", spares, sub_nics, servers);
            std::fs::write(&fixtures, fixture_text).unwrap();
            let (mut mock, base) = start_mock_process(&[
                "--job-ms",
                &job_ms.to_string(),
                "--latency-ms",
                &latency_ms.to_string(),
                "--fixtures",
                &fixtures.to_string_lossy(),
            ]);
            let target = dir.join("cloud.toml");
            std::fs::write(&target, cloud_target(&base, spares, sub_nics, servers)).unwrap();
            if bin == BIN {
                let out = Command::new(bin)
                    .args([
                        "doctor",
                        "--target",
                        "cloud.toml",
                        "--job-time",
                        &format!("{job_ms}ms"),
                    ])
                    .current_dir(&dir)
                    .output()
                    .unwrap();
                let text = String::from_utf8_lossy(&out.stdout);
                for line in text
                    .lines()
                    .filter(|l| l.starts_with("estimate") || l.starts_with("  with"))
                {
                    println!("cloud: round {round}: doctor: {line}");
                }
            }
            let started = Instant::now();
            let out = Command::new(bin)
                .args([
                    "run",
                    "--target",
                    "cloud.toml",
                    "--seed",
                    "1",
                    "--no-snapshots",
                ])
                .current_dir(&dir)
                .output()
                .unwrap();
            let secs = started.elapsed().as_secs_f64();
            let text = String::from_utf8_lossy(&out.stdout);
            let summary = text
                .lines()
                .find(|l| l.contains(" cases, ") && l.contains(" passed"))
                .unwrap_or_default()
                .to_string();
            println!("cloud: round {round}: {name}: {secs:.1}s wall; {summary}");
            let _ = mock.kill();
            let _ = mock.wait();
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// The binary's mock in a process of its own, and its base URL.
fn start_mock_process(extra: &[&str]) -> (std::process::Child, String) {
    let mut mock = Command::new(BIN)
        .args(["mock", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(mock.stdout.as_mut().unwrap()),
        &mut first,
    )
    .unwrap();
    (mock, first.trim().to_string())
}

/// A target file for the stand-in at `base`: the README's fixtures (with
/// more spares and supplementary NICs when asked, and `servers - 1` more
/// servers of `spares` spare ports each) and a cloud's limits.
fn cloud_target(base: &str, spares: usize, sub_nics: usize, servers: usize) -> String {
    let f = example_fixtures();
    let quoted = |ids: &[String]| {
        ids.iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let extra_spares =
        quoted(&f.extra_spare_port_ids[..(spares - 1).min(f.extra_spare_port_ids.len())]);
    let extra_subs = quoted(
        &f.extra_sub_network_interface_ids
            [..(sub_nics - 1).min(f.extra_sub_network_interface_ids.len())],
    );
    let mut more = String::new();
    for k in 2..=servers {
        let spare = |j: usize| format!("\"ce531f90-199f-48c0-816c-{k:04x}{j:08x}\"");
        let extra: Vec<String> = (1..spares).map(spare).collect();
        more += &format!(
            "[[fixtures.extra_servers]]\nserver_id = \"6e2f4c1a-8f0b-4a7e-9b52-{k:012x}\"\nprimary_port_id = \"a1d0f6b2-3c4e-4f5a-8b6c-{k:012x}\"\nspare_port_id = {}\nextra_spare_port_ids = [{}]\n",
            spare(0),
            extra.join(", ")
        );
    }
    format!(
        "[target]\nname = \"cloud-stand-in\"\necs_url = \"{base}\"\nvpc_url = \"{base}\"\nproject_id = \"{EXAMPLE_PROJECT_ID}\"\n[fixtures]\nserver_id = \"{}\"\nprimary_port_id = \"{}\"\nspare_port_id = \"{}\"\nnetwork_id = \"{}\"\nsubnet_id = \"{}\"\nsecurity_group_id = \"{}\"\nsub_network_interface_id = \"{}\"\nsubnet_cidr = \"{}\"\nextra_spare_port_ids = [{extra_spares}]\nextra_sub_network_interface_ids = [{extra_subs}]\nextra_security_group_ids = [{}]\n{more}[auth]\nkind = \"none\"\n",
        f.server_id,
        f.primary_port_id,
        f.spare_port_id,
        f.network_id,
        f.subnet_id,
        f.security_group_id,
        f.sub_network_interface_id,
        f.subnet_cidr.as_deref().unwrap_or_default(),
        quoted(&f.extra_security_group_ids)
    )
}

/// The mock's own work per request (routing, validation, rules, state, jobs),
/// with no HTTP around it: steadier than a socket figure on a noisy machine, so
/// it is the one to compare when changing the mock's code.
fn bench_respond() {
    println!("\n## mock logic per request, no HTTP (one thread, median of {ROUNDS} rounds of 1s)");
    let rt = runtime();
    let _guard = rt.enter(); // jobs are ended by the mock's own task
    let contract = Arc::new(Contract::builtin().unwrap());
    let headers = vec![("content-type".to_string(), "application/json".to_string())];
    for route in routes() {
        let mut rounds = Vec::new();
        for _ in 0..ROUNDS {
            let mock = Mock::new(contract.clone(), mock_config());
            let req = Incoming {
                method: route.method,
                raw_path: &route.path,
                raw_query: None,
                headers: &headers,
                body: route.body.as_bytes(),
            };
            let (started, mut n) = (Instant::now(), 0u64);
            while started.elapsed() < Duration::from_secs(1) {
                for _ in 0..256 {
                    let reply = mock.respond(&req);
                    assert!(
                        reply.status < 300,
                        "{} answered {}",
                        route.name,
                        reply.status
                    );
                }
                n += 256;
            }
            rounds.push(started.elapsed().as_secs_f64() * 1e6 / n as f64);
        }
        let us = median(rounds);
        println!(
            "mock {:<30} {us:>6.2} µs/request, {:>9.0} requests/s on one core",
            route.name,
            1e6 / us
        );
    }
}

/// Latencies (µs) of `n` requests one after another.
async fn latencies(base: &str, route: &Route, n: usize) -> Vec<f64> {
    let http = reqwest::Client::new();
    let url = format!("{base}{}", route.path);
    let method = reqwest::Method::from_bytes(route.method.as_bytes()).unwrap();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let r = http
            .request(method.clone(), &url)
            .header("content-type", "application/json")
            .body(route.body.clone())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        let _ = r.bytes().await;
        out.push(started.elapsed().as_secs_f64() * 1e6);
    }
    out
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn bench_proxy() {
    println!(
        "\n## proxy in front of the mock (update-sub-network-interface, median of {ROUNDS} rounds)"
    );
    let rt = runtime();
    let contract = Arc::new(Contract::builtin().unwrap());
    let route = &routes()[0];
    let mock = rt
        .block_on(start_local(contract.clone(), mock_config()))
        .unwrap();
    let proxy = rt.block_on(async {
        let p = nic_conformance::proxy::Proxy::new(
            contract.clone(),
            Target::builtin(&mock.base_url),
            Default::default(),
        )
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        nic_conformance::proxy::serve(p, listener).await.unwrap()
    });
    let (mut direct, mut through) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        direct.extend(rt.block_on(latencies(&mock.base_url, route, 2000)));
        through.extend(rt.block_on(latencies(&proxy.base_url, route, 2000)));
    }
    let (d50, d99) = (percentile(&mut direct, 0.5), percentile(&mut direct, 0.99));
    let (t50, t99) = (
        percentile(&mut through, 0.5),
        percentile(&mut through, 0.99),
    );
    println!("latency at 1 connection   mock alone p50 {d50:>7.0} µs  p99 {d99:>7.0} µs");
    println!("                          via proxy  p50 {t50:>7.0} µs  p99 {t99:>7.0} µs");
    println!(
        "                          added      p50 {:>7.0} µs  p99 {:>7.0} µs",
        t50 - d50,
        t99 - d99
    );
    let connections = 64;
    let (mut alone, mut via) = (Vec::new(), Vec::new());
    let mut tool = "";
    for _ in 0..ROUNDS {
        let (r, t) = raw_rate(&rt, &mock, route, connections);
        alone.push(r);
        tool = t;
        via.push(raw_rate_url(&rt, &proxy.base_url, route, connections).0);
    }
    let (alone, via) = (median(alone), median(via));
    println!("rate at {connections} connections     mock alone {alone:>9.0} req/s ({tool})");
    println!(
        "                          via proxy  {via:>9.0} req/s, {:.2} of the mock alone",
        via / alone
    );
    let summary = rt.block_on(proxy.stop());
    println!(
        "                          ({} exchanges judged, {} finding(s))",
        summary.cases,
        summary.findings.len()
    );
    rt.block_on(mock.stop());
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let all = args.is_empty();
    let want = |s: &str| all || args.iter().any(|a| a == s);
    if want("respond") {
        bench_respond();
    }
    if want("mock") {
        bench_mock();
    }
    if want("generate") {
        bench_generate();
    }
    if want("run") {
        bench_run();
    }
    if want("proxy") {
        bench_proxy();
    }
    if want("memory") {
        bench_memory();
    }
    // Minutes, not seconds: only when asked for by name.
    if args.iter().any(|a| a == "cloud") {
        bench_cloud();
    }
}
