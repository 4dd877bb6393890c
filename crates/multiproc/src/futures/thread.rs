//! [`ThreadPoolExecutor`] (≈ `concurrent.futures.ThreadPoolExecutor`): an executor over a
//! [`ThreadPool`](crate::pool::ThreadPool).

use std::fmt;
use std::sync::atomic::AtomicBool;

use super::executor::executor_lifecycle;
use super::future::Future;
use super::map::{ExecutorMap, MapOptions};
use crate::error::PoolError;
use crate::pool::TaskOptions;
use crate::pool::{ThreadPool, ThreadPoolBuilder};

/// Runs calls on worker threads and gives [`Future`]s (≈
/// `concurrent.futures.ThreadPoolExecutor`). Functions are any closures; values are never
/// encoded.
///
/// ```
/// use multiproc::futures::ThreadPoolExecutor;
///
/// let ex = ThreadPoolExecutor::new(4).unwrap();
/// let base = 100;
/// let f = ex.submit(move |x: u32| base + x, 1).unwrap();
/// assert_eq!(f.result(), Ok(101));
/// let squares: Vec<u32> = ex.map(|x: u32| x * x, 0..5).unwrap().map(Result::unwrap).collect();
/// assert_eq!(squares, [0, 1, 4, 9, 16]);
/// ex.shutdown(true, false);
/// assert!(ex.submit(|x: u32| x, 1).is_err()); // cannot schedule new futures after shutdown
/// ```
///
/// Workers start with the executor, all of them (Python starts them as calls arrive, up to
/// `max_workers`). A call that panics fails its future with
/// [`Panicked`](PoolError::Panicked); the worker goes on. An initializer that panics breaks
/// the executor (`BrokenThreadPool`): pending futures and later submissions fail with
/// [`Broken`](PoolError::Broken).
pub struct ThreadPoolExecutor {
    pool: Option<ThreadPool>,
    shut: AtomicBool,
    joined: AtomicBool,
    max_workers: usize,
}

/// Options for a new [`ThreadPoolExecutor`] (`ThreadPoolExecutor(max_workers,
/// thread_name_prefix, initializer, initargs)`).
#[must_use = "a builder does nothing until build()"]
pub struct ThreadPoolExecutorBuilder {
    max_workers: Option<usize>,
    prefix: Option<String>,
    pool: ThreadPoolBuilder,
}

impl fmt::Debug for ThreadPoolExecutorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolExecutorBuilder")
            .field("max_workers", &self.max_workers)
            .field("thread_name_prefix", &self.prefix)
            .finish()
    }
}

/// Python's default worker count for threads: `min(32, cpu_count() + 4)`.
pub fn default_thread_workers() -> usize {
    32.min(crate::process::cpu_count() + 4)
}

impl ThreadPoolExecutorBuilder {
    /// Python's defaults: `min(32, cpu_count() + 4)` workers named
    /// `ThreadPoolExecutor-N_0`, `_1`, ..., no initializer.
    pub fn new() -> Self {
        ThreadPoolExecutorBuilder {
            max_workers: None,
            prefix: None,
            pool: ThreadPoolBuilder::new(),
        }
    }

    /// `max_workers=`; 0 is refused by `build` ("max_workers must be greater than 0").
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = Some(n);
        self
    }

    /// `thread_name_prefix=`: workers are named `{prefix}_0`, `{prefix}_1`, ...
    pub fn thread_name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// `initializer=` (with `initargs=` captured): runs in each worker as it starts; if it
    /// panics the executor is broken.
    pub fn initializer(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.pool = self.pool.initializer(f);
        self
    }

    /// Starts the executor.
    pub fn build(self) -> Result<ThreadPoolExecutor, PoolError> {
        let n = self.max_workers.unwrap_or_else(default_thread_workers);
        if n == 0 {
            return Err(PoolError::Invalid("max_workers must be greater than 0"));
        }
        // after-fork: kept (only numbers thread names)
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let prefix = self.prefix.unwrap_or_else(|| {
            let k = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            format!("ThreadPoolExecutor-{k}")
        });
        let pool = self.pool.threads(n).thread_name_prefix(prefix).build()?;
        Ok(ThreadPoolExecutor {
            pool: Some(pool),
            shut: AtomicBool::new(false),
            joined: AtomicBool::new(false),
            max_workers: n,
        })
    }
}

impl Default for ThreadPoolExecutorBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ThreadPoolExecutor {
    /// An executor of `max_workers` threads; 0 is [`PoolError::Invalid`].
    pub fn new(max_workers: usize) -> Result<ThreadPoolExecutor, PoolError> {
        ThreadPoolExecutorBuilder::new()
            .max_workers(max_workers)
            .build()
    }

    /// A builder (`max_workers`, `thread_name_prefix`, `initializer`).
    pub fn builder() -> ThreadPoolExecutorBuilder {
        ThreadPoolExecutorBuilder::new()
    }

    /// The number of workers (`_max_workers`).
    pub fn max_workers(&self) -> usize {
        self.max_workers
    }

    /// `submit(fn, args)`: schedules `f(args)`; its [`Future`].
    pub fn submit<A, R, F>(&self, f: F, args: A) -> Result<Future<R>, PoolError>
    where
        A: Send + 'static,
        R: Send + 'static,
        F: FnOnce(A) -> R + Send + 'static,
    {
        Self::submitted(self.running()?.submit_task(f, args, TaskOptions::new()))
    }

    /// `map(fn, iterable)`: results in input order (see [`ExecutorMap`]).
    pub fn map<A, R, F, I>(&self, f: F, items: I) -> Result<ExecutorMap<'_, R>, PoolError>
    where
        A: Send + 'static,
        R: Send + 'static,
        F: Fn(A) -> R + Send + Sync + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'static,
    {
        self.map_with(f, items, MapOptions::new())
    }

    /// `map(fn, iterable, timeout=, chunksize=, buffersize=)`.
    pub fn map_with<A, R, F, I>(
        &self,
        f: F,
        items: I,
        opts: MapOptions,
    ) -> Result<ExecutorMap<'_, R>, PoolError>
    where
        A: Send + 'static,
        R: Send + 'static,
        F: Fn(A) -> R + Send + Sync + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'static,
    {
        opts.check()?;
        Ok(opts.start(self.running()?.imap(f, items)))
    }
}

executor_lifecycle!(ThreadPoolExecutor, ThreadPool);

impl fmt::Debug for ThreadPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<ThreadPoolExecutor max_workers={}>", self.max_workers)
    }
}
