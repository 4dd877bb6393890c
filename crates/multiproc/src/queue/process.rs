//! Queues between processes (≈ `multiprocessing.Queue`, `SimpleQueue`, `JoinableQueue`):
//! multi-producer, multi-consumer, for processes and threads alike, on a shared-memory ring.
//!
//! ```
//! use multiproc::process::{Process, Queue};
//!
//! let q: Queue<Vec<u32>> = Queue::new(0).unwrap();
//! let mut p = Process::new(|q: Queue<Vec<u32>>| q.put(vec![42, 0, 7]).unwrap(), q.clone());
//! p.start().unwrap();
//! assert_eq!(q.get().unwrap(), vec![42, 0, 7]);   // the child's list
//! p.join().unwrap();
//! ```
//!
//! | Python | multiproc |
//! |---|---|
//! | `Queue(maxsize)` | [`Queue::new(maxsize)`](Queue::new), or [`Builder`] for the ring size |
//! | `q.put(x)` / `put_nowait` / `put(x, timeout=t)` | [`put`](Queue::put) / [`put_nowait`](Queue::put_nowait) / [`put_timeout`](Queue::put_timeout) → `Err(PutError::Full(x))` |
//! | `q.get()` / `get_nowait` / `get(timeout=t)` | [`get`](Queue::get) / [`get_nowait`](Queue::get_nowait) / [`get_timeout`](Queue::get_timeout) → `Err(GetError::Empty)` |
//! | `qsize`, `empty`, `full`, `close` | the same |
//! | `join_thread`, `cancel_join_thread` | not needed: there is no feeder thread |
//! | `JoinableQueue`: `task_done`, `join` | [`JoinableQueue`] (derefs to `Queue`) |
//! | `SimpleQueue`: `put`, `get`, `empty`, `close` | [`SimpleQueue`] |
//!
//! # How it works, and what that buys
//!
//! The queue is one memfd segment: a header (two robust locks, two words) and a byte ring
//! (1 MiB unless [`Builder::capacity`] says otherwise). `put` encodes the item with postcard
//! and copies it into the ring under the *put lock*; `get` decodes in place under the *get
//! lock*; a producer and a consumer meet lock-free and sleep on futexes only when the ring is
//! full or empty. So:
//!
//! - **no feeder thread**: a `put` that returned has its bytes in shared memory; exiting
//!   right after loses nothing and never hangs (CPython: gh-85927);
//! - **any size**: a message larger than a quarter of the ring streams through it in chunks,
//!   up to [`Builder::max_message`] (2 GiB by default); larger is [`PutError::TooLarge`];
//! - **crash-safe**: a consumer killed mid-message loses only that message, a producer killed
//!   mid-message leaves nothing that a reader would deliver, and whoever comes next takes the
//!   dead process's lock over (see `ring.rs` for the protocol);
//! - **typed errors**: bytes that do not decode as `T` are [`GetError::Decode`] naming `T`,
//!   and the queue stays usable.
//!
//! `Vec<u8>` items skip postcard: their bytes are copied as they are.
//!
//! A queue is a handle: clone it for another thread, pass it as a `Process` argument (or in a
//! [`Connection`](crate::connection::Connection) message) for another process; its segment
//! travels as a file descriptor. Items themselves cannot carry shared objects (as in Python,
//! where a `Lock` cannot be put on a queue): pass those as arguments.

use std::any::{Any, TypeId};

use crate::wire::cast;
use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ring::{self, Block, ReadError, Ring, Sink, WriteError};
use crate::error::{GetError, PutError, TaskDoneError, Timeout};

/// The ring size unless [`Builder::capacity`] says otherwise.
pub const DEFAULT_CAPACITY: usize = 1 << 20;
/// The largest message unless [`Builder::max_message`] says otherwise.
pub const DEFAULT_MAX_MESSAGE: u64 = 1 << 31;

