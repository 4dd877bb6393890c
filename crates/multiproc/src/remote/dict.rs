//! [`Dict`]: a dict on the backend (≈ `Manager().dict()`), one backend hash per dict: keys
//! and values by serde, each operation one round trip, atomic on the server.
//!
//! Unlike Python's dict (and the manager's), iteration order is not insertion order: a
//! Redis hash keeps none.
//!
//! ```no_run
//! use multiproc::remote;
//!
//! let r = remote::connect("redis://127.0.0.1:6379/0", "demo").unwrap();
//! let d = r.dict::<String, u32>("ages").unwrap();
//! d.insert("ada".into(), 36).unwrap();
//! assert_eq!(d.get(&"ada".into()).unwrap(), Some(36));
//! assert_eq!(d.add("ada".into(), 1).unwrap(), 37); // atomic read-modify-write
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::context::Remote;
use super::object::{Object, Of, dec, enc, handle, tag, update};
use crate::error::RemoteError;

/// A dict on the backend (see the module docs).
pub struct Dict<K, V> {
    obj: Object,
    _t: Of<(K, V)>,
}

handle!(Dict<K, V>, "dict");

impl<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned> Dict<K, V> {
    pub(crate) fn open(remote: &Remote, name: &str) -> Result<Self, RemoteError> {
        Ok(Dict {
            obj: Object::open(remote, "dict", name, Some(&tag::<(K, V)>()))?,
            _t: std::marker::PhantomData,
        })
    }

    /// Its name in the namespace.
    pub fn name(&self) -> &str {
        &self.obj.name
    }

    /// `d.get(k)`.
    pub fn get(&self, key: &K) -> Result<Option<V>, RemoteError> {
        let v = self.obj.backend().get(&self.obj.key, Some(&enc(key)?))?;
        v.map(|b| dec(&b)).transpose()
    }

    /// `d[k]`: [`RemoteError::KeyError`] when absent.
    pub fn get_item(&self, key: &K) -> Result<V, RemoteError>
    where
        K: std::fmt::Debug,
    {
        self.get(key)?
            .ok_or_else(|| RemoteError::KeyError(format!("{key:?}")))
    }

    /// `d[k] = v`.
    pub fn insert(&self, key: K, value: V) -> Result<(), RemoteError> {
        self.obj
            .backend()
            .set(&self.obj.key, Some(&enc(&key)?), &enc(&value)?, None)
    }

    /// `d.update(pairs)`, in one round trip.
    pub fn update(&self, pairs: impl IntoIterator<Item = (K, V)>) -> Result<(), RemoteError> {
        let pairs = pairs
            .into_iter()
            .map(|(k, v)| Ok((enc(&k)?, enc(&v)?)))
            .collect::<Result<Vec<_>, RemoteError>>()?;
        self.obj.backend().set_many(&self.obj.key, &pairs)
    }

    /// Several keys in one round trip (beyond Python).
    pub fn get_many(&self, keys: &[K]) -> Result<Vec<Option<V>>, RemoteError> {
        let fields = keys.iter().map(enc).collect::<Result<Vec<_>, _>>()?;
        self.obj
            .backend()
            .get_many(&self.obj.key, &fields)?
            .into_iter()
            .map(|v| v.map(|b| dec(&b)).transpose())
            .collect()
    }

    /// `d.pop(k, None)`: removes and returns the value, atomically.
    pub fn remove(&self, key: &K) -> Result<Option<V>, RemoteError> {
        let k = enc(key)?;
        loop {
            let Some(cur) = self.obj.backend().get(&self.obj.key, Some(&k))? else {
                return Ok(None);
            };
            let (done, _) =
                self.obj
                    .backend()
                    .compare_and_set(&self.obj.key, Some(&k), Some(&cur), None)?;
            if done {
                return dec(&cur).map(Some);
            }
        }
    }

    /// `del d[k]`: [`RemoteError::KeyError`] when absent.
    pub fn del_item(&self, key: &K) -> Result<(), RemoteError>
    where
        K: std::fmt::Debug,
    {
        if self.obj.backend().delete(&self.obj.key, Some(&enc(key)?))? {
            Ok(())
        } else {
            Err(RemoteError::KeyError(format!("{key:?}")))
        }
    }

    /// `k in d`.
    pub fn contains(&self, key: &K) -> Result<bool, RemoteError> {
        Ok(self
            .obj
            .backend()
            .get(&self.obj.key, Some(&enc(key)?))?
            .is_some())
    }

    /// `len(d)`.
    pub fn len(&self) -> Result<usize, RemoteError> {
        Ok(self.obj.backend().count(&self.obj.key)? as usize)
    }

    /// `not d`.
    pub fn is_empty(&self) -> Result<bool, RemoteError> {
        Ok(self.len()? == 0)
    }

    /// `d.items()`, a snapshot.
    pub fn items(&self) -> Result<Vec<(K, V)>, RemoteError> {
        self.obj
            .backend()
            .fields(&self.obj.key)?
            .into_iter()
            .map(|(k, v)| Ok((dec(&k)?, dec(&v)?)))
            .collect()
    }

    /// `d.keys()`, a snapshot.
    pub fn keys(&self) -> Result<Vec<K>, RemoteError> {
        Ok(self.items()?.into_iter().map(|(k, _)| k).collect())
    }

    /// `d.values()`, a snapshot.
    pub fn values(&self) -> Result<Vec<V>, RemoteError> {
        Ok(self.items()?.into_iter().map(|(_, v)| v).collect())
    }

    /// `d.setdefault(k, default)`, atomically: the value there, or `default`, now there.
    pub fn setdefault(&self, key: K, default: V) -> Result<V, RemoteError> {
        let (k, v) = (enc(&key)?, enc(&default)?);
        let (_, found) =
            self.obj
                .backend()
                .compare_and_set(&self.obj.key, Some(&k), None, Some(&v))?;
        match found {
            Some(b) => dec(&b),
            None => Ok(default),
        }
    }

    /// Sets `d[k] = new` only if it is `expected` now (`None`: absent); whether it did.
    pub fn compare_and_set(
        &self,
        key: &K,
        expected: Option<&V>,
        new: V,
    ) -> Result<bool, RemoteError> {
        let k = enc(key)?;
        let e = expected.map(enc).transpose()?;
        let n = enc(&new)?;
        Ok(self
            .obj
            .backend()
            .compare_and_set(&self.obj.key, Some(&k), e.as_deref(), Some(&n))?
            .0)
    }

    /// Replaces `d[k]` with `f(d.get(k))`, atomically (a compare-and-set loop: `f` may run
    /// more than once when others write the key at the same time); the new value.
    pub fn update_with(&self, key: K, f: impl FnMut(Option<V>) -> V) -> Result<V, RemoteError> {
        update(self.obj.backend(), &self.obj.key, Some(&enc(&key)?), f)
    }

    /// `d[k] += delta` (0 when absent), atomically; the new value.
    pub fn add(&self, key: K, delta: V) -> Result<V, RemoteError>
    where
        V: std::ops::Add<Output = V> + Default + Clone,
    {
        self.update_with(key, |v| v.unwrap_or_default() + delta.clone())
    }

    /// `d.clear()`.
    pub fn clear(&self) -> Result<(), RemoteError> {
        self.obj.backend().delete(&self.obj.key, None).map(|_| ())
    }
}
