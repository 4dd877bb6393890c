//! A robust lock that one thread holds for almost nothing: the lock on each side of a process
//! queue.
//!
//! Most queues have one producer thread and one consumer thread for long stretches. Taking and
//! releasing a [`RawLock`] costs two locked instructions each time, and on a queue between two
//! processes they are most of a small message's cost: each also waits for the stores still in
//! flight, such as the cache line the consumer just read. So the first thread to take a
//! `BiasedLock` keeps it *biased* to itself, as HotSpot biased its monitors: from then on it
//! enters with a plain store (`busy = 1`) and a load (is the bias still mine?), and leaves with
//! a plain store (`busy = 0`).
//!
//! # Revoking
//!
//! Any other thread takes the robust lock as usual, then finds the bias held by someone else
//! and revokes it: it marks the bias revoking, runs [`membarrier::barrier`] (the heavy half of
//! an asymmetric fence; the owner's fast path has only a compiler fence), and waits for
//! `busy == 0`. After the barrier, either the owner's `busy = 1` is visible (it is inside, and
//! the revoker waits for it to leave) or the owner's re-check sees the revocation (it backs off
//! to the robust lock). A revoked lock stays an ordinary robust lock: biasing again would need
//! the old owner's stale `busy` stores to be told apart from the new owner's.
//!
//! ```text
//! bias:  0 (never biased) ──first holder──▶ owner ──another thread──▶ owner|REVOKING ──busy == 0──▶ REVOKED
//! ```
//!
//! # Crashes
//!
//! An owner killed inside leaves `busy = 1`: a revoker checks every 100 ms whether the owner's
//! thread is definitely dead (gone, or its tid now names a thread with another start time; see
//! [`sys::liveness`](crate::sys::liveness)), and if so takes the lock over with `died = true`, exactly as the
//! robust lock reports [`Acquired::OwnerDied`]. An owner killed outside needs nothing.
//!
//! Only a process registered with `membarrier` (see [`membarrier`]) takes a bias; without it
//! the lock is a plain robust lock.
//!
//! # Why hand-written, and why not in the loom models
//!
//! `lock_api` and parking_lot have no biased lock, and none that lives in shared memory. The
//! fast path's correctness rests on `membarrier` ordering another CPU's plain store before its
//! plain load, which neither the C++ memory model nor loom can express; the protocol is checked
//! instead by the queue tests that revoke a bias under load (`process_queue.rs`, verified to
//! fail when the revoker does not wait for `busy == 0`) and kill an owner inside
//! (`process_queue_crash.rs`).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, compiler_fence};
use std::time::{Duration, Instant};

use super::lock::{Acquired, RawLock};
use crate::primitive::{SpinWait, current_pid, current_tid, futex, membarrier};
use crate::sys::liveness;

/// Set in `bias` (with the owner kept) while a revocation waits for the owner to leave.
const REVOKING: u64 = 1 << 63;
/// The bias is gone for good.
const REVOKED: u64 = u64::MAX;

/// How often a revoker checks whether an owner that stays inside is still alive.
const POLL: Duration = Duration::from_millis(100);

/// How the holder got in, for [`BiasedLock::unlock`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Held {
    /// Through the bias: no robust lock held.
    Biased,
    /// Holding the robust lock.
    Locked,
}

/// An acquisition: how to release it, and whether its previous holder died inside.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entered {
    pub(crate) held: Held,
    pub(crate) died: bool,
}

/// A [`RawLock`] with a bias. See the [module docs](self). Lives in shared memory: every field
/// is an atomic, and a zeroed value from [`new`](Self::new) is ready to use.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct BiasedLock {
    raw: RawLock,
    /// 0, the owner (`pid << 32 | tid`), the owner `| REVOKING`, or [`REVOKED`].
    bias: AtomicU64,
    /// 1 while the owner is inside through the bias. Stored only by the owner (and by the
    /// revoker that takes over from a dead one); also the futex a revoker sleeps on.
    busy: AtomicU32,
    /// 1 while a revoker may be sleeping on `busy`: the owner wakes it when leaving.
    revoker: AtomicU32,
    /// The bias owner thread's start time, stored (under the robust lock) before `bias`, so
    /// a revoker tells the owner from a later thread with the same tid.
    owner_start: AtomicU64,
}

/// This thread's name in `bias`.
#[inline]
fn me() -> u64 {
    (current_pid() as u64) << 32 | current_tid() as u64
}

impl BiasedLock {
    pub(crate) fn new() -> BiasedLock {
        BiasedLock {
            raw: RawLock::new(),
            bias: AtomicU64::new(0),
            busy: AtomicU32::new(0),
            revoker: AtomicU32::new(0),
            owner_start: AtomicU64::new(0),
        }
    }

    /// Marks the robust lock as shared between processes (see [`RawLock`]).
    pub(crate) fn make_robust(&self) {
        self.raw.make_robust();
    }

    /// The robust lock under the bias, for callers that wait for it their own way (then call
    /// [`settle`](Self::settle) before entering).
    pub(crate) fn raw(&self) -> &RawLock {
        &self.raw
    }

