//! [`ValueProxy`]: one value on a manager (≈ `Manager().Value(typecode, value)`), of any serde
//! type, with atomic `add` and `compare_and_set`.
//!
//! ```
//! use multiproc::manager::Manager;
//!
//! let manager = Manager::start().unwrap();
//! let v = manager.value(1.5f64).unwrap();
//! assert_eq!(v.add(1.0).unwrap(), 2.5);
//! assert!(v.compare_and_set(&2.5, 0.0).unwrap());
//! assert_eq!(v.get().unwrap(), 0.0);
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::client::typed_proxy;
use super::data::to_data;
use super::protocol::Op;
use crate::error::ManagerError;

typed_proxy! {
    /// One value on a manager (≈ `ValueProxy`).
    ValueProxy<T>
}

impl<T: Serialize + DeserializeOwned> ValueProxy<T> {
    /// `v.value`.
    pub fn get(&self) -> Result<T, ManagerError> {
        self.inner.call(Op::Load)?.value()
    }

    /// `v.value = x`.
    pub fn set(&self, value: T) -> Result<(), ManagerError> {
        self.inner.call(Op::Store(to_data(&value)?))?.unit()
    }

    /// `v.value += delta`, atomically on the server; the new value.
    pub fn add(&self, delta: T) -> Result<T, ManagerError> {
        self.inner.call(Op::AddValue(to_data(&delta)?))?.value()
    }

    /// Sets the value to `new` if it is `expected` now, atomically; whether it did.
    pub fn compare_and_set(&self, expected: &T, new: T) -> Result<bool, ManagerError> {
        self.inner
            .call(Op::Swap(to_data(expected)?, to_data(&new)?))?
            .bool()
    }
}
