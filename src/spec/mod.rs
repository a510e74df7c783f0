//! Renders the contract for people (`spec`) and cases as JSON lines (`generate`).

pub mod diff;
pub mod pages;

use serde_json::{Value, json};

use crate::case::Case;
use crate::contract::{Contract, Operation};
use crate::target::Target;

/// The whole catalogue as one JSON object.
pub fn as_json(contract: &Contract) -> Value {
    let operations: Vec<Value> = contract
        .operations
        .iter()
        .map(|op| {
            let mut v = serde_json::to_value(op).unwrap_or(Value::Null);
            v["rules"] = contract
                .rules_for(&op.id)
                .filter(|r| r.operation != "*")
                .map(|r| json!(r.id))
                .collect();
            v["request_keywords"] = contract.request_keywords(op).map(|k| json!(k.id)).collect();
            v
        })
        .collect();
    json!({
        "operations": operations,
        "rules": contract.rules,
        "doc_conflicts": contract.doc_conflicts,
        "schemas": contract.schemas.values().map(|s| json!({"name": s.name, "file": s.file, "keywords": s.keywords})).collect::<Vec<_>>(),
    })
}

fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + word.len() + 1 > width {
            out.push_str(indent);
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(indent);
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The catalogue as readable tables.
pub fn as_tables(contract: &Contract) -> String {
    let mut out = String::from("OPERATIONS\n");
    out.push_str(&format!(
        "{:<30} {:<4} {:<6} {:<70} {:>7} {:<5}\n",
        "id", "svc", "method", "path", "success", "async"
    ));
    for op in &contract.operations {
        out.push_str(&format!(
            "{:<30} {:<4} {:<6} {:<70} {:>7} {:<5}{}\n",
            op.id,
            op.service.to_string(),
            op.method,
            op.path,
            op.success_expect().to_string(),
            if op.is_async { "yes" } else { "no" },
            if op.auxiliary { "  (auxiliary)" } else { "" }
        ));
        let mut schemas = vec![format!("path {}", op.path_schema)];
        schemas.extend(op.request_schema.iter().map(|s| format!("request {s}")));
        for r in &op.responses {
            schemas.push(format!(
                "{} {}",
                r.status,
                r.schema.as_deref().unwrap_or("(no body)")
            ));
        }
        out.push_str(&format!(
            "    schemas: {}\n    page: {}\n",
            schemas.join(", "),
            op.page
        ));
    }
    rules_table(&mut out, contract);
    let keywords: usize = contract.schemas.values().map(|s| s.keywords.len()).sum();
    out.push_str(&format!(
        "\nSCHEMA KEYWORDS\n  {keywords} keywords in {} schemas, each with an id `schema#/pointer` and a severity (`spec --json` lists them all).\n  `must` where the page states the constraint; these are `should`, with why:\n",
        contract.schemas.len()
    ));
    should_keywords(&mut out, contract);
    out.push_str("\nDOCUMENTATION CONFLICTS\n");
    for c in &contract.doc_conflicts {
        out.push_str(&format!("\n  {} ({})\n", c.id, c.page));
        out.push_str(&wrap(&format!("conflict: {}", c.conflict), 90, "      "));
        out.push_str(&wrap(&format!("decision: {}", c.decision), 90, "      "));
        out.push_str(&wrap(&format!("why: {}", c.why), 90, "      "));
    }
    out
}

/// The rules, grouped by operation: id, severity, check and expected
/// answer, the statement, its source and the basis of its severity.
fn rules_table(out: &mut String, contract: &Contract) {
    out.push_str("\nRULES\n");
    let mut ops: Vec<&str> = contract.operations.iter().map(|o| o.id.as_str()).collect();
    ops.push("*");
    for op in ops {
        let rules: Vec<_> = contract
            .rules
            .iter()
            .filter(|r| r.operation == op)
            .collect();
        if rules.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "\n  {}\n",
            if op == "*" { "every operation" } else { op }
        ));
        for r in rules {
            let expect = r.expect.map(|e| format!(" → {e}")).unwrap_or_default();
            out.push_str(&format!(
                "  {:<40} {:<6} {:<18}{}\n",
                r.id,
                r.severity.to_string(),
                r.check.kind(),
                expect
            ));
            out.push_str(&wrap(&r.statement, 90, "      "));
            out.push_str(&format!("      from {}\n", r.source));
            let why = match r.source.basis {
                crate::contract::Basis::Exception => crate::contract::basis::EXCEPTIONS
                    .iter()
                    .find(|(id, _)| *id == r.id)
                    .map(|(_, why)| why.to_string()),
                _ => r.source.why.clone(),
            };
            if let Some(why) = why {
                out.push_str(&wrap(&format!("{}: {why}", r.source.basis), 90, "      "));
            }
        }
    }
}

/// One case as a JSON line: what `generate` prints.
pub fn case_line(
    contract: &Contract,
    op: &Operation,
    case: &Case,
    target: Option<&Target>,
    replay: &str,
) -> Value {
    let headers = if case.body.is_some() {
        json!({"Content-Type": "application/json;charset=UTF-8"})
    } else {
        json!({})
    };
    let base = target
        .map(|t| t.base_url(op.service).to_string())
        .unwrap_or_default();
    json!({
        "id": case.id,
        "replay": replay,
        "operation": case.operation,
        "kind": case.kind,
        "expect": case.expect.to_string(),
        "breaks": case.breaks,
        "exercises": case.exercises,
        "description": case.description,
        "setup": case.setup,
        "source": case.breaks.as_deref().map(|b| contract.source_of(b)),
        "request": {
            "method": op.method,
            "path": op.render_path(&case.path_params),
            "url": if base.is_empty() { Value::Null } else { json!(format!("{base}{}", op.render_path(&case.path_params))) },
            "headers": headers,
            "body": case.body,
        },
    })
}

/// The keywords at `should`, each with why (a schema wholly borrowed, once).
fn should_keywords(out: &mut String, contract: &Contract) {
    for schema in contract.schemas.values() {
        let should: Vec<_> = schema
            .keywords
            .iter()
            .filter(|k| k.severity == crate::contract::Severity::Should)
            .collect();
        match should.first() {
            Some(k) if should.len() == schema.keywords.len() => {
                out.push_str(&format!("\n  {} (every keyword)\n", schema.name));
                out.push_str(&wrap(&k.severity_reason, 90, "      "));
            }
            _ => {
                for k in should {
                    out.push_str(&format!("\n  {}\n", k.id));
                    out.push_str(&wrap(&k.severity_reason, 90, "      "));
                }
            }
        }
    }
}
