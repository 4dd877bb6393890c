//! [`ListProxy`] (≈ `Manager().list()`) and [`ArrayProxy`] (≈ `Manager().Array(...)`, a list
//! of fixed length): Python's list methods, indexes as Python reads them (negative from the
//! end), and Python's errors as typed ones.
//!
//! ```
//! use multiproc::manager::Manager;
//!
//! let manager = Manager::start().unwrap();
//! let l = manager.list::<u32>().unwrap();
//! l.extend([3, 1, 2]).unwrap();
//! l.sort().unwrap();
//! assert_eq!(l.to_vec().unwrap(), [1, 2, 3]);
//! assert_eq!(l.get(-1).unwrap(), 3);
//! assert_eq!(l.pop().unwrap(), 3);
//! assert!(matches!(l.get(5), Err(multiproc::ManagerError::IndexError(_))));
//! assert!(matches!(l.remove(&9), Err(multiproc::ManagerError::ValueError(_))));
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::client::typed_proxy;
use super::data::to_data;
use super::protocol::Op;
use crate::error::ManagerError;

typed_proxy! {
    /// A `list` on a manager (≈ `ListProxy`).
    ListProxy<T>
}

typed_proxy! {
    /// A fixed-length array on a manager (≈ `ArrayProxy`): get, set, slices, no change of
    /// length.
    ArrayProxy<T>
}

fn range(start: Option<isize>, stop: Option<isize>) -> (Option<i64>, Option<i64>) {
    (start.map(|i| i as i64), stop.map(|i| i as i64))
}

/// What lists and arrays share.
macro_rules! sequence_methods {
    () => {
        /// `len(l)`.
        pub fn len(&self) -> Result<usize, ManagerError> {
            self.inner.call(Op::Len)?.len()
        }

        /// `not l`.
        pub fn is_empty(&self) -> Result<bool, ManagerError> {
            Ok(self.len()? == 0)
        }

        /// `l[i]` (negative counts from the end); [`ManagerError::IndexError`] out of range.
        pub fn get(&self, index: isize) -> Result<T, ManagerError> {
            self.inner.call(Op::At(index as i64))?.value()
        }

        /// `l[i] = x`.
        pub fn set(&self, index: isize, item: T) -> Result<(), ManagerError> {
            self.inner
                .call(Op::SetAt(index as i64, to_data(&item)?))?
                .unit()
        }

        /// `l[start:stop]` (`None` for an open end), clamped as in Python.
        pub fn slice(
            &self,
            start: Option<isize>,
            stop: Option<isize>,
        ) -> Result<Vec<T>, ManagerError> {
            let (a, b) = range(start, stop);
            self.inner.call(Op::Slice(a, b))?.many()
        }

        /// A snapshot of the whole (`l[:]`, `list(l)`): one round trip.
        pub fn to_vec(&self) -> Result<Vec<T>, ManagerError> {
            self.slice(None, None)
        }

        /// Iterates over a snapshot (`for x in l`).
        pub fn iter(&self) -> Result<std::vec::IntoIter<T>, ManagerError> {
            Ok(self.to_vec()?.into_iter())
        }

        /// `l.index(x)`: the first position of `x`; [`ManagerError::ValueError`] if absent.
        pub fn index(&self, item: &T) -> Result<usize, ManagerError> {
            self.inner
                .call(Op::Index(to_data(item)?, 0, i64::MAX))?
                .len()
        }

        /// `l.count(x)`.
        pub fn count(&self, item: &T) -> Result<usize, ManagerError> {
            self.inner.call(Op::Count(to_data(item)?))?.len()
        }

        /// `l.sort()` (by serde value: numbers by value, strings by text, tuples
        /// element-wise).
        pub fn sort(&self) -> Result<(), ManagerError> {
            self.inner.call(Op::Sort { reverse: false })?.unit()
        }

        /// `l.sort(reverse=True)`.
        pub fn sort_reverse(&self) -> Result<(), ManagerError> {
            self.inner.call(Op::Sort { reverse: true })?.unit()
        }

        /// `l.reverse()`.
        pub fn reverse(&self) -> Result<(), ManagerError> {
            self.inner.call(Op::Reverse)?.unit()
        }

        /// `l[start:stop] = items`: a list's length may change; an array's slice must be given
        /// as many items as it holds ([`ManagerError::ValueError`] otherwise).
        pub fn set_slice(
            &self,
            start: Option<isize>,
            stop: Option<isize>,
            items: impl IntoIterator<Item = T>,
        ) -> Result<(), ManagerError> {
            let (a, b) = range(start, stop);
            let items = items
                .into_iter()
                .map(|x| to_data(&x))
                .collect::<Result<_, _>>()?;
            self.inner.call(Op::SetSlice(a, b, items))?.unit()
        }

        /// `l[i] += delta`, atomically on the server; the new value.
        pub fn add_at(&self, index: isize, delta: T) -> Result<T, ManagerError> {
            self.inner
                .call(Op::AddAt(index as i64, to_data(&delta)?))?
                .value()
        }
    };
}

impl<T: Serialize + DeserializeOwned> ListProxy<T> {
    sequence_methods!();

    /// `l.append(x)`.
    pub fn append(&self, item: T) -> Result<(), ManagerError> {
        self.inner.call(Op::Append(to_data(&item)?))?.unit()
    }

    /// `l.extend(items)`: one round trip.
    pub fn extend(&self, items: impl IntoIterator<Item = T>) -> Result<(), ManagerError> {
        let items = items
            .into_iter()
            .map(|x| to_data(&x))
            .collect::<Result<_, _>>()?;
        self.inner.call(Op::Extend(items))?.unit()
    }

    /// `l.insert(i, x)` (an index past either end inserts at that end, as in Python).
    pub fn insert(&self, index: isize, item: T) -> Result<(), ManagerError> {
        self.inner
            .call(Op::Insert(index as i64, to_data(&item)?))?
            .unit()
    }

    /// `l.pop()`: the last item; [`ManagerError::IndexError`] if empty.
    pub fn pop(&self) -> Result<T, ManagerError> {
        self.inner.call(Op::PopAt(None))?.value()
    }

    /// `l.pop(i)`.
    pub fn pop_at(&self, index: isize) -> Result<T, ManagerError> {
        self.inner.call(Op::PopAt(Some(index as i64)))?.value()
    }

    /// `l.remove(x)`: the first `x`; [`ManagerError::ValueError`] if absent.
    pub fn remove(&self, item: &T) -> Result<(), ManagerError> {
        self.inner.call(Op::Remove(to_data(item)?))?.unit()
    }

    /// `del l[i]`.
    pub fn delete(&self, index: isize) -> Result<(), ManagerError> {
        self.inner.call(Op::DelAt(index as i64))?.unit()
    }

    /// `l.clear()`.
    pub fn clear(&self) -> Result<(), ManagerError> {
        self.inner.call(Op::Clear)?.unit()
    }
}

impl<T: Serialize + DeserializeOwned> ArrayProxy<T> {
    sequence_methods!();
}
