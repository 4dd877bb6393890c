//! [`AsyncResult`] (≈ `multiprocessing.pool.AsyncResult`): a task's result, to wait for,
//! and how the pool delivers it (`Target`), running `callback` / `error_callback` on its
//! handler thread exactly once, before the result is marked ready (as Python does).

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::listeners::{Listener, Listeners};
use crate::error::PoolError;
use crate::sync::Event;

/// Where a task's outcome goes: a single result's [`Slot`], a `map`'s chunks, an `imap`'s
/// buffer. `part` is the chunk index (0 for a single task).
pub(crate) trait Target: Send + Sync + 'static {
    /// The task's result, encoded (process pools decode it here, in the parent).
    fn returned(&self, part: u32, bytes: &[u8]);
    /// The task failed.
    fn failed(&self, part: u32, err: PoolError);
}

/// A target that can take a typed value directly (a thread pool's worker delivers its
/// function's value without encoding it).
pub(crate) trait Deliver<T>: Target {
    /// Part `part` returned `value`.
    fn deliver(&self, part: u32, value: T);
}

/// What a result needs from its pool: cancelling its tasks, and running callbacks on the
/// pool's handler thread.
pub(crate) trait Control: Send + Sync {
    /// Cancels task `seq`: a queued task never runs; a running one has its worker stopped
    /// when `running` says so. True if this call cancelled it.
    fn cancel(&self, seq: u64, running: bool) -> bool;
    /// Cancels each of `seqs` as [`cancel`](Control::cancel) does; how many it cancelled (a
    /// pool finds them all in one pass).
    fn cancel_many(&self, seqs: &[u64], running: bool) -> usize {
        seqs.iter()
            .filter(|&&seq| self.cancel(seq, running))
            .count()
    }
    /// Runs `f` on the pool's handler thread (at once when called there), or here when the
    /// handler has gone.
    fn defer(&self, f: Box<dyn FnOnce() + Send>);
    /// Whether task `seq` is running on a worker now (claimed, its result not yet in).
    fn running(&self, seq: u64) -> bool;
}

/// A `callback`.
pub(crate) type OnValue<R> = Box<dyn FnOnce(&R) + Send>;
/// An `error_callback`.
pub(crate) type OnError = Box<dyn FnOnce(&PoolError) + Send>;

/// `callback` and `error_callback` of one result.
pub(crate) struct Callbacks<R> {
    pub ok: Option<OnValue<R>>,
    pub err: Option<OnError>,
}

impl<R> Callbacks<R> {
    pub(crate) fn none() -> Callbacks<R> {
        Callbacks {
            ok: None,
            err: None,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ok.is_none() && self.err.is_none()
    }
}

/// Decodes a result's bytes (a process pool's `R`); `None` for thread pools, whose results
/// never leave the process.
pub(crate) type Decode<R> = Option<fn(&[u8]) -> Result<R, PoolError>>;

/// Decodes `bytes` as `R` (the process pools' decoder).
pub(crate) fn decode<R: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<R, PoolError> {
    crate::wire::decode::<R>(bytes).map_err(|e| {
        PoolError::Decode(format!(
            "the result does not decode as {}: {e}",
            std::any::type_name::<R>()
        ))
    })
}

/// Something holding a [`Slot`]: the slot itself, or a thread pool's task, which keeps its
/// job in the same allocation as its result.
pub(crate) trait HasSlot<R>: Send + Sync + 'static {
    fn slot(&self) -> &Slot<R>;
}

impl<R: Send + 'static> HasSlot<R> for Slot<R> {
    fn slot(&self) -> &Slot<R> {
        self
    }
}

/// Decodes a `map` chunk's values into their place in the result (numbers as their bytes).
pub(crate) fn decode_into<R: serde::de::DeserializeOwned + 'static>(
    bytes: &[u8],
    into: &mut crate::collect::Part<R>,
    whole: bool,
) -> Result<(), PoolError> {
    crate::wire::seq::decode_into::<R>(bytes, into, whole).map_err(|e| {
        PoolError::Decode(format!(
            "the results do not decode as {}: {e}",
            std::any::type_name::<Vec<R>>()
        ))
    })
}

/// Decodes a `map` chunk's values (numbers as their bytes: `wire::seq`).
pub(crate) fn decode_vec<R: serde::de::DeserializeOwned + 'static>(
    bytes: &[u8],
) -> Result<Vec<R>, PoolError> {
    crate::wire::seq::decode_vec::<R>(bytes).map_err(|e| {
        PoolError::Decode(format!(
            "the results do not decode as {}: {e}",
            std::any::type_name::<Vec<R>>()
        ))
    })
}

