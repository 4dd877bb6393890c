//! `imap` and `imap_unordered` (≈ `Pool.imap`, `IMapIterator`): results as an iterator, in
//! input order or in completion order, over an input read *lazily*: at most `read_ahead`
//! chunks are submitted and not yet consumed, so an endless input works and memory stays
//! bounded (CPython's `imap` reads its whole input first: gh-84291, gh-101586).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use super::engine::{Engine, Kind};
use super::map::{MakeChunk, progress_bar};
use super::options::Progress;
use super::result::{Control, Decode, Deliver, Target};
use crate::error::{Panic, PoolError};

/// The results of chunks, as they come back.
pub(crate) struct Chunks<R> {
    done: Mutex<Done<R>>,
    arrived: Condvar,
    decode: Decode<Vec<R>>,
}

struct Done<R> {
    by_part: HashMap<u32, Result<Vec<R>, PoolError>>,
    /// Parts in the order they completed (for `imap_unordered`).
    order: VecDeque<u32>,
}

impl<R: Send + 'static> Chunks<R> {
    fn put(&self, part: u32, r: Result<Vec<R>, PoolError>) {
        let mut d = self.done.lock().unwrap_or_else(PoisonError::into_inner);
        d.by_part.insert(part, r);
        d.order.push_back(part);
        drop(d);
        self.arrived.notify_all();
    }
}

impl<R: Send + 'static> Target for Chunks<R> {
    fn returned(&self, part: u32, bytes: &[u8]) {
        let r = match self.decode {
            Some(d) => d(bytes),
            None => Err(PoolError::Decode("no decoder for this result".into())),
        };
        self.put(part, r);
    }

    fn failed(&self, part: u32, err: PoolError) {
        self.put(part, Err(err));
    }
}

impl<R: Send + 'static> Deliver<Vec<R>> for Chunks<R> {
    fn deliver(&self, part: u32, value: Vec<R>) {
        self.put(part, Ok(value));
    }
}

/// What reading the next chunk of input gave.
pub(crate) enum Next {
    /// A chunk of `n` items went out as task `seq`.
    Submitted { seq: u64, n: usize },
    /// A chunk of `n` items could not be submitted: each of its items fails with this.
    Failed { err: PoolError, n: usize },
    /// The input iterator panicked.
    Input(Panic),
    /// The input is exhausted.
    End,
}

/// Reads the input and submits chunks (one pool kind and item type, erased).
pub(crate) trait Source<R> {
    fn next_chunk(
        &mut self,
        size: usize,
        timeout: Option<Duration>,
        chunks: &Arc<Chunks<R>>,
        part: u32,
    ) -> Next;
}

/// The [`Source`] of a pool of kind `K` over an iterator of `A`.
pub(crate) struct ChunkSource<'p, K: Kind, I, A, R> {
    pub engine: &'p Arc<Engine<K>>,
    pub items: I,
    pub make: Box<MakeChunk<'p, K, A, R>>,
}

impl<K: Kind, I: Iterator<Item = A>, A, R: Send + 'static> Source<R>
    for ChunkSource<'_, K, I, A, R>
{
    fn next_chunk(
        &mut self,
        size: usize,
        timeout: Option<Duration>,
        chunks: &Arc<Chunks<R>>,
        part: u32,
    ) -> Next {
        let items = &mut self.items;
        let chunk = match crate::thread::catch_quietly(|| items.take(size).collect::<Vec<A>>()) {
            Ok(c) => c,
            Err(p) => return Next::Input(p),
        };
        if chunk.is_empty() {
            return Next::End;
        }
        let n = chunk.len();
        let target: Arc<Chunks<R>> = chunks.clone();
        match (self.make)(chunk.into_iter(), target.clone(), part)
            .and_then(|job| self.engine.submit(job, target, part, timeout, None))
        {
            Ok(seq) => Next::Submitted { seq, n },
            Err(err) => Next::Failed { err, n },
        }
    }
}

