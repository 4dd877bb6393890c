//! A small-object memory pool with pymalloc's design (≈ CPython's `Objects/obmalloc.c`).
//!
//! Memory for many small objects is taken from *pools* of equal-size blocks, reserved ahead of
//! time inside *arenas*; requests above 512 bytes (and zero-size ones) go to the system
//! allocator. That avoids fragmentation and a `malloc` per object:
//!
//! - **size classes** every 16 bytes up to 512 (32 classes), as 64-bit CPython 3.10+;
//! - **pools** of 16 KiB, each serving one size class, found from a block's address by
//!   masking (no header per block);
//! - **arenas** of 1 MiB (64 pools), mapped from the system and returned to it when all their
//!   pools are free again;
//! - **per-thread caches** that move blocks to and from the shared heap in batches (pymalloc
//!   has none: it runs under the GIL), so two threads scale and a producer → consumer pattern
//!   (one thread allocates, another frees) costs one lock per batch, not per block;
//! - **pools owned by threads** (as mimalloc's pages): a thread refills from pools of its own,
//!   so two threads never get neighbouring 16-byte blocks of one cache line; a thread's pools
//!   become orphans when it exits (or, in a forked child, when it is not there) and any
//!   thread adopts them;
//! - a **transfer cache** between them (as tcmalloc's): a batch one thread's cache gives back
//!   is handed whole to the next thread that needs one, without visiting its pools.
//!
//! ```
//! use multiproc::mempool::{self, Pool};
//!
//! #[derive(Debug, PartialEq)]
//! struct Point { x: f64, y: f64 }
//!
//! let pool = Pool::<Point>::new();
//! let p = pool.alloc(Point { x: 1.0, y: 2.0 });      // a 16-byte block from a pool
//! assert_eq!(p.x + p.y, 3.0);
//! drop(p);                                           // back to this thread's cache
//! println!("{}", mempool::stats());                  // ≈ sys._debugmallocstats()
//! ```
//!
//! The same geometry in shared memory is [`SharedHeap`]: blocks every process can reach by
//! offset, per-thread caches kept in the heap itself so that a killed process's cached blocks
//! come back, and room for `Shared`/`Value`/`Array` objects without a segment each
//! (`Value::new_in(&heap, ..)`).
//!
//! # When to use it, and when not
//!
//! A pool pays where one kind of small object is created and dropped at a high rate (nodes,
//! messages, events), and where you want to *see* the memory (the statistics). If the whole
//! program allocates heavily, a better global allocator helps everything at once, with one
//! line: `#[global_allocator] static A: mimalloc::MiMalloc = mimalloc::MiMalloc;` (or
//! `tikv_jemallocator::Jemalloc`). Measured figures for both choices: `docs/PERFORMANCE.md`.
//!
//! # Why hand-written
//!
//! mimalloc and jemalloc are global allocators: they cannot be pointed at a region of shared
//! memory, report pymalloc-style statistics per size class, or be one typed pool among
//! others, and none lives in shared memory. The pymalloc geometry is simple enough to keep in
//! small files: `heap.rs` (arenas, pools, the transfer cache, the locked state), `cache.rs`
//! (thread caches), `pooled.rs` (the typed face), and `shared/` for the heap in shared memory.

mod cache;
mod heap;
mod pooled;
mod shared;
mod stats;

pub use cache::{alloc, dealloc, trim};
pub use pooled::{Pool, Pooled};
pub(crate) use shared::HeapObject;
pub use shared::{HeapFull, InvalidBlock, RawBlock, Recovered, SharedBox, SharedHeap, SharedStats};
pub use stats::{ClassStats, Stats, stats};

/// Blocks are multiples of this, and aligned to it.
pub const ALIGNMENT: usize = 16;
/// The largest request served from pools; larger ones go to the system allocator.
pub const SMALL_REQUEST_THRESHOLD: usize = 512;
/// Number of size classes.
pub const NB_SMALL_SIZE_CLASSES: usize = SMALL_REQUEST_THRESHOLD / ALIGNMENT;
/// Bytes in a pool.
pub const POOL_SIZE: usize = 16 << 10;
/// Bytes in an arena.
pub const ARENA_SIZE: usize = 1 << 20;

/// The size class of a request of `size` bytes (1..=512), pymalloc's `(size - 1) >> 4`.
#[inline]
pub(crate) fn size_class(size: usize) -> usize {
    (size - 1) / ALIGNMENT
}

/// The block size of class `class`.
#[inline]
pub(crate) const fn class_size(class: usize) -> usize {
    (class + 1) * ALIGNMENT
}

/// Blocks a thread cache moves per batch for each class: about 4 KiB worth, between 8 and 64.
/// A table, because a division on every free is measurable (a third of a shared-heap free).
pub(crate) const BATCH: [u32; NB_SMALL_SIZE_CLASSES] = {
    let mut t = [0; NB_SMALL_SIZE_CLASSES];
    let mut c = 0;
    while c < NB_SMALL_SIZE_CLASSES {
        let n = 4096 / class_size(c);
        t[c] = if n < 8 {
            8
        } else if n > 128 {
            128
        } else {
            n as u32
        };
        c += 1;
    }
    t
};

/// Whether a layout is served from pools.
#[inline]
pub(crate) fn pooled(layout: std::alloc::Layout) -> bool {
    layout.size() != 0 && layout.size() <= SMALL_REQUEST_THRESHOLD && layout.align() <= ALIGNMENT
}
