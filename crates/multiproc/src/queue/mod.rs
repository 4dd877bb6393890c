//! Queues for threads (≈ Python's `queue` module): [`Queue`] (FIFO), [`LifoQueue`],
//! [`PriorityQueue`], [`SimpleQueue`]; queues between processes in [`process`]; and the
//! vocabulary they all share, the traits [`Put`], [`Get`], [`Size`] and [`Tasks`] (see
//! [`traits`] for why: code written against them works with any queue).
//!
//! Every blocking call has three forms, following Python's `block`/`timeout` arguments:
//!
//! | Python | multiproc |
//! |---|---|
//! | `q.put(x)` | `q.put(x)` |
//! | `q.put_nowait(x)` → `queue.Full` | `q.put_nowait(x)` → `Err(Full(x))`, item returned |
//! | `q.put(x, timeout=t)` | `q.put_timeout(x, t)` |
//! | `q.get()` / `q.get_nowait()` → `queue.Empty` | `q.get()` / `q.get_nowait()` → `Err(Empty)` |
//! | `q.get(timeout=t)` | `q.get_timeout(t)` |
//! | `q.task_done()` (too many → `ValueError`) | `q.task_done()` → `Err(TaskDoneError)` |
//! | `q.join()` | `q.join()` / `q.join_timeout(t)` |
//!
//! A producer/consumer with `task_done` and `join`, as in Python's docs:
//!
//! ```
//! use multiproc::queue::Queue;
//! use std::sync::Arc;
//!
//! let q = Arc::new(Queue::new(0));
//! let worker = {
//!     let q = q.clone();
//!     multiproc::thread::Builder::new().daemon(true).spawn(move || loop {
//!         let item: u32 = q.get();
//!         let _ = item * 2; // work
//!         q.task_done().unwrap();
//!     }).unwrap()
//! };
//! for i in 0..30 { q.put(i); }
//! q.join(); // every item was processed
//! assert_eq!(q.unfinished_tasks(), 0);
//! # drop(worker);
//! ```

#[cfg(not(multiproc_loom))]
mod engine;
#[cfg(not(multiproc_loom))]
mod fifo;
#[cfg(not(multiproc_loom))]
pub mod process;
pub(crate) mod ring;
#[cfg(not(multiproc_loom))]
mod tasks;
#[cfg(not(multiproc_loom))]
pub mod traits;

#[cfg(not(multiproc_loom))]
pub use engine::{LifoQueue, PriorityQueue};
#[cfg(not(multiproc_loom))]
pub use fifo::{Queue, SimpleQueue};
#[cfg(not(multiproc_loom))]
pub use traits::{Get, Put, Size, Tasks};
