//! Beyond one machine: the same pool, queues, dict, list, `Value`, `Namespace` and locks,
//! on a Redis server, used by processes on any machine that reaches it.
//!
//! The seeds name message middleware (memcache, RabbitMQ, Redis) as the way processes share
//! data once they no longer fit one machine; CPython users get there by switching to Celery
//! or RQ, with another API. Here the API stays: [`connect`] gives a [`Remote`], a context
//! whose factories match a `Manager`'s, and whose objects speak the local vocabulary (the
//! queue traits, [`AsyncResult`](crate::pool::AsyncResult), Python's exceptions).
//!
//! | Python / local | remote |
//! |---|---|
//! | `Pool(n).apply_async(f, (a,), callback=cb)` | [`Remote::pool`] → [`Pool::apply_async`](Pool::apply_async), workers from [`Worker`] / `multiproc worker` |
//! | `ProcessPoolExecutor().submit(f, a)`, `map` | [`Remote::executor`] → [`ProcessPoolExecutor`] (the [`Executor`](crate::futures::Executor) trait, the same [`Future`](crate::futures::Future)) |
//! | `Queue(maxsize)`, `JoinableQueue`, `SimpleQueue` | [`Remote::queue`], [`Remote::joinable_queue`], [`Remote::simple_queue`] |
//! | `Manager().dict()`, `list()`, `Value`, `Namespace` | [`Remote::dict`], [`Remote::list`], [`Remote::value`], [`Remote::namespace_object`] |
//! | `Lock`, `RLock`, `Semaphore`, `BoundedSemaphore` | [`Remote::lock`], [`Remote::rlock`], [`Remote::semaphore`], [`Remote::bounded_semaphore`] |
//! | `Event`, `Condition`, `Barrier` | [`Remote::event`], [`Remote::condition`], [`Remote::barrier`] |
//!
//! Where the server is, is a URL (see [Connecting](#connecting)): `redis://`,
//! `rediss://` for TLS (`?ssl_ca_certs=ca.pem&ssl_certfile=c.pem&ssl_keyfile=k.pem` for a
//! private CA and a client certificate, redis-py's names), `redis+unix://`, and
//! `redis+cluster://host:port,host:port` for a Redis Cluster.
//!
//! Objects are named: every process that opens `r.dict::<String, u32>("ages")` in the same
//! namespace sees the same dict (the first handle fixes its types; another type is a
//! [`RemoteError::Data`]). Handles also travel by reference (serde): as `Process` or pool
//! arguments, inside queue items.
//!
//! ```no_run
//! use multiproc::remote;
//!
//! let r = remote::connect("redis://127.0.0.1:6379/0", "demo").unwrap();
//! let d = r.dict::<String, u64>("scores").unwrap();
//! let l = r.list::<u64>("seen").unwrap();
//! d.insert("a".into(), 1).unwrap();
//! l.append(7).unwrap();
//! assert_eq!(d.get(&"a".into()).unwrap(), Some(1));
//! assert_eq!(l.to_vec().unwrap(), vec![7]);
//! ```
//!
//! # Connecting
//!
//! | URL | reaches |
//! |---|---|
//! | `redis://[user[:password]@]host:port[/db]` | one server (ACL user and password) |
//! | `rediss://…` | one server over TLS, checked against the system's roots |
//! | `rediss://…?ssl_ca_certs=ca.pem[&ssl_certfile=c.pem&ssl_keyfile=k.pem]` | … against a private CA, with a client certificate (mutual TLS) |
//! | `redis+unix:///path/redis.sock` | one server on a Unix socket |
//! | `redis+cluster://host:port[,host:port…]`, `rediss+cluster://…` | a Redis Cluster, from these seeds |
//!
//! A handle sent to another process carries the URL, so TLS files are named by path.
//!
//! On a cluster, a namespace is one hash slot (every key carries the `{namespace}` tag), so
//! one node serves it: the client asks a seed which (`CLUSTER KEYSLOT`, `CLUSTER SLOTS`) and
//! talks to that node alone. When the slot moves (resharding, failover), the node's `MOVED`
//! answer sends the call on to the new node, and `ASK`/`TRYAGAIN` during a migration are
//! waited out within the call's deadline: a refused command ran nowhere, so nothing is done
//! twice. The `redis` crate's own cluster client is not used, because it re-sends a command
//! after a timeout by itself (a push whose answer was lost would be pushed twice). A
//! cluster spreads namespaces over its nodes; one namespace is as fast as one server.
//!
//! # Failure semantics
//!
//! - Every call has a deadline (its own timeout, else the connection's
//!   [`op_timeout`](Builder::op_timeout), 10 s): a server that stops answering gives
//!   [`RemoteError::Timeout`], never a hang. A dropped connection is re-made by the next
//!   call.
//! - A server that lost the namespace's data (restarted without persistence) is detected
//!   by its epoch key: [`RemoteError::BackendLost`], not a silent empty queue.
//! - Locks and semaphores are leases renewed by a keeper thread: a holder that dies frees
//!   them one [`lease`](Builder::lease) later, and the next holder is told
//!   [`RemoteError::OwnerDied`]. Fencing tokens refuse a stalled holder's late writes.
//! - Pool tasks: see [`pool`](Pool): at most once by default, `WorkerLost` for a lost
//!   worker's task; at-least-once with `max_attempts`; a result accepted exactly once.
//!
//! The objects are written against the [`Backend`] trait (see [`backend`] for what
//! RabbitMQ, NATS JetStream or memcache would need); [`Redis`] is its implementation.
//! Every key of a namespace carries the `{namespace}` hash tag, so one namespace lives in
//! one Redis Cluster slot and its scripts are cluster-safe.

