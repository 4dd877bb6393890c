//! # multiproc
//!
//! Python's `threading`, `queue`, `multiprocessing` (processes, shared memory, pipes, process
//! queues, pools, managers) and `concurrent.futures`, every wait awaitable too, built for Rust
//! on Linux: the names a Python user expects, with the conventions a Rust user
//! expects (`try_` / `_timeout` forms, RAII guards, `Result`s).
//!
//! | Python | multiproc |
//! |---|---|
//! | `threading.Thread(target=f, name=..., daemon=...)` | [`thread::Builder`]`::new().name(..).daemon(..).spawn(f)` |
//! | `t.join()` / `t.join(timeout)` | [`JoinHandle::join`](thread::JoinHandle::join) (returns the value) / `join_timeout` |
//! | `threading.Lock`, `RLock`, `Condition`, `Semaphore`, `BoundedSemaphore`, `Event`, `Barrier` | [`sync`] |
//! | `queue.Queue`, `LifoQueue`, `PriorityQueue`, `SimpleQueue` | [`queue`] |
//! | `queue.Empty`, `queue.Full`, `BrokenBarrierError`, ... | [`Empty`], [`Full`], [`BrokenBarrier`], ... ([`error`]) |
//! | `multiprocessing.Process`, `get_context`, `current_process`, ... | [`process`] |
//! | `multiprocessing.Lock()`, `Value`, `Array`, `shared_memory` | [`shared`] |
//! | `multiprocessing.Pipe`, `connection.Listener`/`Client`, `connection.wait` | [`connection`] |
//! | `multiprocessing.Queue`, `SimpleQueue`, `JoinableQueue` | [`process::Queue`] ([`queue::process`]) |
//! | `multiprocessing.Pool`, `pool.ThreadPool`, `multiprocessing.dummy.Pool`, the `threadpool` package | [`pool`] |
//! | `concurrent.futures`: `ThreadPoolExecutor`, `ProcessPoolExecutor`, `Future`, `wait`, `as_completed`; `await` | [`futures`] |
//! | `multiprocessing.Manager()`: `dict`, `list`, `Namespace`, `Queue`, `Lock`, ...; `BaseManager` | [`manager`] |
//! | the same objects on Redis, workers on any machine (Celery/RQ's job, Python's API) | [`remote`] |
//! | pymalloc, `sys._debugmallocstats()` | [`mempool`] |
//! | `multiprocessing.heap` | [`mempool::SharedHeap`] |
//!
//! ```
//! use multiproc::sync::Lock;
//! use multiproc::thread;
//! use std::sync::Arc;
//!
//! let lock = Arc::new(Lock::new());
//! let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
//! let workers: Vec<_> = (0..2)
//!     .map(|_| {
//!         let (lock, counter) = (lock.clone(), counter.clone());
//!         thread::spawn(move || {
//!             for _ in 0..10_000 {
//!                 let _held = lock.acquire();
//!                 let v = counter.load(std::sync::atomic::Ordering::Relaxed);
//!                 counter.store(v + 1, std::sync::atomic::Ordering::Relaxed);
//!             }
//!         })
//!     })
//!     .collect();
//! for w in workers {
//!     w.join().unwrap();
//! }
//! assert_eq!(counter.load(std::sync::atomic::Ordering::Relaxed), 20_000);
//! ```
//!
//! Processes need no set-up: a constructor in this library runs children before `main`.
//!
//! ```
//! use multiproc::process::Process;
//! use multiproc::shared::Value;
//!
//! let total = Value::new(0u64).unwrap();
//! let mut workers: Vec<_> = (0..4)
//!     .map(|_| Process::new(|t: Value<u64>| for _ in 0..1000 { t.with(|v| *v += 1) }, total.clone()))
//!     .collect();
//! for w in &mut workers {
//!     w.start().unwrap();
//! }
//! for w in &mut workers {
//!     w.join().unwrap();
//! }
//! assert_eq!(total.get(), 4000);
//! ```
//!
//! Linux only: the primitives are futex words, so the same types work between threads and,
//! placed in shared memory, between processes.
#![warn(missing_docs, unsafe_op_in_unsafe_fn)]

#[cfg(not(target_os = "linux"))]
compile_error!("multiproc supports Linux only: it is built on futex(2), memfd and pidfd.");

// Also under loom: `wire::seq` decodes into its parts.
#[cfg_attr(multiproc_loom, allow(dead_code))]
mod collect;
#[cfg(not(multiproc_loom))]
pub mod connection;
pub mod error;
#[cfg(not(multiproc_loom))]
pub mod futures;
#[cfg(not(multiproc_loom))]
pub mod manager;
#[cfg(not(multiproc_loom))]
pub mod mempool;
#[cfg(not(multiproc_loom))]
pub mod pool;
mod primitive;
#[cfg(not(multiproc_loom))]
pub mod process;
pub mod queue;
#[cfg(all(not(multiproc_loom), feature = "remote"))]
pub mod remote;
#[cfg(not(multiproc_loom))]
mod scope;
#[cfg(not(multiproc_loom))]
pub mod shared;
mod start_method;
pub mod sync;
#[cfg_attr(multiproc_loom, allow(dead_code, unused_imports))]
mod sys;

#[cfg(not(multiproc_loom))]
pub mod thread;
/// The ring's wake-up and task protocols, for `tests/loom.rs` (loom builds only).
#[cfg(multiproc_loom)]
#[doc(hidden)]
pub use queue::ring::model as __ring_model;
mod wire;

/// What exported macros name; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use serde;
}

pub use error::{
    BrokenBarrier, ConnectionError, ContextError, Empty, Error, Full, GetError, JoinError,
    ManagerError, OwnerDied, Panic, PoolError, ProcessError, PutError, ReleaseError, RemoteError,
    ShmError, TaskDoneError, ThreadError, Timeout, WorkerExit,
};
