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
use std::sync::{Arc, Once};

use super::Thread;
use crate::error::Panic;
use crate::sync::{Mutex, ResetAfterFork};

/// What an excepthook is told (≈ `threading.ExceptHookArgs`).
#[derive(Debug)]
pub struct ExceptHookArgs<'a> {
    /// The thread whose closure panicked.
    pub thread: &'a Thread,
    /// The panic: message and location.
    pub panic: &'a Panic,
}

type Hook = Arc<dyn Fn(&ExceptHookArgs<'_>) + Send + Sync>;

/// The current hook. A [`Mutex`] (held only to swap or clone the `Arc`, never while the hook
/// runs) rather than std's `RwLock`, so a forked child can reset it: a thread of the parent
/// swapping hooks at the moment of `fork` would otherwise leave it locked in the child forever,
/// and the child's first thread panic would hang.
// after-fork: reset by thread::excepthook
static HOOK: Mutex<Option<Hook>> = Mutex::new(None);

// after-fork: kept (the handler itself)
static AT_FORK: crate::sys::at_fork::Handler =
    crate::sys::at_fork::Handler::child("thread::excepthook", after_fork_in_child);

fn current_hook() -> crate::sync::MutexGuard<'static, Option<Hook>> {
    AT_FORK.register();
    HOOK.lock()
}

/// Replaces the excepthook (≈ assigning `threading.excepthook`).
pub fn set_excepthook(hook: impl Fn(&ExceptHookArgs<'_>) + Send + Sync + 'static) {
    let hook: Hook = Arc::new(hook);
    // The old hook is dropped after the lock is released.
    let _old = current_hook().replace(hook);
}

/// Puts the default excepthook back (≈ `threading.excepthook = threading.__excepthook__`).
pub fn reset_excepthook() {
    let _old = current_hook().take();
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
    let hook = current_hook().clone();
    let args = ExceptHookArgs { thread, panic };
    match hook {
        Some(h) => h(&args),
        None => default_excepthook(&args),
    }
}

/// In a forked child: the thread that may have held the hook's lock does not exist here. The
/// child keeps the parent's hook, unless the lock was held at the fork: then the hook may have
/// been half replaced, and the child starts from the default one.
fn after_fork_in_child() {
    let was_held = HOOK.is_locked();
    HOOK.force_unlock_after_fork();
    if was_held {
        // The possibly torn value is forgotten: never dropped, never called.
        std::mem::forget(HOOK.lock().take());
    }
}

thread_local! {
    // after-fork: kept (the forking thread's own, still right in the child)
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    // after-fork: kept (the forking thread's own, still right in the child)
    static LAST_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs the recording panic hook (once) and marks the calling thread as one whose panics
/// multiproc reports.
pub(crate) fn capture_panics_here() {
    install_recording_hook();
    CAPTURING.with(|c| c.set(true));
}

/// Runs `body`, catching a panic silently (no message on stderr) and returning it with its
/// location, in the caller's thread, which keeps its own panic reporting afterwards (a pool's
/// input iterator, run in the user's thread).
pub(crate) fn catch_quietly<R>(body: impl FnOnce() -> R) -> Result<R, Panic> {
    install_recording_hook();
    let was = CAPTURING.with(|c| c.replace(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
    CAPTURING.with(|c| c.set(was));
    r.map_err(|payload| {
        let name = std::thread::current()
            .name()
            .unwrap_or("<unnamed>")
            .to_owned();
        to_panic(&name, &*payload)
    })
}

/// Installs the recording panic hook, once. `fork` calls this in the parent first: installing
/// takes std's panic-hook lock for writing, and a child forked while another thread of the
/// parent was panicking (holding that lock for reading) would wait for it forever.
pub(crate) fn install_recording_hook() {
    // after-fork: kept (the panic hook it installs is inherited)
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // With `panic = "abort"` nothing unwinds to a `catch_unwind`: the process ends
            // right after this hook, so a child reports here or never.
            if cfg!(panic = "abort") && ABORT_REPORTER.get().is_some_and(|report| report(info)) {
                return;
            }
            if CAPTURING.try_with(Cell::get).unwrap_or(false) {
                let loc = info.location().map(|l| l.to_string());
                let _ = LAST_LOCATION.try_with(|c| *c.borrow_mut() = loc);
            } else {
                previous(info);
            }
        }));
    });
}

/// A panic payload's message.
pub(crate) fn payload_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

/// Who to tell about a panic when panics abort (a child process tells its parent; see
/// `process::bootstrap`); returns whether it did. A plain function pointer, set without
/// taking std's panic-hook lock, so a forked child may set it.
type AbortReporter = fn(&std::panic::PanicHookInfo<'_>) -> bool;

// after-fork: kept (a function pointer, the same in the child)
static ABORT_REPORTER: std::sync::OnceLock<AbortReporter> = std::sync::OnceLock::new();

/// Sets the [`AbortReporter`] (once per process image; later calls do nothing).
pub(crate) fn set_abort_reporter(f: AbortReporter) {
    let _ = ABORT_REPORTER.set(f);
}

/// Turns a caught panic payload into a [`Panic`], with the location the hook recorded.
pub(crate) fn to_panic(thread_name: &str, payload: &(dyn Any + Send)) -> Panic {
    let message = payload_message(payload);
    let location = LAST_LOCATION
        .try_with(|c| c.borrow_mut().take())
        .ok()
        .flatten();
    Panic {
        thread_name: thread_name.to_owned(),
        message,
        location,
        aborted: false,
    }
}
