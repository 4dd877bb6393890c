//! Seed: "递归锁" — `run3` takes the lock and calls `run1` and `run2`, which take it again.
//! With an `RLock`, ten threads finish with `num == num2 == 10`; with a `Lock` they would
//! block forever at `run1`.
//!
//! `cargo run --example rlock_nesting`

use multiproc::sync::RLock;
use multiproc::thread;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

struct Shared {
    lock: RLock,
    num: AtomicU64,
    num2: AtomicU64,
}

fn bump(n: &AtomicU64) -> u64 {
    let v = n.load(Relaxed) + 1;
    n.store(v, Relaxed);
    v
}

fn run1(s: &Shared) -> u64 {
    let _g = s.lock.acquire(); // "grab the first part data"
    bump(&s.num)
}

fn run2(s: &Shared) -> u64 {
    let _g = s.lock.acquire(); // "grab the second part data"
    bump(&s.num2)
}

fn run3(s: &Shared) -> (u64, u64) {
    let _g = s.lock.acquire();
    let res = run1(s);
    let res2 = run2(s);
    (res, res2)
}

/// `threads` threads each run `run3`; returns the final `(num, num2)` and what each `run3`
/// returned.
pub fn run(threads: usize) -> ((u64, u64), Vec<(u64, u64)>) {
    let s = Arc::new(Shared {
        lock: RLock::new(),
        num: AtomicU64::new(0),
        num2: AtomicU64::new(0),
    });
    let ts: Vec<_> = (0..threads)
        .map(|_| {
            let s = s.clone();
            thread::spawn(move || run3(&s))
        })
        .collect();
    let each = ts
        .into_iter()
        .map(|t| t.join().expect("thread panicked"))
        .collect();
    ((s.num.load(Relaxed), s.num2.load(Relaxed)), each)
}

fn main() {
    let ((num, num2), each) = run(10);
    for (res, res2) in each {
        println!("{res} {res2}");
    }
    println!("{num} {num2}");
}
