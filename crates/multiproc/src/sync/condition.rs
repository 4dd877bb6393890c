//! `Condition` (≈ `threading.Condition`) and the wait queue it is built on.
//!
//! # How `notify(n)` wakes exactly `n`
//!
//! CPython keeps a list of per-waiter locks. A list cannot live in a fixed-size shared-memory
//! cell, so multiproc counts instead. Three words, changed only while the condition's lock is
//! held:
//!
//! - `waiters`: threads waiting and not yet granted a wake-up;
//! - `signals`: wake-ups granted and not yet taken;
//! - `seq`: bumped by every notify; it is also the futex word waiters sleep on.
//!
//! `notify(n)` moves `k = min(n, waiters)` from `waiters` to `signals`, bumps `seq` and wakes
//! `k` sleepers. A waiter takes a signal only if `seq` moved since it began waiting, so a thread
//! that arrives after a notify can never steal the wake-up meant for one that was already
//! there. Every waiter present at a notify is eligible, so there are always at least as many
//! eligible waiters as signals, and exactly `k` threads return from `wait` for it.
//!
//! A condition in shared memory also groups its waiters by process
//! ([`waiters`](super::waiters)), so a process killed inside `wait` is dropped from the count
//! and cannot absorb or duplicate a notify.

use std::marker::PhantomData;
use std::time::{Duration, Instant};

use super::lock::Lock;
#[cfg(not(multiproc_loom))]
use super::lock::RawLock;
use super::rlock::RLock;
use super::waiters::ProcessWaiters;
use crate::primitive::atomic::{AtomicU32, Ordering};
use crate::primitive::futex;

/// The counting wait queue behind [`Condition`], usable with any lock through [`Relock`].
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct WaitQueue {
    waiters: AtomicU32,
    signals: AtomicU32,
    seq: AtomicU32,
}

/// Something that can let go of its lock for the length of a closure and take it back.
pub(crate) trait Relock {
    fn unlocked<R>(&mut self, f: impl FnOnce() -> R) -> R;
}

#[cfg(not(multiproc_loom))]
impl<T> Relock for lock_api::MutexGuard<'_, RawLock, T> {
    fn unlocked<R>(&mut self, f: impl FnOnce() -> R) -> R {
        lock_api::MutexGuard::unlocked(self, f)
    }
}

