//! Breaking one rule in a request: what a negative case of the rule sends.

use serde_json::Value;

use super::{
    Check, Model, Resource, Sampler, ensure_field, expand, get, in_other_state, join, present,
    remove, set,
};

impl Check {
    /// Changes the request so that it breaks this rule; returns the pointers it
    /// touched (which [`Check::satisfy`] of other rules must leave alone), or
    /// `None` when the request has no place to break it.
    pub fn break_request(
        &self,
        view: &mut Value,
        model: &dyn Model,
        sample: Sampler,
        other_kind: bool,
    ) -> Option<Vec<String>> {
        match self {
            Check::MutuallyExclusive { at, fields } => {
                let obj = expand(view, at).into_iter().next()?;
                let mut locks = Vec::new();
                for f in fields.iter().take(2) {
                    let ptr = join(&obj, f);
                    if !present(view, &ptr) {
                        set(view, &ptr, sample(&ptr)?);
                    }
                    locks.push(ptr);
                }
                Some(locks)
            }
            Check::Requires {
                at,
                field,
                requires,
            } => {
                let obj = expand(view, at).into_iter().next()?;
                let (f, r) = (join(&obj, field), join(&obj, requires));
                if !present(view, &f) {
                    set(view, &f, sample(&f)?);
                }
                remove(view, &r);
                Some(vec![f, r])
            }
            Check::AtLeastOne { at, fields } => {
                let obj = expand(view, at).into_iter().next()?;
                let locks: Vec<String> = fields.iter().map(|f| join(&obj, f)).collect();
                for l in &locks {
                    remove(view, l);
                }
                Some(locks)
            }
            Check::MaxItems { at, field, max } => {
                let obj = expand(view, at).into_iter().next()?;
                let ptr = join(&obj, field);
                let item = match get(view, &ptr)
                    .and_then(Value::as_array)
                    .and_then(|a| a.last())
                {
                    Some(item) => item.clone(),
                    None => sample(&ptr)?.as_array()?.first()?.clone(),
                };
                let mut items = get(view, &ptr)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                while items.len() <= *max {
                    items.push(item.clone());
                }
                set(view, &ptr, Value::Array(items));
                Some(vec![ptr])
            }
            Check::ResourceExists {
                at,
                field,
                unless,
                resource,
            } => {
                let obj = expand(view, at).into_iter().next()?;
                let mut locks = Vec::new();
                if let Some(u) = unless {
                    let up = join(&obj, u);
                    remove(view, &up);
                    locks.push(up);
                }
                let target = ensure_field(view, &obj, field, sample).into_iter().next()?;
                // A well-formed id that names nothing, or an existing id of
                // another kind (a subnet's as a port_id), which one by the draw.
                let id = match other_kind {
                    false => model.unknown_id(),
                    true => {
                        let others = other_kind_ids(model, *resource);
                        let drawn = get(view, &target).and_then(Value::as_str);
                        let pick = drawn.map_or(0, str::len) % others.len().max(1);
                        others.get(pick)?.clone()
                    }
                };
                set(view, &target, Value::String(id));
                locks.push(format!("={target}"));
                Some(locks)
            }
            Check::ResourceState {
                at,
                field,
                resource,
                state,
            } => {
                let obj = expand(view, at).into_iter().next()?;
                let target = ensure_field(view, &obj, field, sample).into_iter().next()?;
                let id = model
                    .known_ids(*resource)
                    .into_iter()
                    .find(|id| in_other_state(model, id, state))?;
                set(view, &target, Value::String(id));
                Some(vec![format!("={target}")])
            }
            Check::ForbiddenFixture {
                at, field, fixture, ..
            } => {
                let obj = expand(view, at).into_iter().next()?;
                let target = ensure_field(view, &obj, field, sample).into_iter().next()?;
                set(view, &target, Value::String(model.fixture(fixture, None)?));
                Some(vec![format!("={target}")])
            }
            _ => None,
        }
    }
}

/// Existing ids of other kinds than `resource`, one per kind, that are not
/// also ids of `resource`. Never a port's: a supplementary NIC is a port, so
/// a port id in its place could name something real to change.
fn other_kind_ids(model: &dyn Model, resource: Resource) -> Vec<String> {
    let own = model.known_ids(resource);
    [
        Resource::Network,
        Resource::Subnet,
        Resource::SecurityGroup,
        Resource::Server,
    ]
    .into_iter()
    .filter(|r| *r != resource)
    .filter_map(|r| model.known_ids(r).into_iter().next())
    .filter(|id| !own.contains(id))
    .collect()
}
