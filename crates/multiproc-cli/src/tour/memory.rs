//! The memory-pool experiment: many small objects through the pool and through `Box`, and the
//! pool's statistics for this run (≈ `sys._debugmallocstats()`).

use multiproc::mempool::{self, Pooled};

use super::Tour;

#[allow(dead_code)]
#[path = "../../../multiproc/examples/memory_pool.rs"]
mod memory_pool;

#[allow(dead_code)]
#[path = "../../../multiproc/examples/shared_heap.rs"]
mod shared_heap;

pub fn run(t: &mut Tour) {
    let n = 5_000_000;
    t.start(
        "Many small objects: 5,000,000 allocations, 10,000 live at a time, through the pool and through Box",
        "内存池机制",
    );
    let (pool, boxed, a, b) = memory_pool::run(n, 10_000);
    assert_eq!(a, b);
    let live: Vec<_> = (0..20_000u64).map(|i| Pooled::new([i; 4])).collect();
    let stats = mempool::stats();
    drop(live);
    t.table(
        "pool statistics with 20,000 32-byte objects live:",
        &stats.to_string(),
    );
    t.done(
        format!(
            "pool {:.1} ns per object, Box (glibc malloc) {:.1} ns; {} arena(s) mapped, {} bytes in blocks",
            pool.as_nanos() as f64 / n as f64,
            boxed.as_nanos() as f64 / n as f64,
            stats.arenas,
            stats.bytes_in_use()
        ),
        "a pool hands out equal-size blocks reserved ahead of time; the system is asked only per 1 MiB arena",
    );

    let m = 200_000u64;
    t.start(
        "The same pool in shared memory: a child allocates 200,000 readings, the parent frees them; then a child is killed with blocks in its cache",
        "",
    );
    let (t0, sum, shared) = shared_heap::run(m);
    assert_eq!(sum, m * (m - 1) / 2);
    t.table(
        "shared heap statistics after a child was killed holding a cache:",
        &shared.to_string(),
    );
    let in_use = shared.pools.blocks_in_use();
    t.done(
        format!(
            "{:.2} M readings/s handed over as offsets; {} dead cache(s) recovered ({} blocks); {} blocks still in use",
            m as f64 / t0.as_secs_f64() / 1e6,
            shared.slots_recovered_total,
            shared.blocks_recovered_total,
            in_use
        ),
        "per-process caches live in the heap's header, so a killed process's cached blocks come back",
    );
}
