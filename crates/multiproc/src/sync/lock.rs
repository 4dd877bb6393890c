//! `Lock` (≈ `threading.Lock`), its raw state machine [`RawLock`], and [`Mutex<T>`].
//!
//! # The lock word
//!
//! One `u32`, laid out as a Linux robust futex: `0` when free, otherwise the owner's kernel tid
//! in bits 0–29, bit 31 set when some thread may be sleeping on it. Nothing else: no pointer,
//! no per-process table, so the same word works in memory shared between processes.
//!
//! - acquire: CAS `0 → tid`; on failure spin briefly (a thread that only spun takes the lock
//!   without the waiters bit), then set the waiters bit and `futex_wait` (a thread that slept
//!   takes the lock with the bit, so its release passes the wake-up on);
//! - release: swap to `0`; if the old value had the waiters bit, `futex_wake(1)`. A swap that
//!   finds `0` is Python's `RuntimeError: release unlocked lock`, returned as
//!   [`ReleaseError::Unlocked`].
//!
//! As in Python, any thread may release a `Lock`, not only the one that acquired it.
//!
//! # Owners that die
//!
//! Beside the word, the lock records its holder's process *identity* (pid and start time, see
//! [`sys::liveness`](crate::sys::liveness)) and, after it, the holder's tid, both stored right
//! after the CAS (while this thread owns the cache line: nearly free). The release stores
//! nothing more: an identity whose tid is not the word's is the previous holder's, left over
//! while the new one is between its CAS and its stores. A lock in shared memory ([`Shared`](crate::shared::Shared)) is *robust*: an acquire
//! that finds it held by a process that is definitely dead (gone, a zombie, or its pid now
//! naming another process) takes it over and says so ([`Acquired::OwnerDied`]). A blocking
//! acquire looks every 100 ms; `try_acquire` and a timed acquire look once before giving up,
//! so polling a dead owner's lock recovers it too. The uncontended path never looks: the check
//! runs only once the word has been seen held. A probe that cannot answer (a full fd table,
//! say) counts as alive.

use std::marker::PhantomData;
use std::time::{Duration, Instant};

use crate::error::{OwnerDied, ReleaseError};
use crate::primitive::atomic::{AtomicU32, AtomicU64, Ordering};
use crate::primitive::{SpinWait, current_pid, current_tid, futex, is_dead, process_identity};

pub(crate) const WAITERS: u32 = 1 << 31;
pub(crate) const TID_MASK: u32 = 0x3fff_ffff;

/// `flags`: the lock lives in shared memory; waiters watch for the owner's process dying.
const ROBUST: u32 = 1;

/// How often a waiter on a robust lock checks whether the owner's process is still alive.
const ROBUST_POLL: Duration = Duration::from_millis(100);

/// How a blocking acquire ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Acquired {
    /// Got the lock.
    Yes,
    /// Got the lock from a process that died holding it.
    OwnerDied,
    /// The deadline passed.
    No,
}

/// The lock state machine on its own: a futex word with `lock`, `try_lock`, `lock_until` and
/// `unlock`. [`Lock`], [`RLock`](super::RLock), [`Condition`](super::Condition) and the queues
/// are built on it, and it implements [`lock_api::RawMutex`] so [`Mutex<T>`] comes for free.
#[derive(Debug)]
#[repr(C)]
pub struct RawLock {
    word: AtomicU32,
    flags: AtomicU32,
    /// The last holder's process identity (`pid << 32 | start time`), for owner-death checks.
    owner: AtomicU64,
    /// The tid `owner` belongs to, stored after it (Release): when it is not the word's tid,
    /// `owner` is not the current holder's.
    owner_tid: AtomicU32,
}

impl RawLock {
    const_fn! {
        /// A new, unlocked lock.
        pub fn new() -> RawLock {
            RawLock {
                word: AtomicU32::new(0),
                flags: AtomicU32::new(0),
                owner: AtomicU64::new(0),
                owner_tid: AtomicU32::new(0),
            }
        }
    }

    /// Marks the lock as living in shared memory: from now on, a waiter that finds its holder's
    /// process dead takes the lock over ([`Acquired::OwnerDied`]) instead of waiting forever.
    pub(crate) fn make_robust(&self) {
        self.flags.fetch_or(ROBUST, Ordering::Relaxed);
    }

    fn is_robust(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & ROBUST != 0
    }

    #[inline]
    fn acquired(&self, tid: u32) -> bool {
        self.owner.store(process_identity(), Ordering::Relaxed);
        self.owner_tid.store(tid, Ordering::Release);
        true
    }

