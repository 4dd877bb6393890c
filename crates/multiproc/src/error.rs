//! Errors: one small type per Python exception, and [`Error`] that holds any of them.
//!
//! Python raises; multiproc returns. Each failure keeps the name Python gives it, so a Python
//! user finds `Empty`, `Full`, `BrokenBarrier`, `Timeout` where they expect them, and each
//! `Display` message is the one CPython prints (checked on CPython 3.11), so logs read the same.
//!
//! Where Python writes `try: ... except queue.Empty:`, match on the error; where a function
//! meets several kinds, `?` lifts each into [`Error`]:
//!
//! ```
//! use multiproc::queue::Queue;
//! use multiproc::{Empty, Full};
//! use std::time::Duration;
//!
//! let q = Queue::new(1);
//! q.put(1);
//! match q.put_nowait(2) {
//!     Err(Full(item)) => assert_eq!(item, 2), // the item comes back: nothing is lost
//!     Ok(()) => unreachable!(),
//! }
//! assert_eq!(q.get(), 1);
//! assert_eq!(q.get_timeout(Duration::from_millis(1)), Err(Empty));
//!
//! fn drain(q: &Queue<u32>) -> Result<u32, multiproc::Error> {
//!     let first = q.get_nowait()?; // `Empty` becomes `Error::Empty`
//!     Ok(first)
//! }
//! assert!(matches!(drain(&Queue::new(0)), Err(multiproc::Error::Empty(_))));
//! ```

use std::fmt;

/// The queue is empty (`queue.Empty`): returned by `get_nowait` and by `get_timeout` when the
/// timeout passes.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    thiserror::Error,
    serde::Serialize,
    serde::Deserialize,
)]
#[error("queue is empty")]
pub struct Empty;

/// The queue is full (`queue.Full`): returned by `put_nowait` and `put_timeout`. Holds the item
/// that was not put, so nothing is lost.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Full<T>(pub T);

impl<T> Full<T> {
    /// The item that could not be put.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Full<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Full(..)")
    }
}

impl<T> fmt::Display for Full<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue is full")
    }
}

impl<T> std::error::Error for Full<T> {}

/// A blocking call gave up after its timeout (`TimeoutError`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    thiserror::Error,
    serde::Serialize,
    serde::Deserialize,
)]
#[error("timed out")]
pub struct Timeout;

/// The barrier is broken (`threading.BrokenBarrierError`): it was aborted or reset, a waiter
/// timed out, or its action panicked.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    thiserror::Error,
    serde::Serialize,
    serde::Deserialize,
)]
#[error("barrier is broken")]
pub struct BrokenBarrier;

/// `task_done()` was called more times than there were items put (`ValueError`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    thiserror::Error,
    serde::Serialize,
    serde::Deserialize,
)]
#[error("task_done() called too many times")]
pub struct TaskDoneError;

/// A `release()` that Python would refuse (`RuntimeError` / `ValueError`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize,
)]
#[non_exhaustive]
pub enum ReleaseError {
    /// `Lock.release()` on a lock that is not held.
    #[error("release unlocked lock")]
    Unlocked,
    /// `RLock.release()` from a thread that does not own it, or on an unheld `RLock`.
    #[error("cannot release un-acquired lock")]
    NotOwner,
    /// `BoundedSemaphore.release()` past its initial value.
    #[error("Semaphore released too many times")]
    TooManyReleases,
    /// `release_n(0)`.
    #[error("n must be one or more")]
    ZeroCount,
    /// The semaphore's counter would pass `u32::MAX`.
    #[error("semaphore value would overflow u32")]
    Overflow,
}

/// The lock was held by a process that died; you have it now (≈ `EOWNERDEAD` of a robust
/// mutex, which Python's locks do not have: theirs stay locked forever). Whatever the lock
/// protects may be half-updated: check it, then use the guard inside.
pub struct OwnerDied<G>(pub G);

impl<G> OwnerDied<G> {
    /// The guard: the lock is held.
    pub fn into_inner(self) -> G {
        self.0
    }
}

impl<G> fmt::Debug for OwnerDied<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OwnerDied(..)")
    }
}

impl<G> fmt::Display for OwnerDied<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the lock's owner died holding it; the lock is now held by the caller")
    }
}

impl<G> std::error::Error for OwnerDied<G> {}

