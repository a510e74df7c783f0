//! Loading the contract from `schemas/` (or the copy built into the
//! binary), checking it as it is read, and naming file and pointer on any
//! error.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::basis::{self, Basis};
use super::{
    Contract, ContractError, ContractErrorKind, DocConflict, EMBEDDED, JudgedRules, Operation,
    Rule, Schema,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OperationsFile {
    operations: Vec<Operation>,
    error_schemas: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    rules: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConflictsFile {
    doc_conflicts: Vec<DocConflict>,
}

fn shape_error(file: &str, e: serde_json::Error) -> ContractError {
    ContractError {
        file: file.into(),
        pointer: String::new(),
        kind: ContractErrorKind::Shape(e.to_string()),
    }
}

impl Contract {
    /// The contract compiled into the binary.
    pub fn builtin() -> Result<Contract, ContractError> {
        Contract::from_files(|name| {
            EMBEDDED
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, text)| text.to_string())
                .ok_or_else(|| ContractError {
                    file: name.to_string(),
                    pointer: String::new(),
                    kind: ContractErrorKind::Read("not embedded".into()),
                })
        })
    }

    /// The contract in `dir` (a copy of `schemas/`).
    pub fn load_dir(dir: &Path) -> Result<Contract, ContractError> {
        Contract::from_files(|name| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|e| ContractError {
                file: path.display().to_string(),
                pointer: String::new(),
                kind: ContractErrorKind::Read(e.to_string()),
            })
        })
    }

    /// Loads and checks the contract from a source of named files.
    pub fn from_files(
        read_file: impl Fn(&str) -> Result<String, ContractError>,
    ) -> Result<Contract, ContractError> {
        // Every file read, for the contract's digest.
        let texts = std::cell::RefCell::new(BTreeMap::<String, String>::new());
        let read = |name: &str| {
            let text = read_file(name)?;
            texts.borrow_mut().insert(name.to_string(), text.clone());
            Ok(text)
        };
        let parse = |name: &str| -> Result<Value, ContractError> {
            let text = read(name)?;
            serde_json::from_str(&text).map_err(|e| ContractError {
                file: name.into(),
                pointer: String::new(),
                kind: ContractErrorKind::Json(e.to_string()),
            })
        };
        let ops: OperationsFile = serde_json::from_value(parse("operations.json")?)
            .map_err(|e| shape_error("operations.json", e))?;
        let schemas = load_schemas(&ops, &read, &parse)?;
        let rules = load_rules(parse("rules.json")?, &ops.operations, &schemas)?;
        let conflicts = load_conflicts(parse("doc-conflicts.json")?)?;
        let redactions = parse("redactions.json")?;
        let judged_rules = ops
            .operations
            .iter()
            .map(|op| (op.id.clone(), JudgedRules::of(&rules, &op.id)))
            .collect();
        Ok(Contract {
            digest: digest(&texts.into_inner()),
            operations: ops.operations,
            schemas,
            rules,
            doc_conflicts: conflicts,
            error_schemas: ops.error_schemas,
            redactions,
            judged_rules,
        })
    }
}

/// SHA-256 over the files the contract was read from and the pages it
/// quotes, by name: the same contract gives the same digest wherever it is read.
fn digest(texts: &BTreeMap<String, String>) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    let pages = super::basis::PAGES
        .iter()
        .map(|(n, t)| (format!("pages/{n}"), *t));
    let files = texts.iter().map(|(n, t)| (n.clone(), t.as_str()));
    let mut all: Vec<(String, &str)> = files.chain(pages).collect();
    all.sort();
    for (name, text) in all {
        hash.update(name.as_bytes());
        hash.update([0]);
        hash.update(text.as_bytes());
        hash.update([0]);
    }
    hex::encode(hash.finalize())
}

/// Every schema the operations name, each compiled once.
fn load_schemas(
    ops: &OperationsFile,
    read: &impl Fn(&str) -> Result<String, ContractError>,
    parse: &impl Fn(&str) -> Result<Value, ContractError>,
) -> Result<BTreeMap<String, Schema>, ContractError> {
    let mut schemas = BTreeMap::new();
    let mut ids = HashSet::new();
    for (i, op) in ops.operations.iter().enumerate() {
        if !ids.insert(op.id.clone()) {
            return Err(ContractError {
                file: "operations.json".into(),
                pointer: format!("/operations/{i}/id"),
                kind: ContractErrorKind::DuplicateId(op.id.clone()),
            });
        }
        let mut names = vec![op.path_schema.clone()];
        names.extend(op.request_schema.clone());
        names.extend(op.responses.iter().filter_map(|r| r.schema.clone()));
        for name in names {
            load_schema(&mut schemas, &name, read, parse)?;
        }
    }
    for name in ops.error_schemas.values() {
        load_schema(&mut schemas, name, read, parse)?;
    }
    Ok(schemas)
}

