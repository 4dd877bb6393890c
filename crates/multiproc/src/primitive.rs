//! The concurrency primitives the sync module is written against, swappable for loom's.
//!
//! As in crossbeam, every atomic, futex call, `membarrier` and thread id used by
//! [`crate::sync`] and by the process queues' ring (`queue/ring/`) comes from here. Built
//! normally these are std's atomics, the real futex ([`crate::sys::futex`]) and the real
//! `membarrier`. Built with `RUSTFLAGS="--cfg multiproc_loom"` they are loom's atomics, a futex
//! modelled on loom's `Mutex`/`Condvar`, and a `membarrier` that never registers, so
//! `tests/loom.rs` can explore every interleaving of the lock, semaphore, event and condition
//! state machines and of the ring's wake-up and task protocols.

#[cfg(not(multiproc_loom))]
pub(crate) mod atomic {
    pub(crate) use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};
}

#[cfg(multiproc_loom)]
pub(crate) mod atomic {
    pub(crate) use loom::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};
}

/// Bounded spinning before sleeping, as parking_lot's `SpinWait`: three rounds of 2, 4, 8
/// `pause` instructions, then `yield`s up to the budget, then the caller sleeps on the futex.
/// Most hand-offs between running threads complete inside that window, while a sleep/wake
/// round trip costs tens of microseconds on a VM. Under loom it never spins: spinning only
/// multiplies the states to explore.
///
/// A `yield` is cheap only while nothing else wants the CPU. When other runnable tasks share
/// it (a loaded machine), each `yield` hands them a whole time slice (milliseconds under
/// EEVDF), and a waiter that yields its budget away waits far longer than a futex sleep, from
/// which the other side's wake-up would have called it back at once. So the first `yield`
/// that takes longer than [`BUSY_YIELD`] ends the spinning: the caller goes to sleep.
/// Measured with 1 MiB items through a process `Queue` beside two CPU hogs on two vCPUs:
/// 0.13–0.26 GiB/s (5,000 `sched_yield`s per 600 items) before, 0.24–3.5 GiB/s after
/// (`docs/PERFORMANCE.md`, "The programs a person runs").
#[derive(Debug)]
pub(crate) struct SpinWait {
    counter: u32,
    limit: u32,
}

impl SpinWait {
    /// parking_lot's budget (3 spins + 7 yields): for locks, where the holder is running and
    /// a longer spin only steals its CPU (measured: equal to parking_lot under contention).
    pub(crate) const LOCK: u32 = 10;
    /// For `Event`: a waiter is usually waiting for a hand-off from a running thread; three
    /// spins and 37 yields (tens of µs at most, then it sleeps) cut a set→wake hop from ~4 µs
    /// to ~0.2 µs here.
    pub(crate) const EVENT: u32 = 40;

    pub(crate) fn new(limit: u32) -> SpinWait {
        SpinWait { counter: 0, limit }
    }

    /// Spins once more; `false` once the budget is spent (time to sleep).
    #[inline]
    pub(crate) fn spin(&mut self) -> bool {
        if cfg!(multiproc_loom) || self.counter >= self.limit {
            return false;
        }
        self.counter += 1;
        if self.counter <= 3 {
            for _ in 0..(1u32 << self.counter) {
                std::hint::spin_loop();
            }
        } else {
            let t = std::time::Instant::now();
            std::thread::yield_now();
            if t.elapsed() > BUSY_YIELD {
                self.counter = self.limit;
            }
        }
        true
    }
}

/// A `yield` that lasted longer than this ran other tasks for a slice: the CPU is contended,
/// so [`SpinWait`] stops yielding (an uncontended `yield` returns in about a microsecond).
const BUSY_YIELD: std::time::Duration = std::time::Duration::from_micros(100);

/// Between a `SeqCst` store to one word and a `SeqCst` load of another (Dekker's pattern:
/// "I published" / "is anyone asleep?"). C11 orders the two already, so built normally this is
/// nothing. Loom models `SeqCst` accesses as `AcqRel` (its README, "Unsupported features") and
/// would report the store-buffering outcome the real code cannot have; under loom this is the
/// `SeqCst` fence that loom does model, so the model sees the order the hardware gives.
#[inline(always)]
pub(crate) fn loom_sc_fence() {
    #[cfg(multiproc_loom)]
    loom::sync::atomic::fence(atomic::Ordering::SeqCst);
}

#[cfg(not(multiproc_loom))]
pub(crate) use crate::sys::futex;
#[cfg(not(multiproc_loom))]
pub(crate) use crate::sys::liveness::{is_dead, process_identity};
#[cfg(not(multiproc_loom))]
pub(crate) use crate::sys::membarrier;
#[cfg(not(multiproc_loom))]
pub(crate) use crate::sys::tid::{current as current_tid, pid as current_pid};

