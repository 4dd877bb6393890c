//! Pools of workers (≈ `multiprocessing.Pool`, `multiprocessing.pool.ThreadPool`,
//! `multiprocessing.dummy.Pool`): [`Pool`] runs tasks in worker processes, [`ThreadPool`] in
//! worker threads, with one API ([`Apply`]) on one engine.
//!
//! ```
//! use multiproc::pool::Pool;
//!
//! fn my_fun(i: u64) -> u64 { i + 100 }
//!
//! // The tutorials' `Pool(5).apply_async(func=myFun, args=(i,), callback=end_call)`:
//! let pool = Pool::new(5).unwrap();
//! let results: Vec<_> = (0..10)
//!     .map(|i| {
//!         let opts = multiproc::pool::TaskOptions::new()
//!             .callback(|v: &u64| println!("end_call>> {v}")); // runs in the parent
//!         pool.apply_async_with(my_fun, i, opts).unwrap()
//!     })
//!     .collect();
//! pool.close();
//! pool.join().unwrap();
//! assert!(results.iter().all(|r| r.ready()));
//! assert_eq!(results[3].get(), Ok(103));
//! ```
//!
//! | Python | multiproc |
//! |---|---|
//! | `Pool(processes, initializer, initargs, maxtasksperchild, context)` | [`Pool::new`], [`Pool::builder`], [`Context::pool`](crate::process::Context::pool) |
//! | `ThreadPool(processes)`, `multiprocessing.dummy.Pool` | [`ThreadPool::new`], [`ThreadPool::builder`] |
//! | `apply`, `apply_async(callback=, error_callback=)` | [`apply`](Pool::apply), [`apply_async`](Pool::apply_async), [`apply_async_with`](Pool::apply_async_with) + [`TaskOptions`] |
//! | `map(chunksize=)`, `map_async`, `starmap`, `starmap_async` | [`map`](Pool::map), [`map_with`](Pool::map_with) + [`MapOptions`], [`map_async`](Pool::map_async), [`starmap`](Pool::starmap) |
//! | (rayon's `par_iter().map()`) | [`ThreadPool::map_ref`]: a thread pool's `map` over a borrowed slice |
//! | `imap`, `imap_unordered`, `IMapIterator.next(timeout)` | [`imap`](Pool::imap), [`imap_unordered`](Pool::imap_unordered), [`IMapIterator::next_timeout`] |
//! | `AsyncResult.get/wait/ready/successful` | [`AsyncResult`] |
//! | `close`, `terminate`, `join` | the same |
//! | `multiprocessing.TimeoutError`, `ValueError("Pool not running")`, a worker's exception | [`PoolError::Timeout`], [`PoolError::Closed`], [`PoolError::Panicked`] |
//! | (hangs forever when a worker dies) | [`PoolError::WorkerLost`]: that task fails, the worker is replaced |
//! | (pebble's `timeout=`, billiard's time limits) | [`TaskOptions::timeout`], [`PoolBuilder::task_timeout`] → [`PoolError::TaskTimeout`] |
//! | (cancel a running task) | [`AsyncResult::cancel`] → [`PoolError::Cancelled`] |
//! | (each `map` chunk its own message) | [`PoolBuilder::group_time`]: small, fast chunks several to a message, each still a task |
//! | (mpire's insights, progress bars) | [`Pool::stats`], [`MapOptions::progress`], [`IMapIterator::progress`] |
//! | the `threadpool` package: `makeRequests`, `putRequest`, `poll`, `wait` | [`threadpool`] |
//!
//! # Functions and values
//!
//! A [`Pool`]'s function is a `fn(A) -> R` (a `fn`, or a closure that captures nothing),
//! sent to its workers by its address in this executable (see
//! [`Callable`](crate::process::Callable)); arguments and results cross by serde
//! ([`Portable`](crate::process::Portable)). A [`ThreadPool`] takes any closure and moves
//! values without encoding them. Shared objects (a process `Queue`, a `Value`, a lock) reach
//! a process pool's workers through the initializer, as in Python.
//!
//! # What happens to a task
//!
//! Each task ends exactly once: with its value, or with a [`PoolError`] saying why not. A
//! worker that dies (SIGKILL, the OOM killer, `abort`, a segfault, `exit`) fails only the task
//! it was running, with [`PoolError::WorkerLost`]; the worker is replaced and the pool goes
//! on. A task still queued when its worker died is run by another. A panicking task fails
//! with its message and location and the worker lives. Arguments or results that cannot be
//! encoded fail their task with [`PoolError::Encode`]. A killed parent takes its workers with
//! it (each has a parent-death signal).
//!
//! `callback` and `error_callback` run in the parent on the pool's handler thread, once each,
//! before the result is marked ready, as in Python: they must not block, since results wait
//! while they run.
//!
//! # Timeouts, cancelling, progress, statistics
//!
//! ```
//! use multiproc::pool::{MapOptions, ThreadPool, TaskOptions};
//! use multiproc::PoolError;
//! use std::time::Duration;
//!
//! let pool = ThreadPool::new(2).unwrap();
//! let slow = pool
//!     .apply_async_with(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 5_000,
//!         TaskOptions::new().timeout(Duration::from_millis(50)))
//!     .unwrap();
//! assert_eq!(slow.get(), Err(PoolError::TaskTimeout(Duration::from_millis(50))));
//! let squares = pool
//!     .map_with(|x: u64| x * x, 0..1000, MapOptions::new().chunksize(50).progress(true))
//!     .unwrap();
//! assert_eq!(squares[999], 998_001);
//! println!("{}", pool.stats()); // one row per worker: tasks, time in functions and transfer
//! ```
//!
//! # How it works
//!
//! One engine (`engine.rs`) keeps, in the parent, the tasks not yet handed out (in order), a
//! *board* of tickets (`ticket.rs`) and what each dispatched task's outcome is for. A process
//! pool writes tasks into one shared-memory ring that every worker reads, and its workers
//! write results into another that one handler thread reads; a worker *claims* a task on its
//! ticket with one compare-and-swap while it reads it, so a worker killed at any instruction
//! leaves the task either in the ring or claimed by name, and its death (seen through its
//! pidfd by the watcher thread, behind every result it sent) fails exactly that task. A
//! cancel or a timeout takes the ticket from `Running` to `Kill` with one compare-and-swap
//! that the worker's own `Finished` cannot also win, then stops the worker. A thread pool
//! uses a channel and the same board.
//!
//! A process pool's `map` sends small chunks that run fast several to a message, under one
//! ticket (`group.rs`): each chunk is still a task of its own (its result sent as soon as it
//! has run, the ticket's word naming the chunk running), so a death fails only that chunk
//! and the group's chunks not yet started are sent again.
//!
//! Why hand-written: no Rust crate offers a process pool that survives its workers dying
//! (procspawn's pool and rayon are the nearest; rayon runs threads only, which cannot be
//! stopped or given a time limit), and the Python semantics here (callbacks, `imap`,
//! `maxtasksperchild`, `terminate`) sit on that crash-safe core. procspawn's pool, measured
//! beside this one (`bench/procspawn/`), runs trivial tasks at about half CPython's rate and
//! holds four descriptors per task in flight (`docs/PERFORMANCE.md`).
//!
//! # Ending a pool
//!
//! [`close`](Pool::close) then [`join`](Pool::join) lets queued work finish.
//! [`terminate`](Pool::terminate) kills the workers and fails what is left with
//! [`PoolError::Terminated`]. **Dropping a pool terminates it**, as leaving Python's `with
//! Pool() as p:` block does; [`close_and_join`](Pool::close_and_join) is the drain-then-close
//! form.

