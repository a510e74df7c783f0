//! The commands a user types: `spec`, `spec --json`, `generate`, `mock`.

mod common;
use common::BIN;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

fn stdout(args: &[&str]) -> String {
    let o = Command::new(BIN).args(args).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn spec_lists_operations_rules_and_conflicts_with_their_sources() {
    let t = stdout(&["spec"]);
    for needle in [
        "batch-add-nics",
        "nova-attach-interface",
        "batch-delete-nics",
        "update-interface-attachment",
        "update-sub-network-interface",
        "show-job",
        "nova-attach.fixed-ips-single",
        "from ecs-nova-attach-interface.txt · Table 3 · fixed_ips",
        "DOCUMENTATION CONFLICTS",
        "update-attachment.field-spelling",
    ] {
        assert!(t.contains(needle), "spec does not show {needle}");
    }
}

#[test]
fn spec_json_has_the_documented_keys() {
    let v: Value = serde_json::from_str(&stdout(&["spec", "--json"])).unwrap();
    for key in ["operations", "rules", "doc_conflicts"] {
        assert!(v[key].is_array(), "{key}");
    }
    for op in v["operations"].as_array().unwrap() {
        for key in ["id", "service", "method", "path"] {
            assert!(op[key].is_string(), "{key} in {op}");
        }
    }
    let rule = &v["rules"][0];
    for key in ["id", "operation", "source", "statement", "severity"] {
        assert!(!rule[key].is_null(), "{key}");
    }
}

#[test]
fn generate_prints_json_lines_with_filled_ids() {
    let t = stdout(&[
        "generate",
        "--operation",
        "nova-attach-interface",
        "--kind",
        "negative",
        "--count",
        "30",
        "--seed",
        "5",
    ]);
    let lines: Vec<Value> = t
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 30);
    for l in &lines {
        for key in ["id", "operation", "kind", "expect", "exercises", "request"] {
            assert!(!l[key].is_null(), "{key} missing in {l}");
        }
        let path = l["request"]["path"].as_str().unwrap();
        assert!(
            path.starts_with("/v2.1/") && path.ends_with("/os-interface"),
            "{path}"
        );
        assert_eq!(l["request"]["method"], "POST");
        assert!(l["breaks"].is_string());
        assert_eq!(
            l["replay"],
            format!(
                "nic-conformance run --seed 5 --case {}",
                l["id"].as_str().unwrap()
            )
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l["breaks"] == "nova-attach.port-net-exclusive")
    );
    assert!(lines.iter().any(|l| l["request"]["path"] == "/v2.1/0605767a3300d5762fb7c0186d9e1779/servers/6e2f4c1a-8f0b-4a7e-9b52-1d3c0e9a7f10/os-interface"), "ids come from the fixtures");
    // The same seed prints the same cases.
    assert_eq!(
        t,
        stdout(&[
            "generate",
            "--operation",
            "nova-attach-interface",
            "--kind",
            "negative",
            "--count",
            "30",
            "--seed",
            "5"
        ])
    );
}

