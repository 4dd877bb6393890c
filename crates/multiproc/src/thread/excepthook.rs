//! What happens to a panic that escapes a thread (≈ `threading.excepthook`).
//!
//! multiproc catches the panic at the top of every thread it starts, hands a [`Panic`] (message
//! and `file:line:col`) to [`JoinHandle::join`](super::JoinHandle::join), and calls the
//! excepthook once. The default hook prints, as Python does:
//!
//! ```text
//! Exception in thread worker:
//! thread 'worker' panicked at src/main.rs:4:9:
//! boom
//! ```
//!
//! To know *where* a thread panicked, multiproc installs a panic hook (once, when it starts its
//! first thread) that records the location for its own threads and passes every other thread's
//! panic to the hook that was there before. If your program replaces the panic hook after
//! that, panics are still caught and reported, without a location.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::sync::{Arc, Once, PoisonError, RwLock};

use super::Thread;
use crate::error::Panic;

/// What an excepthook is told (≈ `threading.ExceptHookArgs`).
#[derive(Debug)]
pub struct ExceptHookArgs<'a> {
    /// The thread whose closure panicked.
    pub thread: &'a Thread,
    /// The panic: message and location.
    pub panic: &'a Panic,
}

type Hook = Arc<dyn Fn(&ExceptHookArgs<'_>) + Send + Sync>;

static HOOK: RwLock<Option<Hook>> = RwLock::new(None);

/// Replaces the excepthook (≈ assigning `threading.excepthook`).
pub fn set_excepthook(hook: impl Fn(&ExceptHookArgs<'_>) + Send + Sync + 'static) {
    *HOOK.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(hook));
}

/// Puts the default excepthook back (≈ `threading.excepthook = threading.__excepthook__`).
pub fn reset_excepthook() {
    *HOOK.write().unwrap_or_else(PoisonError::into_inner) = None;
}

/// The default excepthook (≈ `threading.__excepthook__`): prints to stderr.
pub fn default_excepthook(args: &ExceptHookArgs<'_>) {
    eprintln!(
        "Exception in thread {}:\n{}",
        args.thread.name(),
        args.panic
    );
}

pub(crate) fn call_excepthook(thread: &Thread, panic: &Panic) {
    let hook = HOOK.read().unwrap_or_else(PoisonError::into_inner).clone();
    let args = ExceptHookArgs { thread, panic };
    match hook {
        Some(h) => h(&args),
        None => default_excepthook(&args),
    }
}

thread_local! {
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    static LAST_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs the recording panic hook (once) and marks the calling thread as one whose panics
/// multiproc reports.
pub(crate) fn capture_panics_here() {
    install_recording_hook();
    CAPTURING.with(|c| c.set(true));
}

/// Installs the recording panic hook, once. `fork` calls this in the parent first: installing
/// takes std's panic-hook lock for writing, and a child forked while another thread of the
/// parent was panicking (holding that lock for reading) would wait for it forever.
pub(crate) fn install_recording_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CAPTURING.try_with(Cell::get).unwrap_or(false) {
                let loc = info.location().map(|l| l.to_string());
                let _ = LAST_LOCATION.try_with(|c| *c.borrow_mut() = loc);
            } else {
                previous(info);
            }
        }));
    });
}

/// Turns a caught panic payload into a [`Panic`], with the location the hook recorded.
pub(crate) fn to_panic(thread_name: &str, payload: &(dyn Any + Send)) -> Panic {
    let message = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    };
    let location = LAST_LOCATION
        .try_with(|c| c.borrow_mut().take())
        .ok()
        .flatten();
    Panic {
        thread_name: thread_name.to_owned(),
        message,
        location,
    }
}
