//! The manager's wire protocol: what a proxy asks and what the server answers, one postcard
//! frame each way per call (a [`Request::Batch`] carries many calls in one frame).
//!
//! Everything here is data: kinds of object, operations with their arguments, replies and
//! faults. No code and no type names cross, so a server can be fed anything and answer with a
//! typed fault; `fuzz/fuzz_targets/manager_protocol.rs` feeds it garbage.

use serde::{Deserialize, Serialize};

use super::data::Data;
use crate::error::ManagerError;

/// A timeout on the wire: `None` waits for ever, `Some(0)` does not wait.
pub(crate) type Micros = Option<u64>;

/// What kind of object to create on the server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Kind {
    Dict,
    List(Vec<Data>),
    Namespace,
    Value(Data),
    /// A list of fixed length (`Array`): no append, insert, pop or remove.
    Array(Vec<Data>),
    Queue {
        maxsize: u64,
        joinable: bool,
    },
    Lock,
    RLock,
    Semaphore {
        value: u64,
        bounded: bool,
    },
    Condition,
    Event,
    Barrier {
        parties: u64,
        timeout: Micros,
    },
    /// A registered type (`register.rs`), made from its encoded constructor arguments.
    Custom {
        typeid: String,
        args: Vec<u8>,
    },
    /// A process pool in the server (`pool.rs`).
    Pool {
        processes: u64,
    },
}

impl Kind {
    /// Python's name for it (`typeid`).
    pub(crate) fn typeid(&self) -> &'static str {
        match self {
            Kind::Dict => "dict",
            Kind::List(_) => "list",
            Kind::Namespace => "Namespace",
            Kind::Value(_) => "Value",
            Kind::Array(_) => "Array",
            Kind::Queue {
                joinable: false, ..
            } => "Queue",
            Kind::Queue { joinable: true, .. } => "JoinableQueue",
            Kind::Lock => "Lock",
            Kind::RLock => "RLock",
            Kind::Semaphore { bounded: false, .. } => "Semaphore",
            Kind::Semaphore { bounded: true, .. } => "BoundedSemaphore",
            Kind::Condition => "Condition",
            Kind::Event => "Event",
            Kind::Barrier { .. } => "Barrier",
            Kind::Custom { .. } => "custom",
            Kind::Pool { .. } => "Pool",
        }
    }
}

/// One operation on one object. Names follow Python's methods; the atomic read-modify-write
/// operations (`Add`, `AppendTo`, `CompareAndSet`, `SetDefault`) are what Python lacks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Op {
    // Mappings (dict, Namespace).
    GetItem(Data),
    Get(Data),
    SetItem(Data, Data),
    DelItem(Data),
    Contains(Data),
    Len,
    Keys,
    Values,
    Items,
    Update(Vec<(Data, Data)>),
    Pop(Data, Option<Data>),
    PopItem,
    SetDefault(Data, Data),
    Clear,
    GetMany(Vec<Data>),
    /// `d[k] += delta` (a missing key starts at `delta`); the new value.
    Add(Data, Data),
    /// `d[k].append(x)` on a list value (a missing key starts as `[x]`); the new length.
    AppendTo(Data, Data),
    /// Sets `d[k] = new` if it is `expected` now (`None`: absent); whether it did.
    CompareAndSet(Data, Option<Data>, Data),
    // Sequences (list, Array).
    Append(Data),
    Extend(Vec<Data>),
    Insert(i64, Data),
    PopAt(Option<i64>),
    Remove(Data),
    Index(Data, i64, i64),
    Count(Data),
    Sort {
        reverse: bool,
    },
    Reverse,
    At(i64),
    SetAt(i64, Data),
    DelAt(i64),
    Slice(Option<i64>, Option<i64>),
    SetSlice(Option<i64>, Option<i64>, Vec<Data>),
    AddAt(i64, Data),
    // Value.
    Load,
    Store(Data),
    AddValue(Data),
    Swap(Data, Data),
    // Queues.
    Put(Data, Micros),
    Take(Micros),
    QSize,
    IsFull,
    TaskDone,
    Join(Micros),
    Unfinished,
    // Locks, semaphores, conditions, events, barriers.
    Acquire(Micros),
    Release,
    Locked,
    Wait(Micros),
    Notify(u64),
    NotifyAll,
    Set,
    ClearEvent,
    IsSet,
    BarrierWait(Micros),
    Reset,
    Abort,
    BarrierState,
    // Registered types: a method by name, its arguments encoded.
    Method(String, Vec<u8>),
    // Pools (`pool.rs`): the task trampoline and the function as encoded `Callable`s, the
    // arguments encoded.
    PoolApply(PoolTask),
    PoolApplyAsync(PoolTask),
    PoolMap(PoolTask, Vec<Vec<u8>>),
    PoolClose,
    PoolTerminate,
    PoolJoin,
    // A pool's `AsyncResult`.
    ResultGet(Micros),
    ResultReady,
}

/// A call for a served pool: which trampoline runs it, which function, its arguments.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PoolTask {
    pub(crate) trampoline: Vec<u8>,
    pub(crate) f: Vec<u8>,
    pub(crate) args: Vec<u8>,
}

/// A request from a proxy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Request {
    Create(Kind),
    Call(u64, Op),
    /// Many calls, one round trip; each answered in order (one failing stops nothing).
    Batch(Vec<(u64, Op)>),
    Shutdown,
    /// A shared-memory channel for this connection: answered `Unit`, then the two rings
    /// follow as a `Connection` message with their file descriptors (see `channel.rs`).
    OpenChannel,
}

/// Who sends a request: a random id of the client process (new in each forked child) and
/// its thread. Locks are owned by such a pair, as Python's manager locks are owned by the
/// thread that took them; a process's locks are handed on when its last connection closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct Owner {
    pub(crate) process: u64,
    pub(crate) thread: u64,
}

