//! Checks on the target's state around one case, as functions of the
//! catalogue's rules, the case's request view, the answer, and what was
//! observed (listings, the job's end, reads). No HTTP here: the runner
//! observes, these decide.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::case::Case;
use crate::contract::{Check, Contract, Effect, Operation, Rule, ids, pointer};
use crate::judge::observed::{JobOutcome, Listing};
use crate::judge::{Finding, Undecided};

/// One case after its answer: what the state checks read.
pub struct StateEvidence<'a> {
    pub contract: &'a Contract,
    pub op: &'a Operation,
    pub case: &'a Case,
    /// The request as the rules read it.
    pub view: &'a Value,
    /// The answer's body, when it was JSON.
    pub body: Option<&'a Value>,
    /// How the job ended, for an asynchronous operation whose job was followed.
    pub job: Option<&'a JobOutcome>,
    pub reproduce: &'a str,
    /// The target's subnet has an IPv6 range (the fixtures give `subnet_ipv6_cidr`).
    pub ipv6_subnet: bool,
}

impl StateEvidence<'_> {
    fn finding(&self, id: &str, expected: impl Into<String>, actual: impl Into<String>) -> Finding {
        Finding::new(
            self.contract,
            &self.case.id,
            &self.case.operation,
            id,
            expected,
            actual,
        )
        .reproduced_by(self.reproduce)
    }

    fn job_succeeded(&self) -> bool {
        self.job.is_some_and(JobOutcome::succeeded)
    }

    /// The ports an effect rule says the request attached or detached: those
    /// it names, else (a new NIC on a network) the one a synchronous answer
    /// returns, and for an attach job that succeeded, the NICs the job reports.
    pub fn effect_targets(&self, check: &Check) -> Vec<String> {
        let Check::AsyncEffect { effect, .. } = check else {
            return Vec::new();
        };
        let mut ports = check.effect_ports(self.view);
        if ports.is_empty() && !self.op.is_async {
            let at = self.contract.attached_port_pointer(&self.op.id);
            ports.extend(
                at.zip(self.body)
                    .and_then(|(at, b)| pointer::get(b, at))
                    .and_then(Value::as_str)
                    .map(|p| p.trim().to_string()),
            );
        }
        if let Some(j) = self
            .job
            .filter(|j| j.succeeded() && *effect == Effect::Attach)
        {
            ports.extend(j.nic_ids.iter().cloned());
        }
        ports
    }

    /// The NICs the request made (attached, but not ports it named): the run
    /// deletes them. A batch that failed as a whole may still have made some:
    /// those whose own sub-job succeeded.
    pub fn created_ports(&self, named: &[String], primary: &str) -> Vec<String> {
        let Some(rule) = self.contract.effect_rule(&self.op.id, Effect::Attach) else {
            return Vec::new();
        };
        let mut ports = self.effect_targets(&rule.check);
        ports.extend(
            self.job
                .iter()
                .flat_map(|j| j.nics_done())
                .map(str::to_string),
        );
        ports.sort();
        ports.dedup();
        ports.retain(|p| !named.contains(p) && p != primary);
        ports
    }

    /// The rules [`effects_conformance`] would judge from the job's end and a
    /// listing: undecided, with `reason`, when those could not be observed.
    pub fn effects_undecided(&self, reason: &str) -> Vec<Undecided> {
        self.contract
            .rules_for(&self.op.id)
            .filter(|r| {
                matches!(r.check, Check::AsyncEffect { .. })
                    || r.check.server_assigns_every_address(self.view)
                    || r.check.requested_address(self.view).is_some()
                    || (self.ipv6_subnet && r.check.every_made_nic_asks_ipv6(self.view))
                    || r.check
                        .ignored_values(self.view)
                        .iter()
                        .any(|(_, field, _)| is_listed_field(field))
            })
            .map(|r| Undecided::new(&r.id, reason))
            .collect()
    }

    /// Whether [`effects_conformance`] has anything to look for in a listing.
    pub fn effects_need_listing(&self) -> bool {
        let rules = || self.contract.rules_for(&self.op.id);
        let effect = rules().any(|r| matches!(r.check, Check::AsyncEffect { .. }))
            && (!self.op.is_async || self.job_succeeded());
        let ignored_address = self.job_succeeded()
            && rules().any(|r| {
                r.check
                    .ignored_values(self.view)
                    .iter()
                    .any(|(_, field, _)| is_listed_field(field))
            });
        effect || ignored_address
    }
}

