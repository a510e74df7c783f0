//! Schema- and rule-driven generation of cases with proptest.
//!
//! Three kinds: `valid` (accepted by the pages), `boundary` (valid at an exact
//! edge), `negative` (breaks exactly one schema keyword or one rule). Every
//! case is labelled by [`Case::label`], i.e. by the same evaluation the mock
//! enforces. One seed reproduces a run: case `op::kind::i` is drawn from an
//! RNG seeded by (seed, op, kind, i), so a case can be replayed alone.

pub mod addresses;
pub mod distinct;
mod protocol;
mod shape;
pub mod strategy;
mod stream;

use std::collections::HashMap;
use std::sync::Arc;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Map, Value};

use crate::case::{Case, CaseKind, default_path_params};
use crate::contract::{Check, Contract, Operation};
use crate::fixtures::{FixtureWorld, Fixtures};
use crate::malformed::Malformation;
use strategy::{Aim, Mode, ValueStrategy, arb, boundaries, can_break};

/// Which part of the request a plan targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Path,
    Body,
}

/// What one case is made to show.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    Valid,
    /// A valid request that exercises one behaviour rule (an echo, a
    /// precedence, an ignored field, a dry run): every budget shows it once.
    Exercise {
        id: String,
    },
    /// A value at an edge: the keyword id (or rule id) and the target.
    Boundary {
        id: String,
        side: Side,
        aim: Aim,
    },
    /// Breaks one schema keyword.
    BreakKeyword {
        id: String,
        side: Side,
        aim: Aim,
    },
    /// Breaks one rule; a rule that an id must name something is broken
    /// twice, by a well-formed id that names nothing and by an existing id
    /// of another kind (a subnet's as a `net_id`).
    BreakRule {
        id: String,
        other_kind: bool,
    },
    /// A request below the schema: bytes, Content-Type or method (`request.well-formed`).
    Malformed(Malformation),
}

impl Plan {
    pub fn describe(&self) -> String {
        match self {
            Plan::Valid => "a valid request".into(),
            Plan::Exercise { id } => format!("a valid request that exercises {id}"),
            Plan::Boundary { id, .. } => format!("valid at the edge of {id}"),
            Plan::BreakRule {
                id,
                other_kind: true,
            } => format!("breaks only {id}, with an id of another kind"),
            Plan::BreakKeyword { id, .. } | Plan::BreakRule { id, .. } => {
                format!("breaks only {id}")
            }
            Plan::Malformed(m) => format!("protocol: {}", m.describe()),
        }
    }

    /// What a finding of a case of this plan is about, stable across seeds:
    /// a baseline entry names it, so it accepts that class and no other.
    pub fn class(&self) -> String {
        match self {
            Plan::Valid => "valid".into(),
            Plan::Exercise { id } => format!("exercises {id}"),
            Plan::Boundary { id, .. } => format!("edge {id}"),
            Plan::BreakRule {
                id,
                other_kind: true,
            } => format!("breaks {id} (another kind's id)"),
            Plan::BreakKeyword { id, .. } | Plan::BreakRule { id, .. } => format!("breaks {id}"),
            Plan::Malformed(m) => format!("protocol {m}"),
        }
    }
}

pub struct Generator<'c> {
    pub contract: &'c Contract,
    pub fixtures: &'c Fixtures,
    pub project_id: &'c str,
    pub seed: u64,
    cache: Cache<'c>,
}

/// The strategies of one plan: the body's, and the path parameter's when the plan targets one.
type PlanStrategies = (ValueStrategy, Option<ValueStrategy>);

/// Plans and their strategies depend only on the contract, so a run builds
/// each once and every case of the plan reuses it.
#[derive(Default)]
pub struct GeneratorCache {
    /// By operation id and kind.
    plans: parking_lot::Mutex<HashMap<(String, CaseKind), Plans>>,
    /// By operation id, kind and plan index.
    strategies: parking_lot::Mutex<HashMap<PlanKey, Arc<PlanStrategies>>>,
    /// By operation id and kind: what its cases sent so far.
    streams: parking_lot::Mutex<HashMap<(String, CaseKind), stream::SharedStream>>,
}

type PlanKey = (String, CaseKind, usize);
type Plans = Arc<Vec<Plan>>;

