//! [`DictProxy`]: a `dict` served by a manager (≈ `Manager().dict()`), with Python's method
//! set, and atomic read-modify-write operations where Python loses updates.
//!
//! In Python, `d['hits'] += 1` from two processes is a `get` then a `set`: two round trips,
//! and one increment in two is lost under contention. `d['k'].append(x)` is worse: it
//! appends to a copy and is lost every time. Here [`add`](DictProxy::add),
//! [`append_to`](DictProxy::append_to), [`compare_and_set`](DictProxy::compare_and_set) and
//! [`setdefault`](DictProxy::setdefault) each run whole on the server.
//!
//! ```
//! use multiproc::manager::Manager;
//!
//! let manager = Manager::start().unwrap();
//! let d = manager.dict::<String, i64>().unwrap();
//! d.insert("a".into(), 1).unwrap();
//! assert_eq!(d.get(&"a".into()).unwrap(), Some(1));
//! assert_eq!(d.add("hits".into(), 5).unwrap(), 5); // a missing key starts at the delta
//! assert_eq!(d.add("hits".into(), 1).unwrap(), 6);
//! assert!(matches!(d.get_item(&"nope".into()), Err(multiproc::ManagerError::KeyError(k)) if k == "\"nope\""));
//! assert_eq!(d.len().unwrap(), 2);
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::client::typed_proxy;
use super::data::to_data;
use super::protocol::Op;
use crate::error::ManagerError;

typed_proxy! {
    /// A `dict` on a manager (≈ `DictProxy`). Keys and values are any serde types; every
    /// method is one round trip.
    DictProxy<K, V>
}

