//! The contract as data: operations, JSON Schemas, rules and documentation conflicts.
//!
//! Everything is read from `schemas/` (embedded in the binary at build time, or
//! from a directory given at run time) and checked at load: every schema
//! compiles, every rule names an operation and fields that exist, ids are unique.
//! A broken file is an error naming the file and the JSON pointer.

pub mod basis;
mod check;
mod conflict;
pub mod formats;
pub mod ids;
mod load;
mod operation;
pub mod pointer;
mod readings;
mod rule;
pub mod sample;
mod schema;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

pub use basis::Basis;
pub use check::{Model, Sampler, World};
pub use conflict::DocConflict;
pub use operation::{BodyPresence, ErrorFamily, Operation, ResponseSpec, Service, Setup};
pub use rule::{Check, Effect, Expect, Resource, Rule, Severity, Source, StatusClass};
pub use schema::{Keyword, Schema, SchemaViolation};

/// A JSON object of owned values. Unlike `json!`, which serializes each value
/// again (a deep copy), this moves them in.
pub fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Object(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// A problem in the contract files.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {kind}", if pointer.is_empty() { String::new() } else { format!(" at {pointer}") })]
pub struct ContractError {
    pub file: String,
    /// JSON pointer into the file.
    pub pointer: String,
    pub kind: ContractErrorKind,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContractErrorKind {
    #[error("cannot read: {0}")]
    Read(String),
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("does not match the catalogue format: {0}")]
    Shape(String),
    #[error("schema does not compile: {0}")]
    Compile(String),
    #[error("not a schema object")]
    NotASchema,
    #[error(
        "unknown format `{0}`\n  (use one of uuid, ipv4, ipv6, date-time, mac-address, ip-address, ip-or-cidr, utc-seconds)"
    )]
    UnknownFormat(String),
    #[error("required property {0} is not declared under `properties`")]
    RequiredNotDeclared(String),
    #[error("schema `{0}` is referenced but there is no file `{0}.json`")]
    MissingSchema(String),
    #[error("unknown operation `{0}`")]
    UnknownOperation(String),
    #[error("duplicate id `{0}`")]
    DuplicateId(String),
    #[error("field `{0}` does not exist in the operation's schemas")]
    UnknownField(String),
    #[error("a request constraint needs `expect` (the status a conforming server answers)")]
    MissingExpect,
    #[error("{0}")]
    Basis(String),
}

