//! The shared part of the pool: arenas, pools, and for each size class the list of pools that
//! have a free block, behind one lock that thread caches take once per batch.
//!
//! Layout, as pymalloc's: an arena is a 1 MiB mapping cut into 16 KiB pools; a pool in use
//! starts with a [`PoolHeader`] and serves one size class; its free blocks form a list threaded
//! through their first word, and blocks never handed out yet are carved from `next_offset`
//! (so a new pool touches no memory it does not need). A block finds its pool by masking its
//! address.

use std::ptr;

use super::{ARENA_SIZE, NB_SMALL_SIZE_CLASSES, POOL_SIZE, class_size};
use crate::sync::Mutex;

/// Bytes at the start of each pool used by its header (a multiple of the alignment).
pub(crate) const POOL_OVERHEAD: usize = 64;
const POOLS_PER_ARENA: u32 = (ARENA_SIZE / POOL_SIZE) as u32;
/// `PoolHeader::class` of a pool on its arena's free list.
const FREE: u32 = u32::MAX;

#[repr(C)]
pub(crate) struct PoolHeader {
    /// Blocks handed out (to thread caches or users).
    used: u32,
    /// Size class, or [`FREE`].
    class: u32,
    /// First free block; each free block's first word points to the next.
    freeblock: *mut u8,
    /// First byte never handed out.
    next_offset: u32,
    /// Past this, no whole block is left to carve.
    max_next_offset: u32,
    /// Neighbours in `Heap::usable[class]` (pools with a free block), or the next free pool.
    next: *mut PoolHeader,
    prev: *mut PoolHeader,
    /// Index of its arena in `Heap::arenas`.
    arena: u32,
    /// The thread cache whose refills it serves ([`ORPHAN`] once that thread is gone).
    owner: u32,
}

/// `PoolHeader::owner` of pools no live thread owns; any thread adopts them.
pub(crate) const ORPHAN: u32 = 0;

const _: () = assert!(size_of::<PoolHeader>() <= POOL_OVERHEAD);

struct Arena {
    /// The mapping, for `munmap`.
    map: *mut u8,
    map_len: usize,
    /// The first pool (16 KiB aligned).
    pools: *mut u8,
    /// Pools never used yet: `pools + i * POOL_SIZE` for `i >= untouched`.
    untouched: u32,
    /// Pools free (untouched or returned).
    nfree: u32,
    /// Returned pools, linked through `PoolHeader::next`.
    free_pools: *mut PoolHeader,
}

/// A chain of free blocks of one class, linked through their first word, as a thread cache
/// drained it.
#[derive(Clone, Copy)]
pub(crate) struct Chain {
    pub(crate) head: *mut u8,
    pub(crate) count: u32,
    /// The thread cache that drained it: a refill takes its own chains back first.
    pub(crate) owner: u32,
}

/// Chains kept whole per class in [`Heap::transfer`]; beyond this, drained blocks go back to
/// their pools.
const TRANSFER_CHAINS: usize = 32;

pub(crate) struct Heap {
    /// Per owner (thread cache), per class, the pools with a free block. Each thread refills
    /// from pools of its own, as mimalloc's pages: blocks of one 64-byte line then stay with
    /// one thread, where shared pools (pymalloc's design, fine under a GIL) hand neighbouring
    /// 16-byte blocks to two threads that then write the same line from two cores.
    usable: Vec<[*mut PoolHeader; NB_SMALL_SIZE_CLASSES]>,
    /// Owner ids given back by exited threads.
    free_owners: Vec<u32>,
    /// The transfer cache (as tcmalloc's): chains drained by one thread's cache, handed whole
    /// to the next thread that refills, so blocks that one thread allocates and another frees
    /// cross in O(1) per batch without visiting their pools.
    transfer: [Vec<Chain>; NB_SMALL_SIZE_CLASSES],
    /// `None`: an arena returned to the system (its slot is reused).
    arenas: Vec<Option<Arena>>,
    pub(crate) arenas_allocated_total: u64,
    pub(crate) arenas_freed_total: u64,
}

