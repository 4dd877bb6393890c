//! The memory-pool experiment: many small objects through the pool and through `Box`, and the
//! pool's statistics for this run (≈ `sys._debugmallocstats()`).

use multiproc::mempool::{self, Pooled};

use super::Finding;

#[allow(dead_code)]
#[path = "../../../multiproc/examples/memory_pool.rs"]
mod memory_pool;

pub fn run() -> Vec<Finding> {
    let n = 5_000_000;
    let (pool, boxed, a, b) = memory_pool::run(n, 10_000);
    assert_eq!(a, b);
    let live: Vec<_> = (0..20_000u64).map(|i| Pooled::new([i; 4])).collect();
    let stats = mempool::stats();
    drop(live);
    println!("  pool statistics with 20,000 32-byte objects live:");
    for line in stats.to_string().lines() {
        println!("    {line}");
    }
    vec![Finding::new(
        "5,000,000 small objects, 10,000 live at a time, through the pool and through Box (seed: 内存池机制)",
        format!(
            "pool {:.1} ns per object, Box (glibc malloc) {:.1} ns; {} arena(s) mapped, {} bytes in blocks",
            pool.as_nanos() as f64 / n as f64,
            boxed.as_nanos() as f64 / n as f64,
            stats.arenas,
            stats.bytes_in_use()
        ),
        "a pool hands out equal-size blocks reserved ahead of time; the system is asked only per 1 MiB arena",
    )]
}
