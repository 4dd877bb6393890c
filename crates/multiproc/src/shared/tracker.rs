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

static TRACKER: Mutex<Option<File>> = Mutex::const_new(RawLock::new(), None);

fn send(line: &str) {
    let mut g = TRACKER.lock();
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
    if TRACKER.lock().is_some() {
        send(&format!("U {name}\n"));
    }
}

fn start() -> std::io::Result<File> {
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    // No parent-death signal: the tracker must outlive its creator to clean up after it.
    crate::process::spawn_self(crate::process::ENV_TRACKER, r, false)?;
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
        let _ = rustix::shm::unlink(format!("/{name}").as_str());
    }
    sp::exit_now(0)
}
