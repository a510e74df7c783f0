//! The fleet page: several targets' runs side by side, one column each.

use std::fmt::Write;

use serde_json::Value;

use super::{STYLE, esc};
use crate::contract::Contract;
use crate::report::fleet::Fleet;

/// The fleet as one self-contained HTML document.
pub fn fleet_html(fleet: &Fleet, contract: &Contract) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let code = fleet.exit_code();
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>nic-conformance fleet: {} targets (exit {code})</title><style>{STYLE}</style></head><body><main>\n\
         <h1>Conformance of {} targets</h1><div class=\"verdict {}\">{}</div>",
        fleet.members.len(),
        fleet.members.len(),
        if code == 0 { "pass" } else { "fail" },
        if code == 0 {
            "every run passed".to_string()
        } else {
            let failed = (fleet.members.iter())
                .filter(|m| m.report.number("exit_code") != Some(0))
                .count();
            format!("{failed} of {} runs did not pass", fleet.members.len())
        }
    );
    targets_section(&mut h, fleet, contract);
    matrix_section(&mut h, fleet, contract);
    findings_section(&mut h, fleet, contract);
    h.push_str("</main></body></html>\n");
    h
}

fn targets_section(h: &mut String, fleet: &Fleet, contract: &Contract) {
    h.push_str(
        "<h2 id=\"targets\">Targets</h2><table><tr><th>target</th><th>exit</th><th>seed</th>\
         <th>contract</th><th>started</th><th>report</th></tr>",
    );
    for m in &fleet.members {
        let r = &m.report;
        let digest = r.text("contract_digest");
        let mut contract_cell = esc(&digest[..12.min(digest.len())]);
        if m.other_contract {
            contract_cell.push_str(" <span class=\"sev should\">other contract</span>");
        } else if digest != contract.digest {
            contract_cell.push_str(" <span class=\"muted\">(not this binary's)</span>");
        }
        let mut seed = r.seed().map_or("—".into(), |s| s.to_string());
        if m.other_seed {
            seed.push_str(" <span class=\"sev should\">other seed</span>");
        }
        let exit = r.number("exit_code").unwrap_or(-1);
        let _ = write!(
            h,
            "<tr><th>{}</th><td class=\"{}\" title=\"{}\">{exit}</td><td>{seed}</td><td>{contract_cell}</td>\
             <td>{}</td><td><code>{}</code></td></tr>",
            esc(&m.label),
            if exit == 0 { "ok" } else { "violated" },
            esc(r.text("exit_reason")),
            esc(r.text("started")),
            esc(&r.path.display().to_string()),
        );
    }
    h.push_str("</table>");
}

fn matrix_section(h: &mut String, fleet: &Fleet, contract: &Contract) {
    h.push_str("<h2 id=\"matrix\">Rules by target</h2><table class=\"matrix\"><tr><th>rule</th><th>severity</th>");
    for m in &fleet.members {
        let _ = write!(h, "<th>{}</th>", esc(&m.label));
    }
    h.push_str("</tr>");
    for id in &fleet.rules {
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td><span class=\"sev {sev}\">{sev}</span></td>",
            esc(id),
            sev = contract.severity_of(id)
        );
        for i in 0..fleet.members.len() {
            let (class, text) = match fleet.status(id, i) {
                "ok" => ("ok", "passed"),
                "violated" => ("violated", "violated"),
                "undecided" => ("undecided", "undecided"),
                "not served" => ("na", "not served"),
                "never exercised" => ("never", "not exercised"),
                _ => ("na", "—"),
            };
            let _ = write!(h, "<td class=\"c {class}\">{text}</td>");
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
}

fn findings_section(h: &mut String, fleet: &Fleet, contract: &Contract) {
    let _ = write!(
        h,
        "<h2 id=\"findings\">Findings by rule ({})</h2>",
        fleet.findings.len()
    );
    for (id, list) in &fleet.findings {
        let sev = contract.severity_of(id);
        let targets: Vec<&str> = list
            .iter()
            .map(|(i, _)| fleet.members[*i].label.as_str())
            .collect();
        let mut targets_seen = targets.clone();
        targets_seen.dedup();
        let _ = write!(
            h,
            "<details open><summary><span class=\"sev {sev}\">{sev}</span> <code>{}</code> on {}</summary>",
            esc(id),
            esc(&targets_seen.join(", "))
        );
        h.push_str("<table><tr><th>target</th><th>operation</th><th>cases</th><th>expected</th><th>actual</th></tr>");
        for (i, f) in list {
            let s = |k: &str| f.get(k).and_then(Value::as_str).unwrap_or("");
            let _ = write!(
                h,
                "<tr><th>{}</th><td>{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(&fleet.members[*i].label),
                esc(s("operation")),
                f.get("count").and_then(Value::as_u64).unwrap_or(0),
                esc(s("expected")),
                esc(s("actual")),
            );
        }
        h.push_str("</table></details>");
    }
}
