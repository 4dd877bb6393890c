//! Per-thread caches: for each size class, a stack of free blocks linked through their first
//! word (as glibc's tcache). `alloc` pops and `dealloc` pushes without any lock or atomic; an
//! empty stack is refilled, and a full one halved, in one batch under the heap lock. Blocks
//! freed by a thread other than the allocating one join the freeing thread's cache and flow
//! back to the heap in batches.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, UnsafeCell};
use std::ptr::{self, NonNull};

use super::heap;
use super::{NB_SMALL_SIZE_CLASSES, pooled, size_class};

/// Blocks moved per batch for a class.
#[inline]
fn batch(class: usize) -> u32 {
    super::BATCH[class]
}

#[derive(Clone, Copy)]
struct Bin {
    head: *mut u8,
    count: u32,
}

impl Bin {
    /// # Safety
    /// `b` is a free block of this bin's class, owned by this cache.
    #[inline]
    unsafe fn push(&mut self, b: *mut u8) {
        // SAFETY: the caller's: a free block has room for a pointer (16 bytes at least).
        unsafe { b.cast::<*mut u8>().write(self.head) };
        self.head = b;
        self.count += 1;
    }

    /// Takes a drained chain whole; the bin is empty.
    fn adopt(&mut self, chain: heap::Chain) {
        debug_assert_eq!(self.count, 0);
        self.head = chain.head;
        self.count = chain.count;
    }

    #[inline]
    fn pop(&mut self) -> Option<*mut u8> {
        if self.head.is_null() {
            return None;
        }
        let b = self.head;
        // SAFETY: every block on the stack was pushed with its first word pointing to the next.
        self.head = unsafe { b.cast::<*mut u8>().read() };
        self.count -= 1;
        Some(b)
    }
}

struct Cache {
    bins: UnsafeCell<[Bin; NB_SMALL_SIZE_CLASSES]>,
    /// This cache's owner id in the heap (its pools); 0 until the first refill.
    owner: Cell<u32>,
}

impl Cache {
    /// The bins. Only `alloc`/`dealloc`/`drop` below touch them, never re-entrantly: nothing
    /// they call allocates from this pool.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    fn bins(&self) -> &mut [Bin; NB_SMALL_SIZE_CLASSES] {
        // SAFETY: thread-local, and no caller holds the reference across a call that could
        // reach another `bins()` on this thread (see above).
        unsafe { &mut *self.bins.get() }
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        // The thread is ending: its blocks go back to their pools, and so do the chains in
        // the transfer cache (a thread exit is a quiet moment; it lets empty arenas go back).
        let mut h = heap::lock();
        for bin in self.bins.get_mut() {
            h.free_batch(std::iter::from_fn(|| bin.pop()));
        }
        h.trim();
        h.retire_owner(self.owner.get());
    }
}

impl Cache {
    /// This cache's owner id, made on first use (under the heap lock).
    fn owner(&self, h: &mut heap::Heap) -> u32 {
        if self.owner.get() == heap::ORPHAN {
            self.owner.set(h.new_owner());
        }
        self.owner.get()
    }
}

/// The calling thread's owner id (0 if none), for the fork handler.
pub(crate) fn current_owner() -> u32 {
    CACHE.try_with(|c| c.owner.get()).unwrap_or(heap::ORPHAN)
}

thread_local! {
    // after-fork: reset by mempool::heap
    static CACHE: Cache = const {
        Cache {
            bins: UnsafeCell::new(
                [Bin { head: ptr::null_mut(), count: 0 }; NB_SMALL_SIZE_CLASSES],
            ),
            owner: Cell::new(0),
        }
    };
}

/// Allocates a block for `layout`: from the pools when it is at most 512 bytes and aligned to
/// at most 16, else from the system allocator. Zero-size layouts get a dangling, aligned
/// pointer (no memory), as `Box` does. `None` when the system refuses memory.
#[inline]
pub fn alloc(layout: Layout) -> Option<NonNull<u8>> {
    if layout.size() == 0 {
        return Some(dangling(layout));
    }
    if !pooled(layout) {
        // SAFETY: `layout` has a non-zero size.
        return NonNull::new(unsafe { System.alloc(layout) });
    }
    let class = size_class(layout.size());
    let block = CACHE
        .try_with(|c| {
            let bin = &mut c.bins()[class];
            if let Some(b) = bin.pop() {
                return Some(b);
            }
            refill(c, class)
        })
        .unwrap_or_else(|_| {
            // This thread's cache is already destroyed (a late destructor): go to the heap.
            let mut one = None;
            heap::lock().alloc_batch(class, 1, heap::ORPHAN, |b| one = Some(b));
            one
        });
    block.and_then(NonNull::new)
}

