//! `Semaphore` and `BoundedSemaphore` (≈ `threading.Semaphore` / `BoundedSemaphore`).
//!
//! Three words: the counter (also the futex word acquirers sleep on while it is 0), the number
//! of sleepers, and the bound (`u32::MAX` for a plain `Semaphore`). `release(n)` adds `n` and
//! wakes up to `n` sleepers only if there are any, so an uncontended release is one CAS.
//!
//! # A holder that dies
//!
//! A unit taken by a process that is then killed never comes back: a semaphore counts units,
//! not holders, so nothing says whose the missing unit was (CPython's `multiprocessing`
//! semaphores behave the same). Unlike a [`Lock`](super::Lock) in shared memory, whose next
//! acquirer gets it with [`OwnerDied`](crate::OwnerDied), a `Shared<Semaphore>` simply has one
//! unit fewer, for good. multiproc has no holder-tracking semaphore; when a worker may be
//! killed while holding a unit, give each unit its own `Shared<Lock>` (N locks for N slots,
//! taken with `try_acquire` in turn): a dead holder's slot then comes back with `OwnerDied`.

use std::marker::PhantomData;
use std::time::{Duration, Instant};

use crate::error::ReleaseError;
use crate::primitive::atomic::{AtomicU32, Ordering};
use crate::primitive::{SpinWait, futex};

#[derive(Debug)]
#[repr(C)]
struct RawSemaphore {
    value: AtomicU32,
    sleepers: AtomicU32,
    bound: u32,
}

impl RawSemaphore {
    const_fn! {
        fn new(value: u32, bound: u32) -> RawSemaphore {
            RawSemaphore { value: AtomicU32::new(value), sleepers: AtomicU32::new(0), bound }
        }
    }

    #[inline]
    fn try_take(&self) -> bool {
        let mut v = self.value.load(Ordering::Relaxed);
        while v > 0 {
            match self
                .value
                .compare_exchange_weak(v, v - 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => v = now,
            }
        }
        false
    }

    fn take_until(&self, deadline: Option<Instant>) -> bool {
        let mut spin = SpinWait::new(SpinWait::LOCK);
        while !self.try_take() {
            if !spin.spin() {
                return self.sleep_until(deadline);
            }
        }
        true
    }

    #[cold]
    fn sleep_until(&self, deadline: Option<Instant>) -> bool {
        loop {
            if self.try_take() {
                return true;
            }
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            // Re-read the counter with an RMW, which always sees the newest value: either we
            // see the releaser's increment here, or it sees our `sleepers` entry (its read is
            // an RMW too) and wakes us. Plain loads on both sides would be the store-buffering
            // pattern, correct only with SeqCst fences; loom found that.
            if self.value.fetch_add(0, Ordering::SeqCst) > 0 {
                self.sleepers.fetch_sub(1, Ordering::Relaxed);
                continue;
            }
            let in_time = futex::wait(&self.value, 0, deadline);
            self.sleepers.fetch_sub(1, Ordering::Relaxed);
            if !in_time {
                return self.try_take();
            }
        }
    }

    /// One step of an async acquire: takes a unit, or counts itself among the sleepers (as
    /// `sleep_until` does, so `give` wakes the word) and registers `cx`'s waker with the futex
    /// waker thread. `counted` says whether it is counted now.
    #[cfg(not(multiproc_loom))]
    fn poll_take(
        &self,
        counted: &mut bool,
        reg: &mut Option<super::reactor::Registration>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        loop {
            if self.try_take() {
                if std::mem::take(counted) {
                    self.sleepers.fetch_sub(1, Ordering::Relaxed);
                }
                return std::task::Poll::Ready(());
            }
            if !*counted {
                self.sleepers.fetch_add(1, Ordering::SeqCst);
                *counted = true;
            }
            // An RMW read, as in `sleep_until`.
            if self.value.fetch_add(0, Ordering::SeqCst) > 0 {
                continue;
            }
            if super::reactor::wait_futex(&self.value, 0, None, cx.waker(), reg).is_err() {
                cx.waker().wake_by_ref(); // no waker thread (threads exhausted): poll
            }
            return std::task::Poll::Pending;
        }
    }

    /// An async acquire dropped before it took a unit: it stops counting as a sleeper, and
    /// passes on a wake-up it may have consumed.
    #[cfg(not(multiproc_loom))]
    fn abandon(&self, counted: bool) {
        if counted {
            self.sleepers.fetch_sub(1, Ordering::Relaxed);
        }
        if self.value.load(Ordering::SeqCst) > 0 && self.sleepers.load(Ordering::SeqCst) > 0 {
            futex::wake(&self.value, 1);
        }
    }

    fn give(&self, n: u32) -> Result<(), ReleaseError> {
        if n == 0 {
            return Err(ReleaseError::ZeroCount);
        }
        let mut v = self.value.load(Ordering::Relaxed);
        loop {
            let new = v.checked_add(n).ok_or(ReleaseError::Overflow)?;
            if new > self.bound {
                return Err(ReleaseError::TooManyReleases);
            }
            match self
                .value
                .compare_exchange_weak(v, new, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => v = now,
            }
        }
        // An RMW read, for the reason given in `take_until`.
        if self.sleepers.fetch_add(0, Ordering::SeqCst) > 0 {
            futex::wake(&self.value, n);
        }
        Ok(())
    }
}

