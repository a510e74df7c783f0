//! Curated cases: the files in `cases/` (a copy built into the binary),
//! read into [`Case`]s with the fixtures substituted and their addresses
//! placed, and the regression files a shrunk failure is saved to.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::case::{Case, CaseKind, curated_id, default_path_params};
use crate::contract::{Contract, Expect, ids};
use crate::files::write_atomic;
use crate::fixtures::Fixtures;

/// A problem in a curated case file.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {message}", if pointer.is_empty() { String::new() } else { format!(" at {pointer}") })]
pub struct CaseFileError {
    pub file: String,
    pub pointer: String,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    operation: String,
    cases: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CuratedCase {
    name: String,
    #[serde(default)]
    description: String,
    /// Overrides of the default path parameters.
    #[serde(default)]
    path: Map<String, Value>,
    body: Option<Value>,
    /// The promised status: "200", "202", "403", "4xx".
    expect: String,
    /// The id the case breaks, if any.
    #[serde(default)]
    breaks: Option<String>,
    /// The request rests on a reading the pages leave open (recorded in
    /// `schemas/doc-conflicts.json`): its status is judged at `should`.
    #[serde(default)]
    open_reading: bool,
}

/// A curated case's promised outcome; the error names the field (`/expect`,
/// `/breaks`) and what is wrong with it.
fn curated_expect(contract: &Contract, c: &CuratedCase) -> Result<Expect, (&'static str, String)> {
    let mut expect = parse_expect(&c.expect).ok_or_else(|| {
        (
            "/expect",
            format!("`{}` is not a status or `4xx`", c.expect),
        )
    })?;
    let Some(b) = &c.breaks else {
        return Ok(expect);
    };
    if let Some(rule_expect) = contract.rule(b).and_then(|r| r.expect) {
        expect.async_fail_ok = rule_expect.async_fail_ok;
    }
    let known = contract.rule(b).is_some() || contract.all_keywords().any(|k| &k.id == b);
    if !known {
        return Err((
            "/breaks",
            format!("`{b}` is neither a rule nor a schema keyword id"),
        ));
    }
    Ok(expect)
}

/// Replaces `{fixture_name}`, `{project_id}` and `{unknown_id}` in every string.
fn substitute(value: &mut Value, project_id: &str, fixtures: &Fixtures) {
    match value {
        Value::String(s) if s.contains('{') => {
            let mut out = s
                .replace("{project_id}", project_id)
                .replace("{unknown_id}", "00000000-0000-4000-8000-00000000dead");
            for name in Fixtures::NAMES {
                out = out.replace(
                    &format!("{{{name}}}"),
                    fixtures.get(name).unwrap_or_default(),
                );
            }
            *s = out;
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| substitute(v, project_id, fixtures)),
        Value::Object(map) => map
            .values_mut()
            .for_each(|v| substitute(v, project_id, fixtures)),
        _ => {}
    }
}

fn parse_expect(s: &str) -> Option<Expect> {
    match s {
        "4xx" => Some(Expect::CLIENT_ERROR),
        _ => s
            .parse::<u16>()
            .ok()
            .filter(|s| (100..600).contains(s))
            .map(Expect::exact),
    }
}

/// The curated case files compiled into the binary (`cases/`), so a run needs no checkout.
pub const BUILTIN_CASES: &[(&str, &str)] = &[
    (
        "cases/batch-add-nics.json",
        include_str!("../cases/batch-add-nics.json"),
    ),
    (
        "cases/batch-delete-nics.json",
        include_str!("../cases/batch-delete-nics.json"),
    ),
    (
        "cases/nova-attach-interface.json",
        include_str!("../cases/nova-attach-interface.json"),
    ),
    (
        "cases/update-interface-attachment.json",
        include_str!("../cases/update-interface-attachment.json"),
    ),
    (
        "cases/update-sub-network-interface.json",
        include_str!("../cases/update-sub-network-interface.json"),
    ),
];

/// The built-in curated cases, with ids filled from the fixtures.
pub fn builtin_curated(
    contract: &Contract,
    project_id: &str,
    fixtures: &Fixtures,
) -> Result<Vec<Case>, CaseFileError> {
    let mut cases = Vec::new();
    for (file, text) in BUILTIN_CASES {
        cases.extend(parse_curated(file, text, contract, project_id, fixtures)?);
    }
    Ok(cases)
}

/// Loads every `*.json` in `dir` as curated cases, with ids filled from the fixtures.
pub fn load_curated(
    dir: &Path,
    contract: &Contract,
    project_id: &str,
    fixtures: &Fixtures,
) -> Result<Vec<Case>, CaseFileError> {
    let mut files: Vec<_> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect(),
        Err(e) => {
            return Err(CaseFileError {
                file: dir.display().to_string(),
                pointer: String::new(),
                message: format!("cannot read the cases folder: {e}"),
            });
        }
    };
    files.sort();
    let mut cases = Vec::new();
    for path in files {
        let text =
            crate::files::read_text_capped(&path, crate::files::MAX_INPUT_BYTES).map_err(|e| {
                CaseFileError {
                    file: path.display().to_string(),
                    pointer: String::new(),
                    message: e.to_string(),
                }
            })?;
        cases.extend(parse_curated(
            &path.display().to_string(),
            &text,
            contract,
            project_id,
            fixtures,
        )?);
    }
    Ok(cases)
}

