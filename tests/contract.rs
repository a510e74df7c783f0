//! The contract loads, is consistent, rejects broken files with file and
//! pointer, accounts for every page example, and gives every schema keyword
//! and every rule an id that a body breaking only it is rejected with.

use std::collections::BTreeSet;
use std::path::Path;

use nic_conformance::case::CaseKind;
use nic_conformance::contract::pointer::{get, remove, set};
use nic_conformance::contract::sample::minimal;
use nic_conformance::contract::{Contract, EMBEDDED, Verdict};
use nic_conformance::curated::load_curated;
use nic_conformance::fixtures::{EXAMPLE_PROJECT_ID, FixtureWorld, example_fixtures};
use serde_json::{Value, json};

fn contract() -> Contract {
    Contract::builtin().expect("the built-in contract loads")
}

fn schemas_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas"))
}

#[test]
fn every_file_in_schemas_is_embedded_and_loads_the_same() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(schemas_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    let embedded: BTreeSet<String> = EMBEDDED.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(
        on_disk, embedded,
        "add new schema files to contract::EMBEDDED"
    );
    let from_dir = Contract::load_dir(schemas_dir()).unwrap();
    let builtin = contract();
    assert_eq!(from_dir.rules, builtin.rules);
    assert_eq!(
        from_dir.schemas.keys().collect::<Vec<_>>(),
        builtin.schemas.keys().collect::<Vec<_>>()
    );
}

#[test]
fn five_operations_and_the_job_query_with_services_and_schemas() {
    let c = contract();
    let documented: Vec<&str> = c.documented_operations().map(|o| o.id.as_str()).collect();
    assert_eq!(
        documented,
        [
            "batch-add-nics",
            "nova-attach-interface",
            "batch-delete-nics",
            "update-interface-attachment",
            "update-sub-network-interface"
        ]
    );
    let job = c.operation("show-job").unwrap();
    assert_eq!(
        (job.method.as_str(), job.path.as_str()),
        ("GET", "/v1/{project_id}/jobs/{job_id}")
    );
    let vpc = c.operation("update-sub-network-interface").unwrap();
    assert_eq!(vpc.service.to_string(), "vpc");
    assert!(c.operation("batch-add-nics").unwrap().is_async);
    for op in c.documented_operations() {
        assert!(
            c.rules_for(&op.id).any(|r| r.operation == op.id),
            "{} has no rule",
            op.id
        );
    }
}

#[test]
fn ids_are_unique_across_rules_and_keywords() {
    let c = contract();
    let mut seen = BTreeSet::new();
    for id in c
        .rules
        .iter()
        .map(|r| r.id.clone())
        .chain(c.all_keywords().map(|k| k.id.clone()))
    {
        assert!(seen.insert(id.clone()), "duplicate id {id}");
    }
}

