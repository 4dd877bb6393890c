//! The calling thread's kernel id (`gettid`) and the process id, cached.
//!
//! Lock words store the owner's tid (the same layout as Linux robust futexes: bits 0–29 the
//! tid, bit 30 "owner died", bit 31 "waiters") and locks record the owner's pid, so every
//! acquire needs both. `gettid`/`getpid` are syscalls; the caches make them a TLS read and an
//! atomic load. After `fork` the surviving thread has a new tid and the process a new pid, so
//! a `pthread_atfork` child handler clears both caches.

use std::cell::Cell;
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};

thread_local! {
    static TID: Cell<u32> = const { Cell::new(0) };
}

static PID: AtomicU32 = AtomicU32::new(0);

extern "C" fn reset_after_fork() {
    // Runs in the child, in the thread that called fork: the only thread there.
    TID.with(|t| t.set(0));
    PID.store(0, Ordering::Relaxed);
}

fn register_at_fork() {
    static AT_FORK: Once = Once::new();
    AT_FORK.call_once(|| {
        // SAFETY: registering a plain `extern "C"` function with no captured state; it only
        // touches a const-initialised thread-local `Cell` and an atomic, which need no
        // allocation.
        unsafe {
            libc::pthread_atfork(None, None, Some(reset_after_fork));
        }
    });
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
    register_at_fork();
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
    register_at_fork();
    let pid = rustix::process::getpid().as_raw_nonzero().get() as u32;
    PID.store(pid, Ordering::Relaxed);
    pid
}

/// Whether the task (thread or process) `id` exists and has not died: `/proc/<id>/stat` is
/// there and its state is not zombie or dead. Thread ids are reachable as `/proc/<tid>` too.
pub(crate) fn task_alive(id: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{id}/stat")) {
        Ok(stat) => !matches!(
            stat.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next()),
            Some("Z" | "X" | "x")
        ),
        Err(_) => false,
    }
}

/// The start time (clock ticks since boot, `/proc/<id>/stat` field 22) of the live task `id`;
/// `None` if it does not exist or is a zombie. A tid with the same start time is the same
/// task, so this tells a living owner from a recycled id.
pub(crate) fn task_start_time(id: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{id}/stat")).ok()?;
    let mut fields = stat.rsplit(')').next()?.split_whitespace();
    // Fields after the command: state (3), then 4.. ; starttime is field 22.
    let state = fields.next()?;
    if matches!(state, "Z" | "X" | "x") {
        return None;
    }
    fields.nth(22 - 4)?.parse().ok()
}
