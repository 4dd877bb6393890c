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

static IDENTITY: Mutex<Option<Identity>> = Mutex::const_new(crate::sync::RawLock::new(), None);

/// This process (≈ `multiprocessing.current_process()`).
pub fn current_process() -> ProcessInfo {
    let g = IDENTITY.lock();
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
    let g = IDENTITY.lock();
    let (pid, name) = g.as_ref()?.parent.clone()?;
    Some(ProcessInfo {
        name,
        pid,
        daemon: false,
    })
}

/// In a new child, before its target runs.
pub(crate) fn set_child(name: &str, daemon: bool, parent_pid: u32, parent_name: &str) {
    // A forked child may have copied this lock held by another thread: take it over.
    IDENTITY.force_unlock_after_fork();
    *IDENTITY.lock() = Some(Identity {
        name: name.to_owned(),
        daemon,
        parent: Some((parent_pid, parent_name.to_owned())),
    });
}
