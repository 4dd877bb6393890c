//! Pipes between two processes: round-trip latency against a raw socketpair ping-pong, and
//! 1 MiB transfer rate. CPython's figures for the same: `bench/python/ipc_bench.py`. Results:
//! `docs/PERFORMANCE.md`.
//!
//! `cargo bench -p multiproc --bench ipc`

use std::time::{Duration, Instant};

#[path = "common/raw.rs"]
mod raw;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use multiproc::connection::{Connection, Pipe};
use multiproc::process::{Process, StartMethod};

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

/// Echoes messages until an empty one. (A forked child also holds the parent's end, so it
/// would never see end of file: the seed's lesson.)
fn echo(mut conn: Connection) {
    while let Ok(b) = conn.recv_bytes() {
        if b.is_empty() || conn.send_bytes(&b).is_err() {
            break;
        }
    }
}

fn pipe_round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("pipe_round_trip");
    // Raw limit: a socketpair, one byte each way, a forked echo process.
    raw::raw_socketpair(&mut g);
    g.bench_function("multiproc Pipe, send_bytes/recv_bytes (4 bytes)", |b| {
        let (mut ours, theirs) = Pipe(true).unwrap();
        let mut p = Process::builder()
            .start_method(StartMethod::Fork)
            .target(echo, theirs);
        p.start().unwrap();
        b.iter(|| {
            ours.send_bytes(b"ping").unwrap();
            ours.recv_bytes().unwrap();
        });
        ours.send_bytes(b"").unwrap();
        let _ = p.join();
    });
    // The per-message cost of a typed value, without a process switch: both ends in this
    // thread (encode, tag, write, read, check, decode).
    g.bench_function("multiproc Pipe, send/recv u64 in one thread", |b| {
        let (mut a, mut z) = Pipe(true).unwrap();
        let mut n = 0u64;
        b.iter(|| {
            a.send(&n).unwrap();
            n = z.recv::<u64>().unwrap() + 1;
        });
    });
    g.finish();
}

fn pipe_megabytes(c: &mut Criterion) {
    let mut g = c.benchmark_group("pipe_1mib");
    g.throughput(Throughput::Bytes(2 << 20));
    g.bench_function("multiproc Pipe, 1 MiB echoed (both directions)", |b| {
        let (mut ours, theirs) = Pipe(true).unwrap();
        let mut p = Process::builder()
            .start_method(StartMethod::Fork)
            .target(echo, theirs);
        p.start().unwrap();
        let block = vec![7u8; 1 << 20];
        b.iter_custom(|iters| {
            let t0 = Instant::now();
            for _ in 0..iters {
                ours.send_bytes(&block).unwrap();
                assert_eq!(ours.recv_bytes().unwrap().len(), 1 << 20);
            }
            t0.elapsed()
        });
        ours.send_bytes(b"").unwrap();
        let _ = p.join();
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = pipe_round_trip, pipe_megabytes
}
criterion_main!(benches);
