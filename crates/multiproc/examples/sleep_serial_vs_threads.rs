//! Seed: "线程的调度与优化" — `run(n)` sleeps one second; ten calls in a row take 10 s, ten
//! threads take 1 s, because sleeping (like I/O) does not need the CPU.
//!
//! `cargo run --example sleep_serial_vs_threads`

use multiproc::thread;
use std::time::{Duration, Instant};

/// The seed's `test()`: ten calls on the main thread. Returns the elapsed time and the names
/// of the threads that ran them.
pub fn serial(n: usize, nap: Duration) -> (Duration, Vec<String>) {
    let t0 = Instant::now();
    let names = (0..n)
        .map(|_| {
            std::thread::sleep(nap);
            thread::current_thread().name().to_owned()
        })
        .collect();
    (t0.elapsed(), names)
}

/// The seed's `test_use_thread()`: one thread per call.
pub fn threaded(n: usize, nap: Duration) -> (Duration, Vec<String>) {
    let t0 = Instant::now();
    let ls: Vec<_> = (0..n)
        .map(|_| {
            thread::spawn(move || {
                std::thread::sleep(nap);
                thread::current_thread().name().to_owned()
            })
        })
        .collect();
    let names = ls
        .into_iter()
        .map(|t| t.join().expect("thread panicked"))
        .collect();
    (t0.elapsed(), names)
}

fn main() {
    let nap = Duration::from_millis(200);
    let (s, names) = serial(10, nap);
    println!("serial:  {s:.2?} ({})", names[0]);
    let (t, names) = threaded(10, nap);
    println!("threads: {t:.2?} ({} .. {})", names[0], names[9]);
}