/// The rules catalogue: unique ids, known operations, fields the schemas
/// declare, and an expected outcome for every request constraint.
fn load_rules(
    file: Value,
    operations: &[Operation],
    schemas: &BTreeMap<String, Schema>,
) -> Result<Vec<Rule>, ContractError> {
    let rules_file: RulesFile =
        serde_json::from_value(file).map_err(|e| shape_error("rules.json", e))?;
    let mut rules = Vec::new();
    let mut rule_ids = HashSet::new();
    for (i, raw) in rules_file.rules.into_iter().enumerate() {
        let fail = |suffix: &str, kind| ContractError {
            file: "rules.json".into(),
            pointer: format!("/rules/{i}{suffix}"),
            kind,
        };
        let mut rule: Rule = serde_json::from_value(raw)
            .map_err(|e| fail("", ContractErrorKind::Shape(e.to_string())))?;
        rule.severity = rule.source.basis.severity();
        check_basis(&rule).map_err(|why| fail("/source", ContractErrorKind::Basis(why)))?;
        if !rule_ids.insert(rule.id.clone()) {
            return Err(fail("/id", ContractErrorKind::DuplicateId(rule.id.clone())));
        }
        if rule.operation != "*" {
            let Some(op) = operations.iter().find(|o| o.id == rule.operation) else {
                return Err(fail(
                    "/operation",
                    ContractErrorKind::UnknownOperation(rule.operation.clone()),
                ));
            };
            for (at_pattern, field) in rule.check.named_fields() {
                let full = if field.is_empty() {
                    at_pattern.clone()
                } else {
                    format!("{at_pattern}/{field}")
                };
                if !field_exists(op, schemas, &full) {
                    return Err(fail("/check", ContractErrorKind::UnknownField(full)));
                }
            }
        }
        if rule.check.is_request_constraint() && rule.expect.is_none() {
            return Err(fail("/expect", ContractErrorKind::MissingExpect));
        }
        rules.push(rule);
    }
    Ok(rules)
}

/// A stated rule quotes its page; an exception is one of the listed few;
/// anything else says why it is kept.
fn check_basis(rule: &Rule) -> Result<(), String> {
    let source = &rule.source;
    if let Some(quote) = &source.quote {
        let Some(page) = basis::page_file(&source.page) else {
            return Err(format!(
                "a quoting rule names a built-in page, not `{}`",
                source.page
            ));
        };
        if !basis::quoted_on(page, quote) {
            return Err(format!("`{quote}` is not printed on {page}"));
        }
    }
    match source.basis {
        Basis::Stated if source.quote.is_none() => {
            Err("a stated rule quotes the page (`quote`)".into())
        }
        Basis::Exception if !basis::EXCEPTIONS.iter().any(|(id, _)| *id == rule.id) => {
            Err(format!("`{}` is not one of the listed exceptions", rule.id))
        }
        Basis::Implied | Basis::Borrowed | Basis::Example | Basis::Practice
            if source.why.is_none() =>
        {
            Err(format!("a rule that is {} says why (`why`)", source.basis))
        }
        _ => Ok(()),
    }
}

fn load_conflicts(file: Value) -> Result<Vec<DocConflict>, ContractError> {
    let conflicts: ConflictsFile =
        serde_json::from_value(file).map_err(|e| shape_error("doc-conflicts.json", e))?;
    let mut conflict_ids = HashSet::new();
    for (i, c) in conflicts.doc_conflicts.iter().enumerate() {
        if !conflict_ids.insert(c.id.clone()) {
            return Err(ContractError {
                file: "doc-conflicts.json".into(),
                pointer: format!("/doc_conflicts/{i}/id"),
                kind: ContractErrorKind::DuplicateId(c.id.clone()),
            });
        }
    }
    Ok(conflicts.doc_conflicts)
}

fn load_schema(
    schemas: &mut BTreeMap<String, Schema>,
    name: &str,
    read: &impl Fn(&str) -> Result<String, ContractError>,
    parse: &impl Fn(&str) -> Result<Value, ContractError>,
) -> Result<(), ContractError> {
    if schemas.contains_key(name) {
        return Ok(());
    }
    let file = format!("{name}.json");
    let doc = match read(&file) {
        Ok(_) => parse(&file)?,
        Err(e) if matches!(e.kind, ContractErrorKind::Read(_)) => {
            return Err(ContractError {
                file,
                pointer: String::new(),
                kind: ContractErrorKind::MissingSchema(name.into()),
            });
        }
        Err(e) => return Err(e),
    };
    schemas.insert(name.to_string(), Schema::compile(name, &file, doc)?);
    Ok(())
}

/// Whether a request-view pattern names a field the operation's schemas declare.
fn field_exists(op: &Operation, schemas: &BTreeMap<String, Schema>, pattern: &str) -> bool {
    let (schema_name, rest) = if let Some(rest) = pattern.strip_prefix("/body") {
        match &op.request_schema {
            Some(n) => (n, rest),
            None => return false,
        }
    } else if let Some(rest) = pattern.strip_prefix("/path") {
        (&op.path_schema, rest)
    } else {
        return false;
    };
    let Some(schema) = schemas.get(schema_name) else {
        return false;
    };
    rest.is_empty() || schema.subschema_for_instance(rest).is_some()
}
