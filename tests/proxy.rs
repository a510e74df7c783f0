//! The validating proxy over HTTP: the runner as its client, the mock with
//! each fault profile behind it. What one exchange shows, the proxy names
//! exactly; what needs the cloud's state or world, it leaves undecided.

mod common;
use common::contract;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use nic_conformance::contract::Contract;
use nic_conformance::contract::ids::CLIENT_PREFIX;
use nic_conformance::fixtures::{EXAMPLE_PROJECT_ID, example_fixtures};
use nic_conformance::http::Client;
use nic_conformance::mock::{FaultSet, MockConfig, start_local};
use nic_conformance::proxy::{Proxy, ProxyOptions};
use nic_conformance::report::Summary;
use nic_conformance::report::json::{CaseLog, to_json, write_report};
use nic_conformance::runner::event::Fanout;
use nic_conformance::runner::{RunOptions, Runner};
use nic_conformance::target::Target;

/// The runner's findings and the proxy's, for one run through the proxy.
async fn through_proxy(c: &Arc<Contract>, faults: &[String]) -> (Summary, Summary) {
    let (seen, judged, _) = through_proxy_logged(c, faults, None, None).await;
    (seen, judged)
}

/// [`through_proxy`], with the proxy's exchanges and the run's cases
/// streamed to case logs (the JSON reports' `case_results`).
async fn through_proxy_logged(
    c: &Arc<Contract>,
    faults: &[String],
    proxy_log: Option<CaseLog>,
    run_log: Option<&mut CaseLog>,
) -> (Summary, Summary, Option<CaseLog>) {
    let mut cfg = MockConfig::new(EXAMPLE_PROJECT_ID, example_fixtures());
    cfg.job_duration = Duration::from_millis(1);
    cfg.faults = FaultSet::from_names(c, faults).unwrap();
    let mock = start_local(c.clone(), cfg).await.unwrap();
    let mut proxy = Proxy::new(
        c.clone(),
        Target::builtin(&mock.base_url),
        ProxyOptions::default(),
    )
    .unwrap();
    if let Some(log) = proxy_log {
        proxy = proxy.logging_cases(log);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = nic_conformance::proxy::serve(proxy, listener)
        .await
        .unwrap();
    let client = Arc::new(Client::new(Target::builtin(&proxy.base_url)).unwrap());
    let mut opts = RunOptions::new(7);
    opts.budget = Some(1);
    let runner = Arc::new(Runner::new(c.clone(), client, opts));
    let mut seen = Summary::new(c, false);
    match run_log {
        Some(log) => runner.run(&mut Fanout(vec![&mut seen, log])).await,
        None => runner.run(&mut seen).await,
    }
    let (judged, log) = proxy.stop_with_log().await;
    mock.stop().await;
    (seen, judged, log)
}

/// The server-side finding ids of a summary (the client's are prefixed).
fn server_ids(s: &Summary) -> BTreeSet<String> {
    s.findings
        .keys()
        .map(|(id, _)| id.clone())
        .filter(|id| !id.starts_with(CLIENT_PREFIX))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conforming_server_behind_the_proxy_gets_no_finding_and_negative_cases_are_the_clients() {
    let c = contract();
    let (seen, judged) = through_proxy(&c, &[]).await;
    assert!(seen.findings.is_empty(), "{:?}", seen.findings.keys());
    assert!(server_ids(&judged).is_empty(), "{:?}", server_ids(&judged));
    // The runner's negative cases break rules on purpose: the proxy says so, against the client.
    let client: Vec<&String> = judged
        .findings
        .keys()
        .map(|(id, _)| id)
        .filter(|id| id.starts_with(CLIENT_PREFIX))
        .collect();
    assert!(
        client
            .iter()
            .any(|id| id.as_str() == "client:nova-attach.port-net-exclusive"),
        "{client:?}"
    );
    // Every exchange the runner made went through it.
    assert!(judged.cases > 100, "{}", judged.cases);
    // Nothing it could not see is counted as passed.
    let effect = &judged.rules["batch-add.job-attaches"];
    assert_eq!(effect.status(), "undecided", "{effect:?}");
}

/// Whether one exchange shows a rule or keyword: a schema keyword, or a
/// rule the catalogue says one request and its answer decide. Not the
/// status of a refused valid request: what exists on the cloud may explain
/// it, so the proxy leaves it undecided.
fn seen_in_one_exchange(c: &Contract, id: &str) -> bool {
    id.contains('#')
        || c.rule(id)
            .is_some_and(|r| r.check.decided_by_exchange() && r.check.kind() != "status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_one_exchange_shows_is_named_exactly_and_the_rest_is_never_passed() {
    let c = contract();
    let mut exact = 0;
    for fault in nic_conformance::mock::faults::catalogue(&c) {
        let (_, judged) = through_proxy(&c, std::slice::from_ref(&fault.name)).await;
        let declared: BTreeSet<String> = fault.breaks.iter().cloned().collect();
        let found = server_ids(&judged);
        if declared.iter().all(|id| seen_in_one_exchange(&c, id)) {
            assert_eq!(found, declared, "{}", fault.name);
            exact += 1;
            continue;
        }
        // What the proxy cannot see is undecided or violated, never passed.
        for id in &declared {
            let status = judged
                .rules
                .get(id)
                .map_or("never exercised", |r| r.status());
            assert!(
                found.contains(id) || status != "ok",
                "{}: {id} counted as passed through the proxy",
                fault.name
            );
        }
    }
    // Request-side (schema keywords, rules of the request) and response-side profiles.
    assert!(exact >= 30, "{exact}");
}

/// A nova answer with a malformed `mac_addr` is named by its keyword, as a
/// client that never looks at the MAC would not notice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_mac_address_is_named_by_its_keyword() {
    let c = contract();
    let (_, judged) = through_proxy(&c, &["bad-mac-address".into()]).await;
    assert!(
        server_ids(&judged).contains(
            "nova-attach-interface.response.200#/properties/interfaceAttachment/properties/mac_addr/format"
        ),
        "{:?}",
        server_ids(&judged)
    );
}

/// A signed target: the proxy signs each request again with the target's
/// AK/SK (the client signed for the proxy's host, or not at all); with
/// `verify_client` an unsigned client is refused with 401. A body over the
/// target's limit is refused with 413, not forwarded. No credential reaches
/// the proxy's findings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_signed_again_for_the_target_and_oversized_bodies_refused() {
    let c = contract();
    let (ak, sk) = ("AKPROXYCHECK0001", "SKPROXYCHECKSECRET0001");
    let mut cfg = MockConfig::new(EXAMPLE_PROJECT_ID, example_fixtures());
    cfg.require_auth = true;
    cfg.credentials = vec![(ak.into(), sk.into())];
    cfg.faults = FaultSet::from_names(&c, &["bad-mac-address".into()]).unwrap();
    let mock = start_local(c.clone(), cfg).await.unwrap();
    let text = format!(
        "[target]\nname = \"signed\"\necs_url = \"{0}\"\nvpc_url = \"{0}\"\nproject_id = \"{EXAMPLE_PROJECT_ID}\"\n\
         [fixtures]\nserver_id = \"s\"\nprimary_port_id = \"p\"\nspare_port_id = \"q\"\nnetwork_id = \"n\"\n\
         subnet_id = \"u\"\nsecurity_group_id = \"g\"\nsub_network_interface_id = \"i\"\n\
         [auth]\nkind = \"aksk\"\nak_env = \"AK\"\nsk_env = \"SK\"\n[limits]\nmax_body_mb = 1\n",
        mock.base_url
    );
    let env = |name: &str| match name {
        "AK" => Some(ak.to_string()),
        "SK" => Some(sk.to_string()),
        _ => None,
    };
    let target = Target::parse("signed.toml", &text, env).unwrap();
    let f = example_fixtures();
    let attach = format!(
        "/v2.1/{EXAMPLE_PROJECT_ID}/servers/{}/os-interface",
        f.server_id
    );
    let body = format!(
        "{{\"interfaceAttachment\": {{\"port_id\": \"{}\"}}}}",
        f.spare_port_id
    );
    let http = reqwest::Client::new();
    for verify in [false, true] {
        let options = ProxyOptions {
            verify_client: verify,
            ..Default::default()
        };
        let proxy = Proxy::new(c.clone(), target.clone(), options).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = nic_conformance::proxy::serve(proxy, listener)
            .await
            .unwrap();
        let answer = http
            .post(format!("{}{attach}", proxy.base_url))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        if verify {
            assert_eq!(answer.status(), 401, "an unsigned client is refused");
        } else {
            assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
            let detach = http
                .delete(format!("{}{attach}/{}", proxy.base_url, f.spare_port_id))
                .send()
                .await
                .unwrap();
            assert_eq!(detach.status(), 202);
            // A query is signed too, as the target reads it.
            let listed = http
                .get(format!(
                    "{}/v3/{EXAMPLE_PROJECT_ID}/vpc/sub-network-interfaces?limit=1&marker=a%20b",
                    proxy.base_url
                ))
                .header("accept-encoding", "gzip")
                .send()
                .await
                .unwrap();
            assert_eq!(listed.status(), 200, "{}", listed.text().await.unwrap());
        }
        let big = http
            .post(format!("{}{attach}", proxy.base_url))
            .header("content-type", "application/json")
            .body(vec![b' '; (1 << 20) + 1])
            .send()
            .await
            .unwrap();
        assert_eq!(big.status(), 413);
        let judged = proxy.stop().await;
        let everything = serde_json::to_string(&nic_conformance::report::json::to_json(
            &judged,
            &c,
            nic_conformance::report::Gate::new(nic_conformance::contract::Severity::Must),
        ))
        .unwrap();
        for secret in [ak, sk, "Signature="] {
            assert!(!everything.contains(secret), "{secret} leaked");
        }
        assert!(everything.contains("max_body_mb"), "the 413 is reported");
        if !verify {
            assert!(
                server_ids(&judged).contains(
                    "nova-attach-interface.response.200#/properties/interfaceAttachment/properties/mac_addr/format"
                ),
                "{:?}",
                server_ids(&judged)
            );
        }
    }
    mock.stop().await;
}

/// Sends `head` (and no body) on a raw connection; returns the status line.
async fn raw_status(base: &str, head: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("the proxy did not answer within 5 s")
        .unwrap();
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// With `--verify-client` in front of an AK/SK target, only requests signed
/// with the target's keys, dated within 15 minutes, are signed again and
/// forwarded: a token-only or a stale request gets 401 and reaches nothing.
/// A declared 100 GB body is refused with 413 before a byte of it is read,
/// and a path that climbs out of the target URL's path is refused with 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verifying_proxy_signs_only_fresh_requests_signed_with_the_targets_keys() {
    use nic_conformance::signing::{DATE_HEADER, SignableRequest, sdk_date_now, sign};
    let c = contract();
    let (ak, sk) = ("AKPROXYVERIFY001", "SKPROXYVERIFYSECRET001");
    let mut cfg = MockConfig::new(EXAMPLE_PROJECT_ID, example_fixtures());
    cfg.require_auth = true;
    cfg.credentials = vec![(ak.into(), sk.into())];
    let mock = start_local(c.clone(), cfg).await.unwrap();
    let text = format!(
        "[target]\nname = \"signed\"\necs_url = \"{0}/prefix\"\nvpc_url = \"{0}\"\nproject_id = \"{EXAMPLE_PROJECT_ID}\"\n\
         [fixtures]\nserver_id = \"s\"\nprimary_port_id = \"p\"\nspare_port_id = \"q\"\nnetwork_id = \"n\"\n\
         subnet_id = \"u\"\nsecurity_group_id = \"g\"\nsub_network_interface_id = \"i\"\n\
         [auth]\nkind = \"aksk\"\nak_env = \"AK\"\nsk_env = \"SK\"\n",
        mock.base_url
    );
    let env = |name: &str| match name {
        "AK" => Some(ak.to_string()),
        "SK" => Some(sk.to_string()),
        _ => None,
    };
    let target = Target::parse("signed.toml", &text, env).unwrap();
    let options = ProxyOptions {
        verify_client: true,
        ..Default::default()
    };
    let proxy = Proxy::new(c.clone(), target, options).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = nic_conformance::proxy::serve(proxy, listener)
        .await
        .unwrap();
    let host = proxy.base_url.trim_start_matches("http://").to_string();
    let path = format!("/v3/{EXAMPLE_PROJECT_ID}/vpc/sub-network-interfaces");
    let get = |date: &str, key: (&str, &str)| {
        let headers = vec![(DATE_HEADER.to_string(), date.to_string())];
        let sig = sign(
            &SignableRequest {
                method: "GET",
                host: &host,
                path: &path,
                query: &[],
                headers: &headers,
                body: b"",
            },
            key.0,
            key.1,
        );
        reqwest::Client::new()
            .get(format!("{}{path}", proxy.base_url))
            .header(DATE_HEADER, date)
            .header("authorization", sig.authorization)
    };
    let now = sdk_date_now();
    let fresh = get(&now, (ak, sk)).send().await.unwrap();
    assert_eq!(fresh.status(), 200, "{}", fresh.text().await.unwrap());
    let before = mock.mock.writes();
    let refused = [
        (
            "a token alone",
            reqwest::Client::new()
                .get(format!("{}{path}", proxy.base_url))
                .header("x-auth-token", "anything"),
        ),
        ("a 2020 date", get("20200101T000000Z", (ak, sk))),
        ("another key", get(&now, ("AKOTHER", "SKOTHER"))),
    ];
    for (what, request) in refused {
        let answer = request.send().await.unwrap();
        assert_eq!(
            answer.status(),
            401,
            "{what}: {}",
            answer.text().await.unwrap()
        );
    }
    let post = format!(
        "POST /v3/{EXAMPLE_PROJECT_ID}/vpc/sub-network-interfaces HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: 107374182400\r\n\r\n"
    );
    assert!(raw_status(&proxy.base_url, &post).await.contains(" 413 "));
    let climb = format!("GET /v1/../../admin HTTP/1.1\r\nhost: {host}\r\n\r\n");
    assert!(raw_status(&proxy.base_url, &climb).await.contains(" 400 "));
    let encoded = format!("GET /v1/%2e%2e/%2E%2E/admin HTTP/1.1\r\nhost: {host}\r\n\r\n");
    assert!(
        raw_status(&proxy.base_url, &encoded)
            .await
            .contains(" 400 ")
    );
    assert_eq!(
        mock.mock.writes(),
        before,
        "a refused request reached the target"
    );
    proxy.stop().await;
    mock.stop().await;
}

/// Without `--verify-client`, a proxy for an AK/SK target listens on loopback only.
#[test]
fn a_signing_proxy_without_verification_refuses_a_public_address() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.toml");
    std::fs::write(
        &file,
        "[target]\nname = \"signed\"\necs_url = \"http://127.0.0.1:9\"\nvpc_url = \"http://127.0.0.1:9\"\nproject_id = \"p\"\n\
         [fixtures]\nserver_id = \"s\"\nprimary_port_id = \"p\"\nspare_port_id = \"q\"\nnetwork_id = \"n\"\n\
         subnet_id = \"u\"\nsecurity_group_id = \"g\"\nsub_network_interface_id = \"i\"\n\
         [auth]\nkind = \"aksk\"\n",
    )
    .unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_nic-conformance"))
        .args([
            "proxy",
            "--target",
            file.to_str().unwrap(),
            "--listen",
            "0.0.0.0:0",
        ])
        .env("NIC_AK", "AKX")
        .env("NIC_SK", "SKX")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--verify-client") && err.contains("not a loopback"),
        "{err}"
    );
}

