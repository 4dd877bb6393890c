//! [`Namespace`]: named fields of any type on the backend (≈ `Manager().Namespace()`).

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::context::Remote;
use super::object::{Object, Of, dec, enc, handle};
use crate::error::RemoteError;

/// Named fields of any serde type (see the module docs); each read names its type.
pub struct Namespace {
    obj: Object,
    _t: Of<()>,
}

handle!(Namespace, "Namespace");

impl Namespace {
    pub(crate) fn open(remote: &Remote, name: &str) -> Result<Self, RemoteError> {
        Ok(Namespace {
            obj: Object::open(remote, "namespace", name, None)?,
            _t: std::marker::PhantomData,
        })
    }

    /// `ns.x`: [`RemoteError::AttributeError`] when absent.
    pub fn get<T: DeserializeOwned>(&self, field: &str) -> Result<T, RemoteError> {
        match self
            .obj
            .backend()
            .get(&self.obj.key, Some(field.as_bytes()))?
        {
            Some(b) => dec(&b),
            None => Err(RemoteError::AttributeError(field.to_string())),
        }
    }

    /// `ns.x = v`.
    pub fn set<T: Serialize>(&self, field: &str, value: T) -> Result<(), RemoteError> {
        self.obj
            .backend()
            .set(&self.obj.key, Some(field.as_bytes()), &enc(&value)?, None)
    }

    /// `del ns.x`.
    pub fn del(&self, field: &str) -> Result<(), RemoteError> {
        if self
            .obj
            .backend()
            .delete(&self.obj.key, Some(field.as_bytes()))?
        {
            Ok(())
        } else {
            Err(RemoteError::AttributeError(field.to_string()))
        }
    }

    /// `hasattr(ns, x)`.
    pub fn has(&self, field: &str) -> Result<bool, RemoteError> {
        Ok(self
            .obj
            .backend()
            .get(&self.obj.key, Some(field.as_bytes()))?
            .is_some())
    }

    /// The field names.
    pub fn fields(&self) -> Result<Vec<String>, RemoteError> {
        Ok(self
            .obj
            .backend()
            .fields(&self.obj.key)?
            .into_iter()
            .map(|(k, _)| String::from_utf8_lossy(&k).into_owned())
            .collect())
    }
}