#[test]
fn generate_refuses_an_unknown_operation_with_the_list() {
    let o = Command::new(BIN)
        .args(["generate", "--operation", "attach", "--kind", "valid"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("one of: batch-add-nics"));
}

#[test]
fn mock_prints_its_base_url_then_its_fixtures_and_serves() {
    let mut child = Command::new(BIN)
        .args(["mock", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = lines.next().unwrap().unwrap();
    assert!(
        base.starts_with("http://127.0.0.1:") && !base.ends_with(":0"),
        "{base}"
    );
    // project_id, the seven fixtures, the subnet's two ranges, the extra spares,
    // security groups and supplementary NICs.
    let fixtures: Vec<String> = (0..13).map(|_| lines.next().unwrap().unwrap()).collect();
    assert!(fixtures[0].starts_with("project_id = "));
    // The lines after project_id paste into a target file's [fixtures] table as they are.
    let table: nic_conformance::fixtures::Fixtures =
        toml::from_str(&fixtures[1..].join("\n")).unwrap();
    assert_eq!(table, nic_conformance::fixtures::example_fixtures());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = rt.block_on(async {
        reqwest::get(format!("{base}/v2.1/0605767a3300d5762fb7c0186d9e1779/servers/6e2f4c1a-8f0b-4a7e-9b52-1d3c0e9a7f10/os-interface")).await.unwrap().status()
    });
    assert_eq!(status.as_u16(), 200);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn mock_lists_one_fault_per_line_with_what_it_breaks() {
    let t = stdout(&["mock", "--list-faults"]);
    assert!(t.lines().all(|l| l.split('\t').count() == 2), "{t}");
    assert!(t.contains("accept:nova-attach.fixed-ips-single\tnova-attach.fixed-ips-single"));
    assert!(t.contains("value-drift\tsnapshot.drift"));
    let o = Command::new(BIN)
        .args(["mock", "--fault", "no-such-fault"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--list-faults"));
}

/// README's exit-code table and `error::exit` are one table.
#[test]
fn the_readme_exit_code_table_matches_the_code() {
    use nic_conformance::error::exit;
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme.split("## Exit codes").nth(1).unwrap();
    let section = section.split("\n## ").next().unwrap();
    let mut codes: Vec<i32> = section
        .lines()
        .filter_map(|l| {
            l.strip_prefix("| ")?
                .split(" |")
                .next()?
                .trim()
                .parse()
                .ok()
        })
        .collect();
    codes.sort();
    let mut expected = vec![
        exit::OK,
        exit::FINDINGS,
        exit::ERROR,
        exit::UNDECIDED,
        exit::NOTHING_RAN,
        exit::PARTIAL,
        exit::ABANDONED,
        exit::TERMINATED,
    ];
    expected.sort();
    assert_eq!(codes, expected);
}

/// `spec --openapi` is an OpenAPI 3.1 document: it validates against the
/// OpenAPI Initiative's own schema for 3.1 (2022-10-07, copied into
/// tests/data), has every documented operation at its path and method with
/// its rules, and every `$ref` in it resolves.
#[test]
fn spec_openapi_is_a_valid_openapi_3_1_document_of_every_operation() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    stdout(&["spec", "--openapi", "--output", file.to_str().unwrap()]);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let official: Value =
        serde_json::from_str(include_str!("data/openapi-3.1-schema-2022-10-07.json")).unwrap();
    // Formats are annotations in the schema's dialect (2020-12), as its
    // authors intend: a server URL with `{variables}` is not a strict URI.
    let validator = jsonschema::options()
        .should_validate_formats(false)
        .build(&official)
        .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // The validator is not vacuous: a document without `info` is refused.
    let mut broken = doc.clone();
    broken.as_object_mut().unwrap().remove("info");
    assert!(!validator.is_valid(&broken));

    assert_eq!(doc["openapi"], "3.1.0");
    for (path, method, op) in [
        (
            "/v1/{project_id}/cloudservers/{server_id}/nics",
            "post",
            "batch-add-nics",
        ),
        (
            "/v2.1/{project_id}/servers/{server_id}/os-interface",
            "post",
            "nova-attach-interface",
        ),
        (
            "/v1/{project_id}/cloudservers/{server_id}/nics/delete",
            "post",
            "batch-delete-nics",
        ),
        (
            "/v1/{project_id}/cloudservers/{server_id}/os-interface/{port_id}",
            "put",
            "update-interface-attachment",
        ),
        (
            "/v3/{project_id}/vpc/sub-network-interfaces/{sub_network_interface_id}",
            "put",
            "update-sub-network-interface",
        ),
        (
            "/v2.1/{project_id}/servers/{server_id}/os-interface/{port_id}",
            "delete",
            "detach-interface",
        ),
    ] {
        let o = &doc["paths"][path][method];
        assert_eq!(o["operationId"], op, "{path} {method}");
        let rules = o["x-nic-rules"].as_array().unwrap();
        assert!(!rules.is_empty(), "{op} has no rules");
        for key in ["id", "severity", "source", "statement"] {
            assert!(rules[0][key].is_string(), "{op}: {key}");
        }
        assert!(o["responses"]["default"].is_object(), "{op}");
    }
    assert!(doc["paths"]["/v1/{project_id}/cloudservers/{server_id}/nics"]["post"]["requestBody"]
        ["content"]["application/json"]["schema"]["$ref"]
        .is_string());
    assert!(!doc["x-doc-conflicts"].as_array().unwrap().is_empty());
    // Every reference points at a schema the document holds.
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r);
                }
                m.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{r}"));
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{r} does not resolve"
        );
    }
}

/// Each promise of docs/safety.md names a test that exists.
#[test]
fn every_safety_promise_names_a_test_that_exists() {
    let root = env!("CARGO_MANIFEST_DIR");
    let section = std::fs::read_to_string(format!("{root}/docs/safety.md")).unwrap();
    let section = section.split("\n## ").next().unwrap();
    let mut sources = String::new();
    for dir in ["tests", "src"] {
        for entry in walk(&std::path::Path::new(root).join(dir)) {
            sources.push_str(&std::fs::read_to_string(entry).unwrap_or_default());
        }
    }
    let promises: Vec<&str> = section.split("\n- ").skip(1).collect();
    assert!(promises.len() >= 10, "{} promises", promises.len());
    for promise in promises.iter().filter(|p| !p.starts_with("A spare port")) {
        let tests = promise
            .split("*Test")
            .nth(1)
            .unwrap_or_else(|| panic!("no test named: {promise}"));
        let names: Vec<&str> = tests.split('`').skip(1).step_by(2).collect();
        assert!(!names.is_empty(), "no test named: {promise}");
        for name in names
            .iter()
            .filter(|n| !n.contains('/') && !n.contains(".rs"))
        {
            let name = name.trim_end_matches("::tests");
            assert!(
                sources.contains(&format!("fn {name}("))
                    || sources.contains(&format!("mod {name}"))
                    || sources.contains(&format!("pub mod {name}")),
                "docs/safety.md names a test that does not exist: {name}"
            );
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// `cargo test --test conformance` with this environment, from the project root.
fn cargo_conformance(env: &[(&str, &str)], args: &[&str]) -> (bool, String) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["test", "-q", "--test", "conformance", "--"])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("INSTA_UPDATE", "no")
        .env("RUST_BACKTRACE", "0")
        .env_remove("NIC_CONFORMANCE_MOCK_FAULT")
        .env_remove("NIC_CONFORMANCE_FAIL_ON");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

/// The cargo-test face gates like `run`: a `should` finding passes the trial
/// unless NIC_CONFORMANCE_FAIL_ON=should, a `must` one fails it, and the
/// replay line a failure prints runs exactly that trial, as printed.
#[test]
fn the_cargo_test_face_gates_like_run_and_its_replay_line_works_as_printed() {
    let (passed, out) = cargo_conformance(
        &[("NIC_CONFORMANCE_MOCK_FAULT", "bad-mac-address")],
        &["--ignored"],
    );
    assert!(
        passed,
        "a should finding failed a trial at the must gate:\n{out}"
    );
    assert!(out.contains("below the gate"), "{out}");
    let (passed, _) = cargo_conformance(
        &[
            ("NIC_CONFORMANCE_MOCK_FAULT", "bad-mac-address"),
            ("NIC_CONFORMANCE_FAIL_ON", "should"),
        ],
        &["--ignored"],
    );
    assert!(
        !passed,
        "NIC_CONFORMANCE_FAIL_ON=should fails on a should finding"
    );
    let (passed, out) = cargo_conformance(
        &[("NIC_CONFORMANCE_MOCK_FAULT", "vlan-out-of-range")],
        &["--ignored"],
    );
    assert!(!passed, "a must finding fails its trial:\n{out}");
    let replay = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("replay:"))
        .expect("a replay line")
        .trim()
        .to_string();
    assert!(replay.contains("cargo test --test conformance"), "{replay}");
    // As printed, through a shell: exactly that trial, failing again.
    let cargo_dir = std::path::Path::new(&std::env::var("CARGO").unwrap_or_default())
        .parent()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let shell = |line: &str| {
        Command::new("sh")
            .args(["-c", line])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env(
                "PATH",
                format!("{cargo_dir}:{}", std::env::var("PATH").unwrap_or_default()),
            )
            .env("INSTA_UPDATE", "no")
            .env("RUST_BACKTRACE", "0")
            .env_remove("NIC_CONFORMANCE_MOCK_FAULT")
            .output()
            .unwrap()
    };
    let o = shell(&replay);
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(!o.status.success(), "{text}");
    assert!(text.contains("0 passed; 1 failed"), "not one trial: {text}");
    // Without the fault the same trial passes.
    let o = shell(&replay.replace("NIC_CONFORMANCE_MOCK_FAULT=vlan-out-of-range ", ""));
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success() && text.contains("1 passed; 0 failed"),
        "{text}"
    );
}

/// The README and the pages of docs/.
fn doc_files() -> Vec<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// GitHub's anchor for a heading.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == ' ' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> Vec<String> {
    let mut in_code = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            out.push(slug(line.trim_start_matches('#')));
        }
    }
    out
}