macro_rules! embedded_files {
    ($($name:literal),* $(,)?) => {
        [$(($name, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/", $name)))),*]
    };
}

/// The schema files compiled into the binary, so a run needs no checkout.
pub const EMBEDDED: &[(&str, &str)] = &embedded_files![
    "operations.json",
    "rules.json",
    "doc-conflicts.json",
    "batch-add-nics.path.json",
    "batch-add-nics.request.json",
    "batch-add-nics.response.200.json",
    "nova-attach-interface.path.json",
    "nova-attach-interface.request.json",
    "nova-attach-interface.response.200.json",
    "batch-delete-nics.path.json",
    "batch-delete-nics.request.json",
    "batch-delete-nics.response.200.json",
    "update-interface-attachment.path.json",
    "update-interface-attachment.request.json",
    "update-sub-network-interface.path.json",
    "update-sub-network-interface.request.json",
    "update-sub-network-interface.response.200.json",
    "update-sub-network-interface.response.202.json",
    "show-job.path.json",
    "show-job.response.200.json",
    "list-interfaces.path.json",
    "list-interfaces.response.200.json",
    "show-sub-network-interface.response.200.json",
    "list-server-interfaces.path.json",
    "list-server-interfaces.response.200.json",
    "show-interface.path.json",
    "show-interface.response.200.json",
    "show-server.response.200.json",
    "show-cloud-server.response.200.json",
    "show-port.path.json",
    "show-port.response.200.json",
    "list-sub-network-interfaces.path.json",
    "list-sub-network-interfaces.response.200.json",
    "show-compute-version.path.json",
    "show-compute-version.response.200.json",
    "error.ecs-v1.json",
    "error.nova.json",
    "error.vpc-v3.json",
    "error.apigw.json",
    "redactions.json",
];

/// What a conforming server does with a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Valid: the operation's success (or, for a dry run, 202 and no change).
    Accept { dry_run: bool },
    /// Breaks `id` (a schema keyword or a rule): answered with `expect`.
    Reject {
        id: String,
        expect: Expect,
        message: String,
    },
}

#[derive(Debug)]
pub struct Contract {
    /// SHA-256 of the files it was read from (and the pages): which contract this is.
    pub digest: String,
    pub operations: Vec<Operation>,
    pub schemas: BTreeMap<String, Schema>,
    pub rules: Vec<Rule>,
    pub doc_conflicts: Vec<DocConflict>,
    pub error_schemas: BTreeMap<String, String>,
    /// Redaction rules for snapshots (`schemas/redactions.json`).
    pub redactions: Value,
    /// Per operation, which rules judging a request reads; computed once, read on every request.
    judged_rules: BTreeMap<String, JudgedRules>,
}

impl Contract {
    pub fn operation(&self, id: &str) -> Option<&Operation> {
        self.operations.iter().find(|o| o.id == id)
    }

    /// The documented operations (not the auxiliary job and list queries).
    pub fn documented_operations(&self) -> impl Iterator<Item = &Operation> {
        self.operations.iter().filter(|o| !o.auxiliary)
    }

    pub fn schema(&self, name: &str) -> Option<&Schema> {
        self.schemas.get(name)
    }

    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    pub fn rules_for<'a>(&'a self, operation: &'a str) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules.iter().filter(move |r| r.applies_to(operation))
    }

    /// The ports a request names for its effect rules to attach or detach
    /// (one list for the generator, which keeps them distinct, and the runner,
    /// which leases, watches and cleans up around them).
    pub fn named_ports(&self, operation: &str, view: &Value) -> Vec<String> {
        self.rules_for(operation)
            .flat_map(|r| r.check.effect_ports(view))
            .collect()
    }

    /// The operation's rule that a success attaches or detaches ports (`async_effect`).
    pub fn effect_rule(&self, operation: &str, effect: Effect) -> Option<&Rule> {
        self.rule_where(
            operation,
            |c| matches!(c, Check::AsyncEffect { effect: e, .. } if *e == effect),
        )
    }

    /// The first of the operation's rules whose check `is` accepts.
    pub fn rule_where(&self, operation: &str, is: impl Fn(&Check) -> bool) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|r| r.applies_to(operation) && is(&r.check))
    }

    /// The asynchronous operation whose job attaches (or detaches) the ports a
    /// request names: what the runner uses to bring fixtures into a state.
    pub fn job_operation(&self, effect: Effect) -> Option<&Operation> {
        self.operations
            .iter()
            .find(|op| op.is_async && self.effect_rule(&op.id, effect).is_some())
    }

    /// Where a synchronous answer names the port its request attached: the
    /// echo of the effect rule's field (for a request that named no port, the
    /// port the server created).
    pub fn attached_port_pointer(&self, operation: &str) -> Option<&str> {
        let Check::AsyncEffect { at, field, .. } =
            &self.effect_rule(operation, Effect::Attach)?.check
        else {
            return None;
        };
        let sent = format!("{at}/{field}");
        self.rules
            .iter()
            .filter(|r| r.applies_to(operation))
            .find_map(|r| match &r.check {
                Check::Echo { request, response } if *request == sent => Some(response.as_str()),
                _ => None,
            })
    }

    /// The auxiliary read of the resource an operation writes: a GET at the
    /// same path (how a client reads the result back without writing).
    pub fn read_of(&self, operation: &Operation) -> Option<&Operation> {
        self.operations
            .iter()
            .find(|o| o.auxiliary && o.method == "GET" && o.path == operation.path)
    }

    /// The response pointers of the fields a request body asks to change
    /// (its echo rules): what a dry run must leave as it was.
    pub fn updated_fields(&self, operation: &str) -> Vec<&str> {
        self.rules
            .iter()
            .filter(|r| r.applies_to(operation))
            .filter_map(|r| match &r.check {
                Check::Echo { request, response } if request.starts_with("/body/") => {
                    Some(response.as_str())
                }
                _ => None,
            })
            .collect()
    }

    pub fn error_schema(&self, family: ErrorFamily) -> Option<&Schema> {
        self.error_schemas
            .get(family.key())
            .and_then(|n| self.schemas.get(n))
    }

    /// Every keyword of the operation's path and request schemas.
    pub fn request_keywords<'a>(
        &'a self,
        op: &'a Operation,
    ) -> impl Iterator<Item = &'a Keyword> + 'a {
        [Some(&op.path_schema), op.request_schema.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|n| self.schemas.get(n))
            .flat_map(|s| s.keywords.iter())
    }

    /// Every keyword id of every schema, with its keyword.
    pub fn all_keywords(&self) -> impl Iterator<Item = &Keyword> {
        self.schemas.values().flat_map(|s| s.keywords.iter())
    }

    /// Where an id (schema keyword or rule) comes from, for reports.
    pub fn source_of(&self, id: &str) -> String {
        let id = id.strip_prefix(ids::CLIENT_PREFIX).unwrap_or(id);
        if let Some(rule) = self.rule(id) {
            return rule.source.to_string();
        }
        if let Some((schema, _)) = id.split_once('#')
            && let Some(s) = self.schemas.get(schema)
        {
            let page = s
                .document
                .pointer("/x-source/page")
                .and_then(Value::as_str)
                .unwrap_or("?");
            let row = s
                .keywords
                .iter()
                .find(|k| k.id == id)
                .map(|k| k.source.as_str())
                .unwrap_or("");
            return format!("{page} · {row}");
        }
        String::new()
    }

    /// Severity of an id: rules carry theirs, schema keywords theirs
    /// ([`Keyword::severity`], decided once when the schema is compiled).
    pub fn severity_of(&self, id: &str) -> Severity {
        let id = id.strip_prefix(ids::CLIENT_PREFIX).unwrap_or(id);
        if let Some(rule) = self.rule(id) {
            return rule.severity;
        }
        self.keyword(id).map_or(Severity::Must, |k| k.severity)
    }

    /// The keyword with this id (`schema#/pointer/keyword`).
    pub fn keyword(&self, id: &str) -> Option<&Keyword> {
        let (schema, _) = id.split_once('#')?;
        self.schemas
            .get(schema)?
            .keywords
            .iter()
            .find(|k| k.id == id)
    }

    /// The request view the rules read: `{"path": {...}, "body": ...}`.
    pub fn view(path: Map<String, Value>, body: Value) -> Value {
        object([("path", Value::Object(path)), ("body", body)])
    }

    /// A request view taken apart again: its path parameters and its body.
    pub fn view_parts(view: Value) -> (Map<String, Value>, Option<Value>) {
        let Value::Object(mut view) = view else {
            return (Map::new(), None);
        };
        let path = match view.remove("path") {
            Some(Value::Object(path)) => path,
            _ => Map::new(),
        };
        (path, view.remove("body"))
    }

    /// A path parameter of a request view.
    pub fn path_param<'v>(view: &'v Value, name: &str) -> Option<&'v str> {
        view.get("path")?.get(name)?.as_str()
    }

    /// What a conforming server answers to this request in `world`: the one
    /// evaluation the mock enforces, the generator labels with and the
    /// runner expects.
    pub fn judge(&self, op: &Operation, view: &Value, world: &dyn World) -> Verdict {
        self.judge_schemas(op, view)
            .unwrap_or_else(|| self.judge_rules(op, view, world))
    }

    /// The schema half of [`Contract::judge`]: needs no state, so the mock runs it outside its lock.
    pub fn judge_schemas(&self, op: &Operation, view: &Value) -> Option<Verdict> {
        let reject = |v: SchemaViolation| Verdict::Reject {
            id: v.id,
            expect: Expect::CLIENT_ERROR,
            message: v.message,
        };
        let mut moot = None;
        self.invalid_parts(op, view)
            .find_map(|(side, schema, instance)| {
                let moot = moot.get_or_insert_with(|| self.moot_fields(op, view));
                schema
                    .violations(instance)
                    .into_iter()
                    .find(|v| !is_moot(moot, side, &v.instance_path))
            })
            .map(reject)
    }

    /// The request fields whose values the operation's rules say are not
    /// used (ignored when another field is given, or losing to another): a
    /// schema keyword at one of them is not judged.
    pub fn moot_fields(&self, op: &Operation, view: &Value) -> Vec<String> {
        self.rules_for(&op.id)
            .flat_map(|r| r.check.moot_fields(view))
            .collect()
    }

    /// The parts of a request view (path, then body) that fail their schema.
    /// `is_valid` first: much cheaper than collecting errors, and most requests pass.
    fn invalid_parts<'a, 'v>(
        &'a self,
        op: &'a Operation,
        view: &'v Value,
    ) -> impl Iterator<Item = (&'static str, &'a Schema, &'v Value)> {
        static NULL: Value = Value::Null;
        [
            ("/path", Some(&op.path_schema), view.get("path")),
            ("/body", op.request_schema.as_ref(), view.get("body")),
        ]
        .into_iter()
        .filter_map(|(side, name, instance)| {
            Some((side, self.schemas.get(name?)?, instance.unwrap_or(&NULL)))
        })
        .filter(|(_, schema, instance)| !schema.is_valid(instance))
    }

    /// The rules half of [`Contract::judge`], for a schema-valid request.
    pub fn judge_rules(&self, op: &Operation, view: &Value, world: &dyn World) -> Verdict {
        self.judge_rules_where(op, view, world, |_| true)
    }

    /// [`Contract::judge_rules`] by the rules `include` accepts only.
    pub fn judge_rules_where(
        &self,
        op: &Operation,
        view: &Value,
        world: &dyn World,
        include: impl Fn(&Rule) -> bool,
    ) -> Verdict {
        let (path_rules, body_rules) = self.constraints_in_order(op);
        for rule in path_rules.chain(body_rules).filter(|r| include(r)) {
            if rule.check.violated(view, world) {
                return Verdict::Reject {
                    id: rule.id.clone(),
                    expect: rule.expect.unwrap_or(Expect::CLIENT_ERROR),
                    message: rule.statement.clone(),
                };
            }
        }
        let dry_run = self.judged_rules.get(&op.id).is_some_and(|j| {
            j.dry_run
                .iter()
                .any(|&i| self.rules[i].check.exercised(view))
        });
        Verdict::Accept { dry_run }
    }

    /// Request constraints in the order a server checks them: path resources
    /// (the server first: without it nothing else can be found), then the body's rules.
    pub fn constraints_in_order<'a>(
        &'a self,
        op: &Operation,
    ) -> (
        impl Iterator<Item = &'a Rule> + 'a,
        impl Iterator<Item = &'a Rule> + 'a,
    ) {
        let (path, body) = match self.judged_rules.get(&op.id) {
            Some(j) => (&j.path[..], &j.body[..]),
            None => (&[][..], &[][..]),
        };
        (
            path.iter().map(|&i| &self.rules[i]),
            body.iter().map(|&i| &self.rules[i]),
        )
    }

    /// Every schema keyword and rule the request breaks (for tests and labels).
    pub fn all_violations(&self, op: &Operation, view: &Value, world: &dyn World) -> Vec<String> {
        let moot = self.moot_fields(op, view);
        let moot = &moot;
        let mut out: Vec<String> = self
            .invalid_parts(op, view)
            .flat_map(|(side, schema, instance)| {
                let violations = schema.violations(instance).into_iter();
                violations.filter(move |v| !is_moot(moot, side, &v.instance_path))
            })
            .map(|v| v.id)
            .collect();
        if out.is_empty() {
            // As in `judge`: a missing path resource answers 404 before anything else is looked at.
            let (mut path_rules, body_rules) = self.constraints_in_order(op);
            out.extend(
                path_rules
                    .find(|r| r.check.violated(view, world))
                    .map(|r| r.id.clone()),
            );
            if out.is_empty() {
                out.extend(
                    body_rules
                        .filter(|r| r.check.violated(view, world))
                        .map(|r| r.id.clone()),
                );
            }
        }
        out
    }

    /// A minimal valid value for a concrete request-view pointer
    /// (`/body/interfaceAttachment/net_id`), from the operation's schemas.
    pub fn sample(&self, op: &Operation, view_pointer: &str) -> Option<Value> {
        let (schema_name, rest) = if let Some(rest) = view_pointer.strip_prefix("/body") {
            (op.request_schema.as_ref()?, rest)
        } else {
            (&op.path_schema, view_pointer.strip_prefix("/path")?)
        };
        let (_, sub) = self
            .schemas
            .get(schema_name)?
            .subschema_for_instance(rest)?;
        Some(sample::minimal(sub))
    }
}

