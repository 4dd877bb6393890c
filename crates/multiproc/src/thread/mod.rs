//! Threads with Python's `threading` API (≈ `threading.Thread` and the module functions).
//!
//! # Starting and joining
//!
//! ```
//! use multiproc::thread::{self, Builder};
//!
//! // Thread(target=f, args=(...)): a closure captures its arguments.
//! let t = Builder::new().name("worker").spawn(|| 6 * 7).unwrap();
//! assert_eq!(t.name(), "worker");
//! assert_eq!(t.join().unwrap(), 42);   // join() returns the closure's value
//!
//! // A panic reaches join() as a typed error with its message and location.
//! let t = thread::spawn(|| -> u32 { panic!("boom") });
//! # thread::set_excepthook(|_| {}); // keep doctest output quiet
//! let err = t.join().unwrap_err();
//! assert!(err.to_string().contains("boom"));
//! # thread::reset_excepthook();
//! ```
//!
//! # Who is running
//!
//! [`current_thread`], [`main_thread`], [`enumerate`], [`active_count`], [`get_ident`] and
//! [`get_native_id`] work as in Python. `ident`s are never reused within a process.
//!
//! # Daemon threads and the end of `main`
//!
//! Python joins every non-daemon thread when the main thread finishes and abandons daemon
//! threads. A Rust program ends when `main` returns, taking every thread with it. To get
//! Python's rule, put one line at the top of `main`:
//!
//! ```
//! # #![allow(clippy::needless_doctest_main)]
//! fn main() {
//!     let _threads = multiproc::thread::join_on_exit();
//!     multiproc::thread::spawn(|| { /* finishes even though main returns first */ });
//! } // <- waits here for non-daemon threads; daemon threads are abandoned
//! ```
//!
//! or call [`shutdown`] yourself where you want that wait to happen. A thread's daemon flag
//! is inherited from the thread that starts it unless the [`Builder`] sets it.
//!
//! # Panics in threads
//!
//! A panic that escapes a thread's closure goes to the excepthook ([`set_excepthook`];
//! the default prints `Exception in thread NAME:` and the panic) and then to `join()`.

mod builder;
mod excepthook;
mod local;
mod registry;
mod timer;

pub use builder::{Builder, JoinHandle, Run, spawn};
pub use excepthook::{ExceptHookArgs, default_excepthook, reset_excepthook, set_excepthook};
pub use local::Local;
pub use registry::{
    Thread, active_count, current_thread, enumerate, get_ident, get_native_id, main_thread,
};
pub use timer::Timer;

pub(crate) use excepthook::{
    capture_panics_here, catch_quietly, install_recording_hook, payload_message,
    set_abort_reporter, to_panic,
};

use std::time::{Duration, Instant};

use crate::error::Timeout;

/// Waits for every non-daemon thread multiproc started, including threads they start
/// meanwhile (≈ `threading._shutdown`, which Python runs when the main thread ends).
pub fn shutdown() {
    while shutdown_until(None).is_err() {}
}

/// As [`shutdown`], giving up after `timeout`.
pub fn shutdown_timeout(timeout: Duration) -> Result<(), Timeout> {
    shutdown_until(crate::sync::deadline(timeout))
}

fn shutdown_until(deadline: Option<Instant>) -> Result<(), Timeout> {
    loop {
        let pending = registry::pending_non_daemon();
        if pending.is_empty() {
            return Ok(());
        }
        for t in pending {
            if !t.inner.finished.wait_until(deadline) {
                return Err(Timeout);
            }
        }
    }
}

/// Python's exit rule for `main`: the returned guard calls [`shutdown`] when dropped.
#[must_use = "the guard waits for non-daemon threads when it is dropped; bind it with `let _threads = ...`"]
pub fn join_on_exit() -> JoinOnExit {
    JoinOnExit { _private: () }
}

/// Returned by [`join_on_exit`]; waits for non-daemon threads when dropped.
#[derive(Debug)]
pub struct JoinOnExit {
    _private: (),
}

impl Drop for JoinOnExit {
    fn drop(&mut self) {
        shutdown();
    }
}
