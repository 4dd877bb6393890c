//! Which threads exist: the `Thread` handle, the registry behind `enumerate()`, and the
//! calling thread's own entry.
//!
//! Threads enter the registry when they are started (Python's `_limbo` + `_active` in one) and
//! leave when their closure returns. The main thread (kernel tid == pid) is entered on first
//! use; a thread multiproc did not start gets a `Dummy-N` entry the first time it calls
//! [`current_thread`], removed when that thread exits.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::sync::{Event, Mutex, MutexGuard, RawLock, ResetAfterFork};
use crate::sys;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Main,
    Dummy,
    Spawned,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) ident: u64,
    pub(crate) name: String,
    pub(crate) daemon: bool,
    pub(crate) kind: Kind,
    pub(crate) native_id: AtomicU32,
    /// Set when the thread's work is over (its closure returned or panicked).
    pub(crate) finished: Event,
}

/// A handle on a thread: its name, identity and liveness (the information half of Python's
/// `threading.Thread`; the joining half is [`JoinHandle`](super::JoinHandle)). Cheap to clone.
#[derive(Clone)]
pub struct Thread {
    pub(crate) inner: Arc<Inner>,
}

impl Thread {
    /// The thread's name (`Thread-N` unless one was given; `MainThread` for the main thread).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// A multiproc-wide identifier, unique for the life of the process and never reused
    /// (Python's `ident` may be recycled after a thread exits; ours is not).
    pub fn ident(&self) -> u64 {
        self.inner.ident
    }

    /// The kernel's thread id (`native_id`, as shown by `ps -L`); `None` before it started.
    pub fn native_id(&self) -> Option<u32> {
        match self.inner.native_id.load(Ordering::Acquire) {
            0 => None,
            id => Some(id),
        }
    }

    /// Whether it is a daemon thread: one that [`shutdown`](super::shutdown) does not wait for.
    pub fn is_daemon(&self) -> bool {
        self.inner.daemon
    }

    /// True from when the thread is started until its closure returns.
    pub fn is_alive(&self) -> bool {
        !self.inner.finished.is_set()
    }

    /// Whether this is the main thread.
    pub fn is_main(&self) -> bool {
        self.inner.kind == Kind::Main
    }
}

impl PartialEq for Thread {
    fn eq(&self, other: &Self) -> bool {
        self.inner.ident == other.inner.ident
    }
}

impl Eq for Thread {}

impl fmt::Debug for Thread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.is_alive() {
            "started"
        } else {
            "stopped"
        };
        write!(f, "<Thread({}, {state} {}", self.name(), self.ident())?;
        if self.is_daemon() {
            f.write_str(" daemon")?;
        }
        f.write_str(")>")
    }
}

// On multiproc's own lock, which a forked child can reset (a std Mutex held by another thread
// at fork time would stay locked in the child forever).
// after-fork: reset by thread::registry
static REGISTRY: Mutex<BTreeMap<u64, Thread>> = Mutex::const_new(RawLock::new(), BTreeMap::new());
// after-fork: kept (idents stay unique within the child)
static NEXT_IDENT: AtomicU64 = AtomicU64::new(2); // 1 is the main thread
// after-fork: kept (Python's counter carries on in a forked child too)
static NEXT_NAME: AtomicU64 = AtomicU64::new(1);
// after-fork: reset by thread::registry
static MAIN: Mutex<Option<Thread>> = Mutex::const_new(RawLock::new(), None);

// after-fork: kept (the handler itself)
static AT_FORK: sys::at_fork::Handler =
    sys::at_fork::Handler::child("thread::registry", after_fork_in_child);

fn registry() -> MutexGuard<'static, BTreeMap<u64, Thread>> {
    AT_FORK.register();
    REGISTRY.lock()
}

pub(crate) fn new_ident() -> u64 {
    NEXT_IDENT.fetch_add(1, Ordering::Relaxed)
}

/// `Thread-N`, `Dummy-N`: one counter for both, as in Python.
pub(crate) fn new_name(prefix: &str) -> String {
    format!("{prefix}-{}", NEXT_NAME.fetch_add(1, Ordering::Relaxed))
}