#[cfg(multiproc_loom)]
pub(crate) mod futex {
    //! A futex modelled with loom's `Mutex` and `Condvar`: a waiter list keyed by address, and
    //! `wake(n)` marks at most `n` of them. Deadlines are ignored (loom has no clock), so loom
    //! tests use only the untimed operations.
    use super::atomic::{AtomicU32, Ordering};
    use loom::sync::{Condvar, Mutex};
    use std::time::Instant;

    struct Waiter {
        addr: usize,
        id: usize,
        woken: bool,
    }

    struct Table {
        waiters: Mutex<(usize, Vec<Waiter>)>,
        cond: Condvar,
    }

    loom::lazy_static! {
        // after-fork: kept (loom model only)
        static ref TABLE: Table = Table { waiters: Mutex::new((0, Vec::new())), cond: Condvar::new() };
    }

    pub(crate) fn wait(word: &AtomicU32, expected: u32, _deadline: Option<Instant>) -> bool {
        let addr = word as *const AtomicU32 as usize;
        let mut g = TABLE.waiters.lock().unwrap();
        if word.load(Ordering::SeqCst) != expected {
            return true;
        }
        let id = g.0;
        g.0 += 1;
        g.1.push(Waiter {
            addr,
            id,
            woken: false,
        });
        loop {
            g = TABLE.cond.wait(g).unwrap();
            if let Some(pos) = g.1.iter().position(|w| w.id == id && w.woken) {
                g.1.remove(pos);
                return true;
            }
        }
    }

    pub(crate) fn wake(word: &AtomicU32, n: u32) -> usize {
        let addr = word as *const AtomicU32 as usize;
        let mut g = TABLE.waiters.lock().unwrap();
        let mut woken = 0;
        for w in g.1.iter_mut().filter(|w| w.addr == addr && !w.woken) {
            if woken == n as usize {
                break;
            }
            w.woken = true;
            woken += 1;
        }
        TABLE.cond.notify_all();
        woken
    }
}

#[cfg(multiproc_loom)]
pub(crate) mod membarrier {
    //! Loom has no asymmetric fence: the process never counts as registered, so every light
    //! side keeps its full fence (and the model checks that pairing), and the heavy side is a
    //! `SeqCst` fence.
    #[allow(dead_code)]
    pub(crate) fn registered() -> bool {
        false
    }

    pub(crate) fn register() -> bool {
        false
    }

    pub(crate) fn barrier() {
        loom::sync::atomic::fence(loom::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(multiproc_loom)]
pub(crate) fn current_pid() -> u32 {
    1
}

#[cfg(multiproc_loom)]
pub(crate) fn is_dead(_id: u32, _start: u64) -> bool {
    false
}

#[cfg(multiproc_loom)]
pub(crate) fn process_identity() -> u64 {
    1 << 32 | 1
}

#[cfg(multiproc_loom)]
pub(crate) fn current_tid() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    // after-fork: kept (loom model only)
    static NEXT: AtomicU32 = AtomicU32::new(1);
    loom::thread_local! {
        // after-fork: kept (loom model only)
        static TID: u32 = NEXT.fetch_add(1, Ordering::Relaxed) % 0x3fff_fff0 + 1;
    }
    TID.with(|t| *t)
}

#[cfg(all(test, not(multiproc_loom)))]
mod tests {
    use super::SpinWait;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A waiter sharing its CPU with a busy thread stops spinning at the first `yield` that
    /// ran the other thread, instead of handing it a time slice 37 times over (`docs/
    /// PERFORMANCE.md`, "The three figures that did not reproduce"). Before the fix every
    /// round spent the whole budget.
    #[test]
    fn a_waiter_that_shares_its_cpu_with_a_busy_thread_stops_yielding() {
        let cpu = crate::sys::process::affinity().unwrap()[0];
        let stop = Arc::new(AtomicBool::new(false));
        let hog = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                crate::sys::process::set_affinity(&[cpu]).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        };
        crate::sys::process::set_affinity(&[cpu]).unwrap();
        // Some rounds may find the hog not yet running, or preempted: one cut short is
        // the behaviour; none in 50 rounds is the old one.
        let cut_short = (0..50).any(|_| {
            let mut s = SpinWait::new(SpinWait::EVENT);
            let mut spins = 0;
            while s.spin() {
                spins += 1;
            }
            spins < SpinWait::EVENT
        });
        stop.store(true, Ordering::Relaxed);
        hog.join().unwrap();
        assert!(
            cut_short,
            "every round yielded its whole budget to the busy thread"
        );
    }
}
