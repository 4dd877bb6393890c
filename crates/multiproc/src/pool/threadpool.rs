//! The `threadpool` package (Christopher Arndt's, which the tutorials use): `ThreadPool`,
//! `WorkRequest`, `makeRequests`, `putRequest`, `poll`, `wait`, as a thin layer over
//! [`ThreadPool`](super::ThreadPool).
//!
//! ```
//! use multiproc::pool::threadpool::{ThreadPool, make_requests};
//! use std::cell::RefCell;
//! use std::rc::Rc;
//!
//! fn hello(name: String) -> String { format!("hello {name}") }
//!
//! let seen = Rc::new(RefCell::new(Vec::new()));
//! let s = seen.clone();
//! let mut pool = ThreadPool::new(3).unwrap();                      // ThreadPool(poolsize)
//! let requests = make_requests(hello, ["a", "b", "c"].map(String::from), // makeRequests(f, args, callback)
//!     move |_id, greeting: String| s.borrow_mut().push(greeting));
//! for r in requests {
//!     pool.put_request(r).unwrap();                                // [pool.putRequest(req) for req in requests]
//! }
//! pool.wait();                                                     // pool.wait()
//! let mut seen = seen.borrow().clone();
//! seen.sort();
//! assert_eq!(seen, ["hello a", "hello b", "hello c"]);
//! ```
//!
//! As in the package, callbacks run in the thread that calls [`poll`](ThreadPool::poll) or
//! [`wait`](ThreadPool::wait), so they need not be `Send` and may touch that thread's state;
//! a request whose function panics goes to its `exc_callback` (the package's default prints
//! the traceback; so does this one's). Python's `(args, kwds)` pairs are one argument value
//! here (a tuple, if the function takes several). The package's `createWorkers` and
//! `dismissWorkers` are not offered: the pool's size is fixed when it is made, and a pool
//! always has workers (so `NoWorkersAvailable` cannot happen).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use super::options::TaskOptions;
use super::result::AsyncResult;
use crate::error::PoolError;

type Callback<R> = Rc<RefCell<dyn FnMut(u64, R)>>;
type ExcCallback = Rc<RefCell<dyn FnMut(u64, PoolError)>>;

/// One unit of work (≈ `threadpool.WorkRequest`): a call, and what to do with its result.
pub struct WorkRequest<R> {
    /// `requestID`: unique unless given.
    pub request_id: u64,
    job: Box<dyn FnOnce() -> R + Send>,
    callback: Option<Callback<R>>,
    exc_callback: Option<ExcCallback>,
}

impl<R> fmt::Debug for WorkRequest<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<WorkRequest id={}>", self.request_id)
    }
}

fn next_id() -> u64 {
    // after-fork: kept (ids only need to be unique within a process)
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl<R: Send + 'static> WorkRequest<R> {
    /// `WorkRequest(callable_, args)`, with no callback.
    pub fn new<A: Send + 'static>(f: impl FnOnce(A) -> R + Send + 'static, args: A) -> Self {
        WorkRequest {
            request_id: next_id(),
            job: Box::new(move || f(args)),
            callback: None,
            exc_callback: None,
        }
    }

    /// `requestID=`.
    pub fn request_id(mut self, id: u64) -> Self {
        self.request_id = id;
        self
    }

    /// `callback=`: called with the request's id and its result, in the polling thread.
    pub fn callback(mut self, f: impl FnMut(u64, R) + 'static) -> Self {
        self.callback = Some(Rc::new(RefCell::new(f)));
        self
    }

    /// `exc_callback=`: called with the request's id and why it failed (default: printed).
    pub fn exc_callback(mut self, f: impl FnMut(u64, PoolError) + 'static) -> Self {
        self.exc_callback = Some(Rc::new(RefCell::new(f)));
        self
    }
}

/// `makeRequests(callable_, args_list, callback)`: one request per argument, all sharing
/// `callback`.
pub fn make_requests<A, R, F>(
    f: F,
    args_list: impl IntoIterator<Item = A>,
    callback: impl FnMut(u64, R) + 'static,
) -> Vec<WorkRequest<R>>
where
    A: Send + 'static,
    R: Send + 'static,
    F: Fn(A) -> R + Clone + Send + 'static,
{
    let cb: Callback<R> = Rc::new(RefCell::new(callback));
    args_list
        .into_iter()
        .map(|a| {
            let mut r = WorkRequest::new(f.clone(), a);
            r.callback = Some(cb.clone());
            r
        })
        .collect()
}

/// Why [`poll`](ThreadPool::poll) did nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PollError {
    /// `NoResultsPending`: every request put has been handled.
    #[error("No pending results.")]
    NoResultsPending,
}

