//! The one implementation of every rule kind.
//!
//! [`Check::violated`] is what the mock enforces and what labels a generated
//! case; [`Check::break_request`] and [`Check::satisfy`] are how the generator
//! makes a request break exactly one rule or none; [`Check::exercised`] and
//! the response helpers are what the runner judges with.

use serde_json::{Map, Value};

use super::pointer::{
    expand, get, get_under, is_locked, is_value_locked, remove, select, select_under, set,
};
use super::rule::{Check, Resource};

mod breaking;

/// What a check needs to know of the target's resources.
pub trait World {
    /// Whether `id` names an existing `resource`; `server_id` is the server in the request's path.
    fn exists(&self, resource: Resource, id: &str, server_id: Option<&str>) -> bool;
    /// The state of a port (`DOWN`, `ACTIVE`), when it exists.
    fn port_state(&self, id: &str) -> Option<&str>;
    /// A fixture's id; `server_id` is the server in the request's path
    /// (a target with several servers has a primary NIC on each).
    fn fixture(&self, name: &str, server_id: Option<&str>) -> Option<String>;
}

/// What the generator also needs: ids it may use.
pub trait Model: World {
    /// Existing ids of `resource`, the preferred one first.
    fn known_ids(&self, resource: Resource) -> Vec<String>;
    /// An id that names nothing.
    fn unknown_id(&self) -> String;
}

/// Makes a minimal valid value for a concrete request-view pointer (from the schemas).
pub type Sampler<'a> = &'a dyn Fn(&str) -> Option<Value>;

fn join(at: &str, field: &str) -> String {
    // Not `format!`: this runs several times per rule on every request the mock serves.
    let mut s = String::with_capacity(at.len() + field.len() + 1);
    s.push_str(at);
    s.push('/');
    s.push_str(field);
    s
}

fn present(view: &Value, ptr: &str) -> bool {
    get(view, ptr).is_some_and(|v| !v.is_null())
}

/// The string ids a relative `field` pattern selects under `obj`.
fn ids_under<'v>(obj: &'v Value, field: &str) -> impl Iterator<Item = &'v str> {
    select_under(obj, field)
        .into_iter()
        .filter_map(Value::as_str)
}

/// Whether `obj` has a non-null `field` (the node-walking twin of [`present`]).
fn has(obj: &Value, field: &str) -> bool {
    get_under(obj, field).is_some_and(|v| !v.is_null())
}

/// The one definition of breaking a resource-state rule: the port exists in another state.
/// (A port that does not exist is the existence rule's business.)
fn in_other_state(world: &dyn World, id: &str, state: &str) -> bool {
    world.port_state(id).is_some_and(|s| s != state)
}

/// The value pointers `field` selects under `obj`, adding the field's first segment when absent.
fn ensure_field(view: &mut Value, obj: &str, field: &str, sample: Sampler) -> Vec<String> {
    let found = expand(view, &join(obj, field));
    if !found.is_empty() {
        return found;
    }
    let first = field.split('/').next().unwrap_or(field);
    let ptr = join(obj, first);
    if let Some(v) = sample(&ptr) {
        set(view, &ptr, v);
    }
    expand(view, &join(obj, field))
}

