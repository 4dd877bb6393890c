//! The queue vocabulary every queue of the crate speaks: [`Put`], [`Get`], [`Size`] and
//! [`Tasks`], with one pair of error types ([`PutError`], [`GetError`]).
//!
//! Python's queues are duck-typed: a `queue.Queue`, a `multiprocessing.Queue` and a manager's
//! queue proxy all answer `put`/`get`/`qsize`. These traits are that duck type, so code that
//! moves items (a pool's task and result queues, a worker loop) is written once for thread
//! queues, process queues, and the manager and Redis queues to come. The inherent methods
//! stay as they are (a thread queue's blocking `get` returns `T`, since it cannot fail);
//! through a trait every queue answers `Result`, and a thread queue's errors are
//! `PutError::Full` and `GetError::Empty`.
//!
//! ```
//! use std::time::Duration;
//! use multiproc::queue::{Get, Put, Size};
//!
//! /// Moves everything waiting in `from` to `to`: any two queues, thread or process.
//! fn drain<T>(from: &impl Get<T>, to: &impl Put<T>) -> usize {
//!     let mut n = 0;
//!     while let Ok(item) = from.get_nowait() {
//!         to.put(item).map_err(|_| ()).unwrap();
//!         n += 1;
//!     }
//!     n
//! }
//!
//! let threads = multiproc::queue::Queue::new(0);
//! let processes = multiproc::process::Queue::new(0).unwrap();
//! for i in 0..3u32 { threads.put(i); }
//! assert_eq!(drain(&threads, &processes), 3);
//! assert_eq!(Size::qsize(&processes), 3);
//! assert_eq!(Get::get_timeout(&processes, Duration::from_secs(1)).unwrap(), 0);
//! ```

use std::time::Duration;

use crate::error::{Full, GetError, PutError, TaskDoneError, Timeout};

/// How full a queue is (`qsize()`, `empty()`, `full()`, `maxsize`).
pub trait Size {
    /// Items waiting (`qsize()`).
    fn qsize(&self) -> usize;
    /// Whether none is waiting (`empty()`).
    fn empty(&self) -> bool;
    /// Whether a `put` would wait (`full()`).
    fn full(&self) -> bool;
    /// The bound, 0 for none (`maxsize`).
    fn maxsize(&self) -> usize;
}

/// The put side of a queue. Every form gives the item back in its error.
pub trait Put<T>: Size {
    /// Waits for room as long as needed (`put(x)`).
    fn put(&self, item: T) -> Result<(), PutError<T>>;
    /// Never waits (`put_nowait(x)`): `PutError::Full(x)` when there is no room.
    fn put_nowait(&self, item: T) -> Result<(), PutError<T>>;
    /// Waits at most `timeout` (`put(x, timeout=t)`): `PutError::Full(x)` after it.
    fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>>;
}

/// The get side of a queue.
pub trait Get<T>: Size {
    /// Waits for an item as long as needed (`get()`).
    fn get(&self) -> Result<T, GetError>;
    /// Never waits (`get_nowait()`): `GetError::Empty` when none is there.
    fn get_nowait(&self) -> Result<T, GetError>;
    /// Waits at most `timeout` (`get(timeout=t)`): `GetError::Empty` after it.
    fn get_timeout(&self, timeout: Duration) -> Result<T, GetError>;
}

/// Counting unfinished tasks (`task_done()`, `join()`, `unfinished_tasks`).
pub trait Tasks {
    /// One item taken earlier is done; more calls than items is [`TaskDoneError`].
    fn task_done(&self) -> Result<(), TaskDoneError>;
    /// Waits until every item put was marked done.
    fn join(&self);
    /// As [`join`](Self::join), for at most `timeout`.
    fn join_timeout(&self, timeout: Duration) -> Result<(), Timeout>;
    /// Items put and not yet marked done.
    fn unfinished_tasks(&self) -> usize;
}

