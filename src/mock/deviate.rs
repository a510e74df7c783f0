//! Response faults: the deviations a fault profile makes to an answer the
//! mock has already built (drifted echoes, removed or changed fields, the
//! wrong error shape).

use serde_json::{Value, json};

use crate::contract::pointer::{expand, remove, set};
use crate::contract::{Check, Operation};
use crate::mock::state::random_id;
use crate::mock::{Mock, Reply};

impl Mock {
    /// Drifts echoed values, for the echo rules the request exercises.
    pub(super) fn apply_echo_drift(&self, op: &Operation, view: &Value, reply: &mut Reply) {
        let Some(body) = reply.body.as_mut() else {
            return;
        };
        if !(200..300).contains(&reply.status) {
            return;
        }
        for rule in self.contract.rules_for(&op.id) {
            let Check::Echo { response, .. } = &rule.check else {
                continue;
            };
            if !self.config.faults.drifts(&rule.id) || !rule.check.exercised(view) {
                continue;
            }
            for ptr in expand(body, response) {
                let drifted = match body.pointer(&ptr) {
                    Some(Value::String(s)) if uuid::Uuid::parse_str(s).is_ok() => {
                        json!(random_id())
                    }
                    Some(Value::String(s))
                        if s.parse::<std::net::IpAddr>().is_ok() || s.contains('/') =>
                    {
                        json!("192.0.2.254")
                    }
                    Some(Value::String(_)) => json!("drifted"),
                    Some(Value::Array(a)) if !a.is_empty() => json!(a[..a.len() - 1]),
                    Some(Value::Array(_)) => json!([self.config.fixtures.security_group_id]),
                    _ => continue,
                };
                set(body, &ptr, drifted);
            }
        }
    }

    pub(super) fn apply_response_faults(&self, op: &Operation, reply: &mut Reply) {
        for (operation, pointer, value) in self.config.faults.response_faults() {
            if operation != op.id {
                continue;
            }
            let Some(body) = reply.body.as_mut() else {
                continue;
            };
            if pointer == "error-shape" {
                if reply.status >= 400 {
                    // Another family's key, with nova's integer code: only the shape is wrong.
                    *body = json!({"error": {"code": reply.status, "message": "error under the wrong family's key"}});
                }
                continue;
            }
            if !(200..300).contains(&reply.status) || reply.status == 202 {
                continue;
            }
            match value {
                Some(v) => set(
                    body,
                    pointer,
                    serde_json::from_str(v).unwrap_or(Value::Null),
                ),
                None => {
                    remove(body, pointer);
                }
            }
        }
    }
}