impl<K, V> DictProxy<K, V>
where
    K: Serialize + DeserializeOwned,
    V: Serialize + DeserializeOwned,
{
    /// `d.get(k)`: the value, or `None`.
    pub fn get(&self, key: &K) -> Result<Option<V>, ManagerError> {
        self.inner.call(Op::Get(to_data(key)?))?.maybe()
    }

    /// `d[k]`: the value, or [`ManagerError::KeyError`].
    pub fn get_item(&self, key: &K) -> Result<V, ManagerError> {
        self.inner.call(Op::GetItem(to_data(key)?))?.value()
    }

    /// `d[k] = v`.
    pub fn insert(&self, key: K, value: V) -> Result<(), ManagerError> {
        self.inner
            .call(Op::SetItem(to_data(&key)?, to_data(&value)?))?
            .unit()
    }

    /// `del d[k]`: [`ManagerError::KeyError`] if absent.
    pub fn del_item(&self, key: &K) -> Result<(), ManagerError> {
        self.inner.call(Op::DelItem(to_data(key)?))?.unit()
    }

    /// `d.pop(k, None)`: removes the key, giving its value if it was there (as std's
    /// `HashMap::remove`).
    pub fn remove(&self, key: &K) -> Result<Option<V>, ManagerError> {
        match self.pop(key) {
            Ok(v) => Ok(Some(v)),
            Err(ManagerError::KeyError(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `d.pop(k)`: the value removed, or [`ManagerError::KeyError`].
    pub fn pop(&self, key: &K) -> Result<V, ManagerError> {
        self.inner.call(Op::Pop(to_data(key)?, None))?.value()
    }

    /// `d.pop(k, default)`.
    pub fn pop_or(&self, key: &K, default: V) -> Result<V, ManagerError> {
        self.inner
            .call(Op::Pop(to_data(key)?, Some(to_data(&default)?)))?
            .value()
    }

    /// `d.popitem()`: the last pair inserted, removed; [`ManagerError::KeyError`] if empty.
    pub fn popitem(&self) -> Result<(K, V), ManagerError> {
        let mut v = self.inner.call(Op::PopItem)?.pairs()?;
        v.pop()
            .ok_or_else(|| ManagerError::Data("popitem returned nothing".into()))
    }

    /// `k in d`.
    pub fn contains(&self, key: &K) -> Result<bool, ManagerError> {
        self.inner.call(Op::Contains(to_data(key)?))?.bool()
    }

    /// `len(d)`.
    pub fn len(&self) -> Result<usize, ManagerError> {
        self.inner.call(Op::Len)?.len()
    }

    /// `not d`.
    pub fn is_empty(&self) -> Result<bool, ManagerError> {
        Ok(self.len()? == 0)
    }

    /// `list(d.keys())`, in insertion order.
    pub fn keys(&self) -> Result<Vec<K>, ManagerError> {
        self.inner.call(Op::Keys)?.many()
    }

    /// `list(d.values())`.
    pub fn values(&self) -> Result<Vec<V>, ManagerError> {
        self.inner.call(Op::Values)?.many()
    }

    /// `list(d.items())`.
    pub fn items(&self) -> Result<Vec<(K, V)>, ManagerError> {
        self.inner.call(Op::Items)?.pairs()
    }

    /// `d.copy()`: the pairs, in insertion order, as one snapshot.
    pub fn copy(&self) -> Result<Vec<(K, V)>, ManagerError> {
        self.items()
    }

    /// Iterates over a snapshot of the pairs (`for k, v in d.items()`): one round trip.
    pub fn iter(&self) -> Result<std::vec::IntoIter<(K, V)>, ManagerError> {
        Ok(self.items()?.into_iter())
    }

    /// `d.update(pairs)`: one round trip for all of them.
    pub fn update(&self, pairs: impl IntoIterator<Item = (K, V)>) -> Result<(), ManagerError> {
        let pairs = pairs
            .into_iter()
            .map(|(k, v)| Ok((to_data(&k)?, to_data(&v)?)))
            .collect::<Result<_, ManagerError>>()?;
        self.inner.call(Op::Update(pairs))?.unit()
    }

    /// `d.setdefault(k, default)`: the value, inserting `default` first if absent
    /// (get-or-insert, atomic).
    pub fn setdefault(&self, key: K, default: V) -> Result<V, ManagerError> {
        self.inner
            .call(Op::SetDefault(to_data(&key)?, to_data(&default)?))?
            .value()
    }

    /// `d.clear()`.
    pub fn clear(&self) -> Result<(), ManagerError> {
        self.inner.call(Op::Clear)?.unit()
    }

    /// Many `d.get(k)` in one round trip.
    pub fn get_many(&self, keys: &[K]) -> Result<Vec<Option<V>>, ManagerError> {
        let keys = keys.iter().map(to_data).collect::<Result<_, _>>()?;
        self.inner.call(Op::GetMany(keys))?.many()
    }

    /// `d[k] += delta`, atomically on the server; the new value. A missing key starts at
    /// `delta`. A non-number is [`ManagerError::TypeError`]; overflow of `V` is
    /// [`ManagerError::ValueError`], and nothing changes.
    pub fn add(&self, key: K, delta: V) -> Result<V, ManagerError> {
        self.inner
            .call(Op::Add(to_data(&key)?, to_data(&delta)?))?
            .value()
    }

    /// `d[k].append(item)` where the value is a list (`V` = `Vec<X>`), atomically; the new
    /// length. A missing key starts as `[item]`. Python's manager loses this write (it
    /// appends to a copy).
    pub fn append_to<X: Serialize>(&self, key: K, item: X) -> Result<usize, ManagerError> {
        self.inner
            .call(Op::AppendTo(to_data(&key)?, to_data(&item)?))?
            .len()
    }

    /// Sets `d[k] = new` if `d[k]` is `expected` now (`None`: absent), atomically; whether it
    /// did.
    pub fn compare_and_set(
        &self,
        key: K,
        expected: Option<&V>,
        new: V,
    ) -> Result<bool, ManagerError> {
        let expected = expected.map(to_data).transpose()?;
        self.inner
            .call(Op::CompareAndSet(to_data(&key)?, expected, to_data(&new)?))?
            .bool()
    }
}
