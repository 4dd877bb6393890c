//! [`List`]: a list on the backend (≈ `Manager().list()`), one backend list per list:
//! appends, indexes and pops are one round trip each, atomic on the server.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::backend::Wait;
use super::context::Remote;
use super::object::{Object, Of, dec, enc, handle, tag};
use crate::error::RemoteError;

/// A list on the backend (see the module docs). Indexes are Python's: negative counts
/// from the end.
pub struct List<T> {
    obj: Object,
    _t: Of<T>,
}

handle!(List<T>, "list");

fn out_of_range() -> RemoteError {
    RemoteError::IndexError("list index out of range".into())
}

impl<T: Serialize + DeserializeOwned> List<T> {
    pub(crate) fn open(remote: &Remote, name: &str) -> Result<Self, RemoteError> {
        Ok(List {
            obj: Object::open(remote, "list", name, Some(&tag::<T>()))?,
            _t: std::marker::PhantomData,
        })
    }

    /// Its name in the namespace.
    pub fn name(&self) -> &str {
        &self.obj.name
    }

    /// `l.append(x)`.
    pub fn append(&self, item: T) -> Result<(), RemoteError> {
        self.obj
            .backend()
            .push(&self.obj.key, &[enc(&item)?], false, None, None)
            .map(|_| ())
    }

    /// `l.extend(items)`, in one round trip.
    pub fn extend(&self, items: impl IntoIterator<Item = T>) -> Result<(), RemoteError> {
        let b = items
            .into_iter()
            .map(|i| enc(&i))
            .collect::<Result<Vec<_>, _>>()?;
        self.obj
            .backend()
            .push(&self.obj.key, &b, false, None, None)
            .map(|_| ())
    }

    /// `l[i]`.
    pub fn get(&self, index: isize) -> Result<T, RemoteError> {
        match self.obj.backend().index(&self.obj.key, index as i64)? {
            Some(b) => dec(&b),
            None => Err(out_of_range()),
        }
    }

    /// `l[i] = x`.
    pub fn set(&self, index: isize, item: T) -> Result<(), RemoteError> {
        if self
            .obj
            .backend()
            .set_index(&self.obj.key, index as i64, &enc(&item)?)?
        {
            Ok(())
        } else {
            Err(RemoteError::IndexError(
                "list assignment index out of range".into(),
            ))
        }
    }

    /// `len(l)`.
    pub fn len(&self) -> Result<usize, RemoteError> {
        Ok(self.obj.backend().len(&self.obj.key)? as usize)
    }

    /// `not l`.
    pub fn is_empty(&self) -> Result<bool, RemoteError> {
        Ok(self.len()? == 0)
    }

    /// `list(l)`, a snapshot.
    pub fn to_vec(&self) -> Result<Vec<T>, RemoteError> {
        self.slice(0, -1)
    }

    /// Items `start..=stop` (inclusive, negative from the end: Redis's `LRANGE`).
    pub fn slice(&self, start: isize, stop: isize) -> Result<Vec<T>, RemoteError> {
        self.obj
            .backend()
            .range(&self.obj.key, start as i64, stop as i64)?
            .iter()
            .map(|b| dec(b))
            .collect()
    }

    /// `l.pop()`: the last item; `IndexError` when empty.
    pub fn pop(&self) -> Result<T, RemoteError> {
        let got = self.obj.backend().pop(&self.obj.key, 1, true, Wait::No)?;
        match got.first() {
            Some(b) => dec(b),
            None => Err(RemoteError::IndexError("pop from empty list".into())),
        }
    }

    /// `l.remove(x)`: the first equal item; `ValueError` when none.
    pub fn remove(&self, item: &T) -> Result<(), RemoteError> {
        if self.obj.backend().remove(&self.obj.key, &enc(item)?, 1)? == 0 {
            return Err(RemoteError::ValueError(
                "list.remove(x): x not in list".into(),
            ));
        }
        Ok(())
    }

    /// `l.index(x)`: where the first equal item is; `ValueError` when none.
    pub fn index(&self, item: &T) -> Result<usize, RemoteError> {
        let want = enc(item)?;
        let all = self.obj.backend().range(&self.obj.key, 0, -1)?;
        all.iter()
            .position(|b| *b == want)
            .ok_or_else(|| RemoteError::ValueError("x not in list".into()))
    }

    /// `l.count(x)`.
    pub fn count(&self, item: &T) -> Result<usize, RemoteError> {
        let want = enc(item)?;
        let all = self.obj.backend().range(&self.obj.key, 0, -1)?;
        Ok(all.iter().filter(|b| **b == want).count())
    }

    /// `l.clear()`.
    pub fn clear(&self) -> Result<(), RemoteError> {
        self.obj.backend().delete(&self.obj.key, None).map(|_| ())
    }
}
