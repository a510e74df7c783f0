//! A baseline of accepted findings: deviations a team has written down
//! (reported to the vendor, waiting for a fix) so that CI fails only on
//! what is new.
//!
//! The file is TOML, sorted and stable so that a change to it reads well in
//! review. An entry matches a finding by rule or keyword id and operation;
//! an entry written from curated cases also names the case, since a curated
//! case's id is stable. A generated case is never named: its data depends on
//! the seed, so matching on it would make the baseline depend on the seed.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::files::write_atomic;
use crate::report::DedupedFinding;

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
    pub reason: String,
    /// After this day (`YYYY-MM-DD`) the entry no longer accepts anything and fails the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<toml::value::Date>,
}

impl Entry {
    fn matches(&self, id: &str, operation: &str, case: &str) -> bool {
        self.id == id
            && self.operation == operation
            && self.case.as_deref().is_none_or(|c| c == case)
    }

    /// The entry as one line: `id on operation [case]`.
    pub fn label(&self) -> String {
        match &self.case {
            Some(c) => format!("{} on {} (case {c})", self.id, self.operation),
            None => format!("{} on {}", self.id, self.operation),
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

    /// The entry that accepts a finding of `id` on `operation` seen in `case`, if any.
    pub fn accept(&mut self, id: &str, operation: &str, case: &str) -> Option<&Entry> {
        let i = self
            .entries
            .iter()
            .position(|e| e.matches(id, operation, case))?;
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

/// The baseline that accepts exactly `findings`: one entry per rule and
/// operation, naming the case only when every case that showed it is curated.
pub fn entries_for<'a>(findings: impl Iterator<Item = &'a DedupedFinding>) -> Vec<Entry> {
    let mut entries = BTreeSet::new();
    for f in findings {
        let entry = |case: Option<String>| Entry {
            id: f.first.id.clone(),
            operation: f.first.operation.clone(),
            case,
            reason: REASON_TO_FILL.into(),
            expires: None,
        };
        if f.generated || f.cases.is_empty() {
            entries.insert(entry(None));
        } else {
            entries.extend(f.cases.iter().map(|c| entry(Some(c.clone()))));
        }
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
            let same = previous
                .entries
                .iter()
                .chain(&previous.expired)
                .find(|p| p.id == e.id && p.operation == e.operation && p.case == e.case);
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

    #[test]
    fn an_entry_with_a_case_matches_that_case_only() {
        let e = Entry {
            id: "r".into(),
            operation: "op".into(),
            case: Some("op::c".into()),
            reason: String::new(),
            expires: None,
        };
        assert!(e.matches("r", "op", "op::c"));
        assert!(!e.matches("r", "op", "op::d"));
        assert!(!e.matches("r", "other", "op::c"));
        let any = Entry { case: None, ..e };
        assert!(any.matches("r", "op", "op::d"));
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
