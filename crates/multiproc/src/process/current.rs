//! Who this process is: `current_process()`, `parent_process()`.

use crate::sync::{Mutex, ResetAfterFork};
use crate::sys;

/// What `current_process()` / `parent_process()` tell (≈ the parts of Python's
/// `BaseProcess` that describe a running process).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    /// `MainProcess` in the process the program started as, else the `Process` name.
    pub name: String,
    /// The process id.
    pub pid: u32,
    /// Whether this process was started as a daemon.
    pub daemon: bool,
}

struct Identity {
    name: String,
    daemon: bool,
    parent: Option<(u32, String)>,
}

// after-fork: reset by process::current
static IDENTITY: Mutex<Option<Identity>> = Mutex::const_new(crate::sync::RawLock::new(), None);

// after-fork: kept (the handler itself)
static AT_FORK: sys::at_fork::Handler = sys::at_fork::Handler::child("process::current", || {
    // A thread of the parent may have been reading it: the value is whole (only a fork
    // child's `set_child` replaces it), the lock is taken over.
    IDENTITY.force_unlock_after_fork();
    AUTHKEY.force_unlock_after_fork();
});

// after-fork: reset by process::current (the key itself is kept: a child inherits it)
static AUTHKEY: Mutex<Option<Vec<u8>>> = Mutex::const_new(crate::sync::RawLock::new(), None);

/// This process's authkey (≈ `current_process().authkey`): 32 random bytes made in the main
/// process, inherited by every child whatever its start method. A [`Manager`] uses it unless
/// told otherwise, so proxies passed to children, pool workers, or children's children
/// connect without the key ever being written into a message.
///
/// [`Manager`]: crate::manager::Manager
pub fn authkey() -> Vec<u8> {
    AT_FORK.register();
    let mut g = AUTHKEY.lock();
    g.get_or_insert_with(|| {
        let mut k = vec![0u8; 32];
        // The kernel's randomness does not fail on Linux ≥ 3.17 once booted; if it ever did,
        // a key of zeros would still differ from nobody's: refuse rather than weaken it.
        crate::sys::io::random(&mut k).expect("getrandom(2) failed: cannot make an authkey");
        k
    })
    .clone()
}

/// Sets this process's authkey (≈ `current_process().authkey = key`); children started
/// afterwards inherit it.
pub fn set_authkey(key: &[u8]) {
    AT_FORK.register();
    *AUTHKEY.lock() = Some(key.to_vec());
}

fn identity() -> crate::sync::MutexGuard<'static, Option<Identity>> {
    AT_FORK.register();
    IDENTITY.lock()
}

/// This process (≈ `multiprocessing.current_process()`).
pub fn current_process() -> ProcessInfo {
    let g = identity();
    match &*g {
        Some(id) => ProcessInfo {
            name: id.name.clone(),
            pid: sys::pid(),
            daemon: id.daemon,
        },
        None => ProcessInfo {
            name: "MainProcess".into(),
            pid: sys::pid(),
            daemon: false,
        },
    }
}

/// The process that started this one, or `None` in the main process
/// (≈ `multiprocessing.parent_process()`).
pub fn parent_process() -> Option<ProcessInfo> {
    let g = identity();
    let (pid, name) = g.as_ref()?.parent.clone()?;
    Some(ProcessInfo {
        name,
        pid,
        daemon: false,
    })
}

/// In a new child, before its target runs.
pub(crate) fn set_child(name: &str, daemon: bool, parent_pid: u32, parent_name: &str) {
    *identity() = Some(Identity {
        name: name.to_owned(),
        daemon,
        parent: Some((parent_pid, parent_name.to_owned())),
    });
}
