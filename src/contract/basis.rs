//! What a keyword or rule rests on, and the one function that turns that
//! into a severity: `must` only where a page states it (a quoted table cell
//! or sentence) or for the few exceptions no page needs to state; `should`
//! for everything implied, borrowed, read from an example or from general
//! HTTP practice.
//!
//! The pages themselves are built in (`schemas/pages/`), so a quote can be
//! checked against the text it claims to come from.

use serde::{Deserialize, Serialize};

use super::Severity;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    /// A page's table cell or sentence says it; the source quotes it.
    Stated,
    /// One of [`EXCEPTIONS`]: never conformance, whatever a page says.
    Exception,
    /// A word of the page suggests it without saying it.
    Implied,
    /// Taken from another table, page or family of APIs.
    Borrowed,
    /// Read from the page's example requests or responses.
    Example,
    /// General HTTP practice the pages do not print.
    Practice,
}

impl Basis {
    /// The only place a severity is decided.
    pub const fn severity(self) -> Severity {
        match self {
            Basis::Stated | Basis::Exception => Severity::Must,
            Basis::Implied | Basis::Borrowed | Basis::Example | Basis::Practice => Severity::Should,
        }
    }

    /// Reads the basis a reason starts with (`example: …`), else `default`.
    pub fn from_reason(reason: &str, default: Basis) -> Basis {
        let word = reason.split(':').next().unwrap_or_default().trim();
        match word {
            "implied" => Basis::Implied,
            "borrowed" => Basis::Borrowed,
            "example" => Basis::Example,
            "practice" => Basis::Practice,
            _ => default,
        }
    }
}

impl std::fmt::Display for Basis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Basis::Stated => "stated",
            Basis::Exception => "exception",
            Basis::Implied => "implied",
            Basis::Borrowed => "borrowed",
            Basis::Example => "example",
            Basis::Practice => "practice",
        })
    }
}

/// The rules that are `must` although no page states them, each with why.
/// The README repeats this list; `tests/contract.rs` holds the two together.
pub const EXCEPTIONS: &[(&str, &str)] = &[
    (
        "response.no-server-error",
        "a 5xx says the server failed, never that the request was wrong: no page can make it conformance",
    ),
    (
        "response.transport",
        "no complete HTTP answer (a dropped connection, a timeout, a redirect loop) is no answer to judge",
    ),
    (
        "response.json-body",
        "every page's examples are JSON; a body that does not parse cannot be read by any client",
    ),
    (
        "response.status",
        "the status a page prints (or its class where it prints none) is the answer it documents",
    ),
    (
        "snapshot.drift",
        "an accepted snapshot is the operator's own statement of the answer; a change is theirs to review",
    ),
];

/// The pages, as built into the binary.
pub const PAGES: &[(&str, &str)] = &[
    (
        "ecs-batch-add-nics.txt",
        include_str!("../../schemas/pages/ecs-batch-add-nics.txt"),
    ),
    (
        "ecs-nova-attach-interface.txt",
        include_str!("../../schemas/pages/ecs-nova-attach-interface.txt"),
    ),
    (
        "ecs-batch-delete-nics.txt",
        include_str!("../../schemas/pages/ecs-batch-delete-nics.txt"),
    ),
    (
        "ecs-update-interface-attachment.txt",
        include_str!("../../schemas/pages/ecs-update-interface-attachment.txt"),
    ),
    (
        "vpc-update-sub-network-interface.txt",
        include_str!("../../schemas/pages/vpc-update-sub-network-interface.txt"),
    ),
    (
        "auxiliary-reads.md",
        include_str!("../../schemas/pages/auxiliary-reads.md"),
    ),
    ("README.md", include_str!("../../schemas/pages/README.md")),
];

/// A page's text, by file name.
pub fn page(name: &str) -> Option<&'static str> {
    PAGES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// A page's text as quotes are written: table rules (`|---|`) dropped,
