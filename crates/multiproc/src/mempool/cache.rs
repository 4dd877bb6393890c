//! Per-thread caches: a stack of free blocks per size class. `alloc` pops and `dealloc`
//! pushes without any lock; an empty stack is refilled, and a full one half drained, in one
//! batch under the heap lock. Blocks freed by a thread other than the allocating one simply
//! join the freeing thread's cache and flow back to the heap in batches.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::RefCell;
use std::ptr::NonNull;

use super::heap;
use super::{NB_SMALL_SIZE_CLASSES, class_size, pooled, size_class};

/// Blocks moved per batch for a class: about 4 KiB worth, between 8 and 64.
#[inline]
fn batch(class: usize) -> usize {
    (4096 / class_size(class)).clamp(8, 64)
}

struct Cache {
    bins: [Vec<*mut u8>; NB_SMALL_SIZE_CLASSES],
}

impl Drop for Cache {
    fn drop(&mut self) {
        // The thread is ending: its blocks go back to the heap.
        let mut h = heap::lock();
        for bin in &mut self.bins {
            h.free_batch(bin.drain(..));
        }
    }
}

thread_local! {
    static CACHE: RefCell<Cache> = const {
        RefCell::new(Cache { bins: [const { Vec::new() }; NB_SMALL_SIZE_CLASSES] })
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
            let mut c = c.borrow_mut();
            let bin = &mut c.bins[class];
            if let Some(b) = bin.pop() {
                return Some(b);
            }
            heap::lock().alloc_batch(class, batch(class), bin);
            bin.pop()
        })
        .unwrap_or_else(|_| {
            // This thread's cache is already destroyed (a late destructor): go to the heap.
            let mut one = Vec::with_capacity(1);
            heap::lock().alloc_batch(class, 1, &mut one);
            one.pop()
        });
    block.and_then(NonNull::new)
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
        let mut c = c.borrow_mut();
        let bin = &mut c.bins[class];
        bin.push(p);
        let b = batch(class);
        if bin.len() >= 2 * b {
            // Keep the most recently freed (warm) blocks; return the oldest batch.
            heap::lock().free_batch(bin.drain(..b));
        }
    });
    if done.is_err() {
        heap::lock().free_batch([p]);
    }
}

fn dangling(layout: Layout) -> NonNull<u8> {
    // An address equal to the alignment is non-null and aligned.
    NonNull::new(layout.align() as *mut u8).expect("alignment is non-zero")
}

/// Blocks in the calling thread's cache, per class (for statistics).
pub(crate) fn cached_here() -> [usize; NB_SMALL_SIZE_CLASSES] {
    let mut out = [0; NB_SMALL_SIZE_CLASSES];
    let _ = CACHE.try_with(|c| {
        for (o, bin) in out.iter_mut().zip(c.borrow().bins.iter()) {
            *o = bin.len();
        }
    });
    out
}
