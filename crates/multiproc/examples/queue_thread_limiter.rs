//! Seed: "线程池 — 简单实现" — a `queue.Queue` pre-filled with five thread "tokens": each of 30
//! tasks takes a token before its thread starts and puts it back when done, so at most five
//! threads run at once.
//!
//! `cargo run --example queue_thread_limiter`

use multiproc::queue::Queue;
use multiproc::thread;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

/// The seed's `MyThread` pool: a queue of tokens.
#[derive(Debug)]
pub struct TokenPool {
    queue: Queue<()>,
}

impl TokenPool {
    /// `max_num` tokens.
    pub fn new(max_num: usize) -> TokenPool {
        let queue = Queue::new(0);
        for _ in 0..max_num {
            queue.put(());
        }
        TokenPool { queue }
    }

    /// `get_thread()`: blocks until a token is free.
    pub fn get_thread(&self) {
        self.queue.get()
    }

    /// `put_thread()`: gives a token back.
    pub fn put_thread(&self) {
        self.queue.put(())
    }
}

/// Runs `tasks` tasks through a pool of `max_num` tokens; returns (tasks run, most at once).
pub fn run(max_num: usize, tasks: u32, work: Duration) -> (u32, u32) {
    let pool = Arc::new(TokenPool::new(max_num));
    let (running, max_running, done) = (
        Arc::new(AtomicU32::new(0)),
        Arc::new(AtomicU32::new(0)),
        Arc::new(AtomicU32::new(0)),
    );
    let mut handles = Vec::new();
    for _ in 0..tasks {
        pool.get_thread();
        let (pool, running, max_running, done) = (
            pool.clone(),
            running.clone(),
            max_running.clone(),
            done.clone(),
        );
        handles.push(thread::spawn(move || {
            let now = running.fetch_add(1, SeqCst) + 1;
            max_running.fetch_max(now, SeqCst);
            std::thread::sleep(work); // print(arg); time.sleep(2)
            done.fetch_add(1, SeqCst);
            running.fetch_sub(1, SeqCst);
            pool.put_thread();
        }));
    }
    for h in handles {
        h.join().expect("thread panicked");
    }
    (done.load(SeqCst), max_running.load(SeqCst))
}

fn main() {
    let (done, max) = run(5, 30, Duration::from_millis(200));
    println!("{done} tasks, at most {max} threads at once");
}
