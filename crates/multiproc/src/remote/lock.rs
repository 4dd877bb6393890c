//! [`Lock`] and [`RLock`] on the backend: leases with fencing tokens.
//!
//! A hold is a lease: granted with a fencing token larger than any before, renewed by this
//! process's keeper thread every third of its length, and ended by `release`. A holder
//! that dies (or stalls past its lease) stops renewing; the lease lapses, and the next
//! acquirer is told [`RemoteError::OwnerDied`], as a local robust lock tells its next
//! owner. A write that must not land after such a lapse goes through
//! [`Value::set_fenced`](super::Value::set_fenced): the backend refuses it unless the
//! writer's token is still the lock's newest.
//!
//! ```no_run
//! use multiproc::remote;
//!
//! let r = remote::connect("redis://127.0.0.1:6379/0", "demo").unwrap();
//! let lock = r.lock("counter-lock").unwrap();
//! let total = r.value("total", 0u64).unwrap();
//! {
//!     let held = lock.hold().unwrap();
//!     let v = total.get().unwrap();
//!     total.set_fenced(&held, v + 1).unwrap();
//! } // released here
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use super::backend::Granted;
use super::context::Remote;
use super::keeper::Keep;
use super::object::{Object, Of, handle};
use super::redis_backend::random_u128;
use crate::error::RemoteError;

/// How often a waiter looks again without a notification (a lapsed lease is noticed so).
pub(crate) const POLL: Duration = Duration::from_millis(100);

/// A lease this process holds.
#[derive(Debug)]
pub(crate) struct Held {
    pub holder: String,
    pub fence: u64,
    pub keep: Keep,
}

/// Acquires one of `capacity` leases on `obj` for a new holder, waiting until `deadline`
/// (`Some(now)`: not at all); `None` if the time ran out.
pub(crate) fn acquire_lease(
    obj: &Object,
    capacity: &dyn Fn() -> Result<u64, RemoteError>,
    deadline: Option<Instant>,
) -> Result<Option<(Held, bool)>, RemoteError> {
    let holder = format!("{:032x}", random_u128());
    let ttl = obj.remote.space.lease;
    let backend = &obj.remote.space.backend;
    let mut granted: Option<Granted> = None;
    let mut try_once = || -> Result<bool, RemoteError> {
        granted = backend.acquire(&obj.key, &holder, capacity()?, ttl)?;
        Ok(granted.is_some())
    };
    let got = if deadline.is_some_and(|d| d <= Instant::now()) {
        try_once()?
    } else {
        match backend.wait(&obj.sub("released"), deadline, POLL, &mut try_once) {
            Ok(()) => true,
            Err(RemoteError::Timeout) => false,
            Err(e) => return Err(e),
        }
    };
    let Some(g) = granted.filter(|_| got) else {
        return Ok(None);
    };
    let keep = Keep::start(backend, &obj.key, &holder, ttl);
    Ok(Some((
        Held {
            holder,
            fence: g.fence,
            keep,
        },
        g.previous_died,
    )))
}

/// Ends `held`, waking a waiter; `Misuse` if it had lapsed.
pub(crate) fn release_lease(obj: &Object, held: Held) -> Result<(), RemoteError> {
    drop(held.keep);
    let was = obj.backend().release(&obj.key, &held.holder)?;
    let _ = obj.backend().notify(&obj.sub("released"), b"");
    if was {
        Ok(())
    } else {
        Err(RemoteError::Misuse(format!(
            "release of a lock whose lease lapsed (fencing token {}): another holder may have had it since",
            held.fence
        )))
    }
}

/// A lock on the backend (≈ `Manager().Lock()`; see the module docs).
pub struct Lock {
    obj: Object,
    held: Arc<Mutex<Option<Held>>>,
    _t: Of<()>,
}

handle!(Lock, "Lock", held);

impl Lock {
    pub(crate) fn open(remote: &Remote, name: &str) -> Result<Self, RemoteError> {
        Ok(Lock {
            obj: Object::open(remote, "lock", name, None)?,
            held: Arc::new(Mutex::new(None)),
            _t: std::marker::PhantomData,
        })
    }

    fn acquire_until(&self, deadline: Option<Instant>) -> Result<bool, RemoteError> {
        match acquire_lease(&self.obj, &|| Ok(1), deadline)? {
            None => Ok(false),
            Some((held, died)) => {
                *self.held.lock().unwrap_or_else(PoisonError::into_inner) = Some(held);
                if died {
                    Err(RemoteError::OwnerDied)
                } else {
                    Ok(true)
                }
            }
        }
    }

    /// Waits for the lock (`acquire()`). [`RemoteError::OwnerDied`] means it is held now,
    /// after a holder's lease lapsed without a release.
    pub fn acquire(&self) -> Result<(), RemoteError> {
        self.acquire_until(None).map(|_| ())
    }

