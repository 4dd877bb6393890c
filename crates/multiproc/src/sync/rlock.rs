//! `RLock` (≈ `threading.RLock`): a re-entrant lock.
//!
//! A [`RawLock`] word (whose owner tid tells who holds it) plus a recursion count that only the
//! owner touches. Both are plain atomics, so an `RLock` can later live in shared memory; owner
//! identity is the kernel tid, unique per (process, thread).

use std::marker::PhantomData;
use std::time::{Duration, Instant};

use super::lock::{Acquired, RawLock};
use crate::error::{OwnerDied, ReleaseError};
use crate::primitive::atomic::{AtomicU32, Ordering};

/// A re-entrant lock (≈ `threading.RLock`): the owning thread may acquire it again; it is free
/// once every acquire has been released. Release by any other thread is an error
/// ([`ReleaseError::NotOwner`], Python's `RuntimeError: cannot release un-acquired lock`).
///
/// ```
/// use multiproc::sync::RLock;
///
/// let lock = RLock::new();
/// let outer = lock.acquire();
/// let inner = lock.acquire();      // would deadlock with a `Lock`
/// assert_eq!(lock.recursion_count(), 2);
/// drop(inner);
/// drop(outer);
/// assert!(lock.release().is_err()); // not held
/// ```
#[derive(Debug, Default)]
#[repr(C)]
pub struct RLock {
    raw: RawLock,
    count: AtomicU32,
}

impl RLock {
    const_fn! {
        /// A new, unlocked re-entrant lock.
        pub fn new() -> RLock {
            RLock { raw: RawLock::new(), count: AtomicU32::new(0) }
        }
    }

    fn guard(&self) -> RLockGuard<'_> {
        RLockGuard {
            lock: self,
            _not_send: PhantomData,
        }
    }

    #[inline]
    fn enter_if_owner(&self) -> bool {
        if self.is_owned() {
            self.count.fetch_add(1, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    /// Blocks until acquired (immediately if this thread already owns it).
    pub fn acquire(&self) -> RLockGuard<'_> {
        if !self.enter_if_owner() {
            self.raw.lock();
            self.count.store(1, Ordering::Relaxed);
        }
        self.guard()
    }

    /// As [`acquire`](RLock::acquire), but says so when the lock was taken over from a
    /// process that died holding it (see [`Lock::acquire_checked`](super::Lock::acquire_checked)).
    pub fn acquire_checked(&self) -> Result<RLockGuard<'_>, OwnerDied<RLockGuard<'_>>> {
        if self.enter_if_owner() {
            return Ok(self.guard());
        }
        let died = self.raw.lock_until_checked(None) == Acquired::OwnerDied;
        self.count.store(1, Ordering::Relaxed);
        if died {
            Err(OwnerDied(self.guard()))
        } else {
            Ok(self.guard())
        }
    }

    pub(crate) fn make_robust(&self) {
        self.raw.make_robust();
    }

    /// As [`try_acquire`](RLock::try_acquire), saying so when the lock was taken over from a
    /// process that died holding it. `None` while another live thread holds it.
    pub fn try_acquire_checked(&self) -> Option<Result<RLockGuard<'_>, OwnerDied<RLockGuard<'_>>>> {
        self.acquire_until_checked(Some(Instant::now()))
    }

    /// As [`acquire_timeout`](RLock::acquire_timeout), saying so when the lock was taken over
    /// from a process that died holding it. `None` when the timeout passed first.
    pub fn acquire_timeout_checked(
        &self,
        timeout: Duration,
    ) -> Option<Result<RLockGuard<'_>, OwnerDied<RLockGuard<'_>>>> {
        self.acquire_until_checked(super::deadline(timeout))
    }

    fn acquire_until_checked(
        &self,
        deadline: Option<Instant>,
    ) -> Option<Result<RLockGuard<'_>, OwnerDied<RLockGuard<'_>>>> {
        if self.enter_if_owner() {
            return Some(Ok(self.guard()));
        }
        let got = match deadline {
            Some(d) if d <= Instant::now() => self.raw.try_lock_checked()?,
            _ => self.raw.lock_until_checked(deadline),
        };
        if got == Acquired::No {
            return None;
        }
        self.count.store(1, Ordering::Relaxed);
        Some(if got == Acquired::OwnerDied {
            Err(OwnerDied(self.guard()))
        } else {
            Ok(self.guard())
        })
    }

    /// Acquires only without blocking.
    pub fn try_acquire(&self) -> Option<RLockGuard<'_>> {
        self.acquire_until(Some(Instant::now()))
            .then(|| self.guard())
    }

    /// Waits at most `timeout`.
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<RLockGuard<'_>> {
        self.acquire_until(super::deadline(timeout))
            .then(|| self.guard())
    }

    pub(crate) fn acquire_until(&self, deadline: Option<Instant>) -> bool {
        if self.enter_if_owner() {
            return true;
        }
        let ok = match deadline {
            Some(d) if d <= Instant::now() => self.raw.try_lock(),
            _ => self.raw.lock_until(deadline),
        };
        if ok {
            self.count.store(1, Ordering::Relaxed);
        }
        ok
    }

    /// Releases one level. Errors with [`ReleaseError::NotOwner`] unless this thread owns it.
    pub fn release(&self) -> Result<(), ReleaseError> {
        if !self.is_owned() {
            return Err(ReleaseError::NotOwner);
        }
        let left = self.count.load(Ordering::Relaxed) - 1;
        self.count.store(left, Ordering::Relaxed);
        if left == 0 {
            self.raw.unlock()?;
        }
        Ok(())
    }

    /// Whether the calling thread owns it (Python's `_is_owned()`).
    #[inline]
    pub fn is_owned(&self) -> bool {
        self.raw.is_locked() && self.raw.held_by_me()
    }

    /// How many times the owner has acquired it; 0 when this thread does not own it
    /// (Python's `_recursion_count()`).
    pub fn recursion_count(&self) -> u32 {
        if self.is_owned() {
            self.count.load(Ordering::Relaxed)
        } else {
            0
        }
    }

    /// Releases every level at once, returning the count (for `Condition.wait`).
    pub(crate) fn release_all(&self) -> u32 {
        let n = self.count.swap(0, Ordering::Relaxed);
        let _ = self.raw.unlock();
        n
    }

    /// Re-acquires after [`release_all`](Self::release_all), restoring the count.
    pub(crate) fn restore(&self, count: u32) {
        self.raw.lock();
        self.count.store(count, Ordering::Relaxed);
    }
}

/// Holds one level of an [`RLock`]. Not `Send`: only the owner may release it.
#[must_use = "the lock is released as soon as the guard is dropped"]
#[derive(Debug)]
pub struct RLockGuard<'a> {
    lock: &'a RLock,
    _not_send: PhantomData<*const ()>,
}

impl RLockGuard<'_> {
    /// Keeps this level held without a guard; release it later with [`RLock::release`] from
    /// the same thread.
    pub fn leak(self) {
        std::mem::forget(self);
    }
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.lock.release();
    }
}
