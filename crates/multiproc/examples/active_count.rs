//! Seed: "查看主线程与子线程" / "查看当前进程的活动线程个数" — inside the thread
//! `current_thread()` is the thread, outside it is `MainThread`; with one thread started,
//! `active_count()` is 2 (`threading.enumerate()` lists the same threads).
//!
//! `cargo run --example active_count`

use multiproc::sync::Event;
use multiproc::thread::{self, Thread};
use std::sync::Arc;

/// What the seed printed.
#[derive(Debug)]
pub struct Outcome {
    /// `current_thread()` inside the started thread.
    pub in_child: Thread,
    /// `current_thread()` where `run` was called.
    pub in_caller: Thread,
    /// `active_count()` while the child was alive.
    pub active_while_running: usize,
    /// `enumerate()` while the child was alive.
    pub enumerated: Vec<Thread>,
    /// `active_count()` before the child started.
    pub active_before: usize,
}

/// Starts one thread, counts while it is alive, then joins it.
pub fn run() -> Outcome {
    let in_caller = thread::current_thread();
    let active_before = thread::active_count();
    let hold = Arc::new(Event::new());
    let h = hold.clone();
    let t = thread::spawn(move || {
        let me = thread::current_thread(); // print('我是子线程： ', ...)
        h.wait();
        me
    });
    let active_while_running = thread::active_count();
    let enumerated = thread::enumerate();
    hold.set();
    let in_child = t.join().expect("thread panicked");
    Outcome {
        in_child,
        in_caller,
        active_while_running,
        enumerated,
        active_before,
    }
}

fn main() {
    let o = run();
    println!("我是子线程：  {:?}", o.in_child);
    println!("我是主线程：  {:?}", o.in_caller);
    println!("线程个数：  {}", o.active_while_running);
    println!("enumerate(): {:?}", o.enumerated);
}
