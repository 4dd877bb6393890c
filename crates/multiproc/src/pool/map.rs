//! `map`, `map_async`, `starmap` and `starmap_async` (≈ `Pool.map` and `MapResult`): the
//! input cut into chunks (Python's chunk-size rule), one task per chunk, the results put
//! back in order. The same code serves both pools; each pool says how a chunk becomes a job.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, PoisonError};

use super::engine::{Engine, Kind};
use super::options::{self, MapOptions, Progress};
use super::result::{AsyncResult, Decode, Deliver, Slot, Target};
use crate::error::PoolError;

/// The result of [`map_async`](super::Pool::map_async) (≈ `multiprocessing.pool.MapResult`):
/// the whole list, in input order, once every chunk has ended. As in Python, a failure does
/// not stop the other chunks, and the first failure to arrive is the one reported.
pub type MapResult<R> = AsyncResult<Vec<R>>;

/// The next `n` inputs of a chunk, taken from the input as it is encoded (processes) or
/// collected (threads): no copy of the chunk on the way.
pub(crate) type Chunk<'a, A> = std::iter::Take<&'a mut std::vec::IntoIter<A>>;

/// Turns a chunk of inputs into a job for the pool's workers (a pool says how: encoded for
/// processes, a closure for threads).
pub(crate) type MakeChunk<'m, K, A, R> = dyn FnMut(Chunk<'_, A>, Arc<dyn Deliver<Vec<R>>>, u32) -> Result<<K as Kind>::Job, PoolError>
    + 'm;

/// Collects an input iterator in the caller's thread, turning its panic into
/// [`PoolError::Input`] (Python: the iterable's exception propagates).
pub(crate) fn collect_input<A>(items: impl IntoIterator<Item = A>) -> Result<Vec<A>, PoolError> {
    crate::thread::catch_quietly(|| items.into_iter().collect()).map_err(PoolError::Input)
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

/// A `map`'s chunks as they come back.
struct MapState<R> {
    slot: Arc<Slot<Vec<R>>>,
    inner: Mutex<Parts<R>>,
    decode: Decode<Vec<R>>,
    bar: Option<indicatif::ProgressBar>,
}

struct Parts<R> {
    chunks: Vec<Option<Vec<R>>>,
    /// Which parts have ended (a part ends once, whatever reports it a second time).
    ended: Vec<bool>,
    left: usize,
    error: Option<PoolError>,
}

impl<R: Send + 'static> MapState<R> {
    fn end_part(&self, part: u32, outcome: Result<Vec<R>, PoolError>) {
        let mut p = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if p.ended.get(part as usize).is_none_or(|&e| e) {
            return;
        }
        p.ended[part as usize] = true;
        let Some(slot) = p.chunks.get_mut(part as usize) else {
            return;
        };
        match outcome {
            Ok(v) => {
                if let Some(bar) = &self.bar {
                    bar.inc(v.len() as u64);
                }
                *slot = Some(v);
            }
            Err(e) => {
                if p.error.is_none() {
                    p.error = Some(e);
                }
            }
        }
        p.left -= 1;
        if p.left > 0 {
            return;
        }
        let r = match p.error.take() {
            Some(e) => Err(e),
            None => {
                let total = p.chunks.iter().flatten().map(Vec::len).sum();
                let mut all = Vec::with_capacity(total);
                for c in p.chunks.iter_mut() {
                    all.append(c.as_mut().expect("every chunk returned"));
                }
                Ok(all)
            }
        };
        drop(p);
        if let Some(bar) = &self.bar {
            bar.finish();
        }
        self.slot.complete(r);
    }
}

impl<R: Send + 'static> Target for MapState<R> {
    fn returned(&self, part: u32, bytes: &[u8]) {
        let r = match self.decode {
            Some(d) => d(bytes),
            None => Err(PoolError::Decode("no decoder for this result".into())),
        };
        self.end_part(part, r);
    }

    fn failed(&self, part: u32, err: PoolError) {
        self.end_part(part, Err(err));
    }
}

impl<R: Send + 'static> Deliver<Vec<R>> for MapState<R> {
    fn deliver(&self, part: u32, value: Vec<R>) {
        self.end_part(part, Ok(value));
    }
}

/// `map_async` over collected `items`: one task per chunk.
pub(crate) fn map_async<K: Kind, A, R: Send + 'static>(
    engine: &Arc<Engine<K>>,
    items: Vec<A>,
    opts: MapOptions<R>,
    decode: Decode<Vec<R>>,
    make: &mut MakeChunk<'_, K, A, R>,
) -> Result<MapResult<R>, PoolError> {
    let n = items.len();
    let size = options::chunksize(opts.chunksize, n, engine.config.processes)?;
    let parts = n.div_ceil(size);
    let control = engine.control();
    let slot = Slot::new(opts.callbacks, Some(&control), None);
    let state = Arc::new(MapState {
        slot: slot.clone(),
        inner: Mutex::new(Parts {
            chunks: (0..parts).map(|_| None).collect(),
            ended: vec![false; parts],
            left: parts,
            error: None,
        }),
        decode,
        bar: progress_bar(&opts.progress, Some(n as u64)),
    });
    if parts == 0 {
        slot.complete(Ok(Vec::new()));
        return Ok(AsyncResult::new(slot, Vec::new(), control));
    }
    let mut seqs = Vec::with_capacity(parts);
    let mut items = items.into_iter();
    for part in 0..parts as u32 {
        let chunk = items.by_ref().take(size);
        let submitted = catch_unwind(AssertUnwindSafe(|| make(chunk, state.clone(), part)))
            .unwrap_or_else(|p| Err(PoolError::Encode(crate::thread::payload_message(&*p))))
            .and_then(|job| engine.submit(job, state.clone(), part, opts.timeout, None));
        match submitted {
            Ok(seq) => seqs.push(seq),
            Err(e @ (PoolError::Closed | PoolError::Broken(_))) if seqs.is_empty() => {
                return Err(e);
            }
            Err(e) => state.failed(part, e),
        }
    }
    Ok(AsyncResult::new(slot, seqs, control))
}