/// A request put and not yet polled: its exception callback, its result, its callback.
type Pending<R> = (WorkRequest<()>, AsyncResult<R>, Option<Callback<R>>);

/// `threadpool.ThreadPool(num_workers, q_size)` (see the [module docs](self)).
pub struct ThreadPool<R: Send + 'static> {
    pool: super::ThreadPool,
    pending: HashMap<u64, Pending<R>>,
    done_tx: Sender<u64>,
    done_rx: Receiver<u64>,
}

impl<R: Send + 'static> fmt::Debug for ThreadPool<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<threadpool.ThreadPool workers={} pending={}>",
            self.pool.processes(),
            self.pending.len()
        )
    }
}

impl<R: Send + 'static> ThreadPool<R> {
    /// `ThreadPool(num_workers)`: an unbounded request queue.
    pub fn new(num_workers: usize) -> Result<Self, PoolError> {
        Self::from_pool(super::ThreadPool::new(num_workers)?)
    }

    /// `ThreadPool(num_workers, q_size)`: `put_request` blocks while `q_size` requests wait.
    pub fn with_queue_size(num_workers: usize, q_size: usize) -> Result<Self, PoolError> {
        Self::from_pool(
            super::ThreadPool::builder()
                .threads(num_workers)
                .max_queued(q_size)
                .build()?,
        )
    }

    fn from_pool(pool: super::ThreadPool) -> Result<Self, PoolError> {
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        Ok(ThreadPool {
            pool,
            pending: HashMap::new(),
            done_tx,
            done_rx,
        })
    }

    fn submit(&mut self, req: WorkRequest<R>, room: Option<Duration>) -> Result<(), PoolError> {
        let id = req.request_id;
        let (tx, tx2) = (self.done_tx.clone(), self.done_tx.clone());
        let opts = TaskOptions::new()
            .callback(move |_| {
                let _ = tx.send(id);
            })
            .error_callback(move |_| {
                let _ = tx2.send(id);
            });
        let job = req.job;
        let r = match room {
            None => self.pool.apply_async_with(move |()| job(), (), opts)?,
            Some(d) => {
                let mut o = opts;
                o.room = super::options::Room::Until(std::time::Instant::now() + d);
                self.pool.apply_async_with(move |()| job(), (), o)?
            }
        };
        let meta = WorkRequest {
            request_id: id,
            job: Box::new(|| ()),
            callback: None,
            exc_callback: req.exc_callback,
        };
        self.pending.insert(id, (meta, r, req.callback));
        Ok(())
    }

    /// `putRequest(request)`: waits for room in a bounded pool.
    pub fn put_request(&mut self, req: WorkRequest<R>) -> Result<(), PoolError> {
        self.submit(req, None)
    }

    /// `putRequest(request, timeout=t)`: [`PoolError::Full`] (`queue.Full`) if no room came.
    pub fn put_request_timeout(
        &mut self,
        req: WorkRequest<R>,
        timeout: Duration,
    ) -> Result<(), PoolError> {
        self.submit(req, Some(timeout))
    }

    /// `poll(block)`: runs the callbacks of the requests that have finished, here; with
    /// `block`, waits for at least one. Returns how many it handled;
    /// [`PollError::NoResultsPending`] when nothing is outstanding.
    pub fn poll(&mut self, block: bool) -> Result<usize, PollError> {
        if self.pending.is_empty() {
            return Err(PollError::NoResultsPending);
        }
        let mut ids: Vec<u64> = self.done_rx.try_iter().collect();
        if ids.is_empty() && block {
            match self.done_rx.recv() {
                Ok(id) => ids.push(id),
                Err(_) => return Ok(0),
            }
            ids.extend(self.done_rx.try_iter());
        }
        let mut n = 0;
        for id in ids {
            let Some((meta, r, cb)) = self.pending.remove(&id) else {
                continue;
            };
            n += 1;
            match r.get() {
                Ok(v) => {
                    if let Some(cb) = cb {
                        (cb.borrow_mut())(id, v);
                    }
                }
                Err(e) => match meta.exc_callback {
                    Some(ecb) => (ecb.borrow_mut())(id, e),
                    None => eprintln!("Exception in request {id}: {e}"),
                },
            }
        }
        Ok(n)
    }

    /// `wait()`: polls until every request put has been handled.
    pub fn wait(&mut self) {
        while self.poll(true).is_ok() {}
    }

    /// The number of worker threads (`len(pool.workers)`).
    pub fn workers(&self) -> usize {
        self.pool.processes()
    }
}
