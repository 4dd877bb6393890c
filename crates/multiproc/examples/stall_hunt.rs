//! The long tail of a round trip: `n` sequential round trips through a raw process `Queue`
//! pair and `n / 2` sequential `Pool(2).apply` calls, with p50, p99, p99.99, max and how many
//! took over 100 µs, 1 ms, 10 ms and 100 ms (`docs/PERFORMANCE.md` says what it found).
//!
//! `cargo run --release --example stall_hunt [n]`

use multiproc::pool::Pool;
use multiproc::process::{Process, Queue, StartMethod};
use std::time::{Duration, Instant};
/// Echoes until `u64::MAX`.
fn echo((a, b): (Queue<u64>, Queue<u64>)) {
    while let Ok(x) = a.get() {
        if x == u64::MAX {
            break;
        }
        b.put(x).unwrap();
    }
}
/// A trivial task.
fn ident(x: u64) -> u64 {
    x
}
/// Prints the distribution.
fn report(name: &str, mut lat: Vec<Duration>) {
    lat.sort();
    let n = lat.len();
    let over = |d: Duration| lat.iter().filter(|&&l| l > d).count();
    println!(
        "{name}: n {n} p50 {:?} p99 {:?} p99.99 {:?} max {:?}; >100us {} >1ms {} >10ms {} >100ms {}",
        lat[n / 2],
        lat[n * 99 / 100],
        lat[n * 9999 / 10000],
        lat[n - 1],
        over(Duration::from_micros(100)),
        over(Duration::from_millis(1)),
        over(Duration::from_millis(10)),
        over(Duration::from_millis(100))
    );
}
fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(1_000_000, |s| s.parse().unwrap());
    let a: Queue<u64> = Queue::new(0).unwrap();
    let b: Queue<u64> = Queue::new(0).unwrap();
    let mut p = Process::builder()
        .start_method(StartMethod::Fork)
        .target(echo, (a.clone(), b.clone()));
    p.start().unwrap();
    let lat: Vec<Duration> = (0..n as u64)
        .map(|i| {
            let t = Instant::now();
            a.put(i).unwrap();
            b.get().unwrap();
            t.elapsed()
        })
        .collect();
    a.put(u64::MAX).unwrap();
    p.join().unwrap();
    report("raw Queue round trip", lat);
    let pool = Pool::builder()
        .processes(2)
        .start_method(StartMethod::Fork)
        .build()
        .unwrap();
    let lat: Vec<Duration> = (0..n as u64 / 2)
        .map(|i| {
            let t = Instant::now();
            pool.apply(ident, i).unwrap();
            t.elapsed()
        })
        .collect();
    report("Pool(2).apply", lat);
}
