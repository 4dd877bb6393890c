//! The segment tracker: unlinks the named segments a process created and did not unlink, when
//! that process ends, however it ends (≈ CPython's `resource_tracker`, minus gh-82300).
//!
//! CPython registers a segment with the tracker both when it is created *and when it is
//! attached*, so a process that merely attached unlinks it at exit, under its creator's feet.
//! Here only the creator registers. The tracker is this executable started once per process
//! (on the first named segment) with `MULTIPROC_TRACKER_FD`: it reads [`Track`] messages (in
//! the crate's frames, `wire/frame.rs`) from a pipe, and when the pipe reaches end of file, because every process holding
//! its write end has exited (or been killed), it unlinks what is still registered. It has no
//! parent-death signal: it must outlive its creator to clean up after it.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufReader;
use std::os::fd::OwnedFd;

use serde::{Deserialize, Serialize};

use crate::sync::{Mutex, RawLock};
use crate::sys::process as sp;
use crate::wire::frame;

/// What a process tells its tracker.
#[derive(Debug, Serialize, Deserialize)]
enum Track {
    /// Unlink this segment when I end.
    Register(String),
    /// It was unlinked: forget it.
    Unregister(String),
}

/// The largest message the tracker reads (a segment name is at most 255 bytes).
const MAX_MESSAGE: u64 = 4096;

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

fn send(message: &Track) {
    let mut g = tracker();
    if g.is_none() {
        *g = start().ok();
    }
    if let (Some(w), Ok(body)) = (g.as_mut(), postcard::to_stdvec(message)) {
        // One write of at most a page: atomic on a pipe.
        let _ = frame::write(w, &body);
    }
}

/// The creator of `name` asks for it to be unlinked when the creator ends.
pub(crate) fn register(name: &str) {
    send(&Track::Register(name.to_owned()));
}

/// `name` was unlinked: nothing to do for it at the end.
pub(crate) fn unregister(name: &str) {
    if tracker().is_some() {
        send(&Track::Unregister(name.to_owned()));
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
    let mut pipe = BufReader::new(File::from(fd));
    // Until every writer is gone (end of stream) or the stream is garbage.
    while let Ok(body) = frame::read(&mut pipe, MAX_MESSAGE) {
        match postcard::from_bytes(&body) {
            Ok(Track::Register(name)) => {
                names.insert(name);
            }
            Ok(Track::Unregister(name)) => {
                names.remove(&name);
            }
            Err(_) => {}
        }
    }
    for name in names {
        let _ = crate::sys::shm::unlink_named(&name);
    }
    sp::exit_now(0)
}
