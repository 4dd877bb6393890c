//! Thread caches of the shared heap. Each thread that uses a heap claims a [`Slot`] in the
//! heap's header, once; its stacks of free blocks live there, in shared memory, so that when
//! the thread's process is killed another process can give them back. Alloc and free touch
//! only the caller's slot, without lock or atomic read-modify-write, as the in-process pool's
//! caches; a stack that runs empty or grows past two batches moves one batch under the heap
//! lock.
//!
//! A thread finds its slot through a one-entry thread-local (heap id, slot, pid); the pid
//! check makes a forked child claim its own slots instead of sharing its parent's.

use std::cell::{Cell, RefCell};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Weak};

use super::Inner;
use super::heap;
use super::layout::Slot;
use crate::primitive::{current_pid, current_tid};

/// Blocks moved per batch for a class (as in-process).
#[inline]
fn batch(class: usize) -> u64 {
    crate::mempool::BATCH[class] as u64
}

/// A slot this thread holds in one heap attachment.
struct Claim {
    inner: Weak<Inner>,
    id: u64,
    pid: u32,
    slot: usize,
}

impl Drop for Claim {
    fn drop(&mut self) {
        // The thread is ending. A claim inherited through fork belongs to the parent's thread;
        // a heap already dropped released its slots itself.
        if self.pid != current_pid() {
            return;
        }
        if let Some(inner) = self.inner.upgrade() {
            heap::lock(&inner.seg).release_slot(self.slot);
        }
    }
}

thread_local! {
    // after-fork: kept (each claim records its pid; a child's lookups skip the parent's)
    static CLAIMS: RefCell<Vec<Claim>> = const { RefCell::new(Vec::new()) };
    /// The last slot used: (heap attachment id, slot address). Cleared in a forked child, so
    /// the child claims its own.
    // after-fork: reset by mempool::shared::cache
    static LAST: Cell<(u64, usize)> = const { Cell::new((0, 0)) };
}

// after-fork: kept (the handler itself)
static AT_FORK: crate::sys::at_fork::Handler =
    crate::sys::at_fork::Handler::child("mempool::shared::cache", || {
        // Runs in the child, in the thread that forked (the only one there).
        let _ = LAST.try_with(|l| l.set((0, 0)));
    });

/// The calling thread's slot in `inner`, claimed on first use; `None` when every slot is
/// taken (or during thread teardown).
#[inline(always)]
fn slot(inner: &Arc<Inner>) -> Option<&Slot> {
    let (id, addr) = LAST.try_with(Cell::get).ok()?;
    if id == inner.id {
        // SAFETY: `addr` is this thread's slot in `inner`'s header (ids are never reused, and
        // a forked child starts with LAST cleared), which lives as long as `inner`.
        return Some(unsafe { &*(addr as *const Slot) });
    }
    slot_slow(inner)
}

#[cold]
fn slot_slow(inner: &Arc<Inner>) -> Option<&Slot> {
    AT_FORK.register();
    let pid = current_pid();
    let index = CLAIMS
        .try_with(|c| {
            let mut claims = c.borrow_mut();
            // Forget claims of dropped heaps and of a parent process (not released: see Drop).
            claims.retain(|c| c.pid == pid && c.inner.strong_count() > 0);
            if let Some(c) = claims.iter().find(|c| c.id == inner.id) {
                return Some(c.slot);
            }
            let tid = current_tid();
            let start = crate::sys::liveness::start_time(tid)?;
            let slot = heap::lock(&inner.seg).claim_slot(pid, tid, start, inner.id)?;
            claims.push(Claim {
                inner: Arc::downgrade(inner),
                id: inner.id,
                pid,
                slot,
            });
            Some(slot)
        })
        .ok()??;
    let s = &heap::header(&inner.seg).slots[index];
    let _ = LAST.try_with(|l| l.set((inner.id, s as *const Slot as usize)));
    Some(s)
}

