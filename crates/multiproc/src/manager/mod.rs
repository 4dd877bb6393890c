//! Managers (≈ `multiprocessing.managers`): a server process holds dicts, lists, namespaces,
//! values, queues and locks; any process that can reach it (children, pool workers, programs
//! on other machines) uses them through typed proxies.
//!
//! ```
//! use multiproc::manager::{DictProxy, ListProxy, Manager};
//! use multiproc::process::{Process, current_process};
//!
//! // The tutorial's example: ten processes share a dict and a list.
//! fn work((i, d, l): (u32, DictProxy<String, u32>, ListProxy<u32>)) {
//!     d.insert(i.to_string(), i + 1).unwrap();
//!     d.insert("name".into(), i).unwrap();
//!     l.append(current_process().pid).unwrap();
//! }
//!
//! let manager = Manager::start().unwrap();
//! let d = manager.dict().unwrap();
//! let l = manager.list().unwrap();
//! let mut ps: Vec<_> = (0..10).map(|i| Process::new(work, (i, d.clone(), l.clone()))).collect();
//! for p in &mut ps { p.start().unwrap(); }
//! for p in &mut ps { p.join().unwrap(); }
//! assert_eq!(d.len().unwrap(), 11);
//! assert_eq!(l.len().unwrap(), 10);
//! ```
//!
//! # What it serves
//!
//! | Python | here |
//! |---|---|
//! | `Manager()` / `SyncManager().start()` / `shutdown()` | [`Manager::start`], [`Manager::builder`], [`Manager::shutdown`] (and drop) |
//! | `BaseManager(address, authkey).connect()` | [`Manager::connect`] |
//! | `BaseManager(...).get_server().serve_forever()` | [`Server::bind`], [`Server::serve_forever`]; `multiproc manager serve` |
//! | `m.dict()`, `m.list()` | [`DictProxy`], [`ListProxy`] |
//! | `m.Namespace()`, `m.Value()`, `m.Array()` | [`Namespace`], [`ValueProxy`], [`ArrayProxy`] |
//! | `m.Queue()`, `m.JoinableQueue()` | [`QueueProxy`], [`JoinableQueueProxy`] |
//! | `m.Lock()`, `RLock`, `Semaphore`, `BoundedSemaphore` | [`AcquirerProxy`] |
//! | `m.Condition()`, `m.Event()`, `m.Barrier()` | [`ConditionProxy`], [`EventProxy`], [`BarrierProxy`] |
//! | `m.Pool(n)`, its `apply`, `apply_async`, `map`, `close`, `terminate`, `join` | [`PoolProxy`], [`ManagedResult`] |
//!
//! # Where it differs from Python, and why
//!
//! - **Data, never code.** Values cross as serde data, so a manager's port is not remote code
//!   execution (Python's is: it unpickles what clients send). The server stores each value
//!   self-described (as a `serde_value::Value`), which is what lets it sort, compare, add and count without
//!   knowing the Rust types.
//! - **Atomic updates.** `d['n'] += 1` and `d['k'].append(x)` lose updates in Python (the
//!   second always). [`DictProxy::add`], [`DictProxy::append_to`],
//!   [`DictProxy::compare_and_set`], [`DictProxy::setdefault`], [`ValueProxy::add`] and
//!   [`ListProxy::add_at`] run whole on the server.
//! - **Nested proxies work.** A proxy stored in a dict or list comes back as a proxy to the
//!   same object, from any process; writes through it are seen by all.
//! - **Batches.** [`Batch`]: many operations, one round trip.
//! - **Dead clients.** A client that dies holding a lock does not deadlock the others: the
//!   next acquirer gets it with [`ManagerError::OwnerDied`](crate::ManagerError::OwnerDied).
//!   A client that dies while waiting at a barrier breaks it.
//! - **A dead manager** fails every call with a typed error at once (the socket closes),
//!   never a hang.
//! - **Lifetime.** Objects live as long as their server (Python frees an object when its
//!   last proxy goes, by counting that races with proxies in flight).
//!
//! # Security
//!
//! Clients prove they hold the authkey (HMAC-SHA256 challenge both ways) before a request is
//! read; a request is at most 64 MiB (configurable, [`ServerOptions`]); a started request
//! must keep arriving (10 s per read); handshakes run side by side with a deadline each, and
//! every connection has its own thread, so a slow, silent or garbage-sending client stalls
//! only itself. A path socket is created mode 0600; by default a manager listens on an
//! abstract Unix name, which nothing in the filesystem names.

pub mod batch;
pub mod channel;
pub(crate) mod client;
pub(crate) mod data;
pub mod dict;
pub mod list;
#[allow(clippy::module_inception)]
mod manager;
pub mod namespace;
pub mod pool;
pub(crate) mod protocol;
pub mod queue;
pub mod register;
pub(crate) mod server;
pub mod sync;
pub mod value;

pub use batch::{Batch, BatchResults, Pending};
pub use channel::Transport;
pub use dict::DictProxy;
pub use list::{ArrayProxy, ListProxy};
pub use manager::{Manager, ManagerBuilder};
pub use namespace::Namespace;
pub use pool::{ManagedResult, PoolProxy};
pub use queue::{JoinableQueueProxy, QueueProxy};
pub use register::{Served, ServedProxy};
pub use server::{Server, ServerOptions};
pub use sync::{AcquirerProxy, BarrierProxy, ConditionProxy, EventProxy, ProxyGuard};
pub use value::ValueProxy;
