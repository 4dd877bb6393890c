//! Remote queues: [`Queue`], [`JoinableQueue`], [`SimpleQueue`] (≈ `multiprocessing.Queue`
//! and friends), on a backend list. They speak the crate's queue traits
//! ([`Put`], [`Get`], [`Size`], [`Tasks`]), so code written for local queues takes them.
//!
//! ```no_run
//! use multiproc::remote;
//!
//! let r = remote::connect("redis://127.0.0.1:6379/0", "jobs").unwrap();
//! let q = r.queue::<String>("inbox", 0).unwrap();
//! q.put("hello".to_string()).unwrap();
//! assert_eq!(q.get().unwrap(), "hello");
//! ```

use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::backend::Wait;
use super::context::Remote;
use super::object::{Object, Of, dec, enc, handle, tag};
use crate::error::{GetError, PutError, RemoteError, TaskDoneError, Timeout};
use crate::queue::{Get, Put, Size, Tasks};

/// Test hook (feature `test-hooks`): the calling thread's next get that takes an item
/// reports its answer lost (the item stays held for the next get of the same thread).
#[cfg(feature = "test-hooks")]
#[doc(hidden)]
pub fn lose_next_get_answer() {
    super::redis_backend::LOSE_NEXT_TAKE.set(true);
}

/// How often a wait looks again when no notification came (a lost one costs this much).
const POLL: Duration = Duration::from_millis(100);

/// A FIFO queue on the backend (≈ `multiprocessing.Queue(maxsize)`); `maxsize` 0 is
/// unbounded. The bound is fixed by the first handle made; later handles read it.
pub struct Queue<T> {
    obj: Object,
    maxsize: u64,
    taker: Taker,
    _t: Of<T>,
}

handle!(Queue<T>, "Queue", maxsize, taker);

/// Where this handle's gets hold the item they take until it is delivered (one list per
/// handle and thread), and which threads' last get may have lost its answer. A clone is
/// another consumer: it gets its own.
struct Taker {
    id: String,
    suspect: std::sync::Mutex<std::collections::HashSet<std::thread::ThreadId>>,
}

impl Taker {
    fn new() -> Taker {
        Taker {
            id: format!("{:016x}", super::redis_backend::random_u128() as u64),
            suspect: std::sync::Mutex::new(std::collections::HashSet::new()),
        }
    }

    fn held(&self, queue: &Object) -> String {
        queue.sub(&format!(
            "held:{}:{:?}",
            self.id,
            std::thread::current().id()
        ))
    }

    /// Whether this thread's last get may have lost its answer (then its item is held).
    fn suspect(&self, lost: Option<bool>) -> bool {
        let me = std::thread::current().id();
        let mut s = self
            .suspect
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match lost {
            Some(true) => s.insert(me),
            Some(false) => s.remove(&me),
            None => s.contains(&me),
        }
    }
}

impl Clone for Taker {
    fn clone(&self) -> Taker {
        Taker::new()
    }
}

fn put_err<T>(item: T, e: RemoteError) -> PutError<T> {
    match e {
        RemoteError::Data(reason) => PutError::Encode { item, reason },
        e => PutError::Unavailable {
            item,
            reason: e.to_string(),
        },
    }
}

