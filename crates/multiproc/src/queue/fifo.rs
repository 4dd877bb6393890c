//! `Queue<T>` (≈ `queue.Queue`): FIFO, on crossbeam-channel.
//!
//! The FIFO queue is the one that carries real traffic, so it sits on crossbeam-channel's
//! bounded (array) or unbounded (list) flavour, which already has blocking, `try_` and
//! `_timeout` forms for both ends. multiproc adds Python's `maxsize`, `qsize`/`full`, and the
//! `task_done`/`join` accounting.

use std::time::Duration;

use crossbeam_channel::{Receiver, SendTimeoutError, Sender, TrySendError};

use super::tasks::Tasks;
use crate::error::{Empty, Full, TaskDoneError, Timeout};

/// Both ends of one crossbeam channel, held together so it can never disconnect: the part
/// `Queue` and `SimpleQueue` share.
#[derive(Debug)]
struct Channel<T> {
    tx: Sender<T>,
    rx: Receiver<T>,
}

impl<T> Channel<T> {
    fn new(maxsize: usize) -> Channel<T> {
        let (tx, rx) = if maxsize == 0 {
            crossbeam_channel::unbounded()
        } else {
            crossbeam_channel::bounded(maxsize)
        };
        Channel { tx, rx }
    }

    fn send(&self, item: T) {
        if self.tx.send(item).is_err() {
            unreachable!("queue channel disconnected while the queue exists");
        }
    }

    fn get(&self) -> T {
        match self.rx.recv() {
            Ok(v) => v,
            Err(_) => unreachable!("queue channel disconnected while the queue exists"),
        }
    }

    fn get_nowait(&self) -> Result<T, Empty> {
        self.rx.try_recv().map_err(|_| Empty)
    }

    fn get_timeout(&self, timeout: Duration) -> Result<T, Empty> {
        self.rx.recv_timeout(timeout).map_err(|_| Empty)
    }
}

/// A first-in, first-out queue for threads (≈ `queue.Queue`). Share it with `Arc`.
///
/// ```
/// use multiproc::queue::Queue;
/// use multiproc::{Empty, Full};
///
/// let q = Queue::new(2);                 // maxsize 2; 0 means unbounded
/// q.put("a");
/// q.put_nowait("b").unwrap();
/// assert!(matches!(q.put_nowait("c"), Err(Full("c")))); // the item comes back
/// assert_eq!(q.qsize(), 2);
/// assert_eq!(q.get(), "a");
/// assert_eq!(q.get_nowait(), Ok("b"));
/// assert_eq!(q.get_nowait(), Err(Empty));
/// ```
#[derive(Debug)]
pub struct Queue<T> {
    chan: Channel<T>,
    maxsize: usize,
    tasks: Tasks,
}

impl<T> Queue<T> {
    /// A queue holding at most `maxsize` items; `0` means no limit (Python's default).
    pub fn new(maxsize: usize) -> Queue<T> {
        Queue {
            chan: Channel::new(maxsize),
            maxsize,
            tasks: Tasks::default(),
        }
    }

    /// Adds `item`, blocking while the queue is full.
    pub fn put(&self, item: T) {
        self.tasks.add();
        self.chan.send(item);
    }

    /// Adds `item` only if there is room now; else gives it back in [`Full`].
    pub fn put_nowait(&self, item: T) -> Result<(), Full<T>> {
        self.tasks.add();
        self.chan.tx.try_send(item).map_err(|e| {
            self.tasks.undo_add();
            match e {
                TrySendError::Full(v) | TrySendError::Disconnected(v) => Full(v),
            }
        })
    }

    /// Adds `item`, waiting at most `timeout` for room.
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), Full<T>> {
        self.tasks.add();
        self.chan.tx.send_timeout(item, timeout).map_err(|e| {
            self.tasks.undo_add();
            match e {
                SendTimeoutError::Timeout(v) | SendTimeoutError::Disconnected(v) => Full(v),
            }
        })
    }

    /// Removes and returns the oldest item, blocking while the queue is empty.
    pub fn get(&self) -> T {
        self.chan.get()
    }

    /// Removes the oldest item if there is one now.
    pub fn get_nowait(&self) -> Result<T, Empty> {
        self.chan.get_nowait()
    }

    /// Removes the oldest item, waiting at most `timeout` for one.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, Empty> {
        self.chan.get_timeout(timeout)
    }

    /// How many items are queued now.
    pub fn qsize(&self) -> usize {
        self.chan.rx.len()
    }

    /// Whether the queue is empty now.
    pub fn empty(&self) -> bool {
        self.chan.rx.is_empty()
    }

    /// Whether the queue is at `maxsize` now (never, when unbounded).
    pub fn full(&self) -> bool {
        self.maxsize > 0 && self.qsize() >= self.maxsize
    }

    /// The `maxsize` it was created with (0: unbounded).
    pub fn maxsize(&self) -> usize {
        self.maxsize
    }

    /// Marks one item as processed. More calls than items put is [`TaskDoneError`].
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        self.tasks.task_done()
    }

    /// Blocks until every item put has been marked with [`task_done`](Self::task_done).
    pub fn join(&self) {
        self.tasks.join_until(None);
    }

    /// As [`join`](Self::join), for at most `timeout`.
    pub fn join_timeout(&self, timeout: Duration) -> Result<(), Timeout> {
        if self.tasks.join_until(crate::sync::deadline(timeout)) {
            Ok(())
        } else {
            Err(Timeout)
        }
    }

    /// Items put and not yet marked done (Python's `unfinished_tasks`).
    pub fn unfinished_tasks(&self) -> usize {
        self.tasks.unfinished()
    }
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue::new(0)
    }
}

/// An unbounded FIFO queue without task tracking (≈ `queue.SimpleQueue`).
///
/// ```
/// use multiproc::queue::SimpleQueue;
/// let q = SimpleQueue::new();
/// q.put(1);
/// assert_eq!(q.get(), 1);
/// assert!(q.empty());
/// ```
#[derive(Debug)]
pub struct SimpleQueue<T> {
    chan: Channel<T>,
}

impl<T> SimpleQueue<T> {
    /// A new, empty queue.
    pub fn new() -> SimpleQueue<T> {
        SimpleQueue {
            chan: Channel::new(0),
        }
    }

    /// Adds `item`; never blocks.
    pub fn put(&self, item: T) {
        self.chan.send(item)
    }

    /// Removes the oldest item, blocking while empty.
    pub fn get(&self) -> T {
        self.chan.get()
    }

    /// Removes the oldest item if there is one now.
    pub fn get_nowait(&self) -> Result<T, Empty> {
        self.chan.get_nowait()
    }

    /// Removes the oldest item, waiting at most `timeout`.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, Empty> {
        self.chan.get_timeout(timeout)
    }

    /// How many items are queued now.
    pub fn qsize(&self) -> usize {
        self.chan.rx.len()
    }

    /// Whether the queue is empty now.
    pub fn empty(&self) -> bool {
        self.chan.rx.is_empty()
    }
}

impl<T> Default for SimpleQueue<T> {
    fn default() -> Self {
        SimpleQueue::new()
    }
}