/// Every link of the README and docs/ leads to a file that exists, and an
/// anchor to a heading of that file.
#[test]
fn every_link_in_the_readme_and_docs_leads_somewhere() {
    let mut checked = 0;
    for file in doc_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let dir = file.parent().unwrap();
        for (i, _) in text.match_indices("](") {
            let rest = &text[i + 2..];
            let target = &rest[..rest.find(')').unwrap_or(0)];
            if target.is_empty() || target.contains("://") || target.contains(' ') {
                continue;
            }
            let (path, anchor) = target.split_once('#').unwrap_or((target, ""));
            let resolved = if path.is_empty() {
                file.clone()
            } else {
                dir.join(path)
            };
            assert!(
                resolved.exists(),
                "{}: the link {target} leads nowhere",
                file.display()
            );
            if !anchor.is_empty() {
                let there = std::fs::read_to_string(&resolved).unwrap();
                assert!(
                    anchors(&there).iter().any(|a| a == anchor),
                    "{}: no heading #{anchor} in {}",
                    file.display(),
                    resolved.display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 15, "{checked} links");
}

/// A shell line's words, as `sh` would split them (quotes, no expansions).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut any = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                any = false;
            }
            (None, c) => word.push(c),
        }
    }
    if any || !word.is_empty() {
        words.push(word);
    }
    words
}