// SAFETY: the raw pointers all point into arenas this heap owns; the heap is only reached
// through its mutex.
unsafe impl Send for Heap {}

// after-fork: reset by mempool::heap
pub(crate) static HEAP: Mutex<Heap> = Mutex::new(Heap {
    usable: Vec::new(),
    free_owners: Vec::new(),
    transfer: [const { Vec::new() }; NB_SMALL_SIZE_CLASSES],
    arenas: Vec::new(),
    arenas_allocated_total: 0,
    arenas_freed_total: 0,
});

/// The pool holding `block`.
#[inline]
fn pool_of(block: *mut u8) -> *mut PoolHeader {
    (block as usize & !(POOL_SIZE - 1)) as *mut PoolHeader
}

/// Locks the heap. The first call registers fork handlers (as glibc's malloc does): the
/// forking thread holds the lock across `fork`, so a child never inherits it held by a
/// thread that does not exist there.
pub(crate) fn lock() -> crate::sync::MutexGuard<'static, Heap> {
    fn prepare() {
        // SAFETY: taking the raw lock; released by `parent` or reset by `child`.
        unsafe { HEAP.raw() }.lock();
    }
    fn parent() {
        // SAFETY: `prepare` took the lock in this thread just before fork.
        unsafe { HEAP.force_unlock() };
    }
    fn child() {
        use crate::sync::lock::ResetAfterFork;
        HEAP.force_unlock_after_fork();
        // The parent's other threads are not here: their pools become orphans.
        let me = super::cache::current_owner();
        HEAP.lock().retire_all_but(me);
    }
    // after-fork: kept (the handler itself)
    static AT_FORK: crate::sys::at_fork::Handler = crate::sys::at_fork::Handler::new(
        "mempool::heap",
        Some(prepare),
        Some(parent),
        Some(child),
    );
    AT_FORK.register();
    HEAP.lock()
}

impl Heap {
    /// Keeps a drained chain whole for the next refill of its class; hands it back if the
    /// transfer cache is full.
    pub(crate) fn put_chain(&mut self, class: usize, chain: Chain) -> Result<(), Chain> {
        let t = &mut self.transfer[class];
        if t.len() < TRANSFER_CHAINS {
            if t.capacity() == 0 {
                t.reserve_exact(TRANSFER_CHAINS);
            }
            t.push(chain);
            Ok(())
        } else {
            Err(chain)
        }
    }

    /// A whole chain for a refill by `owner`, if one waits: its own (blocks it had), or with
    /// `own_only` false any (blocks another thread freed: the producer → consumer hand-back).
    pub(crate) fn take_chain(&mut self, class: usize, owner: u32, own_only: bool) -> Option<Chain> {
        let t = &mut self.transfer[class];
        match t.iter().rposition(|c| c.owner == owner) {
            Some(i) => Some(t.swap_remove(i)),
            None if own_only => None,
            None => t.pop(),
        }
    }

    /// An owner id for a new thread cache.
    pub(crate) fn new_owner(&mut self) -> u32 {
        if self.usable.is_empty() {
            // Owner 0 is `ORPHAN`.
            self.usable.push([ptr::null_mut(); NB_SMALL_SIZE_CLASSES]);
        }
        self.free_owners.pop().unwrap_or_else(|| {
            self.usable.push([ptr::null_mut(); NB_SMALL_SIZE_CLASSES]);
            (self.usable.len() - 1) as u32
        })
    }

    /// A thread cache is gone (or, after `fork`, belonged to a thread that is not here): its
    /// pools become orphans that any thread adopts, and its id is free again.
    pub(crate) fn retire_owner(&mut self, owner: u32) {
        if owner == ORPHAN || owner as usize >= self.usable.len() {
            return;
        }
        self.reassign_pools(|o| o == owner);
        self.free_owners.push(owner);
    }

    /// After `fork`: every owner but `keep` is a thread of the parent.
    pub(crate) fn retire_all_but(&mut self, keep: u32) {
        let gone: Vec<u32> = (1..self.usable.len() as u32)
            .filter(|&o| o != keep && !self.free_owners.contains(&o))
            .collect();
        self.reassign_pools(|o| o != keep && o != ORPHAN);
        self.free_owners.extend(gone);
    }

