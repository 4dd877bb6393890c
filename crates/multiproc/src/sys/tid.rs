//! The calling thread's kernel id (`gettid`) and the process id, cached.
//!
//! Lock words store the owner's tid (the same layout as Linux robust futexes: bits 0–29 the
//! tid, bit 30 "owner died", bit 31 "waiters") and locks record the owner's pid, so every
//! acquire needs both. `gettid`/`getpid` are syscalls; the caches make them a TLS read and an
//! atomic load. After `fork` the surviving thread has a new tid and the process a new pid, so
//! the after-fork registry clears both caches first.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};

thread_local! {
    // after-fork: reset by sys::at_fork (first, before any handler)
    static TID: Cell<u32> = const { Cell::new(0) };
}

// after-fork: reset by sys::at_fork (first, before any handler)
static PID: AtomicU32 = AtomicU32::new(0);

/// In a forked child (called first by [`at_fork`](super::at_fork)'s child handler): the
/// surviving thread has a new tid and the process a new pid.
pub(crate) fn reset_after_fork() {
    // Runs in the child, in the thread that called fork: the only thread there.
    TID.with(|t| t.set(0));
    PID.store(0, Ordering::Relaxed);
}

/// The calling thread's kernel thread id.
#[inline]
pub(crate) fn current() -> u32 {
    let cached = TID.with(Cell::get);
    if cached != 0 {
        return cached;
    }
    slow_tid()
}

#[cold]
fn slow_tid() -> u32 {
    super::at_fork::install();
    let tid = rustix::thread::gettid().as_raw_nonzero().get() as u32;
    TID.with(|t| t.set(tid));
    tid
}

/// The process id.
#[inline]
pub(crate) fn pid() -> u32 {
    let cached = PID.load(Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    slow_pid()
}

#[cold]
fn slow_pid() -> u32 {
    super::at_fork::install();
    let pid = rustix::process::getpid().as_raw_nonzero().get() as u32;
    PID.store(pid, Ordering::Relaxed);
    pid
}
