//! How much memory a pool of two worker processes adds (the budget: 10 MiB in all,
//! parent and workers, beyond an idle process each). Prints RSS and PSS (shared pages split
//! among the processes that map them) of the parent before and after, of each worker, and of
//! an idle child process for comparison, after the pool has carried 100,000 tasks (1,000 in
//! flight, results dropped as they come: the pool's own cost, not the caller's data) and a
//! `map` of 100,000 numbers.
//!
//! `cargo run --release --example pool_memory [fork|spawn|forkserver]`

use multiproc::pool::Pool;
use multiproc::process::{Process, StartMethod};

fn kib(pid: u32, file: &str, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// (RSS, PSS) in KiB.
pub fn mem(pid: u32) -> (u64, u64) {
    (
        kib(pid, "status", "VmRSS:"),
        kib(pid, "smaps_rollup", "Pss:"),
    )
}

fn idle(_: ()) {
    std::thread::sleep(std::time::Duration::from_secs(5));
}

fn ident(x: u64) -> u64 {
    x
}

#[allow(dead_code)]
fn main() {
    let m: StartMethod = std::env::args()
        .nth(1)
        .map_or(StartMethod::Fork, |a| a.parse().expect("a start method"));
    let me = std::process::id();
    let mut reference = Process::builder().start_method(m).target(idle, ());
    reference.start().expect("start");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let idle_child = mem(reference.pid().expect("pid"));
    let before = mem(me);
    let pool = Pool::builder()
        .processes(2)
        .start_method(m)
        .build()
        .expect("pool");
    for batch in 0..100u64 {
        let rs: Vec<_> = (0..1_000)
            .map(|i| pool.apply_async(ident, batch * 1_000 + i).expect("submit"))
            .collect();
        for r in rs {
            r.get().expect("get");
        }
    }
    drop(pool.map(ident, 0..100_000u64).expect("map"));
    let after = mem(me);
    let workers: Vec<(u64, u64)> = pool.pids().into_iter().map(mem).collect();
    println!("start method {m}: KiB as (RSS, PSS)");
    println!("  idle child process:     {idle_child:?}");
    println!("  parent before the pool: {before:?}");
    println!(
        "  parent after:           {after:?}  (+{} RSS, +{} PSS)",
        after.0 as i64 - before.0 as i64,
        after.1 as i64 - before.1 as i64
    );
    let mut extra_rss = after.0 as i64 - before.0 as i64;
    let mut extra_pss = after.1 as i64 - before.1 as i64;
    for w in &workers {
        println!(
            "  worker:                 {w:?}  (+{} RSS, +{} PSS beyond the idle child)",
            w.0 as i64 - idle_child.0 as i64,
            w.1 as i64 - idle_child.1 as i64
        );
        extra_rss += w.0 as i64 - idle_child.0 as i64;
        extra_pss += w.1 as i64 - idle_child.1 as i64;
    }
    println!(
        "  added in all: {:.1} MiB RSS, {:.1} MiB PSS",
        extra_rss as f64 / 1024.0,
        extra_pss as f64 / 1024.0
    );
    reference.kill().ok();
    reference.join().ok();
}