enum Cache<'c> {
    Own(GeneratorCache),
    Shared(&'c GeneratorCache),
}

impl std::ops::Deref for Cache<'_> {
    type Target = GeneratorCache;
    fn deref(&self) -> &GeneratorCache {
        match self {
            Cache::Own(c) => c,
            Cache::Shared(c) => c,
        }
    }
}

/// Shrinking stops after this many simplifications (each may re-send a request).
const MAX_SHRINK_STEPS: usize = 4096;

/// Attempts at drawing a request a plan can use before giving up on the case.
const ATTEMPTS: usize = 32;

/// A stable number for a list of strings (no seed).
pub fn key_of(parts: &[&str]) -> u64 {
    fnv(0, parts)
}

fn fnv(seed: u64, parts: &[&str]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for p in parts {
        for b in p.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

fn runner_for(seed: u64, op: &str, kind: CaseKind, index: usize) -> TestRunner {
    let mut bytes = [0u8; 32];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(
            &fnv(
                seed,
                &[op, kind.as_str(), &index.to_string(), &i.to_string()],
            )
            .to_le_bytes(),
        );
    }
    TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    )
}

impl<'c> Generator<'c> {
    pub fn new(
        contract: &'c Contract,
        fixtures: &'c Fixtures,
        project_id: &'c str,
        seed: u64,
    ) -> Self {
        Generator {
            contract,
            fixtures,
            project_id,
            seed,
            cache: Cache::Own(GeneratorCache::default()),
        }
    }

    /// Uses (and fills) a cache that outlives this generator: one per run.
    pub fn sharing(mut self, cache: &'c GeneratorCache) -> Self {
        self.cache = Cache::Shared(cache);
        self
    }

