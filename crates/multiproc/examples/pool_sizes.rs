//! Seed: "多线程-多进程" — `ThreadPool`, `DummyPool` (`multiprocessing.dummy.Pool`, the same
//! thing) and `ProcessPool` (`multiprocessing.Pool`), timed over pool sizes 1 to 8 on the same
//! work. In CPython the thread pools do not speed up CPU-bound work (the GIL lets one thread
//! run Python at a time); in Rust threads and processes both scale with the cores on
//! CPU-bound work, and both overlap waiting on I/O-bound work.
//!
//! `cargo run --release --example pool_sizes`

use multiproc::pool::{MapOptions, Pool, ThreadPool};
use std::time::{Duration, Instant};

/// CPU-bound: a sum of squares over `n` numbers (kept from being optimised away).
pub fn cpu(n: u64) -> u64 {
    (0..n).fold(0u64, |acc, i| {
        std::hint::black_box(acc.wrapping_add(i.wrapping_mul(i)))
    })
}

/// I/O-bound: waits `ms`.
pub fn io(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// One row: the pool size, then the times of the thread pool and the process pool on the
/// CPU-bound work, then on the I/O-bound work.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// Workers in each pool.
    pub size: usize,
    /// `ThreadPool(size)` on the CPU-bound tasks.
    pub threads_cpu: Duration,
    /// `Pool(size)` on the CPU-bound tasks.
    pub processes_cpu: Duration,
    /// `ThreadPool(size)` on the waits.
    pub threads_io: Duration,
    /// `Pool(size)` on the waits.
    pub processes_io: Duration,
}

fn time(f: impl FnOnce()) -> Duration {
    let t0 = Instant::now();
    f();
    t0.elapsed()
}

/// Each size from 1 to `max_size`: `tasks` CPU tasks of `n` squares, and `tasks` waits of
/// `wait` (the pool's start is not timed, as in the seed the pool is built first).
pub fn run(max_size: usize, tasks: u64, n: u64, wait: Duration) -> Vec<Row> {
    let ms = wait.as_millis() as u64;
    let opts = || MapOptions::new().chunksize(1);
    (1..=max_size)
        .map(|size| {
            let tp = ThreadPool::new(size).expect("ThreadPool");
            let pp = Pool::new(size).expect("Pool");
            let threads_cpu = time(|| {
                tp.map_with(cpu, vec![n; tasks as usize], opts())
                    .expect("map");
            });
            let processes_cpu = time(|| {
                pp.map_with(cpu, vec![n; tasks as usize], opts())
                    .expect("map");
            });
            let threads_io = time(|| {
                tp.map_with(io, vec![ms; tasks as usize], opts())
                    .expect("map");
            });
            let processes_io = time(|| {
                pp.map_with(io, vec![ms; tasks as usize], opts())
                    .expect("map");
            });
            Row {
                size,
                threads_cpu,
                processes_cpu,
                threads_io,
                processes_io,
            }
        })
        .collect()
}

/// The table the seed prints, one line per size.
pub fn table(rows: &[Row]) -> Vec<String> {
    let s = |d: Duration| format!("{:.3}", d.as_secs_f64());
    let mut out = vec![format!(
        "{:>4}  {:>11} {:>11}  {:>11} {:>11}",
        "size", "threads CPU", "procs CPU", "threads I/O", "procs I/O"
    )];
    for r in rows {
        out.push(format!(
            "{:>4}  {:>10}s {:>10}s  {:>10}s {:>10}s",
            r.size,
            s(r.threads_cpu),
            s(r.processes_cpu),
            s(r.threads_io),
            s(r.processes_io)
        ));
    }
    out
}

#[allow(dead_code)]
fn main() {
    let max = 2 * multiproc::process::cpu_count();
    let rows = run(max, 16, 20_000_000, Duration::from_millis(50));
    for line in table(&rows) {
        println!("{line}");
    }
}
