//! Seed: "实现一个线程" — a `threading.Thread` subclass whose `run()` loops five times, printing
//! the thread's name (`LoopThread(name='loop_thread')`), started and joined from the main thread.
//!
//! In Rust, "subclass Thread and override run" is "implement [`Run`]".
//!
//! `cargo run --example thread_subclass`

use multiproc::thread::{self, Builder, Run};
use std::time::Duration;

/// The seed's `LoopThread`: `n` counts to 5, one line per second (here: per `tick`).
#[derive(Debug)]
pub struct LoopThread {
    n: u32,
    tick: Duration,
}

impl Run for LoopThread {
    type Output = Vec<String>;

    fn run(mut self) -> Vec<String> {
        let mut lines = Vec::new();
        while self.n < 5 {
            let now_thread = thread::current_thread();
            lines.push(format!("loop now: {}", now_thread.name()));
            lines.push(format!("{}", self.n));
            std::thread::sleep(self.tick);
            self.n += 1;
        }
        lines
    }
}

/// Runs the seed; returns the main thread's line followed by the loop thread's lines.
pub fn run(tick: Duration) -> Vec<String> {
    let mut out = vec![format!("now: {}", thread::current_thread().name())];
    let t = Builder::new()
        .name("loop_thread")
        .start(LoopThread { n: 0, tick })
        .expect("start thread");
    out.extend(t.join().expect("loop_thread panicked"));
    out
}

fn main() {
    for line in run(Duration::from_millis(200)) {
        println!("{line}");
    }
}
