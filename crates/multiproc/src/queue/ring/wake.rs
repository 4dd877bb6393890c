//! How a side that finds nothing to do sleeps, and how the other side wakes it, with no
//! locked instruction on the side that runs for every message.
//!
//! A waiter lags [`LAG_SPINS`], spins, then announces itself (`sleeping = 1`), looks once
//! more, and sleeps on `seq`. The other side stores its word and then looks at `sleeping`
//! ([`store_then_look`], then [`Wake::notify`]). Dekker's rule wants a full fence between each
//! side's store and its load. The frequent side has none when its process is registered with
//! `membarrier`: the sleeper supplies it by running [`membarrier::barrier`] between its
//! announcement and its last look. Its first sleep is a short [`NAP`] taken without the
//! barrier, so a wake-up lost to that race costs at most the nap.
//!
//! [`Pollers`] is the same handshake for `connection::wait`, which watches a queue without
//! taking its get lock.
//!
//! # What loom checks, and what it cannot
//!
//! Built with `--cfg multiproc_loom`, this file runs on loom's atomics and futex model
//! (`crate::primitive`), and `tests/loom.rs` explores the publish/sleep handshake of [`Wake`]
//! and of [`Pollers`]: no interleaving loses a wake-up (a lost one is a loom deadlock, since the
//! model's futex ignores timeouts). Loom has no `membarrier`, so there the process counts as
//! unregistered and the light side keeps its `SeqCst` swap: the model proves the fenced
//! pairing. The unfenced pairing rests on the kernel's barrier, which loom cannot express; it
//! is checked by the process-queue tests that hand every item of a long run across processes
//! with both sides sleeping in turn (`tests/process_queue.rs`:
//! `exactly_once_with_maxsize_8_backpressure`, `exactly_once_4_producers_x_250k_into_2_consumers`,
//! `blocked_put_proceeds_when_a_consumer_takes`; `tests/wait.rs`:
//! `wakes_for_a_queue_filled_by_another_process_among_connections_and_sentinels`), where a
//! lost wake-up would show up as a stall of the whole `NAP`/`POLL` on each item.

use std::cell::Cell;
use std::time::{Duration, Instant};

use crate::primitive::atomic::{AtomicU32, AtomicU64, Ordering};
use crate::primitive::{SpinWait, futex, loom_sc_fence, membarrier};

/// How often a blocked side checks whether the other side's process died.
pub(super) const POLL: Duration = Duration::from_millis(100);
/// A waiter's first sleep, taken without the `membarrier` (which on a VM can cost hundreds of
/// microseconds when the other side's CPU is busy): the most a wake-up lost to the unfenced
/// race can be late.
pub(super) const NAP: Duration = Duration::from_millis(1);

/// `pause`s (about 0.9 µs on an 18 ns-`pause` Xeon) a side that finds nothing waits before it
/// first looks at the other side's word. A reader at its writer's heels reads the write word
/// and the record being written after every message, so each message moves two cache lines
/// back and forth; a short lag lets a few messages gather, and the pair stays in the streaming
/// regime (measured 5 M/s at the heels, 20 M/s with the lag, for `u64` items between two
/// processes; `docs/PERFORMANCE.md`). Costs at most that much latency, and only to a message
/// that arrives within it.
pub(super) const LAG_SPINS: u32 = 48;

/// A futex a side sleeps on, and whether it does.
#[repr(C)]
pub(crate) struct Wake {
    pub(super) seq: AtomicU32,
    /// 1 while the lock holder sleeps (0/1, not a count: a holder killed while sleeping would
    /// leave a count wrong forever; the next holder resets the flag).
    pub(super) sleeping: AtomicU32,
}

impl Wake {
    pub(crate) fn new() -> Wake {
        Wake {
            seq: AtomicU32::new(0),
            sleeping: AtomicU32::new(0),
        }
    }

    /// An async waiter's announcement of a sleep (as [`wait`](Self::wait) makes): flags the
    /// side as sleeping, runs the barrier when `fenced`, and returns the word to sleep on with
    /// the value it held before. The flag is a hint shared with a blocked lock holder, so
    /// the async waiter sleeps in slices and announces itself again each time.
    #[cfg(not(multiproc_loom))]
    pub(crate) fn arm(&self, fenced: bool) -> (&std::sync::atomic::AtomicU32, u32) {
        let seq = self.seq.load(Ordering::SeqCst);
        self.sleeping.store(1, Ordering::SeqCst);
        if fenced {
            membarrier::barrier();
        }
        (&self.seq, seq)
    }

