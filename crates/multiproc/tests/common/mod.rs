//! Shared test support: a watchdog so a hang fails in seconds instead of stalling CI.
#![allow(dead_code)]

pub mod redis;

use std::panic::resume_unwind;
use std::sync::mpsc;
use std::time::Duration;

/// Runs `body` on its own thread and fails the test if it has not finished within `secs`.
/// A panic in `body` is re-raised here with its original payload.
pub fn watchdog<T: Send + 'static>(secs: u64, body: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::Builder::new()
        .name("test-body".into())
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
            let _ = tx.send(());
            r
        })
        .expect("spawn test body");
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Ok(Ok(v)) => v,
            Ok(Err(p)) | Err(p) => resume_unwind(p),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("watchdog: test did not finish within {secs} s (hang?)")
        }
    }
}

/// Polls `cond` until it holds or `secs` pass; returns whether it held. For waiting on state
/// another thread publishes (never as a stand-in for synchronisation under test).
pub fn eventually(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::yield_now();
        std::thread::sleep(Duration::from_millis(1));
    }
    cond()
}

/// The three start methods, for tests that run one body over each.
pub const METHODS: [multiproc::process::StartMethod; 3] = [
    multiproc::process::StartMethod::Fork,
    multiproc::process::StartMethod::Spawn,
    multiproc::process::StartMethod::Forkserver,
];

/// Runs `body` once per start method, each under a 60 s watchdog.
pub fn each_method(body: fn(multiproc::process::StartMethod)) {
    for m in METHODS {
        watchdog(60, move || body(m));
    }
}

/// `len` bytes of one value that depends on `seed` (never 0), filled by memset so large
/// messages stay cheap to build and compare in debug builds.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    vec![(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8 | 1; len]
}

/// Whether `pid` is alive: it exists and is not a zombie waiting for its reaper.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            stat.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next())
                != Some("Z")
        }
        Err(_) => false,
    }
}

/// Waits (at most `secs`) for a file at `path` to appear; whether it did. A gate any worker
/// process can wait on whatever its start method (a shared `Event` cannot travel in a pool
/// task's arguments, as a `Lock` cannot in Python): the workload of a task under test, not
/// synchronisation of the test itself.
pub fn wait_for_file(path: &str, secs: u64) -> bool {
    let give_up = std::time::Instant::now() + Duration::from_secs(secs);
    while !std::path::Path::new(path).exists() {
        if std::time::Instant::now() >= give_up {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}
