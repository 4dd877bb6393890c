//! Seed: "线程的调度与优化" — `run(n)` sleeps a second and prints its thread's name: ten in a
//! row take ten seconds, ten threads take one, and `multiprocessing.dummy.Pool(10).map(run,
//! range(100))` takes ten, "达到了线程的复用": ten threads serve a hundred calls.
//!
//! `cargo run --example thread_pool_map`

use multiproc::pool::ThreadPool;
use multiproc::thread;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// The seed's `run`: sleeps, then reports which thread ran it.
pub fn run_one(n: u32, work: Duration, print: bool) -> String {
    std::thread::sleep(work);
    let name = thread::current_thread().name().to_owned();
    if print {
        println!("{name} {n}");
    }
    name
}

/// Serial, ten threads, and a pool of ten threads over a hundred calls: the times, and how
/// many distinct threads the pool used.
pub fn run(work: Duration, print: bool) -> (Duration, Duration, Duration, usize) {
    let t0 = Instant::now();
    for n in 0..10 {
        run_one(n, work, print);
    }
    let serial = t0.elapsed();

    let t0 = Instant::now();
    let threads: Vec<_> = (0..10)
        .map(|n| thread::spawn(move || run_one(n, work, print)))
        .collect();
    for t in threads {
        t.join().expect("join");
    }
    let ten_threads = t0.elapsed();

    let t0 = Instant::now();
    let pool = ThreadPool::new(10).expect("Pool(10)");
    let names = pool
        .map(move |n| run_one(n, work, print), 0..100)
        .expect("map");
    pool.close();
    pool.join().expect("join");
    let pooled = t0.elapsed();
    let distinct: BTreeSet<String> = names.into_iter().collect();
    (serial, ten_threads, pooled, distinct.len())
}

#[allow(dead_code)]
fn main() {
    let (serial, threads, pool, used) = run(Duration::from_millis(200), true);
    println!(
        "10 calls in a row:            {:.2} s",
        serial.as_secs_f64()
    );
    println!(
        "10 threads:                   {:.2} s",
        threads.as_secs_f64()
    );
    println!(
        "Pool(10).map over 100 calls:  {:.2} s, on {used} threads",
        pool.as_secs_f64()
    );
}
