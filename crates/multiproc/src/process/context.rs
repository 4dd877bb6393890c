//! Start methods and contexts (≈ `multiprocessing.get_context`, `set_start_method`, ...).

use std::fmt;
use std::str::FromStr;

use super::base::Builder;
use crate::error::ContextError;
use std::sync::atomic::{AtomicU8, Ordering};

/// How a child process is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StartMethod {
    /// `fork()`: the child is a copy of the parent, so the target may capture anything. In a
    /// parent with several threads only the forking thread exists in the child, and locks the
    /// others held stay held there (glibc's `malloc` is made safe for this; your own locks,
    /// and C libraries', are not; nor is Rust's stdout lock, so a forked child's target
    /// should not print if another thread may be printing at that moment). Python 3.12+
    /// warns about exactly this; prefer `Forkserver` in threaded programs.
    ///
    /// multiproc's own state is safe in the child: every lock and cache of the crate is reset
    /// by its after-fork registry (the launcher, the thread registry, the segment tracker,
    /// the forkserver connection, the memory pool). What std keeps to itself cannot be reset:
    /// std's per-thread bookkeeping lock (taken when a thread starts), its stdout/stderr
    /// locks, its environment lock (`std::env::set_var`, `Command`) and the panic-hook lock.
    /// In a child forked while other threads of the parent may hold them, the target must not
    /// start threads (`std::thread` or multiproc's), print, touch the environment or spawn
    /// commands; it may compute, use shared objects, queues and connections, and start
    /// further processes (those go through multiproc, which is reset). A parent with only
    /// one thread has none of these limits.
    Fork,
    /// A fresh run of this executable (`/proc/self/exe`). The target is a non-capturing
    /// closure or `fn`; its arguments and result cross by serde.
    Spawn,
    /// A single-threaded server, started on first use, forks each child on request. Same
    /// rules for targets as `Spawn`, nearly the speed of `Fork`, none of its thread hazards.
    /// The default, as in Python 3.14.
    Forkserver,
}

impl StartMethod {
    /// Python's name for it.
    pub fn name(self) -> &'static str {
        match self {
            StartMethod::Fork => "fork",
            StartMethod::Spawn => "spawn",
            StartMethod::Forkserver => "forkserver",
        }
    }
}

impl fmt::Display for StartMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for StartMethod {
    type Err = ContextError;
    fn from_str(s: &str) -> Result<Self, ContextError> {
        match s {
            "fork" => Ok(StartMethod::Fork),
            "spawn" => Ok(StartMethod::Spawn),
            "forkserver" => Ok(StartMethod::Forkserver),
            other => Err(ContextError::UnknownMethod(other.to_owned())),
        }
    }
}

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

/// The default start method: the one set, else `Forkserver`.
pub fn get_start_method() -> StartMethod {
    match METHOD.load(Ordering::Acquire) {
        0 => StartMethod::Forkserver,
        n => get_all_start_methods()[usize::from(n) - 1],
    }
}

/// Sets the default start method, once (`force` replaces an earlier choice), as Python's
/// `set_start_method`: a second call without `force` is [`ContextError::AlreadySet`].
pub fn set_start_method(method: StartMethod, force: bool) -> Result<(), ContextError> {
    let code = get_all_start_methods()
        .iter()
        .position(|m| *m == method)
        .map_or(0, |i| i as u8 + 1);
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

/// Factories bound to one start method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    method: StartMethod,
}

impl Context {
    /// The context's start method.
    pub fn get_start_method(&self) -> StartMethod {
        self.method
    }

    /// A process builder using this context's start method.
    pub fn process(&self) -> Builder {
        Builder::new().start_method(self.method)
    }
}