fn get_err<T>(e: RemoteError) -> GetError {
    match e {
        RemoteError::Data(reason) => GetError::Decode {
            type_name: std::any::type_name::<T>(),
            reason,
        },
        e => GetError::Unavailable(e.to_string()),
    }
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    pub(crate) fn create(remote: &Remote, name: &str, maxsize: u64) -> Result<Self, RemoteError> {
        let obj = Object::open(remote, "queue", name, Some(&tag::<T>()))?;
        let (_, found) =
            obj.backend()
                .compare_and_set(&obj.sub("max"), None, None, Some(&enc(&maxsize)?))?;
        let maxsize = match found {
            Some(b) => dec(&b)?,
            None => maxsize,
        };
        Ok(Queue {
            obj,
            maxsize,
            taker: Taker::new(),
            _t: std::marker::PhantomData,
        })
    }

    pub(crate) fn open(remote: &Remote, name: &str) -> Result<Self, RemoteError> {
        Queue::create(remote, name, 0)
    }

    /// Its name in the namespace.
    pub fn name(&self) -> &str {
        &self.obj.name
    }

    fn push(&self, item: &T, counter: Option<&str>) -> Result<bool, RemoteError> {
        let b = enc(item)?;
        let cap = (self.maxsize > 0).then_some(self.maxsize);
        self.obj
            .backend()
            .push(&self.obj.key, std::slice::from_ref(&b), false, cap, counter)
    }

    fn put_until(
        &self,
        item: T,
        deadline: Option<Option<Instant>>,
        counter: Option<&str>,
    ) -> Result<(), PutError<T>> {
        match self.push(&item, counter) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => return Err(put_err(item, e)),
        }
        let Some(deadline) = deadline else {
            return Err(PutError::Full(item));
        };
        let mut done = false;
        let waited = self
            .obj
            .backend()
            .wait(&self.obj.sub("space"), deadline, POLL, &mut || {
                done = self.push(&item, counter)?;
                Ok(done)
            });
        match waited {
            Ok(()) if done => Ok(()),
            Ok(()) | Err(RemoteError::Timeout) => Err(PutError::Full(item)),
            Err(e) => Err(put_err(item, e)),
        }
    }

    fn get_wait(&self, wait: Wait) -> Result<T, GetError> {
        let held = self.taker.held(&self.obj);
        let recover = self.taker.suspect(None);
        let got = match self.obj.backend().take(&self.obj.key, &held, recover, wait) {
            Ok(got) => {
                self.taker.suspect(Some(false));
                got
            }
            Err(e) => {
                // The item may have been moved and its answer lost: the next get of this
                // thread looks in `held` first.
                self.taker.suspect(Some(true));
                return Err(get_err::<T>(e));
            }
        };
        let Some(b) = got else {
            return Err(GetError::Empty);
        };
        if self.maxsize > 0 {
            let _ = self.obj.backend().notify(&self.obj.sub("space"), b"");
        }
        dec(&b).map_err(get_err::<T>)
    }

    /// Puts `item`, waiting for room as long as needed (`put(x)`).
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.put_until(item, Some(None), None)
    }

    /// Puts `item` if there is room now (`put_nowait(x)`).
    pub fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
        self.put_until(item, None, None)
    }

    /// Puts `item`, waiting at most `timeout` for room (`put(x, timeout=t)`).
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
        self.put_until(item, Some(crate::sync::deadline(timeout)), None)
    }

    /// Puts every item in one round trip, all or none (beyond Python); `PutError::Full`
    /// with the items if they would not all fit.
    pub fn put_many(&self, items: Vec<T>) -> Result<(), PutError<Vec<T>>> {
        let mut bytes = Vec::with_capacity(items.len());
        for i in &items {
            match enc(i) {
                Ok(b) => bytes.push(b),
                Err(e) => return Err(put_err(items, e)),
            }
        }
        let cap = (self.maxsize > 0).then_some(self.maxsize);
        match self
            .obj
            .backend()
            .push(&self.obj.key, &bytes, false, cap, None)
        {
            Ok(true) => Ok(()),
            Ok(false) => Err(PutError::Full(items)),
            Err(e) => Err(put_err(items, e)),
        }
    }

    /// Takes the next item, waiting as long as needed (`get()`).
    pub fn get(&self) -> Result<T, GetError> {
        self.get_wait(Wait::Forever)
    }

    /// Takes the next item if there is one (`get_nowait()`).
    pub fn get_nowait(&self) -> Result<T, GetError> {
        self.get_wait(Wait::No)
    }

    /// Takes the next item, waiting at most `timeout` (`get(timeout=t)`).
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
        self.get_wait(Wait::timeout(Some(timeout)))
    }

    /// Takes up to `max` items waiting now, in one round trip (beyond Python).
    pub fn get_many(&self, max: usize) -> Result<Vec<T>, GetError> {
        let got = self
            .obj
            .backend()
            .pop(&self.obj.key, max, false, Wait::No)
            .map_err(get_err::<T>)?;
        got.iter().map(|b| dec(b).map_err(get_err::<T>)).collect()
    }

    /// Items waiting (`qsize()`).
    pub fn qsize(&self) -> Result<usize, RemoteError> {
        Ok(self.obj.backend().len(&self.obj.key)? as usize)
    }

    /// Whether no item is waiting (`empty()`).
    pub fn empty(&self) -> Result<bool, RemoteError> {
        Ok(self.qsize()? == 0)
    }

    /// Whether a `put` would wait (`full()`).
    pub fn full(&self) -> Result<bool, RemoteError> {
        Ok(self.maxsize > 0 && self.qsize()? as u64 >= self.maxsize)
    }

    /// The bound, 0 for none.
    pub fn maxsize(&self) -> usize {
        self.maxsize as usize
    }
}