/// Every `nic-conformance` command in a shell block of the README and docs/
/// parses with today's command line (flags renamed or removed show here).
#[test]
fn every_command_shown_in_the_docs_parses() {
    use clap::Parser;
    let mut parsed = 0;
    for file in doc_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut in_sh = false;
        let mut joined = String::new();
        for line in text.lines() {
            if line.starts_with("```") {
                in_sh = !in_sh && (line == "```sh" || line == "```bash");
                continue;
            }
            if !in_sh {
                continue;
            }
            if let Some(head) = line.strip_suffix('\\') {
                joined.push_str(head);
                continue;
            }
            joined.push_str(line);
            let full = std::mem::take(&mut joined);
            // The command itself: no comment, pipe, redirect or background.
            let mut command = full.split(" #").next().unwrap().to_string();
            for stop in ["|", "&", ">", ";"] {
                command = command.split(stop).next().unwrap().to_string();
            }
            let command = command.replace("cargo run --release --", "nic-conformance");
            let words = shell_words(&command);
            let Some(start) = words.iter().position(|w| w.ends_with("nic-conformance")) else {
                continue;
            };
            let args = &words[start..];
            if let Err(e) = nic_conformance::cli::Cli::try_parse_from(args) {
                panic!(
                    "{}: `{}` does not parse:\n{e}",
                    file.display(),
                    args.join(" ")
                );
            }
            parsed += 1;
        }
    }
    assert!(parsed > 15, "{parsed} commands");
}