    /// Gives every pool whose owner matches to `ORPHAN`, usable lists included.
    fn reassign_pools(&mut self, matches: impl Fn(u32) -> bool) {
        for owner in 1..self.usable.len() {
            if !matches(owner as u32) {
                continue;
            }
            for class in 0..NB_SMALL_SIZE_CLASSES {
                while !self.usable[owner][class].is_null() {
                    let pool = self.usable[owner][class];
                    // SAFETY: a live pool in this list; moved to the orphans' list.
                    unsafe {
                        self.unlink(owner as u32, class, pool);
                        (*pool).owner = ORPHAN;
                        self.link(ORPHAN, class, pool);
                    }
                }
            }
        }
        // Full pools are in no list: find them by walking the arenas.
        for a in self.arenas.iter().flatten() {
            for i in 0..a.untouched as usize {
                // SAFETY: pools below `untouched` have a header.
                let p = unsafe { &mut *a.pools.add(i * POOL_SIZE).cast::<PoolHeader>() };
                if p.class != FREE && matches(p.owner) {
                    p.owner = ORPHAN;
                }
            }
        }
    }

    /// Returns a chain's blocks to their pools.
    ///
    /// # Safety
    /// `chain` links `count` free blocks handed out by this heap.
    pub(crate) unsafe fn free_chain(&mut self, chain: Chain) {
        let mut b = chain.head;
        let mut n = chain.count;
        self.free_batch(std::iter::from_fn(|| {
            if n == 0 {
                return None;
            }
            n -= 1;
            let block = b;
            // SAFETY: the caller's: each of the `count` blocks links to the next.
            b = unsafe { block.cast::<*mut u8>().read() };
            Some(block)
        }));
    }

    /// Empties the transfer cache into the pools (so empty arenas can go back).
    pub(crate) fn trim(&mut self) {
        for class in 0..NB_SMALL_SIZE_CLASSES {
            while let Some(c) = self.transfer[class].pop() {
                // SAFETY: chains in the transfer cache are free blocks of this heap.
                unsafe { self.free_chain(c) };
            }
        }
    }

    /// Blocks waiting in the transfer cache, per class.
    pub(crate) fn transfer_counts(&self) -> [usize; NB_SMALL_SIZE_CLASSES] {
        std::array::from_fn(|c| self.transfer[c].iter().map(|ch| ch.count as usize).sum())
    }

    /// Hands up to `n` blocks of class `class` to `out`; fewer only if the system refuses
    /// memory.
    pub(crate) fn alloc_batch(
        &mut self,
        class: usize,
        n: usize,
        owner: u32,
        out: impl FnMut(*mut u8),
    ) {
        self.alloc_from(class, n, owner, true, out)
    }

    /// As [`alloc_batch`](Self::alloc_batch) from `owner`'s own pools only: stops when they
    /// are full rather than adopting or making a pool.
    pub(crate) fn alloc_own(
        &mut self,
        class: usize,
        n: usize,
        owner: u32,
        out: impl FnMut(*mut u8),
    ) {
        self.alloc_from(class, n, owner, false, out)
    }

    fn alloc_from(
        &mut self,
        class: usize,
        n: usize,
        owner: u32,
        grow: bool,
        mut out: impl FnMut(*mut u8),
    ) {
        if self.usable.len() <= owner as usize {
            // `ORPHAN` before any thread cache existed.
            self.usable
                .resize(owner as usize + 1, [ptr::null_mut(); NB_SMALL_SIZE_CLASSES]);
        }
        let size = class_size(class) as u32;
        for _ in 0..n {
            let mut pool = self.usable[owner as usize][class];
            if pool.is_null() && !grow {
                return;
            }
            if pool.is_null() {
                pool = self.adopt_pool(class, owner);
            }
            if pool.is_null() {
                pool = self.new_pool(class, owner);
                if pool.is_null() {
                    return;
                }
            }
            // SAFETY: `pool` is a live pool header of this class (from `usable` or just made),
            // and we hold the heap lock.
            unsafe {
                let p = &mut *pool;
                let block = if !p.freeblock.is_null() {
                    let b = p.freeblock;
                    p.freeblock = *(b as *mut *mut u8);
                    b
                } else {
                    let b = (pool as *mut u8).add(p.next_offset as usize);
                    p.next_offset += size;
                    b
                };
                p.used += 1;
                if p.freeblock.is_null() && p.next_offset > p.max_next_offset {
                    // Full: no longer usable.
                    self.unlink(owner, class, pool);
                }
                out(block);
            }
        }
    }

