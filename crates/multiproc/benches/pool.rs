//! Pools against their limits and their peers: `Pool(2).apply_async` of trivial tasks beside
//! the raw process-`Queue` round trip it is built on (task out, result back, 1000 in flight),
//! `ThreadPool(2).apply_async` beside rayon's `spawn` + a channel, `map` (owned items) and
//! `map_ref` (a borrowed slice) over a million ints beside rayon's `par_iter`, `imap` and
//! `imap_unordered` at Python's default `chunksize=1`, and (printed after criterion's
//! groups) the latency of a sequential `apply`: p50, p99 and max. CPython's figures for the same:
//! `bench/python/pool_bench.py`. Results: `docs/PERFORMANCE.md`.
//!
//! `cargo bench -p multiproc --bench pool`

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use multiproc::pool::{MapOptions, Pool, ThreadPool};
use multiproc::process::{Process, Queue, StartMethod};
use rayon::prelude::*;

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

/// Tasks per measured iteration of the trivial-task groups.
const BATCH: u64 = 10_000;
const IN_FLIGHT: u64 = 1_000;
const STOP: u64 = u64::MAX;

fn ident(x: u64) -> u64 {
    x
}

fn sqr(x: u64) -> u64 {
    x.wrapping_mul(x)
}

/// The raw limit: an echo process on two `Queue<u64>`.
fn echo((tasks, results): (Queue<u64>, Queue<u64>)) {
    while let Ok(x) = tasks.get() {
        if x == STOP {
            break;
        }
        results.put(x).unwrap();
    }
}

fn trivial_tasks(c: &mut Criterion) {
    let mut g = c.benchmark_group("pool_trivial_tasks");
    g.throughput(Throughput::Elements(BATCH));
    g.bench_function(
        "raw Queue round trip, 1000 in flight (1 echo process)",
        |b| {
            let tasks: Queue<u64> = Queue::new(0).unwrap();
            let results: Queue<u64> = Queue::new(0).unwrap();
            let mut p = Process::builder()
                .start_method(StartMethod::Fork)
                .target(echo, (tasks.clone(), results.clone()));
            p.start().unwrap();
            b.iter_custom(|iters| {
                let n = iters * BATCH;
                let t0 = Instant::now();
                let (mut sent, mut got) = (0, 0);
                while got < n {
                    while sent < n && sent - got < IN_FLIGHT {
                        tasks.put(sent).unwrap();
                        sent += 1;
                    }
                    results.get().unwrap();
                    got += 1;
                }
                t0.elapsed()
            });
            tasks.put(STOP).unwrap();
            p.join().unwrap();
        },
    );
    g.bench_function("multiproc Pool(2).apply_async", |b| {
        let pool = Pool::builder()
            .processes(2)
            .start_method(StartMethod::Fork)
            .build()
            .unwrap();
        b.iter_custom(|iters| {
            let t0 = Instant::now();
            for _ in 0..iters {
                let rs: Vec<_> = (0..BATCH)
                    .map(|i| pool.apply_async(ident, i).unwrap())
                    .collect();
                for r in rs {
                    r.get().unwrap();
                }
            }
            t0.elapsed()
        });
    });
    g.bench_function("multiproc ThreadPool(2).apply_async", |b| {
        let pool = ThreadPool::new(2).unwrap();
        b.iter_custom(|iters| {
            let t0 = Instant::now();
            for _ in 0..iters {
                let rs: Vec<_> = (0..BATCH)
                    .map(|i| pool.apply_async(ident, i).unwrap())
                    .collect();
                for r in rs {
                    r.get().unwrap();
                }
            }
            t0.elapsed()
        });
    });
    g.bench_function("rayon spawn + channel (2 threads)", |b| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        b.iter_custom(|iters| {
            let t0 = Instant::now();
            for _ in 0..iters {
                let (tx, rx) = crossbeam_channel::unbounded();
                for i in 0..BATCH {
                    let tx = tx.clone();
                    pool.spawn(move || tx.send(ident(i)).unwrap());
                }
                drop(tx);
                assert_eq!(rx.iter().count() as u64, BATCH);
            }
            t0.elapsed()
        });
    });
    g.finish();
}