/// A thread (or a child process's target) that panicked: its message and where it panicked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Panic {
    /// The name of the thread that panicked.
    pub thread_name: String,
    /// The panic message (the payload if it was a string, else `"Box<dyn Any>"`).
    pub message: String,
    /// `file:line:column`, when the panic hook could see it.
    pub location: Option<String>,
    /// The panic aborted its process (a program built with `panic = "abort"`): a child
    /// process's panic hook sent this just before the abort, so `join` still says what
    /// happened (the exit status is SIGABRT's). Always `false` for a thread.
    #[serde(default)]
    pub aborted: bool,
}

impl fmt::Display for Panic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "thread '{}' panicked", self.thread_name)?;
        if let Some(loc) = &self.location {
            write!(f, " at {loc}")?;
        }
        write!(f, ": {}", self.message)?;
        if self.aborted {
            f.write_str(" (and the process aborted: panic = \"abort\")")?;
        }
        Ok(())
    }
}

impl std::error::Error for Panic {}

/// A shared heap cannot hold a request (the capacity is used up, or the system refused
/// memory). Re-exported as `mempool::HeapFull`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("shared heap full: cannot allocate {requested} bytes in a heap of {capacity} bytes")]
pub struct HeapFull {
    /// Bytes asked for.
    pub requested: usize,
    /// The heap's capacity.
    pub capacity: usize,
}

/// Why `join` did not return the thread's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    /// The thread's closure panicked.
    #[error(transparent)]
    Panicked(#[from] Panic),
    /// `join_timeout` gave up; the thread is still running and can be joined again.
    #[error("join timed out; the thread is still running")]
    Timeout,
    /// The value was already taken by an earlier join.
    #[error("thread was already joined")]
    AlreadyJoined,
    /// A thread tried to join itself (`RuntimeError: cannot join current thread`).
    #[error("cannot join current thread")]
    CurrentThread,
}

/// Why a thread (or a `Timer`) could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ThreadError {
    /// `start()` called twice (`RuntimeError: threads can only be started once`).
    #[error("threads can only be started once")]
    AlreadyStarted,
    /// The OS refused to create the thread.
    #[error("cannot start thread: {0}")]
    Spawn(#[from] std::io::Error),
}

/// Why a child process did not give back its target's value (≈ `ProcessError` and the
/// failures Python reports through `exitcode` and stderr).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// The target panicked in the child (exit code 1).
    #[error("child process panicked: {0}")]
    Panicked(Panic),
    /// The child ended with this exit status without returning (it called `exit(n)`).
    #[error("child process exited with status {0} before returning")]
    Exited(i32),
    /// The child was killed by this signal (exit code `-signal`).
    #[error("child process was killed by signal {0}")]
    Killed(i32),
    /// `join_timeout` gave up; the child is still running.
    #[error("join timed out; the process is still running")]
    Timeout,
    /// The arguments did not decode in the child as the target's argument type.
    #[error("the child could not decode its arguments: {0}")]
    BadArgs(String),
    /// The result did not encode in the child or decode in the parent.
    #[error("bad result: {0}")]
    BadResult(String),
    /// The arguments did not encode in the parent.
    #[error("cannot send the arguments: {0}")]
    Encode(String),
    /// The target's code is not in this executable (e.g. from a `dlopen`ed library).
    #[error("the target is not from this executable, so a new process cannot find it")]
    ForeignTarget,
    /// A capturing closure needs the `Fork` start method.
    #[cfg(not(multiproc_loom))]
    #[error("a capturing closure can only be started with the fork start method, not {0}")]
    NeedsFork(crate::start_method::StartMethod),
    /// The constructor that runs children was stripped from this executable.
    #[error("the multiproc child entry is not linked into this executable")]
    ChildEntryMissing,
    /// `start()` twice (`AssertionError: cannot start a process twice`).
    #[error("cannot start a process twice")]
    AlreadyStarted,
    /// `join`/`terminate`/... before `start()`.
    #[error("process not started")]
    NotStarted,
    /// The value was already taken by an earlier `join`.
    #[error("process was already joined")]
    AlreadyJoined,
    /// Used after `close()` (`ValueError: process object is closed`).
    #[error("process object is closed")]
    Closed,
    /// `close()` on a running process.
    #[error(
        "Cannot close a process while it is still running. You should first call join() or terminate()."
    )]
    StillRunning,
    /// A daemon process tried to start a child.
    #[error("daemonic processes are not allowed to have children")]
    DaemonChildren,
    /// The OS refused (fork, exec, socket, ...).
    #[error(transparent)]
    Os(#[from] std::io::Error),
}