pub fn parse_curated(
    file: &str,
    text: &str,
    contract: &Contract,
    project_id: &str,
    fixtures: &Fixtures,
) -> Result<Vec<Case>, CaseFileError> {
    let err = |pointer: String, message: String| CaseFileError {
        file: file.to_string(),
        pointer,
        message,
    };
    let parsed: CaseFile = serde_json::from_str(text)
        .map_err(|e| err(String::new(), format!("not a case file: {e}")))?;
    let unknown = format!("unknown operation `{}`", parsed.operation);
    let op =
        (contract.operation(&parsed.operation)).ok_or_else(|| err("/operation".into(), unknown))?;
    let mut out: Vec<Case> = Vec::new();
    for (i, raw) in parsed.cases.into_iter().enumerate() {
        let at = |s: &str| format!("/cases/{i}{s}");
        let mut c: CuratedCase =
            serde_json::from_value(raw).map_err(|e| err(at(""), e.to_string()))?;
        // The name is the case's id: two cases with one name could not be told apart.
        if out.iter().any(|o| o.id == curated_id(&op.id, &c.name)) {
            return Err(err(
                at("/name"),
                format!("a case named `{}` is already in this file", c.name),
            ));
        }
        let mut expect = curated_expect(contract, &c).map_err(|(p, m)| err(at(p), m))?;
        // The page prints no success status: the case's 200 is the usual one, any 2xx passes.
        if expect.status == Some(op.success_status) && !op.success_status_printed {
            expect = op.success_expect();
        }
        let mut path_params = default_path_params(op, project_id, fixtures);
        for (k, v) in std::mem::take(&mut c.path) {
            if !path_params.contains_key(&k) {
                return Err(err(
                    at(&format!("/path/{k}")),
                    format!("the path of {} has no parameter `{k}`", op.id),
                ));
            }
            path_params.insert(k, v);
        }
        let mut body = c.body.take();
        for v in path_params.values_mut().chain(body.iter_mut()) {
            substitute(v, project_id, fixtures);
        }
        let mut view = Contract::view(path_params.clone(), body.clone().unwrap_or(Value::Null));
        // The pages' example addresses are not the target's: a case takes
        // them from the fixture subnet, and one that should succeed leaves
        // them to the server where there is no range.
        let has_range = fixtures.subnet_ranges() != (None, None);
        if body.is_some() && (has_range || expect.matches(200)) {
            let key = crate::generate::key_of(&[&op.id, &c.name]);
            crate::generate::addresses::place(contract, op, fixtures, &mut view, key);
            body = view.get("body").cloned();
        }
        let (exercises, open_reading) =
            exercises_of(contract, op, &view, &c, &expect, fixtures, project_id);
        out.push(Case {
            id: curated_id(&op.id, &c.name),
            operation: op.id.clone(),
            kind: CaseKind::Curated,
            expect,
            breaks: c.breaks,
            exercises,
            path_params,
            body,
            setup: op.setup,
            description: c.description,
            open_reading,
            malformed: None,
            class: String::new(),
        });
    }
    Ok(out)
}

