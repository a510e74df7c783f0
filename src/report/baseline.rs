//! A baseline of accepted findings: deviations a team has written down
//! (reported to the vendor, waiting for a fix) so that CI fails only on
//! what is new.
//!
//! The file is TOML, sorted and stable so that a change to it reads well in
//! review. An entry matches a finding by rule or keyword id and operation,
//! and is as narrow as the finding: one seen in a curated case names the
//! case (its id is stable); one seen in a generated case names the case's
//! class (`breaks ID`, `protocol not-utf8`…), never its id, whose data
//! depends on the seed. An entry with neither accepts every finding of its
//! id on the operation, so `--write-baseline` never writes one.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::case::CaseKind;
use crate::error::Error;
use crate::files::write_atomic;
use crate::report::DedupedFinding;
use crate::runner::event::CaseResult;

/// What `--write-baseline` puts in `reason` for the team to replace.
pub const REASON_TO_FILL: &str = "TODO: why this deviation is accepted (a vendor ticket, a date)";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The rule or schema keyword id.
    pub id: String,
    pub operation: String,
    /// A curated case's id; none matches every case of the operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<String>,
    /// A generated case's class; none matches every class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    pub reason: String,
    /// After this day (`YYYY-MM-DD`) the entry no longer accepts anything and fails the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<toml::value::Date>,
}

/// Where a finding was seen, as an entry names it.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Origin {
    /// A curated case's id.
    pub case: Option<String>,
    /// A generated case's class.
    pub class: Option<String>,
}

impl Origin {
    pub fn of(result: &CaseResult) -> Origin {
        match result.kind {
            Some(CaseKind::Curated) | None => Origin {
                case: Some(result.case_id.clone()),
                class: None,
            },
            Some(_) => Origin {
                case: None,
                class: Some(result.class.clone()).filter(|c| !c.is_empty()),
            },
        }
    }
}

impl Entry {
    fn matches(&self, id: &str, operation: &str, origin: &Origin) -> bool {
        let narrows =
            |entry: &Option<String>, seen: &Option<String>| entry.is_none() || entry == seen;
        self.id == id
            && self.operation == operation
            && narrows(&self.case, &origin.case)
            && narrows(&self.class, &origin.class)
    }

    /// Accepts every finding of its id on its operation: it would hide the
    /// next, different deviation of the same id.
    pub fn is_broad(&self) -> bool {
        self.case.is_none() && self.class.is_none()
    }

    /// The entry as one line: `id on operation [case | class]`.
    pub fn label(&self) -> String {
        match (&self.case, &self.class) {
            (Some(c), _) => format!("{} on {} (case {c})", self.id, self.operation),
            (None, Some(c)) => format!("{} on {} ({c})", self.id, self.operation),
            (None, None) => format!("{} on {}", self.id, self.operation),
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    accepted: Vec<Entry>,
}

/// A loaded baseline and what the run made of it.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    pub path: String,
    /// Entries still in force.
    pub entries: Vec<Entry>,
    /// Entries past their `expires` day: they accept nothing and fail the run.
    pub expired: Vec<Entry>,
    /// Which of `entries` matched a finding in this run.
    used: BTreeSet<usize>,
}

impl Baseline {
    /// Reads a baseline; a malformed file names the file and the place.
    pub fn load(path: &Path) -> Result<Baseline, Error> {
        let text = crate::files::read_text_capped(path, crate::files::MAX_INPUT_BYTES)
            .map_err(|e| Error::file(path, format!("cannot read the baseline: {e}")))?;
        let file: File = toml::from_str(&text)
            .map_err(|e| Error::file(path, format!("not a baseline: {}", e.to_string().trim())))?;
        let today = today();
        let (expired, entries) = file
            .accepted
            .into_iter()
            .partition(|e| e.expires.is_some_and(|d| d < today));
        Ok(Baseline {
            path: path.display().to_string(),
            entries,
            expired,
            used: BTreeSet::new(),
        })
    }

    /// The entry that accepts a finding of `id` on `operation` seen at `origin`, if any.
    pub fn accept(&mut self, id: &str, operation: &str, origin: &Origin) -> Option<&Entry> {
        let i = self
            .entries
            .iter()
            .position(|e| e.matches(id, operation, origin))?;
        self.used.insert(i);
        Some(&self.entries[i])
    }

    /// Entries whose `reason` is still the placeholder `--write-baseline`
    /// wrote: accepted, but nobody has said why yet.
    pub fn unreviewed(&self) -> impl Iterator<Item = &Entry> {
        self.entries
            .iter()
            .filter(|e| e.reason.trim().is_empty() || e.reason == REASON_TO_FILL)
    }

