//! Python's keyword arguments, as option values: [`TaskOptions`] for `apply_async`
//! (`callback`, `error_callback`, plus a per-task `timeout`) and [`MapOptions`] for the `map`
//! family (`chunksize`, the callbacks of `map_async`, a timeout per chunk, a progress bar).

use std::time::{Duration, Instant};

use super::result::Callbacks;
use crate::error::PoolError;

/// How long a submission may wait for room in a bounded pool (`PoolBuilder::max_queued`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) enum Room {
    /// Wait as long as it takes (`apply_async`).
    #[default]
    Wait,
    /// Until this time (`apply_async_timeout`; `try_apply_async` is now).
    Until(Instant),
}

impl Room {
    pub(crate) fn deadline(self) -> Option<Instant> {
        match self {
            Room::Wait => None,
            Room::Until(d) => Some(d),
        }
    }
}

/// The options of one task: Python's `apply_async(callback=, error_callback=)`, and a timeout.
///
/// ```
/// use multiproc::pool::{TaskOptions, ThreadPool};
/// use std::sync::mpsc;
///
/// let pool = ThreadPool::new(2).unwrap();
/// let (tx, rx) = mpsc::channel();
/// let r = pool
///     .apply_async_with(|x: u32| x + 100, 1, TaskOptions::new().callback(move |v: &u32| tx.send(*v).unwrap()))
///     .unwrap();
/// assert_eq!(r.get(), Ok(101));
/// assert_eq!(rx.recv().unwrap(), 101); // ran before get() returned, on the pool's handler thread
/// ```
pub struct TaskOptions<R> {
    pub(crate) callbacks: Callbacks<R>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) room: Room,
}

impl<R> Default for TaskOptions<R> {
    fn default() -> Self {
        TaskOptions::new()
    }
}

impl<R> std::fmt::Debug for TaskOptions<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskOptions")
            .field("callback", &self.callbacks.ok.is_some())
            .field("error_callback", &self.callbacks.err.is_some())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl<R> TaskOptions<R> {
    /// No callbacks, the pool's default timeout.
    pub fn new() -> TaskOptions<R> {
        TaskOptions {
            callbacks: Callbacks::none(),
            timeout: None,
            room: Room::Wait,
        }
    }

    /// Called with the result when the task succeeds (`callback=`): once, on the pool's
    /// handler thread, before the result is marked ready. It must not block, as in Python
    /// (the handler delivers every other result meanwhile).
    pub fn callback(mut self, f: impl FnOnce(&R) + Send + 'static) -> Self {
        self.callbacks.ok = Some(Box::new(f));
        self
    }

    /// Called with the error when the task fails (`error_callback=`): once, as `callback`.
    pub fn error_callback(mut self, f: impl FnOnce(&PoolError) + Send + 'static) -> Self {
        self.callbacks.err = Some(Box::new(f));
        self
    }

    /// A time limit for the task once it runs (beyond Python, as pebble's `schedule(timeout=)`):
    /// past it, the worker is stopped and replaced and the task fails with
    /// [`PoolError::TaskTimeout`]. Overrides the pool's default.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }
}

/// Where a `map`'s progress is shown.
#[derive(Debug, Clone, Default)]
pub(crate) enum Progress {
    #[default]
    None,
    /// A bar of ours on stderr (drawn only when stderr is a terminal).
    Bar,
    /// The caller's bar.
    Given(indicatif::ProgressBar),
}

/// The options of a `map`, `map_async`, `imap` or `starmap`: Python's `chunksize=`, the
/// callbacks of `map_async`, and beyond Python a timeout per chunk and a progress bar.
///
/// ```
/// use multiproc::pool::{MapOptions, ThreadPool};
///
/// let pool = ThreadPool::new(2).unwrap();
/// let squares = pool.map_with(|x: u64| x * x, 0..10, MapOptions::new().chunksize(3)).unwrap();
/// assert_eq!(squares, (0..10).map(|x| x * x).collect::<Vec<_>>());
/// ```
pub struct MapOptions<R> {
    pub(crate) chunksize: Option<usize>,
    pub(crate) callbacks: Callbacks<Vec<R>>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) progress: Progress,
}

impl<R> Default for MapOptions<R> {
    fn default() -> Self {
        MapOptions::new()
    }
}

impl<R> std::fmt::Debug for MapOptions<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MapOptions")
            .field("chunksize", &self.chunksize)
            .field("timeout", &self.timeout)
            .field("progress", &!matches!(self.progress, Progress::None))
            .finish()
    }
}

impl<R> MapOptions<R> {
    /// Python's defaults: the chunk size worked out from the input's length, no callbacks.
    pub fn new() -> MapOptions<R> {
        MapOptions {
            chunksize: None,
            callbacks: Callbacks::none(),
            timeout: None,
            progress: Progress::None,
        }
    }

    /// Items per task (`chunksize=`); at least 1.
    pub fn chunksize(mut self, n: usize) -> Self {
        self.chunksize = Some(n);
        self
    }

    /// `map_async(callback=)`: called with the whole result list.
    pub fn callback(mut self, f: impl FnOnce(&Vec<R>) + Send + 'static) -> Self {
        self.callbacks.ok = Some(Box::new(f));
        self
    }

    /// `map_async(error_callback=)`: called with the first failure.
    pub fn error_callback(mut self, f: impl FnOnce(&PoolError) + Send + 'static) -> Self {
        self.callbacks.err = Some(Box::new(f));
        self
    }

    /// A time limit for each chunk once it runs (see [`TaskOptions::timeout`]).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// Shows a progress bar on stderr while the map runs (drawn only on a terminal).
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = if on { Progress::Bar } else { Progress::None };
        self
    }

    /// Advances the caller's bar (its length is set to the number of items when known).
    pub fn progress_bar(mut self, bar: indicatif::ProgressBar) -> Self {
        self.progress = Progress::Given(bar);
        self
    }
}

/// Python's default chunk size for `map`: `ceil(len / (4 * workers))` (0 for an empty input).
pub(crate) fn default_chunksize(len: usize, workers: usize) -> usize {
    len.div_ceil(4 * workers.max(1))
}

/// A chunk size from the options, or Python's rule; 0 is `ValueError` in Python.
pub(crate) fn chunksize(
    asked: Option<usize>,
    len: usize,
    workers: usize,
) -> Result<usize, PoolError> {
    match asked {
        Some(0) => Err(PoolError::Invalid("Chunksize must be 1+, not 0")),
        Some(n) => Ok(n),
        None => Ok(default_chunksize(len, workers).max(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pythons_chunksize_rule() {
        // Pool(4).map over 100 items: divmod(100, 16) = (6, 4) -> 7.
        assert_eq!(default_chunksize(100, 4), 7);
        assert_eq!(default_chunksize(0, 4), 0);
        assert_eq!(default_chunksize(1, 4), 1);
        assert_eq!(default_chunksize(1_000_000, 2), 125_000);
        assert!(chunksize(Some(0), 10, 2).is_err());
        assert_eq!(chunksize(None, 0, 2).unwrap(), 1);
    }
}
