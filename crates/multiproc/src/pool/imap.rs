//! `imap` and `imap_unordered` (≈ `Pool.imap`, `IMapIterator`): results as an iterator, in
//! input order or in completion order, over an input read *lazily*: at most `read_ahead`
//! chunks are submitted and not yet consumed, so an endless input works and memory stays
//! bounded (CPython's `imap` reads its whole input first: gh-84291, gh-101586).
//!
//! A process pool sends small chunks that are seen to run fast several to a message, as
//! its `map` does (`group.rs`): each chunk is still a task of its own, and Python's default
//! `chunksize=1` costs a fraction of a task per item.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use super::engine::{Engine, Kind};
use super::map::{MakeChunk, progress_bar};
use super::options::Progress;
use super::result::{Control, Decode, Deliver, Target};
use crate::error::{Panic, PoolError};
use crate::primitive::SpinWait;

/// The adaptive window (see [`IMapIterator::read_ahead`]) holds about this much work per
/// worker, and at most [`MAX_WINDOW`] chunks.
const WINDOW_NS: u64 = 4_000_000;
const MAX_WINDOW: usize = 4096;

/// The results of chunks, as they come back.
pub(crate) struct Chunks<R> {
    done: Mutex<Done<R>>,
    arrived: Condvar,
    decode: Decode<Vec<R>>,
    /// Chunks ended so far (read without the lock, to size groups: `group.rs`).
    ended: AtomicU64,
}

/// Values by part number. Parts are numbered densely and taken out near the oldest, so a
/// deque indexed from the oldest part not yet taken does a map's work without hashing
/// (two `HashMap`s per item were a tenth of an `imap`'s time at chunksize 1).
struct Window<T> {
    cells: VecDeque<Cell<T>>,
    /// The part at `cells[0]`.
    base: u32,
    /// Cells holding a value.
    live: usize,
}

enum Cell<T> {
    /// Not put yet.
    Empty,
    Full(T),
    /// Taken out.
    Gone,
}

impl<T> Window<T> {
    fn new() -> Window<T> {
        Window {
            cells: VecDeque::new(),
            base: 0,
            live: 0,
        }
    }

    fn len(&self) -> usize {
        self.live
    }

    fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Puts part `part`'s value (ignored for a part taken out already).
    fn insert(&mut self, part: u32, v: T) {
        let Some(i) = part.checked_sub(self.base) else {
            return;
        };
        let i = i as usize;
        if self.cells.len() <= i {
            self.cells.resize_with(i + 1, || Cell::Empty);
        }
        if let Cell::Empty = self.cells[i] {
            self.cells[i] = Cell::Full(v);
            self.live += 1;
        }
    }

    /// Takes part `part`'s value out, if it is there.
    fn remove(&mut self, part: u32) -> Option<T> {
        let i = part.checked_sub(self.base)? as usize;
        let cell = self.cells.get_mut(i)?;
        if !matches!(cell, Cell::Full(_)) {
            return None;
        }
        let Cell::Full(v) = std::mem::replace(cell, Cell::Gone) else {
            unreachable!("matched just above")
        };
        self.live -= 1;
        while let Some(Cell::Gone) = self.cells.front() {
            self.cells.pop_front();
            self.base += 1;
        }
        Some(v)
    }

    fn values(&self) -> impl Iterator<Item = &T> {
        self.cells.iter().filter_map(|c| match c {
            Cell::Full(v) => Some(v),
            _ => None,
        })
    }
}

struct Done<R> {
    by_part: Window<Result<Vec<R>, PoolError>>,
    /// Parts in the order they completed (for `imap_unordered`).
    order: VecDeque<u32>,
    /// The iterator waits on `arrived`. A chunk that ends while it does not costs no
    /// wake-up (`Condvar::notify_all` makes a `futex` call whether or not anyone waits).
    waiting: bool,
}

