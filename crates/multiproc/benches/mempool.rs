//! The small-object pool beside the system allocator (glibc), mimalloc and jemalloc, all in
//! one run: alloc+free pairs of 16–64 bytes on one thread, a random-lifetime window, two
//! threads at once, and one thread allocating while another frees; and the shared heap in all
//! of them, plus two processes at once on it. Results:
//! `docs/PERFORMANCE.md`.
//!
//! `cargo bench -p multiproc --bench mempool`

use std::alloc::Layout;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use multiproc::process::{Process, StartMethod};
use multiproc::shared::Shared;
use multiproc::sync::Event;

#[path = "support/alloc.rs"]
mod alloc;
use alloc::{ALL, SIZES, STEPS, Which, heap, window};

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
}

fn pairs(c: &mut Criterion) {
    let mut g = c.benchmark_group("alloc_free_pair_16_64");
    g.throughput(Throughput::Elements(1000));
    for (w, name) in ALL {
        g.bench_function(name, |b| {
            b.iter(|| {
                for i in 0..1000 {
                    let l = Layout::from_size_align(SIZES[i & 3], 8).unwrap();
                    let p = w.alloc(l);
                    black_box(p);
                    // SAFETY: just allocated with `l`.
                    unsafe { w.free(p, l) };
                }
            })
        });
    }
    g.finish();
}

fn random_window(c: &mut Criterion) {
    let mut g = c.benchmark_group("random_lifetime_window");
    g.throughput(Throughput::Elements(10_000));
    for (w, name) in ALL {
        g.bench_function(name, |b| b.iter(|| window(w, 10_000)));
    }
    g.finish();
}

/// The random window on 1 and on 2 fresh threads (the same harness for both, so the ratio is
/// the scaling).
fn two_threads(c: &mut Criterion) {
    for threads in [1u64, 2] {
        let mut g = c.benchmark_group(if threads == 1 {
            "one_thread_aggregate"
        } else {
            "two_threads_aggregate"
        });
        g.throughput(Throughput::Elements(threads * STEPS as u64));
        for (w, name) in ALL {
            g.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    let t0 = Instant::now();
                    for _ in 0..iters {
                        std::thread::scope(|s| {
                            for _ in 0..threads {
                                s.spawn(|| window(w, STEPS));
                            }
                        });
                    }
                    t0.elapsed()
                })
            });
        }
        g.finish();
    }
}

/// Pointers as integers, to cross threads.
struct Batch(Vec<usize>);

fn producer_consumer(c: &mut Criterion) {
    let mut g = c.benchmark_group("producer_allocates_consumer_frees");
    let n = 200_000usize;
    g.throughput(Throughput::Elements(n as u64));
    for (w, name) in ALL {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let l = Layout::from_size_align(32, 8).unwrap();
                let t0 = Instant::now();
                for _ in 0..iters {
                    let (tx, rx) = crossbeam_channel::bounded::<Batch>(64);
                    std::thread::scope(|s| {
                        s.spawn(move || {
                            for batch in rx {
                                for p in batch.0 {
                                    // SAFETY: allocated by the producer with `l`.
                                    unsafe { w.free(p as *mut u8, l) };
                                }
                            }
                        });
                        for _ in 0..n / 256 {
                            let batch = (0..256).map(|_| w.alloc(l) as usize).collect();
                            tx.send(Batch(batch)).unwrap();
                        }
                        drop(tx);
                    });
                }
                t0.elapsed()
            })
        });
    }
    g.finish();
}

/// The shared heap used by two processes at once (a forked child and this one), each running
/// the random window (compare with `two_threads_aggregate`).
fn two_processes(c: &mut Criterion) {
    let mut g = c.benchmark_group("two_processes_aggregate");
    g.throughput(Throughput::Elements(2 * STEPS as u64));
    g.bench_function("multiproc SharedHeap, 2 processes", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                heap();
                let (ready, go) = (
                    Shared::new(Event::new()).unwrap(),
                    Shared::new(Event::new()).unwrap(),
                );
                let mut child = Process::builder().start_method(StartMethod::Fork).target(
                    |(ready, go): (Shared<Event>, Shared<Event>)| {
                        ready.set();
                        go.wait();
                        window(Which::Shared, STEPS);
                    },
                    (ready.clone(), go.clone()),
                );
                child.start().unwrap();
                ready.wait();
                let t0 = Instant::now();
                go.set();
                window(Which::Shared, STEPS);
                child.join().unwrap();
                total += t0.elapsed();
            }
            total
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = pairs, random_window, two_threads, producer_consumer, two_processes
}
criterion_main!(benches);
