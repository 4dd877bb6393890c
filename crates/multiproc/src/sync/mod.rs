//! Synchronisation primitives with Python's semantics (≈ `threading`'s `Lock`, `RLock`,
//! `Condition`, `Semaphore`, `BoundedSemaphore`, `Event`, `Barrier`).
//!
//! # One shape for every primitive
//!
//! Python's `acquire(blocking=True, timeout=None)` becomes three methods, and `with x:` becomes
//! a guard:
//!
//! | Python | multiproc |
//! |---|---|
//! | `with lock:` / `lock.acquire()` | `let _g = lock.acquire();` |
//! | `lock.acquire(blocking=False)` | `lock.try_acquire()` → `Option<Guard>` |
//! | `lock.acquire(timeout=t)` | `lock.acquire_timeout(t)` → `Option<Guard>` |
//! | bare `acquire()` … later `release()` | `lock.acquire().leak();` … `lock.release()?` |
//! | `RuntimeError: release unlocked lock` | `Err(ReleaseError::Unlocked)` |
//!
//! The [`Acquire`] trait names that shape, so code (and the shared test suite, which runs one
//! body over every lock type as CPython's `lock_tests.py` does) can be generic over it.
//!
//! # Built to be shared between processes
//!
//! Every primitive's state is a few `u32` futex words in a `#[repr(C)]` struct: no pointers,
//! no heap, no per-process table, and futex calls without the `PRIVATE` flag. Placed in shared
//! memory, the same types synchronise processes. The lock word has the layout of a Linux
//! robust futex (owner tid, "owner died" and "waiters" bits).
//!
//! ```
//! use multiproc::sync::{Lock, Semaphore};
//! use std::sync::Arc;
//!
//! let lock = Arc::new(Lock::new());
//! let total = Arc::new(std::sync::atomic::AtomicU64::new(0));
//! let workers: Vec<_> = (0..4)
//!     .map(|_| {
//!         let (lock, total) = (lock.clone(), total.clone());
//!         std::thread::spawn(move || {
//!             for _ in 0..1000 {
//!                 let _g = lock.acquire();
//!                 // a non-atomic read-modify-write, made safe by the lock
//!                 let v = total.load(std::sync::atomic::Ordering::Relaxed);
//!                 total.store(v + 1, std::sync::atomic::Ordering::Relaxed);
//!             }
//!         })
//!     })
//!     .collect();
//! for w in workers { w.join().unwrap(); }
//! assert_eq!(total.load(std::sync::atomic::Ordering::Relaxed), 4000);
//! ```

use std::time::{Duration, Instant};

macro_rules! const_fn {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($args:tt)*) -> $ret:ty $body:block) => {
        #[cfg(not(multiproc_loom))]
        $(#[$m])*
        $vis const fn $name($($args)*) -> $ret $body
        #[cfg(multiproc_loom)]
        $(#[$m])*
        $vis fn $name($($args)*) -> $ret $body
    };
}

mod barrier;
#[cfg(not(multiproc_loom))]
pub(crate) mod biased;
pub(crate) mod condition;
mod event;
pub(crate) mod lock;
#[cfg(not(multiproc_loom))]
pub(crate) mod reactor;
mod rlock;
mod semaphore;
mod waiters;

pub use barrier::Barrier;
pub use condition::{Condition, ConditionGuard, ConditionLock};
pub use event::Event;
#[cfg(not(multiproc_loom))]
pub(crate) use lock::ResetAfterFork;
pub use lock::{Lock, LockGuard, RawLock};
#[cfg(not(multiproc_loom))]
pub use lock::{Mutex, MutexGuard};
pub use rlock::{RLock, RLockGuard};
pub use semaphore::{BoundedSemaphore, Semaphore, SemaphoreGuard};

use crate::error::ReleaseError;

/// A deadline `timeout` from now; `None` (wait forever) if that is past the end of time.
pub(crate) fn deadline(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// The shape every acquirable primitive shares: blocking, `try_`, `_timeout`, and a manual
/// `release`. Implemented by [`Lock`], [`RLock`], [`Semaphore`] and [`BoundedSemaphore`].
pub trait Acquire {
    /// The RAII guard that releases on drop.
    type Guard<'a>: Leak
    where
        Self: 'a;
    /// Blocks until acquired.
    fn acquire(&self) -> Self::Guard<'_>;
    /// Acquires only without blocking.
    fn try_acquire(&self) -> Option<Self::Guard<'_>>;
    /// Waits at most `timeout`.
    fn acquire_timeout(&self, timeout: Duration) -> Option<Self::Guard<'_>>;
    /// Releases one acquisition made without a guard.
    fn release(&self) -> Result<(), ReleaseError>;
}

/// A guard that can be given up while keeping what it holds (a bare Python `acquire()`).
pub trait Leak {
    /// Keeps the acquisition, dropping the guard without releasing.
    fn leak(self);
}

macro_rules! impl_acquire {
    ($($ty:ident => $guard:ident),*) => {$(
        impl Acquire for $ty {
            type Guard<'a> = $guard<'a>;
            fn acquire(&self) -> $guard<'_> { $ty::acquire(self) }
            fn try_acquire(&self) -> Option<$guard<'_>> { $ty::try_acquire(self) }
            fn acquire_timeout(&self, timeout: Duration) -> Option<$guard<'_>> {
                $ty::acquire_timeout(self, timeout)
            }
            fn release(&self) -> Result<(), ReleaseError> { $ty::release(self) }
        }
        impl Leak for $guard<'_> {
            fn leak(self) { $guard::leak(self) }
        }
    )*};
}

impl_acquire!(Lock => LockGuard, RLock => RLockGuard, Semaphore => SemaphoreGuard);

impl Acquire for BoundedSemaphore {
    type Guard<'a> = SemaphoreGuard<'a>;
    fn acquire(&self) -> SemaphoreGuard<'_> {
        BoundedSemaphore::acquire(self)
    }
    fn try_acquire(&self) -> Option<SemaphoreGuard<'_>> {
        BoundedSemaphore::try_acquire(self)
    }
    fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphoreGuard<'_>> {
        BoundedSemaphore::acquire_timeout(self, timeout)
    }
    fn release(&self) -> Result<(), ReleaseError> {
        BoundedSemaphore::release(self)
    }
}
