//! Processes: start+join per start method against a raw fork+waitpid; a process-shared Lock
//! uncontended and with two processes contending; `Value` increments under its lock. CPython's
//! figures for the same: `bench/python/process_bench.py`. Results: `docs/PERFORMANCE.md`.
//!
//! `cargo bench -p multiproc --bench process`

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use multiproc::process::{Fork, Process, StartMethod, fork, waitpid};
use multiproc::shared::{Shared, Value};
use multiproc::sync::Lock;

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

fn start_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("process_start_join");
    g.bench_function("raw fork+waitpid", |b| {
        b.iter(|| {
            // SAFETY: the child exits at once.
            match unsafe { fork() }.unwrap() {
                // SAFETY: `_exit` has no preconditions; the forked child ends at once.
                Fork::Child => unsafe { libc::_exit(0) },
                Fork::Parent(pid) => assert_eq!(waitpid(pid).unwrap(), 0),
            }
        })
    });
    for m in [
        StartMethod::Fork,
        StartMethod::Forkserver,
        StartMethod::Spawn,
    ] {
        g.bench_function(m.name(), |b| {
            b.iter(|| {
                let mut p = Process::builder().start_method(m).target(|x: u32| x + 1, 1);
                p.start().unwrap();
                assert_eq!(p.join().unwrap(), 2);
            })
        });
    }
    g.finish();
}

fn shared_lock(c: &mut Criterion) {
    let mut g = c.benchmark_group("process_lock");
    g.throughput(Throughput::Elements(1));
    let lock = Shared::new(Lock::new()).unwrap();
    g.bench_function("uncontended acquire+release (Shared<Lock>)", |b| {
        b.iter(|| drop(lock.acquire()))
    });

    // Two processes (fork) each do iters/2 non-atomic increments of a shared counter under the
    // lock; a process-shared barrier starts them together.
    g.bench_function("2 processes contending, increments", |b| {
        b.iter_custom(|iters| {
            let lock = Shared::new(Lock::new()).unwrap();
            let n = Shared::new(AtomicU64::new(0)).unwrap();
            let start = Shared::new(multiproc::sync::Semaphore::new(0)).unwrap();
            let half = iters.max(2) / 2;
            let mut ps: Vec<_> = (0..2)
                .map(|_| {
                    let (lock, n, start) = (lock.clone(), n.clone(), start.clone());
                    Process::builder().fork_target(move || {
                        start.acquire().leak();
                        for _ in 0..half {
                            let _g = lock.acquire();
                            let v = n.load(Relaxed);
                            n.store(v + 1, Relaxed);
                        }
                    })
                })
                .collect();
            for p in &mut ps {
                p.start().unwrap();
            }
            let t0 = Instant::now();
            start.release_n(2).unwrap();
            for p in &mut ps {
                p.join().unwrap();
            }
            let d = t0.elapsed();
            assert_eq!(n.load(Relaxed), half * 2);
            d
        })
    });
    let v = Value::new(0u64).unwrap();
    g.bench_function("Value increment under its lock", |b| {
        b.iter(|| v.with(|x| *x += 1))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = start_join, shared_lock
}
criterion_main!(benches);