    /// The owner's way in: a plain store and two loads, no locked instruction. `false` when
    /// this thread does not own the bias (or it is being revoked): take the robust lock.
    #[inline]
    pub(crate) fn enter_biased(&self) -> bool {
        let me = me();
        if self.bias.load(Ordering::Relaxed) != me {
            return false;
        }
        self.busy.store(1, Ordering::Relaxed);
        // The light half of the fence: a revoker's `membarrier` orders this store before the
        // load below on the CPU, so either it sees `busy == 1` or we see its revocation.
        compiler_fence(Ordering::SeqCst);
        if self.bias.load(Ordering::Acquire) == me {
            return true;
        }
        self.leave_biased();
        false
    }

    #[inline]
    fn leave_biased(&self) {
        self.busy.store(0, Ordering::Release);
        // Light half again: a revoker announces itself, runs the barrier, then looks at `busy`.
        compiler_fence(Ordering::SeqCst);
        if self.revoker.load(Ordering::Relaxed) != 0 {
            futex::wake(&self.busy, u32::MAX);
        }
    }

    /// Called holding the robust lock, before entering: takes the bias if the lock was never
    /// biased, or revokes another thread's and waits (until `deadline`, or until `give_up`
    /// says so) for it to leave. `Some(died)`: may enter, `died` if the owner died inside.
    /// `None`: gave up; the caller releases the robust lock (the revocation stays under way,
    /// and the next holder finishes it).
    pub(crate) fn settle(
        &self,
        deadline: &dyn Fn() -> Option<Instant>,
        give_up: &dyn Fn() -> bool,
    ) -> Option<bool> {
        let b = self.bias.load(Ordering::Acquire);
        if b == REVOKED {
            return Some(false);
        }
        let me = me();
        if b == 0 {
            // We hold the robust lock, so no other thread can be taking the bias now.
            let next = if membarrier::register() { me } else { REVOKED };
            self.owner_start
                .store(liveness::thread_start_time(), Ordering::Relaxed);
            self.bias.store(next, Ordering::Relaxed);
            return Some(false);
        }
        if b == me {
            return Some(false);
        }
        self.revoke(b & !REVOKING, deadline(), give_up)
    }

    #[cold]
    fn revoke(
        &self,
        owner: u64,
        deadline: Option<Instant>,
        give_up: &dyn Fn() -> bool,
    ) -> Option<bool> {
        self.bias.store(owner | REVOKING, Ordering::SeqCst);
        self.revoker.store(1, Ordering::SeqCst);
        // The heavy half: after this, the owner either is visibly inside or will see REVOKING.
        membarrier::barrier();
        let mut spin = SpinWait::new(SpinWait::EVENT);
        loop {
            if self.busy.load(Ordering::Acquire) == 0 {
                self.finish_revoke();
                return Some(false);
            }
            if give_up() || deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
            if spin.spin() {
                continue;
            }
            let slice = Instant::now() + POLL;
            let woke = futex::wait(
                &self.busy,
                1,
                Some(deadline.map_or(slice, |d| d.min(slice))),
            );
            if !woke && self.busy.load(Ordering::Acquire) != 0 && self.owner_dead(owner) {
                // Killed inside: what it was doing is ours to repair.
                self.finish_revoke();
                return Some(true);
            }
        }
    }

    /// Whether the bias owner's thread is definitely dead (a probe that cannot tell says no).
    fn owner_dead(&self, owner: u64) -> bool {
        liveness::is_dead(owner as u32, self.owner_start.load(Ordering::Relaxed))
    }

    fn finish_revoke(&self) {
        self.busy.store(0, Ordering::Relaxed);
        self.revoker.store(0, Ordering::Relaxed);
        self.bias.store(REVOKED, Ordering::Release);
    }

    /// Never blocks and never waits for a live owner: enters when some holder died inside
    /// (`died`: the robust lock's holder, or the bias owner), or when nobody holds the lock
    /// and it is not biased to another thread. For a side that only wants to know whether the
    /// other side's holder died.
    pub(crate) fn try_lock_checked(&self) -> Option<Entered> {
        let got = self.raw.try_lock_checked()?;
        let raw_died = got == Acquired::OwnerDied;
        let b = self.bias.load(Ordering::Acquire);
        let owner = b & !REVOKING;
        let died = if b == 0 || b == REVOKED || b == me() {
            Some(raw_died)
        } else if self.busy.load(Ordering::Acquire) != 0 {
            // The bias owner is inside: enter only if it is dead.
            if !self.owner_dead(owner) {
                None
            } else {
                self.finish_revoke();
                Some(true)
            }
        } else if raw_died {
            // The robust lock's holder died inside (it may have been the bias owner, taking
            // the lock the slow way): revoke without waiting, to repair what it left.
            self.revoke(owner, Some(Instant::now()), &|| true)
                .map(|_| true)
        } else {
            // Nobody inside and nobody dead: nothing for this caller to do.
            None
        };
        match died {
            Some(died) => Some(Entered {
                held: Held::Locked,
                died,
            }),
            None => {
                let _ = self.raw.unlock();
                None
            }
        }
    }

    /// Releases what [`enter_biased`](Self::enter_biased) or the robust lock gave.
    #[inline]
    pub(crate) fn unlock(&self, held: Held) {
        match held {
            Held::Biased => self.leave_biased(),
            // Only the holder ever releases, so this cannot fail.
            Held::Locked => {
                let _ = self.raw.unlock();
            }
        }
    }
}