fn map_million(c: &mut Criterion) {
    const N: u64 = 1_000_000;
    let data: Vec<u64> = (0..N).collect();
    let mut g = c.benchmark_group("pool_map_1M_ints");
    g.throughput(Throughput::Elements(N));
    g.bench_function("multiproc Pool(2).map, default chunksize", |b| {
        let pool = Pool::builder()
            .processes(2)
            .start_method(StartMethod::Fork)
            .build()
            .unwrap();
        b.iter(|| {
            assert_eq!(
                pool.map(sqr, data.iter().copied()).unwrap().len(),
                N as usize
            )
        });
    });
    g.bench_function("multiproc ThreadPool(2).map, default chunksize", |b| {
        let pool = ThreadPool::new(2).unwrap();
        b.iter(|| {
            assert_eq!(
                pool.map(sqr, data.iter().copied()).unwrap().len(),
                N as usize
            )
        });
    });
    g.bench_function("multiproc ThreadPool(2).map_ref, default chunksize", |b| {
        let pool = ThreadPool::new(2).unwrap();
        b.iter(|| {
            assert_eq!(
                pool.map_ref(|&x: &u64| sqr(x), &data).unwrap().len(),
                N as usize
            )
        });
    });
    g.bench_function("rayon par_iter().map().collect() (2 threads)", |b| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        b.iter(|| {
            let v: Vec<u64> = pool.install(|| data.par_iter().map(|&x| sqr(x)).collect());
            assert_eq!(v.len(), N as usize);
        });
    });
    g.finish();

    const M: u64 = 100_000;
    let mut g = c.benchmark_group("pool_map_100k_ints_chunksize_1");
    g.throughput(Throughput::Elements(M));
    g.bench_function("multiproc Pool(2).map, chunksize 1", |b| {
        let pool = Pool::builder()
            .processes(2)
            .start_method(StartMethod::Fork)
            .build()
            .unwrap();
        b.iter(|| {
            let out = pool
                .map_with(sqr, 0..M, MapOptions::new().chunksize(1))
                .unwrap();
            assert_eq!(out.len(), M as usize);
        });
    });
    g.finish();

    // Python's `imap` defaults to one item a task; ours reads its input lazily, with at
    // most `read_ahead` chunks in flight (the default, then a larger window).
    let mut g = c.benchmark_group("pool_imap_100k_ints");
    g.throughput(Throughput::Elements(M));
    let pool = Pool::builder()
        .processes(2)
        .start_method(StartMethod::Fork)
        .build()
        .unwrap();
    g.bench_function("multiproc Pool(2).imap", |b| {
        b.iter(|| assert_eq!(pool.imap(sqr, 0..M).count(), M as usize));
    });
    g.bench_function("multiproc Pool(2).imap_unordered", |b| {
        b.iter(|| assert_eq!(pool.imap_unordered(sqr, 0..M).count(), M as usize));
    });
    g.bench_function("multiproc Pool(2).imap, read_ahead 4096", |b| {
        b.iter(|| {
            let n = pool.imap(sqr, 0..M).read_ahead(4096).count();
            assert_eq!(n, M as usize)
        });
    });
    g.finish();
}

/// p50, p99 and max of `n` sequential `apply`s (criterion reports means; tails need the
/// whole distribution).
fn latency(c: &mut Criterion) {
    let _ = c;
    let n = if std::env::args().any(|a| a == "--quick") {
        5_000
    } else {
        50_000
    };
    for (name, method) in [
        ("Pool(2), fork", StartMethod::Fork),
        ("Pool(2), forkserver", StartMethod::Forkserver),
    ] {
        let pool = Pool::builder()
            .processes(2)
            .start_method(method)
            .build()
            .unwrap();
        for i in 0..1_000 {
            pool.apply(ident, i).unwrap();
        }
        let mut lat: Vec<Duration> = (0..n)
            .map(|i| {
                let t = Instant::now();
                pool.apply(ident, i).unwrap();
                t.elapsed()
            })
            .collect();
        lat.sort();
        let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
        println!(
            "pool_apply_latency/{name}: {n} sequential applies: p50 {:?}  p99 {:?}  p99.9 {:?}  max {:?}",
            p(0.5),
            p(0.99),
            p(0.999),
            lat[lat.len() - 1]
        );
    }
    let pool = ThreadPool::new(2).unwrap();
    let mut lat: Vec<Duration> = (0..n)
        .map(|i| {
            let t = Instant::now();
            pool.apply(ident, i).unwrap();
            t.elapsed()
        })
        .collect();
    lat.sort();
    let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    println!(
        "pool_apply_latency/ThreadPool(2): {n} sequential applies: p50 {:?}  p99 {:?}  max {:?}",
        p(0.5),
        p(0.99),
        lat[lat.len() - 1]
    );
}

criterion_group! {
    name = benches;
    config = config();
    targets = trivial_tasks, map_million, latency
}
criterion_main!(benches);