/// A [`Queue`] that counts unfinished tasks (≈ `multiprocessing.JoinableQueue`): every
/// `put` adds one, every [`task_done`](Self::task_done) takes one off, and
/// [`join`](Self::join) waits for none to be left, in any process.
pub struct JoinableQueue<T> {
    obj: Object,
    queue: Queue<T>,
    _t: Of<T>,
}

handle!(JoinableQueue<T>, "JoinableQueue", queue);

impl<T: Serialize + DeserializeOwned> JoinableQueue<T> {
    pub(crate) fn create(remote: &Remote, name: &str, maxsize: u64) -> Result<Self, RemoteError> {
        let queue = Queue::create(remote, name, maxsize)?;
        Ok(JoinableQueue {
            obj: queue.obj.clone(),
            queue,
            _t: std::marker::PhantomData,
        })
    }

    pub(crate) fn open(remote: &Remote, name: &str) -> Result<Self, RemoteError> {
        JoinableQueue::create(remote, name, 0)
    }

    fn counter(&self) -> String {
        self.obj.sub("unfinished")
    }

    /// Puts `item` and counts it unfinished (`put(x)`).
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.queue
            .put_until(item, Some(None), Some(&self.counter()))
    }

    /// As [`put`](Self::put), never waiting.
    pub fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
        self.queue.put_until(item, None, Some(&self.counter()))
    }

    /// As [`put`](Self::put), waiting at most `timeout`.
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
        self.queue.put_until(
            item,
            Some(crate::sync::deadline(timeout)),
            Some(&self.counter()),
        )
    }

    /// One item taken earlier is done (`task_done()`); more calls than items is
    /// [`TaskDoneError`].
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        let b = self.obj.backend();
        let left = b
            .incr(&self.counter(), None, -1)
            .map_err(|_| TaskDoneError)?;
        if left < 0 {
            let _ = b.incr(&self.counter(), None, 1);
            return Err(TaskDoneError);
        }
        if left == 0 {
            let _ = b.notify(&self.obj.sub("joined"), b"");
        }
        Ok(())
    }

    /// Items put and not yet marked done.
    pub fn unfinished_tasks(&self) -> Result<usize, RemoteError> {
        let v = self.obj.backend().get(&self.counter(), None)?;
        Ok(v.and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0)
            .max(0) as usize)
    }

    fn join_until(&self, deadline: Option<Instant>) -> Result<(), RemoteError> {
        self.obj
            .backend()
            .wait(&self.obj.sub("joined"), deadline, POLL, &mut || {
                Ok(self.unfinished_tasks()? == 0)
            })
    }

    /// Waits until every item put was marked done (`join()`).
    pub fn join(&self) -> Result<(), RemoteError> {
        self.join_until(None)
    }

    /// As [`join`](Self::join), for at most `timeout`.
    pub fn join_timeout(&self, timeout: Duration) -> Result<(), RemoteError> {
        self.join_until(crate::sync::deadline(timeout))
    }
}