/// The iterator of [`imap`](super::Pool::imap) and [`imap_unordered`](super::Pool::imap_unordered)
/// (≈ `IMapIterator`): yields `Ok(value)` or `Err(why)` per input item. Nothing is submitted
/// until the first `next`; set options before that.
///
/// ```
/// use multiproc::pool::ThreadPool;
///
/// let pool = ThreadPool::new(2).unwrap();
/// // An endless input: only `read_ahead` chunks are ever in flight.
/// let firsts: Vec<u64> = pool
///     .imap(|x: u64| x * x, 0..)
///     .read_ahead(8)
///     .take(5)
///     .map(Result::unwrap)
///     .collect();
/// assert_eq!(firsts, [0, 1, 4, 9, 16]);
/// ```
///
/// Dropping it cancels the chunks still queued (they never run); running ones finish and
/// their results are dropped.
pub struct IMapIterator<'p, R> {
    source: Option<Box<dyn Source<R> + 'p>>,
    chunks: Arc<Chunks<R>>,
    control: Weak<dyn Control>,
    ordered: bool,
    chunksize: usize,
    read_ahead: usize,
    timeout: Option<Duration>,
    progress: Progress,
    bar: Option<indicatif::ProgressBar>,
    started: bool,
    /// Chunks submitted and not yet consumed: part → (seq, items), and the next part.
    in_flight: HashMap<u32, (Option<u64>, usize)>,
    next_part: u32,
    /// The next part to yield (ordered).
    next_out: u32,
    buffer: VecDeque<Result<R, PoolError>>,
    /// The input's panic, yielded after the chunks before it.
    input_error: Option<Panic>,
    /// The part at which the input ended or failed.
    end_part: Option<u32>,
}