/// Options for a new queue: its `maxsize`, its ring size and its largest message.
///
/// ```
/// use multiproc::queue::process::Builder;
///
/// let q = Builder::new().maxsize(8).capacity(64 << 10).queue::<String>().unwrap();
/// q.put("hi".to_string()).unwrap();
/// assert_eq!(q.qsize(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    maxsize: usize,
    capacity: usize,
    max_message: u64,
    heap: Option<crate::mempool::SharedHeap>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// Unbounded, a 1 MiB ring, messages up to 2 GiB.
    pub fn new() -> Builder {
        Builder {
            maxsize: 0,
            capacity: DEFAULT_CAPACITY,
            max_message: DEFAULT_MAX_MESSAGE,
            heap: None,
        }
    }

    /// At most `n` items at a time; 0 is unbounded (Python: `maxsize <= 0`).
    pub fn maxsize(mut self, n: usize) -> Builder {
        self.maxsize = n;
        self
    }

    /// The ring's size in bytes, rounded up to a power of two between 4 KiB and 1 GiB. Bigger
    /// rings buffer more; messages larger than a quarter of it stream through in chunks.
    pub fn capacity(mut self, bytes: usize) -> Builder {
        self.capacity = bytes;
        self
    }

    /// The largest message `put` accepts and `get` returns ([`PutError::TooLarge`],
    /// [`GetError::TooLarge`]).
    pub fn max_message(mut self, bytes: u64) -> Builder {
        self.max_message = bytes;
        self
    }

    /// Places the ring in `heap` rather than in a segment of its own (one fd for many
    /// queues). A ring is larger than the pools' 512 bytes, so it takes whole 1 MiB arenas:
    /// the ring's capacity plus 8 KiB of headers, rounded up. The ring is then a heap object:
    /// see [`SharedHeap`](crate::mempool::SharedHeap#objects-in-a-heap) for its lifetime.
    pub fn heap(mut self, heap: &crate::mempool::SharedHeap) -> Builder {
        self.heap = Some(heap.clone());
        self
    }

    fn ring(&self, kind: u32, item_type: &str) -> std::io::Result<Ring> {
        let cap = self
            .capacity
            .clamp(ring::MIN_CAPACITY, ring::MAX_CAPACITY)
            .next_power_of_two();
        let maxsize = self.maxsize.min(0x7fff_ffff) as u32;
        Ring::create(
            cap,
            maxsize,
            self.max_message,
            kind,
            item_type,
            self.heap.as_ref(),
        )
    }

    /// A new [`Queue`].
    pub fn queue<T>(&self) -> std::io::Result<Queue<T>> {
        Ok(Queue::from_ring(
            self.ring(0, &crate::wire::type_tag::<T>())?,
        ))
    }

    /// A new [`JoinableQueue`].
    pub fn joinable_queue<T>(&self) -> std::io::Result<JoinableQueue<T>> {
        Ok(JoinableQueue {
            queue: Queue::from_ring(self.ring(ring::JOINABLE, &crate::wire::type_tag::<T>())?),
        })
    }

    /// A new [`SimpleQueue`] (`maxsize` does not apply).
    pub fn simple_queue<T>(&self) -> std::io::Result<SimpleQueue<T>> {
        Ok(SimpleQueue {
            queue: Queue::from_ring(
                self.clone()
                    .maxsize(0)
                    .ring(0, &crate::wire::type_tag::<T>())?,
            ),
        })
    }
}

/// A FIFO queue between processes and threads (≈ `multiprocessing.Queue`). See the
/// [module docs](self).
pub struct Queue<T> {
    ring: Ring,
    closed: AtomicBool,
    _t: PhantomData<fn(T) -> T>,
}

thread_local! {
    /// Where items are encoded before being copied into the ring; reused to avoid an
    /// allocation per `put`.
    // after-fork: kept (a scratch buffer, empty between calls)
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Scratch buffers above this size are freed after use.
const SCRATCH_KEEP: usize = 1 << 20;

fn is_bytes<T: 'static>() -> bool {
    TypeId::of::<T>() == TypeId::of::<Vec<u8>>()
}

