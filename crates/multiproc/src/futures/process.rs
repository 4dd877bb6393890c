//! [`ProcessPoolExecutor`] (≈ `concurrent.futures.ProcessPoolExecutor`): an executor over a
//! process [`Pool`](crate::pool::Pool).

use std::fmt;
use std::sync::atomic::AtomicBool;

use super::executor::executor_lifecycle;
use super::future::Future;
use super::map::{ExecutorMap, MapOptions};
use crate::error::PoolError;
use crate::pool::TaskOptions;
use crate::pool::{Pool, PoolBuilder};
use crate::process::{Context, Portable};

/// Runs calls in worker processes and gives [`Future`]s (≈
/// `concurrent.futures.ProcessPoolExecutor`). Functions are `fn(A) -> R`, values
/// [`Portable`] (serde), as for a [`Process`](crate::process::Process).
///
/// ```
/// use multiproc::futures::ProcessPoolExecutor;
///
/// let ex = ProcessPoolExecutor::new(2).unwrap();
/// let f = ex.submit(|(a, b): (u64, u32)| a.pow(b), (2, 8)).unwrap();
/// assert_eq!(f.result(), Ok(256));
/// let out: Vec<u64> = ex.map(|x: u64| x + 1, 0..4).unwrap().map(Result::unwrap).collect();
/// assert_eq!(out, [1, 2, 3, 4]);
/// ```
///
/// **A worker that dies** (killed, `abort`, segfault, `exit`) fails only the call it was
/// running, with [`WorkerLost`](PoolError::WorkerLost) `{ pid, exit }`; the worker is
/// replaced and the executor goes on. CPython instead marks the whole executor broken
/// (`BrokenProcessPool`) and fails every pending future: one lost call is the only loss
/// here. An initializer that fails does break it, as in Python: pending futures and later
/// submissions fail with [`Broken`](PoolError::Broken) (`BrokenProcessPool`).
pub struct ProcessPoolExecutor {
    pool: Option<Pool>,
    shut: AtomicBool,
    joined: AtomicBool,
    max_workers: usize,
}

/// Options for a new [`ProcessPoolExecutor`] (`ProcessPoolExecutor(max_workers, mp_context,
/// initializer, initargs, max_tasks_per_child)`).
#[must_use = "a builder does nothing until build()"]
pub struct ProcessPoolExecutorBuilder {
    max_workers: Option<usize>,
    max_tasks_per_child: Option<u64>,
    pool: PoolBuilder,
}

impl fmt::Debug for ProcessPoolExecutorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessPoolExecutorBuilder")
            .field("max_workers", &self.max_workers)
            .field("max_tasks_per_child", &self.max_tasks_per_child)
            .field("pool", &self.pool)
            .finish()
    }
}

impl ProcessPoolExecutorBuilder {
    /// Python's defaults: `cpu_count()` workers, the default start method, no initializer.
    pub fn new() -> Self {
        ProcessPoolExecutorBuilder {
            max_workers: None,
            max_tasks_per_child: None,
            pool: PoolBuilder::new(),
        }
    }

    /// `max_workers=`; 0 is refused by `build` ("max_workers must be greater than 0").
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = Some(n);
        self
    }

    /// `mp_context=`: workers start with this context's method.
    pub fn mp_context(mut self, ctx: Context) -> Self {
        self.pool = self.pool.start_method(ctx.get_start_method());
        self
    }

    /// `initializer=f, initargs=args`: runs in each worker as it starts; if it panics the
    /// executor is broken.
    pub fn initializer<I>(mut self, f: fn(I), args: I) -> Self
    where
        I: Portable + Clone + Send + Sync + 'static,
    {
        self.pool = self.pool.initializer(f, args);
        self
    }

    /// `max_tasks_per_child=`: a worker exits after this many calls and is replaced; 0 is
    /// refused by `build` ("max_tasks_per_child must be >= 1"). Unlike Python, any start
    /// method may be used with it (a forked worker here holds no inherited lock).
    pub fn max_tasks_per_child(mut self, n: u64) -> Self {
        self.max_tasks_per_child = Some(n);
        self
    }

    /// Starts the workers.
    pub fn build(self) -> Result<ProcessPoolExecutor, PoolError> {
        let n = self.max_workers.unwrap_or_else(crate::process::cpu_count);
        if n == 0 {
            return Err(PoolError::Invalid("max_workers must be greater than 0"));
        }
        let mut pool = self.pool.processes(n);
        match self.max_tasks_per_child {
            Some(0) => return Err(PoolError::Invalid("max_tasks_per_child must be >= 1")),
            Some(k) => pool = pool.max_tasks_per_child(k),
            None => {}
        }
        Ok(ProcessPoolExecutor {
            pool: Some(pool.build()?),
            shut: AtomicBool::new(false),
            joined: AtomicBool::new(false),
            max_workers: n,
        })
    }
}

impl Default for ProcessPoolExecutorBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcessPoolExecutor {
    /// An executor of `max_workers` processes; 0 is [`PoolError::Invalid`].
    pub fn new(max_workers: usize) -> Result<ProcessPoolExecutor, PoolError> {
        ProcessPoolExecutorBuilder::new()
            .max_workers(max_workers)
            .build()
    }

    /// A builder (`max_workers`, `mp_context`, `initializer`, `max_tasks_per_child`).
    pub fn builder() -> ProcessPoolExecutorBuilder {
        ProcessPoolExecutorBuilder::new()
    }

    /// The number of workers (`_max_workers`).
    pub fn max_workers(&self) -> usize {
        self.max_workers
    }

    /// `submit(fn, args)`: schedules `f(args)` in a worker process; its [`Future`].
    pub fn submit<A, R>(&self, f: fn(A) -> R, args: A) -> Result<Future<R>, PoolError>
    where
        A: Portable + Send,
        R: Portable + Send,
    {
        Self::submitted(self.running()?.submit_task(f, args, TaskOptions::new()))
    }

    /// `map(fn, iterable)`: results in input order (see [`ExecutorMap`]).
    pub fn map<A, R, I>(&self, f: fn(A) -> R, items: I) -> Result<ExecutorMap<'_, R>, PoolError>
    where
        A: Portable + Send,
        R: Portable + Send,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'static,
    {
        self.map_with(f, items, MapOptions::new())
    }

    /// `map(fn, iterable, timeout=, chunksize=, buffersize=)`.
    pub fn map_with<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
        opts: MapOptions,
    ) -> Result<ExecutorMap<'_, R>, PoolError>
    where
        A: Portable + Send,
        R: Portable + Send,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'static,
    {
        opts.check()?;
        Ok(opts.start(self.running()?.imap(f, items)))
    }
}

impl ProcessPoolExecutor {
    /// Stops every worker now (Python 3.14's `terminate_workers()`): calls not finished fail
    /// with [`PoolError::Terminated`] and the executor takes no more ([`PoolError::Shutdown`]).
    /// Python sends SIGTERM here and SIGKILL in `kill_workers`; a pool worker runs no
    /// handler a SIGTERM could reach, so both kill it.
    pub fn terminate_workers(&self) {
        self.shut.store(true, std::sync::atomic::Ordering::SeqCst);
        self.pool().terminate();
        let _ = self.pool().join();
        self.joined.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Kills every worker now (Python 3.14's `kill_workers()`); see
    /// [`terminate_workers`](Self::terminate_workers).
    pub fn kill_workers(&self) {
        self.terminate_workers();
    }
}

executor_lifecycle!(ProcessPoolExecutor, Pool);

impl fmt::Debug for ProcessPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<ProcessPoolExecutor max_workers={}>", self.max_workers)
    }
}
