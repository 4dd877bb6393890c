//! [`ProcessPoolExecutor`] beyond one machine (≈ `concurrent.futures.ProcessPoolExecutor`
//! whose workers are [`Worker`](super::Worker)s anywhere): `submit` gives the same
//! [`Future`] as the local executors, `map` the same [`ExecutorMap`], and it implements
//! the [`Executor`](crate::futures::Executor) trait, so code written for a local executor takes it.
//!
//! ```no_run
//! use multiproc::futures::Executor;
//! use multiproc::remote;
//!
//! fn square(x: u64) -> u64 { x * x }
//!
//! let r = remote::connect("redis://127.0.0.1:6379/0", "jobs").unwrap();
//! let ex = r.executor().unwrap();
//! let f = ex.submit(square, 12).unwrap();
//! assert_eq!(f.result(), Ok(144));
//! let squares: Vec<u64> = ex.map(square, 0..10u64).unwrap().map(Result::unwrap).collect();
//! ```
//!
//! A call a worker has claimed runs to its end: `cancel` and `shutdown(cancel_futures)`
//! stop only calls still queued (Python's semantics too).

use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::context::Remote;
use super::pool::Pool;
use crate::error::{PoolError, RemoteError};
use crate::futures::{ExecutorMap, Future, MapOptions};
use crate::pool::TaskOptions;

/// An executor whose workers are remote (see the module docs).
#[derive(Debug)]
pub struct ProcessPoolExecutor {
    pool: Pool,
    shut: AtomicBool,
}

impl Remote {
    /// A remote `ProcessPoolExecutor` (tasks at most once, as [`Remote::pool`]).
    pub fn executor(&self) -> Result<ProcessPoolExecutor, RemoteError> {
        Ok(ProcessPoolExecutor::from_pool(self.pool()?))
    }
}

impl ProcessPoolExecutor {
    /// An executor over `pool`'s handle (its options: attempts, back-off).
    pub fn from_pool(pool: Pool) -> ProcessPoolExecutor {
        ProcessPoolExecutor {
            pool,
            shut: AtomicBool::new(false),
        }
    }

    fn running(&self) -> Result<&Pool, PoolError> {
        if self.shut.load(Ordering::SeqCst) {
            return Err(PoolError::Shutdown);
        }
        Ok(&self.pool)
    }

    /// `submit(fn, args)`: queues `f(args)` for a worker; its [`Future`].
    pub fn submit<A, R>(&self, f: fn(A) -> R, args: A) -> Result<Future<R>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let mut s = self
            .running()?
            .submit_slots(f, [args], TaskOptions::new)
            .map_err(shutdown_error)?;
        Ok(Future::submitted(s.remove(0)))
    }

    /// `map(fn, iterable, timeout=, buffersize=)`: results in input order. Without a
    /// `buffersize` every call is queued at once (4,096 per round trip); with one, that
    /// many ahead. `chunksize` is not used: each item is its own task.
    pub fn map_with<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
        opts: MapOptions,
    ) -> Result<ExecutorMap<'_, R>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'static,
    {
        opts.check()?;
        let pool = self.running()?;
        let mut items = items.into_iter();
        if opts.buffersize.is_none() {
            let all = pool
                .submit_slots(f, items, TaskOptions::new)
                .map_err(shutdown_error)?;
            let mut all = all.into_iter();
            return ExecutorMap::of_futures(
                &opts,
                Box::new(move || all.next().map(|s| Ok(Future::submitted(s)))),
            );
        }
        ExecutorMap::of_futures(
            &opts,
            Box::new(move || {
                let a = items.next()?;
                Some(
                    pool.submit_slots(f, [a], TaskOptions::new)
                        .map_err(shutdown_error)
                        .map(|mut s| Future::submitted(s.remove(0))),
                )
            }),
        )
    }

    /// `map(fn, iterable)`.
    pub fn map<A, R, I>(&self, f: fn(A) -> R, items: I) -> Result<ExecutorMap<'_, R>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'static,
    {
        self.map_with(f, items, MapOptions::new())
    }

    /// `shutdown(wait, cancel_futures)`: no new calls; `cancel_futures` cancels every call
    /// still queued; `wait` blocks until every other has its result.
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.shut.store(true, Ordering::SeqCst);
        self.pool.close();
        if cancel_futures {
            self.pool.cancel_queued();
        }
        if wait {
            let _ = self.pool.join();
        }
    }
}

fn shutdown_error(e: PoolError) -> PoolError {
    match e {
        PoolError::Closed => PoolError::Shutdown,
        e => e,
    }
}

/// Dropping the executor is `shutdown(wait=True)`, as leaving `with` is in Python.
impl Drop for ProcessPoolExecutor {
    fn drop(&mut self) {
        self.shutdown(true, false);
    }
}

crate::futures::forward_executor!(ProcessPoolExecutor);
