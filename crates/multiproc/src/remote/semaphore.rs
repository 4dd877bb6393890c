//! [`Semaphore`] and [`BoundedSemaphore`] on the backend: `value` leases held at once, each
//! renewed by this process's keeper, so a holder that dies gives its unit back one lease
//! after its last renewal (a local semaphore's unit would be lost).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::context::Remote;
use super::lock::{Held, acquire_lease, release_lease};
use super::object::{Object, Of, dec, enc, handle, update};
use crate::error::RemoteError;

/// A semaphore on the backend (≈ `Manager().Semaphore(value)`): a `release` without an
/// `acquire` adds a unit, as in Python.
pub struct Semaphore {
    obj: Object,
    held: Arc<Mutex<Vec<Held>>>,
    bounded: bool,
    _t: Of<()>,
}

handle!(Semaphore, "Semaphore", held, bounded);

/// A semaphore whose `release` beyond its initial value is an error (≈
/// `BoundedSemaphore`): [`RemoteError::Misuse`].
pub type BoundedSemaphore = Semaphore;

impl Semaphore {
    pub(crate) fn create(
        remote: &Remote,
        name: &str,
        value: u64,
        bounded: bool,
    ) -> Result<Self, RemoteError> {
        let obj = Object::open(remote, "semaphore", name, None)?;
        obj.backend()
            .compare_and_set(&obj.sub("cap"), None, None, Some(&enc(&value)?))?;
        Ok(Semaphore {
            obj,
            held: Arc::new(Mutex::new(Vec::new())),
            bounded,
            _t: std::marker::PhantomData,
        })
    }

    pub(crate) fn open(remote: &Remote, name: &str) -> Result<Self, RemoteError> {
        Semaphore::create(remote, name, 1, false)
    }

    fn capacity(&self) -> Result<u64, RemoteError> {
        match self.obj.backend().get(&self.obj.sub("cap"), None)? {
            Some(b) => dec(&b),
            None => Ok(0),
        }
    }

    fn acquire_until(&self, deadline: Option<Instant>) -> Result<bool, RemoteError> {
        match acquire_lease(&self.obj, &|| self.capacity(), deadline)? {
            None => Ok(false),
            Some((held, _)) => {
                self.held
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(held);
                Ok(true)
            }
        }
    }

    /// Takes a unit, waiting as long as needed (`acquire()`).
    pub fn acquire(&self) -> Result<(), RemoteError> {
        self.acquire_until(None).map(|_| ())
    }

    /// Takes a unit if one is free now.
    pub fn try_acquire(&self) -> Result<bool, RemoteError> {
        self.acquire_until(Some(Instant::now()))
    }

    /// Takes a unit, waiting at most `timeout`; whether it did.
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool, RemoteError> {
        self.acquire_until(crate::sync::deadline(timeout))
    }

    /// Gives a unit back (`release()`): one this handle took, else (Python's semantics) a
    /// new unit; a bounded semaphore refuses that with [`RemoteError::Misuse`].
    pub fn release(&self) -> Result<(), RemoteError> {
        let held = self
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match held {
            Some(h) => release_lease(&self.obj, h),
            None if self.bounded => Err(RemoteError::Misuse(
                "Semaphore released too many times".into(),
            )),
            None => {
                update(
                    self.obj.backend(),
                    &self.obj.sub("cap"),
                    None,
                    |v: Option<u64>| v.unwrap_or(0) + 1,
                )?;
                let _ = self.obj.backend().notify(&self.obj.sub("released"), b"");
                Ok(())
            }
        }
    }
}
