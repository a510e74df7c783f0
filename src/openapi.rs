//! The contract as an OpenAPI 3.1 document (`spec --openapi`), for tools
//! that read OpenAPI (Schemathesis, Prism, SDK and documentation
//! generators).
//!
//! OpenAPI 3.1's schemas are JSON Schema 2020-12, the dialect `schemas/` is
//! written in, so every schema goes in unchanged under
//! `components/schemas`. What a schema cannot say goes in extensions: each
//! operation's rules as `x-nic-rules`, the doc conflicts as
//! `x-doc-conflicts`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::contract::{BodyPresence, Contract, Operation, Service};

/// The ECS and VPC endpoints, as server variables.
fn server(service: Service) -> Value {
    let (name, host) = match service {
        Service::Ecs => ("ecs_endpoint", "ecs.ap-southeast-1.myhuaweicloud.com"),
        Service::Vpc => ("vpc_endpoint", "vpc.ap-southeast-1.myhuaweicloud.com"),
    };
    json!({
        "url": format!("https://{{{name}}}"),
        "description": format!("the {} endpoint of a region (`nic-conformance mock` serves both at its base URL)", service.to_string().to_uppercase()),
        "variables": {name: {"default": host}},
    })
}

/// The path parameters of `op`, each with its schema from the path schema
/// and, as its example, the built-in mock's fixture (so a tool that sends
/// examples reaches past the 404s).
fn parameters(contract: &Contract, op: &Operation) -> Vec<Value> {
    let examples = crate::case::default_path_params(
        op,
        crate::fixtures::EXAMPLE_PROJECT_ID,
        &crate::fixtures::example_fixtures(),
    );
    let props = contract
        .schema(&op.path_schema)
        .and_then(|s| s.document.get("properties"))
        .cloned()
        .unwrap_or(Value::Null);
    op.path_params()
        .into_iter()
        .map(|name| {
            let schema = props
                .get(name)
                .cloned()
                .unwrap_or_else(|| json!({"type": "string"}));
            let mut p = json!({"name": name, "in": "path", "required": true, "schema": schema});
            if let Some(example) = examples.get(name).filter(|v| v.as_str() != Some("")) {
                p["example"] = example.clone();
            }
            p
        })
        .collect()
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// The documented responses, the statuses the rules give a refused request,
/// and the error family's body for every other status.
fn responses(contract: &Contract, op: &Operation) -> Value {
    let mut out = Map::new();
    for r in &op.responses {
        let mut response = json!({"description": format!("documented {} answer", r.status)});
        if let (Some(name), BodyPresence::Json | BodyPresence::Optional) = (&r.schema, r.body) {
            response["content"] = json!({"application/json": {"schema": schema_ref(name)}});
        }
        if r.body == BodyPresence::Optional {
            response["description"] = json!(format!(
                "documented {} answer; the body may be absent",
                r.status
            ));
        }
        out.insert(r.status.to_string(), response);
    }
    let error = contract
        .error_schemas
        .get(op.error_family.key())
        .map(|name| json!({"application/json": {"schema": schema_ref(name)}}));
    let mut refusals: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for rule in contract.rules_for(&op.id) {
        let Some(expect) = rule.expect else { continue };
        let status = match (expect.status, expect.class) {
            (Some(s), _) => s.to_string(),
            (None, Some(crate::contract::StatusClass::ClientError)) => "4XX".into(),
            _ => continue,
        };
        if !(status.starts_with('4') || status.starts_with('5')) {
            continue;
        }
        refusals.entry(status).or_default().push(&rule.id);
    }
    for (status, ids) in refusals {
        if out.contains_key(&status) {
            continue;
        }
        let mut response = json!({"description": format!("refused: {}", ids.join(", "))});
        if let Some(content) = &error {
            response["content"] = content.clone();
        }
        out.insert(status, response);
    }
    let mut default =
        json!({"description": format!("an error in the {} envelope", op.error_family.key())});
    if let Some(content) = error {
        default["content"] = content;
    }
    out.insert("default".into(), default);
    Value::Object(out)
}

/// The rules of `op` a schema cannot say.
fn rules(contract: &Contract, op: &Operation) -> Vec<Value> {
    contract
        .rules_for(&op.id)
        .map(|r| {
            json!({
                "id": r.id,
                "severity": r.severity,
                "source": r.source.to_string(),
                "statement": r.statement,
                "expected": r.expect.map(|e| e.to_string()),
                "applies_to": if r.operation == "*" { "every operation" } else { "this operation" },
            })
        })
        .collect()
}

fn operation(contract: &Contract, op: &Operation) -> Value {
    let mut o = json!({
        "operationId": op.id,
        "summary": op.title,
        "description": if op.auxiliary {
            format!("Auxiliary: a read or undo clients make around the five documented operations ({}).", op.page)
        } else {
            format!("Documented in {}.", op.page)
        },
        "tags": [op.service.to_string()],
        "servers": [server(op.service)],
        "parameters": parameters(contract, op),
        "responses": responses(contract, op),
        "security": [{"token": []}, {"aksk": []}],
        "x-nic-rules": rules(contract, op),
        "x-nic-async": op.is_async,
        "x-nic-success-status-printed": op.success_status_printed,
    });
    if let Some(name) = &op.request_schema {
        o["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": schema_ref(name)}},
        });
    }
    o
}

/// The OpenAPI 3.1 document of the contract: the five operations and the auxiliary ones.
pub fn document(contract: &Contract) -> Value {
    let mut paths: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
    for op in &contract.operations {
        paths
            .entry(op.path.as_str())
            .or_default()
            .insert(op.method.to_ascii_lowercase(), operation(contract, op));
    }
    let schemas: Map<String, Value> = contract
        .schemas
        .iter()
        .map(|(name, s)| {
            let mut doc = s.document.clone();
            if let Some(o) = doc.as_object_mut() {
                // The document's dialect is declared once, at the top.
                o.remove("$schema");
            }
            (name.clone(), doc)
        })
        .collect();
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "Cloud NIC management (as nic-conformance derives it from the API reference pages)",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Five documented operations (batch add NICs, nova-style attach interface, batch delete NICs, update NIC attachment, update a supplementary network interface) and the reads and undos around them. Schemas come from the pages' tables; `x-should` marks a keyword only implied by a page. `x-nic-rules` lists what a schema cannot say; `x-doc-conflicts` how the contract decided where the pages are silent or contradict themselves.",
        },
        "servers": [server(Service::Ecs), server(Service::Vpc)],
        "tags": [
            {"name": "ecs", "description": "Elastic Cloud Server endpoint"},
            {"name": "vpc", "description": "Virtual Private Cloud endpoint"},
        ],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "X-Auth-Token", "description": "an IAM token"},
                "aksk": {"type": "apiKey", "in": "header", "name": "Authorization", "description": "SDK-HMAC-SHA256 signature over the request with an access key and secret key (with X-Sdk-Date)"},
            },
        },
        "x-doc-conflicts": contract.doc_conflicts,
    })
}
