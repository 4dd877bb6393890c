//! Seed: "信号量" — `threading.BoundedSemaphore(5)` over 20 threads: at most five run the
//! guarded part at once, "like a queue of five slots".
//!
//! `cargo run --example bounded_semaphore`

use multiproc::sync::BoundedSemaphore;
use multiproc::thread;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::{Duration, Instant};

/// What the run showed.
#[derive(Debug)]
pub struct Outcome {
    /// The most threads inside at once.
    pub max_inside: u32,
    /// Threads that ran.
    pub ran: u32,
    /// Wall time.
    pub elapsed: Duration,
}

/// `threads` threads, each holding one of `slots` for `hold`.
pub fn run(slots: u32, threads: u32, hold: Duration) -> Outcome {
    let semaphore = Arc::new(BoundedSemaphore::new(slots));
    let inside = Arc::new(AtomicU32::new(0));
    let max_inside = Arc::new(AtomicU32::new(0));
    let ran = Arc::new(AtomicU32::new(0));
    let t0 = Instant::now();
    let ts: Vec<_> = (0..threads)
        .map(|_| {
            let (semaphore, inside, max_inside, ran) = (
                semaphore.clone(),
                inside.clone(),
                max_inside.clone(),
                ran.clone(),
            );
            thread::spawn(move || {
                let _slot = semaphore.acquire();
                let now = inside.fetch_add(1, SeqCst) + 1;
                max_inside.fetch_max(now, SeqCst);
                std::thread::sleep(hold);
                ran.fetch_add(1, SeqCst);
                inside.fetch_sub(1, SeqCst);
            })
        })
        .collect();
    for t in ts {
        t.join().expect("thread panicked");
    }
    Outcome {
        max_inside: max_inside.load(SeqCst),
        ran: ran.load(SeqCst),
        elapsed: t0.elapsed(),
    }
}

fn main() {
    let o = run(5, 20, Duration::from_secs(1));
    println!(
        "{} threads ran, at most {} at once, in {:.2?}",
        o.ran, o.max_inside, o.elapsed
    );
}
