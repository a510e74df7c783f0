//! The findings on the page: the list under the band of those that failed
//! the run, and each finding in full further down (the server's apart from
//! a proxied client's).

use std::fmt::Write;

use super::{CASES_SHOWN, esc, more};
use crate::report::{DedupedFinding, Gate, Summary};

/// The first line of a text, cut to `max` characters (for one-line summaries).
fn one_line(s: &str, max: usize) -> String {
    let first = s
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim();
    if first.chars().count() > max || s.trim().lines().nth(1).is_some() {
        let cut: String = first.chars().take(max).collect();
        format!("{cut}…")
    } else {
        first.to_string()
    }
}

/// A finding's anchor on the page (the order the findings section uses).
fn anchor(index: usize) -> String {
    format!("finding-{index}")
}

/// The findings in page order: severity first, then id; the server's
/// before the client's (the proxy's page).
fn ordered(s: &Summary) -> Vec<&DedupedFinding> {
    let mut sorted: Vec<&DedupedFinding> = s.findings.values().collect();
    sorted.sort_by(|a, b| {
        is_client(&a.first.id)
            .cmp(&is_client(&b.first.id))
            .then(b.first.severity.cmp(&a.first.severity))
            .then(a.first.id.cmp(&b.first.id))
            .then(a.first.operation.cmp(&b.first.operation))
    });
    sorted
}

fn is_client(id: &str) -> bool {
    id.starts_with(crate::contract::ids::CLIENT_PREFIX)
}

/// Under the band: the findings that decided the exit code, one line each,
/// linked to their details further down.
pub(super) fn failing_section(h: &mut String, s: &Summary, gate: Gate) {
    let failing: Vec<(usize, &DedupedFinding)> = (ordered(s).into_iter().enumerate())
        .filter(|(_, f)| f.first.severity >= gate.fail_on)
        .collect();
    if failing.is_empty() {
        return;
    }
    h.push_str("<ul class=\"failing\" id=\"failing\">");
    for (i, d) in failing {
        let f = &d.first;
        let who = if is_client(&f.id) {
            "the client sent"
        } else {
            "the server answered"
        };
        let _ = write!(
            h,
            "<li><span class=\"sev {}\">{}</span> <a href=\"#{}\"><code>{}</code> on {}</a> · {} case(s) · {who}<br>\
             <span class=\"line\">documented: {} · received: {}</span></li>",
            f.severity,
            f.severity,
            anchor(i),
            esc(&f.id),
            esc(&f.operation),
            d.count,
            esc(&one_line(&f.expected, 120)),
            esc(&one_line(&f.actual, 120)),
        );
    }
    h.push_str("</ul>");
}

pub(super) fn findings_section(h: &mut String, s: &Summary) {
    let _ = write!(
        h,
        "<h2 id=\"findings\">Findings ({})</h2>",
        s.findings.len()
    );
    if s.findings.is_empty() {
        h.push_str("<p>None.</p>");
    }
    // A proxy's page: what the server answered apart from what the client sent.
    let split = s.findings.values().any(|f| is_client(&f.first.id));
    let mut heading = None;
    for (i, f) in ordered(s).into_iter().enumerate() {
        let side = if is_client(&f.first.id) {
            "The client sent (requests that break the contract)"
        } else {
            "The server answered (the target's findings)"
        };
        if split && heading != Some(side) {
            let _ = write!(h, "<h3>{side}</h3>");
            heading = Some(side);
        }
        finding(h, f, true, Some(&anchor(i)));
    }
    let _ = write!(
        h,
        "<h2 id=\"accepted\">Accepted by the baseline ({})</h2>",
        s.accepted.len()
    );
    if s.accepted.is_empty() {
        h.push_str("<p>None.</p>");
    }
    for f in s.accepted.values() {
        finding(h, f, false, None);
    }
}

fn finding(h: &mut String, d: &DedupedFinding, open: bool, anchor: Option<&str>) {
    let f = &d.first;
    let _ = write!(
        h,
        "<details{}{}><summary><span class=\"sev {}\">{}</span> <code>{}</code> on {} · {} case(s)</summary>",
        if open { " open" } else { "" },
        anchor.map(|a| format!(" id=\"{a}\"")).unwrap_or_default(),
        f.severity,
        f.severity,
        esc(&f.id),
        esc(&f.operation),
        d.count
    );
    if let Some(reason) = &d.accepted_because {
        let _ = write!(h, "<p class=\"verdict warn\">accepted: {}</p>", esc(reason));
    }
    let _ = write!(h, "<p>source: {}</p>", esc(&f.source));
    if f.id == crate::contract::ids::SNAPSHOT_DRIFT {
        let _ = write!(h, "<p>documented: {}</p>", esc(&f.expected));
        side_by_side(h, &f.actual);
    } else {
        let _ = write!(
            h,
            "<div class=\"two\"><div><h3>documented</h3><pre>{}</pre></div><div><h3>received</h3><pre>{}</pre></div></div>",
            esc(&f.expected),
            esc(&f.actual)
        );
    }
    let _ = write!(h, "<h3>cases</h3><ul>");
    for c in d.cases.iter().take(CASES_SHOWN) {
        let _ = write!(h, "<li><code>{}</code></li>", esc(c));
    }
    more(h, d.cases.len());
    h.push_str("</ul>");
    for e in &d.examples {
        let _ = write!(
            h,
            "<h3>case <code>{}</code></h3><div class=\"two\"><div>request<pre>{}</pre></div><div>response{}<pre>{}</pre></div></div>",
            esc(&e.case),
            esc(if e.request.is_empty() {
                "(not kept)"
            } else {
                &e.request
            }),
            e.status
                .map(|s| format!(" {s}"))
                .unwrap_or_else(|| " (none)".into()),
            esc(e.response.as_deref().unwrap_or("(no body)")),
        );
    }
    if !f.replay.is_empty() {
        let _ = write!(h, "<h3>replay</h3><pre>{}</pre>", esc(&f.replay));
    }
    h.push_str("</details>");
}

/// A unified diff as two columns: the accepted snapshot and what was received.
pub(super) fn side_by_side(h: &mut String, diff: &str) {
    h.push_str("<table class=\"diff\"><tr><th>accepted</th><th>received</th></tr>");
    let (mut dels, mut adds): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
    let flush = |h: &mut String, dels: &mut Vec<&str>, adds: &mut Vec<&str>| {
        for i in 0..dels.len().max(adds.len()) {
            let side = |line: Option<&&str>, class: &str| match line {
                Some(l) => format!("<td class=\"{class}\">{}</td>", esc(l)),
                None => "<td></td>".into(),
            };
            let _ = write!(
                h,
                "<tr>{}{}</tr>",
                side(dels.get(i), "del"),
                side(adds.get(i), "add")
            );
        }
        dels.clear();
        adds.clear();
    };
    for line in diff.lines() {
        if line.starts_with("---") || line.starts_with("+++") {
            continue;
        }
        if let Some(l) = line.strip_prefix('-') {
            dels.push(l);
        } else if let Some(l) = line.strip_prefix('+') {
            adds.push(l);
        } else {
            flush(h, &mut dels, &mut adds);
            let l = line.strip_prefix(' ').unwrap_or(line);
            let class = if line.starts_with("@@") {
                " class=\"muted\""
            } else {
                ""
            };
            let _ = write!(h, "<tr><td{class}>{0}</td><td{class}>{0}</td></tr>", esc(l));
        }
    }
    flush(h, &mut dels, &mut adds);
    h.push_str("</table>");
}
