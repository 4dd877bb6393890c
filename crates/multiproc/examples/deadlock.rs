//! Seed: "产生死锁" — `lock.acquire()` twice in the same thread deadlocks a `Lock` (the seed's
//! output stops after `lock again`). With `acquire_timeout` the deadlock becomes visible
//! instead of a hang; an `RLock` lets the same thread in again.
//!
//! `cargo run --example deadlock`

use multiproc::sync::{Lock, RLock};
use std::time::{Duration, Instant};

/// What happened on the second acquire.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Whether a second `Lock.acquire` by the owner got the lock (never).
    pub lock_reacquired: bool,
    /// How long it waited before giving up.
    pub waited: Duration,
    /// Whether a second `RLock.acquire` by the owner got it (always).
    pub rlock_reacquired: bool,
    /// The printed lines.
    pub lines: Vec<String>,
}

/// Runs both locks through the seed's `start lock` / `lock again` / `lock end` sequence.
pub fn run(patience: Duration) -> Outcome {
    let mut lines = vec!["start lock".to_string()];
    let lock = Lock::new();
    let _first = lock.acquire();
    lines.push("lock again".into());
    let t0 = Instant::now();
    let second = lock.acquire_timeout(patience);
    let waited = t0.elapsed();
    let lock_reacquired = second.is_some();
    lines.push(if lock_reacquired {
        "lock end".into()
    } else {
        format!("deadlock: gave up after {waited:?}")
    });

    let rlock = RLock::new();
    let _a = rlock.acquire();
    let rlock_reacquired = rlock.try_acquire().is_some();
    lines.push(format!(
        "RLock acquired again by its owner: {rlock_reacquired}"
    ));
    Outcome {
        lock_reacquired,
        waited,
        rlock_reacquired,
        lines,
    }
}

fn main() {
    for line in run(Duration::from_secs(1)).lines {
        println!("{line}");
    }
}
