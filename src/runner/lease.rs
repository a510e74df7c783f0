//! Leasing the mutable fixtures a case needs (a spare port, a supplementary
//! NIC) and bringing a spare into the state the case needs.

use serde_json::Value;

use crate::case::Case;
use crate::contract::{Effect, Setup, ids};
use crate::judge::Finding;
use crate::runner::Runner;
use crate::runner::address_book::AddressHold;
use crate::runner::pool::{PortState, Taken};

/// What a case holds while it runs; dropping it returns the fixtures to their pools.
pub(super) struct CaseLease {
    pub(super) spare: Option<Taken<PortState>>,
    pub(super) sub_nic: Option<Taken<()>>,
    pub(super) addresses: Option<AddressHold>,
    /// The case needs a spare and none is left in service.
    pub(super) no_spare: bool,
    /// Fixture ids the case named, and what they were rebound to.
    pub(super) rebound: Vec<(String, String)>,
}

impl CaseLease {
    /// `case` naming what this lease holds instead of the fixtures.
    pub(super) fn rebind(&self, case: &Case) -> Case {
        let mut rebound = case.clone();
        for (from, to) in self.rebound.iter().filter(|(from, to)| from != to) {
            for v in rebound.path_params.values_mut() {
                replace_string(v, from, to);
            }
            if let Some(body) = rebound.body.as_mut() {
                replace_string(body, from, to);
            }
        }
        rebound
    }
}

/// Whether any string in `v` is `id`.
fn mentions(v: &Value, id: &str) -> bool {
    match v {
        Value::String(s) => s == id,
        Value::Array(items) => items.iter().any(|i| mentions(i, id)),
        Value::Object(map) => map.values().any(|i| mentions(i, id)),
        _ => false,
    }
}

/// Replaces every string equal to `from` in `v` with `to`.
fn replace_string(v: &mut Value, from: &str, to: &str) {
    match v {
        Value::String(s) if s == from => *s = to.to_string(),
        Value::Array(items) => items.iter_mut().for_each(|i| replace_string(i, from, to)),
        Value::Object(map) => map.values_mut().for_each(|i| replace_string(i, from, to)),
        _ => {}
    }
}

/// The state a case needs its spare in: attached for the operations whose
/// setup attaches it, detached (as the target file promises) otherwise.
pub(super) fn wanted_spare_state(case: &Case) -> PortState {
    if case.setup == Some(Setup::SparePortAttached) {
        PortState::Attached
    } else {
        PortState::Detached
    }
}

/// Whether a case leases a spare port: its setup attaches one, or it names one.
pub(super) fn needs_spare(case: &Case, f: &crate::fixtures::Fixtures) -> bool {
    case.setup == Some(Setup::SparePortAttached)
        || case
            .path_params
            .values()
            .any(|v| mentions(v, &f.spare_port_id))
        || case
            .body
            .as_ref()
            .is_some_and(|b| mentions(b, &f.spare_port_id))
}

impl Runner {
    /// Takes what the case needs exclusively from the pools: a spare port, a
    /// supplementary NIC. The case is rebound to the ones it got: every
    /// spare, every supplementary NIC is the same to the contract.
    pub(super) async fn lease(&self, case: &Case) -> (Case, CaseLease) {
        let f = &self.fixtures;
        let mut lease = CaseLease {
            spare: None,
            sub_nic: None,
            addresses: None,
            no_spare: false,
            rebound: Vec::new(),
        };
        let names = |id: &str| {
            case.path_params.values().any(|v| mentions(v, id))
                || case.body.as_ref().is_some_and(|b| mentions(b, id))
        };
        let mut rebinding: Vec<(&str, String)> = Vec::new();
        if needs_spare(case, f) {
            lease.spare = self.lab.spares.take_port(wanted_spare_state(case)).await;
            match &lease.spare {
                Some(spare) => rebinding.push((&f.spare_port_id, spare.id.clone())),
                None => lease.no_spare = true,
            }
        }
        if !f.sub_network_interface_id.is_empty() && names(&f.sub_network_interface_id) {
            lease.sub_nic = self.lab.sub_nics.take(|_| 0).await;
            if let Some(nic) = &lease.sub_nic {
                rebinding.push((&f.sub_network_interface_id, nic.id.clone()));
                self.record_sub_nic_change(&nic.id).await;
            }
        }
        lease.rebound = (rebinding.into_iter())
            .map(|(from, to)| (from.to_string(), to))
            .collect();
        let mut rebound = lease.rebind(case);
        lease.addresses = Some(self.lab.addresses.hold(&self.contract, &mut rebound));
        tracing::debug!(
            case = %case.id,
            spare = lease.spare.as_ref().map(|s| s.id.as_str()).unwrap_or("-"),
            sub_nic = lease.sub_nic.as_ref().map(|s| s.id.as_str()).unwrap_or("-"),
            "lease"
        );
        (rebound, lease)
    }

    /// Brings a leased spare into the state its case needs: looks when the
    /// state is unknown, attaches or detaches it when it is the other one.
    pub(super) async fn ready_spare(
        &self,
        spare: &mut Taken<PortState>,
        want: PortState,
    ) -> Result<(), SetupFailure> {
        if spare.state == PortState::Unknown {
            spare.state = match self.listing().await {
                Ok(l) if l.contains(&spare.id) => PortState::Attached,
                Ok(_) => PortState::Detached,
                Err(e) => return Err(self.listing_failed(&e.to_string())),
            };
        }
        if spare.state == want {
            return Ok(());
        }
        let outcome = match want {
            PortState::Attached => self.move_spare(Effect::Attach, &spare.id).await,
            _ => self.move_spare(Effect::Detach, &spare.id).await,
        };
        // A failed setup may still complete later: look again before the next use.
        spare.state = if outcome.is_ok() {
            want
        } else {
            PortState::Unknown
        };
        outcome
    }

    /// The listing failed during a setup: a finding against the listing itself.
    fn listing_failed(&self, why: &str) -> SetupFailure {
        let list = self.listing_operation();
        let finding = Finding::new(
            &self.contract,
            "",
            list.map(|o| o.id.as_str()).unwrap_or_default(),
            ids::STATUS,
            "200 with the server's attachments",
            why,
        );
        SetupFailure {
            reason: format!("cannot list the attachments: {why}"),
            finding: Some(finding),
        }
    }

    /// A case's setup attach or detach failed: a finding against the rule
    /// that promised the effect the setup relies on, in the operation that
    /// has it (not the case's).
    pub(super) fn setup_finding(&self, effect: Effect, expected: &str, actual: &str) -> Finding {
        let rule = self
            .contract
            .job_operation(effect)
            .and_then(|op| self.contract.effect_rule(&op.id, effect));
        let (id, operation) = rule
            .map(|r| (r.id.as_str(), r.operation.as_str()))
            .unwrap_or_default();
        Finding::new(&self.contract, "", operation, id, expected, actual)
    }
}

/// Why a case could not be set up, and the finding against the call that
/// failed (none when nothing was observed to be wrong, e.g. a job not waited for).
pub(super) struct SetupFailure {
    pub(super) reason: String,
    pub(super) finding: Option<Finding>,
}