    /// After a store the other side may be waiting for: wake it if it sleeps.
    ///
    /// The waker clears the flag, so one wake-up serves every store made before the sleeper
    /// runs again: a sleeper waiting for a CPU would otherwise cost each of those stores a
    /// `futex` call (a pool's two workers writing results to a handler not yet scheduled made
    /// ~0.2 calls a task). Only a store that sees the flag set pays the locked swap. Every
    /// thread on the futex is woken: an async waiter shares the flag with the lock holder.
    #[inline]
    pub(crate) fn notify(&self) {
        loom_sc_fence();
        if self.sleeping.load(Ordering::SeqCst) != 0 && self.sleeping.swap(0, Ordering::SeqCst) != 0
        {
            self.seq.fetch_add(1, Ordering::SeqCst);
            futex::wake(&self.seq, u32::MAX);
        }
    }

    /// Waits until `ready(word)` holds; false once `deadline` passes. First lags
    /// [`LAG_SPINS`], unless `other_side_is_us` (this thread last wrote the other side's word,
    /// so there is no writer's line to keep off). `on_slice` runs every [`POLL`] while sleeping
    /// (crash checks).
    pub(crate) fn wait(
        &self,
        word: &AtomicU64,
        seen: &AtomicU64,
        ready: impl Fn(u64) -> bool,
        deadline: Option<Instant>,
        other_side_is_us: bool,
        mut on_slice: impl FnMut(),
    ) -> bool {
        if !other_side_is_us {
            // (When this thread wrote the other side itself, what it wrote is there: no lag.)
            for _ in 0..LAG_SPINS {
                std::hint::spin_loop();
            }
        }
        let mut spin = SpinWait::new(SpinWait::EVENT);
        let mut napped = false;
        loop {
            let v = word.load(Ordering::Acquire);
            if ready(v) {
                seen.store(v, Ordering::Relaxed);
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            if spin.spin() {
                continue;
            }
            // Sleep: announce it, then re-check. The other side stores its word, then looks
            // at `sleeping`, with no fence between (see `store_then_look`): the first sleep is
            // a short nap, and a wake-up missed in that race costs at most the nap; every
            // longer sleep first runs the barrier that makes the pairing exact.
            let seq = self.seq.load(Ordering::SeqCst);
            self.sleeping.store(1, Ordering::SeqCst);
            if napped {
                membarrier::barrier();
            }
            loom_sc_fence();
            let v = word.load(Ordering::SeqCst);
            if ready(v) {
                self.sleeping.store(0, Ordering::Relaxed);
                seen.store(v, Ordering::Relaxed);
                return true;
            }
            let slice = Instant::now() + if napped { POLL } else { NAP };
            napped = true;
            let woke = futex::wait(
                &self.seq,
                seq,
                Some(deadline.map_or(slice, |d| d.min(slice))),
            );
            self.sleeping.store(0, Ordering::Relaxed);
            if !woke {
                on_slice();
            }
            spin = SpinWait::new(SpinWait::LOCK);
        }
    }
}

thread_local! {
    /// The ring this thread last published a write to, and last freed space in: a side waiting
    /// for what this same thread just did on the other side has no reason to lag.
    // after-fork: kept (a hint; a wrong one only costs a wake-up check)
    pub(super) static LAST_WRITTEN: Cell<usize> = const { Cell::new(0) };
    // after-fork: kept (a hint; a wrong one only costs a wake-up check)
    pub(super) static LAST_READ: Cell<usize> = const { Cell::new(0) };
}

/// Stores a side's word, which the other side may be about to sleep on, before the caller
/// looks at its `sleeping` flag. Dekker's rule wants a full fence between the two; in a process
/// registered with `membarrier` the sleeper supplies it (it runs [`membarrier::barrier`]
/// between announcing its sleep and its last look), so this is a plain store.
///
/// The first store in a process registers it. (A process used to be registered only by
/// taking a side's bias first, so a pool's second worker, on sides already shared, paid a
/// locked swap for every message it published.) Registering late is safe: a barrier the
/// sleeper ran before it made its `sleeping` flag visible everywhere, so the first light
/// store's look sees the flag.
#[inline]
pub(crate) fn store_then_look(word: &AtomicU64, v: u64) {
    if membarrier::register() {
        word.store(v, Ordering::Release);
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
    } else {
        word.swap(v, Ordering::SeqCst);
    }
}

/// count: a poller killed while armed leaves it set, and then the next publish clears it
/// (one extra wake-up in all), where a count would stay wrong and cost every publish a
/// syscall forever. Pollers re-arm before each sleep, so none is left behind.
#[repr(C)]
pub(crate) struct Pollers {
    armed: AtomicU32,
    seq: AtomicU32,
}

impl Pollers {
    pub(crate) fn new() -> Pollers {
        Pollers {
            armed: AtomicU32::new(0),
            seq: AtomicU32::new(0),
        }
    }