#[cold]
fn refill(c: &Cache, class: usize) -> Option<*mut u8> {
    let mut h = heap::lock();
    let owner = c.owner(&mut h);
    let bin = &mut c.bins()[class];
    // Blocks of this thread's own first (its drained chains, then its pools), so that two
    // threads do not share cache lines; then chains other threads drained (a consumer's frees
    // coming back to its producer); then orphan or new pools.
    let n = batch(class) as usize;
    if let Some(chain) = h.take_chain(class, owner, true) {
        // A drained chain, adopted whole (the bin is empty).
        bin.adopt(chain);
        return bin.pop();
    }
    h.alloc_own(class, n, owner, |b| {
        // SAFETY: a free block of `class` from the heap, now owned by this cache.
        unsafe { bin.push(b) }
    });
    if bin.count == 0 {
        if let Some(chain) = h.take_chain(class, owner, false) {
            bin.adopt(chain);
        } else {
            h.alloc_batch(class, n, owner, |b| {
                // SAFETY: as above.
                unsafe { bin.push(b) }
            });
        }
    }
    bin.pop()
}

/// Frees a block from [`alloc`].
///
/// # Safety
/// `ptr` came from [`alloc`] with this same `layout`, and is not used afterwards.
#[inline]
pub unsafe fn dealloc(ptr: NonNull<u8>, layout: Layout) {
    if layout.size() == 0 {
        return;
    }
    if !pooled(layout) {
        // SAFETY: the caller's: it came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr.as_ptr(), layout) };
        return;
    }
    let class = size_class(layout.size());
    let p = ptr.as_ptr();
    let done = CACHE.try_with(|c| {
        let bin = &mut c.bins()[class];
        // SAFETY: the caller gives the block up; it is a block of `class`.
        unsafe { bin.push(p) };
        if bin.count >= 2 * batch(class) {
            drain(bin, class, c.owner.get());
        }
    });
    if done.is_err() {
        heap::lock().free_batch([p]);
    }
}

#[cold]
fn drain(bin: &mut Bin, class: usize, owner: u32) {
    // Cut the top `batch` blocks off the stack as one chain (outside the lock).
    let n = batch(class);
    let head = bin.head;
    let mut last = head;
    for _ in 1..n {
        // SAFETY: the bin holds at least `2 * n` linked blocks.
        last = unsafe { last.cast::<*mut u8>().read() };
    }
    // SAFETY: as above; `last` is the `n`-th block, and its link is the rest of the stack,
    // which stays here: the chain ends at `last`.
    unsafe {
        bin.head = last.cast::<*mut u8>().read();
        last.cast::<*mut u8>().write(ptr::null_mut());
    }
    bin.count -= n;
    let chain = heap::Chain {
        head,
        count: n,
        owner,
    };
    let mut h = heap::lock();
    if let Err(chain) = h.put_chain(class, chain) {
        // SAFETY: the chain's `n` blocks are free blocks of this heap, given up by this cache.
        unsafe { h.free_chain(chain) };
    }
}

/// Returns the calling thread's cached blocks, and the chains waiting between threads, to
/// their pools, so arenas left empty go back to the system (≈ `malloc_trim`). Other threads'
/// caches stay as they are; they empty when those threads exit.
pub fn trim() {
    let _ = CACHE.try_with(|c| {
        let mut h = heap::lock();
        for bin in c.bins().iter_mut() {
            h.free_batch(std::iter::from_fn(|| bin.pop()));
        }
        h.trim();
    });
}

fn dangling(layout: Layout) -> NonNull<u8> {
    // An address equal to the alignment is non-null and aligned.
    NonNull::new(layout.align() as *mut u8).expect("alignment is non-zero")
}

/// Blocks in the calling thread's cache, per class (for statistics).
pub(crate) fn cached_here() -> [usize; NB_SMALL_SIZE_CLASSES] {
    let mut out = [0; NB_SMALL_SIZE_CLASSES];
    let _ = CACHE.try_with(|c| {
        for (o, bin) in out.iter_mut().zip(c.bins().iter()) {
            *o = bin.count as usize;
        }
    });
    out
}