/// Decodes a message as `T`, in place or from the assembled chunks of a streamed one.
struct Decode<T> {
    buf: Vec<u8>,
    /// The streamed message did not fit in memory: its chunks are skipped.
    out_of_memory: Option<usize>,
    _t: PhantomData<fn() -> T>,
}

/// A message's bytes as a `T`: a `Vec<u8>` item is the bytes themselves, anything else is
/// decoded with postcard.
fn decode_owned<T: DeserializeOwned + 'static>(buf: Vec<u8>) -> Result<T, String> {
    cast::<Vec<u8>, T>(buf).or_else(|buf| crate::wire::decode(&buf))
}

impl<T: DeserializeOwned + 'static> Sink for Decode<T> {
    type Out = Result<T, String>;

    fn whole(&mut self, bytes: &[u8]) -> Self::Out {
        if is_bytes::<T>() {
            decode_owned(bytes.to_vec())
        } else {
            // In place: no copy out of the ring.
            crate::wire::decode(bytes)
        }
    }

    fn begin(&mut self, total: usize) {
        // The total comes from the ring, written by another process: memory follows the
        // chunks as they arrive rather than the announced size.
        self.buf = Vec::new();
        self.out_of_memory = None;
        if self.buf.try_reserve(total.min(1 << 20)).is_err() {
            self.out_of_memory = Some(total);
        }
    }

    fn extend(&mut self, bytes: &[u8]) {
        if self.out_of_memory.is_some() {
            return;
        }
        if self.buf.try_reserve(bytes.len()).is_err() {
            self.out_of_memory = Some(self.buf.len() + bytes.len());
            self.buf = Vec::new();
            return;
        }
        self.buf.extend_from_slice(bytes);
    }

    fn finish(&mut self) -> Self::Out {
        if let Some(total) = self.out_of_memory.take() {
            return Err(format!(
                "no memory for a message of {total} bytes (dropped)"
            ));
        }
        decode_owned(std::mem::take(&mut self.buf))
    }
}

impl<T> Queue<T> {
    fn from_ring(ring: Ring) -> Queue<T> {
        Queue {
            ring,
            closed: AtomicBool::new(false),
            _t: PhantomData,
        }
    }

    /// The ring (for `connection::wait`).
    pub(crate) fn ring(&self) -> &Ring {
        &self.ring
    }

    /// The number of complete items in the queue now (≈ `qsize()`; exact, unlike macOS's).
    pub fn qsize(&self) -> usize {
        self.ring.qsize()
    }

    /// Whether the queue holds no complete item now.
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether the queue holds `maxsize` items now (never, when unbounded).
    pub fn full(&self) -> bool {
        let max = self.ring.maxsize();
        max != 0 && self.qsize() >= max as usize
    }

    /// The bound given at creation; 0 when unbounded.
    pub fn maxsize(&self) -> usize {
        self.ring.maxsize() as usize
    }

    /// The ring's size in bytes.
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// This handle will not be used any more (≈ `close()`): later `put`s and `get`s on it
    /// return `Closed`. Other handles, in this process or others, are not affected; nothing
    /// needs flushing, since every `put` that returned is already in shared memory.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    /// Whether [`close`](Self::close) was called on this handle.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }
}

