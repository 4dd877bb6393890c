//! Seed: "进程池" — `p = Pool(5)`; ten `p.apply_async(func=myFun, args=(i,), callback=end_call)`
//! where `myFun` sleeps two seconds and returns `i + 100`, and `end_call` prints the result
//! *in the parent* ("callback是主进程来调用"); then `print("end")`, `p.close()`, `p.join()`.
//!
//! `cargo run --example pool_apply_async`

use multiproc::pool::{Pool, TaskOptions};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The seed's `myFun`: sleeps, then returns `i + 100`.
pub fn my_fun((i, ms): (u64, u64)) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    i + 100
}

/// What the run showed: the values the callbacks saw (in the order they came), the pid each
/// callback ran in, the parent's pid, and how long the ten tasks took.
#[derive(Debug)]
pub struct Outcome {
    /// What `end_call` received, in the order the results came.
    pub callbacks: Vec<u64>,
    /// The process each `end_call` ran in.
    pub callback_pids: Vec<u32>,
    /// This (the parent) process.
    pub parent: u32,
    /// From the first `apply_async` to the end of `join`.
    pub elapsed: Duration,
}

/// Runs the seed with `work` in place of its two seconds.
pub fn run(work: Duration, print: bool) -> Outcome {
    let p = Pool::new(5).expect("Pool(5)");
    let seen = Arc::new(Mutex::new((Vec::new(), Vec::new())));
    let t0 = Instant::now();
    for i in 0..10 {
        let seen = seen.clone();
        let end_call = move |arg: &u64| {
            if print {
                println!("end_call>> {arg}");
            }
            let mut s = seen.lock().unwrap();
            s.0.push(*arg);
            s.1.push(std::process::id());
        };
        p.apply_async_with(
            my_fun,
            (i, work.as_millis() as u64),
            TaskOptions::new().callback(end_call),
        )
        .expect("apply_async");
    }
    if print {
        println!("end");
    }
    p.close();
    p.join().expect("join");
    let elapsed = t0.elapsed();
    let (callbacks, callback_pids) = seen.lock().unwrap().clone();
    Outcome {
        callbacks,
        callback_pids,
        parent: std::process::id(),
        elapsed,
    }
}

#[allow(dead_code)]
fn main() {
    let o = run(Duration::from_secs(2), true);
    println!(
        "10 tasks of 2 s on 5 workers took {:.1} s; every callback ran in the parent ({}): {}",
        o.elapsed.as_secs_f64(),
        o.parent,
        o.callback_pids.iter().all(|&p| p == o.parent)
    );
}
