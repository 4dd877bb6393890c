//! `map`, `map_async`, `starmap` and `starmap_async` (≈ `Pool.map` and `MapResult`): the
//! input cut into chunks (Python's chunk-size rule), one task per chunk, the results put
//! back in order. The same code serves both pools; each pool says how a chunk becomes a job.
//!
//! An input whose length is known (an exact `size_hint`) is read chunk by chunk, and each
//! chunk is handed out as soon as it is read, so the workers start while the caller still
//! reads; any other input is read whole first, as Python does. Each chunk's values go
//! straight to their place in the list returned (a [`Collector`] sized from the length): a
//! thread pool's task writes them there, a process pool's handler decodes them there. Only a
//! chunk with no place (a `size_hint` that lied, a process pool's chunks under 64 items)
//! comes back as a vector of its own, appended at the end.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crossbeam_utils::CachePadded;

use super::engine::{Engine, Kind};
use super::group::Group;
use super::options::{self, MapOptions, Progress};
use super::result::{AsyncResult, Decode, Deliver, Slot, Target};
use crate::collect::{Collector, Part};
use crate::error::PoolError;

/// The result of [`map_async`](super::Pool::map_async) (≈ `multiprocessing.pool.MapResult`):
/// the whole list, in input order, once every chunk has ended. As in Python, a failure does
/// not stop the other chunks, and the first failure to arrive is the one reported.
pub type MapResult<R> = AsyncResult<Vec<R>>;

/// A chunk of inputs, as read from the input (moved on whole: a thread pool's job takes the
/// vector itself, a process pool encodes numbers from its buffer).
pub(crate) type Chunk<A> = std::vec::IntoIter<A>;

/// Decodes a chunk's values into their place in a `map`'s result (a process pool's).
/// `true`: the chunk has the place to itself (it must fill it); `false`: a group's place.
pub(crate) type DecodeInto<R> = fn(&[u8], &mut Part<R>, bool) -> Result<(), PoolError>;

/// Turns a chunk of inputs into a job for the pool's workers (a pool says how: encoded for
/// processes, a closure for threads); `imap`'s chunks.
pub(crate) type MakeChunk<'m, K, A, R> =
    dyn FnMut(Chunk<A>, Arc<dyn Deliver<Vec<R>>>, u32) -> Result<<K as Kind>::Job, PoolError> + 'm;

/// How a pool turns the next chunk of at most `size` inputs into a job, as part `part` of
/// the map whose state is given (a thread pool's job writes its values in place through
/// [`MapState::part`]; a process pool's chunk gets its place with [`MapState::place`]).
/// `Ok(None)`: the input has ended; `Ok(Some(Err(e)))`: this part fails with `e` (its
/// inputs were consumed); `Err(e)`: reading the input failed, and the map with it.
pub(crate) type NextChunk<'m, K, R> =
    dyn FnMut(usize, &Arc<MapState<R>>, u32) -> Result<Option<Made<K>>, PoolError> + 'm;

/// What [`NextChunk`] made: a job for one chunk, or for a group of chunks (`group.rs`),
/// parts `part..part + count`.
pub(crate) struct Made<K: Kind> {
    pub job: Result<<K as Kind>::Job, PoolError>,
    pub count: u32,
    pub group: Option<Arc<Group>>,
}

impl<K: Kind> Made<K> {
    /// One chunk's job (or why it has none).
    pub(crate) fn one(job: Result<K::Job, PoolError>) -> Made<K> {
        Made {
            job,
            count: 1,
            group: None,
        }
    }
}

/// Collects an input iterator in the caller's thread, turning its panic into
/// [`PoolError::Input`] (Python: the iterable's exception propagates).
pub(crate) fn collect_input<A>(items: impl IntoIterator<Item = A>) -> Result<Vec<A>, PoolError> {
    crate::thread::catch_quietly(|| items.into_iter().collect()).map_err(PoolError::Input)
}

/// A `map`'s input as it is read: chunk by chunk when its length is known (an exact
/// `size_hint`), else collected whole first, as Python does.
pub(crate) enum Input<I: Iterator> {
    Sized(I),
    Collected(std::vec::IntoIter<I::Item>),
}

impl<I: Iterator> Input<I> {
    /// The input, and its length (as its `size_hint` says, for a sized one).
    pub(crate) fn new(items: I) -> Result<(Self, usize), PoolError> {
        match items.size_hint() {
            (lo, Some(hi)) if lo == hi => Ok((Input::Sized(items), lo)),
            _ => {
                let all = collect_input(items)?;
                let len = all.len();
                Ok((Input::Collected(all.into_iter()), len))
            }
        }
    }

