//! Ids of the catalogue's rules that hold for every operation (`"operation":
//! "*"` in `rules.json`) and for the job query. The judge names its generic
//! findings by these; a test checks each is in the catalogue with its kind.
//! Rules of one operation are found by their kind, never by id.

pub const STATUS: &str = "response.status";
pub const USUAL_STATUS: &str = "response.usual-status";
pub const OPEN_READING: &str = "request.open-reading";
pub const WELL_FORMED: &str = "request.well-formed";
pub const NO_SERVER_ERROR: &str = "response.no-server-error";
pub const CONTENT_TYPE: &str = "response.content-type";
pub const JSON_BODY: &str = "response.json-body";
pub const TRANSPORT: &str = "response.transport";
pub const SNAPSHOT_DRIFT: &str = "snapshot.drift";
pub const JOB_COMPLETES: &str = "job.completes";
pub const JOB_FAIL_REASON: &str = "job.fail-reason";
pub const FRAME_PRIMARY: &str = "frame.primary-kept";
pub const FRAME_OTHERS: &str = "frame.others-kept";

/// Before a rule or keyword id: the finding is against the client's request
/// (the proxy), not the server's answer. Severity and source are the id's.
pub const CLIENT_PREFIX: &str = "client:";

/// Every id above with the kind of check the catalogue must give it.
pub const ALL: [(&str, &str); 13] = [
    (STATUS, "status"),
    (WELL_FORMED, "status"),
    (USUAL_STATUS, "status"),
    (OPEN_READING, "status"),
    (NO_SERVER_ERROR, "no_server_error"),
    (CONTENT_TYPE, "content_type"),
    (JSON_BODY, "json_body"),
    (TRANSPORT, "transport"),
    (SNAPSHOT_DRIFT, "snapshot"),
    (JOB_COMPLETES, "job_terminates"),
    (JOB_FAIL_REASON, "job_fail_reason"),
    (FRAME_PRIMARY, "frame_kept"),
    (FRAME_OTHERS, "frame_kept"),
];

#[cfg(test)]
mod tests {
    use crate::contract::Contract;

    #[test]
    fn every_generic_id_is_in_the_catalogue_with_its_kind() {
        let contract = Contract::builtin().unwrap();
        for (id, kind) in super::ALL {
            let rule = contract.rule(id).unwrap_or_else(|| panic!("{id} missing"));
            assert_eq!(rule.check.kind(), kind, "{id}");
        }
    }
}
