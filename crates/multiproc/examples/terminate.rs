//! Seed: "terminate() 终止子进程" and "join(timeout)" — a child loops printing `---test---`; the
//! parent waits a bounded time with `join(timeout)`, sees it still alive, and terminates it.
//!
//! `cargo run --example terminate`

use multiproc::process::{Process, StartMethod};
use std::time::Duration;

fn test(tick_ms: u64) {
    loop {
        println!("---test---");
        std::thread::sleep(Duration::from_millis(tick_ms));
    }
}

/// What happened: alive after `join(timeout)`, and the exit code after `terminate()`.
pub fn run(method: StartMethod, patience: Duration) -> (bool, Option<i32>) {
    let mut p = Process::builder().start_method(method).target(test, 50);
    p.start().expect("start");
    let _ = p.join_timeout(patience); // join(timeout): returns, the child still runs
    let alive_after_timeout = p.is_alive();
    p.terminate().expect("terminate");
    let _ = p.join();
    (alive_after_timeout, p.exitcode())
}

fn main() {
    let (alive, code) = run(
        multiproc::process::get_start_method(),
        Duration::from_millis(300),
    );
    println!("alive after join(timeout): {alive}; exitcode after terminate(): {code:?}");
}
