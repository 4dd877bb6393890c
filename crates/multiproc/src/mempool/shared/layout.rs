//! What the shared heap's segment holds, in offsets from its start (each process maps it at
//! its own address).
//!
//! ```text
//! offset 0          1 MiB             2 MiB                      capacity
//! | Header          | arena 1         | arena 2         | ...    |
//! | lock, arena     | 64 pools of     | or one part of a large   |
//! | table, slots    | 16 KiB          | block (whole arenas)     |
//! ```
//!
//! Arena 0 holds the [`Header`]; offset 0 therefore never names a block, and serves as null
//! in every link. The segment is a sparse file: an arena takes memory when it comes into use
//! and gives it back (a punched hole) when it is free again.

use std::cell::UnsafeCell;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU32, AtomicU64};

use crate::mempool::{ARENA_SIZE, NB_SMALL_SIZE_CLASSES, POOL_SIZE};
use crate::sync::RawLock;

pub(super) const MAGIC: u64 = u64::from_le_bytes(*b"mpheap01");
/// Arenas the arena table can describe: capacity is at most 4 GiB.
pub(super) const MAX_ARENAS: usize = 4096;
/// Threads (in all processes together) that can hold a cache at once; more fall back to
/// taking the lock for every block.
pub(super) const MAX_SLOTS: usize = 256;
pub(super) const POOLS_PER_ARENA: u32 = (ARENA_SIZE / POOL_SIZE) as u32;
/// Bytes at the start of each pool used by its header.
pub(super) const POOL_OVERHEAD: usize = 64;

/// `ArenaInfo::state`.
pub(super) const UNUSED: u32 = 0;
pub(super) const POOLS: u32 = 1;
/// The first arena of a large block; `large_len` arenas long.
pub(super) const LARGE: u32 = 2;
/// An arena inside a large block, after its first.
pub(super) const LARGE_TAIL: u32 = 3;

/// `PoolHeader::class` of a free pool.
pub(super) const FREE: u32 = u32::MAX;

/// One arena of the table. Under the heap lock.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ArenaInfo {
    pub(super) state: u32,
    /// Pools `0..untouched` have been used (their header is meaningful).
    pub(super) untouched: u32,
    /// Free pools (derived: rebuilt by a repair).
    pub(super) nfree: u32,
    /// First free pool, by pool index; 0 = none (derived).
    pub(super) free_pools: u32,
    /// For `LARGE`: arenas in the block.
    pub(super) large_len: u32,
    pub(super) _pad: u32,
}

/// At the start of each pool in use. Under the heap lock.
///
/// *Primary* fields (the truth a repair starts from) are `class`, `freeblock` with the links
/// through the free blocks, and `next_offset`; the rest is derived from them.
#[repr(C)]
#[derive(Debug)]
pub(super) struct PoolHeader {
    /// Blocks handed out (derived).
    pub(super) used: u32,
    /// Size class, or [`FREE`].
    pub(super) class: u32,
    /// Offset of the first free block; each free block's first 8 bytes hold the next.
    pub(super) freeblock: u64,
    /// Offset, within the pool, of the first byte never handed out.
    pub(super) next_offset: u32,
    /// Past this, no whole block is left to carve.
    pub(super) max_next_offset: u32,
    /// Neighbours in the class's usable list, or the next free pool (derived).
    pub(super) next: u32,
    pub(super) prev: u32,
}

const _: () = assert!(size_of::<PoolHeader>() <= POOL_OVERHEAD);

/// The state behind the heap lock.
#[repr(C)]
pub(super) struct Locked {
    /// Per class, the first pool with a free block (derived).
    pub(super) usable: [u32; NB_SMALL_SIZE_CLASSES],
    pub(super) arenas_allocated_total: u64,
    pub(super) arenas_freed_total: u64,
    pub(super) slots_recovered_total: u64,
    pub(super) blocks_recovered_total: u64,
    pub(super) arenas: [ArenaInfo; MAX_ARENAS],
}

/// One thread's cache of free blocks: per class, a stack linked through the blocks.
///
/// Only the owning thread touches `bins` and `moving` while it lives (relaxed atomics compile
/// to plain moves); after it dies they are read, under the heap lock, by whoever recovers
/// the slot. A push writes the block's link before the head, so a death at any instant leaves
/// a well-formed stack.
#[repr(C, align(64))]
pub(super) struct Slot {
    /// Owner's kernel tid; 0 = free. Claimed and released under the heap lock.
    pub(super) tid: AtomicU32,
    pub(super) pid: AtomicU32,
    /// Owner's start time, so a recycled tid is not taken for the owner.
    pub(super) start: AtomicU64,
    /// Which attachment of the heap in that process claimed it (see `Inner::id`).
    pub(super) instance: AtomicU64,
    /// The block being moved between this cache and a pool (under the heap lock), or 0:
    /// lets a recovery finish a move its owner died in.
    pub(super) moving: AtomicU64,
    pub(super) bins: [Bin; NB_SMALL_SIZE_CLASSES],
}

#[repr(C)]
pub(super) struct Bin {
    pub(super) head: AtomicU64,
    pub(super) count: AtomicU64,
}

impl Bin {
    /// Pushes the free block at `off` (link first, then head: a death at any instant leaves
    /// a well-formed stack); returns the new count.
    ///
    /// # Safety
    /// The caller owns this bin's slot; `off` is a free block of the segment at `base`, owned
    /// by the caller.
    #[inline(always)]
    pub(super) unsafe fn push(&self, base: *mut u8, off: u64) -> u64 {
        // SAFETY: the caller's: the block is ours to write, 16-byte aligned in the segment.
        unsafe {
            base.add(off as usize)
                .cast::<u64>()
                .write(self.head.load(Relaxed))
        };
        self.head.store(off, Relaxed);
        let n = self.count.load(Relaxed) + 1;
        self.count.store(n, Relaxed);
        n
    }

    /// Pops a block; `None` if the stack is empty.
    ///
    /// # Safety
    /// The caller owns this bin's slot, in the segment at `base`.
    #[inline(always)]
    pub(super) unsafe fn pop(&self, base: *mut u8) -> Option<u64> {
        let head = self.head.load(Relaxed);
        if head == 0 {
            return None;
        }
        // SAFETY: a block on this stack; its first word links the next.
        let next = unsafe { base.add(head as usize).cast::<u64>().read() };
        self.head.store(next, Relaxed);
        self.count.store(self.count.load(Relaxed) - 1, Relaxed);
        Some(head)
    }
}

#[repr(C)]
pub(super) struct Header {
    pub(super) magic: AtomicU64,
    pub(super) capacity: AtomicU64,
    /// Robust: a process that dies holding it hands it on with a repair.
    pub(super) lock: RawLock,
    pub(super) locked: UnsafeCell<Locked>,
    pub(super) slots: [Slot; MAX_SLOTS],
}

const _: () = assert!(size_of::<Header>() <= ARENA_SIZE);
