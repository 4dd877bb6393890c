//! Under `panic = "abort"` nothing unwinds, so a child's panic cannot be caught and sent
//! after the fact: its panic hook prints it and sends it to the parent before the abort, and
//! `join` returns `ProcessError::Panicked` with `aborted: true`. Checked on a real program
//! built with that profile (`tests/panic_abort/`, a workspace of its own), for every start
//! method.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `cmd`, killing it if it has not finished within `secs`.
fn run_bounded(mut cmd: Command, secs: u64) -> std::process::Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{cmd:?} did not finish within {secs} s:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_child_panic_under_panic_abort_reaches_join_and_stderr() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = here.join("tests/panic_abort/Cargo.toml");
    let target = here.join("../../target/panic_abort");
    let mut build = Command::new(env!("CARGO"));
    build
        .arg("build")
        .arg("--quiet")
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target);
    let out = run_bounded(build, 600);
    assert!(
        out.status.success(),
        "building the panic = \"abort\" program failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_bounded(
        Command::new(target.join("debug/multiproc-panic-abort-check")),
        120,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for m in ["fork", "spawn", "forkserver"] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{m}:")))
            .unwrap_or_else(|| panic!("no line for {m}:\n{stdout}"));
        assert!(
            line.contains("panicked aborted=true")
                && line.contains("message=\"boom 7\"")
                && line.contains("src/main.rs:9:9"),
            "{line}"
        );
    }
    assert_eq!(
        stderr.matches("boom 7").count(),
        3,
        "each child prints its panic:\n{stderr}"
    );
}
