//! Process queue throughput between two processes (a producer here, a forked consumer), for
//! 8-byte, 1 KiB and 1 MiB messages, beside ipc-channel, a plain SPSC shared-memory ring of
//! `u64` (the raw limit for small messages) and a cold 1 MiB memcpy (the raw limit for large
//! ones). CPython's figures for the same: `bench/python/ipc_bench.py`. Results:
//! `docs/PERFORMANCE.md`.
//!
//! `cargo bench -p multiproc --bench queue`

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use crossbeam_utils::CachePadded;
use multiproc::process::{Process, Queue, StartMethod};

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

const STOP: u64 = u64::MAX;
/// Messages per measured iteration for the 8-byte and 1 KiB groups.
const SMALL_BATCH: u64 = 10_000;
const SYNC: u64 = u64::MAX - 1;

/// Consumer of `u64`s: acknowledges each SYNC, ends at STOP.
fn consume_u64((q, ack): (Queue<u64>, Queue<u64>)) {
    while let Ok(x) = q.get() {
        match x {
            STOP => break,
            SYNC => ack.put(0).unwrap(),
            _ => {}
        }
    }
}

/// Consumer of byte messages: an empty message is a SYNC, a one-byte message a STOP.
fn consume_bytes((q, ack): (Queue<Vec<u8>>, Queue<u64>)) {
    while let Ok(m) = q.get() {
        match m.len() {
            0 => ack.put(0).unwrap(),
            1 => break,
            _ => {}
        }
    }
}

fn queue_u64(c: &mut Criterion) {
    let mut g = c.benchmark_group("queue_8_bytes");
    // One iteration is a batch, so the end-of-batch handshake (a wake-up of the sleeping
    // consumer and back) is spread over many messages, as in a stream.
    g.throughput(Throughput::Elements(SMALL_BATCH));
    g.bench_function("raw SPSC shared-memory ring (u64)", raw_ring);
    g.bench_function("multiproc Queue<u64>", |b| {
        let q: Queue<u64> = Queue::new(0).unwrap();
        let ack: Queue<u64> = Queue::new(0).unwrap();
        let mut p = Process::builder()
            .start_method(StartMethod::Fork)
            .target(consume_u64, (q.clone(), ack.clone()));
        p.start().unwrap();
        b.iter_custom(|iters| {
            let t0 = Instant::now();
            for i in 0..iters * SMALL_BATCH {
                q.put(i).unwrap();
            }
            q.put(SYNC).unwrap();
            ack.get().unwrap();
            t0.elapsed()
        });
        q.put(STOP).unwrap();
        p.join().unwrap();
    });
    g.bench_function("multiproc Queue<u64>, put+get on one thread", |b| {
        let q: Queue<u64> = Queue::new(0).unwrap();
        b.iter(|| {
            for i in 0..SMALL_BATCH {
                q.put(i).unwrap();
                q.get().unwrap();
            }
        });
    });
    g.bench_function("ipc-channel IpcSender<u64>", |b| {
        let (tx, rx) = ipc_channel::ipc::channel::<u64>().unwrap();
        let (ack_tx, ack_rx) = ipc_channel::ipc::channel::<u64>().unwrap();
        let mut p = Process::builder().fork_target(move || {
            while let Ok(x) = rx.recv() {
                match x {
                    STOP => break,
                    SYNC => ack_tx.send(0).unwrap(),
                    _ => {}
                }
            }
        });
        p.start().unwrap();
        b.iter_custom(|iters| {
            let t0 = Instant::now();
            for i in 0..iters * SMALL_BATCH {
                tx.send(i).unwrap();
            }
            tx.send(SYNC).unwrap();
            ack_rx.recv().unwrap();
            t0.elapsed()
        });
        tx.send(STOP).unwrap();
        let _ = p.join();
    });
    g.finish();
}

