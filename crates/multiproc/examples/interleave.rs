//! Seed: "多线程并发" / "多线程中的锁" — two threads run `test(n)`: `num += n; sleep; num -= n;
//! sleep; print(num)`. Without a lock the printed values are 1, 2 or 3 as the threads
//! interleave; with `lock.acquire()`/`release()` around each call every print shows 0.
//!
//! `cargo run --example interleave`

use multiproc::sync::Lock;
use multiproc::thread;
use std::sync::atomic::{AtomicI64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The seed's `test(n)`: returns the value it would print.
fn test(num: &AtomicI64, n: i64, nap: Duration) -> i64 {
    num.fetch_add(n, SeqCst);
    std::thread::sleep(nap);
    num.fetch_sub(n, SeqCst);
    std::thread::sleep(nap / 2);
    num.load(SeqCst)
}

/// Two threads (n = 1 and n = 2), `rounds` calls each; returns every printed value.
pub fn run(rounds: usize, nap: Duration, use_lock: bool) -> Vec<i64> {
    let num = Arc::new(AtomicI64::new(0));
    let lock = Arc::new(Lock::new());
    let printed = Arc::new(Mutex::new(Vec::new()));
    let ts: Vec<_> = [1, 2]
        .into_iter()
        .map(|n| {
            let (num, lock, printed) = (num.clone(), lock.clone(), printed.clone());
            thread::spawn(move || {
                for _ in 0..rounds {
                    if use_lock {
                        lock.acquire().leak(); // lock.acquire()
                    }
                    let v = test(&num, n, nap);
                    printed.lock().unwrap().push(v);
                    if use_lock {
                        lock.release().expect("held"); // lock.release()
                    }
                }
            })
        })
        .collect();
    for t in ts {
        t.join().expect("thread panicked");
    }
    Arc::try_unwrap(printed)
        .map(|m| m.into_inner().unwrap())
        .unwrap_or_default()
}

fn main() {
    for (label, lock) in [("without a lock", false), ("with a Lock", true)] {
        println!("{label}:");
        for v in run(4, Duration::from_millis(100), lock) {
            println!("----------------{v}");
        }
    }
}
