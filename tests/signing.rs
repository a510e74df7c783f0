//! AK/SK signing reproduces the vendor SDK's known-answer vectors byte for
//! byte, and the verifier accepts each of them and rejects any one-byte change.

use nic_conformance::signing::{ReceivedRequest, SignableRequest, VerifyError, sign, verify};
use serde_json::Value;

struct Vector {
    name: String,
    ak: String,
    sk: String,
    method: String,
    host: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: String,
    expected: Value,
}

fn vectors() -> Vec<Vector> {
    let data: Value = serde_json::from_str(include_str!("data/signing-vectors.json")).unwrap();
    data["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| Vector {
            name: v["name"].as_str().unwrap().into(),
            ak: v["ak"].as_str().unwrap().into(),
            sk: v["sk"].as_str().unwrap().into(),
            method: v["method"].as_str().unwrap().into(),
            host: v["host"].as_str().unwrap().into(),
            path: v["path"].as_str().unwrap().into(),
            query: v["query"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    let val = match &p[1] {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (p[0].as_str().unwrap().to_string(), val)
                })
                .collect(),
            headers: v["headers"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect(),
            body: v["body"].as_str().unwrap().into(),
            expected: v["expected"].clone(),
        })
        .collect()
}

#[test]
fn every_vector_is_reproduced_byte_for_byte() {
    let vs = vectors();
    assert!(vs.len() >= 8, "expected the full vector set");
    for v in &vs {
        let req = SignableRequest {
            method: &v.method,
            host: &v.host,
            path: &v.path,
            query: &v.query,
            headers: &v.headers,
            body: v.body.as_bytes(),
        };
        let s = sign(&req, &v.ak, &v.sk);
        assert_eq!(
            s.canonical_request,
            v.expected["canonical_request"].as_str().unwrap(),
            "{}: canonical request",
            v.name
        );
        assert_eq!(
            s.string_to_sign,
            v.expected["string_to_sign"].as_str().unwrap(),
            "{}: string to sign",
            v.name
        );
        assert_eq!(
            s.signed_headers,
            v.expected["signed_headers"].as_str().unwrap(),
            "{}: signed headers",
            v.name
        );
        assert_eq!(
            s.authorization,
            v.expected["authorization"].as_str().unwrap(),
            "{}: Authorization",
            v.name
        );
        let added: Vec<(String, String)> = v.expected["added_headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        let mut got = s.added_headers.clone();
        got.sort();
        let mut want = added;
        want.sort();
        assert_eq!(got, want, "{}: added headers", v.name);
    }
}

/// The request as it arrives at a server: encoded path and query, every header including the signer's.
fn received(v: &Vector) -> (String, Option<String>, Vec<(String, String)>) {
    let req = SignableRequest {
        method: &v.method,
        host: &v.host,
        path: &v.path,
        query: &v.query,
        headers: &v.headers,
        body: v.body.as_bytes(),
    };
    let s = sign(&req, &v.ak, &v.sk);
    let raw_path = v
        .path
        .split('/')
        .map(nic_conformance::signing::encode_segment)
        .collect::<Vec<_>>()
        .join("/");
    let raw_query = (!v.query.is_empty()).then(|| {
        v.query
            .iter()
            .map(|(k, val)| {
                format!(
                    "{}={}",
                    nic_conformance::signing::encode_segment(k),
                    nic_conformance::signing::encode_segment(val)
                )
            })
            .collect::<Vec<_>>()
            .join("&")
    });
    let mut headers = v.headers.clone();
    headers.extend(s.added_headers);
    headers.push(("Authorization".into(), s.authorization));
    (raw_path, raw_query, headers)
}

fn check(
    v: &Vector,
    raw_path: &str,
    raw_query: Option<&str>,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<(), VerifyError> {
    let req = ReceivedRequest {
        method: &v.method,
        raw_path,
        raw_query,
        headers,
        body,
    };
    verify(&req, |ak| (ak == v.ak).then(|| v.sk.clone()))
}

#[test]
fn the_verifier_accepts_every_vector() {
    for v in vectors() {
        let (path, query, headers) = received(&v);
        assert_eq!(
            check(&v, &path, query.as_deref(), &headers, v.body.as_bytes()),
            Ok(()),
            "{}",
            v.name
        );
    }
}

#[test]
fn the_verifier_rejects_a_one_byte_change_of_body_path_or_signed_header() {
    for v in vectors() {
        let (path, query, headers) = received(&v);
        let unsigned_payload = headers.iter().any(|(k, val)| {
            k.eq_ignore_ascii_case("x-sdk-content-sha256") && val == "UNSIGNED-PAYLOAD"
        });
        if !unsigned_payload {
            let mut body = v.body.as_bytes().to_vec();
            if body.is_empty() {
                body.push(b' ');
            } else {
                body[0] ^= 0x01;
            }
            assert_eq!(
                check(&v, &path, query.as_deref(), &headers, &body),
                Err(VerifyError::Mismatch),
                "{}: body",
                v.name
            );
        }
        let mut bad_path = path.clone().into_bytes();
        let last = bad_path.len() - 1;
        bad_path[last] ^= 0x01;
        let bad_path = String::from_utf8(bad_path).unwrap();
        assert_eq!(
            check(&v, &bad_path, query.as_deref(), &headers, v.body.as_bytes()),
            Err(VerifyError::Mismatch),
            "{}: path",
            v.name
        );
        for (i, (name, _)) in headers.iter().enumerate() {
            if name.eq_ignore_ascii_case("authorization") {
                continue;
            }
            let mut changed = headers.clone();
            let mut value = changed[i].1.clone().into_bytes();
            let last = value.len() - 1;
            value[last] ^= 0x01;
            changed[i].1 = String::from_utf8(value).unwrap();
            assert_eq!(
                check(&v, &path, query.as_deref(), &changed, v.body.as_bytes()),
                Err(VerifyError::Mismatch),
                "{}: header {name}",
                v.name
            );
        }
    }
}

#[test]
fn missing_or_foreign_credentials_are_refused() {
    let v = &vectors()[0];
    let (path, query, mut headers) = received(v);
    headers.retain(|(k, _)| k != "Authorization");
    assert_eq!(
        check(v, &path, query.as_deref(), &headers, v.body.as_bytes()),
        Err(VerifyError::Missing)
    );
    headers.push((
        "Authorization".into(),
        "SDK-HMAC-SHA256 Access=OTHER, SignedHeaders=host, Signature=00".into(),
    ));
    assert_eq!(
        check(v, &path, query.as_deref(), &headers, v.body.as_bytes()),
        Err(VerifyError::UnknownKey)
    );
}
