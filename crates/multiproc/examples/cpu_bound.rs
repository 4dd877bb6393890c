//! Seed: "效率测试" / "多线程-多进程" — CPU-bound work split over processes vs threads vs one
//! thread. In CPython the GIL makes threads useless for this and processes the answer; in
//! Rust threads and processes both use every core, and processes pay for their start-up.
//!
//! `cargo run --release --example cpu_bound`

use multiproc::process::{Process, StartMethod};
use std::time::{Duration, Instant};

fn sum_squares((from, to): (u64, u64)) -> u64 {
    (from..to).fold(0u64, |acc, x| {
        acc.wrapping_add(std::hint::black_box(x).wrapping_mul(x))
    })
}

fn chunks(n: u64, parts: u64) -> Vec<(u64, u64)> {
    (0..parts)
        .map(|i| (n * i / parts, n * (i + 1) / parts))
        .collect()
}

/// (result, elapsed) on one thread.
pub fn serial(n: u64) -> (u64, Duration) {
    let t0 = Instant::now();
    (sum_squares((0, n)), t0.elapsed())
}

/// (result, elapsed) over `parts` threads.
pub fn threads(n: u64, parts: u64) -> (u64, Duration) {
    let t0 = Instant::now();
    let hs: Vec<_> = chunks(n, parts)
        .into_iter()
        .map(|c| multiproc::thread::spawn(move || sum_squares(c)))
        .collect();
    let r = hs
        .into_iter()
        .fold(0u64, |a, h| a.wrapping_add(h.join().expect("thread")));
    (r, t0.elapsed())
}

/// (result, elapsed) over `parts` processes.
pub fn processes(n: u64, parts: u64, method: StartMethod) -> (u64, Duration) {
    let t0 = Instant::now();
    let mut ps: Vec<_> = chunks(n, parts)
        .into_iter()
        .map(|c| {
            Process::builder()
                .start_method(method)
                .target(sum_squares, c)
        })
        .collect();
    for p in &mut ps {
        p.start().expect("start");
    }
    let r = ps
        .iter_mut()
        .fold(0u64, |a, p| a.wrapping_add(p.join().expect("join")));
    (r, t0.elapsed())
}

fn main() {
    let n = 400_000_000;
    let parts = multiproc::process::cpu_count() as u64;
    let (r, t) = serial(n);
    println!("serial:           {r} in {t:.2?}");
    let (r, t) = threads(n, parts);
    println!("{parts} threads:        {r} in {t:.2?}");
    let (r, t) = processes(n, parts, StartMethod::Forkserver);
    println!("{parts} processes:      {r} in {t:.2?}");
}
