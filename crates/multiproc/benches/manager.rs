//! A manager's round trips: one dict operation over the socket beside a raw socketpair
//! ping-pong between two processes (the floor), a batch of 100, and the aggregate rate of
//! 64 clients at once beside one. CPython's figures for the same:
//! `bench/python/manager_bench.py`. Results: `docs/PERFORMANCE.md`.
//!
//! `cargo bench -p multiproc --bench manager`

use std::time::{Duration, Instant};

#[path = "common/raw.rs"]
mod raw;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use multiproc::manager::{Manager, Transport};

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

fn round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("manager_round_trip");
    raw::raw_socketpair(&mut g);
    for (name, t) in [
        ("shared memory", Transport::SharedMemory),
        ("socket", Transport::Socket),
    ] {
        let m = Manager::builder().transport(t).start().unwrap();
        let d = m.dict::<u64, u64>().unwrap();
        d.insert(1, 1).unwrap();
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("{name}: dict insert"), |b| {
            let mut i = 0u64;
            b.iter(|| {
                i += 1;
                d.insert(i & 1023, i).unwrap();
            });
        });
        g.bench_function(format!("{name}: dict get"), |b| {
            b.iter(|| d.get(&1).unwrap());
        });
        g.bench_function(format!("{name}: dict add (atomic)"), |b| {
            b.iter(|| d.add(7, 1).unwrap());
        });
        g.throughput(Throughput::Elements(100));
        let keys: Vec<u64> = (0..100).collect();
        g.bench_function(format!("{name}: dict get_many (100 keys)"), |b| {
            b.iter(|| d.get_many(&keys).unwrap());
        });
        g.bench_function(format!("{name}: batch of 100 add"), |b| {
            b.iter(|| {
                let mut batch = m.batch();
                let pending: Vec<_> = (0..100).map(|k| batch.add(&d, k, 1).unwrap()).collect();
                let mut out = batch.run().unwrap();
                for p in pending {
                    out.take(p).unwrap();
                }
            });
        });
    }
    g.finish();
}

/// `clients` threads, each with its own connection, `per` dict gets each: the time for all.
fn clients_at_once(
    d: &multiproc::manager::DictProxy<u64, u64>,
    clients: usize,
    per: u64,
) -> Duration {
    let start = std::sync::Barrier::new(clients + 1);
    std::thread::scope(|s| {
        for _ in 0..clients {
            s.spawn(|| {
                start.wait();
                for _ in 0..per {
                    d.get(&1).unwrap();
                }
            });
        }
        start.wait();
        let t = Instant::now();
        // The scope joins the clients before returning.
        t
    })
    .elapsed()
}

fn many_clients(c: &mut Criterion) {
    let mut g = c.benchmark_group("manager_clients");
    for (name, t) in [
        ("shared memory", Transport::SharedMemory),
        ("socket", Transport::Socket),
    ] {
        let m = Manager::builder().transport(t).start().unwrap();
        let d = m.dict::<u64, u64>().unwrap();
        d.insert(1, 1).unwrap();
        for clients in [1usize, 64] {
            g.throughput(Throughput::Elements(clients as u64 * 200));
            g.bench_function(format!("{name}: {clients} clients x 200 gets"), |b| {
                b.iter_custom(|iters| (0..iters).map(|_| clients_at_once(&d, clients, 200)).sum());
            });
        }
        // The 64 connections of the last run stay open (the idle pool keeps them, each with
        // its server thread): one client among 64 connected.
        g.throughput(Throughput::Elements(200));
        g.bench_function(
            format!("{name}: 1 active of 64 connected x 200 gets"),
            |b| {
                b.iter_custom(|iters| (0..iters).map(|_| clients_at_once(&d, 1, 200)).sum());
            },
        );
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = round_trip, many_clients
}
criterion_main!(benches);
