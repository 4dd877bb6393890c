//! `JoinableQueue`'s task counter in the segment: how many items were put and not yet marked
//! done, which `join()` waits to reach zero, across every process that holds the queue.
//!
//! One 64-bit word holds both counts, unfinished (low 32 bits) and ever added (high 31 bits),
//! so a producer killed between the two updates cannot exist; the added count lets the next
//! producer see a task counted for a message that was never published
//! ([`Tasks::take_back_unpublished`]).
//!
//! Compiled under loom too: `tests/loom.rs` checks that `task_done` racing `join` never loses
//! the joiner's wake-up and never counts below zero.

use std::time::{Duration, Instant};

use crate::primitive::atomic::{AtomicU32, AtomicU64, Ordering};
use crate::primitive::{futex, loom_sc_fence};

/// Message and task counts are 31 bits (the write word's top bit is `MID`).
#[cfg_attr(multiproc_loom, allow(dead_code))]
pub(crate) const COUNT_MASK: u32 = 0x7fff_ffff;

/// How long a joiner sleeps before it looks again (a joiner killed while waiting leaves
/// `waiters` one too high, which only costs wake-ups; the slice bounds what a missed one
/// could cost to latency).
const SLICE: Duration = Duration::from_secs(1);

/// The counter, placed in the segment's header.
#[repr(C)]
pub(crate) struct Tasks {
    /// Unfinished tasks (low 32 bits) | tasks ever added (high 32 bits).
    word: AtomicU64,
    seq: AtomicU32,
    waiters: AtomicU32,
}

impl Tasks {
    pub(crate) fn new() -> Tasks {
        Tasks {
            word: AtomicU64::new(0),
            seq: AtomicU32::new(0),
            waiters: AtomicU32::new(0),
        }
    }

    /// One more task (a `put` on a joinable queue, just before it publishes the message).
    #[inline]
    pub(crate) fn add(&self) {
        self.word.fetch_add(1 | 1 << 32, Ordering::AcqRel);
    }

    /// `JoinableQueue.task_done()`: false when called more times than items were put.
    #[inline]
    pub(crate) fn done(&self) -> bool {
        let mut cur = self.word.load(Ordering::Relaxed);
        loop {
            if cur as u32 == 0 {
                return false;
            }
            match self
                .word
                .compare_exchange_weak(cur, cur - 1, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(v) => cur = v,
            }
        }
        // SeqCst above and here, against `join`'s increment of `waiters` and its look at the
        // count: either it sees zero or we see it waiting.
        loom_sc_fence();
        if cur as u32 == 1 && self.waiters.load(Ordering::SeqCst) != 0 {
            self.seq.fetch_add(1, Ordering::SeqCst);
            futex::wake(&self.seq, u32::MAX);
        }
        true
    }

    #[inline]
    pub(crate) fn unfinished(&self) -> u32 {
        self.word.load(Ordering::Acquire) as u32
    }

    /// `JoinableQueue.join()`: waits until every task is done; false if `deadline` passed.
    pub(crate) fn join(&self, deadline: Option<Instant>) -> bool {
        loop {
            if self.word.load(Ordering::Acquire) as u32 == 0 {
                return true;
            }
            self.waiters.fetch_add(1, Ordering::SeqCst);
            let seq = self.seq.load(Ordering::SeqCst);
            loom_sc_fence();
            let done = self.word.load(Ordering::SeqCst) as u32 == 0;
            let slice = Instant::now() + SLICE;
            let timed_out = !done
                && !futex::wait(
                    &self.seq,
                    seq,
                    Some(deadline.map_or(slice, |d| d.min(slice))),
                );
            self.waiters.fetch_sub(1, Ordering::SeqCst);
            if timed_out && deadline.is_some_and(|d| Instant::now() >= d) {
                return self.word.load(Ordering::Acquire) as u32 == 0;
            }
        }
    }

    /// A producer died between [`add`](Self::add) and publishing its message, which is the
    /// `committed`-th: take that task back, so `join` does not wait for an item that no one
    /// will ever get. Called by the next holder of the put lock.
    #[cfg_attr(multiproc_loom, allow(dead_code))]
    pub(crate) fn take_back_unpublished(&self, committed: u32) {
        let mut t = self.word.load(Ordering::Relaxed);
        while (t >> 32) as u32 & COUNT_MASK != committed {
            let unfinished = (t as u32).saturating_sub(1) as u64;
            let added = ((t >> 32) as u32).wrapping_sub(1) as u64;
            match self.word.compare_exchange(
                t,
                unfinished | added << 32,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(v) => t = v,
            }
        }
    }
}