    /// Sleeps until `ready()`, `deadline`, or `cancel` (after [`wake_all`](Self::wake_all));
    /// returns whether it is ready.
    pub(crate) fn wait(
        &self,
        ready: impl Fn() -> bool,
        deadline: Option<Instant>,
        cancel: &std::sync::atomic::AtomicBool,
    ) -> bool {
        let mut napped = false;
        loop {
            let seq = self.seq.load(Ordering::SeqCst);
            // Arm, then look (the writer publishes, then looks at `armed`): a first nap
            // without the barrier, then fenced sleeps, as in `Wake::wait`.
            self.armed.store(1, Ordering::SeqCst);
            if napped {
                membarrier::barrier();
            }
            loom_sc_fence();
            if ready() {
                return true;
            }
            if cancel.load(std::sync::atomic::Ordering::SeqCst)
                || deadline.is_some_and(|d| Instant::now() >= d)
            {
                return false;
            }
            // Slices: a writer that cleared `armed` for another poller's sake wakes us too,
            // but a stale wake-up is harmless and a missed one would not be, so re-arm often.
            let slice = Instant::now() + if napped { POLL } else { NAP };
            napped = true;
            futex::wait(
                &self.seq,
                seq,
                Some(deadline.map_or(slice, |d| d.min(slice))),
            );
        }
    }

    /// An async poller's announcement (as [`wait`](Self::wait) makes before each sleep): arms,
    /// runs the barrier when `fenced` (every sleep after a first short one), and returns the
    /// word to sleep on with the value it held before arming.
    #[cfg(not(multiproc_loom))]
    pub(crate) fn arm(&self, fenced: bool) -> (&std::sync::atomic::AtomicU32, u32) {
        let seq = self.seq.load(Ordering::SeqCst);
        self.armed.store(1, Ordering::SeqCst);
        if fenced {
            membarrier::barrier();
        }
        (&self.seq, seq)
    }

    /// After data is published: wake every poller.
    #[inline]
    pub(crate) fn notify(&self) {
        loom_sc_fence();
        if self.armed.load(Ordering::SeqCst) != 0 {
            self.wake_all();
        }
    }

    /// Wakes every poller (to cancel one).
    #[cold]
    pub(crate) fn wake_all(&self) {
        self.armed.store(0, Ordering::Relaxed);
        self.seq.fetch_add(1, Ordering::SeqCst);
        futex::wake(&self.seq, u32::MAX);
    }
}

#[cfg(all(test, not(multiproc_loom)))]
mod tests {
    use super::*;

    #[test]
    fn one_wake_up_serves_every_store_made_before_the_sleeper_runs() {
        // A sleeper has announced itself and not yet run again: the stores that land
        // meanwhile wake it once, not once each (a futex call each, before).
        let w = Wake::new();
        w.sleeping.store(1, Ordering::SeqCst);
        for _ in 0..100 {
            w.notify();
        }
        assert_eq!(w.seq.load(Ordering::SeqCst), 1, "one wake-up");
        assert_eq!(w.sleeping.load(Ordering::SeqCst), 0);
        // It sleeps again: the next store wakes it again.
        w.sleeping.store(1, Ordering::SeqCst);
        w.notify();
        assert_eq!(w.seq.load(Ordering::SeqCst), 2);
    }
}