/// What a curated case exercises: the rules its request touches (not the
/// protocol-level or open-reading ones unless it says so), the rule it
/// breaks first; and whether it rests on a reading the pages leave open.
fn exercises_of(
    contract: &Contract,
    op: &crate::contract::Operation,
    view: &Value,
    c: &CuratedCase,
    expect: &Expect,
    fixtures: &Fixtures,
    project_id: &str,
) -> (Vec<String>, bool) {
    // A protocol-level or open reading is exercised only where a case says so.
    let marked = |id: &str| id == ids::OPEN_READING || id == ids::WELL_FORMED;
    let exercises = contract
        .rules_for(&op.id)
        .filter(|r| r.check.exercised(view) && !marked(&r.id))
        .map(|r| r.id.clone());
    let mut exercises: Vec<String> = exercises.collect();
    if let Some(b) = &c.breaks {
        exercises.insert(0, b.clone());
    }
    // A case resting on a reading the pages leave open is judged at should.
    let world = crate::fixtures::FixtureWorld::new(fixtures, project_id, op.setup);
    let open_reading = c.breaks.is_none()
        && expect.matches(200)
        && (c.open_reading || contract.open_reading(op, view, &world));
    if open_reading {
        exercises.push(ids::OPEN_READING.to_string());
    }
    (exercises, open_reading)
}

fn path_of(dir: &Path, case: &Case) -> String {
    dir.join(format!("regressions-{}.json", case.operation))
        .display()
        .to_string()
}

/// Appends a (shrunk) case to `dir/regressions-<operation>.json` as a curated case, atomically.
pub fn save_regression(
    dir: &Path,
    case: &Case,
    seed: u64,
) -> Result<std::path::PathBuf, CaseFileError> {
    let error = |message: String| CaseFileError {
        file: path_of(dir, case),
        pointer: String::new(),
        message,
    };
    let path = dir.join(format!("regressions-{}.json", case.operation));
    let mut file: Value = if path.exists() {
        let text = crate::files::read_text_capped(&path, crate::files::MAX_INPUT_BYTES)
            .map_err(|e| error(e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| error(format!("not a case file: {e}")))?
    } else {
        serde_json::json!({"operation": case.operation, "cases": []})
    };
    let name = format!(
        "regression-{}-seed{seed}",
        case.id
            .rsplit("::")
            .take(2)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("-")
    );
    let expect = match (case.expect.status, case.expect.class) {
        (Some(s), _) => s.to_string(),
        _ => "4xx".to_string(),
    };
    let entry = serde_json::json!({
        "name": name,
        "description": format!("Shrunk from {} (seed {seed}): {}", case.id, case.description),
        "path": case.path_params,
        "body": case.body,
        "expect": expect,
        "breaks": case.breaks,
    });
    let cases = file["cases"]
        .as_array_mut()
        .ok_or_else(|| error("no `cases` array".into()))?;
    cases.retain(|c| c["name"] != entry["name"]);
    cases.push(entry);
    let text = serde_json::to_string_pretty(&file).map_err(|e| error(e.to_string()))?;
    write_atomic(&path, format!("{text}\n").as_bytes())
        .map_err(|e| error(format!("cannot write: {e}")))?;
    Ok(path)
}

#[cfg(test)]
mod builtin_tests {
    use super::*;

    #[test]
    fn every_case_file_of_the_repository_is_built_in() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().to_string();
            // Saved regressions are the user's, read from the folder.
            if !name.ends_with(".json") || name.starts_with("regressions-") {
                continue;
            }
            let path = format!("cases/{name}");
            assert!(
                BUILTIN_CASES.iter().any(|(n, _)| *n == path),
                "{path} is not in BUILTIN_CASES"
            );
        }
        let contract = Contract::builtin().unwrap();
        let f = crate::fixtures::example_fixtures();
        let cases = builtin_curated(&contract, crate::fixtures::EXAMPLE_PROJECT_ID, &f).unwrap();
        assert!(cases.len() > 20, "{}", cases.len());
    }

    #[test]
    fn two_cases_with_one_name_are_refused_naming_the_second() {
        let contract = Contract::builtin().unwrap();
        let f = crate::fixtures::example_fixtures();
        let text = r#"{"operation": "batch-add-nics", "cases": [
            {"name": "x", "body": {"nics": []}, "expect": "4xx"},
            {"name": "x", "body": {"nics": []}, "expect": "4xx"}]}"#;
        let e = parse_curated("c.json", text, &contract, "p", &f).unwrap_err();
        assert_eq!(e.pointer, "/cases/1/name", "{e}");
    }
}