fn full<T>(Full(item): Full<T>) -> PutError<T> {
    PutError::Full(item)
}

/// The thread queues with every method (`Queue`, `LifoQueue`, `PriorityQueue`).
macro_rules! thread_queue {
    ($q:ident<$t:ident> $(where $($b:tt)+)?) => {
        impl<$t $(: $($b)+)?> Size for super::$q<$t> {
            fn qsize(&self) -> usize {
                super::$q::qsize(self)
            }
            fn empty(&self) -> bool {
                super::$q::empty(self)
            }
            fn full(&self) -> bool {
                super::$q::full(self)
            }
            fn maxsize(&self) -> usize {
                super::$q::maxsize(self)
            }
        }
        impl<$t $(: $($b)+)?> Put<$t> for super::$q<$t> {
            fn put(&self, item: $t) -> Result<(), PutError<$t>> {
                super::$q::put(self, item);
                Ok(())
            }
            fn put_nowait(&self, item: $t) -> Result<(), PutError<$t>> {
                super::$q::put_nowait(self, item).map_err(full)
            }
            fn put_timeout(&self, item: $t, timeout: Duration) -> Result<(), PutError<$t>> {
                super::$q::put_timeout(self, item, timeout).map_err(full)
            }
        }
        impl<$t $(: $($b)+)?> Get<$t> for super::$q<$t> {
            fn get(&self) -> Result<$t, GetError> {
                Ok(super::$q::get(self))
            }
            fn get_nowait(&self) -> Result<$t, GetError> {
                super::$q::get_nowait(self).map_err(|_| GetError::Empty)
            }
            fn get_timeout(&self, timeout: Duration) -> Result<$t, GetError> {
                super::$q::get_timeout(self, timeout).map_err(|_| GetError::Empty)
            }
        }
        impl<$t $(: $($b)+)?> Tasks for super::$q<$t> {
            fn task_done(&self) -> Result<(), TaskDoneError> {
                super::$q::task_done(self)
            }
            fn join(&self) {
                super::$q::join(self)
            }
            fn join_timeout(&self, timeout: Duration) -> Result<(), Timeout> {
                super::$q::join_timeout(self, timeout)
            }
            fn unfinished_tasks(&self) -> usize {
                super::$q::unfinished_tasks(self)
            }
        }
    };
}

thread_queue!(Queue<T>);
thread_queue!(LifoQueue<T>);
thread_queue!(PriorityQueue<T> where Ord);

impl<T> Size for super::SimpleQueue<T> {
    fn qsize(&self) -> usize {
        super::SimpleQueue::qsize(self)
    }
    fn empty(&self) -> bool {
        super::SimpleQueue::empty(self)
    }
    fn full(&self) -> bool {
        false
    }
    fn maxsize(&self) -> usize {
        0
    }
}

impl<T> Put<T> for super::SimpleQueue<T> {
    fn put(&self, item: T) -> Result<(), PutError<T>> {
        super::SimpleQueue::put(self, item);
        Ok(())
    }
    /// Unbounded: never waits anyway.
    fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
        Put::put(self, item)
    }
    fn put_timeout(&self, item: T, _timeout: Duration) -> Result<(), PutError<T>> {
        Put::put(self, item)
    }
}

impl<T> Get<T> for super::SimpleQueue<T> {
    fn get(&self) -> Result<T, GetError> {
        Ok(super::SimpleQueue::get(self))
    }
    fn get_nowait(&self) -> Result<T, GetError> {
        super::SimpleQueue::get_nowait(self).map_err(|_| GetError::Empty)
    }
    fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
        super::SimpleQueue::get_timeout(self, timeout).map_err(|_| GetError::Empty)
    }
}

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::process::{JoinableQueue as PQueueJ, Queue as PQueue, SimpleQueue as PQueueS};