/// The rules judging one operation's requests reads, as indices into the catalogue.
#[derive(Debug)]
struct JudgedRules {
    /// Path resources, the server first: without it nothing else can be found.
    path: Vec<usize>,
    /// The body's constraints, in catalogue order.
    body: Vec<usize>,
    /// Dry-run flags: an accepted request that sets one changes nothing.
    dry_run: Vec<usize>,
}

impl JudgedRules {
    fn of(rules: &[Rule], operation: &str) -> JudgedRules {
        let mine = || {
            rules
                .iter()
                .enumerate()
                .filter(|(_, r)| r.applies_to(operation))
        };
        let (mut path, body): (Vec<_>, Vec<_>) = mine()
            .filter(|(_, r)| r.check.is_request_constraint())
            .partition(
                |(_, r)| matches!(&r.check, Check::ResourceExists { at, .. } if at == "/path"),
            );
        path.sort_by_key(|(_, r)| {
            !matches!(
                &r.check,
                Check::ResourceExists {
                    resource: Resource::Server,
                    ..
                }
            )
        });
        let indices = |v: Vec<(usize, &Rule)>| v.into_iter().map(|(i, _)| i).collect();
        JudgedRules {
            path: indices(path),
            body: indices(body),
            dry_run: mine()
                .filter(|(_, r)| matches!(r.check, Check::DryRun { .. }))
                .map(|(i, _)| i)
                .collect(),
        }
    }
}

/// Whether a violation at `instance_path` of the request's `side` lies at or
/// under one of the `moot` view pointers.
pub(crate) fn is_moot(moot: &[String], side: &str, instance_path: &str) -> bool {
    moot.iter().any(|m| {
        m.strip_prefix(side).is_some_and(|rest| {
            instance_path == rest
                || instance_path
                    .strip_prefix(rest)
                    .is_some_and(|tail| tail.starts_with('/'))
        })
    })
}
