//! `spec --pages`: each page's lines beside the keywords and rules that
//! quote them, and the sentences nothing checks, so a reader sees how much
//! of the text itself the contract covers.

use serde::Serialize;

use crate::contract::basis::{self, PAGES};
use crate::contract::{Contract, Severity};

/// A line that reads as a sentence rather than a table cell.
const SENTENCE_WORDS: usize = 4;

#[derive(Debug, Serialize)]
pub struct PageCoverage {
    pub page: &'static str,
    pub lines: Vec<LineCoverage>,
}

#[derive(Debug, Serialize)]
pub struct LineCoverage {
    pub text: String,
    /// Every keyword or rule whose quote covers part of the line.
    pub checked_by: Vec<Checker>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Checker {
    pub id: String,
    pub severity: Severity,
}

impl LineCoverage {
    pub fn is_sentence(&self) -> bool {
        self.text.split(' ').count() >= SENTENCE_WORDS
    }
}

impl PageCoverage {
    /// Sentences, and how many of them something checks.
    pub fn sentences(&self) -> (usize, usize) {
        let sentences = self.lines.iter().filter(|l| l.is_sentence());
        let checked = sentences.clone().filter(|l| !l.checked_by.is_empty());
        (checked.count(), sentences.count())
    }
}

/// Every quote of the contract, by page: (page, quote, checker).
fn quotes(contract: &Contract) -> Vec<(&'static str, String, Checker)> {
    let mut out = Vec::new();
    for schema in contract.schemas.values() {
        let Some(page) = schema
            .document
            .pointer("/x-source/page")
            .and_then(serde_json::Value::as_str)
            .and_then(basis::page_file)
        else {
            continue;
        };
        for k in &schema.keywords {
            for q in &k.quotes {
                let checker = Checker {
                    id: k.id.clone(),
                    severity: k.severity,
                };
                out.push((page, q.clone(), checker));
            }
        }
    }
    for r in &contract.rules {
        if let (Some(q), Some(page)) = (&r.source.quote, basis::page_file(&r.source.page)) {
            let checker = Checker {
                id: r.id.clone(),
                severity: r.severity,
            };
            out.push((page, q.clone(), checker));
        }
    }
    out
}

/// The pages the operations rest on, line by line.
pub fn coverage(contract: &Contract) -> Vec<PageCoverage> {
    let quotes = quotes(contract);
    PAGES
        .iter()
        .filter(|(name, _)| *name != "README.md")
        .map(|(name, text)| {
            let normalized = basis::normalize(text);
            let spans: Vec<_> = quotes
                .iter()
                .filter(|(page, _, _)| page == name)
                .flat_map(|(_, q, checker)| {
                    basis::spans(&normalized, q)
                        .into_iter()
                        .map(move |span| (span, checker))
                })
                .collect();
            let lines = basis::lines(text)
                .into_iter()
                .map(|(text, at)| {
                    let mut checked_by: Vec<Checker> = Vec::new();
                    for (span, checker) in &spans {
                        let overlaps = span.start < at.end && at.start < span.end;
                        if overlaps && !checked_by.iter().any(|c| c.id == checker.id) {
                            checked_by.push((*checker).clone());
                        }
                    }
                    LineCoverage { text, checked_by }
                })
                .collect();
            PageCoverage { page: name, lines }
        })
        .collect()
}

/// The text `spec --pages` prints.
pub fn as_text(contract: &Contract) -> String {
    let mut out = String::from(
        "PAGES\n  Each line of the pages; ✓ where a keyword or rule quotes it (with its ids), · a sentence\n  nothing checks. Table cells that nothing quotes are left out.\n",
    );
    for page in coverage(contract) {
        let (checked, sentences) = page.sentences();
        out.push_str(&format!(
            "\n{}: {checked} of {sentences} sentences checked\n",
            page.page
        ));
        // Cells of one row that the same ids quote read as one line.
        let mut lines = page.lines.iter().peekable();
        while let Some(line) = lines.next() {
            if line.checked_by.is_empty() {
                if line.is_sentence() {
                    out.push_str(&format!("  · {}\n", line.text));
                }
                continue;
            }
            let mut text = line.text.clone();
            let same = |l: &&LineCoverage| {
                !l.is_sentence()
                    && l.checked_by.len() == line.checked_by.len()
                    && l.checked_by
                        .iter()
                        .zip(&line.checked_by)
                        .all(|(a, b)| a.id == b.id)
            };
            while let Some(cell) = lines.next_if(same) {
                text.push_str(" | ");
                text.push_str(&cell.text);
            }
            out.push_str(&format!("  ✓ {text}\n"));
            for c in &line.checked_by {
                out.push_str(&format!("      {} ({})\n", c.id, c.severity));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quoted_sentence_is_checked_and_an_unquoted_one_is_not() {
        let contract = Contract::builtin().unwrap();
        let pages = coverage(&contract);
        let add = pages
            .iter()
            .find(|p| p.page == "ecs-batch-add-nics.txt")
            .unwrap();
        let line = |text: &str| add.lines.iter().find(|l| l.text == text).unwrap();
        let down = line("The NIC must be in DOWN state.");
        assert!(
            down.checked_by
                .iter()
                .any(|c| c.id == "batch-add.port-down"),
            "{down:?}"
        );
        let advice = line("You can obtain the NIC ID using the VPC API for querying ports.");
        assert_eq!(advice.checked_by.len(), 1, "{advice:?}");
        let (checked, sentences) = add.sentences();
        assert!(
            checked > 5 && checked < sentences,
            "{checked} of {sentences}"
        );
    }
}