/// The one field of a NIC the attachment list shows that a request can ask
/// for and a rule can say is ignored.
fn is_listed_field(field: &str) -> bool {
    field == "ip_address"
}

/// After an accepted request: the promised state change happened. `listing`
/// is the server's attachments after the request (none: not observed).
pub fn effects_conformance(e: &StateEvidence, listing: Option<&Listing>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let rules = || e.contract.rules_for(&e.op.id);
    for rule in rules() {
        let Check::AsyncEffect { effect, .. } = &rule.check else {
            continue;
        };
        if e.op.is_async {
            match e.job {
                Some(j) if j.succeeded() => {}
                Some(j) => {
                    findings.push(e.finding(&rule.id, "job SUCCESS", format!("job {}", j.status)));
                    continue;
                }
                None => continue, // the job query's own finding says why
            }
        }
        let Some(listed) = listing else { continue };
        let ports = e.effect_targets(&rule.check);
        let winners: Vec<String> = rules()
            .flat_map(|r| r.check.precedence_winners(e.view))
            .collect();
        let precedence = rules().find(|r| matches!(r.check, Check::Precedence { .. }));
        for p in ports.iter().collect::<BTreeSet<_>>() {
            let is_listed = listed.contains(p);
            match effect {
                Effect::Attach if !is_listed => {
                    // A named port that won over another field: the precedence rule broke.
                    let id = match precedence {
                        Some(r) if winners.contains(p) => &r.id,
                        _ => &rule.id,
                    };
                    findings.push(e.finding(
                        id,
                        format!("port {p} listed among the server's interfaces"),
                        "not listed",
                    ));
                }
                Effect::Detach if is_listed => findings.push(e.finding(
                    &rule.id,
                    format!("port {p} no longer listed"),
                    "still listed",
                )),
                _ => {}
            }
        }
    }
    if !e.job_succeeded() {
        return findings;
    }
    let Some(listing) = listing else {
        return findings;
    };
    findings.extend(assigned_addresses(e, listing));
    for rule in rules() {
        for (port, field, value) in rule.check.ignored_values(e.view) {
            if is_listed_field(&field) && listing.addresses(&port).contains(&&value) {
                findings.push(e.finding(
                    &rule.id,
                    format!("port {port} keeps its own address ({field} {value} ignored)"),
                    format!("port has {value}"),
                ));
            }
        }
    }
    findings
}

/// The NICs a job made where the server was to pick the address are each
/// listed with one (judged only when it picked every address, since a
/// listing does not say which NIC came from which request object).
fn assigned_addresses(e: &StateEvidence, listing: &Listing) -> Vec<Finding> {
    let Some(attach) = e.contract.effect_rule(&e.op.id, Effect::Attach) else {
        return Vec::new();
    };
    let named = attach.check.effect_ports(e.view);
    let made: BTreeSet<String> = e
        .effect_targets(&attach.check)
        .into_iter()
        .filter(|p| !named.contains(p))
        .collect();
    let mut findings = Vec::new();
    for rule in e.contract.rules_for(&e.op.id) {
        let Some(asked) = rule.check.requested_address(e.view) else {
            continue;
        };
        // One new NIC asked for one address: it holds that address.
        if let [port] = &made.iter().collect::<Vec<_>>()[..]
            && listing.contains(port)
            && !listing
                .addresses(port)
                .iter()
                .any(|a| a.as_str() == Some(&asked))
        {
            findings.push(e.finding(
                &rule.id,
                format!("port {port} listed with {asked} (the address asked for)"),
                format!("listed with [{}]", listing.address_texts(port).join(", ")),
            ));
        }
    }
    for rule in e.contract.rules_for(&e.op.id) {
        let (wanted, lacks): (&str, fn(&[&Value]) -> bool) =
            if rule.check.server_assigns_every_address(e.view) {
                ("the address the server assigned", |a| a.is_empty())
            } else if e.ipv6_subnet && rule.check.every_made_nic_asks_ipv6(e.view) {
                (
                    "an IPv6 address (ipv6_enable, and the subnet has IPv6)",
                    |a| {
                        !a.iter()
                            .any(|v| v.as_str().is_some_and(|s| s.contains(':')))
                    },
                )
            } else {
                continue;
            };
        for port in made.iter().filter(|p| listing.contains(p)) {
            let addresses = listing.addresses(port);
            if lacks(&addresses) {
                let shown: Vec<String> = addresses.iter().map(|a| a.to_string()).collect();
                findings.push(e.finding(
                    &rule.id,
                    format!("port {port} listed with {wanted}"),
                    format!("listed with [{}]", shown.join(", ")),
                ));
            }
        }
    }
    findings
}

