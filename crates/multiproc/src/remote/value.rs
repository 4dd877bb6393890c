//! [`Value`]: one value on the backend (≈ `Manager().Value(typecode, v)`), and writes
//! fenced by a [`Lock`](super::Lock)'s lease.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::context::Remote;
use super::lock::LockGuard;
use super::object::{Object, Of, dec, enc, handle, tag};
use crate::error::RemoteError;

/// One value on the backend (see the module docs). A value never set reads as
/// [`RemoteError::ValueError`] from [`get`](Self::get); [`get_or`](Self::get_or) gives a
/// default instead.
pub struct Value<T> {
    obj: Object,
    _t: Of<T>,
}

handle!(Value<T>, "Value");

impl<T: Serialize + DeserializeOwned> Value<T> {
    pub(crate) fn open(remote: &Remote, name: &str) -> Result<Self, RemoteError> {
        Ok(Value {
            obj: Object::open(remote, "value", name, Some(&tag::<T>()))?,
            _t: std::marker::PhantomData,
        })
    }

    pub(crate) fn create(remote: &Remote, name: &str, initial: T) -> Result<Self, RemoteError> {
        let v = Value::open(remote, name)?;
        v.obj
            .backend()
            .compare_and_set(&v.obj.key, None, None, Some(&enc(&initial)?))?;
        Ok(v)
    }

    /// `v.value`.
    pub fn get(&self) -> Result<T, RemoteError> {
        match self.obj.backend().get(&self.obj.key, None)? {
            Some(b) => dec(&b),
            None => Err(RemoteError::ValueError(format!(
                "{} was never set",
                self.obj.name
            ))),
        }
    }

    /// `v.value`, or `default` if it was never set.
    pub fn get_or(&self, default: T) -> Result<T, RemoteError> {
        match self.obj.backend().get(&self.obj.key, None)? {
            Some(b) => dec(&b),
            None => Ok(default),
        }
    }

    /// `v.value = x`.
    pub fn set(&self, value: T) -> Result<(), RemoteError> {
        self.obj
            .backend()
            .set(&self.obj.key, None, &enc(&value)?, None)
    }

    /// `v.value = x` only while `guard`'s lease is the lock's newest (beyond Python):
    /// a holder that stalled past its lease, while another was granted the lock, gets
    /// [`RemoteError::Fenced`] and writes nothing.
    pub fn set_fenced(&self, guard: &LockGuard<'_>, value: T) -> Result<(), RemoteError> {
        self.obj.backend().fenced_set(
            guard.lock_key(),
            guard.fence(),
            &self.obj.key,
            &enc(&value)?,
        )
    }

    /// Sets it to `new` only if it is `expected` now; whether it did.
    pub fn compare_and_set(&self, expected: &T, new: T) -> Result<bool, RemoteError> {
        let e = enc(expected)?;
        Ok(self
            .obj
            .backend()
            .compare_and_set(&self.obj.key, None, Some(&e), Some(&enc(&new)?))?
            .0)
    }

    /// Replaces it with `f(current)` atomically (a compare-and-set loop); the new value.
    pub fn update(&self, f: impl FnMut(Option<T>) -> T) -> Result<T, RemoteError> {
        super::object::update(self.obj.backend(), &self.obj.key, None, f)
    }

    /// `v.value += delta` atomically; the new value.
    pub fn add(&self, delta: T) -> Result<T, RemoteError>
    where
        T: std::ops::Add<Output = T> + Default + Clone,
    {
        self.update(|v| v.unwrap_or_default() + delta.clone())
    }
}