impl Check {
    /// Whether the request view `{"path", "body"}` breaks this rule in `world`.
    /// Only request constraints can be broken by a request. The mock asks this
    /// of every request, so it walks values and builds no pointers.
    pub fn violated(&self, view: &Value, world: &dyn World) -> bool {
        match self {
            Check::MutuallyExclusive { at, fields } => select(view, at)
                .iter()
                .any(|obj| fields.iter().filter(|f| has(obj, f)).count() > 1),
            Check::Requires {
                at,
                field,
                requires,
            } => select(view, at)
                .iter()
                .any(|obj| has(obj, field) && !has(obj, requires)),
            Check::AtLeastOne { at, fields } => select(view, at)
                .iter()
                .any(|obj| !fields.iter().any(|f| has(obj, f))),
            Check::MaxItems { at, field, max } => select(view, at).iter().any(|obj| {
                get_under(obj, field)
                    .and_then(Value::as_array)
                    .is_some_and(|a| a.len() > *max)
            }),
            Check::ResourceExists {
                at,
                field,
                resource,
                unless,
            } => {
                // Only an attached port is looked up under its server.
                let server = match resource {
                    Resource::AttachedPort => super::Contract::path_param(view, "server_id"),
                    _ => None,
                };
                select(view, at).iter().any(|obj| {
                    if unless.as_ref().is_some_and(|u| has(obj, u)) {
                        return false;
                    }
                    ids_under(obj, field).any(|id| !world.exists(*resource, id, server))
                })
            }
            Check::ResourceState {
                at, field, state, ..
            } => select(view, at).iter().any(|obj| {
                // A port that does not exist is another rule's business.
                ids_under(obj, field).any(|id| in_other_state(world, id, state))
            }),
            Check::ForbiddenFixture {
                at, field, fixture, ..
            } => {
                let server = super::Contract::path_param(view, "server_id");
                let Some(forbidden) = world.fixture(fixture, server) else {
                    return false;
                };
                select(view, at)
                    .iter()
                    .any(|obj| ids_under(obj, field).any(|id| id == forbidden))
            }
            _ => false,
        }
    }

    /// Whether a request touches this rule, so that a run can say which rules it exercised.
    pub fn exercised(&self, view: &Value) -> bool {
        let any_obj_has = |at: &str, fields: &[&String]| {
            select(view, at)
                .iter()
                .any(|obj| fields.iter().any(|f| !select_under(obj, f).is_empty()))
        };
        match self {
            Check::MutuallyExclusive { at, fields } | Check::AtLeastOne { at, fields } => {
                !select(view, at).is_empty()
                    && (matches!(self, Check::AtLeastOne { .. })
                        || any_obj_has(at, &fields.iter().collect::<Vec<_>>()))
            }
            Check::Requires { at, field, .. }
            | Check::MaxItems { at, field, .. }
            | Check::ResourceExists { at, field, .. }
            | Check::ResourceState { at, field, .. }
            | Check::ForbiddenFixture { at, field, .. } => any_obj_has(at, &[field]),
            Check::Precedence { at, winner, loser } => select(view, at)
                .iter()
                .any(|obj| has(obj, winner) && has(obj, loser)),
            Check::IgnoredWhen { at, field, ignored } => select(view, at)
                .iter()
                .any(|obj| has(obj, field) && ignored.iter().any(|i| has(obj, i))),
            Check::Echo { request, .. } => !select(view, request).is_empty(),
            Check::ReadBack { from, .. } => !select(view, from).is_empty(),
            Check::OnlyUpdates { .. } => !self.other_fields_sent(view).is_empty(),
            // Exercised exactly where the judge can decide them, never counted
            // as passed on a request whose listing could not say.
            Check::AddressAssigned { .. } => self.server_assigns_every_address(view),
            Check::AddressHeld { .. } => self.requested_address(view).is_some(),
            Check::Ipv6Assigned { .. } => self.every_made_nic_asks_ipv6(view),
            Check::DryRun { flag } => get(view, flag) == Some(&Value::Bool(true)),
            Check::AsyncEffect { .. }
            | Check::UniqueKeys { .. }
            | Check::NoResponseBody
            | Check::Status
            | Check::NoServerError
            | Check::ContentType
            | Check::JsonBody
            | Check::Transport => true,
            // Judged where the server's NICs are listed after a case (the runner says so).
            Check::JobTerminates
            | Check::JobFailReason
            | Check::Snapshot
            | Check::FrameKept { .. } => false,
        }
    }