macro_rules! semaphore_api {
    ($ty:ident) => {
        impl $ty {
            /// Blocks until the counter is above zero, then decrements it. The guard
            /// increments it again on drop.
            pub fn acquire(&self) -> SemaphoreGuard<'_> {
                self.raw.take_until(None);
                SemaphoreGuard::new(&self.raw)
            }

            /// [`acquire`](Self::acquire) as a future (`async with sem:` of `asyncio.Semaphore`,
            /// for a `threading` or `multiprocessing` semaphore): awaiting never blocks the
            /// runtime's thread (the counter is watched by a waker thread, see
            /// [`crate::futures`]). Dropping it before it completes gives up the wait without
            /// losing another waiter's wake-up.
            #[cfg(not(multiproc_loom))]
            pub async fn acquire_async(&self) -> SemaphoreGuard<'_> {
                struct Waiting<'a> {
                    raw: &'a RawSemaphore,
                    counted: bool,
                    done: bool,
                }
                impl Drop for Waiting<'_> {
                    fn drop(&mut self) {
                        if !self.done {
                            self.raw.abandon(self.counted);
                        }
                    }
                }
                let mut w = Waiting {
                    raw: &self.raw,
                    counted: false,
                    done: false,
                };
                let mut reg = None;
                std::future::poll_fn(|cx| self.raw.poll_take(&mut w.counted, &mut reg, cx)).await;
                w.done = true;
                SemaphoreGuard::new(&self.raw)
            }

            /// Decrements only if it can without blocking (`acquire(blocking=False)`).
            pub fn try_acquire(&self) -> Option<SemaphoreGuard<'_>> {
                self.raw.try_take().then(|| SemaphoreGuard::new(&self.raw))
            }

            /// Waits at most `timeout`.
            pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphoreGuard<'_>> {
                self.raw
                    .take_until(super::deadline(timeout))
                    .then(|| SemaphoreGuard::new(&self.raw))
            }

            /// Increments the counter by one, waking a waiter (`release()`).
            pub fn release(&self) -> Result<(), ReleaseError> {
                self.raw.give(1)
            }

            /// Increments the counter by `n`, waking up to `n` waiters (`release(n)`).
            pub fn release_n(&self, n: u32) -> Result<(), ReleaseError> {
                self.raw.give(n)
            }

            /// The current counter (`get_value()` of multiprocessing's semaphores).
            pub fn value(&self) -> u32 {
                self.raw.value.load(Ordering::Relaxed)
            }
        }
    };
}

/// A counting semaphore (≈ `threading.Semaphore`): at most `value` holders at once; releases
/// past the initial value are allowed.
///
/// ```
/// use multiproc::sync::Semaphore;
///
/// let sem = Semaphore::new(2);
/// let a = sem.acquire();
/// let _b = sem.acquire();
/// assert!(sem.try_acquire().is_none());
/// drop(a);
/// assert!(sem.try_acquire().is_some());
/// sem.release_n(3).unwrap(); // past the initial value: fine for a Semaphore
/// ```
#[derive(Debug)]
#[repr(transparent)]
pub struct Semaphore {
    raw: RawSemaphore,
}

impl Semaphore {
    const_fn! {
        /// A semaphore whose counter starts at `value`.
        pub fn new(value: u32) -> Semaphore {
            Semaphore { raw: RawSemaphore::new(value, u32::MAX) }
        }
    }
}

impl Default for Semaphore {
    fn default() -> Self {
        Self::new(1)
    }
}

semaphore_api!(Semaphore);

/// A semaphore that refuses to be released past its initial value (≈
/// `threading.BoundedSemaphore`): [`ReleaseError::TooManyReleases`].
///
/// ```
/// use multiproc::sync::BoundedSemaphore;
/// use multiproc::ReleaseError;
///
/// let sem = BoundedSemaphore::new(1);
/// assert_eq!(sem.release(), Err(ReleaseError::TooManyReleases));
/// sem.acquire().leak();
/// sem.release().unwrap();
/// ```
#[derive(Debug)]
#[repr(transparent)]
pub struct BoundedSemaphore {
    raw: RawSemaphore,
}

impl BoundedSemaphore {
    const_fn! {
        /// A bounded semaphore whose counter starts, and is capped, at `value`.
        pub fn new(value: u32) -> BoundedSemaphore {
            BoundedSemaphore { raw: RawSemaphore::new(value, value) }
        }
    }

    /// The initial (and maximum) value.
    pub fn bound(&self) -> u32 {
        self.raw.bound
    }
}

impl Default for BoundedSemaphore {
    fn default() -> Self {
        Self::new(1)
    }
}

semaphore_api!(BoundedSemaphore);

/// One unit of a [`Semaphore`] or [`BoundedSemaphore`]; given back on drop.
#[must_use = "the unit is released as soon as the guard is dropped"]
#[derive(Debug)]
pub struct SemaphoreGuard<'a> {
    raw: &'a RawSemaphore,
    _p: PhantomData<&'a ()>,
}

impl<'a> SemaphoreGuard<'a> {
    fn new(raw: &'a RawSemaphore) -> Self {
        SemaphoreGuard {
            raw,
            _p: PhantomData,
        }
    }

    /// Keeps the unit without a guard, as a bare `acquire()` does; give it back later with
    /// `release()`.
    pub fn leak(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphoreGuard<'_> {
    fn drop(&mut self) {
        let _ = self.raw.give(1);
    }
}