pub use crate::start_method::ContextError;

/// Named shared memory errors (≈ the `FileExistsError` / `FileNotFoundError` / `ValueError`
/// of `shared_memory.SharedMemory` and `ShareableList`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShmError {
    /// `create` with a name already in use.
    #[error("shared memory block {0:?} already exists")]
    Exists(String),
    /// `attach` (or a second `unlink`) of a name that does not exist.
    #[error("no shared memory block named {0:?}")]
    NotFound(String),
    /// `create` with size 0 ("'size' must be a positive number different from zero").
    #[error("'size' must be a positive number different from zero")]
    InvalidSize,
    /// A read or write past the end of the block.
    #[error("range {offset}..{offset}+{len} is outside the block of {size} bytes")]
    OutOfBounds {
        /// Where it started.
        offset: usize,
        /// How long it was.
        len: usize,
        /// The block's size.
        size: usize,
    },
    /// `ShareableList` index past the end (`IndexError`).
    #[error("list index out of range")]
    IndexOutOfRange,
    /// A `ShareableList` value longer than its slot (`ValueError: ... exceeds available storage`).
    #[error("value of {len} bytes exceeds available storage of {capacity} bytes")]
    ExceedsStorage {
        /// The value's encoded length.
        len: usize,
        /// The slot's capacity.
        capacity: usize,
    },
    /// `ShareableList.index` of a value not in the list (`ValueError`).
    #[error("value not in list")]
    NotInList,
    /// The block does not hold a `ShareableList`.
    #[error("shared memory block does not hold a ShareableList")]
    NotAList,
    /// `create` of a block larger than `/dev/shm` (or memory) can hold. Python creates it and
    /// the process dies of SIGBUS on the first page that cannot be backed; here every byte is
    /// backed at creation.
    #[error("no space in /dev/shm for a block of {size} bytes")]
    NoSpace {
        /// The size asked for.
        size: usize,
    },
    /// The OS refused.
    #[error(transparent)]
    Os(#[from] std::io::Error),
}