    /// The next chunk of at most `size` items (empty at the end), read in the caller's
    /// thread; a panic of the input is [`PoolError::Input`].
    pub(crate) fn chunk(&mut self, size: usize) -> Result<Vec<I::Item>, PoolError> {
        crate::thread::catch_quietly(|| match self {
            Input::Sized(items) => items.by_ref().take(size).collect(),
            Input::Collected(items) => items.by_ref().take(size).collect(),
        })
        .map_err(PoolError::Input)
    }
}

/// A progress bar for `len` items as the options ask (`None`: no bar).
pub(crate) fn progress_bar(p: &Progress, len: Option<u64>) -> Option<indicatif::ProgressBar> {
    match p {
        Progress::None => None,
        Progress::Bar => {
            let bar = match len {
                Some(n) => indicatif::ProgressBar::new(n),
                None => indicatif::ProgressBar::new_spinner(),
            };
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec}, {eta})",
            ) {
                bar.set_style(style);
            }
            Some(bar)
        }
        Progress::Given(b) => {
            if let Some(n) = len {
                b.set_length(n);
            }
            Some(b.clone())
        }
    }
}

/// How a chunk's results came back.
enum Returned<R> {
    /// Written in place into the map's [`Collector`] (this many).
    InPlace(usize),
    /// In a vector of their own (a process pool's decoded chunk; a chunk that did not fit
    /// in the collector).
    Owned(Vec<R>),
}

/// A `map`'s chunks as they come back.
pub(crate) struct MapState<R> {
    slot: Arc<Slot<Vec<R>>>,
    inner: Mutex<Parts<R>>,
    decode: Decode<Vec<R>>,
    bar: Option<indicatif::ProgressBar>,
    /// Where chunks' values are written in place, when they are.
    out: Option<Arc<Collector<R>>>,
    /// How a process pool's chunk is decoded into its place.
    decode_into: Option<DecodeInto<R>>,
    /// The parts the input's length foretold, whose places are made up front.
    foretold: usize,
    /// Parts ended so far (read without the lock, to size groups: `group.rs`), on a line
    /// of its own: the handler writes it at every part, the submitting thread reads it.
    ended: CachePadded<AtomicU64>,
}

/// Where a process pool's chunk is decoded to.
#[derive(Default)]
enum Place<R> {
    /// None: it comes back as a vector.
    #[default]
    None,
    /// Its own place.
    Own(Part<R>),
    /// A group's place (`group.rs`), at its first chunk's index: the group's chunks fill it
    /// one after another, in order.
    Group(Part<R>),
    /// A chunk of the group whose place is at this index.
    In(u32),
}

struct Parts<R> {
    chunks: Vec<Option<Returned<R>>>,
    /// The places of a process pool's chunks not yet returned, by part.
    places: Vec<Place<R>>,
    /// Which parts have ended (a part ends once, whatever reports it a second time).
    ended: Vec<bool>,
    /// Parts ended so far.
    ended_count: usize,
    /// The number of parts, once the input has ended.
    total: Option<usize>,
    error: Option<PoolError>,
}

