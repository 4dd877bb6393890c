//! Executors against CPython's and against the pools they stand on: `submit` of trivial
//! calls on `ProcessPoolExecutor(2)` and `ThreadPoolExecutor(2)` (10,000 in flight, then
//! every `result()`), beside `ThreadPool(2).apply_async`; then, printed after criterion's
//! groups, what awaiting costs over blocking (a sequential submit then `result()`, against
//! submit then `.await` under `futures::block_on` and under a tokio current-thread runtime,
//! p50/p99, interleaved in rounds) and what 10,000 futures in flight cost in memory. CPython's
//! figures for the same: `bench/python/futures_bench.py`. Results: `docs/PERFORMANCE.md`.
//!
//! `cargo bench -p multiproc --bench futures`

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use multiproc::futures::{ProcessPoolExecutor, ThreadPoolExecutor, block_on};
use multiproc::pool::ThreadPool;
use multiproc::process::{StartMethod, get_context};
use multiproc::sync::Event;

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

/// Calls per measured iteration.
const BATCH: u64 = 10_000;

fn ident(x: u64) -> u64 {
    x
}

/// Holds a worker process until the file at `path` exists (a process cannot see an `Event`
/// passed in a call's arguments).
fn wait_file(path: String) {
    while !std::path::Path::new(&path).exists() {
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn submit(c: &mut Criterion) {
    let mut g = c.benchmark_group("executor_submit_trivial");
    g.throughput(Throughput::Elements(BATCH));
    g.bench_function("multiproc ProcessPoolExecutor(2).submit", |b| {
        let ex = ProcessPoolExecutor::builder()
            .max_workers(2)
            .mp_context(get_context(Some(StartMethod::Fork)))
            .build()
            .unwrap();
        b.iter(|| {
            let fs: Vec<_> = (0..BATCH).map(|i| ex.submit(ident, i).unwrap()).collect();
            for f in fs {
                f.into_result().unwrap();
            }
        });
    });
    g.bench_function("multiproc ThreadPoolExecutor(2).submit", |b| {
        let ex = ThreadPoolExecutor::new(2).unwrap();
        b.iter(|| {
            let fs: Vec<_> = (0..BATCH).map(|i| ex.submit(ident, i).unwrap()).collect();
            for f in fs {
                f.into_result().unwrap();
            }
        });
    });
    g.bench_function("multiproc ThreadPool(2).apply_async", |b| {
        let pool = ThreadPool::new(2).unwrap();
        b.iter(|| {
            let rs: Vec<_> = (0..BATCH)
                .map(|i| pool.apply_async(ident, i).unwrap())
                .collect();
            for r in rs {
                r.get().unwrap();
            }
        });
    });
    g.finish();
}

fn percentiles(mut lat: Vec<Duration>) -> (Duration, Duration) {
    lat.sort();
    let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    (p(0.5), p(0.99))
}

/// A sequential submit then wait, three ways, interleaved in rounds so they share the
/// machine's state: blocking `result()`, `.await` under `block_on`, `.await` under tokio.
fn await_overhead(c: &mut Criterion) {
    let _ = c;
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, per_round) = if quick { (5, 1_000) } else { (10, 5_000) };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for (name, procs) in [
        ("ThreadPoolExecutor(2)", false),
        ("ProcessPoolExecutor(2)", true),
    ] {
        let threads = ThreadPoolExecutor::new(2).unwrap();
        let processes = ProcessPoolExecutor::builder()
            .max_workers(2)
            .mp_context(get_context(Some(StartMethod::Fork)))
            .build()
            .unwrap();
        let one = |i: u64| {
            if procs {
                processes.submit(ident, i).unwrap()
            } else {
                threads.submit(ident, i).unwrap()
            }
        };
        for i in 0..1_000 {
            one(i).into_result().unwrap();
        }
        let (mut blocking, mut awaited, mut tokio) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            for i in 0..per_round {
                let t = Instant::now();
                one(i).into_result().unwrap();
                blocking.push(t.elapsed());
            }
            for i in 0..per_round {
                let t = Instant::now();
                block_on(one(i)).unwrap();
                awaited.push(t.elapsed());
            }
            for i in 0..per_round {
                let t = Instant::now();
                rt.block_on(one(i)).unwrap();
                tokio.push(t.elapsed());
            }
        }
        let n = blocking.len();
        let (b50, b99) = percentiles(blocking);
        let (a50, a99) = percentiles(awaited);
        let (t50, t99) = percentiles(tokio);
        println!(
            "future_await_overhead/{name}: {n} sequential submit+wait each: \
             result() p50 {b50:?} p99 {b99:?} | block_on(.await) p50 {a50:?} p99 {a99:?} | \
             tokio current-thread .await p50 {t50:?} p99 {t99:?}"
        );
    }
}

/// Resident memory, from /proc/self/statm.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// What 10,000 futures in flight cost: the resident-memory growth while 10,000 calls wait
/// behind a worker held on a gate.
fn memory(c: &mut Criterion) {
    let _ = c;
    const N: usize = 10_000;
    for procs in [false, true] {
        let gate = Arc::new(Event::new());
        let threads = ThreadPoolExecutor::new(1).unwrap();
        let processes = ProcessPoolExecutor::builder()
            .max_workers(1)
            .mp_context(get_context(Some(StartMethod::Fork)))
            .build()
            .unwrap();
        // Warm: the pools' structures exist before the measurement.
        for i in 0..100 {
            threads.submit(ident, i).unwrap().into_result().unwrap();
            processes.submit(ident, i).unwrap().into_result().unwrap();
        }
        let g = gate.clone();
        let blocker = threads.submit(move |_: ()| g.wait(), ()).unwrap();
        let path =
            std::env::temp_dir().join(format!("multiproc-bench-gate-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let held = processes
            .submit(wait_file, path.to_string_lossy().into_owned())
            .unwrap();
        let before = rss_bytes();
        let fs: Vec<_> = if procs {
            (0..N as u64)
                .map(|i| processes.submit(ident, i).unwrap())
                .collect()
        } else {
            (0..N as u64)
                .map(|i| threads.submit(ident, i).unwrap())
                .collect()
        };
        let after = rss_bytes();
        assert!(fs.iter().all(|f| !f.done()), "the calls stayed in flight");
        gate.set();
        std::fs::write(&path, b"go").unwrap();
        blocker.into_result().unwrap();
        held.into_result().unwrap();
        let _ = std::fs::remove_file(&path);
        for f in fs {
            f.into_result().unwrap();
        }
        println!(
            "futures_in_flight/{}: {N} futures in flight: +{:.2} MiB resident ({} bytes each)",
            if procs {
                "ProcessPoolExecutor(1)"
            } else {
                "ThreadPoolExecutor(1)"
            },
            after.saturating_sub(before) as f64 / (1 << 20) as f64,
            after.saturating_sub(before) / N as u64
        );
    }
}

criterion_group! {
    name = benches;
    config = config();
    targets = submit, await_overhead, memory
}
criterion_main!(benches);
