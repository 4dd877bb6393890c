//! The shared heap's locked part: pools and arenas by offset, large blocks, slot claims, and
//! the recovery that gives a dead thread's cache back and repairs what a death under the lock
//! left half-done.
//!
//! # Staying correct when a process dies anywhere
//!
//! A process can be killed between any two instructions, also while it holds the heap lock.
//! The lock is robust: the next taker learns the owner died. The state is split so that it
//! can then be rebuilt:
//!
//! - *primary* state changes in single 8-byte stores that are each a consistent step: a pool's
//!   class, its free list (a push writes the link, then the head), its `next_offset`; an
//!   arena's state and `untouched`; each slot's stacks and its `moving` record;
//! - *derived* state (blocks used per pool, the usable lists, free-pool lists) is rebuilt from
//!   the primary state by [`Guard::repair`].
//!
//! A block moved between a cache and a pool is named in the slot's `moving` record first, so
//! a recovery can tell a block in neither place (the mover died in between) and return it.

use std::ptr;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

use super::layout::*;
use crate::mempool::{ARENA_SIZE, NB_SMALL_SIZE_CLASSES, POOL_SIZE, class_size};
use crate::sync::lock::Acquired;
use crate::sys::shm::Segment;

/// The heap, locked.
pub(super) struct Guard<'a> {
    seg: &'a Segment,
    header: &'a Header,
    l: &'a mut Locked,
    /// Arenas in the segment (arena 0 is the header).
    narenas: u32,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        let _ = self.header.lock.unlock();
    }
}

/// What a recovery gave back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Caches of dead threads emptied.
    pub slots: usize,
    /// Blocks they held, now free again.
    pub blocks: usize,
}

/// Locks the heap in `seg`; if the previous holder died, repairs it first.
pub(super) fn lock(seg: &Segment) -> Guard<'_> {
    let header = header(seg);
    let died = header.lock.lock_until_checked(None) == Acquired::OwnerDied;
    // SAFETY: the lock is held until the guard drops; `locked` is only reached under it.
    let l = unsafe { &mut *header.locked.get() };
    let narenas = (header.capacity.load(Relaxed) / ARENA_SIZE as u64) as u32;
    let mut g = Guard {
        seg,
        header,
        l,
        narenas,
    };
    if died {
        g.recover(true);
    }
    g
}

pub(super) fn header(seg: &Segment) -> &Header {
    // SAFETY: a heap segment starts with a `Header` (written zeroed by the kernel, then
    // initialised by `SharedHeap::new`; checked by magic on attach), and lives as long as `seg`.
    unsafe { &*seg.ptr().as_ptr().cast::<Header>() }
}

