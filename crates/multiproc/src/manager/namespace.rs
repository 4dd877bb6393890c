//! [`Namespace`]: named fields on a manager (≈ `Manager().Namespace()`), each of its own
//! type, read and written by name.
//!
//! ```
//! use multiproc::manager::Manager;
//!
//! let manager = Manager::start().unwrap();
//! let ns = manager.namespace().unwrap();
//! ns.set("x", 10u32).unwrap();
//! ns.set("name", "job").unwrap();
//! ns.set("_secret", 1u8).unwrap();
//! assert_eq!(ns.get::<u32>("x").unwrap(), 10);
//! assert!(matches!(ns.get::<u32>("y"), Err(multiproc::ManagerError::AttributeError(_))));
//! // Python's repr, private fields hidden.
//! assert_eq!(ns.repr().unwrap(), "Namespace(name=\"job\", x=10)");
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::client::typed_proxy;
use super::data::{Value, from_data, repr, to_data};
use super::protocol::Op;
use crate::error::ManagerError;

typed_proxy! {
    /// Named fields on a manager (≈ `NamespaceProxy`).
    Namespace<>
}

fn attr(name: &str) -> super::data::Data {
    super::data::Data::String(name.to_owned())
}

fn missing(name: &str) -> impl FnOnce(ManagerError) -> ManagerError + '_ {
    move |e| match e {
        ManagerError::KeyError(_) => ManagerError::AttributeError(name.to_owned()),
        e => e,
    }
}

impl Namespace {
    /// `ns.name`: [`ManagerError::AttributeError`] if unset, [`ManagerError::Data`] if it
    /// holds another type.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T, ManagerError> {
        self.inner
            .call(Op::GetItem(attr(name)))
            .map_err(missing(name))?
            .value()
    }

    /// `ns.name = value`.
    pub fn set<T: Serialize>(&self, name: &str, value: T) -> Result<(), ManagerError> {
        self.inner
            .call(Op::SetItem(attr(name), to_data(&value)?))?
            .unit()
    }

    /// `del ns.name`.
    pub fn del(&self, name: &str) -> Result<(), ManagerError> {
        self.inner
            .call(Op::DelItem(attr(name)))
            .map_err(missing(name))?
            .unit()
    }

    /// `hasattr(ns, name)`.
    pub fn has(&self, name: &str) -> Result<bool, ManagerError> {
        self.inner.call(Op::Contains(attr(name)))?.bool()
    }

    /// `ns.name += delta`, atomically on the server; the new value.
    pub fn add<T: Serialize + DeserializeOwned>(
        &self,
        name: &str,
        delta: T,
    ) -> Result<T, ManagerError> {
        self.inner
            .call(Op::Add(attr(name), to_data(&delta)?))?
            .value()
    }

    /// The field names, private ones (`_x`) included, in the order they were first set.
    pub fn fields(&self) -> Result<Vec<String>, ManagerError> {
        self.inner.call(Op::Keys)?.many()
    }

    /// Python's `repr(ns)`: `Namespace(a=1, b='x')`, fields sorted, private ones hidden.
    pub fn repr(&self) -> Result<String, ManagerError> {
        let mut fields: Vec<(String, super::data::Data)> =
            self.inner.call(Op::Items)?.pairs_raw()?;
        fields.retain(|(k, _)| !k.starts_with('_'));
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        let shown: Vec<String> = fields
            .into_iter()
            .map(|(k, v)| format!("{k}={}", repr(&Value::from(v))))
            .collect();
        Ok(format!("Namespace({})", shown.join(", ")))
    }
}

impl super::protocol::Reply {
    /// Pairs with string keys and values left as data.
    pub(crate) fn pairs_raw(self) -> Result<Vec<(String, super::data::Data)>, ManagerError> {
        match self {
            super::protocol::Reply::Pairs(v) => {
                v.into_iter().map(|(k, v)| Ok((from_data(k)?, v))).collect()
            }
            other => Err(ManagerError::Data(format!(
                "unexpected reply from the manager: {other:?}"
            ))),
        }
    }
}