    /// Takes blocks back.
    pub(crate) fn free_batch(&mut self, blocks: impl IntoIterator<Item = *mut u8>) {
        for block in blocks {
            let pool = pool_of(block);
            // SAFETY: `block` was handed out by `alloc_batch`, so `pool` is a live pool header
            // and we hold the heap lock.
            unsafe {
                let p = &mut *pool;
                let (class, owner) = (p.class as usize, p.owner);
                let was_full = p.freeblock.is_null() && p.next_offset > p.max_next_offset;
                *(block as *mut *mut u8) = p.freeblock;
                p.freeblock = block;
                p.used -= 1;
                if p.used == 0 {
                    if !was_full {
                        self.unlink(owner, class, pool);
                    }
                    self.free_pool(pool);
                } else if was_full {
                    self.link(owner, class, pool);
                }
            }
        }
    }

    /// An orphan pool with a free block, made `owner`'s; null if none.
    fn adopt_pool(&mut self, class: usize, owner: u32) -> *mut PoolHeader {
        let pool = self.usable[ORPHAN as usize][class];
        if !pool.is_null() && owner != ORPHAN {
            // SAFETY: a live pool in the orphans' list, moved to `owner`'s.
            unsafe {
                self.unlink(ORPHAN, class, pool);
                (*pool).owner = owner;
                self.link(owner, class, pool);
            }
        }
        pool
    }

    /// # Safety
    /// `pool` is a live pool header, not in any list.
    unsafe fn link(&mut self, owner: u32, class: usize, pool: *mut PoolHeader) {
        let head = self.usable[owner as usize][class];
        // SAFETY: the caller's; `head` is null or a live header of the same list.
        unsafe {
            (*pool).prev = ptr::null_mut();
            (*pool).next = head;
            if !head.is_null() {
                (*head).prev = pool;
            }
        }
        self.usable[owner as usize][class] = pool;
    }

    /// # Safety
    /// `pool` is a live pool header in `usable[owner][class]`.
    unsafe fn unlink(&mut self, owner: u32, class: usize, pool: *mut PoolHeader) {
        // SAFETY: the caller's; neighbours are live headers of the same list.
        unsafe {
            let (prev, next) = ((*pool).prev, (*pool).next);
            if prev.is_null() {
                self.usable[owner as usize][class] = next;
            } else {
                (*prev).next = next;
            }
            if !next.is_null() {
                (*next).prev = prev;
            }
        }
    }

