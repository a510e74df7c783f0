//! What a user reads, as insta snapshots: every command's `--help`, the
//! summary of a run against a fault profile, and the main error messages.
//! A change of wording is reviewed like a change of behaviour
//! (`cargo insta review`); times, ports and temporary paths are redacted.

mod common;
use common::{run, run_in, text};

/// The filters that make a console text the same from run to run.
fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[port]");
    s.add_filter(r"in \d+\.\d+s", "in [secs]");
    s.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", "[time]");
    s.add_filter(r"/tmp/\.tmp[A-Za-z0-9]+", "[tmp]");
    s.add_filter(
        r"nic-conformance/\d+\.\d+\.\d+",
        "nic-conformance/[version]",
    );
    s.add_filter(
        r"nic-conformance \d+\.\d+\.\d+",
        "nic-conformance [version]",
    );
    s.set_prepend_module_to_snapshot(false);
    s.set_omit_expression(true);
    s
}

const COMMANDS: [&str; 14] = [
    "run",
    "doctor",
    "init",
    "cleanup",
    "spec",
    "generate",
    "mock",
    "proxy",
    "snapshots",
    "report merge",
    "report diff",
    "certificate verify",
    "certificate keygen",
    "spec diff",
];

#[test]
fn every_commands_help() {
    let settings = settings();
    let top = run(&["--help"]);
    assert!(top.status.success());
    settings.bind(|| insta::assert_snapshot!("help", text(&top)));
    for cmd in COMMANDS {
        let mut args: Vec<&str> = cmd.split(' ').collect();
        args.push("--help");
        let o = run(&args);
        assert!(o.status.success(), "{cmd}: {}", text(&o));
        let name = format!("help-{}", cmd.replace(' ', "-"));
        settings.bind(|| insta::assert_snapshot!(name, text(&o)));
    }
}

/// One case at a time, so the cases each finding lists are in one order.
#[test]
fn the_summary_of_a_run_against_a_fault_profile() {
    let o = run(&[
        "run",
        "--seed",
        "3",
        "--quiet",
        "--no-snapshots",
        "--concurrency",
        "1",
        "--mock-fault",
        "deleted-nic-stays-listed",
    ]);
    assert_eq!(o.status.code(), Some(1));
    settings().bind(|| insta::assert_snapshot!("summary-deleted-nic-stays-listed", text(&o)));
}

#[test]
fn the_main_error_messages() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let write = |name: &str, body: &str| {
        std::fs::write(d.join(name), body).unwrap();
        name.to_string()
    };
    let broken = write("broken.toml", "[target]\nname = \"x\"\necs_url = \n");
    let unset = write(
        "unset.toml",
        &valid_target("token_env = \"NIC_CONSOLE_UNSET_TOKEN\""),
    );
    // A loopback port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let unreachable = write(
        "unreachable.toml",
        &valid_target("").replace("127.0.0.1:1", &format!("127.0.0.1:{port}")),
    );
    let cases: [(&str, Vec<&str>); 6] = [
        ("error-broken-target-file", vec!["run", "--target", &broken]),
        ("error-unset-credential", vec!["doctor", "--target", &unset]),
        (
            "error-unreachable-target",
            vec!["doctor", "--target", &unreachable],
        ),
        (
            "error-unknown-case",
            vec!["run", "--case", "batch-add-nics::page-exampel"],
        ),
        ("error-bad-flag-value", vec!["run", "--fail-on", "may"]),
        (
            "error-missing-target-file",
            vec!["run", "--target", "no-such.toml"],
        ),
    ];
    for (name, args) in cases {
        let o = run_in(&args, d, &[]);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", text(&o));
        settings().bind(|| insta::assert_snapshot!(name, text(&o)));
    }
}

/// A target file for port 1 of loopback (nothing answers there), with `auth`.
fn valid_target(token: &str) -> String {
    let auth = if token.is_empty() {
        "kind = \"none\"".to_string()
    } else {
        format!("kind = \"token\"\n{token}")
    };
    format!(
        "[target]\nname = \"console\"\necs_url = \"http://127.0.0.1:1\"\nproject_id = \"0605767a3300d5762fb7c0186d9e1779\"\n\
         [fixtures]\nserver_id = \"6e2f4c1a-8f0b-4a7e-9b52-1d3c0e9a7f10\"\nprimary_port_id = \"a1d0f6b2-3c4e-4f5a-8b6c-7d8e9f0a1b2c\"\n\
         spare_port_id = \"ce531f90-199f-48c0-816c-13e38010b442\"\nnetwork_id = \"3cb9bc59-5699-4588-a4b1-b87f96708bc6\"\n\
         subnet_id = \"d32019d3-bc6e-4319-9c1d-6722fc136a23\"\nsecurity_group_id = \"f0ac4394-7e4a-4409-9701-ba8be283dbc3\"\n\
         [auth]\n{auth}\n[limits]\ntimeout_secs = 2\nconnect_timeout_secs = 1\nmax_retries = 0\n"
    )
}
