//! The HTML report (`--report-html`): one self-contained file for people.
//!
//! Styles are inline and there is no script: drill-downs are `<details>`, so
//! the page reads the same with scripts off and fetches nothing. Its size is
//! bounded whatever the run's: findings are deduplicated, each keeps
//! [`super::EXAMPLES_PER_FINDING`] exchanges and lists at most
//! [`CASES_SHOWN`] case ids, saying how many more there were.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::contract::{Contract, Severity};
use crate::report::{Gate, RuleStats, Summary};

mod findings;
pub mod fleet;
use findings::{failing_section, findings_section};

/// Case ids listed per finding; the JSON report has them all.
pub const CASES_SHOWN: usize = 40;

pub(super) const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
main{max-width:1280px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d5d9df;padding-bottom:4px}
h3{font-size:15px;margin:12px 0 4px}
.verdict{padding:10px 14px;border-radius:6px;font-weight:600;margin:8px 0 12px}
.pass{background:#e3f4e8;color:#14532d;border:1px solid #86c79a}.fail{background:#fde8e8;color:#7f1d1d;border:1px solid #f0a3a3}
.warn{background:#fff4d6;color:#713f12;border:1px solid #e9c46a}
dl.run{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0}dl.run dt{color:#5b6470}dl.run dd{margin:0}
nav a{margin-right:14px}
table{border-collapse:collapse;background:#fff;margin:6px 0}th,td{border:1px solid #d5d9df;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#eef1f4;position:sticky;top:0}td.n{text-align:right;font-variant-numeric:tabular-nums}
.matrix td.c{text-align:center;white-space:nowrap;min-width:92px}
.ok{background:#e3f4e8}.violated{background:#f8c9c9;font-weight:600}.undecided{background:#fde9b4}.never{background:#eceff3;color:#6b7480}.na{background:#fafbfc;color:#b8bec6}
.accepted{background:#dbe7fb}
.sev{display:inline-block;border-radius:3px;padding:0 6px;font-size:12px;font-weight:700;text-transform:uppercase}
.sev.must{background:#b91c1c;color:#fff}.sev.should{background:#d97706;color:#fff}
details{background:#fff;border:1px solid #d5d9df;border-radius:6px;margin:6px 0;padding:6px 10px}
details>summary{cursor:pointer;font-weight:600}
pre{background:#f3f4f6;border:1px solid #e1e4e8;border-radius:4px;padding:6px 8px;overflow:auto;white-space:pre-wrap;word-break:break-all;max-height:320px;margin:4px 0}
.two{display:grid;grid-template-columns:1fr 1fr;gap:10px}
table.diff{width:100%;font:12px/1.35 ui-monospace,monospace;table-layout:fixed}table.diff td{white-space:pre-wrap;word-break:break-all}
table.diff td.del{background:#fde2e2}table.diff td.add{background:#dcf5e3}
.muted{color:#6b7480}code{font:12px ui-monospace,monospace}
.matrix td:first-child{max-width:300px;overflow-wrap:anywhere}.matrix th{white-space:normal;overflow-wrap:anywhere}
ul.failing{list-style:none;padding:0;margin:0 0 12px}ul.failing li{background:#fff;border:1px solid #f0a3a3;border-radius:6px;padding:6px 10px;margin:4px 0}
ul.failing .line{color:#5b6470;overflow-wrap:anywhere}
";

/// The report as one HTML document. `urls` are the target's (name, URL) pairs.
pub fn to_html(
    summary: &Summary,
    contract: &Contract,
    gate: Gate,
    urls: &[(&str, String)],
) -> String {
    let (code, why) = summary.exit_status(contract, gate);
    let mut h = String::with_capacity(64 * 1024);
    let title = format!("nic-conformance: {} (exit {code})", summary.target);
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body><main>\n",
        esc(&title)
    );
    run_section(&mut h, summary, code, &why, urls, gate);
    operations_section(&mut h, summary);
    matrix_section(&mut h, summary, contract);
    keywords_section(&mut h, summary, contract);
    findings_section(&mut h, summary);
    undecided_section(&mut h, summary, contract);
    baseline_section(&mut h, summary);
    conflicts_section(&mut h, contract);
    h.push_str("</main></body></html>\n");
    h
}

pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // A target's control bytes (NUL, ESC, …) are shown, never embedded.
            c if c.is_control() && c != '\n' && c != '\t' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

fn run_section(
    h: &mut String,
    s: &Summary,
    code: i32,
    why: &str,
    urls: &[(&str, String)],
    gate: Gate,
) {
    let class = if code == 0 { "pass" } else { "fail" };
    let _ = write!(
        h,
        "<h1>{} {}</h1><div class=\"verdict {class}\">exit {code}: {}</div>",
        if s.proxied {
            "Exchanges through the proxy to"
        } else {
            "Conformance of"
        },
        esc(&s.target),
        esc(why),
    );
    failing_section(h, s, gate);
    let _ = write!(
        h,
        "<nav><a href=\"#operations\">Operations</a><a href=\"#matrix\">Rules</a>\
         <a href=\"#keywords\">Schema keywords</a><a href=\"#findings\">Findings ({})</a>\
         <a href=\"#accepted\">Accepted ({})</a><a href=\"#undecided\">Undecided</a>\
         <a href=\"#conflicts\">Doc conflicts</a></nav><h2 id=\"run\">Run</h2><dl class=\"run\">",
        s.findings.len(),
        s.accepted.len(),
    );
    run_rows(h, s, urls, gate);
    h.push_str("</dl>");
    leftovers_and_errors(h, s);
}

/// The run's facts, one `<dt>`/`<dd>` pair each.
fn run_rows(h: &mut String, s: &Summary, urls: &[(&str, String)], gate: Gate) {
    let mut row = |k: &str, v: String| {
        let _ = write!(h, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v));
    };
    row("target", s.target.clone());
    for (name, url) in urls {
        row(name, without_userinfo(url));
    }
    if !s.proxied {
        row("seed", s.seed.to_string());
    }
    if let Some((k, n)) = s.shard {
        row("shard", format!("{k} of {n}"));
    }
    row(
        "cases",
        format!(
            "{} of {} planned: {} passed, {} failed, {} undecided only",
            s.cases,
            s.planned,
            s.passed,
            s.failed(),
            s.undecided_only
        ),
    );
    let must = s
        .findings
        .values()
        .filter(|f| f.first.severity == Severity::Must)
        .count();
    row(
        "findings",
        format!(
            "{} ({must} must, {} should), {} accepted by the baseline",
            s.findings.len(),
            s.findings.len() - must,
            s.accepted.len()
        ),
    );
    row(
        "requests",
        format!("{} ({} retries)", s.end.requests, s.end.retries),
    );
    row("duration", format!("{:.2} s", s.end.elapsed.as_secs_f64()));
    row("gate", format!("fail on {}", gate.fail_on));
    if let Some(b) = &s.baseline {
        row("baseline", b.path.clone());
    }
    if s.end.interrupted {
        row("interrupted", "yes: the cases in flight finished".into());
    }
    if let Some(f) = &s.end.fatal {
        row("stopped by", f.clone());
    }
}

/// What the run left on the target, and the cases the harness could not run.
fn leftovers_and_errors(h: &mut String, s: &Summary) {
    if !s.end.leftovers.is_empty() {
        let _ = write!(
            h,
            "<details class=\"verdict warn\"><summary>{} resource(s) left on the target</summary><ul>",
            s.end.leftovers.len()
        );
        for l in s.end.leftovers.iter().take(CASES_SHOWN) {
            let _ = write!(h, "<li>{}</li>", esc(l));
        }
        more(h, s.end.leftovers.len());
        h.push_str("</ul></details>");
    }
    if !s.errors.is_empty() {
        h.push_str("<h3>Harness errors</h3><ul>");
        for (case, message) in s.errors.iter().take(CASES_SHOWN) {
            let _ = write!(h, "<li><code>{}</code>: {}</li>", esc(case), esc(message));
        }
        more(h, s.errors.len());
        h.push_str("</ul>");
    }
}

/// A URL as the page shows it: a user or password in it is dropped.
/// A URL as a report may show it: no user or password.
pub fn without_userinfo(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => url.to_string(),
    }
}

fn more(h: &mut String, total: usize) {
    if total > CASES_SHOWN {
        let _ = write!(
            h,
            "<li class=\"muted\">and {} more (the JSON report lists them all)</li>",
            total - CASES_SHOWN
        );
    }
}

fn operations_section(h: &mut String, s: &Summary) {
    h.push_str(
        "<h2 id=\"operations\">Operations</h2><table><tr><th>operation</th><th>cases</th>\
         <th>passed</th><th>must</th><th>should</th><th>undecided</th><th>errors</th></tr>",
    );
    for (op, o) in &s.operations {
        let class = if o.must > 0 || o.errors > 0 {
            "violated"
        } else if o.should > 0 || o.undecided > 0 {
            "undecided"
        } else {
            "ok"
        };
        let _ = write!(
            h,
            "<tr class=\"{class}\"><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td>\
             <td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
            esc(op),
            o.cases,
            o.passed,
            o.must,
            o.should,
            o.undecided,
            o.errors
        );
    }
    h.push_str("</table>");
}

/// The operations shown as columns: the documented ones, then any other a case ran.
fn columns<'a>(s: &'a Summary, contract: &'a Contract) -> Vec<&'a str> {
    let mut cols: Vec<&str> = contract
        .documented_operations()
        .map(|o| o.id.as_str())
        .collect();
    for op in s.operations.keys() {
        if !cols.contains(&op.as_str()) {
            cols.push(op);
        }
    }
    cols
}

fn cell(h: &mut String, stats: Option<&RuleStats>, accepted: bool) {
    let Some(r) = stats else {
        h.push_str("<td class=\"c never\">not exercised</td>");
        return;
    };
    let (class, text) = match r.status() {
        "violated" if accepted => (
            "accepted",
            format!("accepted {}/{}", r.violated, r.exercised),
        ),
        "violated" => ("violated", format!("✗ {}/{}", r.violated, r.exercised)),
        "undecided" => ("undecided", format!("? {}/{}", r.undecided, r.exercised)),
        "ok" => ("ok", format!("✓ {}", r.exercised)),
        _ => ("never", "not exercised".into()),
    };
    let title = r
        .undecided_reason
        .as_deref()
        .map(|w| format!(" title=\"{}\"", esc(w)))
        .unwrap_or_default();
    let _ = write!(h, "<td class=\"c {class}\"{title}>{}</td>", esc(&text));
}

fn matrix_section(h: &mut String, s: &Summary, contract: &Contract) {
    let cols = columns(s, contract);
    h.push_str(
        "<h2 id=\"matrix\">Rules by operation</h2><p class=\"muted\">Each cell: ✓ cases that \
         passed the rule, ✗ violated/exercised, ? undecided/exercised; a blank cell is a rule \
         the operation does not have. Hover an undecided cell for the reason.</p>\
         <table class=\"matrix\"><tr><th>rule</th><th>severity</th>",
    );
    for c in &cols {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    h.push_str("</tr>");
    // Rules of the catalogue, then schema keywords a case violated.
    let mut ids: Vec<&str> = contract.rules.iter().map(|r| r.id.as_str()).collect();
    let known: BTreeSet<&str> = ids.iter().copied().collect();
    let extra: BTreeSet<&str> = s
        .cells
        .values()
        .flat_map(|rules| rules.keys().map(String::as_str))
        .filter(|id| !known.contains(id))
        .collect();
    ids.extend(extra);
    for id in ids {
        let rule = contract.rules.iter().find(|r| r.id == id);
        let severity = contract.severity_of(id);
        let _ = write!(
            h,
            "<tr><td><code title=\"{}\">{}</code></td><td><span class=\"sev {severity}\">{severity}</span></td>",
            esc(&contract.source_of(id)),
            esc(id)
        );
        for op in &cols {
            let stats = s.cells.get(*op).and_then(|rules| rules.get(id));
            if !rule.map_or(stats.is_some(), |r| r.applies_to(op)) {
                h.push_str("<td class=\"c na\"></td>");
                continue;
            }
            let key = (op.to_string(), id.to_string());
            let accepted = s.accepted.contains_key(&key) && !s.findings.contains_key(&key);
            cell(h, stats, accepted);
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
}

fn keywords_section(h: &mut String, s: &Summary, contract: &Contract) {
    h.push_str(
        "<h2 id=\"keywords\">Schema keywords</h2><p class=\"muted\">The request and path \
         schemas' keywords each operation's generated cases exercised: a negative case breaks \
         the keyword alone, a boundary case sits on its edge. The classes are what the \
         generated cases sent: one per plan (a keyword or rule broken, an edge, a protocol-level \
         request), each counted.</p><table><tr><th>operation</th>\
         <th>keywords</th><th>by a negative case</th><th>by a boundary case</th><th>by neither</th>\
         <th>classes sent</th></tr>",
    );
    let empty = Default::default();
    for op in contract.documented_operations() {
        let names = [Some(&op.path_schema), op.request_schema.as_ref()];
        let all: Vec<&str> = names
            .into_iter()
            .flatten()
            .filter_map(|n| contract.schema(n))
            .flat_map(|sch| sch.keywords.iter().map(|k| k.id.as_str()))
            .collect();
        let cover = s.keywords.get(&op.id).unwrap_or(&empty);
        let neither: Vec<&str> = all
            .iter()
            .copied()
            .filter(|k| !cover.negative.contains(*k) && !cover.boundary.contains(*k))
            .collect();
        let count = |set: &BTreeSet<String>| all.iter().filter(|k| set.contains(**k)).count();
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td>",
            esc(&op.id),
            all.len(),
            count(&cover.negative),
            count(&cover.boundary),
        );
        if neither.is_empty() {
            h.push_str("none");
        } else {
            let _ = write!(h, "<details><summary>{}</summary><ul>", neither.len());
            for k in neither {
                let _ = write!(h, "<li><code>{}</code></li>", esc(k));
            }
            h.push_str("</ul></details>");
        }
        let protocol = (cover.classes.keys())
            .filter(|c| c.starts_with("protocol "))
            .count();
        let _ = write!(
            h,
            "</td><td><details><summary>{} ({protocol} protocol-level)</summary><ul>",
            cover.classes.len()
        );
        for (class, n) in &cover.classes {
            let _ = write!(h, "<li><code>{}</code> ×{n}</li>", esc(class));
        }
        h.push_str("</ul></details></td></tr>");
    }
    h.push_str("</table>");
}

fn undecided_section(h: &mut String, s: &Summary, contract: &Contract) {
    h.push_str("<h2 id=\"undecided\">Undecided rules</h2>");
    let undecided: Vec<_> = s
        .rules
        .iter()
        .filter(|(_, r)| r.status() == "undecided")
        .collect();
    if undecided.is_empty() {
        h.push_str("<p>None: every rule a case exercised was judged.</p>");
        return;
    }
    h.push_str("<table><tr><th>rule</th><th>severity</th><th>cases</th><th>why</th></tr>");
    for (id, r) in undecided {
        let sev = contract.severity_of(id);
        let _ = write!(
            h,
            "<tr class=\"undecided\"><td><code>{}</code></td><td><span class=\"sev {sev}\">{sev}</span></td><td class=n>{}</td><td>{}</td></tr>",
            esc(id),
            r.undecided,
            esc(r.undecided_reason.as_deref().unwrap_or(""))
        );
    }
    h.push_str("</table>");
}

fn baseline_section(h: &mut String, s: &Summary) {
    let Some(b) = &s.baseline else {
        return;
    };
    let stale = s.stale_entries();
    let _ = write!(
        h,
        "<h2 id=\"baseline\">Baseline {}</h2><p>{} entries in force, {} expired, {} stale (matched nothing in this run).</p>",
        esc(&b.path),
        b.entries.len(),
        b.expired.len(),
        stale.len()
    );
    for (title, list) in [
        (
            "expired (they fail the run)",
            b.expired.iter().collect::<Vec<_>>(),
        ),
        ("stale", stale),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = write!(h, "<h3>{title}</h3><ul>");
        for e in list {
            let until = e
                .expires
                .map(|d| format!(" (expires {d})"))
                .unwrap_or_default();
            let _ = write!(
                h,
                "<li><code>{}</code>{}: {}</li>",
                esc(&e.label()),
                esc(&until),
                esc(&e.reason)
            );
        }
        h.push_str("</ul>");
    }
}

fn conflicts_section(h: &mut String, contract: &Contract) {
    let _ = write!(
        h,
        "<h2 id=\"conflicts\">Doc conflicts the contract decided ({})</h2>\
         <table><tr><th>id</th><th>page</th><th>conflict</th><th>decision</th></tr>",
        contract.doc_conflicts.len()
    );
    for c in &contract.doc_conflicts {
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.id),
            esc(&c.page),
            esc(&c.conflict),
            esc(&c.decision)
        );
    }
    h.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::findings::side_by_side;
    use super::*;

    #[test]
    fn markup_in_received_text_is_escaped() {
        assert_eq!(
            esc("<script>alert('x')</script> & \""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;"
        );
    }

    #[test]
    fn a_target_url_is_shown_without_its_credentials() {
        assert_eq!(
            without_userinfo("https://ak:sk@ecs.example.com/x"),
            "https://ecs.example.com/x"
        );
        assert_eq!(
            without_userinfo("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080"
        );
    }

    #[test]
    fn a_unified_diff_becomes_two_columns() {
        let mut h = String::new();
        side_by_side(
            &mut h,
            "--- accepted\n+++ received\n@@ -1,3 +1,3 @@\n {\n-  \"a\": 1\n+  \"a\": 2\n }\n",
        );
        assert!(
            h.contains(
                "<td class=\"del\">  &quot;a&quot;: 1</td><td class=\"add\">  &quot;a&quot;: 2</td>"
            ),
            "{h}"
        );
        assert!(!h.contains("+++"), "{h}");
    }
}