impl<T: Serialize + DeserializeOwned + 'static> Queue<T> {
    /// A new queue holding at most `maxsize` items; 0 is unbounded (≈ `Queue(maxsize)`).
    pub fn new(maxsize: usize) -> std::io::Result<Queue<T>> {
        Builder::new().maxsize(maxsize).queue()
    }

    /// Puts `item`, waiting as long as the queue is full (≈ `put(item)`).
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.put_with(item, Block::Until(None))
    }

    /// Puts `item` if that needs no waiting, else `Err(PutError::Full(item))`
    /// (≈ `put_nowait`).
    pub fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
        self.put_with(item, Block::No)
    }

    /// Puts `item`, waiting at most `timeout` for room (≈ `put(item, timeout=t)`).
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
        self.put_with(item, Block::Until(crate::sync::deadline(timeout)))
    }

    fn put_with(&self, item: T, block: Block) -> Result<(), PutError<T>> {
        if self.is_closed() {
            return Err(PutError::Closed(item));
        }
        let result = if let Some(bytes) = (&item as &dyn Any).downcast_ref::<Vec<u8>>() {
            self.ring.write(&[bytes], block)
        } else {
            let encoded = SCRATCH.with(|cell| {
                let mut scratch = cell.borrow_mut();
                let mut buf = std::mem::take(&mut *scratch);
                buf.clear();
                let r = match postcard::to_extend(&item, buf) {
                    Ok(buf) => {
                        let r = self.ring.write(&[&buf], block);
                        *scratch = buf;
                        Ok(r)
                    }
                    Err(e) => Err(crate::wire::handle::take_refusal()
                        .map_or_else(|| e.to_string(), str::to_owned)),
                };
                if scratch.capacity() > SCRATCH_KEEP {
                    *scratch = Vec::new();
                }
                r
            });
            match encoded {
                Ok(r) => r,
                Err(reason) => return Err(PutError::Encode { item, reason }),
            }
        };
        match result {
            Ok(()) => Ok(()),
            Err(WriteError::Full) => Err(PutError::Full(item)),
            Err(WriteError::TooLarge { len, max }) => Err(PutError::TooLarge { item, len, max }),
        }
    }

    /// Takes the next item, waiting as long as the queue is empty (≈ `get()`).
    pub fn get(&self) -> Result<T, GetError> {
        self.get_with(Block::Until(None))
    }

    /// Takes the next item if one is there, else `Err(GetError::Empty)` (≈ `get_nowait`). A
    /// large item whose producer is still streaming it in is waited for.
    pub fn get_nowait(&self) -> Result<T, GetError> {
        self.get_with(Block::No)
    }

    /// Takes the next item, waiting at most `timeout` for one to begin (≈ `get(timeout=t)`).
    /// Once a streamed item has begun, it is read to its end.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
        self.get_with(Block::Until(crate::sync::deadline(timeout)))
    }

    /// [`get`](Queue::get) as a future: awaiting never blocks the runtime's thread; the
    /// queue's wake-up word is watched by a waker thread (see [`crate::futures`]), so an item
    /// put by any process wakes the task.
    ///
    /// ```
    /// use multiproc::process::Queue;
    ///
    /// let q: Queue<u32> = Queue::new(0).unwrap();
    /// let p = q.clone();
    /// let producer = std::thread::spawn(move || p.put(7).unwrap());
    /// assert_eq!(multiproc::futures::block_on(q.get_async()).unwrap(), 7);
    /// producer.join().unwrap();
    /// ```
    pub async fn get_async(&self) -> Result<T, GetError> {
        let mut reg = None;
        let mut fenced = false;
        let r = std::future::poll_fn(|cx| {
            let mut armed = false;
            loop {
                match self.get_nowait() {
                    Err(GetError::Empty) => {}
                    r => return std::task::Poll::Ready(r),
                }
                let slice = if armed {
                    // Readable, but another reader got there first or holds the get lock:
                    // look again shortly.
                    ring::Ring::async_slice(false)
                } else {
                    ring::Ring::async_slice(fenced)
                };
                let (word, seq) = self.ring.arm_for_data(fenced);
                if !armed && self.ring.readable() {
                    armed = true;
                    continue;
                }
                fenced = true;
                let deadline = Some(std::time::Instant::now() + slice);
                let w = crate::sync::reactor::wait_futex(word, seq, deadline, cx.waker(), &mut reg);
                if w.is_err() {
                    cx.waker().wake_by_ref(); // no waker thread (threads exhausted): poll
                }
                return std::task::Poll::Pending;
            }
        })
        .await;
        drop(reg);
        r
    }

    /// [`put`](Queue::put) as a future: while the queue is full, the task waits for room
    /// without blocking the runtime's thread.
    pub async fn put_async(&self, item: T) -> Result<(), PutError<T>> {
        let mut reg = None;
        let mut fenced = false;
        let mut item = Some(item);
        let r = std::future::poll_fn(|cx| {
            let mut armed = false;
            loop {
                let it = item.take().expect("an item until it is put");
                match self.put_nowait(it) {
                    Err(PutError::Full(it)) => item = Some(it),
                    r => return std::task::Poll::Ready(r),
                }
                if !armed {
                    // Announce a writer waiting for room, then try once more.
                    self.ring.arm_for_space(fenced);
                    armed = true;
                    continue;
                }
                let (word, seq) = self.ring.arm_for_space(fenced);
                let deadline = Some(std::time::Instant::now() + ring::Ring::async_slice(fenced));
                fenced = true;
                let w = crate::sync::reactor::wait_futex(word, seq, deadline, cx.waker(), &mut reg);
                if w.is_err() {
                    cx.waker().wake_by_ref(); // no waker thread (threads exhausted): poll
                }
                return std::task::Poll::Pending;
            }
        })
        .await;
        drop(reg);
        r
    }

    fn get_with(&self, block: Block) -> Result<T, GetError> {
        if self.is_closed() {
            return Err(GetError::Closed);
        }
        let mut sink = Decode::<T> {
            buf: Vec::new(),
            out_of_memory: None,
            _t: PhantomData,
        };
        match self.ring.read(&mut sink, block) {
            Ok(Ok(item)) => Ok(item),
            Ok(Err(reason)) => Err(GetError::Decode {
                type_name: std::any::type_name::<T>(),
                reason,
            }),
            Err(ReadError::Empty) => Err(GetError::Empty),
            Err(ReadError::TooLarge { len, max }) => Err(GetError::TooLarge { len, max }),
            Err(ReadError::Corrupt(m)) => Err(GetError::Corrupt(m)),
        }
    }
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            ring: self.ring.clone(),
            closed: AtomicBool::new(self.is_closed()),
            _t: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("qsize", &self.qsize())
            .field("maxsize", &self.maxsize())
            .field("capacity", &self.capacity())
            .finish()
    }
}

