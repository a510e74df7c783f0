//! Fields the run changes on resources it did not make: written down
//! before the first change and put back at the end (and by `cleanup`).
//! A port the server had before the run (its primary NIC, say) is updated
//! only once its fields are in the ledger; if they cannot be read, the
//! case is not sent.

use serde_json::{Map, Value};

use crate::case::Case;
use crate::contract::{Check, Operation, pointer};
use crate::ledger::{Entry, Outstanding, Recorded};
use crate::runner::Runner;
use crate::runner::preflight::Preflight;

/// The update that changes a port's attachment fields.
pub(super) const PORT_UPDATE: &str = "update-interface-attachment";

impl Runner {
    /// The read-back rule that names what `op` changes: the listing that
    /// shows it, keyed by a path parameter.
    fn field_read<'c>(&'c self, op: &Operation) -> Option<(&'c Check, &'c Operation)> {
        let rule = self.contract.rule_where(
            &op.id,
            |c| matches!(c, Check::ReadBack { key_from, .. } if key_from.starts_with("/path/")),
        )?;
        let Check::ReadBack { read, .. } = &rule.check else {
            return None;
        };
        Some((&rule.check, self.contract.operation(read)?))
    }

    /// Before a case updates a port the server had before the run, its
    /// updatable fields are read and written to the ledger (once per port).
    /// `Err` says why the case must not be sent.
    pub(super) async fn record_port_fields(
        &self,
        case: &Case,
        op: &Operation,
    ) -> Result<(), String> {
        let Some((Check::ReadBack { key_from, .. }, _)) = self.field_read(op) else {
            return Ok(());
        };
        let name = key_from.trim_start_matches("/path/");
        let Some(port) = case.path_params.get(name).and_then(Value::as_str) else {
            return Ok(());
        };
        let before_run = self
            .lab
            .attached_before
            .get()
            .is_some_and(|b| b.iter().any(|p| p == port));
        if !before_run {
            return Ok(());
        }
        if self.port_fields_known(port) {
            return Ok(());
        }
        let fields = self.read_port_fields(op, port).await?;
        self.record_first(Entry::PortFields {
            port_id: port.to_string(),
            fields: fields.clone(),
        })
        .await?;
        self.lab
            .port_fields
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((port.to_string(), fields));
        Ok(())
    }

    fn port_fields_known(&self, port: &str) -> bool {
        let known = self
            .lab
            .port_fields
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        known.iter().any(|(p, _)| p == port)
    }

    /// A port's fields that `op` can update, as its read-back listing shows them now.
    async fn read_port_fields(&self, op: &Operation, port: &str) -> Result<Value, String> {
        let Some((Check::ReadBack { list, key, .. }, read)) = self.field_read(op) else {
            return Err(format!("{} has no read that shows its fields", op.id));
        };
        let call = format!("{} {}", read.method, read.path);
        let params = self.params(read, &[]);
        let answer = match self.client.send(read, &params, None).await {
            Ok(a) if a.status == 200 => serde_json::from_slice::<Value>(&a.body)
                .map_err(|_| format!("{call} answered without JSON"))?,
            Ok(a) => return Err(format!("{call} answered {}", a.status)),
            Err(e) => return Err(format!("{call}: {e}")),
        };
        let item = pointer::get(&answer, list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|i| i.get(key).and_then(Value::as_str) == Some(port))
            .ok_or_else(|| format!("{call} does not list the {key} {port}"))?;
        let mut fields = Map::new();
        for (_, field) in self.updatable_fields(&op.id) {
            let value = item
                .get(&field)
                .ok_or_else(|| format!("{call} shows no {field} for the {key} {port}"))?;
            fields.insert(field, value.clone());
        }
        Ok(Value::Object(fields))
    }

    /// The fields the ledger's last run recorded that differ from what the
    /// target shows now, one line each (for `doctor`).
    pub async fn fields_differing(
        &self,
        ledger: Option<&Outstanding>,
        found: &Preflight,
    ) -> Vec<String> {
        let mut out = Vec::new();
        let Some(o) = ledger else {
            return out;
        };
        let port_update = self.contract.operation(PORT_UPDATE);
        for record in &o.recorded {
            let (what, was, now) = match record {
                Recorded::SubNic { id, fields } => {
                    let now = found.sub_nics.iter().find(|(i, _)| i == id).map(|(_, f)| f);
                    (
                        format!("supplementary NIC {id}"),
                        fields,
                        now.cloned().ok_or("not read".to_string()),
                    )
                }
                Recorded::Port { port_id, fields } => {
                    let now = match port_update {
                        Some(op) => self.read_port_fields(op, port_id).await,
                        None => Err("no update operation".into()),
                    };
                    (format!("port {port_id}"), fields, now)
                }
            };
            match now {
                Ok(now) => {
                    let changed: Vec<String> = was
                        .as_object()
                        .into_iter()
                        .flatten()
                        .filter(|(k, v)| now.get(k.as_str()) != Some(*v))
                        .map(|(k, v)| {
                            let shown = now.get(k.as_str()).map(Value::to_string);
                            format!(
                                "{k} is {} (the run found {v})",
                                shown.unwrap_or("absent".into())
                            )
                        })
                        .collect();
                    if !changed.is_empty() {
                        out.push(format!("{what}: {}", changed.join("; ")));
                    }
                }
                Err(why) => out.push(format!(
                    "{what}: cannot compare with the ledger's record: {why}"
                )),
            }
        }
        out
    }
}
