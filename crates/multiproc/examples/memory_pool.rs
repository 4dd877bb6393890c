//! Seed: "内存池机制" — creating many small objects with `new`/`malloc` each time fragments
//! memory and costs time; a memory pool reserves equal-size blocks ahead of time and hands
//! them out, asking the system again only when it runs short ("pymalloc: 针对小对象 ... 在内存池
//! 中申请内存空间; 大对象, 申请新的内存空间").
//!
//! Many small objects are allocated and freed through the pool and through `Box`; the pool's
//! statistics are printed.
//!
//! `cargo run --release --example memory_pool`

use std::time::{Duration, Instant};

use multiproc::mempool::{self, Pool, Pooled};

/// A small object (32 bytes: one 32-byte size class).
#[derive(Debug, Clone, Copy)]
pub struct Node {
    /// Its number.
    pub id: u64,
    /// Some payload.
    pub weight: f64,
    /// A link, as list nodes have.
    pub next: u64,
    /// More payload.
    pub flags: u64,
}

fn node(i: u64) -> Node {
    Node {
        id: i,
        weight: i as f64 * 0.5,
        next: i + 1,
        flags: 0,
    }
}

/// Allocates `n` nodes in rounds of `live` live objects, through the pool and through `Box`;
/// returns (pool time, Box time, checksum from each).
pub fn run(n: u64, live: usize) -> (Duration, Duration, u64, u64) {
    let pool = Pool::<Node>::new();
    let t0 = Instant::now();
    let mut sum_pool = 0u64;
    let mut window: Vec<Pooled<Node>> = Vec::with_capacity(live);
    for i in 0..n {
        if window.len() == live {
            window.clear(); // every block back to the pool
        }
        let b = pool.alloc(node(i));
        sum_pool = sum_pool.wrapping_add(b.id ^ b.next);
        window.push(b);
    }
    drop(window);
    let pooled = t0.elapsed();

    let t0 = Instant::now();
    let mut sum_box = 0u64;
    let mut window: Vec<Box<Node>> = Vec::with_capacity(live);
    for i in 0..n {
        if window.len() == live {
            window.clear();
        }
        let b = Box::new(node(i));
        sum_box = sum_box.wrapping_add(b.id ^ b.next);
        window.push(b);
    }
    drop(window);
    (pooled, t0.elapsed(), sum_pool, sum_box)
}

fn main() {
    let n = 10_000_000;
    let (pool, boxed, a, b) = run(n, 10_000);
    assert_eq!(a, b);
    println!(
        "{n} small objects, 10,000 live at a time: pool {:.1} ns each, Box (glibc malloc) {:.1} ns each",
        pool.as_nanos() as f64 / n as f64,
        boxed.as_nanos() as f64 / n as f64
    );
    // The statistics while objects are live.
    let live: Vec<_> = (0..50_000).map(|i| Pooled::new(node(i))).collect();
    println!("\n{}", mempool::stats());
    drop(live);
}