/// Why a [`Connection`](crate::connection::Connection) operation failed (≈ the `EOFError`,
/// `OSError`, `BufferTooShort` and `ValueError`s of `multiprocessing.connection`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The other end is closed and nothing is left to read (`EOFError`).
    #[error("end of file: the other end of the connection is closed")]
    Eof,
    /// A message announced `len` bytes and memory ran out receiving them. The connection is
    /// closed (the rest of the message is unread); the process goes on.
    #[error("no memory to receive a message of {len} bytes; connection closed")]
    OutOfMemory {
        /// The announced length.
        len: u64,
    },
    /// Binding or connecting to an address failed (`ConnectionRefusedError`,
    /// `FileNotFoundError`, `OSError: Address already in use`, ...); names the address.
    #[error("cannot {op} {address}: {source}")]
    Address {
        /// `"bind"` or `"connect to"`.
        op: &'static str,
        /// The address, as [`Address`](crate::connection::Address) displays it.
        address: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// This end was closed (`OSError: handle is closed`).
    #[error("handle is closed")]
    Closed,
    /// `send` on the reading end of a one-way pipe.
    #[error("connection is read-only")]
    ReadOnly,
    /// `recv`/`poll` on the writing end of a one-way pipe.
    #[error("connection is write-only")]
    WriteOnly,
    /// A message longer than allowed (`OSError: bad message length`); the connection is unusable
    /// afterwards, as in Python.
    #[error("bad message length: {len} bytes (at most {max})")]
    BadMessageLength {
        /// The length the header announced.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// `recv_bytes_into` with a buffer too small; holds the whole message (`BufferTooShort`,
    /// whose `args[0]` is the message).
    #[error("buffer too short for a message of {} bytes", .0.len())]
    BufferTooShort(Vec<u8>),
    /// `send_bytes_range` with an offset or size outside the buffer (`ValueError`).
    #[error("{0}")]
    BadRange(&'static str),
    /// A message that does not decode as the requested type; the connection stays usable.
    #[error("message does not decode as {type_name}: {reason}")]
    Decode {
        /// The type asked for.
        type_name: &'static str,
        /// What the decoder said.
        reason: String,
    },
    /// A value that does not encode.
    #[error("value does not encode: {0}")]
    Encode(String),
    /// The authkey handshake failed (`AuthenticationError`): "digest received was wrong" on
    /// the listener, "digest sent was rejected" on the client.
    #[error("authentication failed: {0}")]
    Authentication(String),
    /// The OS refused.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Why a process queue's `put` failed. Every variant but `Encode`'s reason holds the item, so
/// nothing is lost.
#[non_exhaustive]
pub enum PutError<T> {
    /// The queue is full (`queue.Full`): `put_nowait`, or `put_timeout` whose time ran out.
    Full(T),
    /// This handle was closed (Python's `ValueError: Queue is closed`).
    Closed(T),
    /// The encoded item is larger than the queue's `max_message`.
    TooLarge {
        /// The item.
        item: T,
        /// Its encoded length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The item does not encode (for example, it holds a shared object).
    Encode {
        /// The item.
        item: T,
        /// What the encoder said.
        reason: String,
    },
    /// The server holding the queue (a Redis backend) could not be reached in time, or
    /// lost its data; the item may not have been put.
    Unavailable {
        /// The item.
        item: T,
        /// What went wrong.
        reason: String,
    },
}

impl<T> PutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        match self {
            PutError::Full(t) | PutError::Closed(t) => t,
            PutError::TooLarge { item, .. }
            | PutError::Encode { item, .. }
            | PutError::Unavailable { item, .. } => item,
        }
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("Full(..)"),
            PutError::Closed(_) => f.write_str("Closed(..)"),
            PutError::TooLarge { len, max, .. } => f
                .debug_struct("TooLarge")
                .field("len", len)
                .field("max", max)
                .finish_non_exhaustive(),
            PutError::Encode { reason, .. } => f
                .debug_struct("Encode")
                .field("reason", reason)
                .finish_non_exhaustive(),
            PutError::Unavailable { reason, .. } => f
                .debug_struct("Unavailable")
                .field("reason", reason)
                .finish_non_exhaustive(),
        }
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("queue is full"),
            PutError::Closed(_) => f.write_str("Queue is closed"),
            PutError::TooLarge { len, max, .. } => {
                write!(
                    f,
                    "message of {len} bytes is larger than the queue's maximum of {max}"
                )
            }
            PutError::Encode { reason, .. } => write!(f, "item does not encode: {reason}"),
            PutError::Unavailable { reason, .. } => write!(f, "queue unavailable: {reason}"),
        }
    }
}

impl<T> std::error::Error for PutError<T> {}

/// Why a process queue's `get` failed. After any of them the queue stays usable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GetError {
    /// Nothing to get (`queue.Empty`): `get_nowait`, or `get_timeout` whose time ran out.
    #[error("queue is empty")]
    Empty,
    /// This handle was closed (Python's `ValueError: Queue is closed`).
    #[error("Queue is closed")]
    Closed,
    /// The message is larger than the queue's `max_message`; it was skipped.
    #[error("message of {len} bytes is larger than the queue's maximum of {max}")]
    TooLarge {
        /// Its length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The message does not decode as the queue's item type; it was consumed.
    #[error("message does not decode as {type_name}: {reason}")]
    Decode {
        /// The item type.
        type_name: &'static str,
        /// What the decoder said.
        reason: String,
    },
    /// The ring's records are inconsistent (memory written by something other than a queue);
    /// what was in the ring was dropped.
    #[error("queue memory is corrupt: {0}")]
    Corrupt(String),
    /// The server holding the queue (a Redis backend) could not be reached in time, or lost
    /// its data.
    #[error("queue unavailable: {0}")]
    Unavailable(String),
}

/// How a pool worker ended (a process's exit code, or the signal that killed it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum WorkerExit {
    /// It exited with this status (`exit(n)` in a task, or a worker that could not start).
    Code(i32),
    /// It was killed by this signal (9: SIGKILL, the OOM killer; 6: `abort()`; 11: a
    /// segfault).
    Signal(i32),
    /// A remote worker stopped renewing its lease (killed, stalled, cut off): how it
    /// ended is not known here.
    Vanished,
}

