//! Processes with Python's `multiprocessing` API: [`Process`], the three start methods, and
//! the module functions.
//!
//! ```
//! use multiproc::process::{self, Process};
//!
//! fn greet(name: String) -> String {
//!     format!("hello {name} from {}", process::current_process().name)
//! }
//!
//! let mut p = Process::builder().name("greeter").target(greet, "bob".to_string());
//! p.start().unwrap();
//! assert_eq!(p.join().unwrap(), "hello bob from greeter");
//! ```
//!
//! # Targets
//!
//! [`Builder::target`] takes a `fn(A) -> R` (a `fn`, or a closure that captures nothing)
//! plus serde arguments and works with every start method: the function crosses as a
//! [`Callable`]. [`Builder::fork_target`] takes any closure and needs `Fork`. A
//! [`Context`] builds every shared object and process for one start method. A
//! child's panic comes back from `join` as [`ProcessError::Panicked`](crate::ProcessError::Panicked) with message and
//! location; its exit code follows Python (0, 1 after a panic, `-N` for signal N).
//!
//! # Set-up
//!
//! None. The child entry is a constructor in this library that runs before `main` in every
//! process, so spawned children never run your `main` (or the test harness's).
//!
//! # Lifetimes
//!
//! Every child is started with a parent-death signal (from one long-lived launcher thread, so
//! it is tied to the process, not the thread that called `start`): killing the parent kills
//! its children. When the program exits normally, daemon children are terminated and the
//! others waited for, as in Python. Every child is reaped.

mod base;
mod bootstrap;
mod callable;
mod context;
mod current;
mod entry;
mod forkserver;
mod launcher;
mod os;
mod popen;
mod popen_fork;
mod popen_forkserver;
mod popen_spawn;
mod portable;
mod registry;
mod wire;

pub use base::{Builder, Process};
pub(crate) use bootstrap::{
    TaskEnd, TaskTrampoline, call_chunk, call_task, task_offset, task_trampoline,
};
pub use callable::Callable;
pub use context::{
    Context, StartMethod, get_all_start_methods, get_context, get_start_method, set_start_method,
};
pub use current::{ProcessInfo, authkey, current_process, parent_process, set_authkey};
pub use forkserver::forkserver_pid;
pub use os::{Fork, fork, waitpid};
pub use portable::Portable;

/// Python's `multiprocessing.Queue`, `SimpleQueue` and `JoinableQueue`; they live in
/// [`queue::process`](crate::queue::process) beside the thread queues.
pub use crate::queue::process::{JoinableQueue, Queue, SimpleQueue};

/// Live children of this process (≈ `multiprocessing.active_children()`); reaps the ended.
pub fn active_children() -> Vec<ProcessInfo> {
    registry::reap()
        .into_iter()
        .map(|c| ProcessInfo {
            name: c.name.clone(),
            pid: c.pid,
            daemon: c.daemon,
        })
        .collect()
}

/// CPUs this process may use (≈ `os.process_cpu_count()` / `multiprocessing.cpu_count()`).
pub fn cpu_count() -> usize {
    crate::sys::process::cpu_count()
}

/// The CPUs the calling thread may run on, in ascending order (≈ `os.sched_getaffinity(0)`).
///
/// ```
/// let cpus = multiproc::process::sched_getaffinity().unwrap();
/// assert!(!cpus.is_empty());
/// ```
pub fn sched_getaffinity() -> std::io::Result<Vec<usize>> {
    crate::sys::process::affinity()
}

/// Lets the calling thread run only on `cpus` (≈ `os.sched_setaffinity(0, cpus)`). Threads
/// and processes it starts afterwards inherit the set, with every start method: pin a thread,
/// start a `Process`, and both share those CPUs. An empty set, or one with no CPU this
/// process may use, is `InvalidInput`.
///
/// ```
/// use multiproc::process::{sched_getaffinity, sched_setaffinity};
///
/// std::thread::spawn(|| {
///     let all = sched_getaffinity().unwrap();
///     sched_setaffinity(&all[..1]).unwrap();        // this thread only
///     assert_eq!(sched_getaffinity().unwrap(), &all[..1]);
///     assert!(sched_setaffinity(&[]).is_err());
/// })
/// .join()
/// .unwrap();
/// ```
pub fn sched_setaffinity(cpus: &[usize]) -> std::io::Result<()> {
    crate::sys::process::set_affinity(cpus)
}
