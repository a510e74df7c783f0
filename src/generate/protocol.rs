//! Protocol-level cases: one per [`Malformation`] for each operation that
//! takes a body, judged by `request.well-formed`.

use serde_json::Value;

use super::{Generator, Plan};
use crate::case::{Case, CaseKind, default_path_params};
use crate::contract::Operation;
use crate::malformed::Malformation;

impl Generator<'_> {
    /// The body's top-level key: the one every request of `op` carries.
    pub(super) fn top_key(&self, op: &Operation) -> Option<String> {
        let schema = self.contract.schema(op.request_schema.as_ref()?)?;
        let doc = &schema.document;
        let required = doc.get("required").and_then(Value::as_array);
        let first_required = required.and_then(|r| r.first()).and_then(Value::as_str);
        let first_property = (doc.get("properties").and_then(Value::as_object))
            .and_then(|p| p.keys().next().map(String::as_str));
        first_required.or(first_property).map(str::to_string)
    }

    /// A protocol-level case: its body names only the top-level key the
    /// malformation breaks (see [`Malformation::request`]).
    pub(super) fn malformed_case(
        &self,
        op: &Operation,
        kind: CaseKind,
        index: usize,
        class: Malformation,
    ) -> Option<Case> {
        let key = self.top_key(op)?;
        let params = default_path_params(op, self.project_id, self.fixtures);
        let body = serde_json::json!({ key: 1 });
        let view = crate::contract::Contract::view(params, body);
        let expect = match class.expected_status() {
            Some(s) => crate::contract::Expect::exact(s),
            None => crate::contract::Expect::CLIENT_ERROR,
        };
        let verdict = crate::contract::Verdict::Reject {
            id: crate::contract::ids::WELL_FORMED.to_string(),
            expect,
            message: class.describe().to_string(),
        };
        let (expect, breaks, exercises) = Case::label_verdict(self.contract, op, &view, verdict);
        let (path_params, body) = crate::contract::Contract::view_parts(view);
        Some(Case {
            id: crate::case::generated_id(&op.id, kind, index),
            operation: op.id.clone(),
            kind,
            expect,
            breaks,
            exercises,
            path_params,
            body,
            setup: None,
            description: Plan::Malformed(class).describe(),
            open_reading: false,
            malformed: Some(class),
            class: Plan::Malformed(class).class(),
        })
    }
}
