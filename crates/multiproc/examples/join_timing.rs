//! Seed: "join()" — starting each thread and joining it inside the loop runs them one after
//! another (n × sleep); starting all, then joining all, runs them together (≈ one sleep).
//!
//! `cargo run --example join_timing`

use multiproc::thread;
use std::time::{Duration, Instant};

/// `t.start(); t.join()` inside the loop.
pub fn join_in_loop(n: usize, nap: Duration) -> Duration {
    let t0 = Instant::now();
    for _ in 0..n {
        let t = thread::spawn(move || std::thread::sleep(nap));
        t.join().expect("thread panicked");
    }
    t0.elapsed()
}

/// Start all (keeping them in `t_objs`), then join all.
pub fn join_after_all_started(n: usize, nap: Duration) -> Duration {
    let t0 = Instant::now();
    let t_objs: Vec<_> = (0..n)
        .map(|_| thread::spawn(move || std::thread::sleep(nap)))
        .collect();
    for t in t_objs {
        t.join().expect("thread panicked");
    }
    t0.elapsed()
}

fn main() {
    let nap = Duration::from_millis(100);
    println!(
        "50 threads, join in the loop:   {:.2?}",
        join_in_loop(50, nap)
    );
    println!(
        "50 threads, join after start:   {:.2?}",
        join_after_all_started(50, nap)
    );
}
