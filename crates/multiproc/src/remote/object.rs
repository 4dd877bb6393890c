//! What every remote handle is made of ([`Object`]: its context, name and key), the type
//! check that keeps two programs from reading one object as different types, and the
//! encoding of values.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::context::Remote;
use crate::error::RemoteError;

/// The kinds of object, as they appear in keys (`mp:{ns}:kind:name`).
pub(crate) const KINDS: [&str; 12] = [
    "queue",
    "dict",
    "list",
    "value",
    "namespace",
    "lock",
    "rlock",
    "semaphore",
    "event",
    "condition",
    "barrier",
    "pool",
];

/// A named object of a namespace.
#[derive(Clone)]
pub(crate) struct Object {
    pub remote: Remote,
    pub name: String,
    pub key: String,
}

impl Object {
    /// Object `name` of `kind`, storing items of type `tag` (checked against what the first
    /// handle to it stored: another type is [`RemoteError::Data`]).
    pub(crate) fn open(
        remote: &Remote,
        kind: &str,
        name: &str,
        tag: Option<&str>,
    ) -> Result<Object, RemoteError> {
        if name.is_empty() || name.contains(['{', '}']) {
            return Err(RemoteError::Invalid(format!(
                "object name {name:?}: not empty, without `{{` or `}}`"
            )));
        }
        let key = remote.space.key(kind, name);
        if let Some(tag) = tag {
            let tkey = format!("{key}:type");
            let (_, found) =
                remote
                    .space
                    .backend
                    .compare_and_set(&tkey, None, None, Some(tag.as_bytes()))?;
            if let Some(found) = found
                && found != tag.as_bytes()
            {
                return Err(RemoteError::Data(format!(
                    "{kind} {name:?} holds {}, not {tag}",
                    String::from_utf8_lossy(&found)
                )));
            }
        }
        Ok(Object {
            remote: remote.clone(),
            name: name.to_string(),
            key,
        })
    }

    pub(crate) fn backend(&self) -> &dyn super::backend::Backend {
        &*self.remote.space.backend
    }

    /// A key beside this object's (`key:suffix`).
    pub(crate) fn sub(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.key)
    }
}

/// Replaces field `field` of `key` (or the key itself) with `f(current)`, atomically: a
/// compare-and-set loop, so `f` may run more than once when others write it at the same
/// time. `f` says the typed new value. The one read-modify-write every object's atomic
/// update (`add`, `update_with`, a semaphore's extra unit) goes through.
pub(crate) fn update<T: Serialize + DeserializeOwned>(
    backend: &dyn super::backend::Backend,
    key: &str,
    field: Option<&[u8]>,
    mut f: impl FnMut(Option<T>) -> T,
) -> Result<T, RemoteError> {
    loop {
        let cur = backend.get(key, field)?;
        let new = f(cur.as_deref().map(dec).transpose()?);
        if backend
            .compare_and_set(key, field, cur.as_deref(), Some(&enc(&new)?))?
            .0
        {
            return Ok(new);
        }
    }
}

/// Encodes a value for the backend.
pub(crate) fn enc<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, RemoteError> {
    crate::wire::encode(v).map_err(RemoteError::Data)
}

/// Decodes a value from the backend.
pub(crate) fn dec<T: DeserializeOwned>(b: &[u8]) -> Result<T, RemoteError> {
    crate::wire::decode(b).map_err(|e| {
        RemoteError::Data(format!(
            "stored bytes do not decode as {}: {e}",
            std::any::type_name::<T>()
        ))
    })
}

/// The type tag of `T` (see [`crate::wire::type_tag`]).
pub(crate) fn tag<T>() -> String {
    crate::wire::type_tag::<T>().to_string()
}

/// `PhantomData` that keeps a handle `Send + Sync` whatever `T` is (a handle holds no `T`).
pub(crate) type Of<T> = PhantomData<fn() -> T>;

/// `Clone`, `Debug`, and by-reference `Serialize`/`Deserialize` for a handle type
/// `$t<generics>` with fields `obj: Object` and (optionally) `_t: Of<..>`.
macro_rules! handle {
    ($t:ident, $kind:literal $(, $extra:ident)*) => {
        handle!($t<>, $kind $(, $extra)*);
    };
    ($t:ident < $($g:ident),* >, $kind:literal $(, $extra:ident)*) => {
        impl<$($g),*> Clone for $t<$($g),*> {
            fn clone(&self) -> Self {
                $t { obj: self.obj.clone(), $($extra: self.$extra.clone(),)* _t: std::marker::PhantomData }
            }
        }
        impl<$($g),*> std::fmt::Debug for $t<$($g),*> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "<remote {} {:?} on {}>", $kind, self.obj.name, self.obj.remote.server())
            }
        }
        impl<$($g),*> serde::Serialize for $t<$($g),*> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                super::context::serialize_handle(&self.obj.remote, &self.obj.name, s)
            }
        }
        impl<'de, $($g: serde::Serialize + serde::de::DeserializeOwned),*> serde::Deserialize<'de>
            for $t<$($g),*>
        {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let (remote, name) = super::context::deserialize_handle(d)?;
                $t::open(&remote, &name).map_err(crate::wire::de_error)
            }
        }
    };
}
pub(crate) use handle;
