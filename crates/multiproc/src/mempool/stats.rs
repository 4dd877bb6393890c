//! Pool statistics (≈ `sys._debugmallocstats()`): arenas, and per size class the pools,
//! blocks in use and free blocks, and the bytes not holding a block in use.

use std::fmt;

use super::heap::{self, POOL_OVERHEAD};
use super::{ARENA_SIZE, NB_SMALL_SIZE_CLASSES, POOL_SIZE, class_size};

/// One size class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClassStats {
    /// Block size in bytes.
    pub size: usize,
    /// Pools serving this class.
    pub pools: usize,
    /// Blocks handed out of the pools (to users, or waiting in a thread's cache).
    pub blocks_in_use: usize,
    /// Blocks still free in those pools.
    pub blocks_free: usize,
    /// Of `blocks_in_use`, those in the calling thread's cache.
    pub cached_here: usize,
    /// Of `blocks_in_use`, those in the transfer cache between threads (see [`trim`](super::trim)).
    pub cached_between_threads: usize,
}

/// A snapshot of the pool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Arenas mapped now.
    pub arenas: usize,
    /// Arenas ever mapped.
    pub arenas_allocated_total: u64,
    /// Arenas returned to the system.
    pub arenas_freed_total: u64,
    /// Pools not serving any class (in mapped arenas).
    pub pools_free: usize,
    /// Per size class, smallest first.
    pub classes: Vec<ClassStats>,
}

impl Stats {
    /// Blocks handed out (to users, or waiting in a cache), all classes.
    pub fn blocks_in_use(&self) -> usize {
        self.classes.iter().map(|c| c.blocks_in_use).sum()
    }

    /// Bytes of blocks handed out.
    pub fn bytes_in_use(&self) -> usize {
        self.classes.iter().map(|c| c.size * c.blocks_in_use).sum()
    }

    /// Bytes mapped that do not hold a block handed out: pool headers, free blocks, the
    /// slack at each pool's end, free pools.
    pub fn bytes_wasted(&self) -> usize {
        self.arenas * ARENA_SIZE - self.bytes_in_use()
    }

    /// Pools serving some class.
    pub fn pools_in_use(&self) -> usize {
        self.classes.iter().map(|c| c.pools).sum()
    }
}

/// Takes a snapshot (under the heap lock, briefly).
pub fn stats() -> Stats {
    let cached = super::cache::cached_here();
    let mut classes: Vec<ClassStats> = (0..NB_SMALL_SIZE_CLASSES)
        .map(|c| ClassStats {
            size: class_size(c),
            cached_here: cached[c],
            ..ClassStats::default()
        })
        .collect();
    let h = heap::lock();
    for (c, n) in classes.iter_mut().zip(h.transfer_counts()) {
        c.cached_between_threads = n;
    }
    let (arenas, pools_free) = h.walk(|class, used, cap| {
        let c = &mut classes[class];
        c.pools += 1;
        c.blocks_in_use += used;
        c.blocks_free += cap - used;
    });
    Stats {
        arenas,
        arenas_allocated_total: h.arenas_allocated_total,
        arenas_freed_total: h.arenas_freed_total,
        pools_free,
        classes,
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Small block threshold = 512, in {NB_SMALL_SIZE_CLASSES} size classes.\n"
        )?;
        writeln!(f, "class   size   num pools   blocks in use  avail blocks")?;
        writeln!(f, "-----   ----   ---------   -------------  ------------")?;
        for (i, c) in self.classes.iter().enumerate() {
            if c.pools > 0 {
                writeln!(
                    f,
                    "{i:5} {:6} {:11} {:15} {:13}",
                    c.size, c.pools, c.blocks_in_use, c.blocks_free
                )?;
            }
        }
        writeln!(f)?;
        writeln!(
            f,
            "# arenas allocated total           = {:>12}",
            self.arenas_allocated_total
        )?;
        writeln!(
            f,
            "# arenas reclaimed                 = {:>12}",
            self.arenas_freed_total
        )?;
        writeln!(
            f,
            "# arenas allocated current         = {:>12}",
            self.arenas
        )?;
        writeln!(
            f,
            "{} arenas * {ARENA_SIZE} bytes/arena = {:>12}",
            self.arenas,
            self.arenas * ARENA_SIZE
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "# bytes in allocated blocks        = {:>12}",
            self.bytes_in_use()
        )?;
        writeln!(
            f,
            "# bytes in available blocks and pools, headers, slack = {:>8}",
            self.bytes_wasted()
        )?;
        writeln!(
            f,
            "# pools in use                     = {:>12}",
            self.pools_in_use()
        )?;
        writeln!(
            f,
            "# free pools                       = {:>12}",
            self.pools_free
        )?;
        write!(
            f,
            "(pool size {POOL_SIZE} bytes, header {POOL_OVERHEAD} bytes per pool)"
        )
    }
}