    /// The CAS `0 → tid`, nothing else.
    #[inline]
    fn try_lock_fast(&self) -> bool {
        let me = current_tid();
        self.word
            .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            && self.acquired(me)
    }

    /// Takes the lock if it is free, or (robust) if its holder's process is dead; never
    /// blocks.
    #[inline]
    pub fn try_lock(&self) -> bool {
        self.try_lock_fast() || self.try_lock_contended() == Some(Acquired::OwnerDied)
    }

    /// Takes the lock, blocking as long as needed.
    #[inline]
    pub fn lock(&self) {
        if !self.try_lock_fast() {
            self.lock_slow(None);
        }
    }

    /// Takes the lock unless `deadline` passes first; `None` waits forever.
    #[inline]
    pub fn lock_until(&self, deadline: Option<Instant>) -> bool {
        self.lock_until_checked(deadline) != Acquired::No
    }

    /// As [`lock_until`](Self::lock_until), telling whether the lock came from a dead owner.
    /// A deadline already past makes it a [`try_lock_checked`](Self::try_lock_checked).
    #[inline]
    pub(crate) fn lock_until_checked(&self, deadline: Option<Instant>) -> Acquired {
        if self.try_lock_fast() {
            Acquired::Yes
        } else {
            self.lock_slow(deadline)
        }
    }

    /// Never blocks: takes the lock if it is free, or if (robust) its holder's process is dead.
    /// `None` while a live thread holds it.
    pub(crate) fn try_lock_checked(&self) -> Option<Acquired> {
        if self.try_lock_fast() {
            return Some(Acquired::Yes);
        }
        self.try_lock_contended()
    }

    /// The word was seen held: take the lock over if its holder is dead (robust locks only).
    #[cold]
    fn try_lock_contended(&self) -> Option<Acquired> {
        if self.is_robust() && self.take_from_dead_owner(current_tid()) {
            return Some(Acquired::OwnerDied);
        }
        None
    }