impl WorkerExit {
    /// From Python's exit-code convention (`-N` for signal N).
    pub fn from_exitcode(code: i32) -> WorkerExit {
        if code < 0 {
            WorkerExit::Signal(-code)
        } else {
            WorkerExit::Code(code)
        }
    }
}

impl fmt::Display for WorkerExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkerExit::Code(c) => write!(f, "exit status {c}"),
            WorkerExit::Signal(s) => write!(f, "killed by signal {s}"),
            WorkerExit::Vanished => f.write_str("its lease lapsed"),
        }
    }
}

/// Why a pool task gave no value, or why the pool refused a call (≈ the exceptions
/// `multiprocessing.pool` raises, and the failures CPython's pool cannot report: it hangs
/// instead).
///
/// A task's own failures ([`Panicked`](PoolError::Panicked), [`WorkerLost`](PoolError::WorkerLost),
/// [`TaskTimeout`](PoolError::TaskTimeout), [`Cancelled`](PoolError::Cancelled),
/// [`Encode`](PoolError::Encode), [`Decode`](PoolError::Decode)) fail that task only: the pool
/// goes on. `Clone`, so one failure can be handed to an `error_callback` and to `get`, and to
/// every item of a failed chunk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// The task panicked (Python: the worker's exception, re-raised by `get`).
    #[error("task panicked: {0}")]
    Panicked(Panic),
    /// The worker running the task died (SIGKILL, the OOM killer, `abort`, a segfault,
    /// `exit`): this task fails, the worker is replaced, the pool goes on. CPython's `Pool`
    /// hangs forever here (gh-66587).
    #[error("worker process {pid} died ({exit}) while running the task")]
    WorkerLost {
        /// The worker's pid.
        pid: u32,
        /// How it ended.
        exit: WorkerExit,
    },
    /// The task ran longer than its timeout: its worker was killed and replaced (a thread
    /// worker is abandoned: see the pool docs).
    #[error("task ran longer than its {0:?} timeout; its worker was stopped and replaced")]
    TaskTimeout(std::time::Duration),
    /// The task was cancelled (before it ran, or while running: its worker was stopped).
    #[error("task was cancelled")]
    Cancelled,
    /// The task's arguments or its result could not be encoded (Python's `PicklingError` and
    /// `MaybeEncodingError`); the worker lives on.
    #[error("cannot encode: {0}")]
    Encode(String),
    /// The task's arguments or its result did not decode as their type.
    #[error("cannot decode: {0}")]
    Decode(String),
    /// The input iterator of `map`/`imap` panicked; tasks already submitted are not affected
    /// and the pool stays usable.
    #[error("the input iterator panicked: {0}")]
    Input(Panic),
    /// `get_timeout` (or an `imap` step) timed out waiting; the task goes on and its result
    /// can be asked for again (`multiprocessing.TimeoutError`).
    #[error("timed out waiting for the result")]
    Timeout,
    /// The pool is closed or terminated: no new tasks (`ValueError: Pool not running`).
    #[error("Pool not running")]
    Closed,
    /// The pool was terminated before the task finished (CPython leaves such results pending
    /// forever).
    #[error("the pool was terminated before the task finished")]
    Terminated,
    /// The pool cannot run tasks any more: a worker's initializer failed, or no worker could
    /// be started.
    #[error("the pool is broken: {0}")]
    Broken(String),
    /// A `try_` submission found the pool's bounded task queue full.
    #[error("the pool's task queue is full")]
    Full,
    /// An executor was shut down: no new futures (`RuntimeError: cannot schedule new futures
    /// after shutdown`).
    #[error("cannot schedule new futures after shutdown")]
    Shutdown,
    /// `as_completed` ran out of time (`TimeoutError: 2 (of 4) futures unfinished`).
    #[error("{unfinished} (of {total}) futures unfinished")]
    Unfinished {
        /// Futures not yet finished.
        unfinished: usize,
        /// Distinct futures given.
        total: usize,
    },
    /// `join` before `close` or `terminate` (`ValueError: Pool is still running`).
    #[error("Pool is still running")]
    StillRunning,
    /// `successful()` before the result is ready (`ValueError: ... not ready`).
    #[error("result is not ready")]
    NotReady,
    /// The value was already taken by an earlier `get`.
    #[error("the result was already taken by an earlier get")]
    AlreadyTaken,
    /// A bad argument (`ValueError`): `processes` or `maxtasksperchild` 0, `chunksize` 0, ...
    #[error("{0}")]
    Invalid(&'static str),
    /// The OS refused something the pool needed (a segment, a thread, a process).
    #[error("{0}")]
    Os(String),
}