/// A copy of `schemas/` with one file changed.
fn broken(file: &str, edit: impl FnOnce(String) -> String) -> Result<Contract, String> {
    let dir = tempfile::tempdir().unwrap();
    let mut edit = Some(edit);
    for (name, text) in EMBEDDED {
        let text = match (*name == file, edit.take_if(|_| *name == file)) {
            (true, Some(edit)) => edit(text.to_string()),
            _ => text.to_string(),
        };
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    Contract::load_dir(dir.path()).map_err(|e| e.to_string())
}

#[test]
fn a_schema_that_is_not_json_names_the_file() {
    let e = broken("nova-attach-interface.request.json", |t| {
        t.replacen('{', "{,", 1)
    })
    .unwrap_err();
    assert!(
        e.contains("nova-attach-interface.request.json") && e.contains("not valid JSON"),
        "{e}"
    );
}

#[test]
fn an_unknown_format_names_file_and_pointer() {
    let e = broken("batch-add-nics.request.json", |t| {
        t.replace("\"format\": \"uuid\"", "\"format\": \"uuid4\"")
    })
    .unwrap_err();
    assert!(
        e.contains(
            "batch-add-nics.request.json at /properties/nics/items/properties/subnet_id/format"
        ),
        "{e}"
    );
}

#[test]
fn a_schema_that_does_not_compile_names_the_file() {
    let e = broken("batch-delete-nics.request.json", |t| {
        t.replace("\"minItems\": 1", "\"minItems\": -1")
    })
    .unwrap_err();
    assert!(e.contains("batch-delete-nics.request.json"), "{e}");
}

#[test]
fn a_rule_naming_a_missing_field_names_the_rule() {
    let e = broken("rules.json", |t| {
        t.replace(
            "\"fields\": [\"port_id\", \"net_id\"]",
            "\"fields\": [\"port_id\", \"network_id\"]",
        )
    })
    .unwrap_err();
    assert!(
        e.contains("rules.json at /rules/") && e.contains("/check") && e.contains("network_id"),
        "{e}"
    );
}

#[test]
fn a_rule_for_an_unknown_operation_and_a_duplicate_id_are_refused() {
    let e = broken("rules.json", |t| {
        t.replacen(
            "\"operation\": \"batch-add-nics\"",
            "\"operation\": \"batch-add-nic\"",
            1,
        )
    })
    .unwrap_err();
    assert!(
        e.contains("/rules/0/operation") && e.contains("batch-add-nic"),
        "{e}"
    );
    let e = broken("rules.json", |t| {
        t.replace(
            "\"id\": \"batch-add.port-wins\"",
            "\"id\": \"batch-add.port-or-subnet\"",
        )
    })
    .unwrap_err();
    assert!(
        e.contains("duplicate id") && e.contains("/rules/1/id"),
        "{e}"
    );
}

#[test]
fn a_missing_schema_file_is_named() {
    let e = broken("operations.json", |t| {
        t.replace(
            "\"schema\": \"batch-add-nics.response.200\"",
            "\"schema\": \"batch-add-nics.response.201\"",
        )
    })
    .unwrap_err();
    assert!(e.contains("batch-add-nics.response.201.json"), "{e}");
}

#[test]
fn every_page_example_validates_or_is_a_recorded_conflict() {
    let c = contract();
    let data: Value = serde_json::from_str(include_str!("data/page-examples.json")).unwrap();
    let fixtures = example_fixtures();
    let world = FixtureWorld::new(&fixtures, EXAMPLE_PROJECT_ID, None);
    let examples = data["examples"].as_array().unwrap();
    for (i, ex) in examples.iter().enumerate() {
        let schema = c.schema(ex["schema"].as_str().unwrap()).unwrap();
        let body = &ex["body"];
        let mut broken: Vec<String> = schema.violations(body).into_iter().map(|v| v.id).collect();
        // Requests are also judged by the rules (with the page's ids standing for fixtures).
        if let Some(op) = ex["operation"].as_str().and_then(|o| c.operation(o))
            && broken.is_empty()
        {
            let view = Contract::view(Default::default(), body.clone());
            for r in c.rules_for(&op.id).filter(|r| {
                r.check.is_request_constraint()
                    && !matches!(
                        r.check,
                        nic_conformance::contract::Check::ResourceExists { .. }
                            | nic_conformance::contract::Check::ResourceState { .. }
                    )
            }) {
                if r.check.violated(&view, &world) {
                    broken.push(r.id.clone());
                }
            }
        }
        // A response that should echo its request.
        if let Some(req) = ex["echo_of"].as_u64() {
            let req = &examples[req as usize];
            let view = Contract::view(
                req["path"].as_object().cloned().unwrap_or_default(),
                req["body"].clone(),
            );
            for r in c.rules.iter() {
                if r.check.echo_mismatch(&view, body).is_some() {
                    broken.push(r.id.clone());
                }
            }
        }
        match ex["conflict"].as_str() {
            None => assert!(
                broken.is_empty(),
                "example {i} ({} {}) breaks {broken:?} and no doc conflict covers it",
                ex["page"],
                ex["what"]
            ),
            Some(id) => {
                let conflict = c
                    .doc_conflicts
                    .iter()
                    .find(|d| d.id == id)
                    .unwrap_or_else(|| panic!("example {i} names unknown conflict {id}"));
                assert!(
                    !broken.is_empty(),
                    "example {i} is covered by {id} but breaks nothing"
                );
                for b in &broken {
                    assert!(
                        conflict.breaks.contains(b),
                        "example {i} breaks {b}, which {id} does not record"
                    );
                }
            }
        }
    }
}

/// The instance location a keyword applies to, created if it is optional and absent.
fn locate(
    c: &Contract,
    schema_name: &str,
    subschema: &str,
    instance: &mut Value,
) -> Option<String> {
    let schema = &c.schema(schema_name).unwrap().document;
    let mut ptr = String::new();
    let mut node_ptr = String::new();
    let tokens: Vec<&str> = subschema.split('/').skip(1).collect();
    let mut i = 0;
    while i < tokens.len() {
        match tokens[i] {
            "properties" => {
                let name = tokens[i + 1];
                node_ptr.push_str(&format!("/properties/{name}"));
                ptr.push_str(&format!("/{name}"));
                if get(instance, &ptr).is_none() {
                    set(instance, &ptr, minimal(schema.pointer(&node_ptr)?));
                }
                i += 2;
            }
            "items" => {
                node_ptr.push_str("/items");
                let arr = get(instance, &ptr)?.as_array()?.clone();
                if arr.is_empty() {
                    set(instance, &ptr, json!([minimal(schema.pointer(&node_ptr)?)]));
                }
                ptr.push_str("/0");
                i += 1;
            }
            "propertyNames" => {
                node_ptr.push_str("/propertyNames");
                i += 1;
            }
            "additionalProperties" => {
                node_ptr.push_str("/additionalProperties");
                let key = get(instance, &ptr)?.as_object()?.keys().next()?.clone();
                ptr.push_str(&format!("/{key}"));
                i += 1;
            }
            _ => return None,
        }
    }
    Some(ptr)
}

/// Breaks `keyword` at `ptr`, written independently of the generator.
fn break_keyword(keyword: &str, node: &Value, instance: &mut Value, ptr: &str) {
    let current = get(instance, ptr).cloned().unwrap_or(Value::Null);
    let replacement = match keyword {
        "type" => Some(if current.is_number() || node["type"] == json!("object") {
            json!("not this type")
        } else {
            json!(12345)
        }),
        "required" => {
            let first = node["required"][0].as_str().unwrap();
            remove(instance, &format!("{ptr}/{first}"));
            None
        }
        "format" => Some(json!("definitely not valid")),
        "minLength" => Some(json!("")),
        "maxLength" => Some(json!(
            "a".repeat(node["maxLength"].as_u64().unwrap() as usize + 1)
        )),
        "pattern" => Some(json!(format!("{}<>!", current.as_str().unwrap_or("")))),
        "minimum" => Some(json!(node["minimum"].as_i64().unwrap() - 1)),
        "maximum" => Some(json!(node["maximum"].as_i64().unwrap() + 1)),
        "enum" if !(ptr.is_empty() || current.is_object()) => Some(json!("NOT_A_DOCUMENTED_VALUE")),
        "minItems" => Some(json!([])),
        "maxItems" => {
            let mut a = current.as_array().cloned().unwrap_or_default();
            let item = a.first().cloned().unwrap_or(json!("x"));
            while a.len() <= node["maxItems"].as_u64().unwrap() as usize {
                a.push(item.clone());
            }
            Some(Value::Array(a))
        }
        "additionalProperties" => {
            set(instance, &format!("{ptr}/x_undocumented"), json!(1));
            None
        }
        "minProperties" => Some(json!({})),
        "maxProperties" => {
            let mut o = current.as_object().cloned().unwrap();
            let extra = o.values().next().cloned().unwrap();
            o.insert("itemNotFound".into(), extra);
            Some(Value::Object(o))
        }
        "enum" if ptr.is_empty() || current.is_object() => {
            // `propertyNames: {enum}`: a member name outside the list.
            let mut o = current.as_object().cloned().unwrap();
            let (_, v) = o.clone().into_iter().next().unwrap();
            o.clear();
            o.insert("notAnErrorKey".into(), v);
            Some(Value::Object(o))
        }
        "propertyNames" => {
            let mut o = current.as_object().cloned().unwrap();
            let (_, v) = o.clone().into_iter().next().unwrap();
            o.clear();
            o.insert("notAnErrorKey".into(), v);
            Some(Value::Object(o))
        }
        other => panic!("no way to break `{other}`: add one here"),
    };
    if let Some(r) = replacement {
        set(instance, ptr, r);
    }
}

#[test]
fn every_schema_keyword_has_an_id_a_body_breaking_only_it_is_rejected_with() {
    let c = contract();
    let data: Value = serde_json::from_str(include_str!("data/valid-instances.json")).unwrap();
    let mut checked = 0;
    for (name, schema) in &c.schemas {
        let base = data["instances"]
            .get(name)
            .unwrap_or_else(|| panic!("tests/data/valid-instances.json has no instance of {name}"));
        assert!(
            schema.violations(base).is_empty(),
            "the base instance of {name} is invalid: {:?}",
            schema.violations(base)
        );
        for k in &schema.keywords {
            let mut instance = base.clone();
            let ptr = locate(&c, name, &k.subschema, &mut instance)
                .unwrap_or_else(|| panic!("cannot reach {}", k.id));
            assert!(
                schema.violations(&instance).is_empty(),
                "{}: filling the path made the base invalid",
                k.id
            );
            let node = schema.subschema(&k.subschema).unwrap();
            break_keyword(&k.keyword, node, &mut instance, &ptr);
            let ids: BTreeSet<String> = schema
                .violations(&instance)
                .into_iter()
                .map(|v| v.id)
                .collect();
            assert_eq!(
                ids,
                BTreeSet::from([k.id.clone()]),
                "breaking {} alone ({instance})",
                k.id
            );
            checked += 1;
        }
    }
    assert_eq!(checked, c.all_keywords().count());
}

#[test]
fn every_rule_has_a_curated_case_that_breaks_or_exercises_it_and_the_contract_agrees() {
    let c = contract();
    let fixtures = example_fixtures();
    let cases = load_curated(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/cases")),
        &c,
        EXAMPLE_PROJECT_ID,
        &fixtures,
    )
    .unwrap();
    for case in &cases {
        let op = c.operation(&case.operation).unwrap();
        let world = FixtureWorld::new(&fixtures, EXAMPLE_PROJECT_ID, case.setup);
        let view = case.view();
        match (c.judge(op, &view, &world), &case.breaks) {
            (Verdict::Accept { dry_run }, None) => {
                let status = if dry_run { 202 } else { op.success_status };
                assert!(
                    case.expect.matches(status),
                    "{}: the contract accepts it with {status}, the case expects {}",
                    case.id,
                    case.expect
                );
            }
            (Verdict::Reject { id, expect, .. }, Some(b)) => {
                assert_eq!(
                    &id, b,
                    "{}: rejected for {id}, the case says it breaks {b}",
                    case.id
                );
                assert_eq!(
                    expect.status, case.expect.status,
                    "{}: documented status",
                    case.id
                );
                let also = c.rule(b).map(|r| r.also_breaks.clone()).unwrap_or_default();
                for v in c.all_violations(op, &view, &world) {
                    assert!(&v == b || also.contains(&v), "{}: also breaks {v}", case.id);
                }
            }
            (verdict, breaks) => panic!(
                "{}: contract says {verdict:?}, the case says breaks {breaks:?}",
                case.id
            ),
        }
    }
    // Job rules are exercised by following the jobs of these cases (tests/runner.rs).
    for rule in c
        .rules
        .iter()
        .filter(|r| r.operation != "*" && !c.operation(&r.operation).unwrap().auxiliary)
    {
        let covered = cases.iter().any(|k| {
            k.breaks.as_deref() == Some(rule.id.as_str())
                || (k.breaks.is_none() && k.exercises.contains(&rule.id))
        });
        assert!(covered, "no curated case breaks or exercises {}", rule.id);
    }
    for rule in c.rules.iter().filter(|r| r.check.is_request_constraint()) {
        assert!(
            cases
                .iter()
                .any(|k| k.breaks.as_deref() == Some(rule.id.as_str())),
            "no curated case breaks {}",
            rule.id
        );
    }
    assert!(cases.iter().all(|k| k.kind == CaseKind::Curated));
}

#[test]
fn a_malformed_case_file_names_the_file_and_place() {
    let c = contract();
    let fixtures = example_fixtures();
    let text =
        r#"{"operation": "batch-add-nics", "cases": [{"name": "x", "body": {}, "expect": "2oo"}]}"#;
    let e = nic_conformance::curated::parse_curated(
        "cases/x.json",
        text,
        &c,
        EXAMPLE_PROJECT_ID,
        &fixtures,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("cases/x.json at /cases/0/expect") && e.contains("2oo"),
        "{e}"
    );
    let text = r#"{"operation": "batch-add-nics", "cases": [{"name": "x", "body": {}, "expect": "4xx", "breaks": "no.such-rule"}]}"#;
    let e = nic_conformance::curated::parse_curated(
        "cases/x.json",
        text,
        &c,
        EXAMPLE_PROJECT_ID,
        &fixtures,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("/cases/0/breaks"), "{e}");
}

/// Batch add: with port_id, ip_address and security_groups take no effect,
/// and port_id wins over subnet_id; values there are not judged (the page's
/// precedence over the fields' own format, doc conflict
/// batch-add.ignored-fields-not-validated).
#[test]
fn fields_a_rule_makes_moot_are_not_judged() {
    let c = Contract::builtin().unwrap();
    let f = example_fixtures();
    let op = c.operation("batch-add-nics").unwrap();
    let world = FixtureWorld::new(&f, EXAMPLE_PROJECT_ID, op.setup);
    let path = json!({"project_id": EXAMPLE_PROJECT_ID, "server_id": f.server_id});
    let view = |nic: Value| json!({"path": path, "body": {"nics": [nic]}});
    let with_port = view(json!({
        "port_id": f.spare_port_id,
        "ip_address": "10.0.0.1/8",
        "security_groups": [{}],
        "subnet_id": "not-a-uuid",
    }));
    assert_eq!(
        c.all_violations(op, &with_port, &world),
        Vec::<String>::new()
    );
    assert!(c.judge_schemas(op, &with_port).is_none());
    // Without the port, the same values are judged.
    let without = view(json!({"subnet_id": f.subnet_id, "ip_address": "10.0.0.1/8"}));
    assert_eq!(
        c.all_violations(op, &without, &world),
        ["batch-add-nics.request#/properties/nics/items/properties/ip_address/format"]
    );
}

/// The generator still breaks a moot field's keyword, where it is not moot.
#[test]
fn negative_cases_break_ignored_fields_only_where_they_are_used() {
    let c = Contract::builtin().unwrap();
    let f = example_fixtures();
    let op = c.operation("batch-add-nics").unwrap();
    let g = nic_conformance::generate::Generator::new(&c, &f, EXAMPLE_PROJECT_ID, 3);
    let id = "batch-add-nics.request#/properties/nics/items/properties/ip_address/format";
    let cases: Vec<_> = g
        .cases(op, CaseKind::Negative, 400)
        .filter(|case| case.breaks.as_deref() == Some(id))
        .collect();
    assert!(!cases.is_empty(), "no case breaks {id}");
    for case in cases {
        let nics = case.body.as_ref().unwrap()["nics"]
            .as_array()
            .unwrap()
            .clone();
        assert!(
            nics.iter()
                .any(|n| n.get("port_id").is_none() && n.get("ip_address").is_some()),
            "{}: the bad address rides beside a port: {:?}",
            case.id,
            case.body
        );
    }
}

/// `must` only where the page states a constraint; a format the page only
/// implies, or a schema borrowed from elsewhere, is `should`, with its reason.
#[test]
fn keyword_severity_follows_the_pages_words() {
    use nic_conformance::contract::Severity;
    let c = Contract::builtin().unwrap();
    let severity = |id: &str| {
        let k = c.keyword(id).unwrap_or_else(|| panic!("no keyword {id}"));
        assert!(!k.severity_reason.is_empty(), "{id} has no reason");
        (k.severity, c.severity_of(id))
    };
    for (id, want) in [
        // "NIC ID in UUID format": stated.
        (
            "batch-add-nics.request#/properties/nics/items/properties/port_id/format",
            Severity::Must,
        ),
        // "Specifies the IP address": implied.
        (
            "batch-add-nics.request#/properties/nics/items/properties/ip_address/format",
            Severity::Should,
        ),
        // "Specifies the MAC address": implied.
        (
            "nova-attach-interface.response.200#/properties/interfaceAttachment/properties/mac_addr/format",
            Severity::Should,
        ),
        // "1 to 4094": a printed range.
        (
            "update-sub-network-interface.response.200#/properties/sub_network_interface/properties/vlan_id/maximum",
            Severity::Must,
        ),
        // The job page is not included.
        (
            "show-job.response.200#/properties/status/enum",
            Severity::Should,
        ),
    ] {
        assert_eq!(severity(id), (want, want), "{id}");
    }
}

/// One severity per id: what `spec --json` prints for every schema keyword
/// and rule is what the judge applies (`Contract::severity_of`).
#[test]
fn spec_and_the_judge_agree_on_every_severity() {
    let c = contract();
    let spec: serde_json::Value = nic_conformance::spec::as_json(&c);
    let mut checked = 0;
    for schema in spec["schemas"].as_array().unwrap() {
        for k in schema["keywords"].as_array().unwrap() {
            let id = k["id"].as_str().unwrap();
            let printed = k["severity"].as_str().unwrap();
            assert_eq!(printed, c.severity_of(id).to_string(), "{id}");
            checked += 1;
        }
    }
    for r in spec["rules"].as_array().unwrap() {
        let id = r["id"].as_str().unwrap();
        assert_eq!(
            r["severity"].as_str().unwrap(),
            c.severity_of(id).to_string(),
            "{id}"
        );
        checked += 1;
    }
    assert!(checked > 200, "{checked} ids");
}

/// Every `must` keyword and rule rests on page text: a stated one quotes a
/// cell or sentence printed on its page, an exception is one of the listed
/// few. Everything else is `should`, with a reason.
#[test]
fn every_must_keyword_and_rule_has_a_page_source() {
    use nic_conformance::contract::basis::{EXCEPTIONS, page_file, quoted_on};
    use nic_conformance::contract::{Basis, Severity};
    let c = contract();
    let mut musts = 0;
    for schema in c.schemas.values() {
        let page = schema
            .document
            .pointer("/x-source/page")
            .and_then(Value::as_str)
            .and_then(page_file);
        for k in &schema.keywords {
            assert_eq!(k.severity, k.basis.severity(), "{}", k.id);
            assert!(!k.severity_reason.is_empty(), "{} has no reason", k.id);
            if k.severity == Severity::Should {
                continue;
            }
            musts += 1;
            assert_eq!(k.basis, Basis::Stated, "{}", k.id);
            let page = page.unwrap_or_else(|| panic!("{} names no built-in page", k.id));
            assert!(!k.quotes.is_empty(), "{} quotes nothing", k.id);
            for q in &k.quotes {
                assert!(quoted_on(page, q), "{}: `{q}` is not on {page}", k.id);
            }
        }
    }
    for r in &c.rules {
        assert_eq!(r.severity, r.source.basis.severity(), "{}", r.id);
        if let Some(q) = &r.source.quote {
            let page = page_file(&r.source.page).expect("a quoting rule names its page");
            assert!(quoted_on(page, q), "{}: `{q}` is not on {page}", r.id);
        }
        match r.source.basis {
            Basis::Stated => assert!(r.source.quote.is_some(), "{}", r.id),
            Basis::Exception => {
                assert!(EXCEPTIONS.iter().any(|(id, _)| *id == r.id), "{}", r.id)
            }
            _ => assert!(r.source.why.is_some(), "{} says not why", r.id),
        }
        musts += usize::from(r.severity == Severity::Must);
    }
    assert!(musts > 100, "{musts} must ids");
}

/// A stated keyword or rule whose quote is not on its page does not load.
#[test]
fn a_quote_the_page_does_not_print_is_refused_with_file_and_place() {
    let err = broken("batch-add-nics.request.json", |t| {
        t.replace(
            "Specifies the NIC ID in UUID format.",
            "Specifies the NIC ID in any format.",
        )
    })
    .unwrap_err();
    assert!(err.contains("batch-add-nics.request.json"), "{err}");
    assert!(err.contains("port_id/x-stated/format"), "{err}");
    assert!(
        err.contains("is not printed on ecs-batch-add-nics.txt"),
        "{err}"
    );
    let err = broken("rules.json", |t| {
        t.replace("The NIC must be in DOWN state.", "The NIC must be DOWN.")
    })
    .unwrap_err();
    assert!(err.contains("rules.json"), "{err}");
    assert!(err.contains("is not printed"), "{err}");
    let err = broken("rules.json", |t| {
        t.replacen(r#""basis": "exception""#, r#""basis": "implied""#, 1)
    })
    .unwrap_err();
    assert!(err.contains("says why"), "{err}");
}

/// The README lists the exceptions once, as the code does.
#[test]
fn the_readme_lists_the_must_exceptions_the_code_has() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for (id, _) in nic_conformance::contract::basis::EXCEPTIONS {
        assert!(
            readme.contains(&format!("`{id}`")),
            "README does not list {id}"
        );
    }
}
