//! [`QueueProxy`] and [`JoinableQueueProxy`]: a `queue.Queue` served by a manager
//! (≈ `Manager().Queue()`), usable from any process that can reach the manager, here or on
//! another machine; the same [`Put`]/[`Get`]/[`Tasks`] traits as every other queue.
//!
//! ```
//! use multiproc::manager::Manager;
//! use std::time::Duration;
//!
//! let manager = Manager::start().unwrap();
//! let q = manager.queue::<String>(2).unwrap();
//! q.put("a".into()).unwrap();
//! q.put("b".into()).unwrap();
//! assert!(q.full().unwrap());
//! assert!(matches!(q.put_timeout("c".into(), Duration::from_millis(10)), Err(multiproc::ManagerError::Full)));
//! assert_eq!(q.get().unwrap(), "a");
//! ```

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::client::typed_proxy;
use super::data::to_data;
use super::protocol::{Op, micros};
use crate::error::{GetError, ManagerError, PutError, TaskDoneError, Timeout};
use crate::queue::traits::{Get, Put, Size, Tasks};

typed_proxy! {
    /// A queue on a manager (≈ `Manager().Queue(maxsize)`).
    QueueProxy<T>
}

typed_proxy! {
    /// A queue with `task_done` and `join` on a manager (≈ `Manager().JoinableQueue()`).
    JoinableQueueProxy<T>
}

macro_rules! queue_methods {
    () => {
        /// `q.put(x)`: waits while the queue is full.
        pub fn put(&self, item: T) -> Result<(), ManagerError> {
            self.put_ref(&item, None)
        }

        /// `q.put_nowait(x)`: [`ManagerError::Full`] at once if full.
        pub fn put_nowait(&self, item: T) -> Result<(), ManagerError> {
            self.put_ref(&item, Some(Duration::ZERO))
        }

        /// `q.put(x, timeout=t)`.
        pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), ManagerError> {
            self.put_ref(&item, Some(timeout))
        }

        fn put_ref(&self, item: &T, timeout: Option<Duration>) -> Result<(), ManagerError> {
            self.inner
                .call(Op::Put(to_data(item)?, micros(timeout)))?
                .unit()
        }

        /// `q.get()`: waits for an item.
        pub fn get(&self) -> Result<T, ManagerError> {
            self.inner.call(Op::Take(None))?.value()
        }

        /// `q.get_nowait()`: [`ManagerError::Empty`] at once if empty.
        pub fn get_nowait(&self) -> Result<T, ManagerError> {
            self.get_timeout(Duration::ZERO)
        }

        /// `q.get(timeout=t)`.
        pub fn get_timeout(&self, timeout: Duration) -> Result<T, ManagerError> {
            self.inner.call(Op::Take(micros(Some(timeout))))?.value()
        }

        /// `q.qsize()`.
        pub fn qsize(&self) -> Result<usize, ManagerError> {
            self.inner.call(Op::QSize)?.len()
        }

        /// `q.empty()`.
        pub fn empty(&self) -> Result<bool, ManagerError> {
            Ok(self.qsize()? == 0)
        }

        /// `q.full()`.
        pub fn full(&self) -> Result<bool, ManagerError> {
            self.inner.call(Op::IsFull)?.bool()
        }
    };
}

impl<T: Serialize + DeserializeOwned> QueueProxy<T> {
    queue_methods!();
}

impl<T: Serialize + DeserializeOwned> JoinableQueueProxy<T> {
    queue_methods!();

    /// `q.task_done()`: [`ManagerError::Misuse`] if called more often than items were put.
    pub fn task_done(&self) -> Result<(), ManagerError> {
        self.inner.call(Op::TaskDone)?.unit()
    }

    /// `q.join()`: waits until every item put has had its `task_done`.
    pub fn join(&self) -> Result<(), ManagerError> {
        self.inner.call(Op::Join(None))?.unit()
    }

    /// `q.join()` with a timeout: [`ManagerError::Timeout`] when it passes.
    pub fn join_timeout(&self, timeout: Duration) -> Result<(), ManagerError> {
        self.inner.call(Op::Join(micros(Some(timeout))))?.unit()
    }

    /// Items put and not yet marked done.
    pub fn unfinished_tasks(&self) -> Result<usize, ManagerError> {
        self.inner.call(Op::Unfinished)?.len()
    }
}

fn put_error<T>(e: ManagerError, item: T) -> PutError<T> {
    match e {
        ManagerError::Full => PutError::Full(item),
        ManagerError::Data(reason) => PutError::Encode { item, reason },
        _ => PutError::Closed(item),
    }
}

fn get_error<T>(e: ManagerError) -> GetError {
    match e {
        ManagerError::Empty => GetError::Empty,
        ManagerError::Data(reason) => GetError::Decode {
            type_name: std::any::type_name::<T>(),
            reason,
        },
        _ => GetError::Closed,
    }
}

/// The queue traits, so code written against them takes a manager queue too. They cannot
/// say "the manager is gone" in their own words: `qsize` is then 0, `put` gives back the item
/// as [`PutError::Closed`], `get` is [`GetError::Closed`]; the inherent methods give the full
/// [`ManagerError`].
macro_rules! queue_traits {
    ($q:ident) => {
        impl<T: Serialize + DeserializeOwned> Size for $q<T> {
            fn qsize(&self) -> usize {
                $q::qsize(self).unwrap_or(0)
            }
            fn empty(&self) -> bool {
                $q::empty(self).unwrap_or(true)
            }
            fn full(&self) -> bool {
                $q::full(self).unwrap_or(false)
            }
            fn maxsize(&self) -> usize {
                0
            }
        }

        impl<T: Serialize + DeserializeOwned> Put<T> for $q<T> {
            fn put(&self, item: T) -> Result<(), PutError<T>> {
                self.put_ref(&item, None).map_err(|e| put_error(e, item))
            }
            fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
                self.put_ref(&item, Some(Duration::ZERO))
                    .map_err(|e| put_error(e, item))
            }
            fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
                self.put_ref(&item, Some(timeout))
                    .map_err(|e| put_error(e, item))
            }
        }

        impl<T: Serialize + DeserializeOwned> Get<T> for $q<T> {
            fn get(&self) -> Result<T, GetError> {
                $q::get(self).map_err(get_error::<T>)
            }
            fn get_nowait(&self) -> Result<T, GetError> {
                $q::get_nowait(self).map_err(get_error::<T>)
            }
            fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
                $q::get_timeout(self, timeout).map_err(get_error::<T>)
            }
        }
    };
}

queue_traits!(QueueProxy);
queue_traits!(JoinableQueueProxy);

impl<T: Serialize + DeserializeOwned> Tasks for JoinableQueueProxy<T> {
    fn task_done(&self) -> Result<(), TaskDoneError> {
        JoinableQueueProxy::task_done(self).map_err(|_| TaskDoneError)
    }
    fn join(&self) {
        // The manager gone: nothing left to wait for.
        let _ = JoinableQueueProxy::join(self);
    }
    fn join_timeout(&self, timeout: Duration) -> Result<(), Timeout> {
        match JoinableQueueProxy::join_timeout(self, timeout) {
            Err(ManagerError::Timeout) => Err(Timeout),
            _ => Ok(()),
        }
    }
    fn unfinished_tasks(&self) -> usize {
        JoinableQueueProxy::unfinished_tasks(self).unwrap_or(0)
    }
}