impl<'p, R: Send + 'static> IMapIterator<'p, R> {
    pub(crate) fn new(
        source: Box<dyn Source<R> + 'p>,
        decode: Decode<Vec<R>>,
        control: Weak<dyn Control>,
        ordered: bool,
        workers: usize,
    ) -> Self {
        IMapIterator {
            source: Some(source),
            chunks: Arc::new(Chunks {
                done: Mutex::new(Done {
                    by_part: HashMap::new(),
                    order: VecDeque::new(),
                }),
                arrived: Condvar::new(),
                decode,
            }),
            control,
            ordered,
            chunksize: 1,
            read_ahead: (8 * workers).max(32),
            timeout: None,
            progress: Progress::None,
            bar: None,
            started: false,
            in_flight: HashMap::new(),
            next_part: 0,
            next_out: 0,
            buffer: VecDeque::new(),
            input_error: None,
            end_part: None,
        }
    }

    /// Items per task (Python's `imap(chunksize=)`, default 1).
    ///
    /// # Panics
    /// If `n` is 0 (Python: `ValueError("Chunksize must be 1+, not 0")`), or after the first
    /// `next`.
    pub fn chunksize(mut self, n: usize) -> Self {
        assert!(n >= 1, "Chunksize must be 1+, not 0");
        assert!(!self.started, "set imap options before the first next()");
        self.chunksize = n;
        self
    }

    /// At most `n` chunks submitted and not yet consumed (Python 3.14's `buffersize`); default
    /// `max(32, 8 × workers)`.
    ///
    /// # Panics
    /// If `n` is 0, or after the first `next`.
    pub fn read_ahead(mut self, n: usize) -> Self {
        assert!(n >= 1, "read_ahead must be 1+");
        assert!(!self.started, "set imap options before the first next()");
        self.read_ahead = n;
        self
    }

    /// A time limit for each chunk once it runs (see `TaskOptions::timeout`).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// Shows a progress bar on stderr (drawn only on a terminal); its length is the input's
    /// when the iterator says it exactly.
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = if on { Progress::Bar } else { Progress::None };
        self
    }

    /// Advances the caller's bar.
    pub fn progress_bar(mut self, bar: indicatif::ProgressBar) -> Self {
        self.progress = Progress::Given(bar);
        self
    }

    /// `IMapIterator.next(timeout)`: the next result, waiting at most `timeout`;
    /// `Some(Err(PoolError::Timeout))` if none came (try again later: nothing is lost).
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<R, PoolError>> {
        self.step(crate::sync::deadline(timeout))
    }

    /// Submits the first chunks now rather than at the first `next` (an executor's `map`
    /// starts its work at once, as Python's does).
    pub(crate) fn start(&mut self) {
        self.top_up();
    }

    /// The next result, waiting until `deadline` at most.
    pub(crate) fn next_until(&mut self, deadline: Option<Instant>) -> Option<Result<R, PoolError>> {
        self.step(deadline)
    }

    fn top_up(&mut self) {
        if !self.started {
            self.started = true;
            self.bar = progress_bar(&self.progress, None);
        }
        while self.in_flight.len() < self.read_ahead && self.end_part.is_none() {
            let Some(source) = self.source.as_mut() else {
                break;
            };
            let part = self.next_part;
            match source.next_chunk(self.chunksize, self.timeout, &self.chunks, part) {
                Next::Submitted { seq, n } => {
                    self.in_flight.insert(part, (Some(seq), n));
                    self.next_part += 1;
                }
                Next::Failed { err, n } => {
                    let stop = matches!(err, PoolError::Closed | PoolError::Broken(_));
                    self.in_flight.insert(part, (None, n));
                    self.chunks.put(part, Err(err));
                    self.next_part += 1;
                    if stop {
                        // The pool no longer takes tasks: end after this chunk's errors.
                        self.end_part = Some(self.next_part);
                        self.source = None;
                    }
                }
                Next::Input(p) => {
                    self.input_error = Some(p);
                    self.end_part = Some(part);
                    self.source = None;
                }
                Next::End => {
                    self.end_part = Some(part);
                    self.source = None;
                }
            }
        }
    }

    fn step(&mut self, deadline: Option<Instant>) -> Option<Result<R, PoolError>> {
        loop {
            if let Some(item) = self.buffer.pop_front() {
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                }
                return Some(item);
            }
            self.top_up();
            if self.in_flight.is_empty() {
                if let Some(bar) = self.bar.take() {
                    bar.finish();
                }
                return self.input_error.take().map(|p| Err(PoolError::Input(p)));
            }
            let mut done = self
                .chunks
                .done
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let part = loop {
                let ready = if self.ordered {
                    done.by_part
                        .contains_key(&self.next_out)
                        .then_some(self.next_out)
                } else {
                    done.order.pop_front()
                };
                if let Some(p) = ready {
                    break p;
                }
                done = match deadline {
                    None => self
                        .chunks
                        .arrived
                        .wait(done)
                        .unwrap_or_else(PoisonError::into_inner),
                    Some(d) => {
                        let left = d.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            return Some(Err(PoolError::Timeout));
                        }
                        self.chunks
                            .arrived
                            .wait_timeout(done, left)
                            .unwrap_or_else(PoisonError::into_inner)
                            .0
                    }
                };
            };
            let r = done.by_part.remove(&part).expect("present");
            drop(done);
            if self.ordered {
                self.next_out += 1;
            }
            let (_, n) = self.in_flight.remove(&part).unwrap_or((None, 1));
            match r {
                Ok(v) => self.buffer.extend(v.into_iter().map(Ok)),
                Err(e) => self.buffer.extend((0..n).map(|_| Err(e.clone()))),
            }
        }
    }
}

impl<R: Send + 'static> Iterator for IMapIterator<'_, R> {
    type Item = Result<R, PoolError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step(None)
    }
}

impl<R> Drop for IMapIterator<'_, R> {
    fn drop(&mut self) {
        if let Some(c) = self.control.upgrade() {
            let seqs: Vec<u64> = self
                .in_flight
                .values()
                .filter_map(|(seq, _)| *seq)
                .collect();
            c.cancel_many(&seqs, false);
        }
        if let Some(bar) = self.bar.take() {
            bar.abandon();
        }
    }
}

impl<R> fmt::Debug for IMapIterator<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IMapIterator")
            .field("ordered", &self.ordered)
            .field("chunksize", &self.chunksize)
            .field("in_flight", &self.in_flight.len())
            .finish()
    }
}