/// The NICs the server had before the run that no case may touch (the
/// primary, and others' NICs) are listed after it as they were: `before`
/// holds each with its sorted addresses, `after_addresses` reads a port's.
pub fn frame_conformance(
    e: &StateEvidence,
    before: &[(String, Vec<String>)],
    primary: &str,
    after: &Listing,
    after_addresses: impl Fn(&str) -> Vec<String>,
) -> Vec<(String, Finding)> {
    let mut findings = Vec::new();
    for (port, addresses) in before {
        let id = if port == primary {
            ids::FRAME_PRIMARY
        } else {
            ids::FRAME_OTHERS
        };
        let expected = format!(
            "port {port} listed with [{}], as before the run",
            addresses.join(", ")
        );
        if !after.contains(port) {
            findings.push((port.clone(), e.finding(id, expected, "no longer listed")));
            continue;
        }
        let now = after_addresses(port);
        if &now != addresses {
            let actual = format!("listed with [{}]", now.join(", "));
            findings.push((port.clone(), e.finding(id, expected, actual)));
        }
    }
    findings
}

/// After a rejected request: the ports it named are as they were.
pub fn unchanged_conformance(
    e: &StateEvidence,
    broken: &str,
    named: &[String],
    before: &Listing,
    after: &Listing,
) -> Vec<Finding> {
    let state = |l: &Listing, p: &str| {
        if l.contains(p) {
            "attached"
        } else {
            "not attached"
        }
    };
    // In a batch judged NIC by NIC, a NIC whose own sub-job succeeded may have changed.
    let done = |p: &str| e.job.is_some_and(|j| j.nic_done(p));
    named
        .iter()
        .filter(|p| !done(p) && before.contains(p) != after.contains(p))
        .map(|p| {
            e.finding(
                broken,
                format!(
                    "a rejected request changes nothing (port {p} {})",
                    state(before, p)
                ),
                format!("port {p} {}", state(after, p)),
            )
        })
        .collect()
}

/// A job's sub-jobs agree with what was observed: a NIC whose attach
/// sub-job succeeded is listed, and a job that ended FAIL names the NIC that
/// failed (a sub-job that is not SUCCESS), when it reports sub-jobs at all.
pub fn sub_jobs_conformance(e: &StateEvidence, after: &Listing) -> Vec<Finding> {
    let Some(job) = e.job else {
        return Vec::new();
    };
    let Some(rule) = e.contract.effect_rule(&e.op.id, Effect::Attach) else {
        return Vec::new();
    };
    let mut findings: Vec<Finding> = job
        .nics_done()
        .filter(|nic| !after.contains(nic))
        .map(|nic| {
            e.finding(
                &rule.id,
                format!("port {nic} listed (its sub-job ended SUCCESS)"),
                "not listed",
            )
        })
        .collect();
    // Which sub-job fails is the job query's, borrowed from another page: a
    // FAIL job naming no failed NIC is noted at that rule's `should`.
    let none_failed = job.sub_jobs.iter().all(|(_, status)| status == "SUCCESS");
    if !job.succeeded() && !job.sub_jobs.is_empty() && none_failed {
        findings.push(e.finding(
            ids::JOB_FAIL_REASON,
            "a FAIL job names the NIC that failed (a sub-job not SUCCESS)",
            "every sub-job SUCCESS",
        ));
    }
    findings
}

