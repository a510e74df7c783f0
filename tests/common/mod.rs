//! What the integration tests share: the binary, a run of it that cannot
//! hang the suite, its output as text, the built-in contract.
// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nic_conformance::contract::Contract;

pub const BIN: &str = env!("CARGO_BIN_EXE_nic-conformance");
pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// How long one command may take before it counts as hung.
pub const HANG: Duration = Duration::from_secs(120);

pub fn contract() -> Arc<Contract> {
    Arc::new(Contract::builtin().unwrap())
}

/// Standard output then standard error.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The binary with `args` in `cwd`, no input, output captured, `env` added.
pub fn command(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Waits for `child`; past `limit` it is killed and the test fails (a hang
/// is a failure, not a hung suite). Only this child is ever killed.
pub fn wait(mut child: Child, limit: Duration, args: &[&str]) -> Output {
    let started = Instant::now();
    // Output is read on threads so a chatty child never blocks on a full pipe.
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let read = |pipe: Option<&mut dyn std::io::Read>| {
        let mut buf = Vec::new();
        if let Some(p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    };
    let (out, err) = std::thread::scope(|s| {
        let out = s.spawn(|| read(stdout.as_mut().map(|p| p as &mut dyn std::io::Read)));
        let err = s.spawn(|| read(stderr.as_mut().map(|p| p as &mut dyn std::io::Read)));
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if started.elapsed() >= limit => {
                    let _ = child.kill();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => break,
            }
        }
        (
            out.join().unwrap_or_default(),
            err.join().unwrap_or_default(),
        )
    });
    let status = child.wait().unwrap();
    assert!(
        started.elapsed() < limit,
        "`nic-conformance {}` hung",
        args.join(" ")
    );
    Output {
        status,
        stdout: out,
        stderr: err,
    }
}

/// Runs the binary to its end in `cwd` with `env`.
pub fn run_in(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Output {
    let child = command(args, cwd, env).spawn().unwrap();
    wait(child, HANG, args)
}

/// Runs the binary to its end from the project root.
pub fn run(args: &[&str]) -> Output {
    run_in(args, Path::new(ROOT), &[])
}
