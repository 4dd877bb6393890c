//! The lock-and-conditions engine behind `LifoQueue` and `PriorityQueue`, as in CPython's
//! `queue.py`: one mutex over a container, and wait queues for "not empty" and "not full".
//! Only the container differs between the two, through [`Container`].

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use super::tasks::Tasks;
use crate::error::{Empty, Full, TaskDoneError, Timeout};
use crate::sync::Mutex;
use crate::sync::condition::WaitQueue;

/// How items are ordered: Python's `_put`, `_get`, `_qsize`.
pub(crate) trait Container<T> {
    fn push(&mut self, item: T);
    fn pop(&mut self) -> Option<T>;
    fn len(&self) -> usize;
}

/// Last in, first out.
impl<T> Container<T> for Vec<T> {
    fn push(&mut self, item: T) {
        Vec::push(self, item)
    }
    fn pop(&mut self) -> Option<T> {
        Vec::pop(self)
    }
    fn len(&self) -> usize {
        Vec::len(self)
    }
}

/// Lowest first, as Python's `heapq`.
impl<T: Ord> Container<T> for BinaryHeap<Reverse<T>> {
    fn push(&mut self, item: T) {
        BinaryHeap::push(self, Reverse(item))
    }
    fn pop(&mut self) -> Option<T> {
        BinaryHeap::pop(self).map(|Reverse(v)| v)
    }
    fn len(&self) -> usize {
        BinaryHeap::len(self)
    }
}

#[derive(Debug)]
pub(crate) struct Engine<C> {
    data: Mutex<C>,
    maxsize: usize,
    not_empty: WaitQueue,
    not_full: WaitQueue,
    tasks: Tasks,
}

fn expired(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| d <= Instant::now())
}

impl<C> Engine<C> {
    pub(crate) fn new(container: C, maxsize: usize) -> Self {
        Engine {
            data: Mutex::new(container),
            maxsize,
            not_empty: WaitQueue::new(),
            not_full: WaitQueue::new(),
            tasks: Tasks::default(),
        }
    }

    pub(crate) fn put_until<T>(&self, item: T, deadline: Option<Instant>) -> Result<(), Full<T>>
    where
        C: Container<T>,
    {
        let mut g = self.data.lock();
        while self.maxsize > 0 && g.len() >= self.maxsize {
            if expired(deadline) || !self.not_full.wait_until(&mut g, deadline) {
                if g.len() >= self.maxsize {
                    return Err(Full(item));
                }
                break;
            }
        }
        g.push(item);
        self.tasks.add();
        self.not_empty.notify(1);
        Ok(())
    }

    pub(crate) fn get_until<T>(&self, deadline: Option<Instant>) -> Result<T, Empty>
    where
        C: Container<T>,
    {
        let mut g = self.data.lock();
        loop {
            if let Some(item) = g.pop() {
                self.not_full.notify(1);
                return Ok(item);
            }
            if expired(deadline) || !self.not_empty.wait_until(&mut g, deadline) {
                let item = g.pop().ok_or(Empty)?;
                self.not_full.notify(1);
                return Ok(item);
            }
        }
    }

    pub(crate) fn qsize<T>(&self) -> usize
    where
        C: Container<T>,
    {
        self.data.lock().len()
    }

    pub(crate) fn maxsize(&self) -> usize {
        self.maxsize
    }

    pub(crate) fn task_done(&self) -> Result<(), TaskDoneError> {
        self.tasks.task_done()
    }

    pub(crate) fn join_until(&self, deadline: Option<Instant>) -> Result<(), Timeout> {
        if self.tasks.join_until(deadline) {
            Ok(())
        } else {
            Err(Timeout)
        }
    }

    pub(crate) fn unfinished(&self) -> usize {
        self.tasks.unfinished()
    }
}

