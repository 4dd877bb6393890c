//! The memory pool in shared memory: a child process allocates small messages in a
//! [`SharedHeap`] and hands each one over through a `Queue<RawBlock>` (an offset, not a copy);
//! the parent reads and frees them. Then a child is killed with blocks in its cache, and the
//! heap takes them back. The heap's statistics are printed.
//!
//! `cargo run --release --example shared_heap`

use std::time::{Duration, Instant};

use multiproc::mempool::{RawBlock, SharedHeap, SharedStats};
use multiproc::process::{Process, Queue};
use multiproc::shared::Shared;
use multiproc::sync::Event;

/// One message: 48 bytes, one 48-byte size class.
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Reading {
    /// Its number.
    pub seq: u64,
    /// Payload.
    pub values: [f64; 4],
    /// `seq` scrambled, to check the block arrived intact.
    pub check: u64,
}

fn check(seq: u64) -> u64 {
    seq.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// `n` readings from a child to this process through `heap`; returns the time taken, the sum
/// of their `seq`, and the statistics after a child was killed holding a cache and the heap
/// recovered it.
pub fn run(n: u64) -> (Duration, u64, SharedStats) {
    let heap = SharedHeap::new(64 << 20).expect("shared heap");
    let q: Queue<RawBlock> = Queue::new(0).expect("queue");
    let t0 = Instant::now();
    let mut producer = Process::new(
        |(heap, q, n): (SharedHeap, Queue<RawBlock>, u64)| {
            for seq in 0..n {
                let r = Reading {
                    seq,
                    values: [seq as f64; 4],
                    check: check(seq),
                };
                q.put(heap.boxed(r).expect("room").into_raw()).expect("put");
            }
        },
        (heap.clone(), q.clone(), n),
    );
    producer.start().expect("start");
    let mut sum = 0u64;
    for _ in 0..n {
        let raw = q.get().expect("get");
        // SAFETY: each block is sent once by the producer, which gave it up.
        let r = unsafe { heap.from_raw::<Reading>(raw) }.expect("a reading");
        assert_eq!(r.check, check(r.seq));
        sum += r.seq;
    } // each `r` is freed here, into this process's cache
    producer.join().expect("join");
    let elapsed = t0.elapsed();

    // A child that dies with blocks in its cache: they come back.
    let ready = Shared::new(Event::new()).expect("event");
    let mut doomed = Process::new(
        |(heap, ready): (SharedHeap, Shared<Event>)| -> () {
            let held: Vec<_> = (0..50u64).map(|i| heap.boxed(i).expect("room")).collect();
            drop(held); // 50 blocks now in this process's cache
            ready.set();
            loop {
                std::thread::park();
            }
        },
        (heap.clone(), ready.clone()),
    );
    doomed.start().expect("start");
    assert!(ready.wait_timeout(Duration::from_secs(30)));
    doomed.kill().expect("kill");
    let _ = doomed.join();
    heap.recover();
    heap.trim();
    (elapsed, sum, heap.stats())
}

fn main() {
    let n = 200_000;
    let (t, sum, stats) = run(n);
    assert_eq!(sum, n * (n - 1) / 2);
    println!(
        "{n} readings handed from a child through the shared heap: {:.2} M/s",
        n as f64 / t.as_secs_f64() / 1e6
    );
    println!("{stats}");
}
