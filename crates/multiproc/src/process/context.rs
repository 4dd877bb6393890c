//! Start methods and contexts (≈ `multiprocessing.get_context`, `set_start_method`, ...).

use super::base::Builder;
use crate::connection::Connection;
use crate::error::ContextError;
use crate::queue::process::{Builder as QueueBuilder, JoinableQueue, Queue, SimpleQueue};
use crate::shared::{Array, Shared, Value};
pub use crate::start_method::StartMethod;
use crate::sync::{Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore};
use std::sync::atomic::{AtomicU8, Ordering};

/// The start method set by [`set_start_method`]: 0 while unset, else `1 + ` its index in
/// [`get_all_start_methods`]. An atomic rather than a lock, so nothing about it can be held
/// across a fork.
// after-fork: kept (a forked child keeps its parent's choice, as in Python)
static METHOD: AtomicU8 = AtomicU8::new(0);

/// Every start method this platform has (`['fork', 'spawn', 'forkserver']` on Linux).
pub fn get_all_start_methods() -> [StartMethod; 3] {
    [
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::Forkserver,
    ]
}

/// The default start method: the one set, else `Forkserver`. In a child, the method that
/// started it (as in Python), so its own children default to it too.
pub fn get_start_method() -> StartMethod {
    from_code(METHOD.load(Ordering::Acquire)).unwrap_or(StartMethod::Forkserver)
}

/// `1 +` the method's index in [`get_all_start_methods`] (0 is "none").
pub(crate) fn code(method: StartMethod) -> u8 {
    get_all_start_methods()
        .iter()
        .position(|m| *m == method)
        .map_or(0, |i| i as u8 + 1)
}

pub(crate) fn from_code(code: u8) -> Option<StartMethod> {
    get_all_start_methods()
        .get(usize::from(code).checked_sub(1)?)
        .copied()
}

/// In a new child: the method that started it becomes its default.
pub(crate) fn adopt(method: StartMethod) {
    METHOD.store(code(method), Ordering::Release);
}

/// Sets the default start method, once (`force` replaces an earlier choice), as Python's
/// `set_start_method`: a second call without `force` is [`ContextError::AlreadySet`].
pub fn set_start_method(method: StartMethod, force: bool) -> Result<(), ContextError> {
    let code = code(method);
    if force {
        METHOD.store(code, Ordering::Release);
        return Ok(());
    }
    METHOD
        .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire)
        .map(|_| ())
        .map_err(|_| ContextError::AlreadySet)
}

/// A context: a start method to build processes with (≈ `multiprocessing.get_context`).
/// `None` means the default start method.
pub fn get_context(method: Option<StartMethod>) -> Context {
    Context {
        method: method.unwrap_or_else(get_start_method),
    }
}

/// Factories bound to one start method (≈ `multiprocessing`'s `BaseContext`): everything a
/// program shares between processes is made here, and a process it starts uses the
/// context's method. `ctx.lock()` is Python's `ctx.Lock()`, `ctx.queue(0)` its `ctx.Queue()`.
/// The module-level constructors (`Shared::new(Lock::new())`, `Queue::new(..)`, ...) are the
/// default context's.
///
/// Synchronisation objects and shared values are the same whatever the start method (shared
/// memory passed by fd); the method decides how children start. A child reports the method
/// that started it from [`get_start_method`], and its own children default to it.
///
/// ```
/// use multiproc::process::{StartMethod, get_context};
///
/// let ctx = get_context(Some(StartMethod::Spawn));
/// let q = ctx.queue::<u32>(0).unwrap();
/// let lock = ctx.lock().unwrap();
/// let mut p = ctx.process().target(
///     |(q, lock): (multiproc::process::Queue<u32>, multiproc::shared::Shared<multiproc::sync::Lock>)| {
///         let _g = lock.acquire();
///         q.put(multiproc::process::get_start_method().name().len() as u32).unwrap();
///     },
///     (q.clone(), lock.clone()),
/// );
/// p.start().unwrap();
/// assert_eq!(q.get().unwrap(), 5); // "spawn"
/// p.join().unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    method: StartMethod,
}

impl Context {
    /// The context's start method.
    pub fn get_start_method(&self) -> StartMethod {
        self.method
    }

    /// A process builder using this context's start method (`ctx.Process`).
    pub fn process(&self) -> Builder {
        Builder::new().start_method(self.method)
    }

    /// `ctx.Lock()`.
    pub fn lock(&self) -> std::io::Result<Shared<Lock>> {
        Shared::new(Lock::new())
    }

    /// `ctx.RLock()`.
    pub fn rlock(&self) -> std::io::Result<Shared<RLock>> {
        Shared::new(RLock::new())
    }

    /// `ctx.Semaphore(value)`.
    pub fn semaphore(&self, value: u32) -> std::io::Result<Shared<Semaphore>> {
        Shared::new(Semaphore::new(value))
    }

    /// `ctx.BoundedSemaphore(value)`.
    pub fn bounded_semaphore(&self, value: u32) -> std::io::Result<Shared<BoundedSemaphore>> {
        Shared::new(BoundedSemaphore::new(value))
    }

    /// `ctx.Event()`.
    pub fn event(&self) -> std::io::Result<Shared<Event>> {
        Shared::new(Event::new())
    }

    /// `ctx.Condition()` (over an `RLock`, as Python's default).
    pub fn condition(&self) -> std::io::Result<Shared<Condition>> {
        Shared::new(Condition::new())
    }

    /// `ctx.Barrier(parties)` (without an action: an action is code, and stays in one
    /// process).
    pub fn barrier(&self, parties: u32) -> std::io::Result<Shared<Barrier>> {
        Shared::new(Barrier::new(parties))
    }

    /// `ctx.Value(typecode, v)`.
    pub fn value<T: bytemuck::Pod>(&self, v: T) -> std::io::Result<Value<T>> {
        Value::new(v)
    }

    /// `ctx.Array(typecode, n)`: `n` zeroed elements.
    pub fn array_zeroed<T: bytemuck::Pod>(&self, len: usize) -> std::io::Result<Array<T>> {
        Array::zeroed(len)
    }

    /// `ctx.Array(typecode, [..])`: a copy of `items`.
    pub fn array<T: bytemuck::Pod>(&self, items: &[T]) -> std::io::Result<Array<T>> {
        Array::from_slice(items)
    }

    /// `ctx.Queue(maxsize)` (0: unbounded).
    pub fn queue<T>(&self, maxsize: usize) -> std::io::Result<Queue<T>> {
        QueueBuilder::new().maxsize(maxsize).queue()
    }

    /// `ctx.JoinableQueue(maxsize)`.
    pub fn joinable_queue<T>(&self, maxsize: usize) -> std::io::Result<JoinableQueue<T>> {
        QueueBuilder::new().maxsize(maxsize).joinable_queue()
    }

    /// `ctx.SimpleQueue()`.
    pub fn simple_queue<T>(&self) -> std::io::Result<SimpleQueue<T>> {
        QueueBuilder::new().simple_queue()
    }

    /// `ctx.Pipe(duplex)`.
    pub fn pipe(&self, duplex: bool) -> std::io::Result<(Connection, Connection)> {
        crate::connection::Pipe(duplex)
    }
}