pub(crate) fn new_thread(ident: u64, name: String, daemon: bool, kind: Kind) -> Thread {
    Thread {
        inner: Arc::new(Inner {
            ident,
            name,
            daemon,
            kind,
            native_id: AtomicU32::new(0),
            finished: Event::new(),
        }),
    }
}

pub(crate) fn register(t: &Thread) {
    registry().insert(t.ident(), t.clone());
}

pub(crate) fn unregister(t: &Thread) {
    registry().remove(&t.ident());
}

/// The main thread (≈ `threading.main_thread()`).
pub fn main_thread() -> Thread {
    AT_FORK.register();
    let mut main = MAIN.lock();
    if let Some(t) = &*main {
        return t.clone();
    }
    let t = new_thread(1, "MainThread".into(), false, Kind::Main);
    t.inner.native_id.store(sys::pid(), Ordering::Release);
    register(&t);
    *main = Some(t.clone());
    t
}

/// In a forked child, where only the forking thread exists: it becomes the main thread, and
/// the parent's other threads leave the registry (≈ `threading._after_fork`).
fn after_fork_in_child() {
    REGISTRY.force_unlock_after_fork();
    MAIN.force_unlock_after_fork();
    registry().clear();
    *MAIN.lock() = None;
    IDENT.with(|i| i.set(1));
    CURRENT.with(|c| std::mem::forget(c.borrow_mut().take()));
    let _ = main_thread();
}

struct Current {
    thread: Thread,
}

impl Drop for Current {
    fn drop(&mut self) {
        if self.thread.inner.kind == Kind::Dummy {
            unregister(&self.thread);
            self.thread.inner.finished.set();
        }
    }
}

thread_local! {
    // after-fork: reset by thread::registry
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
    // after-fork: reset by thread::registry
    static IDENT: Cell<u64> = const { Cell::new(0) };
}

/// Called first thing in a thread multiproc starts.
pub(crate) fn set_current(t: &Thread) {
    IDENT.with(|i| i.set(t.ident()));
    t.inner
        .native_id
        .store(sys::tid::current(), Ordering::Release);
    CURRENT.with(|c| *c.borrow_mut() = Some(Current { thread: t.clone() }));
}

fn is_main_os_thread() -> bool {
    sys::tid::current() == sys::pid()
}

/// The calling thread (≈ `threading.current_thread()`).
pub fn current_thread() -> Thread {
    if let Ok(Some(t)) = CURRENT.try_with(|c| c.borrow().as_ref().map(|c| c.thread.clone())) {
        return t;
    }
    let t = if is_main_os_thread() {
        main_thread()
    } else {
        let t = new_thread(get_ident(), new_name("Dummy"), true, Kind::Dummy);
        t.inner
            .native_id
            .store(sys::tid::current(), Ordering::Release);
        register(&t);
        t
    };
    // During thread teardown the TLS may be gone: then just hand out the entry.
    let _ = CURRENT.try_with(|c| *c.borrow_mut() = Some(Current { thread: t.clone() }));
    t
}

/// The calling thread's [`Thread::ident`] (≈ `threading.get_ident()`); does not register a
/// dummy entry.
pub fn get_ident() -> u64 {
    IDENT
        .try_with(|i| {
            if i.get() == 0 {
                AT_FORK.register();
                i.set(if is_main_os_thread() { 1 } else { new_ident() });
            }
            i.get()
        })
        .unwrap_or_else(|_| new_ident())
}

/// The calling thread's kernel thread id (≈ `threading.get_native_id()`).
pub fn get_native_id() -> u32 {
    sys::tid::current()
}

/// Every thread alive (≈ `threading.enumerate()`): the main thread, threads started by
/// multiproc, and foreign threads that have called [`current_thread`]; in start order.
pub fn enumerate() -> Vec<Thread> {
    main_thread();
    registry().values().cloned().collect()
}

/// `enumerate().len()` (≈ `threading.active_count()`).
pub fn active_count() -> usize {
    main_thread();
    registry().len()
}

/// Threads [`shutdown`](super::shutdown) must wait for.
pub(crate) fn pending_non_daemon() -> Vec<Thread> {
    let me = get_ident();
    registry()
        .values()
        .filter(|t| t.inner.kind == Kind::Spawned && !t.is_daemon() && t.ident() != me)
        .cloned()
        .collect()
}