impl From<std::io::Error> for PoolError {
    fn from(e: std::io::Error) -> Self {
        PoolError::Os(e.to_string())
    }
}

/// Why a call on a manager's object failed (a proxy's error: see [`crate::manager`]).
///
/// The first group is Python's exceptions as the served object raised them; the rest say
/// why the call could not be made. After any of them the proxy stays usable, except
/// [`ManagerError::Connection`] when the manager is gone.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManagerError {
    /// No such key (`KeyError`); holds the key as the server shows it.
    #[error("KeyError: {0}")]
    KeyError(String),
    /// A `Namespace` has no field of this name (`AttributeError`).
    #[error("AttributeError: 'Namespace' object has no attribute '{0}'")]
    AttributeError(String),
    /// An index out of range (`IndexError`), with Python's message.
    #[error("IndexError: {0}")]
    IndexError(String),
    /// A value not found, or a bad argument (`ValueError`), with Python's message.
    #[error("ValueError: {0}")]
    ValueError(String),
    /// An operation on a value of the wrong kind (`TypeError`): adding to a string, appending
    /// to a number, a proxy used as another kind of object.
    #[error("TypeError: {0}")]
    TypeError(String),
    /// A manager queue is empty (`queue.Empty`).
    #[error("queue is empty")]
    Empty,
    /// A manager queue is full (`queue.Full`).
    #[error("queue is full")]
    Full,
    /// A wait's timeout passed (a barrier's, a join's).
    #[error("timed out")]
    Timeout,
    /// A barrier is broken (`BrokenBarrierError`).
    #[error("barrier is broken")]
    BrokenBarrier,
    /// The lock was taken over from a client that died holding it (it is held now, by this
    /// caller: repair what it protects, then release).
    #[error("the previous holder of the lock died holding it (the lock is now held by the caller)")]
    OwnerDied,
    /// `release` of a lock this client does not hold, `task_done` called too often, a
    /// bounded semaphore released too many times (`RuntimeError`/`ValueError` in Python).
    #[error("{0}")]
    Misuse(String),
    /// The object does not exist on the server (any more): a proxy of another manager, or a
    /// manager restarted at the same address.
    #[error("no object #{0} on the manager")]
    NoSuchObject(u64),
    /// A registered type's method (or constructor) panicked on the server; the message and
    /// where. The object and the server go on.
    #[error("a served method panicked: {0}")]
    Panicked(String),
    /// A task of a manager's pool failed (it panicked, its worker died, it timed out), in the
    /// pool's words; the pool goes on.
    #[error("pool task failed: {0}")]
    Task(String),
    /// The method is not exposed by the registered type, or the server refuses the request.
    #[error("refused: {0}")]
    Refused(String),
    /// A value does not encode, or a reply does not decode as the proxy's type.
    #[error("{0}")]
    Data(String),
    /// The manager is unreachable or gone (`EOFError`, `ConnectionRefusedError`), or the
    /// authkey is wrong ([`ConnectionError::Authentication`]).
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    /// The manager process could not be started.
    #[error("cannot start the manager: {0}")]
    Start(String),
}