impl Guard<'_> {
    #[inline]
    fn base(&self) -> *mut u8 {
        self.seg.ptr().as_ptr()
    }

    /// # Safety
    /// `index` is a pool index of an arena in `POOLS` state, below its `untouched` (or about to
    /// be initialised).
    ///
    /// The header lives in the segment, not in `self`; callers hold one such reference at a
    /// time (each is dead before the next is made).
    #[inline]
    #[allow(clippy::mut_from_ref)]
    unsafe fn pool(&self, index: u32) -> &mut PoolHeader {
        // SAFETY: the caller's; the pool lies inside the segment and we hold the lock.
        unsafe {
            &mut *self
                .base()
                .add(index as usize * POOL_SIZE)
                .cast::<PoolHeader>()
        }
    }

    /// The link stored in the free block at `off`.
    ///
    /// # Safety
    /// `off` is a valid block offset.
    #[inline]
    pub(super) unsafe fn link(&self, off: u64) -> u64 {
        // SAFETY: the caller's: 16-byte aligned, inside the segment.
        unsafe { self.base().add(off as usize).cast::<u64>().read() }
    }

    /// # Safety
    /// As [`link`](Self::link), and the block is free and ours to write.
    #[inline]
    unsafe fn set_link(&self, off: u64, next: u64) {
        // SAFETY: the caller's.
        unsafe { self.base().add(off as usize).cast::<u64>().write(next) }
    }

    /// The pool index and class of `off` if it is a block that pools have carved: in an arena
    /// of pools, on its pool's grid, below `next_offset`.
    pub(super) fn valid_block(&self, off: u64) -> Option<(u32, usize)> {
        let arena = (off / ARENA_SIZE as u64) as usize;
        if arena == 0 || arena >= self.narenas as usize {
            return None;
        }
        let a = self.l.arenas[arena];
        let index = (off / POOL_SIZE as u64) as u32;
        if a.state != POOLS || index % POOLS_PER_ARENA >= a.untouched {
            return None;
        }
        // SAFETY: checked just above.
        let p = unsafe { self.pool(index) };
        if p.class as usize >= NB_SMALL_SIZE_CLASSES {
            return None;
        }
        let size = class_size(p.class as usize) as u64;
        let within = off % POOL_SIZE as u64;
        let fits = within >= POOL_OVERHEAD as u64
            && (within - POOL_OVERHEAD as u64).is_multiple_of(size)
            && within < p.next_offset as u64;
        fits.then_some((index, p.class as usize))
    }

    // ---- small blocks ------------------------------------------------------------------

    /// Takes one free block of `class` from the pools, naming it in `moving` before any
    /// change; `None` when the segment is full.
    pub(super) fn take_block(&mut self, class: usize, moving: Option<&AtomicU64>) -> Option<u64> {
        let mut index = self.l.usable[class];
        if index == 0 {
            index = self.new_pool(class)?;
        }
        let size = class_size(class) as u32;
        let pool_off = index as u64 * POOL_SIZE as u64;
        // SAFETY: `index` is a live pool of `class` (usable or just made).
        let p = unsafe { self.pool(index) };
        let block = if p.freeblock != 0 {
            p.freeblock
        } else {
            pool_off + p.next_offset as u64
        };
        if let Some(m) = moving {
            m.store(block, Relaxed);
        }
        if p.freeblock != 0 {
            // SAFETY: a free block of this pool.
            p.freeblock = unsafe { self.link(block) };
        } else {
            p.next_offset += size;
        }
        p.used += 1;
        if p.freeblock == 0 && p.next_offset > p.max_next_offset {
            // SAFETY: it is in the usable list.
            unsafe { self.unlink(class, index) };
        }
        Some(block)
    }

    /// Gives one block back to its pool.
    ///
    /// # Safety
    /// `off` is a block handed out by this heap (a `valid_block`) and not in use.
    pub(super) unsafe fn put_block(&mut self, off: u64) {
        let index = (off / POOL_SIZE as u64) as u32;
        // SAFETY: the caller's.
        let p = unsafe { self.pool(index) };
        let class = p.class as usize;
        let was_full = p.freeblock == 0 && p.next_offset > p.max_next_offset;
        // SAFETY: the caller's; link first, then head.
        unsafe { self.set_link(off, p.freeblock) };
        p.freeblock = off;
        p.used -= 1;
        if p.used == 0 {
            if !was_full {
                // SAFETY: a pool with a free block and a block in use is in the usable list.
                unsafe { self.unlink(class, index) };
            }
            self.free_pool(index);
        } else if was_full {
            // SAFETY: a full pool is in no list.
            unsafe { self.link_usable(class, index) };
        }
    }

    /// # Safety
    /// `index` is a live pool, in no list.
    unsafe fn link_usable(&mut self, class: usize, index: u32) {
        let head = self.l.usable[class];
        // SAFETY: the caller's; `head` is 0 or a live pool of the same list.
        unsafe {
            let p = self.pool(index);
            p.prev = 0;
            p.next = head;
            if head != 0 {
                self.pool(head).prev = index;
            }
        }
        self.l.usable[class] = index;
    }

    /// # Safety
    /// `index` is in `usable[class]`.
    unsafe fn unlink(&mut self, class: usize, index: u32) {
        // SAFETY: the caller's; neighbours are live pools of the same list.
        unsafe {
            let (prev, next) = {
                let p = self.pool(index);
                (p.prev, p.next)
            };
            if prev == 0 {
                self.l.usable[class] = next;
            } else {
                self.pool(prev).next = next;
            }
            if next != 0 {
                self.pool(next).prev = prev;
            }
        }
    }

    /// A fresh pool for `class`, in the usable list.
    fn new_pool(&mut self, class: usize) -> Option<u32> {
        // pymalloc's rule: the arena with the fewest free pools, so others can empty.
        let mut best: Option<usize> = None;
        for i in 1..self.narenas as usize {
            let a = &self.l.arenas[i];
            if a.state == POOLS
                && a.nfree > 0
                && best.is_none_or(|b| a.nfree < self.l.arenas[b].nfree)
            {
                best = Some(i);
            }
        }
        let arena = match best {
            Some(i) => i,
            None => self.new_arena()?,
        };
        let a = self.l.arenas[arena];
        let size = class_size(class);
        let header = |g: &mut Self, index: u32| {
            // SAFETY: a pool of this arena not in use; written before it counts as used.
            unsafe {
                ptr::write(
                    g.pool(index),
                    PoolHeader {
                        used: 0,
                        class: class as u32,
                        freeblock: 0,
                        next_offset: POOL_OVERHEAD as u32,
                        max_next_offset: (POOL_SIZE - size) as u32,
                        next: 0,
                        prev: 0,
                    },
                )
            };
        };
        let index = if a.free_pools != 0 {
            let index = a.free_pools;
            // SAFETY: a free pool of this arena; its `next` links the free list.
            let next = unsafe { self.pool(index).next };
            header(self, index);
            self.l.arenas[arena].free_pools = next;
            index
        } else {
            let index = arena as u32 * POOLS_PER_ARENA + a.untouched;
            header(self, index);
            self.l.arenas[arena].untouched += 1;
            index
        };
        self.l.arenas[arena].nfree -= 1;
        // SAFETY: just initialised, in no list.
        unsafe { self.link_usable(class, index) };
        Some(index)
    }

    /// Marks an unlinked pool with no block in use free; an arena left all free goes back
    /// to the system unless it is the last arena of pools.
    fn free_pool(&mut self, index: u32) {
        let arena = (index / POOLS_PER_ARENA) as usize;
        let head = self.l.arenas[arena].free_pools;
        // SAFETY: a live pool of this arena, now free.
        unsafe {
            let p = self.pool(index);
            p.class = FREE;
            p.next = head;
        }
        let a = &mut self.l.arenas[arena];
        a.free_pools = index;
        a.nfree += 1;
        if a.nfree == POOLS_PER_ARENA {
            self.maybe_free_arena(arena);
        }
    }

    fn maybe_free_arena(&mut self, arena: usize) {
        let others = (1..self.narenas as usize)
            .filter(|&i| i != arena && self.l.arenas[i].state == POOLS)
            .count();
        if others > 0 {
            self.l.arenas[arena] = ArenaInfo::default();
            self.seg.release(arena * ARENA_SIZE, ARENA_SIZE);
            self.l.arenas_freed_total += 1;
        }
    }

    fn unused_run(&self, n: usize) -> Option<usize> {
        let mut start = 1;
        while start + n <= self.narenas as usize {
            match (start..start + n).find(|&i| self.l.arenas[i].state != UNUSED) {
                Some(busy) => start = busy + 1,
                None => return Some(start),
            }
        }
        None
    }

    fn new_arena(&mut self) -> Option<usize> {
        let i = self.unused_run(1)?;
        self.seg.reserve(i * ARENA_SIZE, ARENA_SIZE).ok()?;
        self.l.arenas[i] = ArenaInfo {
            state: POOLS,
            untouched: 0,
            nfree: POOLS_PER_ARENA,
            free_pools: 0,
            large_len: 0,
            _pad: 0,
        };
        self.l.arenas_allocated_total += 1;
        Some(i)
    }

    // ---- large blocks ------------------------------------------------------------------

    /// A block of whole arenas for a request too large for pools.
    pub(super) fn alloc_large(&mut self, size: usize) -> Option<u64> {
        let n = size.div_ceil(ARENA_SIZE).max(1);
        let start = self.unused_run(n)?;
        self.seg.reserve(start * ARENA_SIZE, n * ARENA_SIZE).ok()?;
        for i in start + 1..start + n {
            self.l.arenas[i].state = LARGE_TAIL;
        }
        let head = &mut self.l.arenas[start];
        head.large_len = n as u32;
        head.state = LARGE;
        Some((start * ARENA_SIZE) as u64)
    }

    /// Arenas in the large block at `off`, if that is one.
    pub(super) fn large_len(&self, off: u64) -> Option<usize> {
        let i = (off / ARENA_SIZE as u64) as usize;
        (off.is_multiple_of(ARENA_SIZE as u64)
            && i > 0
            && i < self.narenas as usize
            && self.l.arenas[i].state == LARGE)
            .then_some(self.l.arenas[i].large_len as usize)
    }

    /// # Safety
    /// `off` is a large block ([`large_len`](Self::large_len)) no longer in use.
    pub(super) unsafe fn free_large(&mut self, off: u64) {
        let start = (off / ARENA_SIZE as u64) as usize;
        let n = self.l.arenas[start].large_len as usize;
        self.l.arenas[start] = ArenaInfo::default();
        for i in start + 1..start + n {
            self.l.arenas[i] = ArenaInfo::default();
        }
        self.seg.release(start * ARENA_SIZE, n * ARENA_SIZE);
    }

    // ---- slots -------------------------------------------------------------------------

    /// Claims a free slot for thread `tid` of `pid`; recovers dead ones if none is free.
    pub(super) fn claim_slot(
        &mut self,
        pid: u32,
        tid: u32,
        start: u64,
        instance: u64,
    ) -> Option<usize> {
        let free = |g: &Self| g.header.slots.iter().position(|s| s.tid.load(Relaxed) == 0);
        let i = free(self).or_else(|| {
            self.recover(false);
            free(self)
        })?;
        let s = &self.header.slots[i];
        s.pid.store(pid, Relaxed);
        s.start.store(start, Relaxed);
        s.instance.store(instance, Relaxed);
        s.moving.store(0, Relaxed);
        s.tid.store(tid, Relaxed);
        Some(i)
    }

    /// Empties a live slot's cache into the pools and frees the slot (its owner is leaving).
    pub(super) fn release_slot(&mut self, i: usize) {
        let s = &self.header.slots[i];
        for bin in &s.bins {
            let mut off = bin.head.load(Relaxed);
            while off != 0 {
                s.moving.store(off, Relaxed);
                // SAFETY: a block on this slot's stack (its owner is the caller).
                let next = unsafe { self.link(off) };
                bin.head.store(next, Relaxed);
                bin.count.fetch_sub(1, Relaxed);
                // SAFETY: a free block handed out by this heap.
                unsafe { self.put_block(off) };
                off = next;
            }
        }
        s.moving.store(0, Relaxed);
        s.tid.store(0, Relaxed);
    }

    fn slot_dead(s: &Slot) -> bool {
        let tid = s.tid.load(Relaxed);
        tid != 0 && crate::sys::liveness::is_dead(tid, s.start.load(Relaxed))
    }

    /// Gives back the caches of dead threads. With `repair`, or if any slot is dead, the
    /// derived state is rebuilt too (a dead owner may have been inside a heap operation).
    pub(super) fn recover(&mut self, repair: bool) -> Recovered {
        let dead: Vec<usize> = (0..MAX_SLOTS)
            .filter(|&i| Self::slot_dead(&self.header.slots[i]))
            .collect();
        let mut got = Recovered::default();
        for &i in &dead {
            got.blocks += self.reclaim_slot(i);
            got.slots += 1;
        }
        if repair || !dead.is_empty() {
            self.repair();
        }
        self.l.slots_recovered_total += got.slots as u64;
        self.l.blocks_recovered_total += got.blocks as u64;
        got
    }

    /// Pushes a dead slot's blocks (and a block it was moving) back on their pools' free
    /// lists, touching only primary state; [`repair`](Self::repair) must follow.
    fn reclaim_slot(&mut self, i: usize) -> usize {
        let s = &self.header.slots[i];
        let mut n = 0;
        for bin in &s.bins {
            let mut off = bin.head.load(Relaxed);
            // A stack never holds more than a few batches; the bound only stops a loop in a
            // damaged list.
            let mut budget = bin.count.load(Relaxed) + 1;
            while off != 0 && budget > 0 && self.valid_block(off).is_some() {
                budget -= 1;
                // SAFETY: a valid block on the dead thread's stack.
                let next = unsafe { self.link(off) };
                // SAFETY: as above; nobody else can reach it.
                unsafe { self.push_free(off) };
                n += 1;
                off = next;
            }
            bin.head.store(0, Relaxed);
            bin.count.store(0, Relaxed);
        }
        let m = s.moving.load(Relaxed);
        if m != 0 && self.valid_block(m).is_some() && !self.in_free_list(m) {
            // It died between a pool and its cache: the block is in neither.
            // SAFETY: a valid block that no list and no user holds.
            unsafe { self.push_free(m) };
            n += 1;
        }
        s.moving.store(0, Relaxed);
        s.tid.store(0, Relaxed);
        n
    }

    /// # Safety
    /// `off` is a valid block in no list, held by no user.
    unsafe fn push_free(&mut self, off: u64) {
        let index = (off / POOL_SIZE as u64) as u32;
        // SAFETY: the caller's.
        unsafe {
            let head = self.pool(index).freeblock;
            self.set_link(off, head);
            self.pool(index).freeblock = off;
        }
    }

    fn in_free_list(&self, off: u64) -> bool {
        let index = (off / POOL_SIZE as u64) as u32;
        // SAFETY: `off` is a valid block, so its pool is live.
        let mut b = unsafe { self.pool(index).freeblock };
        let mut budget = POOL_SIZE / 16;
        while b != 0 && budget > 0 {
            if b == off {
                return true;
            }
            budget -= 1;
            // SAFETY: links of a free list in a live pool.
            b = unsafe { self.link(b) };
        }
        false
    }

    /// Rebuilds the derived state from the primary state: blocks used per pool, usable
    /// lists, free pools; truncates a free list at a link that points nowhere valid.
    pub(super) fn repair(&mut self) {
        self.l.usable = [0; NB_SMALL_SIZE_CLASSES];
        let mut tail_ok = vec![false; self.narenas as usize];
        for i in 1..self.narenas as usize {
            if self.l.arenas[i].state == LARGE {
                let n = self.l.arenas[i].large_len as usize;
                for t in tail_ok.iter_mut().skip(i + 1).take(n.saturating_sub(1)) {
                    *t = true;
                }
            }
        }
        for (i, ok) in tail_ok.iter().enumerate().skip(1) {
            if self.l.arenas[i].state == LARGE_TAIL && !ok {
                // A large block whose head was never written: the allocation did not finish.
                self.l.arenas[i] = ArenaInfo::default();
            }
        }
        for arena in 1..self.narenas as usize {
            if self.l.arenas[arena].state != POOLS {
                continue;
            }
            let untouched = self.l.arenas[arena].untouched.min(POOLS_PER_ARENA);
            let mut a = ArenaInfo {
                state: POOLS,
                untouched,
                nfree: POOLS_PER_ARENA - untouched,
                ..ArenaInfo::default()
            };
            for k in (0..untouched).rev() {
                let index = arena as u32 * POOLS_PER_ARENA + k;
                let used = self.repair_pool(index);
                // SAFETY: below `untouched`: a pool with a header.
                let p = unsafe { self.pool(index) };
                if used == 0 {
                    p.class = FREE;
                    p.next = a.free_pools;
                    a.free_pools = index;
                    a.nfree += 1;
                } else {
                    p.used = used;
                    let class = p.class as usize;
                    if p.freeblock != 0 || p.next_offset <= p.max_next_offset {
                        // SAFETY: a live pool, in no list yet.
                        unsafe { self.link_usable(class, index) };
                    }
                }
            }
            self.l.arenas[arena] = a;
        }
        for arena in 1..self.narenas as usize {
            let a = self.l.arenas[arena];
            if a.state == POOLS && a.nfree == POOLS_PER_ARENA {
                self.maybe_free_arena(arena);
            }
        }
    }

    /// Blocks in use in pool `index` (0 for a free or damaged pool), after checking its free
    /// list.
    fn repair_pool(&mut self, index: u32) -> u32 {
        // SAFETY: a pool below its arena's `untouched`.
        let p = unsafe { self.pool(index) };
        let class = p.class as usize;
        if class >= NB_SMALL_SIZE_CLASSES {
            return 0;
        }
        let size = class_size(class) as u64;
        let pool_off = index as u64 * POOL_SIZE as u64;
        let max_next = (POOL_SIZE as u64 - size) as u32;
        let next_offset = (p.next_offset as u64).clamp(POOL_OVERHEAD as u64, POOL_SIZE as u64);
        let carved = (next_offset - POOL_OVERHEAD as u64) / size;
        p.max_next_offset = max_next;
        p.next_offset = (POOL_OVERHEAD as u64 + carved * size) as u32;
        let on_grid = |b: u64| {
            b > pool_off + POOL_OVERHEAD as u64 - 1
                && b < pool_off + p.next_offset as u64
                && (b - pool_off - POOL_OVERHEAD as u64).is_multiple_of(size)
        };
        let mut free = 0u64;
        let mut prev: Option<u64> = None;
        let mut b = p.freeblock;
        while b != 0 {
            if !on_grid(b) || free >= carved {
                // A damaged link: cut the list here (what followed is lost, not reused twice).
                match prev {
                    // SAFETY: `q` is a block of this pool's list.
                    Some(q) => unsafe { self.set_link(q, 0) },
                    None => p.freeblock = 0,
                }
                break;
            }
            free += 1;
            prev = Some(b);
            // SAFETY: on the pool's grid.
            b = unsafe { self.link(b) };
        }
        (carved - free) as u32
    }

    // ---- statistics --------------------------------------------------------------------

    /// Visits every pool in use: `(class, used, capacity)`; returns (arenas of pools, free
    /// pools, large blocks, bytes in large blocks).
    pub(super) fn walk(
        &self,
        mut f: impl FnMut(usize, usize, usize),
    ) -> (usize, usize, usize, usize) {
        let (mut arenas, mut free, mut large, mut large_bytes) = (0, 0, 0, 0);
        for arena in 1..self.narenas as usize {
            let a = self.l.arenas[arena];
            match a.state {
                POOLS => {
                    arenas += 1;
                    free += a.nfree as usize;
                    for k in 0..a.untouched {
                        // SAFETY: below `untouched`.
                        let p = unsafe { self.pool(arena as u32 * POOLS_PER_ARENA + k) };
                        if (p.class as usize) < NB_SMALL_SIZE_CLASSES {
                            let class = p.class as usize;
                            f(
                                class,
                                p.used as usize,
                                (POOL_SIZE - POOL_OVERHEAD) / class_size(class),
                            );
                        }
                    }
                }
                LARGE => {
                    large += 1;
                    large_bytes += a.large_len as usize * ARENA_SIZE;
                }
                _ => {}
            }
        }
        (arenas, free, large, large_bytes)
    }

    pub(super) fn totals(&self) -> (u64, u64, u64, u64) {
        (
            self.l.arenas_allocated_total,
            self.l.arenas_freed_total,
            self.l.slots_recovered_total,
            self.l.blocks_recovered_total,
        )
    }

    pub(super) fn header(&self) -> &Header {
        self.header
    }
}
