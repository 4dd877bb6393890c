//! [`Remote`]: a namespace on a backend, the context every remote object is built from, and
//! how a handle travels to another process by reference.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::backend::Backend;
use super::redis_backend::Redis;
use crate::error::RemoteError;
use crate::sync::ResetAfterFork;

/// How long a call waits for the backend by default.
pub const DEFAULT_OP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a lease (a worker's heartbeat, a lock's hold) lasts without renewal by default.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(5);

/// A namespace on a backend: the context remote objects are made from (≈ a
/// `multiprocessing` context, whose objects live on a server instead).
///
/// Cheap to clone; every clone shares one pool of connections.
#[derive(Clone)]
pub struct Remote {
    pub(crate) space: Arc<Space>,
}

/// What every handle of a namespace shares.
pub(crate) struct Space {
    pub backend: Arc<dyn Backend>,
    pub namespace: String,
    pub lease: Duration,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("backend", &self.space.backend.describe())
            .field("namespace", &self.space.namespace)
            .finish()
    }
}

/// Options of [`connect`](super::connect) (see [`Remote::builder`]).
#[derive(Debug, Clone)]
pub struct Builder {
    url: String,
    namespace: String,
    op_timeout: Duration,
    lease: Duration,
}

impl Builder {
    /// How long a call without a timeout of its own may wait for the backend (10 s by
    /// default): after it, [`RemoteError::Timeout`].
    pub fn op_timeout(mut self, t: Duration) -> Builder {
        self.op_timeout = t;
        self
    }

    /// How long a lease lasts without renewal (5 s by default): a lock held by a process
    /// that died is granted again this long after its last renewal, and a worker that
    /// stopped heartbeating loses its tasks after it. Renewals come every third of it.
    pub fn lease(mut self, t: Duration) -> Builder {
        self.lease = t;
        self
    }

    /// Connects.
    pub fn connect(self) -> Result<Remote, RemoteError> {
        check_namespace(&self.namespace)?;
        if self.lease < Duration::from_millis(30) {
            return Err(RemoteError::Invalid(
                "the lease must be at least 30 ms".into(),
            ));
        }
        let scheme = self.url.split("://").next().unwrap_or("");
        let backend: Arc<dyn Backend> = match scheme {
            "redis" | "rediss" | "redis+unix" | "unix" | "redis+cluster" | "rediss+cluster" => {
                Arc::new(Redis::open(
                    &self.url,
                    key(&self.namespace, "epoch", ""),
                    self.op_timeout,
                )?)
            }
            other => {
                return Err(RemoteError::Invalid(format!(
                    "no backend for URL scheme `{other}` (redis://, rediss://, redis+unix://, redis+cluster://, rediss+cluster://)"
                )));
            }
        };
        Ok(Remote {
            space: Arc::new(Space {
                backend,
                namespace: self.namespace,
                lease: self.lease,
            }),
        })
    }
}

fn check_namespace(ns: &str) -> Result<(), RemoteError> {
    if ns.is_empty() || ns.len() > 200 || ns.contains(['{', '}', ':']) {
        return Err(RemoteError::Invalid(format!(
            "namespace {ns:?}: 1 to 200 characters, without `{{`, `}}` or `:`"
        )));
    }
    Ok(())
}

/// The key of object `name` of kind `kind` in namespace `ns`: `mp:{ns}:kind:name`. The
/// `{ns}` hash tag puts every key of a namespace in one Redis Cluster slot.
pub(crate) fn key(ns: &str, kind: &str, name: &str) -> String {
    if name.is_empty() {
        format!("mp:{{{ns}}}:{kind}")
    } else {
        format!("mp:{{{ns}}}:{kind}:{name}")
    }
}

impl Remote {
    /// Options before connecting: [`Builder::op_timeout`], [`Builder::lease`].
    pub fn builder(url: &str, namespace: &str) -> Builder {
        Builder {
            url: url.to_string(),
            namespace: namespace.to_string(),
            op_timeout: DEFAULT_OP_TIMEOUT,
            lease: DEFAULT_LEASE,
        }
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.space.namespace
    }