/// The wait of a counting queue (see the module docs), over its three words: `seq` (bumped
/// by every grant, the futex word), `waiting` (waiters not yet granted) and `granted` (grants
/// not yet taken). Used by [`WaitQueue`] and by each process group of a shared condition.
pub(crate) fn wait_counted(
    seq: &AtomicU32,
    waiting: &AtomicU32,
    granted: &AtomicU32,
    relock: &mut impl Relock,
    deadline: Option<Instant>,
) -> bool {
    let entry = seq.load(Ordering::Relaxed);
    waiting.fetch_add(1, Ordering::Relaxed);
    let mut expected = entry;
    loop {
        let in_time = relock.unlocked(|| futex::wait(seq, expected, deadline));
        let now = seq.load(Ordering::Relaxed);
        if now != entry && granted.load(Ordering::Relaxed) > 0 {
            granted.fetch_sub(1, Ordering::Relaxed);
            return true;
        }
        if !in_time || deadline.is_some_and(|d| Instant::now() >= d) {
            waiting.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        expected = now;
    }
}

/// Grants up to `n` wake-ups to the waiters counted in `waiting`, bumps `seq` and wakes as
/// many sleepers; returns how many. The caller holds the lock.
pub(crate) fn grant(seq: &AtomicU32, waiting: &AtomicU32, granted: &AtomicU32, n: usize) -> usize {
    let k = n.min(waiting.load(Ordering::Relaxed) as usize);
    if k == 0 {
        return 0;
    }
    waiting.fetch_sub(k as u32, Ordering::Relaxed);
    granted.fetch_add(k as u32, Ordering::Relaxed);
    seq.fetch_add(1, Ordering::Release);
    futex::wake(seq, k as u32);
    k
}

impl WaitQueue {
    const_fn! {
        pub(crate) fn new() -> WaitQueue {
            WaitQueue { waiters: AtomicU32::new(0), signals: AtomicU32::new(0), seq: AtomicU32::new(0) }
        }
    }

    /// Waits for a notify; the caller holds the lock behind `relock`. Returns `false` if the
    /// deadline passed without a wake-up.
    pub(crate) fn wait_until(&self, relock: &mut impl Relock, deadline: Option<Instant>) -> bool {
        wait_counted(&self.seq, &self.waiters, &self.signals, relock, deadline)
    }

    /// Wakes up to `n` waiters; the caller holds the lock. Returns how many were granted.
    pub(crate) fn notify(&self, n: usize) -> usize {
        grant(&self.seq, &self.waiters, &self.signals, n)
    }

    pub(crate) fn notify_all(&self) -> usize {
        self.notify(usize::MAX)
    }

    /// Waiters not yet granted a wake-up.
    pub(crate) fn waiting(&self) -> usize {
        self.waiters.load(Ordering::Relaxed) as usize
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Lock {}
    impl Sealed for super::RLock {}
}

/// A lock a [`Condition`] can be built over: [`Lock`] or [`RLock`].
pub trait ConditionLock: sealed::Sealed + Default {
    #[doc(hidden)]
    fn cond_make_robust(&self);
    #[doc(hidden)]
    fn cond_acquire(&self, deadline: Option<Instant>) -> bool;
    #[doc(hidden)]
    fn cond_release(&self);
    #[doc(hidden)]
    fn cond_release_all(&self) -> u32;
    #[doc(hidden)]
    fn cond_restore(&self, saved: u32);
}

impl ConditionLock for Lock {
    fn cond_make_robust(&self) {
        self.raw().make_robust();
    }
    fn cond_acquire(&self, deadline: Option<Instant>) -> bool {
        self.raw().lock_until(deadline)
    }
    fn cond_release(&self) {
        let _ = self.raw().unlock();
    }
    fn cond_release_all(&self) -> u32 {
        let _ = self.raw().unlock();
        1
    }
    fn cond_restore(&self, _saved: u32) {
        self.raw().lock();
    }
}

impl ConditionLock for RLock {
    fn cond_make_robust(&self) {
        self.make_robust();
    }
    fn cond_acquire(&self, deadline: Option<Instant>) -> bool {
        self.acquire_until(deadline)
    }
    fn cond_release(&self) {
        let _ = self.release();
    }
    fn cond_release_all(&self) -> u32 {
        self.release_all()
    }
    fn cond_restore(&self, saved: u32) {
        self.restore(saved)
    }
}

/// A condition variable (≈ `threading.Condition`), over an [`RLock`] by default or a [`Lock`].
///
/// Python's rule "call `wait`/`notify` only while holding the lock" is enforced by the types:
/// they are methods of the [`ConditionGuard`] that [`acquire`](Condition::acquire) returns.
/// `wait` releases the lock fully (all levels of an `RLock`) and takes it back before returning.
///
/// ```
/// use multiproc::sync::Condition;
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
///
/// let cond = Arc::new(Condition::new());
/// let ready = Arc::new(AtomicBool::new(false));
/// let (c, r) = (cond.clone(), ready.clone());
/// let t = std::thread::spawn(move || {
///     let mut g = c.acquire();
///     g.wait_for(|| r.load(Ordering::Relaxed));
/// });
/// {
///     let g = cond.acquire();
///     ready.store(true, Ordering::Relaxed);
///     g.notify_all();
/// }
/// t.join().unwrap();
/// ```
#[derive(Debug, Default)]
#[repr(C)]
pub struct Condition<L: ConditionLock = RLock> {
    lock: L,
    queue: WaitQueue,
    groups: ProcessWaiters,
}

impl Condition<RLock> {
    const_fn! {
        /// A condition over a new [`RLock`] (Python's default).
        pub fn new() -> Condition<RLock> {
            Condition { lock: RLock::new(), queue: WaitQueue::new(), groups: ProcessWaiters::new() }
        }
    }
}

impl Condition<Lock> {
    const_fn! {
        /// A condition over a new [`Lock`].
        pub fn with_lock() -> Condition<Lock> {
            Condition { lock: Lock::new(), queue: WaitQueue::new(), groups: ProcessWaiters::new() }
        }
    }
}

impl<L: ConditionLock> Condition<L> {
    /// The condition lives in shared memory: its lock becomes robust and its waiters are
    /// grouped by process.
    pub(crate) fn make_robust(&self) {
        self.lock.cond_make_robust();
        self.groups.make_robust();
    }

    fn guard(&self) -> ConditionGuard<'_, L> {
        ConditionGuard {
            cond: self,
            _not_send: PhantomData,
        }
    }

    /// Acquires the underlying lock.
    pub fn acquire(&self) -> ConditionGuard<'_, L> {
        self.lock.cond_acquire(None);
        self.guard()
    }

    /// Acquires the underlying lock without blocking.
    pub fn try_acquire(&self) -> Option<ConditionGuard<'_, L>> {
        self.lock
            .cond_acquire(Some(Instant::now()))
            .then(|| self.guard())
    }

    /// Acquires the underlying lock, waiting at most `timeout`.
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<ConditionGuard<'_, L>> {
        self.lock
            .cond_acquire(super::deadline(timeout))
            .then(|| self.guard())
    }

    /// The underlying lock.
    pub fn lock(&self) -> &L {
        &self.lock
    }
}