    #[cold]
    fn lock_slow(&self, deadline: Option<Instant>) -> Acquired {
        let me = current_tid();
        // Phase 1: spin. A thread that never slept takes the lock without the waiters bit, so
        // its release costs no syscall.
        let mut spin = SpinWait::new(SpinWait::LOCK);
        loop {
            let v = self.word.load(Ordering::Relaxed);
            if v == 0 {
                if self
                    .word
                    .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    self.acquired(me);
                    return Acquired::Yes;
                }
                continue;
            }
            if !spin.spin() {
                break;
            }
        }
        // Phase 2: sleep. Having slept, we take the lock *with* the waiters bit: others may
        // still sleep, and our release must wake one of them.
        loop {
            let Some(v) = self.take_or_mark_sleeper(me) else {
                return Acquired::Yes;
            };
            let robust = self.is_robust();
            let slice = if robust {
                let poll = Instant::now() + ROBUST_POLL;
                Some(deadline.map_or(poll, |d| d.min(poll)))
            } else {
                deadline
            };
            if !futex::wait(&self.word, v, slice) {
                // Checked before giving up too, so a timeout shorter than the poll interval
                // still recovers a dead owner's lock.
                if robust && self.take_from_dead_owner(me) {
                    return Acquired::OwnerDied;
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return self.give_up();
                }
            }
        }
    }

    /// If the lock is held by a process that is definitely dead, take it over. A thread that
    /// exited in a live process keeps the lock held, as in Python.
    ///
    /// The word is read first (Acquire), then the tid the identity belongs to (Acquire), then
    /// the identity. If that tid is the word's, the identity is the holder's; if not, the
    /// holder is between its CAS and its stores, and only its thread's definite death counts.
    /// The takeover is a CAS from the word that was judged, so of two waiters that both found
    /// the owner dead exactly one proceeds; and a waiter that looks at the new holder before
    /// its stores finds the tid mismatch and judges by the tid.
    #[cold]
    fn take_from_dead_owner(&self, me: u32) -> bool {
        let v = self.word.load(Ordering::Acquire);
        if v == 0 {
            return false;
        }
        let tid = v & TID_MASK;
        let dead = if self.owner_tid.load(Ordering::Acquire) == tid {
            let owner = self.owner.load(Ordering::Relaxed);
            is_dead((owner >> 32) as u32, owner & 0xffff_ffff)
        } else {
            is_dead(tid, 0)
        };
        dead && self
            .word
            .compare_exchange(v, me | WAITERS, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            && self.acquired(me)
    }

    /// One step of a sleeping acquirer: takes the lock if it is free (with the waiters bit,
    /// see `take_free_with_waiters_bit`) and returns `None`, or makes sure the waiters bit is
    /// set and returns the word's value to sleep on.
    fn take_or_mark_sleeper(&self, me: u32) -> Option<u32> {
        loop {
            let v = self.word.load(Ordering::Relaxed);
            if v == 0 {
                if self.take_free_with_waiters_bit(me) {
                    return None;
                }
                continue;
            }
            if v & WAITERS != 0
                || self
                    .word
                    .compare_exchange(v, v | WAITERS, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                return Some(v | WAITERS);
            }
        }
    }

    /// Takes a free lock keeping the waiters bit: a thread that slept may not be the last
    /// sleeper, so its release must wake the next one.
    fn take_free_with_waiters_bit(&self, me: u32) -> bool {
        self.word
            .compare_exchange(0, me | WAITERS, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            && self.acquired(me)
    }

    /// The deadline passed while we slept. We may have been woken by a release just now and
    /// be the thread that owes the next wake-up to other sleepers, so: take the lock if it is
    /// free (keeping the waiters bit), else make sure the holder's release wakes someone.
    #[cold]
    fn give_up(&self) -> Acquired {
        let me = current_tid();
        loop {
            let v = self.word.load(Ordering::Relaxed);
            if v == 0 {
                if self.take_free_with_waiters_bit(me) {
                    return Acquired::Yes;
                }
            } else if v & WAITERS != 0
                || self
                    .word
                    .compare_exchange(v, v | WAITERS, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                return Acquired::No;
            }
        }
    }

    /// One step of an async acquire: takes the lock, or registers `cx`'s waker with the futex
    /// waker thread the way a blocking acquirer sleeps (waiters bit set, then wait on the
    /// word), and is `Pending`. A robust lock is looked at again every 100 ms for a dead owner.
    #[cfg(not(multiproc_loom))]
    pub(crate) fn poll_lock(
        &self,
        reg: &mut Option<crate::sync::reactor::Registration>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Acquired> {
        use std::task::Poll;
        let me = current_tid();
        if reg.is_none() && self.try_lock_fast() {
            return Poll::Ready(Acquired::Yes);
        }
        let robust = self.is_robust();
        if robust && reg.is_some() && self.take_from_dead_owner(me) {
            return Poll::Ready(Acquired::OwnerDied);
        }
        let Some(v) = self.take_or_mark_sleeper(me) else {
            return Poll::Ready(Acquired::Yes);
        };
        let deadline = robust.then(|| Instant::now() + ROBUST_POLL);
        if crate::sync::reactor::wait_futex(&self.word, v, deadline, cx.waker(), reg).is_err() {
            cx.waker().wake_by_ref(); // no waker thread (threads exhausted): poll
        }
        Poll::Pending
    }

    /// An async acquire was abandoned after it may have consumed a release's wake-up: pass
    /// it on, as a timed-out sleeper does (`give_up`), so no other waiter is left asleep.
    #[cfg(not(multiproc_loom))]
    pub(crate) fn abandon_wait(&self) {
        if self.give_up() == Acquired::Yes {
            let _ = self.unlock();
        }
    }

    /// Releases the lock, whoever holds it. Errors if it was not held.
    #[inline]
    pub fn unlock(&self) -> Result<(), ReleaseError> {
        let old = self.word.swap(0, Ordering::Release);
        if old == 0 {
            return Err(ReleaseError::Unlocked);
        }
        if old & WAITERS != 0 {
            futex::wake(&self.word, 1);
        }
        Ok(())
    }

    /// Whether some thread holds the lock right now.
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.word.load(Ordering::Relaxed) != 0
    }

    /// In a child just forked: the thread that held this lock does not exist here, so take
    /// the lock back to free. Only for process-private locks the child is about to reuse.
    #[cfg(not(multiproc_loom))]
    pub(crate) fn reset_after_fork(&self) {
        self.word.store(0, Ordering::Relaxed);
    }

    /// The kernel tid of the thread that last acquired it (0 when free).
    #[inline]
    pub(crate) fn owner_tid(&self) -> u32 {
        self.word.load(Ordering::Relaxed) & TID_MASK
    }

    /// Whether the calling thread holds it: its tid in the word, and this process's pid in
    /// the identity (a tid alone may name a thread of a dead process).
    #[inline]
    pub(crate) fn held_by_me(&self) -> bool {
        self.owner_tid() == current_tid()
            && (self.owner.load(Ordering::Relaxed) >> 32) as u32 == current_pid()
    }
}

impl Default for RawLock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(not(multiproc_loom))]
// SAFETY: `lock`/`try_lock` give mutual exclusion through the CAS on the word (Acquire), and
// `unlock` publishes with Release; `unlock` is only called by lock_api while the lock is held.
unsafe impl lock_api::RawMutex for RawLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawLock = RawLock::new();
    type GuardMarker = lock_api::GuardSend;

    fn lock(&self) {
        RawLock::lock(self)
    }

    fn try_lock(&self) -> bool {
        RawLock::try_lock(self)
    }

    unsafe fn unlock(&self) {
        let _ = RawLock::unlock(self);
    }

    fn is_locked(&self) -> bool {
        RawLock::is_locked(self)
    }
}

