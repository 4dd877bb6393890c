//! The calling thread's kernel id (`gettid`), cached in a thread-local.
//!
//! Lock words store the owner's tid (the same layout as Linux robust futexes: bits 0–29 the
//! tid, bit 30 "owner died", bit 31 "waiters"), so re-entrancy checks and, later, owner-death
//! detection need it on every acquire. `gettid` is a syscall; the cache makes it a TLS read.
//! After `fork` the only surviving thread has a new tid, so a `pthread_atfork` child handler
//! clears the cache.

use std::cell::Cell;
use std::sync::Once;

thread_local! {
    static TID: Cell<u32> = const { Cell::new(0) };
}

extern "C" fn reset_after_fork() {
    // Runs in the child, in the thread that called fork: the only thread there.
    TID.with(|t| t.set(0));
}

/// The calling thread's kernel thread id.
#[inline]
pub(crate) fn current() -> u32 {
    let cached = TID.with(Cell::get);
    if cached != 0 {
        return cached;
    }
    slow()
}

#[cold]
fn slow() -> u32 {
    static AT_FORK: Once = Once::new();
    AT_FORK.call_once(|| {
        // SAFETY: registering a plain `extern "C"` function with no captured state; it only
        // touches a const-initialised thread-local `Cell`, which needs no allocation.
        unsafe {
            libc::pthread_atfork(None, None, Some(reset_after_fork));
        }
    });
    let tid = rustix::thread::gettid().as_raw_nonzero().get() as u32;
    TID.with(|t| t.set(tid));
    tid
}