/// The methods every pool has the same way (`close`, `terminate`, `join`, looking at its
/// workers), and its `Drop`: written once for [`Pool`] and [`ThreadPool`], which both wrap an
/// `engine`.
macro_rules! lifecycle {
    ($pool:ident) => {
        impl $pool {
            /// No more tasks; the workers exit once every submitted task has ended (`close`).
            pub fn close(&self) {
                self.engine.close();
            }

            /// Stops every worker now (`terminate`): unfinished tasks fail with
            /// [`PoolError::Terminated`] (CPython leaves them pending forever). A worker
            /// process is killed; a worker thread busy in a function is abandoned.
            pub fn terminate(&self) {
                self.engine.terminate();
            }

            /// Waits for the workers to exit, after `close` or `terminate` (`join`):
            /// [`PoolError::StillRunning`] before either.
            pub fn join(&self) -> Result<(), PoolError> {
                self.engine.join(None)
            }

            /// As [`join`](Self::join) for at most `timeout` ([`PoolError::Timeout`]).
            pub fn join_timeout(&self, timeout: std::time::Duration) -> Result<(), PoolError> {
                self.engine.join(crate::sync::deadline(timeout))
            }

            /// `close` then `join`: lets every submitted task finish, then ends the pool
            /// (what a Python user often expects `with Pool()` to do).
            pub fn close_and_join(self) -> Result<(), PoolError> {
                self.close();
                self.join()
            }

            /// Cancels every task no worker has started (an executor's
            /// `shutdown(cancel_futures=True)`); how many.
            pub(crate) fn cancel_all_queued(&self) -> usize {
                self.engine.cancel_all_queued()
            }

            /// Workers running a task now.
            pub fn busy(&self) -> usize {
                self.engine.busy()
            }

            /// Workers waiting for a task now.
            pub fn idle(&self) -> usize {
                self.engine.alive().saturating_sub(self.engine.busy())
            }

            /// The workers' pids (a thread pool's: their threads' native ids).
            pub fn pids(&self) -> Vec<u32> {
                self.engine.pids()
            }

            /// Statistics: tasks done and failed, each worker's time in functions and in
            /// transfer, workers started (see [`Stats`]).
            pub fn stats(&self) -> Stats {
                self.engine.stats()
            }
        }

        impl Drop for $pool {
            fn drop(&mut self) {
                self.engine.terminate();
                let _ = self.engine.join(None);
            }
        }
    };
}

mod apply;
mod context;
mod engine;
mod group;
mod imap;
pub(crate) mod listeners;
mod map;
mod options;
mod process;
pub(crate) mod result;
mod stats;
mod thread;
pub mod threadpool;
mod ticket;
mod watcher;
mod worker;

pub use apply::Apply;
pub use imap::IMapIterator;
pub use map::MapResult;
pub use options::{MapOptions, TaskOptions};
pub use process::{Pool, PoolBuilder};
pub use result::AsyncResult;
pub use stats::{Stats, WorkerStats};
pub use thread::{ThreadPool, ThreadPoolBuilder};

pub use crate::error::{PoolError, WorkerExit};
