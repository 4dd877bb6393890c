//! [`Executor`]: what both executors do (≈ `concurrent.futures.Executor`), for code written
//! once for threads and processes; and their shared lifecycle (`shutdown`, `Drop`).

use super::future::Future;
use super::map::{ExecutorMap, MapOptions};
use crate::error::PoolError;
use crate::process::Portable;

/// The executor API over threads and processes (≈ the `Executor` base class). Functions are
/// `fn(A) -> R` and values [`Portable`], what both can carry; a
/// [`ThreadPoolExecutor`](super::ThreadPoolExecutor)'s own methods also take closures.
///
/// ```
/// use multiproc::futures::{Executor, ProcessPoolExecutor, ThreadPoolExecutor};
///
/// fn total<E: Executor>(ex: &E) -> u64 {
///     ex.map(|x: u64| x * x, 0..10).unwrap().map(Result::unwrap).sum()
/// }
/// assert_eq!(total(&ThreadPoolExecutor::new(2).unwrap()), 285);
/// assert_eq!(total(&ProcessPoolExecutor::new(2).unwrap()), 285);
/// ```
pub trait Executor {
    /// `submit(fn, args)`: schedules `f(args)`; its [`Future`].
    fn submit<A: Portable + Send, R: Portable + Send>(
        &self,
        f: fn(A) -> R,
        args: A,
    ) -> Result<Future<R>, PoolError>;

    /// `map(fn, iterable, timeout=, chunksize=, buffersize=)`.
    fn map_with<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
        opts: MapOptions,
    ) -> Result<ExecutorMap<'_, R>, PoolError>
    where
        A: Portable + Send,
        R: Portable + Send,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'static;

    /// `map(fn, iterable)`.
    fn map<A, R, I>(&self, f: fn(A) -> R, items: I) -> Result<ExecutorMap<'_, R>, PoolError>
    where
        A: Portable + Send,
        R: Portable + Send,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'static,
    {
        self.map_with(f, items, MapOptions::new())
    }

    /// `shutdown(wait, cancel_futures)`.
    fn shutdown(&self, wait: bool, cancel_futures: bool);
}

/// `shutdown` and `Drop`, written once for both executors (each wraps a `pool` field, an
/// `Option` of a pool, and the `shut` and `joined` flags).
macro_rules! executor_lifecycle {
    ($ex:ident, $pool:ty) => {
        impl $ex {
            fn pool(&self) -> &$pool {
                self.pool
                    .as_ref()
                    .expect("the pool lives as long as the executor")
            }

            /// Refuses work once shut down; maps the pool's "not running" to Python's
            /// "cannot schedule new futures after shutdown".
            fn running(&self) -> Result<&$pool, PoolError> {
                if self.shut.load(std::sync::atomic::Ordering::SeqCst) {
                    return Err(PoolError::Shutdown);
                }
                Ok(self.pool())
            }

            fn submitted<R: Send + 'static>(
                r: Result<crate::pool::result::Submitted<R>, PoolError>,
            ) -> Result<Future<R>, PoolError> {
                match r {
                    Ok(s) => Ok(Future::submitted(s)),
                    Err(PoolError::Closed) => Err(PoolError::Shutdown),
                    Err(e) => Err(e),
                }
            }

            /// `shutdown(wait, cancel_futures)`: no new calls from now on.
            /// `cancel_futures` cancels every call no worker has started (their futures
            /// end [`Cancelled`](PoolError::Cancelled)); the others run to the end. `wait`
            /// blocks until they have and the workers have exited; without it the workers
            /// finish in the background. Calling it again is harmless.
            pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
                self.shut.store(true, std::sync::atomic::Ordering::SeqCst);
                if cancel_futures {
                    self.pool().cancel_all_queued();
                }
                self.pool().close();
                if wait {
                    let _ = self.pool().join();
                    self.joined.store(true, std::sync::atomic::Ordering::SeqCst);
                }
            }

            /// Workers running a call now.
            pub fn busy(&self) -> usize {
                self.pool().busy()
            }

            /// The workers' pids (a thread executor's: their threads' native ids).
            pub fn pids(&self) -> Vec<u32> {
                self.pool().pids()
            }

            /// Statistics of the pool underneath (see [`Stats`](crate::pool::Stats)).
            pub fn stats(&self) -> crate::pool::Stats {
                self.pool().stats()
            }
        }

        /// Dropping an executor is `shutdown(wait = true)`, as leaving Python's `with` block:
        /// every call submitted runs to its end first. After `shutdown(wait = false)` it
        /// does not wait: the workers finish in the background.
        impl Drop for $ex {
            fn drop(&mut self) {
                use std::sync::atomic::Ordering;
                if !self.shut.load(Ordering::SeqCst) {
                    self.shutdown(true, false);
                    return;
                }
                if self.joined.load(Ordering::SeqCst) {
                    return;
                }
                let Some(pool) = self.pool.take() else { return };
                let joiner = std::thread::Builder::new()
                    .name(concat!(stringify!($ex), "-joiner").into())
                    .spawn(move || {
                        let _ = pool.join();
                    });
                if let Err(e) = joiner {
                    crate::sys::io::write_stderr(
                        format!("cannot start a thread to finish the executor's work: {e}\n")
                            .as_bytes(),
                    );
                }
            }
        }

        $crate::futures::forward_executor!($ex);
    };
}
pub(crate) use executor_lifecycle;

/// The [`Executor`] trait for a type whose inherent `submit`, `map_with` and `shutdown`
/// already do the work: written once for the local executors and the remote one.
macro_rules! forward_executor {
    ($ex:ty) => {
        impl $crate::futures::Executor for $ex {
            fn submit<A: $crate::process::Portable + Send, R: $crate::process::Portable + Send>(
                &self,
                f: fn(A) -> R,
                args: A,
            ) -> Result<$crate::futures::Future<R>, $crate::PoolError> {
                <$ex>::submit(self, f, args)
            }

            fn map_with<A, R, I>(
                &self,
                f: fn(A) -> R,
                items: I,
                opts: $crate::futures::MapOptions,
            ) -> Result<$crate::futures::ExecutorMap<'_, R>, $crate::PoolError>
            where
                A: $crate::process::Portable + Send,
                R: $crate::process::Portable + Send,
                I: IntoIterator<Item = A>,
                I::IntoIter: 'static,
            {
                <$ex>::map_with(self, f, items, opts)
            }

            fn shutdown(&self, wait: bool, cancel_futures: bool) {
                <$ex>::shutdown(self, wait, cancel_futures)
            }
        }
    };
}
pub(crate) use forward_executor;
