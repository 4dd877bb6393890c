//! [`Condition`] on the backend (≈ `Manager().Condition()`): a [`Lock`] and a list of
//! waiters, each woken by name, so `notify(n)` wakes `n` of them.

use std::time::{Duration, Instant};

use super::backend::Wait;
use super::context::Remote;
use super::lock::{Lock, POLL};
use super::object::{Object, Of, handle};
use super::redis_backend::random_u128;
use crate::error::RemoteError;

/// A condition variable on the backend (see the module docs). Its lock is
/// [`lock`](Self::lock); `wait` must be called holding it, as in Python.
pub struct Condition {
    obj: Object,
    lock: Lock,
    _t: Of<()>,
}

handle!(Condition, "Condition", lock);

impl Condition {
    pub(crate) fn open(remote: &Remote, name: &str) -> Result<Self, RemoteError> {
        Ok(Condition {
            obj: Object::open(remote, "condition", name, None)?,
            lock: Lock::open(remote, &format!("{name}.lock"))?,
            _t: std::marker::PhantomData,
        })
    }

    /// The condition's lock.
    pub fn lock(&self) -> &Lock {
        &self.lock
    }

    /// `acquire()` of the lock.
    pub fn acquire(&self) -> Result<(), RemoteError> {
        self.lock.acquire()
    }

    /// `release()` of the lock.
    pub fn release(&self) -> Result<(), RemoteError> {
        self.lock.release()
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<bool, RemoteError> {
        if self.lock.fence().is_none() {
            return Err(RemoteError::Misuse(
                "cannot wait on un-acquired lock".into(),
            ));
        }
        let me = format!("{:032x}", random_u128());
        let woken = self.obj.sub(&format!("woken:{me}"));
        let b = self.obj.backend();
        // Queued as a waiter, then the lock let go, each once; a step that failed (the
        // backend away a moment) is tried again by the next look.
        let (mut queued, mut released) = (false, false);
        let waited = b.wait(&woken, deadline, POLL, &mut || {
            if !queued {
                b.push(
                    &self.obj.sub("waiters"),
                    &[me.clone().into_bytes()],
                    false,
                    None,
                    None,
                )?;
                queued = true;
            }
            if !released {
                self.lock.release()?;
                released = true;
                return Ok(false);
            }
            Ok(b.get(&woken, None)?.is_some())
        });
        let outcome = match waited {
            Ok(()) => Ok(true),
            Err(RemoteError::Timeout) => {
                if queued {
                    let _ = b.remove(&self.obj.sub("waiters"), me.as_bytes(), 1);
                }
                // Notified just as the time ran out: that counts.
                b.delete(&woken, None)
            }
            Err(e) => {
                if queued {
                    let _ = b.remove(&self.obj.sub("waiters"), me.as_bytes(), 1);
                }
                Err(e)
            }
        };
        let _ = b.delete(&woken, None);
        if released {
            // Held again on the way out, whatever happened, as Python's `wait` does.
            match self.lock.acquire() {
                Ok(()) | Err(RemoteError::OwnerDied) => {}
                Err(e) => return Err(e),
            }
        }
        outcome
    }

    /// `wait()`: releases the lock, waits for a notify, takes the lock again.
    pub fn wait(&self) -> Result<bool, RemoteError> {
        self.wait_until(None)
    }

    /// `wait(timeout)`: whether it was notified.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, RemoteError> {
        self.wait_until(crate::sync::deadline(timeout))
    }

    /// `wait_for(predicate, timeout)`: waits until `pred()` holds; its last value.
    pub fn wait_for(
        &self,
        mut pred: impl FnMut() -> bool,
        timeout: Option<Duration>,
    ) -> Result<bool, RemoteError> {
        let deadline = timeout.and_then(crate::sync::deadline);
        while !pred() {
            if deadline.is_some_and(|d| d <= Instant::now()) {
                return Ok(false);
            }
            self.wait_until(deadline)?;
        }
        Ok(true)
    }

    /// `notify(n)`: wakes up to `n` waiters (waiters that left are skipped).
    pub fn notify(&self, n: usize) -> Result<(), RemoteError> {
        let b = self.obj.backend();
        let mut left = n;
        while left > 0 {
            let got = b.pop(&self.obj.sub("waiters"), left.min(1000), false, Wait::No)?;
            if got.is_empty() {
                break;
            }
            for w in got {
                let w = String::from_utf8_lossy(&w).into_owned();
                let woken = self.obj.sub(&format!("woken:{w}"));
                b.set(&woken, None, b"1", Some(Duration::from_secs(60)))?;
                b.notify(&woken, b"")?;
                left -= 1;
            }
        }
        Ok(())
    }

    /// `notify_all()`.
    pub fn notify_all(&self) -> Result<(), RemoteError> {
        self.notify(usize::MAX)
    }
}
