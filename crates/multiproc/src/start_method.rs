//! [`StartMethod`]: how a child process is started (Python's `'fork'`, `'spawn'`,
//! `'forkserver'`). A leaf of the crate, beside `error.rs`, so that errors can name a method
//! without depending on `process/`; `process::StartMethod` is this type, and
//! `error::ContextError` (its parse error) lives here too.

use std::fmt;
use std::str::FromStr;

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

/// Misuse of start methods and contexts (≈ the `ValueError`/`RuntimeError`s of
/// `multiprocessing.context`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContextError {
    /// `set_start_method` a second time without `force`.
    #[error("context has already been set")]
    AlreadySet,
    /// An unknown start-method name.
    #[error("cannot find context for '{0}'")]
    UnknownMethod(String),
}