fn queue_bytes(c: &mut Criterion) {
    for size in [1024usize, 1 << 20] {
        let mut g = c.benchmark_group(if size == 1024 {
            "queue_1_kib"
        } else {
            "queue_1_mib"
        });
        let batch = if size == 1024 { SMALL_BATCH / 10 } else { 20 };
        g.throughput(Throughput::Bytes(size as u64 * batch));
        if size > 1024 {
            g.bench_function("memcpy 1 MiB from DRAM (cold source)", cold_memcpy);
        }
        g.bench_function(BenchmarkId::new("multiproc Queue<Vec<u8>>", size), |b| {
            let q: Queue<Vec<u8>> = Queue::new(0).unwrap();
            let ack: Queue<u64> = Queue::new(0).unwrap();
            let mut p = Process::builder()
                .start_method(StartMethod::Fork)
                .target(consume_bytes, (q.clone(), ack.clone()));
            p.start().unwrap();
            let block = vec![7u8; size];
            b.iter_custom(|iters| {
                let t0 = Instant::now();
                for _ in 0..iters * batch {
                    q.put(block.clone()).unwrap();
                }
                q.put(Vec::new()).unwrap();
                ack.get().unwrap();
                t0.elapsed()
            });
            q.put(vec![0]).unwrap();
            p.join().unwrap();
        });
        g.bench_function(BenchmarkId::new("ipc-channel IpcBytesSender", size), |b| {
            let (tx, rx) = ipc_channel::ipc::bytes_channel().unwrap();
            let (ack_tx, ack_rx) = ipc_channel::ipc::channel::<u64>().unwrap();
            let mut p = Process::builder().fork_target(move || {
                while let Ok(m) = rx.recv() {
                    match m.len() {
                        0 => ack_tx.send(0).unwrap(),
                        1 => break,
                        _ => {}
                    }
                }
            });
            p.start().unwrap();
            let block = vec![7u8; size];
            b.iter_custom(|iters| {
                let t0 = Instant::now();
                for _ in 0..iters * batch {
                    tx.send(&block).unwrap();
                }
                tx.send(&[]).unwrap();
                ack_rx.recv().unwrap();
                t0.elapsed()
            });
            tx.send(&[0]).unwrap();
            let _ = p.join();
        });
        g.finish();
    }
}

// ------------------------------------------------------------------ the raw limits

const SLOTS: usize = 1 << 16;

/// A plain single-producer single-consumer ring of `u64` in shared memory: what the queue is
/// measured against for small messages (no locks, no encoding, no length headers).
#[repr(C)]
struct RawRing {
    head: CachePadded<AtomicU64>,
    tail: CachePadded<AtomicU64>,
    slots: [AtomicU64; SLOTS],
}

fn raw_ring(b: &mut criterion::Bencher<'_>) {
    let size = size_of::<RawRing>();
    // SAFETY: a fresh shared anonymous mapping, zero-filled (a valid `RawRing`: all atomics 0),
    // inherited by the forked child at the same address; never unmapped while either uses it.
    let ring: &'static RawRing = unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(p, libc::MAP_FAILED);
        &*p.cast::<RawRing>()
    };
    let mut p = Process::builder().fork_target(move || {
        let mut head = 0u64;
        let mut tail = 0u64;
        loop {
            if head == tail {
                tail = ring.tail.load(Ordering::Acquire);
                if head == tail {
                    std::hint::spin_loop();
                    continue;
                }
            }
            let x = ring.slots[head as usize % SLOTS].load(Ordering::Relaxed);
            head += 1;
            ring.head.store(head, Ordering::Release);
            if x == STOP {
                break;
            }
        }
    });
    p.start().unwrap();
    let mut tail = 0u64;
    let mut head = 0u64;
    let mut push = |x: u64| {
        while tail - head == SLOTS as u64 {
            head = ring.head.load(Ordering::Acquire);
            std::hint::spin_loop();
        }
        ring.slots[tail as usize % SLOTS].store(x, Ordering::Relaxed);
        tail += 1;
        ring.tail.store(tail, Ordering::Release);
        tail
    };
    b.iter_custom(|iters| {
        let t0 = Instant::now();
        let mut end = 0;
        for i in 0..iters * SMALL_BATCH {
            end = push(i);
        }
        while ring.head.load(Ordering::Acquire) != end {
            std::hint::spin_loop();
        }
        t0.elapsed()
    });
    push(STOP);
    let _ = p.join();
}

fn cold_memcpy(b: &mut criterion::Bencher<'_>) {
    // 256 MiB of source, far beyond any cache: each 1 MiB copy reads from DRAM.
    let src = vec![3u8; 256 << 20];
    let mut dst = vec![0u8; 1 << 20];
    let mut at = 0;
    b.iter(|| {
        for _ in 0..20 {
            dst.copy_from_slice(&src[at..at + (1 << 20)]);
            at = (at + (1 << 20)) % src.len();
            std::hint::black_box(&dst);
        }
    });
}

criterion_group! {
    name = benches;
    config = config();
    targets = queue_u64, queue_bytes
}
criterion_main!(benches);