impl<T: Serialize + DeserializeOwned + 'static> Size for PQueue<T> {
    fn qsize(&self) -> usize {
        PQueue::qsize(self)
    }
    fn empty(&self) -> bool {
        PQueue::empty(self)
    }
    fn full(&self) -> bool {
        PQueue::full(self)
    }
    fn maxsize(&self) -> usize {
        PQueue::maxsize(self)
    }
}

impl<T: Serialize + DeserializeOwned + 'static> Put<T> for PQueue<T> {
    fn put(&self, item: T) -> Result<(), PutError<T>> {
        PQueue::put(self, item)
    }
    fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
        PQueue::put_nowait(self, item)
    }
    fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
        PQueue::put_timeout(self, item, timeout)
    }
}

impl<T: Serialize + DeserializeOwned + 'static> Get<T> for PQueue<T> {
    fn get(&self) -> Result<T, GetError> {
        PQueue::get(self)
    }
    fn get_nowait(&self) -> Result<T, GetError> {
        PQueue::get_nowait(self)
    }
    fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
        PQueue::get_timeout(self, timeout)
    }
}

/// A `JoinableQueue` is a `Queue` that counts tasks.
macro_rules! via_deref {
    ($q:ident) => {
        impl<T: Serialize + DeserializeOwned + 'static> Size for $q<T> {
            fn qsize(&self) -> usize {
                Size::qsize(&**self)
            }
            fn empty(&self) -> bool {
                Size::empty(&**self)
            }
            fn full(&self) -> bool {
                Size::full(&**self)
            }
            fn maxsize(&self) -> usize {
                Size::maxsize(&**self)
            }
        }
        impl<T: Serialize + DeserializeOwned + 'static> Put<T> for $q<T> {
            fn put(&self, item: T) -> Result<(), PutError<T>> {
                Put::put(&**self, item)
            }
            fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
                Put::put_nowait(&**self, item)
            }
            fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
                Put::put_timeout(&**self, item, timeout)
            }
        }
        impl<T: Serialize + DeserializeOwned + 'static> Get<T> for $q<T> {
            fn get(&self) -> Result<T, GetError> {
                Get::get(&**self)
            }
            fn get_nowait(&self) -> Result<T, GetError> {
                Get::get_nowait(&**self)
            }
            fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
                Get::get_timeout(&**self, timeout)
            }
        }
    };
}

via_deref!(PQueueJ);

// A `SimpleQueue` is an unbounded `Queue` with fewer methods of its own.

impl<T: Serialize + DeserializeOwned + 'static> Size for PQueueS<T> {
    fn qsize(&self) -> usize {
        Size::qsize(self.queue())
    }
    fn empty(&self) -> bool {
        PQueueS::empty(self)
    }
    fn full(&self) -> bool {
        false
    }
    fn maxsize(&self) -> usize {
        0
    }
}

impl<T: Serialize + DeserializeOwned + 'static> Put<T> for PQueueS<T> {
    fn put(&self, item: T) -> Result<(), PutError<T>> {
        PQueueS::put(self, item)
    }
    fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
        Put::put_nowait(self.queue(), item)
    }
    fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
        Put::put_timeout(self.queue(), item, timeout)
    }
}

impl<T: Serialize + DeserializeOwned + 'static> Get<T> for PQueueS<T> {
    fn get(&self) -> Result<T, GetError> {
        PQueueS::get(self)
    }
    fn get_nowait(&self) -> Result<T, GetError> {
        Get::get_nowait(self.queue())
    }
    fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
        PQueueS::get_timeout(self, timeout)
    }
}

impl<T: Serialize + DeserializeOwned + 'static> Tasks for PQueueJ<T> {
    fn task_done(&self) -> Result<(), TaskDoneError> {
        PQueueJ::task_done(self)
    }
    fn join(&self) {
        PQueueJ::join(self)
    }
    fn join_timeout(&self, timeout: Duration) -> Result<(), Timeout> {
        PQueueJ::join_timeout(self, timeout)
    }
    fn unfinished_tasks(&self) -> usize {
        PQueueJ::unfinished_tasks(self)
    }
}
