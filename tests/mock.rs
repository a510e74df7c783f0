//! The reference mock behaves as the pages say: every rule gets its documented
//! outcome, state survives concurrency, hostile input never gets a 5xx, and
//! authentication works with tokens and AK/SK signatures.

mod common;
use common::contract;

use std::path::Path;
use std::time::Duration;

use nic_conformance::contract::Setup;
use nic_conformance::curated::load_curated;
use nic_conformance::fixtures::{EXAMPLE_PROJECT_ID, example_fixtures};
use nic_conformance::mock::{
    BYSTANDER_PORT_ID, BatchMode, Incoming, Mock, MockConfig, start_local,
};
use proptest::prelude::*;
use serde_json::{Value, json};

fn config() -> MockConfig {
    let mut c = MockConfig::new(EXAMPLE_PROJECT_ID, example_fixtures());
    c.job_duration = Duration::from_millis(5);
    c
}

async fn get_json(http: &reqwest::Client, url: String) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

async fn post_json(http: &reqwest::Client, url: String, body: Value) -> Value {
    http.post(url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn show_job(http: &reqwest::Client, base: &str, job_id: &str) -> Value {
    get_json(
        http,
        format!("{base}/v1/{EXAMPLE_PROJECT_ID}/jobs/{job_id}"),
    )
    .await
}

/// Asks the mock to attach the fixture spare port; returns its answer (a job id).
async fn attach_spare(http: &reqwest::Client, base: &str) -> Value {
    let f = example_fixtures();
    post_json(
        http,
        format!(
            "{base}/v1/{EXAMPLE_PROJECT_ID}/cloudservers/{}/nics",
            f.server_id
        ),
        json!({"nics": [{"port_id": f.spare_port_id}]}),
    )
    .await
}

async fn wait_job(http: &reqwest::Client, base: &str, job_id: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let job = show_job(http, base, job_id).await;
        if job["status"] == "SUCCESS" || job["status"] == "FAIL" {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("job {job_id} did not end");
}

#[tokio::test]
async fn every_curated_case_gets_its_documented_outcome_from_the_faithful_mock() {
    let c = contract();
    let fixtures = example_fixtures();
    let cases = load_curated(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/cases")),
        &c,
        EXAMPLE_PROJECT_ID,
        &fixtures,
    )
    .unwrap();
    let http = reqwest::Client::new();
    for case in cases {
        // A fresh mock per case: each starts from the fixtures alone.
        let mock = start_local(c.clone(), config()).await.unwrap();
        let base = mock.base_url.clone();
        let op = c.operation(&case.operation).unwrap();
        if case.setup == Some(Setup::SparePortAttached) {
            let r = attach_spare(&http, &base).await;
            assert_eq!(
                wait_job(&http, &base, r["job_id"].as_str().unwrap()).await["status"],
                "SUCCESS"
            );
        }
        let url = format!("{base}{}", op.render_path(&case.path_params));
        let method = reqwest::Method::from_bytes(op.method.as_bytes()).unwrap();
        let mut req = http.request(method, url);
        if let Some(body) = &case.body {
            req = req.json(body);
        }
        let response = req.send().await.unwrap();
        let status = response.status().as_u16();
        let mut text = response.text().await.unwrap();
        // A job may refuse instead: it must end FAIL, naming the broken rule.
        if case.expect.async_fail_ok && (200..300).contains(&status) {
            let answer: Value = serde_json::from_str(&text).unwrap();
            let job = wait_job(&http, &base, answer["job_id"].as_str().unwrap()).await;
            assert_eq!(job["status"], "FAIL", "{}: {job}", case.id);
            text = job.to_string();
        } else {
            assert!(
                case.expect.matches(status),
                "{}: expected {}, got {status} {text}",
                case.id,
                case.expect
            );
        }
        if let Some(id) = &case.breaks {
            assert!(
                text.contains(id.as_str()),
                "{}: the error should name {id}: {text}",
                case.id
            );
        }
        mock.stop().await;
    }
}

#[tokio::test]
async fn sixty_four_concurrent_batch_adds_all_end_up_in_the_state() {
    let c = contract();
    let fixtures = example_fixtures();
    let mock = start_local(c, config()).await.unwrap();
    let base = mock.base_url.clone();
    let http = reqwest::Client::new();
    let url = format!(
        "{base}/v1/{EXAMPLE_PROJECT_ID}/cloudservers/{}/nics",
        fixtures.server_id
    );
    let sends = (0..64).map(|_| {
        let http = http.clone();
        let url = url.clone();
        let subnet = fixtures.subnet_id.clone();
        async move {
            http.post(url)
                .json(&json!({"nics": [{"subnet_id": subnet}]}))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    });
    let responses = futures::future::join_all(sends).await;
    let mut nic_ids = Vec::new();
    for r in responses {
        let job = wait_job(&http, &base, r["job_id"].as_str().unwrap()).await;
        assert_eq!(job["status"], "SUCCESS");
        nic_ids.push(
            job["entities"]["sub_jobs"][0]["entities"]["nic_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let listed = get_json(
        &http,
        format!(
            "{base}/v2.1/{EXAMPLE_PROJECT_ID}/servers/{}/os-interface",
            fixtures.server_id
        ),
    )
    .await;
    let listed: Vec<&str> = listed["interfaceAttachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["port_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed.len(),
        66,
        "primary, someone else's NIC + 64 new NICs"
    );
    for id in &nic_ids {
        assert!(listed.contains(&id.as_str()), "{id} lost");
    }
    assert_eq!(mock.mock.attached_ports().len(), 66);
    mock.stop().await;
}

#[tokio::test]
async fn jobs_move_through_init_and_running_and_change_state_only_on_success() {
    let c = contract();
    let fixtures = example_fixtures();
    let mut cfg = config();
    // Wide windows, so a loaded machine still sees INIT (first third) and RUNNING.
    cfg.job_duration = Duration::from_millis(1500);
    let mock = start_local(c, cfg).await.unwrap();
    let base = mock.base_url.clone();
    let http = reqwest::Client::new();
    let r = attach_spare(&http, &base).await;
    let job_id = r["job_id"].as_str().unwrap();
    let first = show_job(&http, &base, job_id).await;
    assert_eq!(first["status"], "INIT");
    assert!(
        !mock.mock.attached_ports().contains(&fixtures.spare_port_id),
        "state changed before the job ended"
    );
    tokio::time::sleep(Duration::from_millis(750)).await;
    let second = show_job(&http, &base, job_id).await;
    assert_eq!(second["status"], "RUNNING");
    assert_eq!(wait_job(&http, &base, job_id).await["status"], "SUCCESS");
    assert!(mock.mock.attached_ports().contains(&fixtures.spare_port_id));
    mock.stop().await;
}

/// A batch delete detaches the NICs it names (what the catalogue's effect rule
/// reads) once its job succeeds: a fixture port is freed, a port the mock made is gone.
#[tokio::test]
async fn a_batch_delete_detaches_the_nics_it_names_when_its_job_succeeds() {
    let f = example_fixtures();
    let mock = start_local(contract(), config()).await.unwrap();
    let base = mock.base_url.clone();
    let http = reqwest::Client::new();
    let url = |path: &str| {
        format!(
            "{base}/v1/{EXAMPLE_PROJECT_ID}/cloudservers/{}/{path}",
            f.server_id
        )
    };
    let spare = attach_spare(&http, &base).await;
    wait_job(&http, &base, spare["job_id"].as_str().unwrap()).await;
    let made = post_json(
        &http,
        url("nics"),
        json!({"nics": [{"subnet_id": f.subnet_id}]}),
    )
    .await;
    let made = wait_job(&http, &base, made["job_id"].as_str().unwrap()).await;
    let made = made["entities"]["sub_jobs"][0]["entities"]["nic_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        mock.mock.attached_ports().len(),
        4,
        "primary, someone else's, spare, made"
    );
    let deleted = post_json(
        &http,
        url("nics/delete"),
        json!({"nics": [{"id": f.spare_port_id}, {"id": made}]}),
    )
    .await;
    let job = wait_job(&http, &base, deleted["job_id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "SUCCESS", "{job}");
    let named: Vec<&str> = job["entities"]["sub_jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["entities"]["nic_id"].as_str().unwrap())
        .collect();
    assert_eq!(named, [f.spare_port_id.as_str(), &made]);
    assert_eq!(
        mock.mock.attached_ports(),
        [f.primary_port_id.clone(), BYSTANDER_PORT_ID.to_string()]
    );
    // The spare is free again; the made port no longer exists, so naming it is refused.
    let again = attach_spare(&http, &base).await;
    assert!(again["job_id"].is_string(), "{again}");
    let refused = post_json(&http, url("nics"), json!({"nics": [{"port_id": made}]})).await;
    // 404, in the ECS family's error shape.
    assert_eq!(refused["error"]["code"], "Ecs.0404", "{refused}");
    mock.stop().await;
}

/// A job past its deadline has ended for whichever request looks first, with
/// no runtime, timer or task behind it: a poll never sees a job late.
#[test]
fn a_job_past_its_deadline_has_ended_for_the_next_request() {
    let fixtures = example_fixtures();
    let mut cfg = config();
    cfg.job_duration = Duration::from_millis(20);
    let mock = Mock::new(contract(), cfg);
    let json = [("content-type".to_string(), "application/json".to_string())];
    let add_path = format!(
        "/v1/{EXAMPLE_PROJECT_ID}/cloudservers/{}/nics",
        fixtures.server_id
    );
    let body = serde_json::to_vec(&json!({"nics": [{"port_id": fixtures.spare_port_id}]})).unwrap();
    let added = mock.respond(&Incoming {
        method: "POST",
        raw_path: &add_path,
        raw_query: None,
        headers: &json,
        body: &body,
    });
    assert_eq!(added.status, 200, "{:?}", added.body);
    let job_id = added.body.unwrap()["job_id"].as_str().unwrap().to_string();
    let job_path = format!("/v1/{EXAMPLE_PROJECT_ID}/jobs/{job_id}");
    let show = || {
        mock.respond(&Incoming {
            method: "GET",
            raw_path: &job_path,
            raw_query: None,
            headers: &[],
            body: b"",
        })
        .body
        .unwrap()
    };
    assert_ne!(show()["status"], "SUCCESS", "ended before its time");
    std::thread::sleep(Duration::from_millis(30));
    let job = show();
    assert_eq!(job["status"], "SUCCESS", "{job}");
    assert_eq!(
        job["entities"]["sub_jobs"][0]["entities"]["nic_id"],
        fixtures.spare_port_id.as_str()
    );
    assert!(mock.attached_ports().contains(&fixtures.spare_port_id));
}

#[tokio::test]
async fn unknown_project_server_port_and_sub_nic_are_404() {
    let c = contract();
    let f = example_fixtures();
    let mock = start_local(c, config()).await.unwrap();
    let base = &mock.base_url;
    let http = reqwest::Client::new();
    let unknown = "00000000-0000-4000-8000-00000000beef";
    let cases = [
        (
            reqwest::Method::POST,
            format!("{base}/v1/otherproject/cloudservers/{}/nics", f.server_id),
            json!({"nics": [{"subnet_id": f.subnet_id}]}),
        ),
        (
            reqwest::Method::POST,
            format!("{base}/v1/{EXAMPLE_PROJECT_ID}/cloudservers/{unknown}/nics",),
            json!({"nics": [{"subnet_id": f.subnet_id}]}),
        ),
        (
            reqwest::Method::PUT,
            format!(
                "{base}/v1/{EXAMPLE_PROJECT_ID}/cloudservers/{}/os-interface/{unknown}",
                f.server_id
            ),
            json!({"interface_attachment": {"delete_on_termination": true}}),
        ),
        (
            reqwest::Method::PUT,
            format!("{base}/v3/{EXAMPLE_PROJECT_ID}/vpc/sub-network-interfaces/{unknown}"),
            json!({"sub_network_interface": {}}),
        ),
    ];
    for (method, url, body) in cases {
        let r = http.request(method, &url).json(&body).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 404, "{url}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
    }
    let r = http
        .get(format!("{base}/v1/{EXAMPLE_PROJECT_ID}/jobs/nosuchjob"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    mock.stop().await;
}

#[tokio::test]
async fn malformed_json_wrong_content_type_and_oversized_bodies_get_4xx() {
    let c = contract();
    let f = example_fixtures();
    let mock = start_local(c, config()).await.unwrap();
    let url = format!(
        "{}/v2.1/{EXAMPLE_PROJECT_ID}/servers/{}/os-interface",
        mock.base_url, f.server_id
    );
    let http = reqwest::Client::new();
    let r = http
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"interfaceAttachment\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body.get("badRequest").is_some(), "nova shape: {body}");
    let r = http
        .post(&url)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    let r = http
        .post(&url)
        .header("content-type", "application/json")
        .body(vec![b' '; 2 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    mock.stop().await;
}

#[tokio::test]
async fn require_auth_accepts_tokens_and_signatures_and_refuses_the_rest() {
    let c = contract();
    let f = example_fixtures();
    let mut cfg = config();
    cfg.require_auth = true;
    cfg.credentials = vec![("AKTEST".into(), "sktest".into())];
    let mock = start_local(c.clone(), cfg).await.unwrap();
    let base = mock.base_url.clone();
    let http = reqwest::Client::new();
    let list = format!(
        "{base}/v2.1/{EXAMPLE_PROJECT_ID}/servers/{}/os-interface",
        f.server_id
    );
    let r = http.get(&list).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error_code"], "APIGW.0301");
    assert_eq!(
        http.get(&list)
            .header("X-Auth-Token", "t0ken")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );

    // The runner's client signs; the mock verifies with the same implementation.
    let mut target = nic_conformance::target::Target::builtin(&base);
    target.auth = nic_conformance::target::Auth::AkSk {
        ak: nic_conformance::target::Secret::new("AKTEST"),
        sk: nic_conformance::target::Secret::new("sktest"),
    };
    let client = nic_conformance::http::Client::new(target.clone()).unwrap();
    let op = c.operation("update-sub-network-interface").unwrap();
    let params = nic_conformance::case::default_path_params(op, EXAMPLE_PROJECT_ID, &f);
    let x = client
        .send(
            op,
            &params,
            Some(&json!({"sub_network_interface": {"description": "signed 网卡"}})),
        )
        .await
        .unwrap();
    assert_eq!(x.status, 200, "{}", String::from_utf8_lossy(&x.body));

    target.auth = nic_conformance::target::Auth::AkSk {
        ak: nic_conformance::target::Secret::new("AKTEST"),
        sk: nic_conformance::target::Secret::new("wrong"),
    };
    let client = nic_conformance::http::Client::new(target).unwrap();
    let x = client
        .send(op, &params, Some(&json!({"sub_network_interface": {}})))
        .await
        .unwrap();
    assert_eq!(x.status, 401);
    mock.stop().await;
}

fn routes() -> Vec<(&'static str, String)> {
    let f = example_fixtures();
    let p = EXAMPLE_PROJECT_ID;
    vec![
        ("POST", format!("/v1/{p}/cloudservers/{}/nics", f.server_id)),
        (
            "POST",
            format!("/v2.1/{p}/servers/{}/os-interface", f.server_id),
        ),
        (
            "POST",
            format!("/v1/{p}/cloudservers/{}/nics/delete", f.server_id),
        ),
        (
            "PUT",
            format!(
                "/v1/{p}/cloudservers/{}/os-interface/{}",
                f.server_id, f.primary_port_id
            ),
        ),
        (
            "PUT",
            format!(
                "/v3/{p}/vpc/sub-network-interfaces/{}",
                f.sub_network_interface_id
            ),
        ),
        ("GET", format!("/v1/{p}/jobs/x")),
        (
            "GET",
            format!("/v2.1/{p}/servers/{}/os-interface", f.server_id),
        ),
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "nics",
            "interfaceAttachment",
            "port_id",
            "net_id",
            "fixed_ips",
            "sub_network_interface",
            "description",
            "dry_run"
        ])
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "nics",
                    "interfaceAttachment",
                    "interface_attachment",
                    "port_id",
                    "net_id",
                    "subnet_id",
                    "fixed_ips",
                    "ip_address",
                    "id",
                    "sub_network_interface",
                    "description",
                    "security_groups",
                    "allowed_address_pairs",
                    "dry_run",
                    "delete_on_termination"
                ])
                .prop_map(String::from),
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_and_json_never_get_a_5xx(route in 0usize..7, bytes in prop::collection::vec(any::<u8>(), 0..256), json in arb_json(), use_json in any::<bool>(), ct in prop::sample::select(vec!["application/json", "application/json;charset=UTF-8", "text/plain", ""])) {
        let mock = Mock::new(contract(), config());
        let (method, path) = &routes()[route];
        let body = if use_json { serde_json::to_vec(&json).unwrap() } else { bytes };
        let headers = if ct.is_empty() { vec![] } else { vec![("content-type".to_string(), ct.to_string())] };
        let reply = mock.respond(&Incoming { method, raw_path: path, raw_query: None, headers: &headers, body: &body });
        prop_assert!(reply.status < 500, "{} {} answered {} {:?}", method, path, reply.status, reply.body);
        if reply.status >= 400 {
            prop_assert!(reply.body.is_some(), "errors have a body");
        }
    }

    #[test]
    fn arbitrary_paths_never_get_a_5xx(path in "/(v1|v2\\.1|v3)(/[a-z0-9%-]{0,12}){0,6}", method in prop::sample::select(vec!["GET", "POST", "PUT", "DELETE"])) {
        let mock = Mock::new(contract(), config());
        let reply = mock.respond(&Incoming { method, raw_path: &path, raw_query: None, headers: &[], body: b"{}" });
        prop_assert!(reply.status < 500);
    }
}

/// A batch with one bad NIC: accepted, and the job reports one sub-job per
/// NIC with every field of the job page. NIC by NIC, the good NIC is
/// attached and the job ends FAIL; atomic, nothing changes.
#[tokio::test]
async fn a_batch_fails_nic_by_nic_or_as_a_whole_with_a_sub_job_per_nic() {
    let f = example_fixtures();
    for batch in [BatchMode::PerNic, BatchMode::Atomic] {
        let mut cfg = config();
        cfg.batch = batch;
        let mock = start_local(contract(), cfg).await.unwrap();
        let base = mock.base_url.clone();
        let http = reqwest::Client::new();
        let url = format!(
            "{base}/v1/{EXAMPLE_PROJECT_ID}/cloudservers/{}/nics",
            f.server_id
        );
        let body = json!({"nics": [{"port_id": f.spare_port_id}, {"port_id": f.primary_port_id}]});
        let answer = post_json(&http, url, body).await;
        let job = wait_job(&http, &base, answer["job_id"].as_str().unwrap()).await;
        assert_eq!(job["status"], "FAIL", "{batch:?}: {job}");
        assert!(
            job["fail_reason"]
                .as_str()
                .is_some_and(|r| r.contains("DOWN")),
            "{job}"
        );
        assert_eq!(job["entities"]["server_id"], f.server_id.as_str());
        assert_eq!(job["entities"]["sub_jobs_total"], 2);
        let subs = job["entities"]["sub_jobs"].as_array().unwrap();
        for field in [
            "status",
            "job_id",
            "job_type",
            "begin_time",
            "end_time",
            "error_code",
            "fail_reason",
        ] {
            assert!(
                subs[0].get(field).is_some(),
                "sub-job without {field}: {job}"
            );
        }
        assert_eq!(subs[1]["status"], "FAIL");
        assert_eq!(subs[1]["entities"]["nic_id"], f.primary_port_id.as_str());
        let spare_attached = mock.mock.attached_ports().contains(&f.spare_port_id);
        match batch {
            BatchMode::PerNic => {
                assert_eq!(subs[0]["status"], "SUCCESS", "{job}");
                assert!(
                    spare_attached,
                    "the good NIC of a per-NIC batch is attached"
                );
            }
            BatchMode::Atomic => {
                assert_eq!(subs[0]["status"], "FAIL", "{job}");
                assert!(
                    !spare_attached,
                    "an atomic batch that failed changed something"
                );
            }
        }
        // One NIC alone is refused at once.
        let alone = post_json(
            &http,
            format!(
                "{base}/v1/{EXAMPLE_PROJECT_ID}/cloudservers/{}/nics",
                f.server_id
            ),
            json!({"nics": [{"port_id": f.primary_port_id}]}),
        )
        .await;
        assert_eq!(alone["error"]["code"], "Ecs.0409", "{alone}");
        mock.stop().await;
    }
}

/// The supplementary NIC reads back through the VPC show: the update's
/// effect can be observed without another write.
#[tokio::test]
async fn a_sub_nic_reads_back_what_an_update_changed() {
    let f = example_fixtures();
    let mock = start_local(contract(), config()).await.unwrap();
    let http = reqwest::Client::new();
    let url = format!(
        "{}/v3/{EXAMPLE_PROJECT_ID}/vpc/sub-network-interfaces/{}",
        mock.base_url, f.sub_network_interface_id
    );
    let before = get_json(&http, url.clone()).await;
    assert_eq!(
        before["sub_network_interface"]["id"],
        f.sub_network_interface_id.as_str()
    );
    let updated: Value = http
        .put(&url)
        .json(&json!({"sub_network_interface": {"description": "read me back"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        updated["sub_network_interface"]["description"],
        "read me back"
    );
    let after = get_json(&http, url.clone()).await;
    assert_eq!(
        after["sub_network_interface"]["description"],
        "read me back"
    );
    // The read is judged by its own schema, like the update's answer.
    let c = contract();
    let schema = c.schema("show-sub-network-interface.response.200").unwrap();
    assert!(schema.is_valid(&after), "{:?}", schema.violations(&after));
    let missing = get_json(
        &http,
        format!(
            "{}/v3/{EXAMPLE_PROJECT_ID}/vpc/sub-network-interfaces/00000000-0000-4000-8000-00000000dead",
            mock.base_url
        ),
    )
    .await;
    assert!(missing["error_code"].is_string(), "{missing}");
    mock.stop().await;
}

/// The mock's subnet is a network: an address outside its range or held by
/// another port is refused (nova at once, a batch in the NIC's sub-job), and
/// a free one is given.
#[tokio::test]
async fn addresses_outside_the_subnet_or_in_use_are_refused() {
    let f = example_fixtures();
    let mock = start_local(contract(), config()).await.unwrap();
    let base = mock.base_url.clone();
    let http = reqwest::Client::new();
    let nova = format!(
        "{base}/v2.1/{EXAMPLE_PROJECT_ID}/servers/{}/os-interface",
        f.server_id
    );
    let attach = |ip: &str| json!({"interfaceAttachment": {"net_id": f.network_id, "fixed_ips": [{"ip_address": ip}]}});
    let send = |body: Value| http.post(nova.clone()).json(&body).send();
    let outside = send(attach("10.9.9.9")).await.unwrap();
    assert_eq!(outside.status(), 400);
    let taken = send(attach("192.168.200.7")).await.unwrap();
    assert_eq!(taken.status(), 200);
    let again = send(attach("192.168.200.7")).await.unwrap();
    assert_eq!(again.status(), 409);
    let body: Value = again.json().await.unwrap();
    assert!(
        body["conflictingRequest"]["message"]
            .as_str()
            .unwrap()
            .contains("in use"),
        "{body}"
    );
    // The primary NIC's own address.
    let listing = get_json(&http, nova.clone()).await;
    let primary_ip = listing["interfaceAttachments"][0]["fixed_ips"][0]["ip_address"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(send(attach(&primary_ip)).await.unwrap().status(), 409);

    let batch = format!(
        "{base}/v1/{EXAMPLE_PROJECT_ID}/cloudservers/{}/nics",
        f.server_id
    );
    let nic = |ip: &str| json!({"subnet_id": f.subnet_id, "security_groups": [{"id": f.security_group_id}], "ip_address": ip});
    let body = json!({"nics": [nic("192.168.201.1"), nic("192.168.201.1"), nic("10.0.0.9")]});
    let answer = post_json(&http, batch, body).await;
    let job = wait_job(&http, &base, answer["job_id"].as_str().unwrap()).await;
    let subs = job["entities"]["sub_jobs"].as_array().unwrap();
    let statuses: Vec<&str> = subs.iter().map(|s| s["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["SUCCESS", "FAIL", "FAIL"], "{job}");
    assert!(
        subs[1]["fail_reason"].as_str().unwrap().contains("in use"),
        "{job}"
    );
    assert!(
        subs[2]["fail_reason"].as_str().unwrap().contains("range"),
        "{job}"
    );
    mock.stop().await;
}

/// Concurrent deletes of one NIC: one job deletes it, the others find
/// nothing to delete and say so in a failed sub-job.
#[tokio::test]
async fn concurrent_deletes_of_one_nic_succeed_once() {
    let f = example_fixtures();
    let mock = start_local(contract(), config()).await.unwrap();
    let base = mock.base_url.clone();
    let http = reqwest::Client::new();
    let attached = attach_spare(&http, &base).await;
    wait_job(&http, &base, attached["job_id"].as_str().unwrap()).await;
    let url = format!(
        "{base}/v1/{EXAMPLE_PROJECT_ID}/cloudservers/{}/nics/delete",
        f.server_id
    );
    let body = json!({"nics": [{"id": f.spare_port_id}]});
    let answers =
        futures::future::join_all((0..16).map(|_| post_json(&http, url.clone(), body.clone())))
            .await;
    let mut statuses = Vec::new();
    for a in answers {
        // Refused at once (no longer attached) or accepted and judged by the job.
        if let Some(job) = a["job_id"].as_str() {
            statuses.push(wait_job(&http, &base, job).await["status"].clone());
        }
    }
    let succeeded = statuses.iter().filter(|s| *s == "SUCCESS").count();
    assert_eq!(succeeded, 1, "{statuses:?}");
    mock.stop().await;
}

/// The resident set of this process, in kB (Linux).
fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?.to_string();
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// Sustained batch adds: the server's NICs stop at the quota (the jobs of
/// the rest fail with the reason), the listing stays short, memory flat.
#[test]
fn twenty_thousand_batch_adds_leave_a_bounded_listing_and_flat_memory() {
    let fixtures = example_fixtures();
    let mut cfg = config();
    cfg.job_duration = Duration::ZERO;
    cfg.max_nics_per_server = 100;
    let mock = Mock::new(contract(), cfg);
    let json = [("Content-Type".to_string(), "application/json".to_string())];
    let add_path = format!(
        "/v1/{EXAMPLE_PROJECT_ID}/cloudservers/{}/nics",
        fixtures.server_id
    );
    let body = serde_json::to_vec(&json!({"nics": [{"subnet_id": fixtures.subnet_id, "security_groups": [{"id": fixtures.security_group_id}]}]})).unwrap();
    let before = rss_kb();
    let mut last_job = String::new();
    for _ in 0..20_000 {
        let added = mock.respond(&Incoming {
            method: "POST",
            raw_path: &add_path,
            raw_query: None,
            headers: &json,
            body: &body,
        });
        assert_eq!(added.status, 200, "{:?}", added.body);
        last_job = added.body.unwrap()["job_id"].as_str().unwrap().to_string();
    }
    let listed = mock.attached_ports().len();
    assert_eq!(listed, 100, "the quota bounds the listing");
    let job = mock
        .respond(&Incoming {
            method: "GET",
            raw_path: &format!("/v1/{EXAMPLE_PROJECT_ID}/jobs/{last_job}"),
            raw_query: None,
            headers: &[],
            body: b"",
        })
        .body
        .unwrap();
    assert_eq!(job["status"], "FAIL", "{job}");
    assert!(
        job["fail_reason"]
            .as_str()
            .unwrap()
            .contains("maximum of 100 NICs"),
        "{job}"
    );
    let grown_mb = rss_kb().saturating_sub(before) as f64 / 1024.0;
    eprintln!("20,000 batch adds: RSS grew {grown_mb:.1} MB, {listed} NICs listed");
    assert!(grown_mb < 100.0, "memory grew {grown_mb:.1} MB");
}

/// Clients that never finish: partial headers are cut off after the header
/// timeout, a partial body gets 408 after the body timeout, and connections
/// beyond the cap are closed at once while the mock keeps serving.
#[tokio::test]
async fn slow_clients_are_cut_off_and_capped() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut cfg = config();
    cfg.connections.header_timeout = Duration::from_millis(300);
    cfg.connections.body_timeout = Duration::from_millis(300);
    cfg.connections.max_connections = 8;
    let mock = start_local(contract(), cfg).await.unwrap();
    let addr = mock.addr;
    let started = std::time::Instant::now();
    // Partial headers: closed by the server.
    let mut partial = tokio::net::TcpStream::connect(addr).await.unwrap();
    partial
        .write_all(b"GET /v2.1 HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), partial.read_to_end(&mut buf)).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "partial headers held"
    );
    // A partial body: 408.
    let mut body = tokio::net::TcpStream::connect(addr).await.unwrap();
    let path = format!("/v1/{EXAMPLE_PROJECT_ID}/cloudservers/x/nics");
    body.write_all(format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{").as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), body.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&answer[..n])
    );
    // Past the cap: held connections do not starve the mock for long.
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    let http = reqwest::Client::new();
    let ok = http
        .get(format!("{}/v1/{EXAMPLE_PROJECT_ID}/jobs/x", mock.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 404);
    drop(held);
    mock.stop().await;
}

/// What nova clients do first and last: read the version document, speak a
/// microversion, show one attachment and detach it.
#[tokio::test]
async fn nova_clients_discover_negotiate_show_and_detach() {
    let f = example_fixtures();
    let mock = start_local(contract(), config()).await.unwrap();
    let base = mock.base_url.clone();
    let http = reqwest::Client::new();
    for path in [
        "/",
        "/v2.1",
        "/v2.1/",
        &format!("/v2.1/{EXAMPLE_PROJECT_ID}"),
    ] {
        let doc = get_json(&http, format!("{base}{path}")).await;
        let version = if path == "/" {
            &doc["versions"][0]
        } else {
            &doc["version"]
        };
        assert_eq!(version["id"], "v2.1", "{path}: {doc}");
        assert_eq!(version["min_version"], "2.1");
    }
    let interfaces = format!(
        "{base}/v2.1/{EXAMPLE_PROJECT_ID}/servers/{}/os-interface",
        f.server_id
    );
    let at = |v: &str| {
        http.post(&interfaces)
            .header("OpenStack-API-Version", format!("compute {v}"))
    };
    let body = json!({"interfaceAttachment": {"port_id": f.spare_port_id, "tag": "blue"}});
    assert_eq!(at("2.99").json(&body).send().await.unwrap().status(), 406);
    assert_eq!(
        at("2.48").json(&body).send().await.unwrap().status(),
        400,
        "tag before 2.49"
    );
    let attached = at("2.70").json(&body).send().await.unwrap();
    assert_eq!(attached.status(), 200);
    assert_eq!(attached.headers()["openstack-api-version"], "compute 2.70");
    assert!(attached.headers().contains_key("vary"));
    let attached: Value = attached.json().await.unwrap();
    assert_eq!(attached["interfaceAttachment"]["tag"], "blue", "{attached}");
    let one = format!("{interfaces}/{}", f.spare_port_id);
    let shown: Value = http.get(&one).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        shown["interfaceAttachment"]["port_id"],
        f.spare_port_id.as_str()
    );
    assert!(
        shown["interfaceAttachment"].get("tag").is_none(),
        "no tag before 2.70"
    );
    let detached = http.delete(&one).send().await.unwrap();
    assert_eq!(detached.status(), 202);
    assert!(!mock.mock.attached_ports().contains(&f.spare_port_id));
    assert_eq!(http.get(&one).send().await.unwrap().status(), 404);
    // nova's error keys and Allow.
    let put = http.put(&interfaces).send().await.unwrap();
    assert_eq!(put.status(), 405);
    assert!(put.headers()["allow"].to_str().unwrap().contains("POST"));
    let put: Value = put.json().await.unwrap();
    assert!(put.get("badMethod").is_some(), "{put}");
    let text = http
        .post(&interfaces)
        .header("Content-Type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), 415);
    let text: Value = text.json().await.unwrap();
    assert!(text.get("badMediaType").is_some(), "{text}");
    mock.stop().await;
}

/// The reads clients wait on: a server with the addresses of its NICs (nova
/// and ECS), a port's status and device, the VPC list of supplementary NICs.
#[tokio::test]
async fn servers_ports_and_sub_nic_lists_read_as_clients_expect() {
    let f = example_fixtures();
    let mock = start_local(contract(), config()).await.unwrap();
    let base = mock.base_url.clone();
    let http = reqwest::Client::new();
    let nova = get_json(
        &http,
        format!("{base}/v2.1/{EXAMPLE_PROJECT_ID}/servers/{}", f.server_id),
    )
    .await;
    assert_eq!(nova["server"]["status"], "ACTIVE", "{nova}");
    let addresses = nova["server"]["addresses"].as_object().unwrap();
    assert_eq!(
        addresses
            .values()
            .flat_map(|v| v.as_array().unwrap())
            .count(),
        2,
        "the primary's address and someone else's NIC's"
    );
    let ecs = get_json(
        &http,
        format!(
            "{base}/v1/{EXAMPLE_PROJECT_ID}/cloudservers/{}",
            f.server_id
        ),
    )
    .await;
    assert_eq!(ecs["server"]["id"], f.server_id.as_str());
    let found = get_json(
        &http,
        format!(
            "{base}/v2.1/{EXAMPLE_PROJECT_ID}/servers/detail?name={}",
            f.server_id
        ),
    )
    .await;
    assert_eq!(found["servers"].as_array().unwrap().len(), 1, "{found}");
    let port_url = format!("{base}/v1/{EXAMPLE_PROJECT_ID}/ports/{}", f.spare_port_id);
    assert_eq!(
        get_json(&http, port_url.clone()).await["port"]["status"],
        "DOWN"
    );
    let attached = attach_spare(&http, &base).await;
    wait_job(&http, &base, attached["job_id"].as_str().unwrap()).await;
    let port = get_json(&http, port_url).await;
    assert_eq!(port["port"]["status"], "ACTIVE");
    assert_eq!(port["port"]["device_id"], f.server_id.as_str());
    let list = |q: &str| {
        get_json(
            &http,
            format!("{base}/v3/{EXAMPLE_PROJECT_ID}/vpc/sub-network-interfaces{q}"),
        )
    };
    let all = list("").await;
    assert_eq!(
        all["sub_network_interfaces"].as_array().unwrap().len(),
        16,
        "{all}"
    );
    let one = list(&format!("?id={}", f.sub_network_interface_id)).await;
    assert_eq!(
        one["sub_network_interfaces"][0]["id"],
        f.sub_network_interface_id.as_str()
    );
    let page = list("?limit=5").await;
    assert_eq!(page["sub_network_interfaces"].as_array().unwrap().len(), 5);
    let next = page["page_info"]["next_marker"].as_str().unwrap();
    let rest = list(&format!("?limit=100&marker={next}")).await;
    assert_eq!(rest["sub_network_interfaces"].as_array().unwrap().len(), 11);
    let missing = http
        .get(format!("{base}/v1/{EXAMPLE_PROJECT_ID}/ports/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    mock.stop().await;
}

/// Every auxiliary operation of the contract (the reads and the detach
/// clients make around the five) is served at its path, with its documented
/// status, and its answer fits its schema without a single `should`.
#[tokio::test]
async fn every_auxiliary_operation_is_served_in_the_shape_its_schema_gives() {
    let c = contract();
    let f = example_fixtures();
    let mock = start_local(c.clone(), config()).await.unwrap();
    let base = mock.base_url.clone();
    let http = reqwest::Client::new();
    // A job to query, and the spare attached so that it can be shown and detached.
    let job = attach_spare(&http, &base).await;
    let job_id = job["job_id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut served = Vec::new();
    // The detach last: it changes what the reads show.
    let mut ops: Vec<_> = c.operations.iter().filter(|o| o.auxiliary).collect();
    ops.sort_by_key(|o| o.method == "DELETE");
    for op in ops {
        let mut params = nic_conformance::case::default_path_params(op, EXAMPLE_PROJECT_ID, &f);
        for (name, value) in [("job_id", &job_id), ("port_id", &f.spare_port_id)] {
            if params.contains_key(name) {
                params.insert(name.into(), Value::String(value.clone()));
            }
        }
        let url = format!("{base}{}", op.render_path(&params));
        let method = reqwest::Method::from_bytes(op.method.as_bytes()).unwrap();
        let answer = http.request(method, &url).send().await.unwrap();
        let status = answer.status().as_u16();
        assert_eq!(status, op.success_status, "{} {url}", op.id);
        let text = answer.text().await.unwrap();
        let documented = op.responses.iter().find(|r| r.status == status).unwrap();
        match &documented.schema {
            Some(name) => {
                let body: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {text}", op.id));
                let schema = c.schema(name).unwrap();
                assert!(
                    schema.violations(&body).is_empty(),
                    "{}: {:?}\n{body}",
                    op.id,
                    schema.violations(&body)
                );
            }
            None => assert!(
                text.is_empty(),
                "{}: a body where none is due: {text}",
                op.id
            ),
        }
        served.push(op.id.clone());
    }
    assert!(served.len() >= 11, "{served:?}");
    // The detach took effect: the port is free again and shown DOWN.
    let port = get_json(
        &http,
        format!("{base}/v1/{EXAMPLE_PROJECT_ID}/ports/{}", f.spare_port_id),
    )
    .await;
    assert_eq!(port["port"]["status"], "DOWN", "{port}");
    assert_eq!(port["port"]["device_id"], "", "{port}");
    mock.stop().await;
}

/// The network API reads the `openstack` CLI makes before `server add port`
/// and `server add network` and for `port list --server`: its version
/// document, a port and a network by id, and the filtered lists.
#[tokio::test]
async fn the_network_api_lookups_the_cli_makes_are_served() {
    let f = example_fixtures();
    let mock = start_local(contract(), config()).await.unwrap();
    let base = mock.base_url.clone();
    let http = reqwest::Client::new();
    let version = get_json(&http, format!("{base}/v2.0")).await;
    assert_eq!(version["version"]["id"], "v2.0", "{version}");
    let port = get_json(&http, format!("{base}/v2.0/ports/{}", f.spare_port_id)).await;
    assert_eq!(port["port"]["status"], "DOWN", "{port}");
    attach_spare(&http, &base).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let listed = get_json(
        &http,
        format!("{base}/v2.0/ports?device_id={}", f.server_id),
    )
    .await;
    let mut ids: Vec<&str> = listed["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let mut want = vec![
        f.primary_port_id.as_str(),
        BYSTANDER_PORT_ID,
        f.spare_port_id.as_str(),
    ];
    want.sort_unstable();
    assert_eq!(ids, want, "{listed}");
    let net = get_json(&http, format!("{base}/v2.0/networks/{}", f.network_id)).await;
    assert_eq!(net["network"]["subnets"][0], f.subnet_id.as_str(), "{net}");
    let by_name = get_json(&http, format!("{base}/v2.0/networks?name=nope")).await;
    assert_eq!(by_name["networks"], json!([]));
    let missing = http
        .get(format!(
            "{base}/v2.0/ports/00000000-0000-4000-8000-00000000dead"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    mock.stop().await;
}

/// A subnet with no address left is a refusal (nova's 400, a failed sub-job),
/// never a mock that stops answering: every route answers within a second.
/// (Two workers: a handler that spins holds one, and the timeout still fires.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_subnet_is_refused_and_every_route_still_answers() {
    let mut config = config();
    config.fixtures.subnet_cidr = Some("192.168.1.0/24".into());
    let f = config.fixtures.clone();
    let mock = start_local(contract(), config).await.unwrap();
    let base = mock.base_url.clone();
    let http = reqwest::Client::new();
    let within = |what: &'static str| {
        move |r: Result<reqwest::Response, reqwest::Error>| {
            r.unwrap_or_else(|e| panic!("{what}: {e}"))
        }
    };
    let timed = |fut| tokio::time::timeout(Duration::from_secs(1), fut);
    let nics = format!(
        "{base}/v1/{EXAMPLE_PROJECT_ID}/cloudservers/{}/nics",
        f.server_id
    );
    // 126 hosts in the handed-out half, 81 held by fixtures: batches of 10 run out.
    let mut failed = None;
    for _ in 0..8 {
        let answer = timed(
            http.post(&nics)
                .json(&json!({"nics": vec![json!({"subnet_id": f.subnet_id}); 10]}))
                .send(),
        )
        .await
        .expect("a batch add was answered within a second");
        let job: Value = within("batch add")(answer).json().await.unwrap();
        let job = wait_job(&http, &base, job["job_id"].as_str().unwrap()).await;
        if job["status"] == "FAIL" {
            failed = Some(job);
            break;
        }
    }
    let job = failed.expect("the subnet ran out within 80 NICs");
    assert!(
        job.to_string().contains("no free IP address"),
        "the failed sub-job says why: {job}"
    );
    let attach = timed(
        http.post(format!(
            "{base}/v2.1/{EXAMPLE_PROJECT_ID}/servers/{}/os-interface",
            f.server_id
        ))
        .json(&json!({"interfaceAttachment": {"net_id": f.network_id}}))
        .send(),
    )
    .await
    .expect("a nova attach was answered within a second");
    assert_eq!(within("nova attach")(attach).status(), 400);
    for url in [
        format!(
            "{base}/v2.1/{EXAMPLE_PROJECT_ID}/servers/{}/os-interface",
            f.server_id
        ),
        format!(
            "{base}/v1/{EXAMPLE_PROJECT_ID}/cloudservers/{}/os-interface",
            f.server_id
        ),
    ] {
        let answer = timed(http.get(&url).send())
            .await
            .expect("a listing was answered within a second");
        assert_eq!(within("listing")(answer).status(), 200, "{url}");
    }
}

/// The mock is the reference: every request example the five pages print,
/// sent as printed to a fresh mock, gets the documented success (and its job
/// ends SUCCESS), except an example a recorded decision says is invalid,
/// which gets the 4xx that decision expects.
#[tokio::test]
async fn every_page_request_example_gets_the_documented_outcome() {
    let c = contract();
    let data: Value = serde_json::from_str(include_str!("data/page-examples.json")).unwrap();
    let http = reqwest::Client::new();
    let mut sent = 0;
    for example in data["examples"].as_array().unwrap() {
        let Some(op) = example["operation"].as_str() else {
            continue;
        };
        let what = format!("{op} {}", example["what"]);
        let operation = c.operation(op).unwrap();
        let path = example["path"].as_object().cloned().unwrap_or_default();
        let project = path
            .get("project_id")
            .and_then(Value::as_str)
            .unwrap_or(EXAMPLE_PROJECT_ID)
            .to_string();
        let mut config = MockConfig::new(&project, example_fixtures());
        config.job_duration = Duration::from_millis(5);
        let f = &mut config.fixtures;
        // The subnet of the nova example's address.
        f.subnet_cidr = Some("192.168.1.0/24".into());
        // The NIC the delete example names, and the security group the
        // supplementary NIC example names, exist on this server's account.
        let example_nic = "d32019d3-bc6e-4319-9c1d-6722fc136a23";
        f.extra_spare_port_ids.push(example_nic.into());
        f.extra_security_group_ids
            .push("6727c950-9f01-47a2-a7aa-7d3686c4c95b".into());
        let f = f.clone();
        let mock = start_local(c.clone(), config).await.unwrap();
        let base = mock.base_url.clone();
        let attach = |port: &str| {
            let url = format!("{base}/v1/{project}/cloudservers/{}/nics", f.server_id);
            let body = json!({"nics": [{"port_id": port}]});
            let (http, base) = (http.clone(), base.clone());
            async move {
                let job = post_json(&http, url, body).await;
                let job = wait_job(&http, &base, job["job_id"].as_str().unwrap()).await;
                assert_eq!(job["status"], "SUCCESS", "setup attach: {job}");
            }
        };
        // The state each example presumes: the NIC it deletes or updates is attached.
        let mut params = serde_json::Map::new();
        params.insert("project_id".into(), json!(project));
        params.insert("server_id".into(), json!(f.server_id));
        params.insert(
            "sub_network_interface_id".into(),
            json!(f.sub_network_interface_id),
        );
        match op {
            "batch-delete-nics" => attach(example_nic).await,
            "update-interface-attachment" => {
                attach(&f.spare_port_id).await;
                params.insert("port_id".into(), json!(f.spare_port_id));
            }
            _ => {}
        }
        params.extend(path);
        let url = format!("{base}{}", operation.render_path(&params));
        let answer = http
            .request(operation.method.parse().unwrap(), &url)
            .json(&example["body"])
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        sent += 1;
        if example.get("conflict").is_some() {
            assert!(
                (400..500).contains(&status),
                "{what}: a decision calls it invalid, so a 4xx; got {status} {body}"
            );
            continue;
        }
        assert_eq!(status, operation.success_status, "{what}: {body}");
        if operation.is_async {
            let job = wait_job(&http, &base, body["job_id"].as_str().unwrap()).await;
            assert_eq!(job["status"], "SUCCESS", "{what}: {job}");
        }
    }
    assert_eq!(sent, 6, "every request example of the five pages was sent");
}

/// "true: Delete the NIC. false: Do not delete the NIC." (the update page's
/// Table 3): deleting the server deletes the NICs marked so and keeps the
/// others, detached and DOWN, whoever made them.
#[tokio::test]
async fn deleting_the_server_deletes_exactly_the_nics_marked_delete_on_termination() {
    let f = example_fixtures();
    let mock = start_local(contract(), config()).await.unwrap();
    let base = mock.base_url.clone();
    let http = reqwest::Client::new();
    let server = format!(
        "{base}/v1/{EXAMPLE_PROJECT_ID}/cloudservers/{}",
        f.server_id
    );
    // The spare, and a NIC the mock makes on the subnet.
    let job = attach_spare(&http, &base).await;
    wait_job(&http, &base, job["job_id"].as_str().unwrap()).await;
    let job = post_json(
        &http,
        format!("{server}/nics"),
        json!({"nics": [{"subnet_id": f.subnet_id}]}),
    )
    .await;
    let job = wait_job(&http, &base, job["job_id"].as_str().unwrap()).await;
    let made = job["entities"]["sub_jobs"][0]["entities"]["nic_id"]
        .as_str()
        .unwrap()
        .to_string();
    let update = |port: String, delete: bool| {
        http.put(format!("{server}/os-interface/{port}"))
            .json(&json!({"interface_attachment": {"delete_on_termination": delete}}))
            .send()
    };
    assert!(
        update(f.spare_port_id.clone(), true)
            .await
            .unwrap()
            .status()
            .is_success()
    );
    assert!(
        update(made.clone(), false)
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let nova_server = format!("{base}/v2.1/{EXAMPLE_PROJECT_ID}/servers/{}", f.server_id);
    let deleted = http.delete(&nova_server).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    let port = |id: String| {
        http.get(format!("{base}/v1/{EXAMPLE_PROJECT_ID}/ports/{id}"))
            .send()
    };
    assert_eq!(port(f.spare_port_id.clone()).await.unwrap().status(), 404);
    let kept: Value = port(made).await.unwrap().json().await.unwrap();
    assert_eq!(kept["port"]["status"], "DOWN", "{kept}");
    assert_eq!(http.get(&nova_server).send().await.unwrap().status(), 404);
    assert_eq!(
        http.delete(&nova_server).send().await.unwrap().status(),
        404
    );
}
