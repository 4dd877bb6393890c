//! Seed: "线程池 — 复杂版本" — a hand-written `ThreadPool(max_num, max_task_num)`: a bounded
//! task queue, `run(func, args, callback)` where `callback(success, result)` hears of every
//! task, lists of the threads made (`generate_list`) and of those idle (`free_list`),
//! `close()` (finish what is queued, then stop) and `terminate()` (drop what is queued).
//! Each piece is one method of [`ThreadPool`] here.
//!
//! `cargo run --example hand_written_pool`

use multiproc::pool::{TaskOptions, ThreadPool};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A task: fails for multiples of seven (the seed's `except Exception` branch), else sleeps.
pub fn action((i, ms): (u32, u64)) -> u32 {
    std::thread::sleep(Duration::from_millis(ms));
    assert!(i % 7 != 0, "task {i} failed");
    i
}

/// What the runs showed.
#[derive(Debug, Default)]
pub struct Outcome {
    /// `callback(True, result)` calls.
    pub succeeded: usize,
    /// `callback(False, None)` calls.
    pub failed: usize,
    /// Busy workers while the first tasks ran (`len(generate_list) - len(free_list)`).
    pub busy_while_running: usize,
    /// Idle workers then (`len(free_list)`).
    pub idle_while_running: usize,
    /// Tasks that ran after `close()`: every queued one.
    pub ran_after_close: usize,
    /// Tasks that ran after `terminate()`: only the two already running.
    pub ran_after_terminate: usize,
    /// A full bounded queue refused a task instead of blocking.
    pub refused_when_full: bool,
}

/// Waits until `cond` holds, looking every millisecond, for at most ten seconds.
fn until(cond: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !cond() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn submit(pool: &ThreadPool, i: u32, ms: u64, ok: &Arc<AtomicUsize>, bad: &Arc<AtomicUsize>) {
    let (o, b) = (ok.clone(), bad.clone());
    // The seed's `callback(success, result)`: one hook for each outcome.
    let opts = TaskOptions::new()
        .callback(move |_| {
            o.fetch_add(1, Ordering::SeqCst);
        })
        .error_callback(move |_| {
            b.fetch_add(1, Ordering::SeqCst);
        });
    pool.apply_async_with(action, (i, ms), opts).expect("run");
}

/// Runs the seed: 30 tasks on a pool of 5 with at most 10 queued, then `close` and
/// `terminate` on fresh pools.
pub fn run(work: Duration) -> Outcome {
    let ms = work.as_millis() as u64;
    let mut out = Outcome::default();
    let (ok, bad) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));

    let pool = ThreadPool::builder()
        .threads(5)
        .max_queued(10) // max_task_num
        .build()
        .expect("ThreadPool(5, 10)");
    for i in 1..=30 {
        submit(&pool, i, ms, &ok, &bad); // blocks while ten tasks wait
        if i == 5 {
            // Once the first tasks are running (waiting for it, at most ten seconds).
            until(|| pool.busy() > 0);
            // Two counts read one after the other: read again if a worker changed state
            // in between (a task ending), so the pair describes one moment.
            loop {
                let (busy, idle) = (pool.busy(), pool.idle());
                if pool.busy() == busy {
                    (out.busy_while_running, out.idle_while_running) = (busy, idle);
                    break;
                }
            }
        }
    }
    pool.close();
    pool.join().expect("join");
    out.succeeded = ok.load(Ordering::SeqCst);
    out.failed = bad.load(Ordering::SeqCst);

    // close(): every queued task still runs.
    let ran = Arc::new(Mutex::new(0));
    let pool = ThreadPool::new(2).expect("ThreadPool(2)");
    for i in 1..=6 {
        let r = ran.clone();
        pool.apply_async(
            move |ms: u64| {
                std::thread::sleep(Duration::from_millis(ms));
                *r.lock().unwrap() += 1;
                i
            },
            ms,
        )
        .expect("run");
    }
    pool.close();
    pool.join().expect("join");
    out.ran_after_close = *ran.lock().unwrap();

    // terminate(): queued tasks are dropped (the two running ones finish in the background).
    let ran = Arc::new(AtomicUsize::new(0));
    let pool = ThreadPool::builder()
        .threads(2)
        .max_queued(4)
        .build()
        .expect("ThreadPool(2, 4)");
    for _ in 0..6 {
        let r = ran.clone();
        pool.apply_async(
            move |ms: u64| {
                std::thread::sleep(Duration::from_millis(ms));
                r.fetch_add(1, Ordering::SeqCst);
            },
            ms * 4,
        )
        .expect("run");
    }
    out.refused_when_full = pool.try_apply_async(|()| (), ()).is_err();
    until(|| pool.busy() == 2);
    pool.terminate();
    pool.join().expect("join");
    // The two abandoned threads finish their functions in the background; the four queued
    // tasks never run. Once both have finished, one more task's length is when a dropped
    // task would have shown up had it run.
    until(|| ran.load(Ordering::SeqCst) >= 2);
    std::thread::sleep(work * 4);
    out.ran_after_terminate = ran.load(Ordering::SeqCst);
    out
}

#[allow(dead_code)]
fn main() {
    let o = run(Duration::from_millis(50));
    println!("{o:#?}");
}
