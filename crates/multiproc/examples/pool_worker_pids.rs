//! Seed: "进程池" (`pool = Pool(3)`; ten `pool.apply_async(worker)`, each printing
//! `---pid = %d---` a few times; `close()` then `join()`): a pool starts its processes once
//! and lends them to tasks, so ten tasks show at most three pids.
//!
//! `cargo run --example pool_worker_pids`

use multiproc::pool::Pool;
use std::collections::BTreeSet;
use std::time::Duration;

/// The seed's `worker`: prints its pid `times` times (when `print`), pausing between;
/// returns its pid.
pub fn worker((times, ms, print): (u32, u64, bool)) -> u32 {
    for _ in 0..times {
        if print {
            println!("---pid = {}---", std::process::id());
        }
        std::thread::sleep(Duration::from_millis(ms));
    }
    std::process::id()
}

/// Ten tasks on a pool of three: the pids that ran them.
pub fn run(times: u32, pause: Duration, print: bool) -> BTreeSet<u32> {
    let pool = Pool::new(3).expect("Pool(3)");
    let results: Vec<_> = (0..10)
        .map(|_| {
            pool.apply_async(worker, (times, pause.as_millis() as u64, print))
                .expect("apply_async")
        })
        .collect();
    pool.close();
    pool.join().expect("join");
    results.iter().map(|r| r.get().expect("get")).collect()
}

#[allow(dead_code)]
fn main() {
    let pids = run(5, Duration::from_millis(100), true);
    println!("ten tasks ran in {} processes: {pids:?}", pids.len());
}