    /// Changes the request, outside `locks`, so that it no longer breaks this
    /// rule. Returns false when it cannot.
    pub fn satisfy(
        &self,
        view: &mut Value,
        model: &dyn Model,
        sample: Sampler,
        locks: &[String],
    ) -> bool {
        if !self.violated(view, model) {
            return true;
        }
        let server = super::Contract::path_param(view, "server_id").map(str::to_string);
        match self {
            Check::MutuallyExclusive { at, fields } => {
                for obj in expand(view, at) {
                    let present_fields: Vec<String> = fields
                        .iter()
                        .map(|f| join(&obj, f))
                        .filter(|p| present(view, p))
                        .collect();
                    if present_fields.len() < 2 {
                        continue;
                    }
                    let keep = present_fields
                        .iter()
                        .position(|p| is_locked(p, locks))
                        .unwrap_or(0);
                    for (i, p) in present_fields.iter().enumerate() {
                        if i != keep {
                            if is_locked(p, locks) {
                                return false;
                            }
                            remove(view, p);
                        }
                    }
                }
            }
            Check::Requires {
                at,
                field,
                requires,
            } => {
                for obj in expand(view, at) {
                    let (f, r) = (join(&obj, field), join(&obj, requires));
                    if present(view, &f) && !present(view, &r) {
                        if !is_locked(&f, locks) {
                            remove(view, &f);
                        } else if !is_locked(&r, locks) {
                            let Some(v) = sample(&r) else { return false };
                            set(view, &r, v);
                        } else {
                            return false;
                        }
                    }
                }
            }
            Check::AtLeastOne { at, fields } => {
                for obj in expand(view, at) {
                    if fields.iter().any(|f| present(view, &join(&obj, f))) {
                        continue;
                    }
                    let Some(p) = fields
                        .iter()
                        .map(|f| join(&obj, f))
                        .find(|p| !is_locked(p, locks))
                    else {
                        return false;
                    };
                    let Some(v) = sample(&p) else { return false };
                    set(view, &p, v);
                }
            }
            Check::MaxItems { at, field, max } => {
                for obj in expand(view, at) {
                    let ptr = join(&obj, field);
                    if let Some(mut items) = get(view, &ptr).and_then(Value::as_array).cloned()
                        && items.len() > *max
                    {
                        if is_locked(&ptr, locks) {
                            return false;
                        }
                        items.truncate(*max);
                        set(view, &ptr, Value::Array(items));
                    }
                }
            }
            Check::ResourceExists {
                at,
                field,
                resource,
                ..
            } => {
                let server = server.as_deref();
                let known = model.known_ids(*resource);
                if known.is_empty() {
                    return false;
                }
                return replace_ids(
                    view,
                    at,
                    field,
                    locks,
                    |id| !model.exists(*resource, id, server),
                    &known,
                ) && !self.violated(view, model);
            }
            Check::ResourceState {
                at,
                field,
                resource,
                state,
            } => {
                let wanted = |id: &String| model.port_state(id) == Some(state.as_str());
                let good: Vec<String> = model
                    .known_ids(*resource)
                    .into_iter()
                    .filter(wanted)
                    .collect();
                let bad = |id: &str| in_other_state(model, id, state);
                return replace_ids(view, at, field, locks, bad, &good)
                    && !self.violated(view, model);
            }
            Check::ForbiddenFixture {
                at,
                field,
                resource,
                fixture,
            } => {
                let forbidden = model.fixture(fixture, None);
                let allowed = |id: &String| Some(id) != forbidden.as_ref();
                let other: Vec<String> = model
                    .known_ids(*resource)
                    .into_iter()
                    .filter(allowed)
                    .collect();
                let bad = |id: &str| forbidden.as_deref() == Some(id);
                return replace_ids(view, at, field, locks, bad, &other)
                    && !self.violated(view, model);
            }
            _ => {}
        }
        !self.violated(view, model)
    }