    /// A fresh pool for `class` owned by `owner`, linked into its usable list; null if the
    /// system refuses memory.
    fn new_pool(&mut self, class: usize, owner: u32) -> *mut PoolHeader {
        // pymalloc's rule: take from the arena with the fewest free pools, so that others
        // have a chance to become empty and go back to the system.
        let mut best: Option<usize> = None;
        for (i, a) in self.arenas.iter().enumerate() {
            if let Some(a) = a
                && a.nfree > 0
                && best.is_none_or(|b| self.arenas[b].as_ref().is_some_and(|o| a.nfree < o.nfree))
            {
                best = Some(i);
            }
        }
        let index = match best {
            Some(i) => i,
            None => match self.new_arena() {
                Some(i) => i,
                None => return ptr::null_mut(),
            },
        };
        let arena = self.arenas[index].as_mut().expect("chosen above");
        let pool = if !arena.free_pools.is_null() {
            let p = arena.free_pools;
            // SAFETY: a pool on the arena's free list is a header we wrote in `free_pool`.
            arena.free_pools = unsafe { (*p).next };
            p
        } else {
            // SAFETY: `untouched < POOLS_PER_ARENA` (nfree > 0 and no returned pool), inside
            // the arena's mapping.
            let p = unsafe { arena.pools.add(arena.untouched as usize * POOL_SIZE) };
            arena.untouched += 1;
            p.cast::<PoolHeader>()
        };
        arena.nfree -= 1;
        let size = class_size(class);
        // SAFETY: `pool` is a 16 KiB-aligned pool inside a mapping we own, not in use.
        unsafe {
            pool.write(PoolHeader {
                used: 0,
                class: class as u32,
                freeblock: ptr::null_mut(),
                next_offset: POOL_OVERHEAD as u32,
                max_next_offset: (POOL_SIZE - size) as u32,
                next: ptr::null_mut(),
                prev: ptr::null_mut(),
                arena: index as u32,
                owner,
            });
            self.link(owner, class, pool);
        }
        pool
    }

    /// # Safety
    /// `pool` is a live, unlinked pool with no block in use.
    unsafe fn free_pool(&mut self, pool: *mut PoolHeader) {
        // SAFETY: the caller's.
        let index = unsafe {
            (*pool).class = FREE;
            (*pool).arena as usize
        };
        let arena = self.arenas[index]
            .as_mut()
            .expect("a pool's arena is mapped");
        // SAFETY: as above; the free list is threaded through `next`.
        unsafe { (*pool).next = arena.free_pools };
        arena.free_pools = pool;
        arena.nfree += 1;
        let empty = arena.nfree == POOLS_PER_ARENA;
        if empty && self.arenas.iter().filter(|a| a.is_some()).count() > 1 {
            // Every pool free: give the arena back (keeping the last one, so a workload that
            // hovers around one arena does not map and unmap it over and over).
            let a = self.arenas[index].take().expect("just used");
            // SAFETY: the arena's whole mapping (made by `map_private`, never null), no block
            // of which is in use.
            unsafe {
                crate::sys::mm::unmap_private(std::ptr::NonNull::new_unchecked(a.map), a.map_len)
            };
            self.arenas_freed_total += 1;
        }
    }

    /// Maps a new arena; its index, or `None` if the system refuses.
    fn new_arena(&mut self) -> Option<usize> {
        // One pool of slack, so the pools can start 16 KiB-aligned.
        let map_len = ARENA_SIZE + POOL_SIZE;
        let map = crate::sys::mm::map_private(map_len)?.as_ptr();
        let pools = ((map as usize + POOL_SIZE - 1) & !(POOL_SIZE - 1)) as *mut u8;
        let arena = Arena {
            map,
            map_len,
            pools,
            untouched: 0,
            nfree: POOLS_PER_ARENA,
            free_pools: ptr::null_mut(),
        };
        self.arenas_allocated_total += 1;
        if let Some(i) = self.arenas.iter().position(Option::is_none) {
            self.arenas[i] = Some(arena);
            Some(i)
        } else {
            self.arenas.push(Some(arena));
            Some(self.arenas.len() - 1)
        }
    }

    /// Visits every pool in use: `(class, used blocks, capacity in blocks)`; returns the
    /// number of arenas and of free pools.
    pub(crate) fn walk(&self, mut f: impl FnMut(usize, usize, usize)) -> (usize, usize) {
        let (mut arenas, mut free) = (0, 0);
        for a in self.arenas.iter().flatten() {
            arenas += 1;
            free += a.nfree as usize;
            for i in 0..a.untouched as usize {
                // SAFETY: pools below `untouched` have a header (in use or free).
                let p = unsafe { &*a.pools.add(i * POOL_SIZE).cast::<PoolHeader>() };
                if p.class != FREE {
                    let class = p.class as usize;
                    let cap = (POOL_SIZE - POOL_OVERHEAD) / class_size(class);
                    f(class, p.used as usize, cap);
                }
            }
        }
        (arenas, free)
    }
}