/// One result: set once (the first completion wins: a result racing a cancel or a timeout,
/// a worker's value racing `terminate`), read by `get`.
///
/// Kept small (88 bytes with its `Arc` for a `u64` result): one is allocated per task, and
/// an allocation that size is served from the allocator's fast bins. What only a result
/// with callbacks needs lives in a box of its own, and an error in one.
pub(crate) struct Slot<R> {
    decided: AtomicBool,
    ok: AtomicBool,
    ready: Event,
    value: Mutex<Option<Result<R, Box<PoolError>>>>,
    listeners: Listeners,
    callbacks: Option<Box<WithCallbacks<R>>>,
    decode: Decode<R>,
}

/// A result's `callback` and `error_callback`, and what running them on the pool's handler
/// thread needs.
struct WithCallbacks<R> {
    /// What holds the result, for the callbacks' closure (which outlives the call that
    /// completes it).
    me: Weak<dyn HasSlot<R>>,
    callbacks: Mutex<Callbacks<R>>,
    control: Option<Weak<dyn Control>>,
}

impl<R: Send + 'static> Slot<R> {
    /// A slot; only one with callbacks keeps `control` (to run them on the handler thread)
    /// and a reference to itself.
    pub(crate) fn new(
        callbacks: Callbacks<R>,
        control: Option<&Weak<dyn Control>>,
        decode: Decode<R>,
    ) -> Arc<Slot<R>> {
        if callbacks.is_empty() {
            return Arc::new(Slot::bare(decode));
        }
        Arc::new_cyclic(|me: &Weak<Slot<R>>| Slot::inside(me, callbacks, control, decode))
    }

    /// A slot inside a larger object `me` (see [`HasSlot`]), for `Arc::new_cyclic`.
    pub(crate) fn inside<H: HasSlot<R>>(
        me: &Weak<H>,
        callbacks: Callbacks<R>,
        control: Option<&Weak<dyn Control>>,
        decode: Decode<R>,
    ) -> Slot<R> {
        if callbacks.is_empty() {
            return Slot::bare(decode);
        }
        let me: Weak<dyn HasSlot<R>> = me.clone();
        let with = WithCallbacks {
            me,
            callbacks: Mutex::new(callbacks),
            control: control.cloned(),
        };
        Slot::plain(Some(Box::new(with)), decode)
    }

    /// A slot without callbacks (no reference to what holds it: `Arc::new` will do, where
    /// `Arc::new_cyclic` costs a locked instruction more).
    pub(crate) fn bare(decode: Decode<R>) -> Slot<R> {
        Slot::plain(None, decode)
    }

    fn plain(callbacks: Option<Box<WithCallbacks<R>>>, decode: Decode<R>) -> Slot<R> {
        Slot {
            decided: AtomicBool::new(false),
            ok: AtomicBool::new(false),
            ready: Event::new(),
            value: Mutex::new(None),
            listeners: Listeners::default(),
            callbacks,
            decode,
        }
    }

    fn value(&self) -> MutexGuard<'_, Option<Result<R, Box<PoolError>>>> {
        self.value.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the result unless one was set already; runs the callback for it on the pool's
    /// handler thread, then marks it ready.
    pub(crate) fn complete(&self, r: Result<R, PoolError>) {
        if self.decided.swap(true, Ordering::AcqRel) {
            return;
        }
        self.ok.store(r.is_ok(), Ordering::Relaxed);
        *self.value() = Some(r.map_err(Box::new));
        let Some(with) = &self.callbacks else {
            self.ready.set();
            self.listeners.fire();
            return;
        };
        let Some(me) = with.me.upgrade() else {
            return; // nobody holds the result any more: nothing to call back for
        };
        let finish: Box<dyn FnOnce() + Send> = Box::new(move || {
            me.slot().run_callbacks();
            me.slot().ready.set();
            me.slot().listeners.fire();
        });
        match with.control.as_ref().and_then(Weak::upgrade) {
            Some(c) => c.defer(finish),
            None => finish(),
        }
    }

    fn run_callbacks(&self) {
        let Some(with) = &self.callbacks else { return };
        let cbs = std::mem::replace(
            &mut *with
                .callbacks
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
            Callbacks::none(),
        );
        let value = self.value();
        let outcome = match value.as_ref() {
            Some(Ok(v)) => cbs.ok.map(|f| catch_unwind(AssertUnwindSafe(|| f(v)))),
            Some(Err(e)) => cbs.err.map(|f| catch_unwind(AssertUnwindSafe(|| f(e)))),
            None => None,
        };
        drop(value);
        if let Some(Err(payload)) = outcome {
            // Python's result handler would die here; ours reports and goes on.
            let p = crate::thread::to_panic("pool callback", &*payload);
            crate::sys::io::write_stderr(format!("Exception in pool callback: {p}\n").as_bytes());
        }
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.ready.is_set()
    }

    /// Waits until ready or `deadline`; whether it is ready.
    pub(crate) fn wait_until(&self, deadline: Option<Instant>) -> bool {
        self.ready.wait_until(deadline)
    }

    /// Whether it completed without error (once ready).
    pub(crate) fn succeeded(&self) -> bool {
        self.ok.load(Ordering::Relaxed)
    }

    /// Runs `l` once ready (at once, here, if it is); its id, to [`unlisten`](Self::unlisten).
    pub(crate) fn listen(&self, l: Listener) -> Option<u64> {
        match self.listeners.add(l, || self.ready.is_set_seqcst()) {
            Ok(id) => Some(id),
            Err(l) => {
                match l {
                    Listener::Call(f) => f(),
                    Listener::Wake(w) => w.wake(),
                }
                None
            }
        }
    }

    /// One step of awaiting the result: `Ready` with it, or `Pending` with `cx`'s waker
    /// registered under `id`.
    pub(crate) fn poll_take(
        &self,
        id: &mut Option<u64>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<R, PoolError>> {
        if self.ready.is_set()
            || !self
                .listeners
                .set_waker(id, cx.waker(), || self.ready.is_set_seqcst())
        {
            *id = None;
            return Poll::Ready(self.take());
        }
        Poll::Pending
    }

    /// Looks at the outcome (`None` before it is in) without taking it.
    pub(crate) fn peek<T>(&self, f: impl FnOnce(Option<Result<&R, &PoolError>>) -> T) -> T {
        f(self.value().as_ref().map(|r| r.as_ref().map_err(|e| &**e)))
    }

    /// The value once, then [`PoolError::AlreadyTaken`]; an error as many times as asked.
    pub(crate) fn take(&self) -> Result<R, PoolError> {
        let mut v = self.value();
        match v.take() {
            Some(Ok(r)) => Ok(r),
            Some(Err(e)) => {
                let err = (*e).clone();
                *v = Some(Err(e));
                Err(err)
            }
            None => Err(PoolError::AlreadyTaken),
        }
    }
}