    /// For an echo rule: the request's values and the response's, when they differ.
    pub fn echo_mismatch(&self, view: &Value, response: &Value) -> Option<(Value, Value)> {
        let Check::Echo {
            request,
            response: at,
        } = self
        else {
            return None;
        };
        let sent: Vec<Value> = expand(view, request)
            .iter()
            .filter_map(|p| get(view, p).cloned())
            .collect();
        if sent.is_empty() {
            return None;
        }
        let wrapped = Value::Object(Map::from_iter([("r".to_string(), response.clone())]));
        let got: Vec<Value> = expand(&wrapped, &format!("/r{at}"))
            .iter()
            .filter_map(|p| get(&wrapped, p).cloned())
            .collect();
        let normalise = |mut v: Vec<Value>| {
            // Arrays of ids (security groups) are sets: order is not part of the contract.
            for item in &mut v {
                if let Value::Array(a) = item {
                    a.sort_by_key(|x| x.to_string());
                }
            }
            v
        };
        let (sent, got) = (normalise(sent), normalise(got));
        (sent != got).then(|| (collapse(sent), collapse(got)))
    }

    /// For an only-updates rule: the fields sent beside the one that can be updated.
    pub fn other_fields_sent<'v>(&self, view: &'v Value) -> Vec<(&'v String, &'v Value)> {
        let Check::OnlyUpdates { at, field, .. } = self else {
            return Vec::new();
        };
        get(view, at)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter(|(k, _)| *k != field)
            .collect()
    }

    /// For a unique-keys rule: the keys the answer's list shows more than once.
    pub fn duplicate_keys(&self, response: &Value) -> Vec<String> {
        let Check::UniqueKeys { response: at, key } = self else {
            return Vec::new();
        };
        let mut seen = std::collections::BTreeSet::new();
        let mut twice = std::collections::BTreeSet::new();
        for item in get(response, at)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(k) = item.get(key) {
                let k = k.to_string();
                if !seen.insert(k.clone()) {
                    twice.insert(k);
                }
            }
        }
        twice.into_iter().collect()
    }

    /// For an address-assigned rule: whether every NIC the request makes is
    /// one the server picks the address for (so each must be listed with one).
    pub fn server_assigns_every_address(&self, view: &Value) -> bool {
        let Check::AddressAssigned { at, field, unless } = self else {
            return false;
        };
        let made: Vec<&Value> = select(view, at)
            .into_iter()
            .filter(|obj| select_under(obj, unless).is_empty())
            .collect();
        !made.is_empty() && made.iter().all(|obj| select_under(obj, field).is_empty())
    }

    /// For an address-held rule: the address the request's one new NIC asks
    /// for (none with several new NICs: a listing does not say which is which).
    pub fn requested_address(&self, view: &Value) -> Option<String> {
        let Check::AddressHeld { at, field, unless } = self else {
            return None;
        };
        let made: Vec<&Value> = select(view, at)
            .into_iter()
            .filter(|obj| select_under(obj, unless).is_empty())
            .collect();
        match made[..] {
            [one] => one.get(field.as_str())?.as_str().map(str::to_string),
            _ => None,
        }
    }

    /// For an IPv6 rule: whether every NIC the request makes asks for IPv6
    /// (so each must be listed with an IPv6 address, where the subnet has them).
    pub fn every_made_nic_asks_ipv6(&self, view: &Value) -> bool {
        let Check::Ipv6Assigned { at, flag, unless } = self else {
            return false;
        };
        let made: Vec<&Value> = select(view, at)
            .into_iter()
            .filter(|obj| select_under(obj, unless).is_empty())
            .collect();
        !made.is_empty()
            && made
                .iter()
                .all(|obj| obj.get(flag.as_str()) == Some(&Value::Bool(true)))
    }

    /// The port ids an attach or detach is about (the ids given in the request).
    pub fn effect_ports(&self, view: &Value) -> Vec<String> {
        let Check::AsyncEffect { at, field, .. } = self else {
            return Vec::new();
        };
        // The values themselves: no pointer is built (every case and every mock request asks).
        select(view, at)
            .into_iter()
            .flat_map(|obj| select_under(obj, field))
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    }

    /// For an ignored-when rule: (port id, ignored value) pairs the response state must not reflect.
    pub fn ignored_values(&self, view: &Value) -> Vec<(String, String, Value)> {
        let Check::IgnoredWhen { at, field, ignored } = self else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for obj in expand(view, at) {
            let Some(id) = get(view, &join(&obj, field)).and_then(Value::as_str) else {
                continue;
            };
            for i in ignored {
                if let Some(v) = get(view, &join(&obj, i)) {
                    out.push((id.to_string(), i.clone(), v.clone()));
                }
            }
        }
        out
    }

    /// Request fields this rule makes moot in `view` (pointers into the
    /// view): the fields an ignored-when rule says take no effect, and the
    /// loser of a precedence rule when the winner is given. A value there is
    /// not used, so it is not judged either.
    pub fn moot_fields(&self, view: &Value) -> Vec<String> {
        match self {
            Check::IgnoredWhen { at, field, ignored } => expand(view, at)
                .into_iter()
                .filter(|obj| present(view, &join(obj, field)))
                .flat_map(|obj| ignored.iter().map(move |i| join(&obj, i)))
                .collect(),
            Check::Precedence { at, winner, loser } => expand(view, at)
                .into_iter()
                .filter(|obj| present(view, &join(obj, winner)))
                .map(|obj| join(&obj, loser))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The fields whose presence would make `pointer` moot (see
    /// [`Check::moot_fields`]): a negative case breaking a value there must
    /// leave them out, or its break would not count.
    pub fn moot_triggers(&self, view: &Value, pointer: &str) -> Vec<String> {
        let under = |p: &str| pointer == p || pointer.starts_with(&format!("{p}/"));
        match self {
            Check::IgnoredWhen { at, field, ignored } => expand(view, at)
                .into_iter()
                .filter(|obj| ignored.iter().any(|i| under(&join(obj, i))))
                .map(|obj| join(&obj, field))
                .collect(),
            Check::Precedence { at, winner, loser } => expand(view, at)
                .into_iter()
                .filter(|obj| under(&join(obj, loser)))
                .map(|obj| join(&obj, winner))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// For a precedence rule: the winners given together with a loser.
    pub fn precedence_winners(&self, view: &Value) -> Vec<String> {
        let Check::Precedence { at, winner, loser } = self else {
            return Vec::new();
        };
        expand(view, at)
            .iter()
            .filter(|obj| present(view, &join(obj, loser)))
            .filter_map(|obj| {
                get(view, &join(obj, winner))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect()
    }
}

/// Replaces every id at `field` (under each object `at` selects) that is `bad`
/// with `good`; false when a bad id's value is locked by a break.
fn replace_ids(
    view: &mut Value,
    at: &str,
    field: &str,
    locks: &[String],
    bad: impl Fn(&str) -> bool,
    good: &[String],
) -> bool {
    for obj in expand(view, at) {
        let places = expand(view, &join(&obj, field));
        // Distinct ids within one object's list where the fixtures offer enough.
        let mut used: Vec<String> = places
            .iter()
            .filter_map(|p| get(view, p).and_then(Value::as_str))
            .filter(|id| !bad(id))
            .map(str::to_string)
            .collect();
        for p in places {
            if get(view, &p).and_then(Value::as_str).is_some_and(&bad) {
                if is_value_locked(&p, locks) {
                    return false;
                }
                let Some(id) = good
                    .iter()
                    .find(|g| !used.contains(g))
                    .or(good.first())
                    .cloned()
                else {
                    return false;
                };
                used.push(id.clone());
                set(view, &p, Value::String(id));
            }
        }
    }
    true
}

fn collapse(mut v: Vec<Value>) -> Value {
    if v.len() == 1 {
        v.pop().unwrap_or(Value::Null)
    } else {
        Value::Array(v)
    }
}
