//! The segment tracker: unlinks the named segments a process created and did not unlink, when
//! that process ends, however it ends (≈ CPython's `resource_tracker`, minus gh-82300).
//!
//! CPython registers a segment with the tracker both when it is created *and when it is
//! attached*, so a process that merely attached unlinks it at exit, under its creator's feet.
//! Here only the creator registers. The tracker is this executable started once per process
//! (on the first named segment) with `MULTIPROC_TRACKER_FD`: it reads `R name` / `U name`
//! lines from a pipe, and when the pipe reaches end of file, because every process holding
//! its write end has exited (or been killed), it unlinks what is still registered. It has no
//! parent-death signal: it must outlive its creator to clean up after it.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::OwnedFd;

use crate::sync::{Mutex, RawLock};
use crate::sys::process as sp;

/// The environment variable that makes a started copy of this executable the tracker.
pub(crate) const ENV_TRACKER: &str = "MULTIPROC_TRACKER_FD";

// after-fork: reset by shared::tracker
static TRACKER: Mutex<Option<File>> = Mutex::const_new(RawLock::new(), None);

// after-fork: kept (the handler itself)
static AT_FORK: crate::sys::at_fork::Handler =
    crate::sys::at_fork::Handler::child("shared::tracker", after_fork_in_child);

/// In a forked child: the segments it creates are its own, and must be unlinked when *it*
/// ends, so it closes its copy of the parent's tracker pipe (the parent's tracker still ends
/// with the parent) and starts its own tracker on its first named segment. The lock may
/// have been held by a parent thread mid-write: taken over.
fn after_fork_in_child() {
    use crate::sync::ResetAfterFork;
    TRACKER.force_unlock_after_fork();
    drop(TRACKER.lock().take());
}

fn tracker() -> crate::sync::MutexGuard<'static, Option<File>> {
    AT_FORK.register();
    TRACKER.lock()
}

fn send(line: &str) {
    let mut g = tracker();
    if g.is_none() {
        *g = start().ok();
    }
    if let Some(w) = g.as_mut() {
        let _ = w.write_all(line.as_bytes());
    }
}

/// The creator of `name` asks for it to be unlinked when the creator ends.
pub(crate) fn register(name: &str) {
    send(&format!("R {name}\n"));
}

/// `name` was unlinked: nothing to do for it at the end.
pub(crate) fn unregister(name: &str) {
    if tracker().is_some() {
        send(&format!("U {name}\n"));
    }
}

fn start() -> std::io::Result<File> {
    let (r, w) = crate::sys::io::pipe()?;
    // No parent-death signal: the tracker must outlive its creator to clean up after it. So
    // it need not be started from the launcher thread either.
    crate::sys::process::exec_self(ENV_TRACKER, r, None)?;
    Ok(File::from(w))
}

/// The tracker process's loop (called from the child entry); never returns.
pub(crate) fn serve(fd: OwnedFd) -> ! {
    let mut names = BTreeSet::new();
    for line in BufReader::new(File::from(fd)).lines() {
        let Ok(line) = line else { break };
        match line.split_once(' ') {
            Some(("R", name)) => {
                names.insert(name.to_owned());
            }
            Some(("U", name)) => {
                names.remove(name);
            }
            _ => {}
        }
    }
    for name in names {
        let _ = crate::sys::shm::unlink_named(&name);
    }
    sp::exit_now(0)
}