/// cell bars and runs of white space read as one space. The pages come in
/// two table layouts (cells on lines of their own, and Markdown rows); a
/// row reads the same in both.
pub fn normalize(text: &str) -> String {
    lines(text)
        .into_iter()
        .map(|(line, _)| line)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The page's lines, each normalized, with where it sits in [`normalize`]'s
/// text (so a quote found there can be traced back to the lines it spans).
pub fn lines(text: &str) -> Vec<(String, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    let mut at = 0;
    for line in text.lines() {
        let is_rule = line.contains('-')
            && line
                .chars()
                .all(|c| c.is_whitespace() || matches!(c, '|' | '-' | ':'));
        if is_rule {
            continue;
        }
        let words: Vec<&str> = line
            .split(|c: char| c.is_whitespace() || c == '|')
            .filter(|w| !w.is_empty())
            .collect();
        if words.is_empty() {
            continue;
        }
        let line = words.join(" ");
        let start = if at == 0 { 0 } else { at + 1 };
        at = start + line.len();
        out.push((line, start..at));
    }
    out
}

/// Where `quote` is printed in the normalized `page` (every occurrence).
pub fn spans(normalized_page: &str, quote: &str) -> Vec<std::ops::Range<usize>> {
    let quote = normalize(quote);
    if quote.is_empty() {
        return Vec::new();
    }
    // Whole words only: `id Yes` is not the tail of `project_id Yes`.
    let bytes = normalized_page.as_bytes();
    normalized_page
        .match_indices(&quote)
        .map(|(i, q)| i..i + q.len())
        .filter(|r| r.start == 0 || bytes[r.start - 1] == b' ')
        .filter(|r| r.end == bytes.len() || bytes[r.end] == b' ')
        .collect()
}

/// Whether `quote` is printed on `page` (both normalized).
pub fn quoted_on(page_name: &str, quote: &str) -> bool {
    page(page_name).is_some_and(|text| !spans(&normalize(text), quote).is_empty())
}

/// The page file a free-text `page` field names first (`ecs-….txt (auxiliary)` → `ecs-….txt`).
pub fn page_file(page: &str) -> Option<&'static str> {
    PAGES
        .iter()
        .map(|(n, _)| *n)
        .find(|n| page.split([',', ' ']).next() == Some(*n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_table_layouts_read_the_same() {
        let lines = "Parameter\n\nMandatory\n\nType\n\nid\n\nYes\n\nString\n";
        let markdown = "| Parameter | Mandatory | Type |\n|---|---|---|\n| id | Yes | String |\n";
        assert_eq!(normalize(lines), "Parameter Mandatory Type id Yes String");
        assert_eq!(normalize(markdown), normalize(lines));
    }

    #[test]
    fn severity_follows_the_basis_alone() {
        assert_eq!(Basis::Stated.severity(), Severity::Must);
        assert_eq!(Basis::Exception.severity(), Severity::Must);
        for b in [
            Basis::Implied,
            Basis::Borrowed,
            Basis::Example,
            Basis::Practice,
        ] {
            assert_eq!(b.severity(), Severity::Should, "{b}");
        }
        assert_eq!(
            Basis::from_reason("example: the page's request", Basis::Implied),
            Basis::Example
        );
        assert_eq!(
            Basis::from_reason("Table 3 says only", Basis::Borrowed),
            Basis::Borrowed
        );
    }

    #[test]
    fn a_quote_is_found_only_on_its_page() {
        assert!(quoted_on(
            "ecs-batch-add-nics.txt",
            "The NIC must be in DOWN state."
        ));
        assert!(!quoted_on(
            "ecs-batch-delete-nics.txt",
            "The NIC must be in DOWN state."
        ));
        assert!(!quoted_on("no-such-page.txt", "anything"));
        // Whole words: `_id Yes` is inside `project_id Yes`, but not a quote of it.
        assert!(!quoted_on("ecs-batch-add-nics.txt", "_id Yes"));
        assert_eq!(
            page_file("ecs-nova-attach-interface.txt (auxiliary)"),
            Some("ecs-nova-attach-interface.txt")
        );
        assert_eq!(page_file("all pages"), None);
    }
}
