//! Seed: "数据隔离性测试" and "线程的开启" — a thread does `n -= 1` on the global `n = 100` and
//! the main thread then sees 99: threads share their process's memory (processes would not).
//! And the main thread and its threads report the same process id.
//!
//! `cargo run --example shared_data`

use multiproc::thread;
use std::sync::atomic::{AtomicI64, Ordering::SeqCst};

static N: AtomicI64 = AtomicI64::new(100);

/// Runs the seed: returns `n` as the main thread sees it after the thread ran, and the process
/// ids seen inside and outside the thread.
pub fn run() -> (i64, u32, u32) {
    let t = thread::spawn(|| {
        N.fetch_sub(1, SeqCst); // global n; n -= 1
        std::process::id() // os.getpid() in the thread
    });
    let pid_in_thread = t.join().expect("thread panicked");
    (N.load(SeqCst), pid_in_thread, std::process::id())
}

fn main() {
    let (n, in_thread, in_main) = run();
    println!("n = {n}");
    println!("pid in thread {in_thread}, in main {in_main}");
}