impl<R: Send + 'static> Chunks<R> {
    fn put(&self, part: u32, r: Result<Vec<R>, PoolError>) {
        let mut d = self.done.lock().unwrap_or_else(PoisonError::into_inner);
        d.by_part.insert(part, r);
        d.order.push_back(part);
        let wake = d.waiting;
        drop(d);
        self.ended.fetch_add(1, Ordering::Relaxed);
        if wake {
            self.arrived.notify_all();
        }
    }

    /// Chunks ended so far.
    pub(crate) fn ended(&self) -> u64 {
        self.ended.load(Ordering::Relaxed)
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
    /// `count` chunks went out as tasks `seq..seq + count` (several: a group, `group.rs`),
    /// each of `n` items but the last, of `last`.
    Submitted {
        seq: u64,
        n: usize,
        count: u32,
        last: usize,
    },
    /// A chunk of `n` items could not be submitted: each of its items fails with this.
    Failed { err: PoolError, n: usize },
    /// The input iterator panicked.
    Input(Panic),
    /// The input is exhausted.
    End,
}

/// Reads the input and submits chunks (one pool kind and item type, erased).
pub(crate) trait Source<R> {
    /// Reads and submits the next chunk of at most `size` items as part `part`, or (a
    /// process pool's) up to `room` such chunks, parts `part..`, in one group.
    fn next_chunk(
        &mut self,
        size: usize,
        timeout: Option<Duration>,
        chunks: &Arc<Chunks<R>>,
        part: u32,
        room: usize,
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
        _room: usize,
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
            Ok(seq) => Next::Submitted {
                seq,
                n,
                count: 1,
                last: n,
            },
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
    /// The window: chunks submitted and not yet consumed, at most. The user's, or grown
    /// from [`min_window`] as the chunks are seen to run fast (`adaptive`).
    read_ahead: usize,
    adaptive: bool,
    min_window: usize,
    workers: usize,
    /// When the first chunk went out (to measure how fast chunks end).
    since: Option<Instant>,
    timeout: Option<Duration>,
    progress: Progress,
    bar: Option<indicatif::ProgressBar>,
    started: bool,
    /// Chunks submitted and not yet consumed: part → (seq, items), and the next part.
    in_flight: Window<(Option<u64>, usize)>,
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
                    by_part: Window::new(),
                    order: VecDeque::new(),
                    waiting: false,
                }),
                arrived: Condvar::new(),
                decode,
                ended: AtomicU64::new(0),
            }),
            control,
            ordered,
            chunksize: 1,
            read_ahead: (8 * workers).max(32),
            adaptive: true,
            min_window: (8 * workers).max(32),
            workers: workers.max(1),
            since: None,
            timeout: None,
            progress: Progress::None,
            bar: None,
            started: false,
            in_flight: Window::new(),
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

    /// At most `n` chunks submitted and not yet consumed (Python 3.14's `buffersize`).
    ///
    /// By default the window adapts: `max(32, 8 × workers)` chunks at first, growing (up
    /// to 4,096) while chunks are seen to end fast, so that about 4 ms of work per
    /// worker is in flight. Slow chunks (or large ones, which take long to send) keep the
    /// window small; tiny fast ones would otherwise leave the workers waiting for the next
    /// chunk to be read.
    ///
    /// # Panics
    /// If `n` is 0, or after the first `next`.
    pub fn read_ahead(mut self, n: usize) -> Self {
        assert!(n >= 1, "read_ahead must be 1+");
        assert!(!self.started, "set imap options before the first next()");
        self.read_ahead = n;
        self.adaptive = false;
        self
    }

    /// The adaptive window now: chunks for [`WINDOW_NS`] of work per worker at the pace
    /// measured so far (an overestimate of a chunk's time while the workers wait, which
    /// only keeps the window smaller), within `min_window..=MAX_WINDOW`.
    fn adapt(&mut self) {
        let (Some(since), true) = (self.since, self.adaptive) else {
            return;
        };
        let ended = self.chunks.ended();
        if ended == 0 {
            return;
        }
        let elapsed = since.elapsed().as_nanos().max(1) as u64;
        let per_chunk = (elapsed.saturating_mul(self.workers as u64) / ended).max(1);
        let want = (WINDOW_NS / per_chunk).saturating_mul(self.workers as u64);
        self.read_ahead = (want.min(MAX_WINDOW as u64) as usize).max(self.min_window);
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
        // Refilled when half the window has been consumed, not at every chunk: the chunks
        // go out several at a time, and a process pool's go in groups (`group.rs`).
        if !self.in_flight.is_empty() && self.in_flight.len() > self.read_ahead / 2 {
            return;
        }
        self.adapt();
        self.since.get_or_insert_with(Instant::now);
        while self.in_flight.len() < self.read_ahead && self.end_part.is_none() {
            let Some(source) = self.source.as_mut() else {
                break;
            };
            let part = self.next_part;
            let room = self.read_ahead - self.in_flight.len();
            match source.next_chunk(self.chunksize, self.timeout, &self.chunks, part, room) {
                Next::Submitted {
                    seq,
                    n,
                    count,
                    last,
                } => {
                    for i in 0..count {
                        let items = if i + 1 == count { last } else { n };
                        let seq = seq.wrapping_add(u64::from(i));
                        self.in_flight.insert(part + i, (Some(seq), items));
                    }
                    self.next_part += count;
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
            // Every chunk ready now is taken under this one lock, in the order it is due.
            let mut ready = Vec::new();
            let mut spin = SpinWait::new(SpinWait::EVENT);
            loop {
                if self.ordered {
                    while let Some(r) = done.by_part.remove(self.next_out) {
                        ready.push((self.next_out, r));
                        self.next_out += 1;
                    }
                } else {
                    while let Some(p) = done.order.pop_front() {
                        if let Some(r) = done.by_part.remove(p) {
                            ready.push((p, r));
                        }
                    }
                }
                if !ready.is_empty() {
                    break;
                }
                // Results come every microsecond or so while chunks are in flight: look
                // again for a while before sleeping, so that the handler need not make a
                // wake-up call per chunk.
                let seen = self.chunks.ended();
                if spin.spin() {
                    drop(done);
                    while self.chunks.ended() == seen && spin.spin() {}
                    done = self
                        .chunks
                        .done
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    continue;
                }
                done.waiting = true;
                done = match deadline {
                    None => self
                        .chunks
                        .arrived
                        .wait(done)
                        .unwrap_or_else(PoisonError::into_inner),
                    Some(d) => {
                        let left = d.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            done.waiting = false;
                            return Some(Err(PoolError::Timeout));
                        }
                        self.chunks
                            .arrived
                            .wait_timeout(done, left)
                            .unwrap_or_else(PoisonError::into_inner)
                            .0
                    }
                };
                done.waiting = false;
            }
            drop(done);
            for (part, r) in ready {
                let (_, n) = self.in_flight.remove(part).unwrap_or((None, 1));
                match r {
                    Ok(v) => self.buffer.extend(v.into_iter().map(Ok)),
                    Err(e) => self.buffer.extend((0..n).map(|_| Err(e.clone()))),
                }
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

#[cfg(test)]
mod tests {
    use super::Window;

    #[test]
    fn a_window_keeps_parts_that_come_out_of_order_and_forgets_those_taken() {
        let mut w = Window::new();
        w.insert(2, "two");
        w.insert(0, "zero");
        assert_eq!(w.len(), 2);
        assert_eq!(w.remove(1), None, "part 1 has not come");
        assert_eq!(w.remove(2), Some("two"));
        assert_eq!(w.remove(2), None, "taken once");
        assert_eq!(w.remove(0), Some("zero"));
        // Parts 0 and 2 are gone; part 1 may still come, and is kept.
        w.insert(1, "one");
        assert_eq!(w.values().copied().collect::<Vec<_>>(), ["one"]);
        assert_eq!(w.remove(1), Some("one"));
        assert!(w.is_empty());
        // Everything before part 3 has been taken: a late repeat of one is ignored.
        w.insert(0, "again");
        assert!(w.is_empty());
        assert_eq!(w.remove(0), None);
        w.insert(1000, "far");
        assert_eq!(w.remove(1000), Some("far"));
    }
}
