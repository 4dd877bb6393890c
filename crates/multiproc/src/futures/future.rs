//! [`Future`] (≈ `concurrent.futures.Future`): one submitted call's state and outcome.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use crate::error::PoolError;
use crate::pool::listeners::Listener;
use crate::pool::result::{Control, HasSlot, Slot, Submitted};

/// The pending result of a call given to an executor's `submit` (≈
/// `concurrent.futures.Future`). A cheap handle: clones share one call.
///
/// | Python | multiproc |
/// |---|---|
/// | `f.result()`, `f.result(timeout)` | [`result`](Self::result) (`R: Clone`), [`result_timeout`](Self::result_timeout), or [`into_result`](Self::into_result) (takes it) |
/// | `f.exception()` | [`exception`](Self::exception), [`exception_timeout`](Self::exception_timeout) |
/// | `f.done()`, `f.running()`, `f.cancelled()`, `f.cancel()` | the same names |
/// | `f.add_done_callback(fn)` | [`add_done_callback`](Self::add_done_callback) |
/// | `await asyncio.wrap_future(f)` | `f.await` (any executor: it is a [`std::future::Future`]) |
///
/// ```
/// use multiproc::futures::ThreadPoolExecutor;
///
/// let ex = ThreadPoolExecutor::new(2).unwrap();
/// let f = ex.submit(|(a, b): (u64, u32)| a.pow(b), (2, 8)).unwrap();
/// assert_eq!(f.result(), Ok(256));
/// assert!(f.done() && !f.cancelled() && !f.running());
/// assert_eq!(f.exception(), None);
/// ```
pub struct Future<R: Send + 'static> {
    holder: Arc<dyn HasSlot<R>>,
    seq: u64,
    control: Weak<dyn Control>,
    /// This handle's waker registration while it is awaited.
    waker: Option<u64>,
}

impl<R: Send + 'static> Clone for Future<R> {
    fn clone(&self) -> Self {
        Future {
            holder: self.holder.clone(),
            seq: self.seq,
            control: self.control.clone(),
            waker: None,
        }
    }
}