/// Why a call on a [`remote`](crate::remote) object failed (a Redis backend's error).
///
/// The first group is what the local objects say (Python's exceptions); the rest say why
/// the backend could not answer. After any of them the handle stays usable: a later call
/// reconnects by itself, except after [`RemoteError::BackendLost`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// No such key (`KeyError`); holds the key as `Debug` shows it.
    #[error("KeyError: {0}")]
    KeyError(String),
    /// An index out of range (`IndexError`).
    #[error("IndexError: {0}")]
    IndexError(String),
    /// A value not found, or a bad argument (`ValueError`).
    #[error("ValueError: {0}")]
    ValueError(String),
    /// A `Namespace` has no field of this name (`AttributeError`).
    #[error("AttributeError: 'Namespace' object has no attribute '{0}'")]
    AttributeError(String),
    /// A wait's deadline passed: the caller's timeout, or the backend's operation timeout
    /// (a server that does not answer: stopped, overloaded, unreachable).
    #[error("timed out")]
    Timeout,
    /// A barrier is broken (`BrokenBarrierError`).
    #[error("barrier is broken")]
    BrokenBarrier,
    /// The lock was granted after its previous holder's lease expired without a release
    /// (the holder died or stalled): it is held now, by this caller. Repair what it
    /// protects, then release.
    #[error(
        "the previous holder's lease expired without a release (the lock is now held by the caller)"
    )]
    OwnerDied,
    /// A write under a lock whose lease was lost (expired, then granted to another holder
    /// with a higher fencing token): refused, nothing written.
    #[error("fenced: this holder's lease on the lock was lost (fencing token {0} is stale)")]
    Fenced(u64),
    /// `release` of a lock not held, a bounded semaphore released too often, `task_done`
    /// called too often (`RuntimeError`/`ValueError` in Python).
    #[error("{0}")]
    Misuse(String),
    /// A value does not encode, or stored bytes do not decode as the handle's type.
    #[error("{0}")]
    Data(String),
    /// The backend cannot be reached (refused, reset); the next call tries again.
    #[error("backend unreachable: {0}")]
    Unreachable(String),
    /// The backend refused the URL's credentials (a wrong user or password, or none where
    /// the server requires them).
    #[error("the backend refused the credentials: {0}")]
    Authentication(String),
    /// The backend answered with an error (a command it refuses, a wrong type of key).
    #[error("backend error: {0}")]
    Backend(String),
    /// The backend lost this namespace's data (a Redis restarted without persistence, or
    /// flushed): objects and tasks from before are gone. Connect again to start afresh.
    #[error("the backend lost its data (the namespace's epoch changed): connect again")]
    BackendLost,
    /// A bad URL, namespace or option.
    #[error("{0}")]
    Invalid(String),
}

/// Any multiproc error, for code that wants one type to `?` into.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// See [`Empty`].
    #[error(transparent)]
    Empty(#[from] Empty),
    /// See [`Full`] (the item is dropped in this conversion).
    #[error("queue is full")]
    Full,
    /// See [`Timeout`].
    #[error(transparent)]
    Timeout(#[from] Timeout),
    /// See [`BrokenBarrier`].
    #[error(transparent)]
    BrokenBarrier(#[from] BrokenBarrier),
    /// See [`TaskDoneError`].
    #[error(transparent)]
    TaskDone(#[from] TaskDoneError),
    /// See [`ReleaseError`].
    #[error(transparent)]
    Release(#[from] ReleaseError),
    /// See [`JoinError`].
    #[error(transparent)]
    Join(#[from] JoinError),
    /// See [`ThreadError`].
    #[error(transparent)]
    Thread(#[from] ThreadError),
    /// See [`ProcessError`].
    #[error(transparent)]
    Process(#[from] ProcessError),
    /// See [`ContextError`].
    #[error(transparent)]
    Context(#[from] ContextError),
    /// See [`GetError`].
    #[error(transparent)]
    Get(#[from] GetError),
    /// See [`PutError`] (the item is dropped in this conversion).
    #[error("{0}")]
    Put(String),
    /// See [`ConnectionError`].
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    /// See [`ShmError`].
    #[error(transparent)]
    Shm(#[from] ShmError),
    /// See [`HeapFull`].
    #[error(transparent)]
    HeapFull(#[from] HeapFull),
    /// See [`OwnerDied`]: the lock was taken over from a dead holder (the guard, and with it
    /// the lock, is released in this conversion: decide before `?` whether the protected
    /// state needs repair).
    #[error("the previous holder of the lock died holding it")]
    OwnerDied,
    /// See [`PoolError`].
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// See [`ManagerError`].
    #[error(transparent)]
    Manager(#[from] ManagerError),
    /// See [`RemoteError`].
    #[error(transparent)]
    Remote(#[from] RemoteError),
}

impl<G> From<OwnerDied<G>> for Error {
    fn from(_: OwnerDied<G>) -> Error {
        Error::OwnerDied
    }
}

impl<T> From<PutError<T>> for Error {
    fn from(e: PutError<T>) -> Self {
        Error::Put(e.to_string())
    }
}

impl<T> From<Full<T>> for Error {
    fn from(_: Full<T>) -> Self {
        Error::Full
    }
}

impl From<Panic> for Error {
    fn from(p: Panic) -> Self {
        Error::Join(JoinError::Panicked(p))
    }
}
