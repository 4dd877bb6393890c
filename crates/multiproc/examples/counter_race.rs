//! Seed: "python GIL" — two threads each add 1 to `global_num` a million times. Without a lock
//! updates are lost (`global_num += 1` is a read, an add and a write); with a `Lock` around the
//! loop the total is exactly 2,000,000. Also the seed's 100 threads doing `number += 1` under a
//! lock.
//!
//! Here the shared number is an `AtomicU64` used with a separate load and store, which is the
//! same non-atomic read-modify-write, without undefined behaviour.
//!
//! `cargo run --release --example counter_race`

use multiproc::sync::{Barrier, Lock};
use multiproc::thread;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// `global_num += 1`, the unsafe way: read, then write. Every so often the thread yields in
/// the middle, so the race shows even when both threads share one core.
fn racy_increment(n: &AtomicU64, i: u64) {
    let v = n.load(Relaxed);
    if i.is_multiple_of(4096) {
        std::thread::yield_now();
    }
    n.store(v + 1, Relaxed);
}

/// Two threads, `per_thread` increments each; `lock` decides whether each thread holds the
/// lock around its loop (the seed's version). Returns the final count.
pub fn two_threads(per_thread: u64, lock: bool) -> u64 {
    let n = Arc::new(AtomicU64::new(0));
    let mutex = Arc::new(Lock::new());
    let start = Arc::new(Barrier::new(2));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (n, mutex, start) = (n.clone(), mutex.clone(), start.clone());
            thread::spawn(move || {
                start.wait().expect("barrier");
                let _held = lock.then(|| mutex.acquire());
                for i in 0..per_thread {
                    racy_increment(&n, i);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker panicked");
    }
    n.load(Relaxed)
}

/// The seed's 100 threads, each doing one `number += 1` under the lock.
pub fn hundred_threads_with_lock() -> u64 {
    let number = Arc::new(AtomicU64::new(0));
    let lock = Arc::new(Lock::new());
    let ts: Vec<_> = (0..100)
        .map(|_| {
            let (number, lock) = (number.clone(), lock.clone());
            thread::spawn(move || {
                let _g = lock.acquire();
                let v = number.load(Relaxed);
                number.store(v + 1, Relaxed);
            })
        })
        .collect();
    for t in ts {
        t.join().expect("thread panicked");
    }
    number.load(Relaxed)
}

fn main() {
    let unlocked = two_threads(1_000_000, false);
    println!(
        "without a lock: {unlocked} (lost {} updates)",
        2_000_000 - unlocked
    );
    println!("with a Lock:    {}", two_threads(1_000_000, true));
    println!(
        "100 threads, number += 1 under a Lock: {}",
        hundred_threads_with_lock()
    );
}