/// A request and who sends it: one frame.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Envelope {
    pub(crate) from: Owner,
    pub(crate) request: Request,
}

/// A successful answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Reply {
    Unit,
    Bool(bool),
    Int(i64),
    Data(Data),
    MaybeData(Option<Data>),
    Many(Vec<Data>),
    Pairs(Vec<(Data, Data)>),
    Created(u64),
    Batch(Vec<Result<Reply, Fault>>),
    /// A barrier: (parties, waiting, broken).
    Barrier(u64, u64, bool),
    /// A registered type's method result, encoded.
    Bytes(Vec<u8>),
    /// A served pool's `map`: each result, encoded.
    Blobs(Vec<Vec<u8>>),
}

/// A failed answer: [`ManagerError`]'s variants that the server can give.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) enum Fault {
    KeyError(String),
    IndexError(String),
    ValueError(String),
    TypeError(String),
    Empty,
    Full,
    Timeout,
    BrokenBarrier,
    OwnerDied,
    Misuse(String),
    NoSuchObject(u64),
    Refused(String),
    Panicked(String),
    Data(String),
    Task(String),
}

impl From<Fault> for ManagerError {
    fn from(f: Fault) -> ManagerError {
        match f {
            Fault::KeyError(s) => ManagerError::KeyError(s),
            Fault::IndexError(s) => ManagerError::IndexError(s),
            Fault::ValueError(s) => ManagerError::ValueError(s),
            Fault::TypeError(s) => ManagerError::TypeError(s),
            Fault::Empty => ManagerError::Empty,
            Fault::Full => ManagerError::Full,
            Fault::Timeout => ManagerError::Timeout,
            Fault::BrokenBarrier => ManagerError::BrokenBarrier,
            Fault::OwnerDied => ManagerError::OwnerDied,
            Fault::Misuse(s) => ManagerError::Misuse(s),
            Fault::NoSuchObject(id) => ManagerError::NoSuchObject(id),
            Fault::Refused(s) => ManagerError::Refused(s),
            Fault::Panicked(s) => ManagerError::Panicked(s),
            Fault::Data(s) => ManagerError::Data(s),
            Fault::Task(s) => ManagerError::Task(s),
        }
    }
}

impl From<ManagerError> for Fault {
    /// The errors the server's own helpers raise (data conversion among them).
    fn from(e: ManagerError) -> Fault {
        match e {
            ManagerError::KeyError(s) => Fault::KeyError(s),
            ManagerError::IndexError(s) => Fault::IndexError(s),
            ManagerError::ValueError(s) => Fault::ValueError(s),
            ManagerError::TypeError(s) => Fault::TypeError(s),
            ManagerError::Empty => Fault::Empty,
            ManagerError::Full => Fault::Full,
            ManagerError::Timeout => Fault::Timeout,
            ManagerError::BrokenBarrier => Fault::BrokenBarrier,
            ManagerError::OwnerDied => Fault::OwnerDied,
            ManagerError::Misuse(s) => Fault::Misuse(s),
            ManagerError::NoSuchObject(id) => Fault::NoSuchObject(id),
            ManagerError::Panicked(s) => Fault::Panicked(s),
            ManagerError::Data(s) => Fault::Data(s),
            ManagerError::Task(s) => Fault::Task(s),
            other => Fault::Refused(other.to_string()),
        }
    }
}

/// A `Duration` as wire micros.
pub(crate) fn micros(d: Option<std::time::Duration>) -> Micros {
    d.map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Reading a reply as the shape a proxy expects.
impl Reply {
    fn wrong(self) -> ManagerError {
        ManagerError::Data(format!("unexpected reply from the manager: {self:?}"))
    }

    pub(crate) fn unit(self) -> Result<(), ManagerError> {
        match self {
            Reply::Unit => Ok(()),
            other => Err(other.wrong()),
        }
    }

    pub(crate) fn bool(self) -> Result<bool, ManagerError> {
        match self {
            Reply::Bool(b) => Ok(b),
            other => Err(other.wrong()),
        }
    }

    pub(crate) fn int(self) -> Result<i64, ManagerError> {
        match self {
            Reply::Int(i) => Ok(i),
            other => Err(other.wrong()),
        }
    }

    pub(crate) fn len(self) -> Result<usize, ManagerError> {
        self.int().map(|i| usize::try_from(i).unwrap_or(0))
    }

    pub(crate) fn value<T: serde::de::DeserializeOwned>(self) -> Result<T, ManagerError> {
        match self {
            Reply::Data(d) => super::data::from_data(d),
            other => Err(other.wrong()),
        }
    }

    pub(crate) fn maybe<T: serde::de::DeserializeOwned>(self) -> Result<Option<T>, ManagerError> {
        match self {
            Reply::MaybeData(d) => d.map(super::data::from_data).transpose(),
            other => Err(other.wrong()),
        }
    }

    pub(crate) fn many<T: serde::de::DeserializeOwned>(self) -> Result<Vec<T>, ManagerError> {
        match self {
            Reply::Many(v) => v.into_iter().map(super::data::from_data).collect(),
            other => Err(other.wrong()),
        }
    }

    pub(crate) fn pairs<K, V>(self) -> Result<Vec<(K, V)>, ManagerError>
    where
        K: serde::de::DeserializeOwned,
        V: serde::de::DeserializeOwned,
    {
        match self {
            Reply::Pairs(v) => v
                .into_iter()
                .map(|(k, v)| Ok((super::data::from_data(k)?, super::data::from_data(v)?)))
                .collect(),
            other => Err(other.wrong()),
        }
    }
}
