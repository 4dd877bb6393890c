//! Locks, semaphores, conditions, events and barriers served by a manager (≈
//! `Manager().Lock()`, `RLock`, `Semaphore`, `BoundedSemaphore`, `Condition`, `Event`,
//! `Barrier`), for processes that share no memory: on other machines, or started by other
//! programs. (Processes of one program on one machine are better served by [`crate::sync`]'s
//! types in shared memory: no round trip.)
//!
//! Python's manager deadlocks when a client dies holding a lock. Here the server sees the
//! client go, frees the lock, and tells the next acquirer with [`ManagerError::OwnerDied`]
//! (it holds the lock then, as after a normal acquire).
//!
//! ```
//! use multiproc::manager::Manager;
//!
//! let manager = Manager::start().unwrap();
//! let lock = manager.lock().unwrap();
//! {
//!     let _held = lock.hold().unwrap();
//!     assert!(lock.locked().unwrap());
//!     assert!(!lock.try_acquire().unwrap());
//! }
//! assert!(!lock.locked().unwrap());
//! let done = manager.event().unwrap();
//! done.set().unwrap();
//! assert!(done.wait().unwrap());
//! ```

use std::time::{Duration, Instant};

use super::client::typed_proxy;
use super::protocol::{Op, Reply, micros};
use crate::error::ManagerError;

typed_proxy! {
    /// A `Lock`, `RLock`, `Semaphore` or `BoundedSemaphore` on a manager (≈
    /// `AcquirerProxy`, which Python uses for all four).
    AcquirerProxy<>
}

typed_proxy! {
    /// A `Condition` on a manager, over its own reentrant lock (≈ `ConditionProxy`).
    ConditionProxy<>
}

typed_proxy! {
    /// An `Event` on a manager (≈ `EventProxy`).
    EventProxy<>
}

typed_proxy! {
    /// A `Barrier` on a manager (≈ `BarrierProxy`).
    BarrierProxy<>
}

/// Holds an [`AcquirerProxy`] or [`ConditionProxy`] until dropped (≈ `with lock:`). A release
/// that fails in `drop` (the manager gone) is ignored: the server frees what a vanished
/// client held.
#[must_use = "the lock is released when the guard is dropped"]
pub struct ProxyGuard<'a> {
    inner: &'a super::client::Proxy,
}

impl std::fmt::Debug for ProxyGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProxyGuard({:?})", self.inner)
    }
}

impl Drop for ProxyGuard<'_> {
    fn drop(&mut self) {
        let _ = self.inner.call(Op::Release);
    }
}

macro_rules! acquire_methods {
    () => {
        /// `acquire()`: waits until it is held. [`ManagerError::OwnerDied`] if the previous
        /// holder died holding it (held by the caller now).
        pub fn acquire(&self) -> Result<(), ManagerError> {
            self.acquire_with(None).map(|_| ())
        }

        /// `acquire(blocking=False)`: whether it was taken.
        pub fn try_acquire(&self) -> Result<bool, ManagerError> {
            self.acquire_with(Some(Duration::ZERO))
        }

        /// `acquire(timeout=t)`: whether it was taken in time.
        pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool, ManagerError> {
            self.acquire_with(Some(timeout))
        }

        fn acquire_with(&self, timeout: Option<Duration>) -> Result<bool, ManagerError> {
            self.inner.call(Op::Acquire(micros(timeout)))?.bool()
        }

        /// `release()`: [`ManagerError::Misuse`] if not held (Python's `RuntimeError`), or a
        /// bounded semaphore released too often ([`ManagerError::ValueError`]).
        pub fn release(&self) -> Result<(), ManagerError> {
            self.inner.call(Op::Release)?.unit()
        }

        /// Acquires, and releases when the guard is dropped (`with lock:`).
        pub fn hold(&self) -> Result<ProxyGuard<'_>, ManagerError> {
            self.acquire()?;
            Ok(ProxyGuard { inner: &self.inner })
        }
    };
}

impl AcquirerProxy {
    acquire_methods!();

    /// Whether it is held (a lock), or no permit is left (a semaphore).
    pub fn locked(&self) -> Result<bool, ManagerError> {
        self.inner.call(Op::Locked)?.bool()
    }