#[cfg(not(multiproc_loom))]
// SAFETY: as for `RawMutex`; the timed forms only add a deadline to the same state machine.
unsafe impl lock_api::RawMutexTimed for RawLock {
    type Duration = Duration;
    type Instant = Instant;

    fn try_lock_for(&self, timeout: Duration) -> bool {
        self.lock_until(super::deadline(timeout))
    }

    fn try_lock_until(&self, deadline: Instant) -> bool {
        self.lock_until(Some(deadline))
    }
}

/// A mutex that owns its data (`lock_api::Mutex` over [`RawLock`]): the Rust-shaped face of
/// [`Lock`], with the same futex word.
#[cfg(not(multiproc_loom))]
pub type Mutex<T> = lock_api::Mutex<RawLock, T>;

/// The guard of a [`Mutex`].
#[cfg(not(multiproc_loom))]
pub type MutexGuard<'a, T> = lock_api::MutexGuard<'a, RawLock, T>;

/// Resetting a process-private [`Mutex`] in a forked child (≈ CPython's `_at_fork_reinit`).
#[cfg(not(multiproc_loom))]
pub(crate) trait ResetAfterFork {
    /// Frees the lock whatever its state: call only in a child right after `fork`.
    fn force_unlock_after_fork(&self);
}

#[cfg(not(multiproc_loom))]
impl<T> ResetAfterFork for Mutex<T> {
    fn force_unlock_after_fork(&self) {
        // SAFETY: reading the raw lock is safe in itself; resetting it is only done in a
        // freshly forked child, where the previous holder's thread does not exist.
        unsafe { self.raw() }.reset_after_fork();
    }
}

/// A primitive lock (≈ `threading.Lock`).
///
/// Not re-entrant: a thread that acquires it twice blocks forever (use
/// [`acquire_timeout`](Lock::acquire_timeout) to see that, or an [`RLock`](super::RLock)).
/// Any thread may release it, as in Python.
///
/// ```
/// use multiproc::sync::Lock;
/// use std::time::Duration;
///
/// static LOCK: Lock = Lock::new();
///
/// let guard = LOCK.acquire();          // `with lock:`
/// assert!(LOCK.locked());
/// assert!(LOCK.try_acquire().is_none()); // acquire(blocking=False)
/// assert!(LOCK.acquire_timeout(Duration::from_millis(10)).is_none());
/// drop(guard);
///
/// LOCK.acquire().leak();               // a bare `lock.acquire()` ...
/// LOCK.release().unwrap();             // ... and a later `lock.release()`
/// assert!(LOCK.release().is_err());    // RuntimeError: release unlocked lock
/// ```
#[derive(Debug, Default)]
#[repr(transparent)]
pub struct Lock {
    raw: RawLock,
}

impl Lock {
    const_fn! {
        /// A new, unlocked lock.
        pub fn new() -> Lock {
            Lock { raw: RawLock::new() }
        }
    }

