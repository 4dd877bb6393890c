//! What a user sees when a value that cannot cross into another process is passed to one: a
//! thread queue given to `Process::new` is refused by `cargo check` with a message that names
//! the process queue (`process::Portable`'s `#[diagnostic::on_unimplemented]`). Checked on a
//! real program (`tests/compile_fail/`, a workspace of its own).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn a_thread_queue_given_to_a_process_names_the_process_queue() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(env!("CARGO"))
        .arg("check")
        .arg("--quiet")
        .arg("--manifest-path")
        .arg(here.join("tests/compile_fail/Cargo.toml"))
        .arg("--target-dir")
        .arg(here.join("../../target/compile_fail"))
        .env("CARGO_TERM_COLOR", "never")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Watchdog: a check of the crate takes well under a minute here.
    let deadline = Instant::now() + Duration::from_secs(600);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("cargo check did not finish within 600 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the program compiled:\n{stderr}");
    assert!(
        stderr.contains("`multiproc::queue::Queue<u32>` cannot cross into another process"),
        "{stderr}"
    );
    assert!(stderr.contains("multiproc::process::Queue"), "{stderr}");
}
