//! `concurrent.futures` for Rust: [`ThreadPoolExecutor`], [`ProcessPoolExecutor`],
//! [`Future`], [`wait`], [`as_completed`]; and every future here is also a
//! [`std::future::Future`], to `.await` under any async runtime.
//!
//! | Python | multiproc |
//! |---|---|
//! | `ThreadPoolExecutor(max_workers, thread_name_prefix, initializer, initargs)` | [`ThreadPoolExecutor::new`], [`ThreadPoolExecutor::builder`] |
//! | `ProcessPoolExecutor(max_workers, mp_context, initializer, initargs, max_tasks_per_child)` | [`ProcessPoolExecutor::new`], [`ProcessPoolExecutor::builder`] |
//! | `ex.submit(fn, *args)` | `ex.submit(f, args)` → [`Future`] |
//! | `ex.map(fn, it, timeout=, chunksize=, buffersize=)` | `ex.map(f, it)`, `ex.map_with(f, it, `[`MapOptions`]`)` → [`ExecutorMap`] |
//! | `ex.shutdown(wait=True, cancel_futures=False)` | `ex.shutdown(wait, cancel_futures)`; dropping = `shutdown(true, false)` |
//! | `with ProcessPoolExecutor() as ex:` | a scope: the executor's `Drop` waits |
//! | `wait(fs, timeout, return_when)` | [`wait`]`(&fs, timeout, `[`FIRST_COMPLETED`]` / `[`FIRST_EXCEPTION`]` / `[`ALL_COMPLETED`]`)` → [`DoneAndNotDone`] |
//! | `as_completed(fs, timeout)` | [`as_completed`]`(&fs, timeout)` |
//! | `CancelledError`, `TimeoutError`, `BrokenProcessPool`, `BrokenThreadPool` | [`PoolError`]`::{Cancelled, Timeout, Broken}`, plus `WorkerLost` (see below) |
//! | `asyncio.wrap_future(f)`, `loop.run_in_executor` | `f.await` |
//!
//! ```
//! use multiproc::futures::{ProcessPoolExecutor, as_completed};
//!
//! fn is_prime(n: u64) -> bool {
//!     n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
//! }
//!
//! let ex = ProcessPoolExecutor::new(2).unwrap();
//! let numbers = [112_272_535_095_293u64, 115_797_848_077_099, 1_099_726_899_285_419];
//! let fs: Vec<_> = numbers.iter().map(|&n| ex.submit(is_prime, n).unwrap()).collect();
//! let primes = as_completed(&fs, None).filter(|f| f.as_ref().unwrap().result() == Ok(true)).count();
//! assert_eq!(primes, 2);
//! ```
//!
//! # How it is built
//!
//! The executors are the pools of [`crate::pool`] underneath: `submit` is `apply_async`,
//! `map` is a lazy `imap`, `shutdown` is `close` (and `cancel_futures` cancels every task no
//! worker has claimed), so they inherit the pools' guarantees: a call ends exactly once;
//! a dead worker fails only its own call, with [`PoolError::WorkerLost`], and is replaced.
//! (CPython's `ProcessPoolExecutor` breaks: every pending future fails with
//! `BrokenProcessPool` and the executor must be rebuilt.) A [`Future`] is the pool's result
//! slot with Python's future methods over it; its done-callbacks and the wakers of tasks
//! awaiting it are run by the thread that completes the call.
//!
//! # Async
//!
//! [`Future`] and the pools' [`AsyncResult`](crate::pool::AsyncResult) are
//! [`std::future::Future`]s, woken by the thread that completes them: no thread of ours
//! waits for them. So are the waits of the rest of the library, which no completing
//! thread of ours knows about; they are woken by a watcher thread started on first use
//! (`sync/reactor.rs`):
//!
//! | blocking | awaitable |
//! |---|---|
//! | [`Process::join`](crate::process::Process::join) | [`Process::join_async`](crate::process::Process::join_async) |
//! | [`Connection::recv`](crate::connection::Connection::recv), `recv_bytes`, `poll` | [`recv_async`](crate::connection::Connection::recv_async), [`recv_bytes_async`](crate::connection::Connection::recv_bytes_async), [`poll_async`](crate::connection::Connection::poll_async) |
//! | [`Queue::get`](crate::process::Queue::get), `put` (processes) | [`get_async`](crate::process::Queue::get_async), [`put_async`](crate::process::Queue::put_async) |
//! | [`Event::wait`](crate::sync::Event::wait) | [`Event::wait_async`](crate::sync::Event::wait_async) |
//! | [`Lock::acquire`](crate::sync::Lock::acquire) | [`Lock::acquire_async`](crate::sync::Lock::acquire_async) |
//! | [`Semaphore::acquire`](crate::sync::Semaphore::acquire) (and `BoundedSemaphore`) | [`Semaphore::acquire_async`](crate::sync::Semaphore::acquire_async) |
//!
//! None needs a particular runtime, and the library depends on none.
//!
//! ```
//! use multiproc::futures::{ProcessPoolExecutor, block_on};
//!
//! let ex = ProcessPoolExecutor::new(2).unwrap();
//! let total = block_on(async {
//!     let a = ex.submit(|x: u64| x * 2, 20).unwrap();
//!     let b = ex.submit(|x: u64| x + 1, 1).unwrap();
//!     a.await.unwrap() + b.await.unwrap()
//! });
//! assert_eq!(total, 42);
//! ```

mod as_completed;
mod block_on;
mod executor;
mod future;
mod map;
mod process;
mod thread;
mod wait;

pub use as_completed::{AsCompleted, as_completed};
pub use block_on::block_on;
pub use executor::Executor;
pub(crate) use executor::forward_executor;
pub use future::Future;
pub use map::{ExecutorMap, MapOptions};
pub use process::{ProcessPoolExecutor, ProcessPoolExecutorBuilder};
pub use thread::{ThreadPoolExecutor, ThreadPoolExecutorBuilder, default_thread_workers};
pub use wait::{ALL_COMPLETED, DoneAndNotDone, FIRST_COMPLETED, FIRST_EXCEPTION, ReturnWhen, wait};

pub use crate::error::PoolError;