/// The Python queue API over an [`Engine`], for each container-backed queue type.
macro_rules! engine_queue {
    ($(#[$doc:meta])* $name:ident<$t:ident $(: $bound:path)?>, $container:ty, $new:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name<$t> {
            engine: Engine<$container>,
        }

        impl<$t $(: $bound)?> $name<$t> {
            /// A queue holding at most `maxsize` items; `0` means no limit.
            pub fn new(maxsize: usize) -> Self {
                $name { engine: Engine::new($new, maxsize) }
            }

            /// Adds `item`, blocking while the queue is full.
            pub fn put(&self, item: $t) {
                if self.engine.put_until(item, None).is_err() {
                    unreachable!("an untimed put cannot fail");
                }
            }

            /// Adds `item` only if there is room now; else gives it back in [`Full`].
            pub fn put_nowait(&self, item: $t) -> Result<(), Full<$t>> {
                self.engine.put_until(item, Some(Instant::now()))
            }

            /// Adds `item`, waiting at most `timeout` for room.
            pub fn put_timeout(&self, item: $t, timeout: Duration) -> Result<(), Full<$t>> {
                self.engine.put_until(item, crate::sync::deadline(timeout))
            }

            /// Removes and returns the next item, blocking while the queue is empty.
            pub fn get(&self) -> $t {
                match self.engine.get_until(None) {
                    Ok(v) => v,
                    Err(_) => unreachable!("an untimed get cannot fail"),
                }
            }

            /// Removes the next item if there is one now.
            pub fn get_nowait(&self) -> Result<$t, Empty> {
                self.engine.get_until(Some(Instant::now()))
            }

            /// Removes the next item, waiting at most `timeout` for one.
            pub fn get_timeout(&self, timeout: Duration) -> Result<$t, Empty> {
                self.engine.get_until(crate::sync::deadline(timeout))
            }

            /// How many items are queued now.
            pub fn qsize(&self) -> usize {
                self.engine.qsize::<$t>()
            }

            /// Whether the queue is empty now.
            pub fn empty(&self) -> bool {
                self.qsize() == 0
            }

            /// Whether the queue is at `maxsize` now (never, when unbounded).
            pub fn full(&self) -> bool {
                self.engine.maxsize() > 0 && self.qsize() >= self.engine.maxsize()
            }

            /// The `maxsize` it was created with (0: unbounded).
            pub fn maxsize(&self) -> usize {
                self.engine.maxsize()
            }

            /// Marks one item as processed. More calls than items put is [`TaskDoneError`].
            pub fn task_done(&self) -> Result<(), TaskDoneError> {
                self.engine.task_done()
            }

            /// Blocks until every item put has been marked done.
            pub fn join(&self) {
                let _ = self.engine.join_until(None);
            }

            /// As [`join`](Self::join), for at most `timeout`.
            pub fn join_timeout(&self, timeout: Duration) -> Result<(), Timeout> {
                self.engine.join_until(crate::sync::deadline(timeout))
            }

            /// Items put and not yet marked done.
            pub fn unfinished_tasks(&self) -> usize {
                self.engine.unfinished()
            }
        }

        impl<$t $(: $bound)?> Default for $name<$t> {
            fn default() -> Self {
                Self::new(0)
            }
        }
    };
}

engine_queue!(
    /// A last-in, first-out queue for threads (≈ `queue.LifoQueue`).
    ///
    /// ```
    /// use multiproc::queue::LifoQueue;
    /// let q = LifoQueue::new(0);
    /// for i in 0..3 { q.put(i); }
    /// assert_eq!([q.get(), q.get(), q.get()], [2, 1, 0]);
    /// ```
    LifoQueue<T>, Vec<T>, Vec::new()
);

engine_queue!(
    /// A queue that hands out the lowest item first (≈ `queue.PriorityQueue`); put
    /// `(priority, data)` tuples as in Python.
    ///
    /// ```
    /// use multiproc::queue::PriorityQueue;
    /// let q = PriorityQueue::new(0);
    /// q.put((3, "low"));
    /// q.put((1, "high"));
    /// q.put((2, "mid"));
    /// assert_eq!(q.get(), (1, "high"));
    /// assert_eq!(q.get(), (2, "mid"));
    /// ```
    PriorityQueue<T: Ord>, BinaryHeap<Reverse<T>>, BinaryHeap::new()
);