impl<R> Slot<R> {
    /// Removes a listener that has not run.
    pub(crate) fn unlisten(&self, id: u64) {
        self.listeners.remove(id);
    }
}

impl<R: Send + 'static> Target for Slot<R> {
    fn returned(&self, _part: u32, bytes: &[u8]) {
        let r = match self.decode {
            Some(d) => d(bytes),
            None => Err(PoolError::Decode("no decoder for this result".into())),
        };
        self.complete(r);
    }

    fn failed(&self, _part: u32, err: PoolError) {
        self.complete(Err(err));
    }
}

impl<R: Send + 'static> Deliver<R> for Slot<R> {
    fn deliver(&self, _part: u32, value: R) {
        self.complete(Ok(value));
    }
}

/// A task just submitted: what holds its result, its sequence number, its pool. An
/// `AsyncResult` or an executor's `Future` is made from it.
pub(crate) struct Submitted<R> {
    pub holder: Arc<dyn HasSlot<R>>,
    pub seq: u64,
    pub control: Weak<dyn Control>,
}

/// The result of [`apply_async`](super::Pool::apply_async) (≈ `multiprocessing.pool.AsyncResult`);
/// [`MapResult`](super::MapResult) is the same for a whole `map_async`.
///
/// ```
/// use multiproc::pool::ThreadPool;
/// use std::time::Duration;
///
/// let pool = ThreadPool::new(2).unwrap();
/// let r = pool.apply_async(|x: u64| x * 2, 21).unwrap();
/// assert_eq!(r.get(), Ok(42));
/// assert!(r.ready());
/// assert_eq!(r.successful(), Ok(true));
/// ```
pub struct AsyncResult<R: Send + 'static> {
    holder: Arc<dyn HasSlot<R>>,
    /// The task's sequence number (0: none), and a `map`'s other chunks (no allocation for
    /// a single task).
    seq: u64,
    more: Vec<u64>,
    control: Weak<dyn Control>,
    /// This handle's waker registration while it is awaited.
    waker: Option<u64>,
}

