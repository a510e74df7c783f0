//! A curated response against its accepted snapshot.

use crate::case::Case;
use crate::contract::{Contract, ids};
use crate::judge::Finding;
use crate::snapshot::Comparison;

/// A drifted snapshot is a finding; a match is none, and so is a missing
/// one (a new snapshot: the run lists it, for review, without failing).
pub fn snapshot_conformance(
    contract: &Contract,
    case: &Case,
    comparison: Comparison,
    reproduce: &str,
) -> Option<Finding> {
    let finding = |id: &str, expected: String, actual: String| {
        Finding::new(contract, &case.id, &case.operation, id, expected, actual)
            .reproduced_by(reproduce)
    };
    match comparison {
        Comparison::Matches | Comparison::Missing { .. } => None,
        Comparison::Drift { accepted, diff } => Some(finding(
            ids::SNAPSHOT_DRIFT,
            format!("the accepted snapshot {}", accepted.display()),
            diff,
        )),
    }
}