/// A copy of the built-in contract with `edit` applied to one file.
fn edited_contract(file: &str, edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in nic_conformance::contract::EMBEDDED {
        let text = if *name == file {
            let edited = edit(text.to_string());
            assert_ne!(edited, *text, "the edit of {file} changed nothing");
            edited
        } else {
            text.to_string()
        };
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn spec_diff(args: &[&str]) -> (Option<i32>, String) {
    let mut all = vec!["spec", "diff"];
    all.extend_from_slice(args);
    let o = Command::new(BIN).args(&all).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    (o.status.code(), text)
}

/// A response bound lowered breaks servers (one that conformed may now
/// fail); the same change read backwards loosens it; a request bound lowered
/// breaks clients; a new rule breaks servers. `--fail-on breaking` gates it.
#[test]
fn spec_diff_classifies_each_change_and_gates_on_breaking_ones() {
    let vlan = edited_contract("update-sub-network-interface.response.200.json", |t| {
        t.replace("\"maximum\": 4094", "\"maximum\": 4000")
    });
    let copy = vlan.path().to_str().unwrap();
    let (code, t) = spec_diff(&["builtin", copy, "--fail-on", "breaking"]);
    assert_eq!(code, Some(1), "{t}");
    assert!(t.contains("breaking for servers  update-sub-network-interface.response.200#/properties/sub_network_interface/properties/vlan_id/maximum"), "{t}");
    assert!(t.contains("maximum 4094 → 4000, tightened"), "{t}");
    assert!(
        t.contains("1 change(s): 0 breaking for clients, 1 breaking for servers"),
        "{t}"
    );
    let (code, t) = spec_diff(&["builtin", copy]);
    assert_eq!(code, Some(0), "without --fail-on it reports only: {t}");
    let (code, t) = spec_diff(&[copy, "--fail-on", "breaking"]);
    assert_eq!(code, Some(0), "{t}");
    assert!(t.contains("not breaking") && t.contains("loosened"), "{t}");

    let description = edited_contract("update-sub-network-interface.request.json", |t| {
        t.replacen("\"maxLength\": 255", "\"maxLength\": 200", 1)
    });
    let (code, t) = spec_diff(&["builtin", description.path().to_str().unwrap(), "--json"]);
    assert_eq!(code, Some(0), "{t}");
    let changes: Value = serde_json::from_str(&t).unwrap();
    assert_eq!(changes[0]["impact"], "breaks_clients", "{t}");

    let rule = edited_contract("rules.json", |t| {
        t.replacen(
            "\"id\": \"batch-add.port-wins\"",
            "\"id\": \"batch-add.port-wins-again\"",
            1,
        )
    });
    let (_, t) = spec_diff(&["builtin", rule.path().to_str().unwrap()]);
    assert!(
        t.contains("breaking for servers  batch-add.port-wins-again"),
        "{t}"
    );
    assert!(
        t.contains("not breaking          batch-add.port-wins\n"),
        "{t}"
    );

    let (code, t) = spec_diff(&["no-such-folder"]);
    assert_eq!(code, Some(2), "{t}");
    assert!(t.contains("no-such-folder: not a folder of schemas"), "{t}");
}

/// A certificate verifies against the binary that wrote it; a tampered count
/// or digest is refused; the re-run line it prints gives the same counts.
#[test]
fn a_certificate_verifies_refuses_tampering_and_reruns_the_same_cases() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.json");
    let run = |cert: &std::path::Path, extra: &[&str]| {
        let mut args = vec![
            "run",
            "--no-snapshots",
            "--certificate",
            cert.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        Command::new(BIN).args(&args).output().unwrap()
    };
    let o = run(
        &cert,
        &[
            "--seed",
            "5",
            "--budget",
            "0",
            "--mock-fault",
            "duplicate-tag-keys",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let verify = |file: &std::path::Path| {
        let o = Command::new(BIN)
            .args(["certificate", "verify", file.to_str().unwrap()])
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).to_string(),
        )
    };
    let (code, t) = verify(&cert);
    assert_eq!(code, Some(0), "{t}");
    assert!(
        t.contains("verified: contract") && t.contains("(1 violated)"),
        "{t}"
    );
    let rerun = t
        .lines()
        .find_map(|l| l.strip_prefix("re-run the same cases: nic-conformance "))
        .unwrap()
        .to_string();
    assert_eq!(
        rerun,
        "run --seed 5 --budget 0 --mock-fault duplicate-tag-keys"
    );

    let original: Value = serde_json::from_str(&std::fs::read_to_string(&cert).unwrap()).unwrap();
    let tampered = |edit: &dyn Fn(&mut Value)| {
        let mut v = original.clone();
        edit(&mut v);
        let file = dir.path().join("tampered.json");
        std::fs::write(&file, v.to_string()).unwrap();
        verify(&file)
    };
    let (code, t) = tampered(&|v| {
        let rule = v["rules"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|r| r["id"] == "update-subnic.tag-keys-unique")
            .unwrap();
        rule["violated"] = json!(rule["violated"].as_u64().unwrap() - 1);
        rule["passed"] = json!(rule["passed"].as_u64().unwrap() + 1);
    });
    assert_eq!(code, Some(1), "{t}");
    assert!(
        t.contains("update-subnic.tag-keys-unique") && t.contains("but the findings list"),
        "{t}"
    );
    let (code, t) = tampered(&|v| v["contract_digest"] = json!("0".repeat(64)));
    assert_eq!(code, Some(1), "{t}");
    assert!(t.contains("made with another contract"), "{t}");

    // The printed line runs the same cases: the same counts per rule.
    let again = dir.path().join("again.json");
    let args: Vec<&str> = rerun.split(' ').skip(1).collect();
    let o = run(&again, &args);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let again: Value = serde_json::from_str(&std::fs::read_to_string(&again).unwrap()).unwrap();
    assert_eq!(again["rules"], original["rules"]);
}