    /// Entries that matched nothing in this run, among those whose operation
    /// ran (an entry of an operation the run left out cannot be judged stale).
    pub fn stale<'a>(&'a self, ran: impl Fn(&str) -> bool + 'a) -> impl Iterator<Item = &'a Entry> {
        self.entries
            .iter()
            .enumerate()
            .filter(move |(i, e)| !self.used.contains(i) && ran(&e.operation))
            .map(|(_, e)| e)
    }
}

/// The baseline that accepts exactly `findings`: one entry per rule,
/// operation and place seen (a curated case, or a generated case's class).
pub fn entries_for<'a>(findings: impl Iterator<Item = &'a DedupedFinding>) -> Vec<Entry> {
    let mut entries = BTreeSet::new();
    for f in findings {
        entries.extend(f.origins.iter().map(|o| Entry {
            id: f.first.id.clone(),
            operation: f.first.operation.clone(),
            case: o.case.clone(),
            class: o.class.clone(),
            reason: REASON_TO_FILL.into(),
            expires: None,
        }));
    }
    entries.into_iter().collect()
}

/// Writes `entries` as a baseline, atomically, keeping the reasons and expiry
/// days of entries `previous` already had.
pub fn write(
    path: &Path,
    mut entries: Vec<Entry>,
    previous: Option<&Baseline>,
) -> Result<(), Error> {
    if let Some(previous) = previous {
        for e in &mut entries {
            // The same entry, or a broader one it narrows: its reason still holds.
            let all = || previous.entries.iter().chain(&previous.expired);
            let same = all()
                .find(|p| {
                    p.id == e.id
                        && p.operation == e.operation
                        && p.case == e.case
                        && p.class == e.class
                })
                .or_else(|| {
                    all().find(|p| p.id == e.id && p.operation == e.operation && p.is_broad())
                });
            if let Some(p) = same {
                e.reason = p.reason.clone();
                e.expires = p.expires;
            }
        }
    }
    entries.sort();
    let body = toml::to_string_pretty(&File { accepted: entries })
        .map_err(|e| Error::Harness(format!("cannot write the baseline: {e}")))?;
    let text = format!(
        "# Accepted findings: `nic-conformance run --baseline {}` reports them apart and\n\
         # fails only on findings not listed here. Fill in each `reason`; an optional\n\
         # `expires = YYYY-MM-DD` makes the entry fail the run after that day.\n\n{body}",
        path.display()
    );
    write_atomic(path, text.as_bytes())
        .map_err(|e| Error::file(path, format!("cannot write the baseline: {e}")))
}

/// Today in UTC, as a TOML date.
fn today() -> toml::value::Date {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (year, month, day) = crate::signing::civil_from_days((secs / 86_400) as i64);
    toml::value::Date {
        year: year as u16,
        month: month as u8,
        day: day as u8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(id: &str) -> Origin {
        Origin {
            case: Some(id.into()),
            class: None,
        }
    }

    fn class(c: &str) -> Origin {
        Origin {
            case: None,
            class: Some(c.into()),
        }
    }

    #[test]
    fn an_entry_with_a_case_matches_that_case_only() {
        let e = Entry {
            id: "r".into(),
            operation: "op".into(),
            case: Some("op::c".into()),
            class: None,
            reason: String::new(),
            expires: None,
        };
        assert!(e.matches("r", "op", &case("op::c")));
        assert!(!e.matches("r", "op", &case("op::d")));
        assert!(!e.matches("r", "other", &case("op::c")));
        let any = Entry { case: None, ..e };
        assert!(any.matches("r", "op", &case("op::d")));
        assert!(any.is_broad());
    }

    #[test]
    fn an_entry_with_a_class_matches_that_class_only() {
        let e = Entry {
            id: "response.no-server-error".into(),
            operation: "op".into(),
            case: None,
            class: Some("breaks op.net-exists".into()),
            reason: String::new(),
            expires: None,
        };
        assert!(e.matches(
            "response.no-server-error",
            "op",
            &class("breaks op.net-exists")
        ));
        // The same id in another class is a new deviation, not the accepted one.
        assert!(!e.matches(
            "response.no-server-error",
            "op",
            &class("protocol not-utf8")
        ));
        assert!(!e.matches("response.no-server-error", "op", &case("op::curated")));
        assert!(!e.is_broad());
    }

    #[test]
    fn a_malformed_baseline_names_the_file_and_the_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baseline.toml");
        std::fs::write(&path, "[[accepted]]\nid = \"r\"\noperation = 3\n").unwrap();
        let e = Baseline::load(&path).unwrap_err().to_string();
        assert!(e.contains("baseline.toml"), "{e}");
        assert!(e.contains("line 3"), "{e}");
    }
}
