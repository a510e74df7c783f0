//! The report files a run and a proxy session share: checked before they
//! start, written atomically when they end.

use std::path::{Path, PathBuf};

use crate::cli::ReportFiles;
use crate::contract::Contract;
use crate::error::Error;
use crate::files::{check_writable, write_atomic};
use crate::report::{Gate, Summary, html, json, junit};
use crate::target::Target;

impl ReportFiles {
    /// The files asked for.
    pub fn paths(&self) -> impl Iterator<Item = &PathBuf> {
        [&self.report_json, &self.junit, &self.report_html]
            .into_iter()
            .flatten()
    }

    /// Fails before anything starts when one of `outputs` cannot be
    /// written: it is not absent or a regular file, it names the same file
    /// as another output, or it is one of `inputs` (the target file, say).
    pub fn check_writable(outputs: &[&Path], inputs: &[&Path]) -> Result<(), Error> {
        if let Some((path, clash)) = crate::files::find_clash(outputs, inputs) {
            let what = if inputs.contains(&clash) {
                "an input of this command"
            } else {
                "another output of this command"
            };
            return Err(Error::file(
                path,
                format!(
                    "cannot write the report there: it is {what} ({})",
                    clash.display()
                ),
            ));
        }
        for path in outputs {
            check_writable(path)
                .map_err(|e| Error::file(path, format!("cannot write the report there: {e}")))?;
        }
        Ok(())
    }

    /// Writes every report asked for; `log` holds the JSON report's cases
    /// when they were streamed to a file beside it.
    pub fn write(
        &self,
        summary: &Summary,
        contract: &Contract,
        gate: Gate,
        target: &Target,
        log: Option<&mut json::CaseLog>,
    ) -> Result<(), Error> {
        if let Some(path) = &self.report_json {
            json::write_report(path, &json::to_json(summary, contract, gate), log)
                .map_err(|e| Error::file(path, format!("cannot write the report: {e}")))?;
        }
        if let Some(path) = &self.junit {
            write_atomic(path, junit::to_junit(summary, gate)?.as_bytes())
                .map_err(|e| Error::file(path, format!("cannot write the JUnit report: {e}")))?;
        }
        if let Some(path) = &self.report_html {
            let urls = [
                ("ECS URL", target.ecs_url.clone()),
                ("VPC URL", target.vpc_url.clone()),
            ];
            let page = html::to_html(summary, contract, gate, &urls);
            write_atomic(path, page.as_bytes())
                .map_err(|e| Error::file(path, format!("cannot write the HTML report: {e}")))?;
        }
        Ok(())
    }
}
