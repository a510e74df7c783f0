//! What the catalogue says each operation does beyond accepting or
//! refusing, read once when the mock starts.

use crate::contract::{Check, Contract, Effect};

use super::nova;

/// What the catalogue says the operations do beyond accepting or refusing,
/// read once rather than on every request: which operation's job attaches
/// (and where its NICs are) or detaches, what happens to each NIC, and which
/// fields an update changes.
#[derive(Debug, Default)]
pub(super) struct Effects {
    /// (operation, the pattern selecting its NICs)
    pub(super) attach: Option<(String, String)>,
    pub(super) detach: Option<String>,
    pub(super) nics: NicRules,
    /// Per operation, the (wrapper, field) pairs of the request body an update changes.
    pub(super) updated: Vec<(String, Vec<(String, String)>)>,
    /// The attachment fields the nova attach's request schema documents
    /// (nova refuses any other, `tag` aside from 2.49).
    pub(super) attach_keys: Vec<String>,
}

/// The catalogue's rules on the NICs of an attaching job: which field wins
/// over which, which fields a field makes ignored, and the state a named port
/// must be in when the job attaches it.
#[derive(Debug, Default)]
pub(super) struct NicRules {
    /// (winner, loser)
    pub(super) precedence: Vec<(String, String)>,
    /// (field, the fields it makes ignored)
    pub(super) ignored_when: Vec<(String, Vec<String>)>,
    pub(super) port_state: Option<String>,
}

impl Effects {
    pub(super) fn of(contract: &Contract) -> Effects {
        let attach_keys = contract
            .operation(nova::ATTACH_OPERATION)
            .and_then(|op| contract.schema(op.request_schema.as_deref()?))
            .and_then(|s| {
                s.document
                    .pointer("/properties/interfaceAttachment/properties")?
                    .as_object()
            })
            .map(|props| props.keys().cloned().collect())
            .unwrap_or_default();
        let mut effects = Effects {
            detach: contract.job_operation(Effect::Detach).map(|o| o.id.clone()),
            attach_keys,
            ..Effects::default()
        };
        for op in &contract.operations {
            let fields: Vec<(String, String)> = contract
                .updated_fields(&op.id)
                .iter()
                .filter_map(|answer| {
                    let mut parts = answer.split('/').skip(1);
                    Some((parts.next()?.to_string(), parts.next()?.to_string()))
                })
                .collect();
            if !fields.is_empty() {
                effects.updated.push((op.id.clone(), fields));
            }
        }
        let Some(op) = contract.job_operation(Effect::Attach) else {
            return effects;
        };
        let Some(Check::AsyncEffect { at, field, .. }) = contract
            .effect_rule(&op.id, Effect::Attach)
            .map(|r| &r.check)
        else {
            return effects;
        };
        effects.attach = Some((op.id.clone(), at.clone()));
        let rules = &mut effects.nics;
        for r in contract.rules_for(&op.id) {
            match &r.check {
                Check::Precedence { winner, loser, .. } => {
                    rules.precedence.push((winner.clone(), loser.clone()))
                }
                Check::IgnoredWhen { field, ignored, .. } => {
                    rules.ignored_when.push((field.clone(), ignored.clone()))
                }
                Check::ResourceState {
                    field: f, state, ..
                } if f == field => rules.port_state = Some(state.clone()),
                _ => {}
            }
        }
        effects
    }

    /// The (wrapper, field) pairs an update of `operation` changes.
    pub(super) fn updated(&self, operation: &str) -> &[(String, String)] {
        self.updated
            .iter()
            .find(|(op, _)| op == operation)
            .map(|(_, fields)| fields.as_slice())
            .unwrap_or_default()
    }
}
