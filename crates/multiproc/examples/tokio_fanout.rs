//! A tokio program fanning CPU-bound work out to worker processes with `.await`
//! (≈ `await loop.run_in_executor(ProcessPoolExecutor(), f, x)` in asyncio).
//!
//! The runtime is a single thread, yet it stays responsive while the workers compute: a
//! heartbeat task ticks the whole time, because awaiting a `multiproc::futures::Future`
//! never blocks the thread (the worker's result wakes the task).
//!
//! ```text
//! cargo run --release -p multiproc --example tokio_fanout
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use multiproc::futures::ProcessPoolExecutor;

/// Counts the primes below `n` the slow way: real CPU work for a worker process.
fn count_primes(n: u64) -> u64 {
    (2..n)
        .filter(|&k| (2..).take_while(|d| d * d <= k).all(|d| k % d != 0))
        .count() as u64
}

/// What a run found: (limit, primes below it) per job, the time, the heartbeat's ticks.
#[derive(Debug)]
pub struct Outcome {
    /// Each job's limit and result.
    pub results: Vec<(u64, u64)>,
    /// From the first submit to the last result.
    pub elapsed: Duration,
    /// Heartbeats (every 10 ms) while the jobs ran.
    pub ticks: u64,
    /// Worker processes.
    pub workers: usize,
}

/// Fans `limits.len()` prime counts out to a process pool and awaits them, beside a heartbeat.
pub async fn run(limits: &[u64]) -> Outcome {
    let workers = multiproc::process::cpu_count();
    let ex = Arc::new(ProcessPoolExecutor::new(workers).expect("start the workers"));

    let beats = Arc::new(AtomicU64::new(0));
    let b = beats.clone();
    let heartbeat = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(10));
        loop {
            every.tick().await;
            b.fetch_add(1, Ordering::Relaxed);
        }
    });

    let t0 = Instant::now();
    // Submit everything, then await each result: the workers run in parallel while this
    // one thread keeps serving the heartbeat.
    let jobs: Vec<_> = limits
        .iter()
        .map(|&n| {
            let f = ex.submit(count_primes, n).expect("submit");
            tokio::spawn(async move { (n, f.await) })
        })
        .collect();
    let mut results = Vec::new();
    for job in jobs {
        let (n, primes) = job.await.expect("task");
        results.push((n, primes.expect("worker")));
    }
    let elapsed = t0.elapsed();
    heartbeat.abort();
    Outcome {
        results,
        elapsed,
        ticks: beats.load(Ordering::Relaxed),
        workers,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let limits: Vec<u64> = (1..=8).map(|i| 40_000 + 10_000 * i).collect();
    let o = run(&limits).await;
    for (n, primes) in &o.results {
        println!("primes below {n:>7}: {primes}");
    }
    println!(
        "{} jobs on {} worker processes in {:.0} ms; the runtime's heartbeat ticked {} times meanwhile (every 10 ms)",
        o.results.len(),
        o.workers,
        o.elapsed.as_secs_f64() * 1e3,
        o.ticks
    );
}