    /// Takes the lock if it is free now (`acquire(False)`).
    pub fn try_acquire(&self) -> Result<bool, RemoteError> {
        self.acquire_until(Some(Instant::now()))
    }

    /// Waits at most `timeout` (`acquire(timeout=t)`); whether it was taken.
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool, RemoteError> {
        self.acquire_until(crate::sync::deadline(timeout))
    }

    /// Releases it (`release()`): [`RemoteError::Misuse`] if this handle does not hold it,
    /// or if its lease lapsed while held.
    pub fn release(&self) -> Result<(), RemoteError> {
        let held = self
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match held {
            Some(h) => release_lease(&self.obj, h),
            None => Err(RemoteError::Misuse("release unlocked lock".into())),
        }
    }

    /// Acquires and returns a guard that releases on drop (`with lock:`). A lapsed
    /// predecessor is not an error here: see [`LockGuard::previous_owner_died`].
    pub fn hold(&self) -> Result<LockGuard<'_>, RemoteError> {
        let died = match self.acquire() {
            Ok(()) => false,
            Err(RemoteError::OwnerDied) => true,
            Err(e) => return Err(e),
        };
        let fence = self.fence().unwrap_or(0);
        Ok(LockGuard {
            lock: self,
            fence,
            died,
        })
    }

    /// The fencing token of this handle's hold, if it holds the lock.
    pub fn fence(&self) -> Option<u64> {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|h| h.fence)
    }

    /// Whether this handle's hold lapsed (the keeper could not renew it in time).
    pub fn lapsed(&self) -> bool {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|h| h.keep.lapsed())
    }
}

/// A held [`Lock`]; releases it when dropped (an error then is ignored: call
/// [`release`](LockGuard::release) to see it).
#[derive(Debug)]
pub struct LockGuard<'a> {
    lock: &'a Lock,
    fence: u64,
    died: bool,
}

impl LockGuard<'_> {
    /// The hold's fencing token.
    pub fn fence(&self) -> u64 {
        self.fence
    }

    /// Whether the previous holder's lease lapsed without a release (≈
    /// [`OwnerDied`](crate::OwnerDied) of a local lock).
    pub fn previous_owner_died(&self) -> bool {
        self.died
    }

    pub(crate) fn lock_key(&self) -> &str {
        &self.lock.obj.key
    }

    /// Releases now, with the error if the lease had lapsed.
    pub fn release(self) -> Result<(), RemoteError> {
        let r = self.lock.release();
        std::mem::forget(self);
        r
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.lock.release();
    }
}

/// A re-entrant lock on the backend (≈ `Manager().RLock()`): the thread holding it may
/// acquire it again; it is free after as many releases.
pub struct RLock {
    obj: Object,
    held: Arc<Mutex<HashMap<ThreadId, (usize, Held)>>>,
    _t: Of<()>,
}

handle!(RLock, "RLock", held);

impl RLock {
    pub(crate) fn open(remote: &Remote, name: &str) -> Result<Self, RemoteError> {
        Ok(RLock {
            obj: Object::open(remote, "rlock", name, None)?,
            held: Arc::new(Mutex::new(HashMap::new())),
            _t: std::marker::PhantomData,
        })
    }

    fn acquire_until(&self, deadline: Option<Instant>) -> Result<bool, RemoteError> {
        let me = std::thread::current().id();
        if let Some((depth, _)) = self
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(&me)
        {
            *depth += 1;
            return Ok(true);
        }
        match acquire_lease(&self.obj, &|| Ok(1), deadline)? {
            None => Ok(false),
            Some((held, died)) => {
                self.held
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(me, (1, held));
                if died {
                    Err(RemoteError::OwnerDied)
                } else {
                    Ok(true)
                }
            }
        }
    }

    /// Waits for the lock, or counts one more hold by this thread (`acquire()`).
    pub fn acquire(&self) -> Result<(), RemoteError> {
        self.acquire_until(None).map(|_| ())
    }

    /// As [`acquire`](Self::acquire) if free now.
    pub fn try_acquire(&self) -> Result<bool, RemoteError> {
        self.acquire_until(Some(Instant::now()))
    }

    /// As [`acquire`](Self::acquire) for at most `timeout`.
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool, RemoteError> {
        self.acquire_until(crate::sync::deadline(timeout))
    }

    /// One release by the holding thread; the last frees it. `Misuse` from another thread.
    pub fn release(&self) -> Result<(), RemoteError> {
        let me = std::thread::current().id();
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        match held.get_mut(&me) {
            Some((depth, _)) if *depth > 1 => {
                *depth -= 1;
                Ok(())
            }
            Some(_) => {
                let (_, h) = held.remove(&me).expect("present");
                drop(held);
                release_lease(&self.obj, h)
            }
            None => Err(RemoteError::Misuse(
                "cannot release un-acquired lock".into(),
            )),
        }
    }
}