    /// A semaphore's free permits (a lock: 1 when free).
    pub fn value(&self) -> Result<usize, ManagerError> {
        self.inner.call(Op::Len)?.len()
    }

    /// `"Lock"`, `"RLock"`, `"Semaphore"` or `"BoundedSemaphore"`.
    pub fn typeid(&self) -> &str {
        &self.inner.typeid
    }
}

impl ConditionProxy {
    acquire_methods!();

    /// `wait()`: releases the lock (which the caller must hold), waits for a notify, takes the
    /// lock back.
    pub fn wait(&self) -> Result<bool, ManagerError> {
        self.inner.call(Op::Wait(None))?.bool()
    }

    /// `wait(timeout)`: whether it was notified in time.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, ManagerError> {
        self.inner.call(Op::Wait(micros(Some(timeout))))?.bool()
    }

    /// `wait_for(predicate, timeout)`: waits until `predicate()` holds (checked with the lock
    /// held), at most `timeout`; the predicate's last value.
    pub fn wait_for(
        &self,
        mut predicate: impl FnMut() -> bool,
        timeout: Option<Duration>,
    ) -> Result<bool, ManagerError> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if predicate() {
                return Ok(true);
            }
            match deadline {
                None => {
                    self.wait()?;
                }
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(predicate());
                    }
                    self.wait_timeout(left)?;
                }
            }
        }
    }

    /// `notify(n)`: wakes up to `n` waiters (the caller must hold the lock).
    pub fn notify(&self, n: usize) -> Result<(), ManagerError> {
        self.inner.call(Op::Notify(n as u64))?.unit()
    }

    /// `notify_all()`.
    pub fn notify_all(&self) -> Result<(), ManagerError> {
        self.inner.call(Op::NotifyAll)?.unit()
    }
}

impl EventProxy {
    /// `set()`.
    pub fn set(&self) -> Result<(), ManagerError> {
        self.inner.call(Op::Set)?.unit()
    }

    /// `clear()`.
    pub fn clear(&self) -> Result<(), ManagerError> {
        self.inner.call(Op::ClearEvent)?.unit()
    }

    /// `is_set()`.
    pub fn is_set(&self) -> Result<bool, ManagerError> {
        self.inner.call(Op::IsSet)?.bool()
    }

    /// `wait()`: waits until set; `true`.
    pub fn wait(&self) -> Result<bool, ManagerError> {
        self.inner.call(Op::Wait(None))?.bool()
    }

    /// `wait(timeout)`: whether it is set.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, ManagerError> {
        self.inner.call(Op::Wait(micros(Some(timeout))))?.bool()
    }
}

impl BarrierProxy {
    /// `wait()`: waits for all parties; this party's arrival index (`0..parties`).
    /// [`ManagerError::BrokenBarrier`] if it is or becomes broken (a waiter timed out, died,
    /// or called `abort`; or `reset` while waiting).
    pub fn wait(&self) -> Result<usize, ManagerError> {
        self.inner.call(Op::BarrierWait(None))?.len()
    }

    /// `wait(timeout)`: a timeout breaks the barrier, as in Python.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize, ManagerError> {
        self.inner
            .call(Op::BarrierWait(micros(Some(timeout))))?
            .len()
    }

    /// `reset()`.
    pub fn reset(&self) -> Result<(), ManagerError> {
        self.inner.call(Op::Reset)?.unit()
    }

    /// `abort()`.
    pub fn abort(&self) -> Result<(), ManagerError> {
        self.inner.call(Op::Abort)?.unit()
    }

    fn state(&self) -> Result<(u64, u64, bool), ManagerError> {
        match self.inner.call(Op::BarrierState)? {
            Reply::Barrier(p, n, b) => Ok((p, n, b)),
            other => Err(ManagerError::Data(format!("unexpected reply: {other:?}"))),
        }
    }

    /// `parties`.
    pub fn parties(&self) -> Result<usize, ManagerError> {
        Ok(self.state()?.0 as usize)
    }

    /// `n_waiting`.
    pub fn n_waiting(&self) -> Result<usize, ManagerError> {
        Ok(self.state()?.1 as usize)
    }

    /// `broken`.
    pub fn broken(&self) -> Result<bool, ManagerError> {
        Ok(self.state()?.2)
    }
}
