//! Python's `os.fork()` and `os.waitpid()`, for the seed's "pid == 0" example.
//!
//! Unlike a [`Process`](super::Process), a raw fork's child is *not* tied to its parent: it
//! gets no parent-death signal and may outlive the parent (the seed's point: "fork 的子进程和
//! 主进程可以不同时存在"). Nothing reaps it but [`waitpid`].

use std::io;

/// What `fork()` returned in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fork {
    /// This is the new child (Python: `pid == 0`).
    Child,
    /// This is the parent; the child's pid.
    Parent(u32),
}

/// `os.fork()`: duplicates the calling process.
///
/// # Safety
/// Only the calling thread exists in the child. Locks that other threads held (including
/// inside libraries, and Rust's stdout lock) stay held there, so in a multi-threaded program
/// the child should only do async-signal-safe work and end with `exec` or `libc::_exit`. The
/// child also holds copies of every fd, including ones other threads had open only for a
/// moment (a `Command::spawn`'s exec-status pipe), so a child that lingers can stall them.
pub unsafe fn fork() -> io::Result<Fork> {
    // SAFETY: the caller accepts the rules above.
    match unsafe { crate::sys::process::fork() }? {
        // The after-fork registry (`sys::at_fork`) has reset this process's state: the same
        // resets as a `Fork` start's child gets.
        None => Ok(Fork::Child),
        Some(pid) => Ok(Fork::Parent(pid)),
    }
}

/// `os.waitpid(pid, 0)`: waits for a child started by [`fork`]; its exit code in
/// `multiprocessing`'s convention (`n`, or `-N` for death by signal N).
pub fn waitpid(pid: u32) -> io::Result<i32> {
    crate::sys::process::waitpid(pid)
}