impl<T> std::ops::Deref for JoinableQueue<T> {
    type Target = Queue<T>;
    fn deref(&self) -> &Queue<T> {
        &self.queue
    }
}

/// An unbounded queue (≈ `multiprocessing.SimpleQueue`: `put`, `get`, `empty`).
pub struct SimpleQueue<T> {
    obj: Object,
    queue: Queue<T>,
    _t: Of<T>,
}

handle!(SimpleQueue<T>, "SimpleQueue", queue);

impl<T: Serialize + DeserializeOwned> SimpleQueue<T> {
    pub(crate) fn open(remote: &Remote, name: &str) -> Result<Self, RemoteError> {
        let queue = Queue::create(remote, name, 0)?;
        Ok(SimpleQueue {
            obj: queue.obj.clone(),
            queue,
            _t: std::marker::PhantomData,
        })
    }

    /// Puts `item` (`put(x)`).
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.queue.put(item)
    }

    /// Takes the next item, waiting as long as needed (`get()`).
    pub fn get(&self) -> Result<T, GetError> {
        self.queue.get()
    }

    /// Whether no item is waiting (`empty()`).
    pub fn empty(&self) -> Result<bool, RemoteError> {
        self.queue.empty()
    }
}

macro_rules! traits {
    ($q:ident) => {
        impl<T: Serialize + DeserializeOwned> Size for $q<T> {
            /// 0 when the backend cannot be asked (the inherent `qsize` says why).
            fn qsize(&self) -> usize {
                Queue::<T>::qsize(self).unwrap_or(0)
            }
            fn empty(&self) -> bool {
                Queue::<T>::empty(self).unwrap_or(true)
            }
            fn full(&self) -> bool {
                Queue::<T>::full(self).unwrap_or(false)
            }
            fn maxsize(&self) -> usize {
                Queue::<T>::maxsize(self)
            }
        }
        impl<T: Serialize + DeserializeOwned> Get<T> for $q<T> {
            fn get(&self) -> Result<T, GetError> {
                Queue::<T>::get(self)
            }
            fn get_nowait(&self) -> Result<T, GetError> {
                Queue::<T>::get_nowait(self)
            }
            fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
                Queue::<T>::get_timeout(self, timeout)
            }
        }
    };
}

traits!(Queue);
traits!(JoinableQueue);

impl<T: Serialize + DeserializeOwned> Put<T> for Queue<T> {
    fn put(&self, item: T) -> Result<(), PutError<T>> {
        Queue::put(self, item)
    }
    fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
        Queue::put_nowait(self, item)
    }
    fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
        Queue::put_timeout(self, item, timeout)
    }
}

impl<T: Serialize + DeserializeOwned> Put<T> for JoinableQueue<T> {
    fn put(&self, item: T) -> Result<(), PutError<T>> {
        JoinableQueue::put(self, item)
    }
    fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
        JoinableQueue::put_nowait(self, item)
    }
    fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
        JoinableQueue::put_timeout(self, item, timeout)
    }
}

impl<T: Serialize + DeserializeOwned> Tasks for JoinableQueue<T> {
    fn task_done(&self) -> Result<(), TaskDoneError> {
        JoinableQueue::task_done(self)
    }
    /// Waits until done; a backend that cannot be reached ends the wait (see the inherent
    /// [`join`](JoinableQueue::join), which says why).
    fn join(&self) {
        let _ = JoinableQueue::join(self);
    }
    fn join_timeout(&self, timeout: Duration) -> Result<(), Timeout> {
        JoinableQueue::join_timeout(self, timeout).map_err(|_| Timeout)
    }
    fn unfinished_tasks(&self) -> usize {
        JoinableQueue::unfinished_tasks(self).unwrap_or(0)
    }
}
