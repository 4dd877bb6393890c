//! Threading primitives against std, parking_lot and crossbeam-channel, on the same work.
//! CPython's figures for the same operations: `bench/python/threading_bench.py`.
//! Results and the machine: `docs/PERFORMANCE.md`.
//!
//! `cargo bench -p multiproc --bench threading`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

/// One acquire + release on an uncontended lock.
fn lock_uncontended(c: &mut Criterion) {
    let mut g = c.benchmark_group("lock_uncontended");
    g.throughput(Throughput::Elements(1));
    let l = multiproc::sync::Lock::new();
    g.bench_function("multiproc::Lock", |b| {
        b.iter(|| drop(black_box(&l).acquire()))
    });
    let r = multiproc::sync::RLock::new();
    g.bench_function("multiproc::RLock", |b| {
        b.iter(|| drop(black_box(&r).acquire()))
    });
    let m = multiproc::sync::Mutex::new(0u64);
    g.bench_function("multiproc::sync::Mutex", |b| {
        b.iter(|| *black_box(&m).lock() += 1)
    });
    let s = std::sync::Mutex::new(0u64);
    g.bench_function("std::sync::Mutex", |b| {
        b.iter(|| *black_box(&s).lock().unwrap() += 1)
    });
    let p = parking_lot::Mutex::new(0u64);
    g.bench_function("parking_lot::Mutex", |b| {
        b.iter(|| *black_box(&p).lock() += 1)
    });
    g.finish();
}

/// Two threads incrementing one counter under the lock; time per increment.
fn contended<L: Send + Sync + 'static>(
    iters: u64,
    lock: Arc<L>,
    inc: fn(&L, &AtomicU64),
) -> Duration {
    let n = Arc::new(AtomicU64::new(0));
    let start = Arc::new(std::sync::Barrier::new(3));
    let ts: Vec<_> = (0..2)
        .map(|_| {
            let (lock, n, start) = (lock.clone(), n.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                for _ in 0..iters / 2 {
                    inc(&lock, &n);
                }
            })
        })
        .collect();
    start.wait();
    let t0 = Instant::now();
    for t in ts {
        t.join().unwrap();
    }
    let d = t0.elapsed();
    assert_eq!(n.load(Relaxed), iters / 2 * 2);
    d
}

fn bump(n: &AtomicU64) {
    let v = n.load(Relaxed);
    n.store(v + 1, Relaxed);
}

fn lock_contended(c: &mut Criterion) {
    let mut g = c.benchmark_group("lock_contended_2_threads");
    g.throughput(Throughput::Elements(1));
    g.bench_function("multiproc::Lock", |b| {
        b.iter_custom(|i| {
            contended(i.max(2), Arc::new(multiproc::sync::Lock::new()), |l, n| {
                let _g = l.acquire();
                bump(n)
            })
        })
    });
    g.bench_function("std::sync::Mutex", |b| {
        b.iter_custom(|i| {
            contended(i.max(2), Arc::new(std::sync::Mutex::new(())), |l, n| {
                let _g = l.lock().unwrap();
                bump(n)
            })
        })
    });
    g.bench_function("parking_lot::Mutex", |b| {
        b.iter_custom(|i| {
            contended(i.max(2), Arc::new(parking_lot::Mutex::new(())), |l, n| {
                let _g = l.lock();
                bump(n)
            })
        })
    });
    g.finish();
}

/// set() in one thread to wake-up in another and back: time per one-way hop.
fn event_latency(c: &mut Criterion) {
    use multiproc::sync::Event;
    let mut g = c.benchmark_group("event_set_to_wake");
    g.bench_function("multiproc::Event (one hop of a ping-pong)", |b| {
        b.iter_custom(|iters| {
            let ping = Arc::new(Event::new());
            let pong = Arc::new(Event::new());
            let (p2, q2) = (ping.clone(), pong.clone());
            let t = std::thread::spawn(move || {
                for _ in 0..iters {
                    p2.wait();
                    p2.clear();
                    q2.set();
                }
            });
            let t0 = Instant::now();
            for _ in 0..iters {
                ping.set();
                pong.wait();
                pong.clear();
            }
            let d = t0.elapsed();
            t.join().unwrap();
            d / 2
        })
    });
    g.finish();
}

const MSGS: u64 = 200_000;

/// One producer thread, one consumer thread, `MSGS` u64 messages through capacity 1024.
fn spsc(put: impl Fn(u64) + Send + 'static, get: impl Fn() -> u64) -> Duration {
    let t0 = Instant::now();
    let p = std::thread::spawn(move || {
        for i in 0..MSGS {
            put(i);
        }
    });
    let mut sum = 0;
    for _ in 0..MSGS {
        sum += get();
    }
    p.join().unwrap();
    assert_eq!(sum, MSGS * (MSGS - 1) / 2);
    t0.elapsed()
}

fn repeat(iters: u64, mut run: impl FnMut() -> Duration) -> Duration {
    (0..iters).map(|_| run()).sum()
}

fn queue_throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("queue_spsc_u64");
    g.throughput(Throughput::Elements(MSGS));
    g.sample_size(10);
    let cap = 1024usize;
    {
        g.bench_function(BenchmarkId::new("multiproc::queue::Queue", cap), |b| {
            b.iter_custom(|i| {
                repeat(i, || {
                    let q = Arc::new(multiproc::queue::Queue::new(cap));
                    let q2 = q.clone();
                    spsc(move |v| q2.put(v), move || q.get())
                })
            })
        });
        g.bench_function(BenchmarkId::new("multiproc::queue::LifoQueue", cap), |b| {
            b.iter_custom(|i| {
                repeat(i, || {
                    let q = Arc::new(multiproc::queue::LifoQueue::new(cap));
                    let q2 = q.clone();
                    spsc(move |v| q2.put(v), move || q.get())
                })
            })
        });
        g.bench_function(BenchmarkId::new("crossbeam_channel::bounded", cap), |b| {
            b.iter_custom(|i| {
                repeat(i, || {
                    let (tx, rx) = crossbeam_channel::bounded(cap);
                    spsc(move |v| tx.send(v).unwrap(), move || rx.recv().unwrap())
                })
            })
        });
        g.bench_function(
            BenchmarkId::new("std::sync::mpsc::sync_channel", cap),
            |b| {
                b.iter_custom(|i| {
                    repeat(i, || {
                        let (tx, rx) = std::sync::mpsc::sync_channel(cap);
                        spsc(move |v| tx.send(v).unwrap(), move || rx.recv().unwrap())
                    })
                })
            },
        );
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = lock_uncontended, lock_contended, event_latency, queue_throughput
}
criterion_main!(benches);
