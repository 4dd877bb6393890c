//! Seed: "启动一个多进程" — ten processes, each `f('bob %s' % n)`: sleep, then print `hello bob N`.
//!
//! `cargo run --example ten_processes`

use multiproc::process::{Process, StartMethod};
use std::time::Duration;

fn f((name, nap_ms): (String, u64)) -> (String, u32) {
    std::thread::sleep(Duration::from_millis(nap_ms));
    let line = format!("hello {name}");
    println!("{line}");
    (line, std::process::id())
}

/// Starts ten processes, then joins them; returns each one's line and pid.
pub fn run(method: StartMethod, nap: Duration) -> Vec<(String, u32)> {
    let mut ps: Vec<_> = (0..10)
        .map(|n| {
            Process::builder()
                .start_method(method)
                .target(f, (format!("bob {n}"), nap.as_millis() as u64))
        })
        .collect();
    for p in &mut ps {
        p.start().expect("start");
    }
    ps.iter_mut().map(|p| p.join().expect("join")).collect()
}

fn main() {
    run(
        multiproc::process::get_start_method(),
        Duration::from_secs(2),
    );
}