impl<T> Serialize for Queue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.ring.serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for Queue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let ring = Ring::deserialize(d)?;
        ring.check_item_type(&crate::wire::type_tag::<T>())
            .map_err(crate::wire::de_error)?;
        Ok(Queue::from_ring(ring))
    }
}

/// A [`Queue`] that counts unfinished tasks (≈ `multiprocessing.JoinableQueue`): every `put`
/// adds one, [`task_done`](Self::task_done) removes one, [`join`](Self::join) waits for zero.
/// Derefs to [`Queue`] for everything else.
///
/// ```
/// use multiproc::process::{JoinableQueue, Process};
///
/// let q: JoinableQueue<u64> = JoinableQueue::new(0).unwrap();
/// let mut worker = Process::new(
///     |q: JoinableQueue<u64>| {
///         for _ in 0..3 {
///             let _job = q.get().unwrap();
///             q.task_done().unwrap();
///         }
///     },
///     q.clone(),
/// );
/// worker.start().unwrap();
/// for job in 0..3 { q.put(job).unwrap(); }
/// q.join();                      // returns once the worker marked all three done
/// assert_eq!(q.unfinished_tasks(), 0);
/// worker.join().unwrap();
/// ```
pub struct JoinableQueue<T> {
    queue: Queue<T>,
}

impl<T: Serialize + DeserializeOwned + 'static> JoinableQueue<T> {
    /// A new joinable queue; `maxsize` as for [`Queue::new`].
    pub fn new(maxsize: usize) -> std::io::Result<JoinableQueue<T>> {
        Builder::new().maxsize(maxsize).joinable_queue()
    }
}