    /// Blocks until the lock is acquired; the guard releases it on drop.
    #[inline]
    pub fn acquire(&self) -> LockGuard<'_> {
        self.raw.lock();
        LockGuard {
            lock: self,
            _p: PhantomData,
        }
    }

    /// [`acquire`](Lock::acquire) as a future: awaiting never blocks the runtime's thread (the
    /// lock word is watched by a waker thread, see [`crate::futures`]). Dropping the future
    /// before it completes gives up the wait without losing another waiter's wake-up.
    ///
    /// ```
    /// use multiproc::sync::Lock;
    ///
    /// let lock = Lock::new();
    /// let held = lock.acquire();
    /// let waiter = std::thread::scope(|s| {
    ///     let w = s.spawn(|| multiproc::futures::block_on(async { drop(lock.acquire_async().await); 1 }));
    ///     drop(held);
    ///     w.join().unwrap()
    /// });
    /// assert_eq!(waiter, 1);
    /// ```
    #[cfg(not(multiproc_loom))]
    pub async fn acquire_async(&self) -> LockGuard<'_> {
        /// Passes a consumed wake-up on if the future is dropped while it waits.
        struct Waiting<'a> {
            raw: &'a RawLock,
            reg: Option<crate::sync::reactor::Registration>,
            done: bool,
        }
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                if !self.done && self.reg.take().is_some() {
                    self.raw.abandon_wait();
                }
            }
        }
        let mut w = Waiting {
            raw: &self.raw,
            reg: None,
            done: false,
        };
        std::future::poll_fn(|cx| self.raw.poll_lock(&mut w.reg, cx)).await;
        w.done = true;
        LockGuard {
            lock: self,
            _p: PhantomData,
        }
    }

    /// Acquires the lock only if it is free right now (`acquire(blocking=False)`).
    #[inline]
    pub fn try_acquire(&self) -> Option<LockGuard<'_>> {
        self.raw.try_lock().then(|| LockGuard {
            lock: self,
            _p: PhantomData,
        })
    }

    /// Waits at most `timeout` for the lock (`acquire(timeout=...)`). A timed-out call leaves
    /// the lock as it was.
    #[inline]
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<LockGuard<'_>> {
        self.raw
            .lock_until(super::deadline(timeout))
            .then(|| LockGuard {
                lock: self,
                _p: PhantomData,
            })
    }

    /// As [`acquire`](Lock::acquire), but says so when the lock was taken over from a process
    /// that died holding it (only locks in shared memory, see
    /// [`Shared`](crate::shared::Shared), detect that; `acquire` takes them over silently).
    pub fn acquire_checked(&self) -> Result<LockGuard<'_>, OwnerDied<LockGuard<'_>>> {
        let got = self.raw.lock_until_checked(None);
        self.checked(got)
    }

    /// As [`try_acquire`](Lock::try_acquire), saying so when the lock was taken over from a
    /// process that died holding it. `None` while a live holder has it.
    pub fn try_acquire_checked(&self) -> Option<Result<LockGuard<'_>, OwnerDied<LockGuard<'_>>>> {
        let got = self.raw.try_lock_checked()?;
        Some(self.checked(got))
    }

    /// As [`acquire_timeout`](Lock::acquire_timeout), saying so when the lock was taken over
    /// from a process that died holding it. `None` when the timeout passed first.
    pub fn acquire_timeout_checked(
        &self,
        timeout: Duration,
    ) -> Option<Result<LockGuard<'_>, OwnerDied<LockGuard<'_>>>> {
        match self.raw.lock_until_checked(super::deadline(timeout)) {
            Acquired::No => None,
            got => Some(self.checked(got)),
        }
    }

    fn checked(&self, got: Acquired) -> Result<LockGuard<'_>, OwnerDied<LockGuard<'_>>> {
        let g = LockGuard {
            lock: self,
            _p: PhantomData,
        };
        if got == Acquired::OwnerDied {
            Err(OwnerDied(g))
        } else {
            Ok(g)
        }
    }

    /// Releases the lock, from any thread. Errors with [`ReleaseError::Unlocked`] if it is not
    /// held. Pairs with [`LockGuard::leak`].
    #[inline]
    pub fn release(&self) -> Result<(), ReleaseError> {
        self.raw.unlock()
    }

    /// Whether the lock is held (`locked()`).
    #[inline]
    pub fn locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// The raw state machine, for building other primitives.
    pub fn raw(&self) -> &RawLock {
        &self.raw
    }
}

/// Holds a [`Lock`]; releases it when dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
#[derive(Debug)]
pub struct LockGuard<'a> {
    lock: &'a Lock,
    // A `Lock` may be released by any thread, so the guard may move between threads.
    _p: PhantomData<&'a ()>,
}

impl LockGuard<'_> {
    /// Keeps the lock held without a guard, as a bare Python `lock.acquire()` does; release it
    /// later with [`Lock::release`], from any thread.
    pub fn leak(self) {
        std::mem::forget(self);
    }
}

impl Drop for LockGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // An error means another thread already released it (allowed in Python): nothing to do.
        let _ = self.lock.raw.unlock();
    }
}
