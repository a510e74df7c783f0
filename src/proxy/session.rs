//! What the proxy makes of each exchange: the answer judged, the client's
//! job queries followed, and every exchange recorded on the event stream
//! the reports read.

use super::*;

impl Proxy {
    pub(super) fn judge(
        &self,
        op: &Operation,
        case_id: String,
        params: Map<String, Value>,
        body: &Bytes,
        outgoing: PreparedRequest,
        exchange: &Exchange,
    ) {
        let contract = &self.contract;
        let curl = Curl::new(outgoing);
        let mut result = CaseResult {
            case_id: case_id.clone(),
            operation: op.id.clone(),
            status: Some(exchange.status),
            response: Some(exchange.body.clone()),
            elapsed: exchange.elapsed,
            replay: curl.as_str().to_string(),
            ..Default::default()
        };
        let json = if op.request_schema.is_some() {
            match serde_json::from_slice::<Value>(body) {
                Ok(v) => Some(v),
                Err(e) => {
                    // Not JSON: the body schema cannot be read; the server's answer still is.
                    result.undecided.push(Undecided::new(
                        crate::contract::ids::STATUS,
                        format!("the client's body is not JSON ({e})"),
                    ));
                    None
                }
            }
        } else {
            None
        };
        let labelled = judge::label(contract, op, case_id.clone(), params, json);
        result.kind = Some(labelled.case.kind);
        result.exercised = labelled.case.exercises.clone();
        if let Some((id, message)) = &labelled.broken {
            result.findings.push(judge::client_finding(
                contract,
                &labelled.case,
                id,
                message,
                &curl,
            ));
        }
        let judged = judge::judge_answer(contract, op, &labelled, exchange, &curl);
        result.findings.extend(judged.findings);
        result.undecided.extend(judged.undecided);
        // A job the answer started is followed through the client's own queries.
        let job_id = judged
            .body
            .as_ref()
            .and_then(|b| b.get("job_id"))
            .and_then(Value::as_str)
            .filter(|_| op.is_async && (200..300).contains(&exchange.status));
        if let Some(job) = job_id {
            let must_fail = judged
                .pending_job_fail
                .then(|| labelled.case.breaks.clone())
                .flatten();
            self.collector.lock().jobs.insert(
                job.to_string(),
                PendingJob {
                    case_id: case_id.clone(),
                    operation: op.id.clone(),
                    must_fail,
                },
            );
        }
        if op.id == "show-job"
            && let Some(answer) = &judged.body
        {
            self.job_read(answer, &labelled.case, &curl, &mut result);
        }
        self.record(result);
    }

    /// A job the client read: judged once it has ended.
    pub(super) fn job_read(
        &self,
        answer: &Value,
        case: &Case,
        curl: &Curl,
        result: &mut CaseResult,
    ) {
        let Some(job_id) = answer.get("job_id").and_then(Value::as_str) else {
            return;
        };
        let status = answer.get("status").and_then(Value::as_str).unwrap_or("");
        if !matches!(status, "SUCCESS" | "FAIL") {
            return;
        }
        let Some(pending) = self.collector.lock().jobs.remove(job_id) else {
            return;
        };
        result
            .exercised
            .push(crate::contract::ids::JOB_FAIL_REASON.into());
        result
            .findings
            .extend(crate::judge::job::fail_reason_conformance(
                &self.contract,
                case,
                answer,
                curl.as_str(),
            ));
        if let Some(rule) = pending.must_fail {
            result.exercised.push(rule.clone());
            if status == "SUCCESS" {
                result.findings.push(
                    Finding::new(
                        &self.contract,
                        &pending.case_id,
                        &pending.operation,
                        &rule,
                        "a refusal, or a job that ends FAIL",
                        format!("job {job_id} ended SUCCESS"),
                    )
                    .reproduced_by(curl.as_str()),
                );
            }
        }
    }

    pub(super) fn record_no_answer(
        &self,
        op: &Operation,
        case_id: String,
        params: Map<String, Value>,
        body: &Bytes,
        outgoing: &PreparedRequest,
        message: &str,
    ) {
        let json = serde_json::from_slice::<Value>(body).ok();
        let labelled = judge::label(&self.contract, op, case_id.clone(), params, json);
        let curl = Curl::new(outgoing.clone());
        let mut result = CaseResult {
            case_id,
            operation: op.id.clone(),
            kind: Some(labelled.case.kind),
            replay: curl.as_str().to_string(),
            ..Default::default()
        };
        result.findings.push(
            Finding::new(
                &self.contract,
                &result.case_id,
                &op.id,
                crate::contract::ids::TRANSPORT,
                "an answer",
                message,
            )
            .reproduced_by(curl.as_str()),
        );
        for id in labelled.case.exercises {
            result
                .undecided
                .push(Undecided::new(&id, "the request got no answer"));
        }
        self.record(result);
    }

    pub(super) fn record_error(&self, case_id: &str, op: Option<&str>, message: &str) {
        self.record(CaseResult {
            case_id: case_id.to_string(),
            operation: op.unwrap_or("unmatched").to_string(),
            error: Some(message.to_string()),
            ..Default::default()
        });
    }

    pub(super) fn record(&self, result: CaseResult) {
        if self.options.stream_findings {
            let mut err = std::io::stderr().lock();
            for f in &result.findings {
                let _ = writeln!(err, "{f}");
            }
            if let Some(e) = &result.error {
                let e = crate::text::escape_controls(e);
                let _ = writeln!(err, "error in {}: {e}", result.case_id);
            }
        }
        let mut c = self.collector.lock();
        c.summary.event(&Event::CaseFinished(&result));
        if let Some(log) = c.log.as_mut() {
            log.event(&Event::CaseFinished(&result));
        }
    }

    /// Ends the session: jobs never read to their end leave their rules undecided.
    pub fn finish(&self) -> Summary {
        let mut c = self.collector.lock();
        let pending: Vec<(String, PendingJob)> = c.jobs.drain().collect();
        for (job, p) in pending {
            if let Some(rule) = p.must_fail {
                let result = CaseResult {
                    case_id: p.case_id,
                    operation: p.operation,
                    exercised: vec![rule.clone()],
                    undecided: vec![Undecided::new(
                        &rule,
                        format!("the client never read job {job} to its end"),
                    )],
                    ..Default::default()
                };
                c.summary.event(&Event::CaseFinished(&result));
                if let Some(log) = c.log.as_mut() {
                    log.event(&Event::CaseFinished(&result));
                }
            }
        }
        let end = RunEnd {
            elapsed: c.started.elapsed(),
            requests: c.exchanges,
            ..Default::default()
        };
        c.summary.event(&Event::RunFinished(&end));
        c.summary.planned = c.summary.cases;
        c.summary.proxied = true;
        std::mem::take(&mut c.summary)
    }
}