    /// The backend's address, without credentials.
    pub fn server(&self) -> String {
        self.space.backend.describe()
    }

    /// The backend itself, for operations no object offers.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.space.backend
    }

    /// Fails with [`RemoteError::BackendLost`] if the backend lost this namespace's data.
    pub fn check(&self) -> Result<(), RemoteError> {
        self.space.backend.check()
    }

    /// Deletes object `name` of every kind, as if it had never been made (its data, its
    /// type, its lock state). Handles to it made afterwards start empty.
    pub fn delete(&self, name: &str) -> Result<(), RemoteError> {
        for kind in super::object::KINDS {
            let k = self.space.key(kind, name);
            for suffix in [
                "",
                ":type",
                ":unfinished",
                ":fence",
                ":died",
                ":fences",
                ":delayed",
            ] {
                self.space.backend.delete(&format!("{k}{suffix}"), None)?;
            }
        }
        Ok(())
    }
}

impl Space {
    pub(crate) fn key(&self, kind: &str, name: &str) -> String {
        key(&self.namespace, kind, name)
    }
}

/// What a handle serializes as: its namespace's URL and name, and its own name.
#[derive(Serialize, Deserialize)]
pub(crate) struct HandleWire {
    url: String,
    namespace: String,
    lease_ms: u64,
    pub name: String,
}

type Registry = HashMap<(String, String), Weak<Space>>;

// after-fork: reset by remote::context (a child reconnects: the backend sees the new pid)
static SPACES: crate::sync::Mutex<Option<Registry>> =
    crate::sync::Mutex::const_new(crate::sync::RawLock::new(), None);

// after-fork: kept (the handler itself)
static AT_FORK: crate::sys::at_fork::Handler =
    crate::sys::at_fork::Handler::child("remote::context", || SPACES.force_unlock_after_fork());

impl Remote {
    /// The shared context for `(url, namespace)` in this process, connecting if none is open.
    fn shared(w: &HandleWire) -> Result<Remote, RemoteError> {
        AT_FORK.register();
        let key = (w.url.clone(), w.namespace.clone());
        if let Some(space) = SPACES
            .lock()
            .as_ref()
            .and_then(|r| r.get(&key))
            .and_then(Weak::upgrade)
        {
            return Ok(Remote { space });
        }
        let r = Remote::builder(&w.url, &w.namespace)
            .lease(Duration::from_millis(w.lease_ms))
            .connect()?;
        r.remember();
        Ok(r)
    }

    /// Makes this context the one handles arriving in this process for its namespace use.
    pub(crate) fn remember(&self) {
        AT_FORK.register();
        let key = (self.space.backend.url(), self.space.namespace.clone());
        let mut reg = SPACES.lock();
        let reg = reg.get_or_insert_with(HashMap::new);
        reg.retain(|_, w| w.strong_count() > 0);
        reg.insert(key, Arc::downgrade(&self.space));
    }

    pub(crate) fn wire(&self, name: &str) -> HandleWire {
        HandleWire {
            url: self.space.backend.url(),
            namespace: self.space.namespace.clone(),
            lease_ms: self.space.lease.as_millis() as u64,
            name: name.to_string(),
        }
    }
}

/// Serializes a handle by reference (see [`HandleWire`]): the URL goes with it, password
/// included, as a connection string does; send handles only where the URL may go.
pub(crate) fn serialize_handle<S: Serializer>(
    remote: &Remote,
    name: &str,
    s: S,
) -> Result<S::Ok, S::Error> {
    remote.wire(name).serialize(s)
}

/// The other half of [`serialize_handle`]: the context (shared in this process) and name.
pub(crate) fn deserialize_handle<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<(Remote, String), D::Error> {
    let w = HandleWire::deserialize(d)?;
    let r = Remote::shared(&w).map_err(crate::wire::de_error)?;
    Ok((r, w.name))
}

impl Serialize for Remote {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_handle(self, "", s)
    }
}

impl<'de> Deserialize<'de> for Remote {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(deserialize_handle(d)?.0)
    }
}