/// The proxy's page keeps the client's deliberate bad requests apart from
/// the server's findings: two headings, the server's first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_page_shows_what_the_server_answered_apart_from_what_the_client_sent() {
    let c = contract();
    let (_, judged) = through_proxy(&c, &["bad-mac-address".to_string()]).await;
    let gate = nic_conformance::report::Gate::new(nic_conformance::contract::Severity::Should);
    let page = nic_conformance::report::html::to_html(&judged, &c, gate, &[]);
    let server = page
        .find("<h3>The server answered")
        .expect("the server's heading");
    let client = page
        .find("<h3>The client sent")
        .expect("the client's heading");
    assert!(server < client);
    let client_part = &page[client..];
    assert!(
        !client_part[..client_part.find("<h2").unwrap_or(client_part.len())]
            .contains("mac_addr/format")
    );
    assert!(
        page[server..client].contains("mac_addr"),
        "the server's finding under its heading"
    );
}

/// The proxy writes the run's reports: its JSON has the same keys as a
/// run's, `case_results` included (one per exchange), and no seed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxys_json_report_has_the_keys_of_a_runs() {
    let c = contract();
    let dir = tempfile::tempdir().unwrap();
    let (proxied, ran) = (dir.path().join("proxy.json"), dir.path().join("run.json"));
    let mut run_log = CaseLog::beside(&ran).unwrap();
    let proxy_log = CaseLog::beside(&proxied).unwrap();
    let (seen, judged, mut log) =
        through_proxy_logged(&c, &[], Some(proxy_log), Some(&mut run_log)).await;
    let gate = nic_conformance::report::Gate::new(nic_conformance::contract::Severity::Must);
    write_report(&proxied, &to_json(&judged, &c, gate), log.as_mut()).unwrap();
    write_report(&ran, &to_json(&seen, &c, gate), Some(&mut run_log)).unwrap();
    let read = |p: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let (p, r) = (read(&proxied), read(&ran));
    let keys = |v: &serde_json::Value| -> BTreeSet<String> {
        v.as_object().unwrap().keys().cloned().collect()
    };
    assert_eq!(keys(&p), keys(&r));
    let exchanges = p["case_results"].as_array().unwrap();
    assert_eq!(
        exchanges.len() as u64,
        judged.cases,
        "one result per exchange"
    );
    assert_eq!(keys(&exchanges[0]), keys(&r["case_results"][0]));
    assert!(p["seed"].is_null() && p["proxied"] == true, "{}", p["seed"]);
}
