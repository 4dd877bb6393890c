//! Seed: "守护进程(守护线程)" — 50 daemon threads that each sleep 2 s: the program does not wait
//! for daemon threads (the FTP-server scenario: when the service stops, its 300 per-user daemon
//! threads stop with it), but does wait for ordinary threads.
//!
//! Python applies that rule when the main thread ends; in Rust, `join_on_exit()` (or
//! `shutdown()`) applies it.
//!
//! `cargo run --example daemon_threads`

use multiproc::thread::{self, Builder};
use std::time::{Duration, Instant};

/// Starts `daemons` daemon threads sleeping `nap` and one ordinary thread sleeping `worker`,
/// then does what Python does at exit (`shutdown()`); returns how long that took.
pub fn run(daemons: usize, nap: Duration, worker: Duration) -> Duration {
    for i in 0..daemons {
        Builder::new()
            .name(format!("t-{i}"))
            .daemon(true) // t.setDaemon(True), before start
            .spawn(move || std::thread::sleep(nap))
            .expect("spawn");
    }
    Builder::new()
        .daemon(false)
        .spawn(move || std::thread::sleep(worker))
        .expect("spawn");
    let t0 = Instant::now();
    thread::shutdown();
    t0.elapsed()
}

fn main() {
    let waited = run(50, Duration::from_secs(2), Duration::from_millis(200));
    println!("main waited {waited:.2?}: for the ordinary thread, not the 50 daemons");
}