impl<R: Send + 'static> AsyncResult<R> {
    fn slot(&self) -> &Slot<R> {
        self.holder.slot()
    }

    pub(crate) fn new(slot: Arc<Slot<R>>, mut seqs: Vec<u64>, control: Weak<dyn Control>) -> Self {
        let seq = if seqs.is_empty() {
            0
        } else {
            seqs.swap_remove(0)
        };
        AsyncResult {
            holder: slot,
            seq,
            more: seqs,
            control,
            waker: None,
        }
    }

    /// One task's result (no allocation).
    pub(crate) fn one(holder: Arc<dyn HasSlot<R>>, seq: u64, control: Weak<dyn Control>) -> Self {
        AsyncResult {
            holder,
            seq,
            more: Vec::new(),
            control,
            waker: None,
        }
    }

    /// The handle of a task just submitted.
    pub(crate) fn submitted(s: Submitted<R>) -> Self {
        AsyncResult::one(s.holder, s.seq, s.control)
    }

    /// Waits for the result and takes it (`get()`): the value once; an error as many times
    /// as asked; [`PoolError::AlreadyTaken`] after the value was taken.
    pub fn get(&self) -> Result<R, PoolError> {
        self.slot().wait_until(None);
        self.slot().take()
    }

    /// As [`get`](Self::get) for at most `timeout`: [`PoolError::Timeout`] leaves the task
    /// running and the result gettable (`get(timeout)`, `multiprocessing.TimeoutError`).
    pub fn get_timeout(&self, timeout: Duration) -> Result<R, PoolError> {
        if !self.slot().wait_until(crate::sync::deadline(timeout)) {
            return Err(PoolError::Timeout);
        }
        self.slot().take()
    }

    /// Waits until the result is ready (`wait()`).
    pub fn wait(&self) {
        self.slot().wait_until(None);
    }

    /// Waits at most `timeout`; whether the result is ready (`wait(timeout)` then `ready()`).
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.slot().wait_until(crate::sync::deadline(timeout))
    }

    /// Whether the task has completed (`ready()`), its callback included.
    pub fn ready(&self) -> bool {
        self.slot().is_ready()
    }

    /// Whether it completed without error (`successful()`); [`PoolError::NotReady`] before
    /// then, as Python's `ValueError`.
    pub fn successful(&self) -> Result<bool, PoolError> {
        if !self.slot().is_ready() {
            return Err(PoolError::NotReady);
        }
        Ok(self.slot().ok.load(Ordering::Relaxed))
    }

    /// Cancels the task (beyond Python): a task still queued never runs; a running one has
    /// its worker stopped (a process is killed and replaced; a thread is abandoned and
    /// replaced). The result then fails with [`PoolError::Cancelled`]. False if the task had
    /// already finished (or was cancelled before).
    pub fn cancel(&self) -> bool {
        let Some(c) = self.control.upgrade() else {
            return false;
        };
        let seqs: Vec<u64> = std::iter::once(self.seq)
            .chain(self.more.iter().copied())
            .filter(|&seq| seq != 0)
            .collect();
        c.cancel_many(&seqs, true) > 0
    }
}

/// Awaiting an `AsyncResult` is [`get`](AsyncResult::get) without blocking the thread: the
/// pool's thread that completes the task wakes the awaiting task. Works under any executor.
///
/// ```
/// use multiproc::pool::ThreadPool;
///
/// let pool = ThreadPool::new(2).unwrap();
/// let r = pool.apply_async(|x: u64| x + 1, 41).unwrap();
/// # let block_on = |f| multiproc::futures::block_on(f);
/// assert_eq!(block_on(r), Ok(42));
/// ```
impl<R: Send + 'static> Future for AsyncResult<R> {
    type Output = Result<R, PoolError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let me = self.get_mut();
        let holder = me.holder.clone();
        holder.slot().poll_take(&mut me.waker, cx)
    }
}

impl<R: Send + 'static> Drop for AsyncResult<R> {
    fn drop(&mut self) {
        if let Some(id) = self.waker.take() {
            self.holder.slot().unlisten(id);
        }
    }
}

impl<R: Send + 'static> fmt::Debug for AsyncResult<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.slot().ready.is_set() {
            if self.slot().ok.load(Ordering::Relaxed) {
                "ready, successful"
            } else {
                "ready, failed"
            }
        } else {
            "pending"
        };
        write!(f, "<AsyncResult {state}>")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_result_for_a_u64_fits_the_allocators_fast_bins() {
        // With its `Arc`'s two counts: at most 128 bytes, glibc's default fast-bin limit.
        let size = std::mem::size_of::<super::Slot<u64>>() + 16;
        assert!(size <= 128, "{size} bytes");
    }
}