/// The held lock of a [`Condition`]; `wait` and `notify` live here.
#[must_use = "the lock is released as soon as the guard is dropped"]
#[derive(Debug)]
pub struct ConditionGuard<'a, L: ConditionLock = RLock> {
    cond: &'a Condition<L>,
    _not_send: PhantomData<*const ()>,
}

struct Saved<'a, L: ConditionLock> {
    lock: &'a L,
}

impl<L: ConditionLock> Relock for Saved<'_, L> {
    fn unlocked<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let saved = self.lock.cond_release_all();
        let r = f();
        self.lock.cond_restore(saved);
        r
    }
}

impl<L: ConditionLock> ConditionGuard<'_, L> {
    fn wait_until(&mut self, deadline: Option<Instant>) -> bool {
        let mut saved = Saved {
            lock: &self.cond.lock,
        };
        match self.cond.groups.wait_until(&mut saved, deadline) {
            Some(woken) => woken,
            None => self.cond.queue.wait_until(&mut saved, deadline),
        }
    }

    /// Releases the lock, blocks until notified, and re-acquires it. Spurious wake-ups do
    /// not happen here, but the state you wait for may have changed again: loop, or use
    /// [`wait_for`](Self::wait_for).
    pub fn wait(&mut self) {
        self.wait_until(None);
    }

    /// As [`wait`](Self::wait), for at most `timeout`; `false` if it timed out.
    pub fn wait_timeout(&mut self, timeout: Duration) -> bool {
        self.wait_until(super::deadline(timeout))
    }

    /// Waits until `predicate()` is true (checked first, and after every wake-up).
    pub fn wait_for(&mut self, mut predicate: impl FnMut() -> bool) {
        while !predicate() {
            self.wait_until(None);
        }
    }

    /// As [`wait_for`](Self::wait_for), for at most `timeout`; returns the predicate's last
    /// value, as Python does.
    pub fn wait_for_timeout(
        &mut self,
        timeout: Duration,
        mut predicate: impl FnMut() -> bool,
    ) -> bool {
        let deadline = super::deadline(timeout);
        loop {
            if predicate() {
                return true;
            }
            if !self.wait_until(deadline) {
                return predicate();
            }
        }
    }

    /// Wakes one waiter (`notify()`).
    pub fn notify_one(&self) -> usize {
        self.notify(1)
    }

    /// Wakes up to `n` waiters (`notify(n)`); returns how many were woken. In shared memory,
    /// waiters of processes that died are not counted and not woken.
    pub fn notify(&self, n: usize) -> usize {
        let k = self.cond.groups.notify(n);
        k + self.cond.queue.notify(n - k)
    }

    /// Wakes every waiter (`notify_all()`).
    pub fn notify_all(&self) -> usize {
        self.notify(usize::MAX)
    }

    /// Threads waiting and not yet notified (in shared memory: in live processes).
    pub fn waiting(&self) -> usize {
        self.cond.groups.waiting() + self.cond.queue.waiting()
    }
}

impl<L: ConditionLock> Drop for ConditionGuard<'_, L> {
    fn drop(&mut self) {
        self.cond.lock.cond_release();
    }
}
