//! Two-thread scaling of each allocator, measured in pairs: each round runs the random window
//! (`support/alloc.rs`, 1,000,000 steps) on one fresh thread, then on two fresh threads at once,
//! back to back, and takes the ratio of their aggregate rates. On a shared, noisy host the
//! criterion groups `one_thread_aggregate` and `two_threads_aggregate` run minutes apart, so
//! their ratio mixes in whatever else the host did meanwhile; a pair of runs a few milliseconds
//! apart does not. Prints the median ratio and its quartiles over 61 rounds per allocator,
//! the allocators interleaved round by round. Results: `docs/PERFORMANCE.md`.
//!
//! `cargo bench -p multiproc --bench mempool_scaling`

use std::time::Instant;

#[path = "support/alloc.rs"]
mod alloc;
use alloc::{ALL, STEPS, Which, window};

const ROUNDS: usize = 61;

/// Seconds for `threads` fresh threads each running the window.
fn run(w: Which, threads: usize) -> f64 {
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(move || window(w, STEPS));
        }
    });
    t0.elapsed().as_secs_f64()
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument keeps the allocators it names.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let chosen: Vec<_> = ALL
        .iter()
        .filter(|(_, name)| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str())))
        .collect();
    let mut ratios = vec![Vec::with_capacity(ROUNDS); chosen.len()];
    for _ in 0..ROUNDS {
        for (i, (w, _)) in chosen.iter().enumerate() {
            let one = run(*w, 1);
            let two = run(*w, 2);
            // Aggregate rate with two threads over the rate with one.
            ratios[i].push(2.0 * one / two);
        }
    }
    println!("two threads / one thread, aggregate window rate, {ROUNDS} paired rounds");
    for ((_, name), r) in chosen.iter().zip(&mut ratios) {
        r.sort_by(|a, b| a.total_cmp(b));
        let q = |f: f64| r[((r.len() - 1) as f64 * f).round() as usize];
        println!(
            "{name:24} median {:.2}x   (quartiles {:.2}-{:.2}, range {:.2}-{:.2})",
            q(0.5),
            q(0.25),
            q(0.75),
            r[0],
            r[r.len() - 1]
        );
    }
}