mod address;
pub mod backend;
mod barrier;
mod build_id;
mod condition;
mod context;
mod dict;
mod event;
mod executor;
mod keeper;
mod list;
mod lock;
mod namespace;
mod object;
mod pool;
mod queue;
mod redis_backend;
mod scripts;
mod semaphore;
mod server;
mod task;
mod value;
mod worker;

pub use backend::Backend;
pub use barrier::Barrier;
pub use condition::Condition;
pub use context::{Builder, DEFAULT_LEASE, DEFAULT_OP_TIMEOUT, Remote};
pub use dict::Dict;
pub use event::Event;
pub use executor::ProcessPoolExecutor;
pub use list::List;
pub use lock::{Lock, LockGuard, RLock};
pub use namespace::Namespace;
pub use pool::{Builder as PoolBuilder, Pool};
#[cfg(feature = "test-hooks")]
#[doc(hidden)]
pub use queue::lose_next_get_answer;
pub use queue::{JoinableQueue, Queue, SimpleQueue};
pub use redis_backend::Redis;
pub use semaphore::{BoundedSemaphore, Semaphore};
pub use server::RedisServer;
pub use value::Value;
pub use worker::{Worker, WorkerStats, run_worker, worker_main};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::RemoteError;

/// Connects to the backend at `url` for `namespace` (≈ making a context): `redis://[user[:password]@]host:port[/db]`,
/// `rediss://` for TLS, `redis+unix:///path/to/socket`. With the default options; see
/// [`Remote::builder`] for others.
pub fn connect(url: &str, namespace: &str) -> Result<Remote, RemoteError> {
    let r = Remote::builder(url, namespace).connect()?;
    r.remember();
    Ok(r)
}

impl Remote {
    /// The queue `name` (≈ `Queue(maxsize)`; 0: unbounded). The first handle fixes the bound.
    pub fn queue<T: Serialize + DeserializeOwned>(
        &self,
        name: &str,
        maxsize: usize,
    ) -> Result<Queue<T>, RemoteError> {
        Queue::create(self, name, maxsize as u64)
    }

    /// The joinable queue `name` (≈ `JoinableQueue(maxsize)`).
    pub fn joinable_queue<T: Serialize + DeserializeOwned>(
        &self,
        name: &str,
        maxsize: usize,
    ) -> Result<JoinableQueue<T>, RemoteError> {
        JoinableQueue::create(self, name, maxsize as u64)
    }

    /// The simple queue `name` (≈ `SimpleQueue()`).
    pub fn simple_queue<T: Serialize + DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<SimpleQueue<T>, RemoteError> {
        SimpleQueue::open(self, name)
    }

    /// The dict `name` (≈ `Manager().dict()`).
    pub fn dict<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<Dict<K, V>, RemoteError> {
        Dict::open(self, name)
    }

    /// The list `name` (≈ `Manager().list()`).
    pub fn list<T: Serialize + DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<List<T>, RemoteError> {
        List::open(self, name)
    }

    /// The value `name`, set to `initial` if it has never been set (≈ `Manager().Value`).
    pub fn value<T: Serialize + DeserializeOwned>(
        &self,
        name: &str,
        initial: T,
    ) -> Result<Value<T>, RemoteError> {
        Value::create(self, name, initial)
    }

    /// The namespace object `name` (≈ `Manager().Namespace()`).
    pub fn namespace_object(&self, name: &str) -> Result<Namespace, RemoteError> {
        Namespace::open(self, name)
    }

    /// The lock `name` (≈ `Manager().Lock()`).
    pub fn lock(&self, name: &str) -> Result<Lock, RemoteError> {
        Lock::open(self, name)
    }

    /// The re-entrant lock `name` (≈ `Manager().RLock()`).
    pub fn rlock(&self, name: &str) -> Result<RLock, RemoteError> {
        RLock::open(self, name)
    }

    /// The semaphore `name` with `value` units (the first handle fixes it).
    pub fn semaphore(&self, name: &str, value: usize) -> Result<Semaphore, RemoteError> {
        Semaphore::create(self, name, value as u64, false)
    }

    /// The bounded semaphore `name` with `value` units.
    pub fn bounded_semaphore(
        &self,
        name: &str,
        value: usize,
    ) -> Result<BoundedSemaphore, RemoteError> {
        Semaphore::create(self, name, value as u64, true)
    }

    /// The event `name` (≈ `Manager().Event()`).
    pub fn event(&self, name: &str) -> Result<Event, RemoteError> {
        Event::open(self, name)
    }

    /// The condition `name` (≈ `Manager().Condition()`), with its own lock.
    pub fn condition(&self, name: &str) -> Result<Condition, RemoteError> {
        Condition::open(self, name)
    }

    /// The barrier `name` for `parties` (the first handle fixes it).
    pub fn barrier(&self, name: &str, parties: usize) -> Result<Barrier, RemoteError> {
        Barrier::create(self, name, parties as u64)
    }
}
