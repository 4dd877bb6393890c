//! [`Event`] on the backend (≈ `Manager().Event()`).

use std::time::{Duration, Instant};

use super::context::Remote;
use super::lock::POLL;
use super::object::{Object, Of, handle};
use crate::error::RemoteError;

/// A flag any process can set, clear and wait for (see the module docs).
pub struct Event {
    obj: Object,
    _t: Of<()>,
}

handle!(Event, "Event");

impl Event {
    pub(crate) fn open(remote: &Remote, name: &str) -> Result<Self, RemoteError> {
        Ok(Event {
            obj: Object::open(remote, "event", name, None)?,
            _t: std::marker::PhantomData,
        })
    }

    /// `is_set()`.
    pub fn is_set(&self) -> Result<bool, RemoteError> {
        Ok(self.obj.backend().get(&self.obj.key, None)?.is_some())
    }

    /// `set()`: wakes every waiter.
    pub fn set(&self) -> Result<(), RemoteError> {
        self.obj.backend().set(&self.obj.key, None, b"1", None)?;
        self.obj
            .backend()
            .notify(&self.obj.sub("set"), b"")
            .map(|_| ())
    }

    /// `clear()`.
    pub fn clear(&self) -> Result<(), RemoteError> {
        self.obj.backend().delete(&self.obj.key, None).map(|_| ())
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<bool, RemoteError> {
        match self
            .obj
            .backend()
            .wait(&self.obj.sub("set"), deadline, POLL, &mut || self.is_set())
        {
            Ok(()) => Ok(true),
            Err(RemoteError::Timeout) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `wait()`: until set.
    pub fn wait(&self) -> Result<bool, RemoteError> {
        self.wait_until(None)
    }

    /// `wait(timeout)`: whether it is set.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, RemoteError> {
        self.wait_until(crate::sync::deadline(timeout))
    }
}
