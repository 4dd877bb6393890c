//! [`Barrier`] on the backend (≈ `Manager().Barrier(parties)`): arrivals are counted by one
//! atomic increment; the last of each round releases the round.

use std::time::{Duration, Instant};

use super::context::Remote;
use super::lock::POLL;
use super::object::{Object, Of, dec, enc, handle};
use crate::error::RemoteError;

/// A barrier for `parties` processes or threads (see the module docs).
pub struct Barrier {
    obj: Object,
    parties: u64,
    _t: Of<()>,
}

handle!(Barrier, "Barrier", parties);

impl Barrier {
    pub(crate) fn create(remote: &Remote, name: &str, parties: u64) -> Result<Self, RemoteError> {
        if parties == 0 {
            return Err(RemoteError::ValueError("parties must be > 0".into()));
        }
        let obj = Object::open(remote, "barrier", name, None)?;
        let (_, found) = obj.backend().compare_and_set(
            &obj.sub("parties"),
            None,
            None,
            Some(&enc(&parties)?),
        )?;
        let parties = found.as_deref().map(dec).transpose()?.unwrap_or(parties);
        Ok(Barrier {
            obj,
            parties,
            _t: std::marker::PhantomData,
        })
    }

    pub(crate) fn open(remote: &Remote, name: &str) -> Result<Self, RemoteError> {
        Barrier::create(remote, name, 1)
    }

    /// `parties`.
    pub fn parties(&self) -> usize {
        self.parties as usize
    }

    /// `broken`.
    pub fn broken(&self) -> Result<bool, RemoteError> {
        Ok(self
            .obj
            .backend()
            .get(&self.obj.sub("broken"), None)?
            .is_some())
    }

    /// `abort()`: every waiter, now and later, gets [`RemoteError::BrokenBarrier`].
    pub fn abort(&self) -> Result<(), RemoteError> {
        self.obj
            .backend()
            .set(&self.obj.sub("broken"), None, b"1", None)?;
        self.obj
            .backend()
            .notify(&self.obj.sub("round"), b"")
            .map(|_| ())
    }

    /// `reset()`: no longer broken; arrivals start a fresh round.
    pub fn reset(&self) -> Result<(), RemoteError> {
        let b = self.obj.backend();
        let n = b.incr(&self.obj.sub("arrived"), None, 0)?;
        let rest = (self.parties as i64 - n.rem_euclid(self.parties as i64)) % self.parties as i64;
        b.incr(&self.obj.sub("arrived"), None, rest)?;
        b.delete(&self.obj.sub("broken"), None).map(|_| ())
    }

    /// `n_waiting`.
    pub fn n_waiting(&self) -> Result<usize, RemoteError> {
        let n = self.obj.backend().incr(&self.obj.sub("arrived"), None, 0)?;
        Ok(n.rem_euclid(self.parties as i64) as usize)
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<usize, RemoteError> {
        let b = self.obj.backend();
        if self.broken()? {
            return Err(RemoteError::BrokenBarrier);
        }
        let n = b.incr(&self.obj.sub("arrived"), None, 1)? - 1;
        let round = n / self.parties as i64;
        let index = (n % self.parties as i64) as usize;
        let done = self.obj.sub(&format!("done:{round}"));
        if index + 1 == self.parties as usize {
            b.set(&done, None, b"1", Some(Duration::from_secs(3600)))?;
            b.notify(&self.obj.sub("round"), b"")?;
            return Ok(index);
        }
        let mut broken = false;
        let r = b.wait(&self.obj.sub("round"), deadline, POLL, &mut || {
            if b.get(&done, None)?.is_some() {
                return Ok(true);
            }
            broken = self.broken()?;
            Ok(broken)
        });
        match r {
            Ok(()) if !broken => Ok(index),
            Ok(()) => Err(RemoteError::BrokenBarrier),
            Err(RemoteError::Timeout) => {
                self.abort()?;
                Err(RemoteError::BrokenBarrier)
            }
            Err(e) => Err(e),
        }
    }

    /// `wait()`: this caller's arrival index (0 .. parties-1).
    pub fn wait(&self) -> Result<usize, RemoteError> {
        self.wait_until(None)
    }

    /// `wait(timeout)`: a timeout breaks the barrier, as in Python.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize, RemoteError> {
        self.wait_until(crate::sync::deadline(timeout))
    }
}