    fn world(&self, op: &Operation) -> FixtureWorld<'c> {
        FixtureWorld::new(self.fixtures, self.project_id, op.setup)
    }

    /// Every plan of a kind for an operation, in a stable order.
    pub fn plans(&self, op: &Operation, kind: CaseKind) -> Arc<Vec<Plan>> {
        let key = (op.id.clone(), kind);
        if let Some(p) = self.cache.plans.lock().get(&key) {
            return p.clone();
        }
        let plans = Arc::new(self.make_plans(op, kind));
        self.cache.plans.lock().insert(key, plans.clone());
        plans
    }

    fn make_plans(&self, op: &Operation, kind: CaseKind) -> Vec<Plan> {
        match kind {
            CaseKind::Valid | CaseKind::Curated => self.valid_plans(op),
            CaseKind::Negative => self.negative_plans(op),
            CaseKind::Boundary => self.boundary_plans(op),
        }
    }

    /// A plain valid request, then one per behaviour rule a valid request
    /// may or may not exercise, so even a budget of one shows each.
    fn valid_plans(&self, op: &Operation) -> Vec<Plan> {
        let mut plans = vec![Plan::Valid];
        for r in self.contract.rules_for(&op.id) {
            let optional = match &r.check {
                Check::Precedence { .. }
                | Check::IgnoredWhen { .. }
                | Check::DryRun { .. }
                | Check::OnlyUpdates { .. } => true,
                Check::Echo { request, .. } | Check::ReadBack { from: request, .. } => {
                    request.starts_with("/body/")
                }
                _ => false,
            };
            if optional {
                plans.push(Plan::Exercise { id: r.id.clone() });
            }
        }
        plans
    }

    /// One plan per breakable schema keyword and per request rule.
    fn negative_plans(&self, op: &Operation) -> Vec<Plan> {
        let mut plans = Vec::new();
        let sides = [
            (Side::Path, Some(&op.path_schema)),
            (Side::Body, op.request_schema.as_ref()),
        ];
        for (side, name) in sides {
            let Some(schema) = name.and_then(|n| self.contract.schema(n)) else {
                continue;
            };
            for k in &schema.keywords {
                // A path parameter is always a present string on the wire.
                if side == Side::Path && (k.keyword == "type" || k.keyword == "required") {
                    continue;
                }
                let node = schema.subschema(&k.subschema).unwrap_or(&Value::Null);
                if can_break(node, &k.keyword) {
                    let aim = Aim {
                        node: k.subschema.clone(),
                        mode: Mode::Break(k.keyword.clone()),
                    };
                    plans.push(Plan::BreakKeyword {
                        id: k.id.clone(),
                        side,
                        aim,
                    });
                }
            }
        }
        // A rule about a field that holds an address cannot be broken alone
        // without the subnet's range: the address is the network's to refuse too.
        let no_range = self.fixtures.subnet_ranges() == (None, None);
        let body = op
            .request_schema
            .as_ref()
            .and_then(|n| self.contract.schema(n));
        let names_an_address = |check: &Check| {
            check.named_fields().iter().any(|(at, field)| {
                let instance = format!("{}/{field}", at.trim_start_matches("/body"));
                body.and_then(|s| s.subschema_for_instance(&instance))
                    .is_some_and(|(_, node)| addresses::holds_address(node))
            })
        };
        for rule in self
            .contract
            .rules_for(&op.id)
            .filter(|r| r.operation != "*" && r.check.is_request_constraint())
            .filter(|r| !(no_range && names_an_address(&r.check)))
        {
            plans.push(Plan::BreakRule {
                id: rule.id.clone(),
                other_kind: false,
            });
            if matches!(rule.check, Check::ResourceExists { .. }) {
                plans.push(Plan::BreakRule {
                    id: rule.id.clone(),
                    other_kind: true,
                });
            }
        }
        // Below the schema: what a server's parser and router answer.
        if self.top_key(op).is_some() {
            plans.extend(Malformation::ALL.map(Plan::Malformed));
        }
        plans
    }

    /// One plan per edge of the body's schema, and exactly `max` items where a rule allows at most `max`.
    fn boundary_plans(&self, op: &Operation) -> Vec<Plan> {
        let mut plans = Vec::new();
        // Path parameters name fixtures: an id at a length edge names nothing.
        let body = op
            .request_schema
            .as_ref()
            .and_then(|n| self.contract.schema(n));
        if let Some(schema) = body {
            let mut nodes: Vec<&str> = schema
                .keywords
                .iter()
                .map(|k| k.subschema.as_str())
                .collect();
            nodes.dedup();
            for node_ptr in nodes {
                let node = schema.subschema(node_ptr).unwrap_or(&Value::Null);
                for mode in boundaries(node) {
                    // A maximum equal to its minimum is the same edge: its case exercises both.
                    if matches!(&mode, Mode::Edge(k) if strategy::equal_counterpart(node, k).is_some() && k.starts_with("max"))
                    {
                        continue;
                    }
                    let keyword = match &mode {
                        Mode::Edge(k) => k.clone(),
                        _ => "items".to_string(),
                    };
                    plans.push(Plan::Boundary {
                        id: format!("{}#{node_ptr}/{keyword}", schema.name),
                        side: Side::Body,
                        aim: Aim {
                            node: node_ptr.to_string(),
                            mode,
                        },
                    });
                }
            }
        }
        for rule in self.contract.rules_for(&op.id) {
            let Check::MaxItems { at, field, max } = &rule.check else {
                continue;
            };
            let instance = format!("{}/{field}", at.trim_start_matches("/body"));
            let found = body.and_then(|s| s.subschema_for_instance(&instance));
            // Items that hold an address cannot be sent without the subnet's range.
            let no_range = self.fixtures.subnet_ranges() == (None, None);
            if found
                .as_ref()
                .is_some_and(|(_, n)| no_range && addresses::items_need_address(n))
            {
                continue;
            }
            if let Some((node, _)) = found {
                plans.push(Plan::Boundary {
                    id: rule.id.clone(),
                    side: Side::Body,
                    aim: Aim {
                        node,
                        mode: Mode::Items(*max),
                    },
                });
            }
        }
        plans
    }

    /// The strategies of plan `index` of a kind (the plan index, not the case index).
    fn strategies(
        &self,
        op: &Operation,
        kind: CaseKind,
        index: usize,
        plan: &Plan,
    ) -> Arc<PlanStrategies> {
        let key = (op.id.clone(), kind, index);
        if let Some(s) = self.cache.strategies.lock().get(&key) {
            return s.clone();
        }
        let s = Arc::new(self.strategy(op, plan));
        self.cache.strategies.lock().insert(key, s.clone());
        s
    }

    fn strategy(&self, op: &Operation, plan: &Plan) -> PlanStrategies {
        let body_schema = op
            .request_schema
            .as_ref()
            .and_then(|n| self.contract.schema(n));
        let path_schema = self.contract.schema(&op.path_schema);
        let (body_target, path_target) = match plan {
            Plan::Boundary {
                side: Side::Body,
                aim,
                ..
            }
            | Plan::BreakKeyword {
                side: Side::Body,
                aim,
                ..
            } => (Some(aim), None),
            Plan::Boundary {
                side: Side::Path,
                aim,
                ..
            }
            | Plan::BreakKeyword {
                side: Side::Path,
                aim,
                ..
            } => (None, Some(aim)),
            _ => (None, None),
        };
        let body = match body_schema {
            Some(s) => arb(&s.document, "", body_target),
            None => proptest::strategy::Just(Value::Null).sboxed(),
        };
        let path = path_target.and_then(|t| {
            let node = path_schema?.subschema(&t.node)?;
            Some(arb(node, &t.node, Some(t)))
        });
        (body, path)
    }

    fn path_params(&self, op: &Operation, plan: &Plan, drawn: Option<Value>) -> Map<String, Value> {
        let mut params = default_path_params(op, self.project_id, self.fixtures);
        if let (Some(v), Plan::Boundary { aim, .. } | Plan::BreakKeyword { aim, .. }) =
            (drawn, plan)
            && let Some(name) = aim.node.strip_prefix("/properties/")
        {
            params.insert(
                name.to_string(),
                match v {
                    Value::String(s) => Value::String(s),
                    other => Value::String(other.to_string()),
                },
            );
        }
        params
    }

    /// The kind's plans and the place of the one case `index` follows (no copy of the plan).
    fn plan_at(&self, op: &Operation, kind: CaseKind, index: usize) -> Option<(usize, Plans)> {
        let plans = self.plans(op, kind);
        (!plans.is_empty()).then(|| (index % plans.len(), plans))
    }

    /// `count` cases of a kind.
    pub fn cases<'g>(
        &'g self,
        op: &'g Operation,
        kind: CaseKind,
        count: usize,
    ) -> impl Iterator<Item = Case> + 'g {
        (0..count).filter_map(move |i| self.case(op, kind, i))
    }

    /// Shrinks case `index` to the smallest request for which `still_fails` holds,
    /// walking proptest's value tree (the body; path parameters are fixed).
    pub fn shrink(
        &self,
        op: &Operation,
        kind: CaseKind,
        index: usize,
        mut still_fails: impl FnMut(&Case) -> bool,
    ) -> Option<Case> {
        let (at, plans) = self.plan_at(op, kind, index)?;
        let plan = &plans[at];
        // The case as it ran: the draw it took.
        let ran = self.case(op, kind, index)?;
        if let Plan::Malformed(_) = plan {
            return Some(ran);
        }
        let stream = self.stream(op, kind);
        let chosen = stream.lock().chosen.get(index).copied().flatten()?;
        let mut runner = runner_for(self.seed, &op.id, kind, index);
        let strategies = self.strategies(op, kind, at, plan);
        let (body_s, path_s) = &*strategies;
        for attempt in 0..ATTEMPTS as u32 {
            let mut tree = body_s.new_tree(&mut runner).ok()?;
            let drawn = match &path_s {
                Some(s) => Some(s.new_tree(&mut runner).ok()?.current()),
                None => None,
            };
            if attempt < chosen {
                continue;
            }
            let params = self.path_params(op, plan, drawn);
            let Some(mut best) = self.finish(op, kind, index, plan, params.clone(), tree.current())
            else {
                continue;
            };
            let mut steps = 0;
            while steps < MAX_SHRINK_STEPS && tree.simplify() {
                steps += 1;
                loop {
                    match self.finish(op, kind, index, plan, params.clone(), tree.current()) {
                        Some(c) if still_fails(&c) => {
                            best = c;
                            break;
                        }
                        _ => {
                            if !tree.complicate() {
                                break;
                            }
                        }
                    }
                }
            }
            return Some(best);
        }
        None
    }
}