impl<R: Send + 'static> MapState<R> {
    fn parts(&self) -> MutexGuard<'_, Parts<R>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next `len` slots of the map's result, for a chunk to write its values into, or
    /// `None` (no collector, or it is full: a lying `size_hint`): return a vector then.
    pub(crate) fn part(&self, len: usize) -> Option<Part<R>> {
        self.out.as_ref()?.part(len)
    }

    /// Gives part `part` (of `len` values) its place in the result, for its values to be
    /// decoded into when they come back (a process pool's); without one, they come back
    /// as a vector.
    pub(crate) fn place(&self, part: u32, len: usize) {
        if let Some(p) = self.part(len) {
            self.set_places(part, 1, Place::Own(p));
        }
    }

    /// Gives the `count` chunks of a group, parts `first..`, one place in the result for
    /// their `len` values, which they fill in order as they come back.
    pub(crate) fn place_group(&self, first: u32, count: u32, len: usize) {
        if let Some(p) = self.part(len) {
            self.set_places(first, count, Place::Group(p));
        }
    }

    fn set_places(&self, first: u32, count: u32, head: Place<R>) {
        let mut parts = self.parts();
        let (i, end) = (first as usize, first as usize + count as usize);
        if parts.places.len() < end {
            parts.places.resize_with(end, Place::default);
        }
        parts.places[i] = head;
        for p in &mut parts.places[i + 1..end] {
            *p = Place::In(first);
        }
    }

    /// Decodes part `part`'s values into its place, if it has one (`None` if not: it comes
    /// back as a vector). A group's place is finished by its last chunk.
    fn decode_in_place(
        &self,
        parts: &mut Parts<R>,
        decode: DecodeInto<R>,
        part: u32,
        bytes: &[u8],
    ) -> Option<Result<Returned<R>, PoolError>> {
        let too_few = || PoolError::Broken("a map's chunk returned too few values".into());
        let head = match parts.places.get_mut(part as usize)? {
            Place::None => return None,
            Place::Own(_) => {
                let Place::Own(mut into) = std::mem::take(&mut parts.places[part as usize]) else {
                    unreachable!("matched just above")
                };
                let r = decode(bytes, &mut into, true)
                    .and_then(|()| into.finish().map_err(|_| too_few()));
                return Some(r.map(Returned::InPlace));
            }
            Place::Group(_) => part,
            Place::In(head) => *head,
        };
        let place = parts.places.get_mut(head as usize)?;
        let Place::Group(into) = place else {
            return None; // the group's place was given up (a chunk before failed)
        };
        let room = into.room();
        if let Err(e) = decode(bytes, into, false) {
            *place = Place::None; // dropped: the map fails anyway
            return Some(Err(e));
        }
        let n = room - into.room();
        if into.room() == 0
            && let Place::Group(full) = std::mem::take(place)
            && full.finish().is_err()
        {
            return Some(Err(too_few()));
        }
        Some(Ok(Returned::InPlace(n)))
    }

    /// Part `part` wrote its values into `p`, which is full.
    pub(crate) fn deliver_in_place(&self, part: u32, p: Part<R>) {
        let outcome = p
            .finish()
            .map(Returned::InPlace)
            .map_err(|_| PoolError::Broken("a map's chunk returned too few values".into()));
        self.end_part(part, outcome);
    }

    /// Parts ended so far.
    pub(crate) fn ended(&self) -> u64 {
        self.ended.load(Ordering::Relaxed)
    }

    /// Makes room for part `part` (the places for the parts the length foretold are made
    /// up front: no lock per part, which the handler takes to end each).
    fn add_part(&self, part: u32) {
        if (part as usize) < self.foretold {
            return;
        }
        let mut p = self.parts();
        while p.chunks.len() <= part as usize {
            p.chunks.push(None);
            p.ended.push(false);
        }
    }

    /// The input has ended after `total` parts.
    fn seal(&self, total: usize) {
        let mut p = self.parts();
        p.total = Some(total);
        if p.ended_count == total {
            self.finish(p);
        }
    }

    fn end_part(&self, part: u32, outcome: Result<Returned<R>, PoolError>) {
        self.end_locked(self.parts(), part, outcome);
    }

    /// Records part `part`'s end (once: a second report is ignored), under the lock `p`;
    /// the last one finishes the map.
    fn end_locked(
        &self,
        mut p: MutexGuard<'_, Parts<R>>,
        part: u32,
        outcome: Result<Returned<R>, PoolError>,
    ) {
        if p.ended.get(part as usize).is_none_or(|&e| e) {
            return;
        }
        p.ended[part as usize] = true;
        match outcome {
            Ok(r) => {
                if let Some(bar) = &self.bar {
                    bar.inc(match &r {
                        Returned::InPlace(n) => *n as u64,
                        Returned::Owned(v) => v.len() as u64,
                    });
                }
                p.chunks[part as usize] = Some(r);
            }
            Err(e) => {
                if p.error.is_none() {
                    p.error = Some(e);
                }
            }
        }
        p.ended_count += 1;
        self.ended.store(p.ended_count as u64, Ordering::Relaxed);
        if p.total == Some(p.ended_count) {
            self.finish(p);
        }
    }

    /// A chunk's values, decoded: into its place when it has one, else as a vector.
    fn decode_part(
        &self,
        p: &mut Parts<R>,
        part: u32,
        bytes: &[u8],
    ) -> Result<Returned<R>, PoolError> {
        if let Some(decode) = self.decode_into
            && let Some(r) = self.decode_in_place(p, decode, part, bytes)
        {
            return r;
        }
        match self.decode {
            Some(d) => d(bytes).map(Returned::Owned),
            None => Err(PoolError::Decode("no decoder for this result".into())),
        }
    }

    /// Every part has ended and the input too: the whole list, or the first failure.
    fn finish(&self, mut p: MutexGuard<'_, Parts<R>>) {
        let r = match p.error.take() {
            Some(e) => Err(e),
            None => self.assemble(&mut p),
        };
        drop(p);
        if let Some(bar) = &self.bar {
            bar.finish();
        }
        self.slot.complete(r);
    }

    /// The parts written in place are the front of the list (the collector refuses every
    /// claim after its first refusal); the vectors of the others follow, in order.
    fn assemble(&self, p: &mut Parts<R>) -> Result<Vec<R>, PoolError> {
        let (mut placed, mut owned) = (0, 0);
        for c in p.chunks.iter().flatten() {
            match c {
                Returned::InPlace(n) => placed += n,
                Returned::Owned(v) => owned += v.len(),
            }
        }
        let mut all = match &self.out {
            Some(out) if placed > 0 => out
                .take()
                .filter(|v| v.len() == placed)
                .ok_or_else(|| PoolError::Broken("a map's results were not all written".into()))?,
            _ => Vec::new(),
        };
        all.reserve_exact(owned);
        for c in p.chunks.iter_mut() {
            if let Some(Returned::Owned(v)) = c {
                all.append(v);
            }
        }
        Ok(all)
    }
}