impl<R: Send + 'static> Future<R> {
    pub(crate) fn submitted(s: Submitted<R>) -> Future<R> {
        Future {
            holder: s.holder,
            seq: s.seq,
            control: s.control,
            waker: None,
        }
    }

    fn slot(&self) -> &Slot<R> {
        self.holder.slot()
    }

    /// Whether `self` and `other` are the same call (Python's `is`): `wait` and
    /// `as_completed` count a future given twice once.
    pub fn same(&self, other: &Future<R>) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.holder), Arc::as_ptr(&other.holder))
    }

    pub(crate) fn key(&self) -> *const () {
        Arc::as_ptr(&self.holder) as *const ()
    }

    /// Waits for the call and returns a clone of its value, or its error (`result()`); as
    /// often as asked, as in Python. [`into_result`](Self::into_result) needs no `Clone`.
    pub fn result(&self) -> Result<R, PoolError>
    where
        R: Clone,
    {
        self.slot().wait_until(None);
        self.outcome()
    }

    /// As [`result`](Self::result) for at most `timeout`: [`PoolError::Timeout`] leaves the
    /// call running (`result(timeout)` raising `TimeoutError`).
    pub fn result_timeout(&self, timeout: Duration) -> Result<R, PoolError>
    where
        R: Clone,
    {
        if !self.slot().wait_until(crate::sync::deadline(timeout)) {
            return Err(PoolError::Timeout);
        }
        self.outcome()
    }

    fn outcome(&self) -> Result<R, PoolError>
    where
        R: Clone,
    {
        self.slot().peek(|v| match v {
            Some(r) => r.cloned().map_err(PoolError::clone),
            None => Err(PoolError::AlreadyTaken),
        })
    }

    /// Waits for the call and takes its value: the value moves out, so a clone of this
    /// future asking after it gets [`PoolError::AlreadyTaken`]; an error stays readable.
    pub fn into_result(self) -> Result<R, PoolError> {
        self.slot().wait_until(None);
        self.slot().take()
    }

    /// Waits until `deadline` and takes the value ([`PoolError::Timeout`] after it).
    pub(crate) fn take_until(&self, deadline: Option<std::time::Instant>) -> Result<R, PoolError> {
        if !self.slot().wait_until(deadline) {
            return Err(PoolError::Timeout);
        }
        self.slot().take()
    }

    /// Waits for the call; its error, or `None` if it returned (`exception()`). A cancelled
    /// call gives `Some(Cancelled)` where Python raises `CancelledError`.
    pub fn exception(&self) -> Option<PoolError> {
        self.slot().wait_until(None);
        self.error()
    }

    /// As [`exception`](Self::exception) for at most `timeout`.
    pub fn exception_timeout(&self, timeout: Duration) -> Result<Option<PoolError>, PoolError> {
        if !self.slot().wait_until(crate::sync::deadline(timeout)) {
            return Err(PoolError::Timeout);
        }
        Ok(self.error())
    }

    fn error(&self) -> Option<PoolError> {
        self.slot().peek(|v| match v {
            Some(Err(e)) => Some(e.clone()),
            _ => None,
        })
    }

    /// Looks at the outcome without taking or cloning it: `None` while the call runs.
    pub fn with_result<T>(&self, f: impl FnOnce(Option<Result<&R, &PoolError>>) -> T) -> T {
        self.slot().peek(f)
    }

    /// Whether the call finished or was cancelled (`done()`).
    pub fn done(&self) -> bool {
        self.slot().is_ready()
    }

    /// Whether it ended with an error other than being cancelled (what `FIRST_EXCEPTION`
    /// waits for).
    pub(crate) fn raised(&self) -> bool {
        self.done() && !self.slot().succeeded() && !self.cancelled()
    }

    /// Whether a worker is running the call now (`running()`).
    pub fn running(&self) -> bool {
        !self.done() && self.control.upgrade().is_some_and(|c| c.running(self.seq))
    }

    /// Whether the call was cancelled (`cancelled()`).
    pub fn cancelled(&self) -> bool {
        self.done()
            && self
                .slot()
                .peek(|v| matches!(v, Some(Err(PoolError::Cancelled))))
    }

    /// Cancels the call if no worker has started it (`cancel()`): true then, and true again
    /// for a future already cancelled; false once it runs or has finished, as in Python.
    pub fn cancel(&self) -> bool {
        if self.cancelled() {
            return true;
        }
        if self.done() {
            return false;
        }
        let cancelled = self
            .control
            .upgrade()
            .is_some_and(|c| c.cancel(self.seq, false));
        cancelled || self.cancelled()
    }

    /// Runs `f(&future)` when the call ends, in the thread that ends it (a worker thread, or a
    /// process pool's result thread), or at once, here, if it has ended
    /// (`add_done_callback`). Callables run in the order added; one that panics is reported
    /// on stderr and the later ones still run.
    pub fn add_done_callback(&self, f: impl FnOnce(&Future<R>) + Send + 'static) {
        let me = self.clone();
        self.slot().listen(Listener::Call(Box::new(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&me)));
            if let Err(payload) = outcome {
                let p = crate::thread::to_panic("done callback", &*payload);
                crate::sys::io::write_stderr(
                    format!("exception calling callback for {me:?}: {p}\n").as_bytes(),
                );
            }
        })));
    }

    /// Runs `f` when the call ends (or at once); an id for [`unlisten`](Self::unlisten).
    pub(crate) fn listen(&self, f: Box<dyn FnOnce() + Send>) -> Option<u64> {
        self.slot().listen(Listener::Call(f))
    }

    pub(crate) fn unlisten(&self, id: u64) {
        self.slot().unlisten(id);
    }
}

/// Awaiting a `Future` takes its value, as [`into_result`](Future::into_result) does, without
/// blocking the thread: the thread that ends the call wakes the task. No runtime needed:
/// any executor works (tokio, async-std, smol, [`block_on`](super::block_on)).
impl<R: Send + 'static> std::future::Future for Future<R> {
    type Output = Result<R, PoolError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let me = self.get_mut();
        let holder = me.holder.clone();
        holder.slot().poll_take(&mut me.waker, cx)
    }
}

impl<R: Send + 'static> Drop for Future<R> {
    fn drop(&mut self) {
        if let Some(id) = self.waker.take() {
            self.holder.slot().unlisten(id);
        }
    }
}

impl<R: Send + 'static> fmt::Debug for Future<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if !self.done() {
            if self.running() { "running" } else { "pending" }.to_string()
        } else if self.cancelled() {
            "cancelled".to_string()
        } else if self.slot().succeeded() {
            let t = std::any::type_name::<R>();
            format!("finished returned {}", t.rsplit("::").next().unwrap_or(t))
        } else {
            let why = self.error().map(|e| format!("{e:?}")).unwrap_or_default();
            let variant = why.split(['(', ' ', '{']).next().unwrap_or("").to_string();
            format!("finished raised {variant}")
        };
        write!(f, "<Future at {:p} state={state}>", self.key())
    }
}