impl<T> JoinableQueue<T> {
    /// Marks one item as processed (≈ `task_done()`); more calls than items put is
    /// [`TaskDoneError`] (Python's `ValueError`).
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        if self.queue.ring.task_done() {
            Ok(())
        } else {
            Err(TaskDoneError)
        }
    }

    /// Waits until every item put has been marked done (≈ `join()`).
    pub fn join(&self) {
        self.queue.ring.join_tasks(None);
    }

    /// As [`join`](Self::join), giving up after `timeout`.
    pub fn join_timeout(&self, timeout: Duration) -> Result<(), Timeout> {
        if self.queue.ring.join_tasks(crate::sync::deadline(timeout)) {
            Ok(())
        } else {
            Err(Timeout)
        }
    }

    /// Items put and not yet marked done.
    pub fn unfinished_tasks(&self) -> usize {
        self.queue.ring.unfinished_tasks() as usize
    }
}

impl<T> JoinableQueue<T> {
    pub(crate) fn inner(&self) -> &Queue<T> {
        &self.queue
    }
}

impl<T> SimpleQueue<T> {
    pub(crate) fn inner(&self) -> &Queue<T> {
        &self.queue
    }
}

impl<T> Deref for JoinableQueue<T> {
    type Target = Queue<T>;
    fn deref(&self) -> &Queue<T> {
        &self.queue
    }
}

impl<T> Clone for JoinableQueue<T> {
    fn clone(&self) -> Self {
        JoinableQueue {
            queue: self.queue.clone(),
        }
    }
}

impl<T> fmt::Debug for JoinableQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinableQueue")
            .field("qsize", &self.qsize())
            .field("unfinished_tasks", &self.unfinished_tasks())
            .finish()
    }
}

impl<T> Serialize for JoinableQueue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.queue.serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for JoinableQueue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(JoinableQueue {
            queue: Queue::deserialize(d)?,
        })
    }
}

/// The minimal queue (≈ `multiprocessing.SimpleQueue`): unbounded, `put`, `get`, `empty`,
/// `close`. (`get_timeout` is an addition: nothing here has to wait forever.)
pub struct SimpleQueue<T> {
    queue: Queue<T>,
}

impl<T: Serialize + DeserializeOwned + 'static> SimpleQueue<T> {
    /// A new simple queue.
    pub fn new() -> std::io::Result<SimpleQueue<T>> {
        Builder::new().simple_queue()
    }

    /// Puts `item`; waits only while the ring has no room for it.
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.queue.put(item)
    }

    /// Takes the next item, waiting as long as needed.
    pub fn get(&self) -> Result<T, GetError> {
        self.queue.get()
    }

    /// Takes the next item, waiting at most `timeout` for one to begin.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
        self.queue.get_timeout(timeout)
    }

    /// [`get`](SimpleQueue::get) as a future (see [`Queue::get_async`]).
    pub async fn get_async(&self) -> Result<T, GetError> {
        self.queue.get_async().await
    }

    /// [`put`](SimpleQueue::put) as a future (see [`Queue::put_async`]).
    pub async fn put_async(&self, item: T) -> Result<(), PutError<T>> {
        self.queue.put_async(item).await
    }
}

impl<T> SimpleQueue<T> {
    /// Whether the queue holds no complete item now.
    pub fn empty(&self) -> bool {
        self.queue.empty()
    }

    /// This handle will not be used any more; see [`Queue::close`].
    pub fn close(&self) {
        self.queue.close()
    }
}

impl<T> Clone for SimpleQueue<T> {
    fn clone(&self) -> Self {
        SimpleQueue {
            queue: self.queue.clone(),
        }
    }
}

impl<T> fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimpleQueue")
            .field("empty", &self.empty())
            .finish()
    }
}

impl<T> Serialize for SimpleQueue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.queue.serialize(s)
    }
}

impl<T> SimpleQueue<T> {
    /// The queue underneath (for the shared queue traits).
    pub(crate) fn queue(&self) -> &Queue<T> {
        &self.queue
    }
}

impl<'de, T> Deserialize<'de> for SimpleQueue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(SimpleQueue {
            queue: Queue::deserialize(d)?,
        })
    }
}
