//! Seed: "进程池Pool — apply同步 / apply_async 异步提交 / get / close / join / map" and "进程池"
//! (`# p.apply(func=Foo)  # 串行执行`): `apply` waits for each task in turn, so the pool runs
//! one at a time; `apply_async` submits them all and the pool runs `processes` at once;
//! `map` is `apply_async` over a list, with the results back in order.
//!
//! `cargo run --example pool_apply_vs_async`

use multiproc::pool::Pool;
use std::time::{Duration, Instant};

/// A task: sleeps `ms`, returns `i * i`.
pub fn task((i, ms): (u64, u64)) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    i * i
}

/// `n` tasks of `work` each on a pool of `workers`: the time with `apply`, with
/// `apply_async` + `get`, and with `map`; and whether all three gave the same values.
pub fn run(workers: usize, n: u64, work: Duration) -> (Duration, Duration, Duration, bool) {
    let p = Pool::new(workers).expect("Pool");
    let ms = work.as_millis() as u64;
    let t0 = Instant::now();
    let serial: Vec<u64> = (0..n)
        .map(|i| p.apply(task, (i, ms)).expect("apply"))
        .collect();
    let apply = t0.elapsed();
    let t0 = Instant::now();
    let results: Vec<_> = (0..n)
        .map(|i| p.apply_async(task, (i, ms)).expect("apply_async"))
        .collect();
    let parallel: Vec<u64> = results.iter().map(|r| r.get().expect("get")).collect();
    let apply_async = t0.elapsed();
    let t0 = Instant::now();
    let mapped = p.map(task, (0..n).map(|i| (i, ms))).expect("map");
    let map = t0.elapsed();
    p.close();
    p.join().expect("join");
    (
        apply,
        apply_async,
        map,
        serial == parallel && parallel == mapped,
    )
}

#[allow(dead_code)]
fn main() {
    let (apply, apply_async, map, same) = run(4, 8, Duration::from_millis(250));
    println!("8 tasks of 0.25 s on Pool(4):");
    println!("  apply (one at a time):  {:.2} s", apply.as_secs_f64());
    println!(
        "  apply_async + get:      {:.2} s",
        apply_async.as_secs_f64()
    );
    println!("  map:                    {:.2} s", map.as_secs_f64());
    println!("  same results: {same}");
}
