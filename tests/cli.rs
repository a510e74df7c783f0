//! The commands a user types: `spec`, `spec --json`, `generate`, `mock`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_nic-conformance");

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
    // project_id, the seven fixtures, the subnet's range, the extra spares,
    // security groups and supplementary NICs.
    let fixtures: Vec<String> = (0..12).map(|_| lines.next().unwrap().unwrap()).collect();
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