impl<R: Send + 'static> Target for MapState<R> {
    fn returned(&self, part: u32, bytes: &[u8]) {
        // One lock: the place, the values decoded into it, the part's end.
        let mut p = self.parts();
        let r = self.decode_part(&mut p, part, bytes);
        self.end_locked(p, part, r);
    }

    fn failed(&self, part: u32, err: PoolError) {
        self.end_part(part, Err(err));
    }
}

impl<R: Send + 'static> Deliver<Vec<R>> for MapState<R> {
    fn deliver(&self, part: u32, value: Vec<R>) {
        self.end_part(part, Ok(Returned::Owned(value)));
    }
}

/// `map_async`: the input read chunk by chunk by `next`, each chunk a task handed out as soon
/// as it is read (so the workers start while the caller still reads), the results put back
/// in order. `len` is the input's length, or the best guess at it (`size_hint`): it fixes the
/// chunk size (Python's rule) and the room the results are written into in place, when
/// chunks are at least `in_place` long (a place per chunk costs a lock; tiny chunks are
/// cheaper copied). A guess that was wrong costs a copy, never a wrong answer.
pub(crate) fn map_async<K: Kind, R: Send + 'static>(
    engine: &Arc<Engine<K>>,
    len: usize,
    in_place: Option<usize>,
    opts: MapOptions<R>,
    decode: Decode<Vec<R>>,
    decode_into: Option<DecodeInto<R>>,
    next: &mut NextChunk<'_, K, R>,
) -> Result<MapResult<R>, PoolError> {
    let size = options::chunksize(opts.chunksize, len, engine.config.processes)?;
    let in_place = in_place.is_some_and(|min| size >= min);
    let control = engine.control();
    let slot = Slot::new(opts.callbacks, Some(&control), None);
    // A length hint may be wrong (or huge): the places made up front are bounded.
    let foretold = len.div_ceil(size).min(1 << 20);
    let state = Arc::new(MapState {
        slot: slot.clone(),
        inner: Mutex::new(Parts {
            chunks: (0..foretold).map(|_| None).collect(),
            ended: vec![false; foretold],
            places: Vec::new(),
            ended_count: 0,
            total: None,
            error: None,
        }),
        foretold,
        ended: CachePadded::new(AtomicU64::new(0)),
        decode,
        bar: progress_bar(&opts.progress, Some(len as u64)),
        out: in_place.then(|| Collector::with_capacity(len)),
        decode_into,
    });
    let mut seqs = Vec::new();
    let mut part = 0u32;
    loop {
        let made =
            catch_unwind(AssertUnwindSafe(|| next(size, &state, part))).unwrap_or_else(|p| {
                Ok(Some(Made::one(Err(PoolError::Encode(
                    crate::thread::payload_message(&*p),
                )))))
            });
        let made = match made {
            Ok(Some(made)) => made,
            Ok(None) => break,
            Err(e) => {
                // The input failed: the map fails now, as in Python; chunks already handed
                // out that have not started never will.
                if let Some(c) = control.upgrade() {
                    c.cancel_many(&seqs, false);
                }
                return Err(e);
            }
        };
        let count = made.count.max(1);
        for p in part..part + count {
            state.add_part(p);
        }
        let submitted = made.job.and_then(|job| {
            let group = (count, made.group);
            engine.submit_tasks(job, state.clone(), part, group, opts.timeout, None)
        });
        match submitted {
            Ok(seq) => seqs.extend((0..u64::from(count)).map(|i| seq.wrapping_add(i))),
            Err(e @ (PoolError::Closed | PoolError::Broken(_))) if seqs.is_empty() => {
                return Err(e);
            }
            Err(e) => (part..part + count).for_each(|p| state.failed(p, e.clone())),
        }
        part += count;
    }
    state.seal(part as usize);
    Ok(AsyncResult::new(slot, seqs, control))
}
