//! An executor's `map` (≈ `Executor.map(fn, *iterables, timeout, chunksize, buffersize)`):
//! results in input order, as an iterator.

use std::fmt;
use std::time::{Duration, Instant};

use std::collections::VecDeque;

use super::Future;
use crate::error::PoolError;
use crate::pool::IMapIterator;

/// Options of an executor's `map`: Python's keyword arguments.
#[derive(Debug, Clone, Copy, Default)]
#[must_use]
pub struct MapOptions {
    pub(crate) timeout: Option<Duration>,
    pub(crate) chunksize: Option<usize>,
    pub(crate) buffersize: Option<usize>,
}

impl MapOptions {
    /// Python's defaults: no timeout, chunks of 1, every call submitted at once.
    pub fn new() -> MapOptions {
        MapOptions::default()
    }

    /// `timeout=`: the whole `map` must end within this, counted from the call; the item that
    /// would come later is `Err(Timeout)`, and the iteration ends (the calls not yet started
    /// are cancelled).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// `chunksize=`: items sent to a worker together. Python honours it for processes only;
    /// here both executors do (a thread pool gains from it too). 0 is refused by `map`.
    pub fn chunksize(mut self, n: usize) -> Self {
        self.chunksize = Some(n);
        self
    }

    /// `buffersize=` (Python 3.14): at most `n` chunks submitted ahead of the one being
    /// consumed, and the input read lazily, so an endless input works. Without it, as in
    /// Python, the whole input is read and submitted when `map` is called. 0 is refused, and
    /// so is a `buffersize` with a `timeout`, as in Python 3.14.
    pub fn buffersize(mut self, n: usize) -> Self {
        self.buffersize = Some(n);
        self
    }

    pub(crate) fn check(&self) -> Result<(), PoolError> {
        if self.chunksize == Some(0) {
            return Err(PoolError::Invalid("chunksize must be >= 1."));
        }
        if self.buffersize == Some(0) {
            return Err(PoolError::Invalid("buffersize must be None or >= 1."));
        }
        if self.buffersize.is_some() && self.timeout.is_some() {
            return Err(PoolError::Invalid(
                "cannot specify both buffersize and timeout.",
            ));
        }
        Ok(())
    }

    /// Sets up and starts the pool's `imap` under these options.
    pub(crate) fn start<'p, R: Send + 'static>(
        &self,
        imap: IMapIterator<'p, R>,
    ) -> ExecutorMap<'p, R> {
        let started = Instant::now();
        let mut imap = imap
            .chunksize(self.chunksize.unwrap_or(1))
            .read_ahead(self.buffersize.unwrap_or(usize::MAX));
        imap.start();
        ExecutorMap {
            source: Some(Source::IMap(Box::new(imap))),
            deadline: self.timeout.map(|t| started + t),
        }
    }
}

/// The iterator of an executor's `map`: `Ok(value)` per input item in order, until the
/// first `Err` (a call's failure, or `Timeout`), after which it ends, as Python's generator
/// does when it raises. Dropping it cancels the calls not yet started.
pub struct ExecutorMap<'p, R: Send + 'static> {
    source: Option<Source<'p, R>>,
    deadline: Option<Instant>,
}

/// Submits the next item's call: `None` when the input is exhausted.
pub(crate) type SubmitNext<'p, R> = Box<dyn FnMut() -> Option<Result<Future<R>, PoolError>> + 'p>;

/// Where a map's results come from.
enum Source<'p, R: Send + 'static> {
    /// A local pool's lazy `imap`.
    IMap(Box<IMapIterator<'p, R>>),
    /// Futures of calls submitted ahead (a remote executor): at most `ahead` in flight,
    /// the next submitted as each result is taken.
    Futures {
        inflight: VecDeque<Future<R>>,
        next: SubmitNext<'p, R>,
        ahead: usize,
    },
}

impl<'p, R: Send + 'static> ExecutorMap<'p, R> {
    /// A map over calls `next` submits, `ahead` at a time (`usize::MAX`: all at once),
    /// under `opts`' timeout.
    pub(crate) fn of_futures(
        opts: &MapOptions,
        mut next: SubmitNext<'p, R>,
    ) -> Result<Self, PoolError> {
        let ahead = opts.buffersize.unwrap_or(usize::MAX);
        let started = Instant::now();
        let mut inflight = VecDeque::new();
        while inflight.len() < ahead {
            match next() {
                Some(f) => inflight.push_back(f?),
                None => break,
            }
        }
        Ok(ExecutorMap {
            source: Some(Source::Futures {
                inflight,
                next,
                ahead,
            }),
            deadline: opts.timeout.map(|t| started + t),
        })
    }
}

impl<R: Send + 'static> Iterator for ExecutorMap<'_, R> {
    type Item = Result<R, PoolError>;

    fn next(&mut self) -> Option<Self::Item> {
        let r = match self.source.as_mut()? {
            Source::IMap(imap) => imap.next_until(self.deadline),
            Source::Futures {
                inflight,
                next,
                ahead,
            } => {
                let f = inflight.pop_front()?;
                let r = f.take_until(self.deadline);
                if inflight.len() < *ahead
                    && let Some(more) = next()
                {
                    match more {
                        Ok(f) => inflight.push_back(f),
                        Err(e) => return Some(Err(e)),
                    }
                }
                Some(r)
            }
        };
        if !matches!(r, Some(Ok(_))) {
            // Ends the iteration; dropping the source cancels what has not started.
            self.source = None;
        }
        r
    }
}

impl<R: Send + 'static> Drop for ExecutorMap<'_, R> {
    fn drop(&mut self) {
        if let Some(Source::Futures { inflight, .. }) = &self.source {
            for f in inflight {
                f.cancel();
            }
        }
    }
}

impl<R: Send + 'static> fmt::Debug for ExecutorMap<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecutorMap")
            .field("running", &self.source.is_some())
            .field("deadline", &self.deadline)
            .finish()
    }
}