/// A block of `class`, as an offset; `None` when the heap is full.
#[inline(always)]
pub(super) fn alloc(inner: &Arc<Inner>, class: usize) -> Option<u64> {
    let Some(s) = slot(inner) else {
        let mut h = heap::lock(&inner.seg);
        return h.take_block(class, None).or_else(|| {
            h.recover(false);
            h.take_block(class, None)
        });
    };
    // SAFETY: this thread's slot in `inner`'s segment.
    if let Some(off) = unsafe { s.bins[class].pop(inner.base()) } {
        return Some(off);
    }
    refill(inner, s, class)
}

#[cold]
fn refill(inner: &Arc<Inner>, s: &Slot, class: usize) -> Option<u64> {
    let bin = &s.bins[class];
    let mut h = heap::lock(&inner.seg);
    for i in 0..batch(class) {
        let mut got = h.take_block(class, Some(&s.moving));
        if got.is_none() && i == 0 {
            // Full: blocks may sit in the caches of threads that died.
            h.recover(false);
            got = h.take_block(class, Some(&s.moving));
        }
        let Some(off) = got else {
            break;
        };
        // SAFETY: this thread's slot; a free block now owned by this cache.
        unsafe { bin.push(inner.base(), off) };
    }
    s.moving.store(0, Relaxed);
    drop(h);
    // SAFETY: this thread's slot.
    unsafe { bin.pop(inner.base()) }
}

/// Takes back a block of `class`.
///
/// # Safety
/// `off` is a block of `class` from [`alloc`] on this heap, no longer used.
#[inline(always)]
pub(super) unsafe fn free(inner: &Arc<Inner>, class: usize, off: u64) {
    let Some(s) = slot(inner) else {
        // SAFETY: the caller's.
        unsafe { heap::lock(&inner.seg).put_block(off) };
        return;
    };
    // SAFETY: this thread's slot; the caller gives the block up.
    let n = unsafe { s.bins[class].push(inner.base(), off) };
    if n >= 2 * batch(class) {
        drain(inner, s, class);
    }
}

#[cold]
fn drain(inner: &Arc<Inner>, s: &Slot, class: usize) {
    let bin = &s.bins[class];
    let mut h = heap::lock(&inner.seg);
    for _ in 0..batch(class) {
        let off = bin.head.load(Relaxed);
        s.moving.store(off, Relaxed);
        // SAFETY: a block on this thread's stack.
        let next = unsafe { h.link(off) };
        bin.head.store(next, Relaxed);
        bin.count.store(bin.count.load(Relaxed) - 1, Relaxed);
        // SAFETY: a free block of this heap, given up by this cache.
        unsafe { h.put_block(off) };
    }
    s.moving.store(0, Relaxed);
}

/// Gives the calling thread's cache in `inner` back to the pools and releases its slot.
pub(super) fn release_here(inner: &Arc<Inner>) {
    let pid = current_pid();
    let _ = LAST.try_with(|l| l.set((0, 0)));
    let _ = CLAIMS.try_with(|c| {
        let mut claims = c.borrow_mut();
        if let Some(i) = claims.iter().position(|c| c.id == inner.id && c.pid == pid) {
            // Dropping the claim releases the slot.
            claims.swap_remove(i);
        }
    });
}

/// The calling thread's slot in `inner`, if it holds one.
pub(super) fn claimed_slot(inner: &Arc<Inner>) -> Option<usize> {
    let pid = current_pid();
    CLAIMS
        .try_with(|c| {
            c.borrow()
                .iter()
                .find(|c| c.id == inner.id && c.pid == pid)
                .map(|c| c.slot)
        })
        .ok()
        .flatten()
}

/// Test hook (feature `test-hooks`): takes the heap lock and dies halfway through moving a block of `class` from
/// its pool to this thread's cache (taken from the pool, not yet on the stack).
#[cfg(feature = "test-hooks")]
pub(super) fn die_mid_refill(inner: &Arc<Inner>, class: usize) -> ! {
    let s = slot(inner).expect("a cache slot");
    let mut h = heap::lock(&inner.seg);
    let _ = h.take_block(class, Some(&s.moving));
    std::mem::forget(h);
    // Ends the process at once, as a SIGKILL would, holding the lock.
    crate::sys::process::exit_now(0)
}