/// After a success, the auxiliary read shows what was sent (a `read_back`
/// rule): the listed item the request named has the field as sent. A read
/// that does not show the item or the field (the list is borrowed, its fields
/// optional) leaves the rule undecided: `Err` with the reason.
pub fn read_back_conformance(
    e: &StateEvidence,
    rule: &Rule,
    answer: &Value,
) -> Result<Option<Finding>, String> {
    if let Check::OnlyUpdates {
        list,
        key,
        key_from,
        field,
        ..
    } = &rule.check
    {
        let Some(named) = pointer::get(e.view, key_from) else {
            return Ok(None);
        };
        let item = read_item(answer, list, key, named)?;
        let applied: Vec<String> = rule
            .check
            .other_fields_sent(e.view)
            .into_iter()
            .filter(|(k, v)| item.get(k.as_str()) == Some(*v))
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        if applied.is_empty() {
            return Ok(None);
        }
        let expected =
            format!("only {field} updated on the {key} {named}; other fields refused or ignored");
        return Ok(Some(e.finding(
            &rule.id,
            expected,
            format!("applied: {}", applied.join(", ")),
        )));
    }
    let Check::ReadBack {
        list,
        key,
        key_from,
        field,
        from,
        ..
    } = &rule.check
    else {
        return Ok(None);
    };
    let (Some(named), Some(sent)) = (pointer::get(e.view, key_from), pointer::get(e.view, from))
    else {
        return Ok(None);
    };
    let item = read_item(answer, list, key, named)?;
    let Some(shown) = item.get(field) else {
        return Err(format!("the read shows no {field} for the {key} {named}"));
    };
    if shown == sent {
        return Ok(None);
    }
    let expected = format!("{field} {sent} on the {key} {named} (as sent)");
    Ok(Some(e.finding(&rule.id, expected, shown.to_string())))
}

/// The item of a read's list whose `key` is `named`.
fn read_item<'a>(
    answer: &'a Value,
    list: &str,
    key: &str,
    named: &Value,
) -> Result<&'a Value, String> {
    pointer::get(answer, list)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|i| i.get(key) == Some(named))
        .ok_or_else(|| format!("the read does not list the {key} {named}"))
}

/// A dry run left the resource's updatable fields as they were.
pub fn dry_run_conformance(
    e: &StateEvidence,
    before: &Value,
    after: Option<&Value>,
) -> Option<Finding> {
    let rule = e
        .contract
        .rule_where(&e.op.id, |c| matches!(c, Check::DryRun { .. }))?;
    let after = after.filter(|a| *a != before)?;
    Some(e.finding(&rule.id, format!("no change ({before})"), after.to_string()))
}

/// An accepted request that broke a rule is conforming only if its job ends FAIL.
pub fn job_failed_conformance(e: &StateEvidence, status: u16) -> Option<Finding> {
    let job = e.job.filter(|j| j.succeeded())?;
    let id = e.case.breaks.as_deref().unwrap_or_default();
    Some(e.finding(
        id,
        format!("{}", e.case.expect),
        format!("{status} and a job that ended {}", job.status),
    ))
}

/// An asynchronous success promises a job id at once: without one, every
/// effect rule of the operation is broken (nothing can be followed).
pub fn job_id_conformance(e: &StateEvidence, status: u16) -> Vec<Finding> {
    e.contract
        .rules_for(&e.op.id)
        .filter(|r| matches!(r.check, Check::AsyncEffect { .. }))
        .map(|r| {
            e.finding(
                &r.id,
                "a job_id to follow",
                format!("{status} with no job_id"),
            )
        })
        .collect()
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
