//! The child entry (≈ CPython's `spawn.spawn_main` / `forkserver.main` dispatch): which role
//! a fresh run of this executable takes, decided before `main`.
//!
//! A constructor ([`ctor`]) in this library runs in every process before `main`. In a process
//! started by the `Spawn` method it finds `MULTIPROC_CHILD_FD` in the environment, reads the
//! `Start` frame from that socket, runs the target, sends the `Outcome`, and exits — `main`
//! never runs. In a forkserver process it finds `MULTIPROC_FORKSERVER_FD` and serves forever;
//! in a segment tracker, `MULTIPROC_TRACKER_FD`. Users write no set-up line, and the same
//! works in binaries, examples, `cargo test` and `cargo nextest` (the test harness's `main`
//! is skipped just like the user's). Why a constructor and not procspawn's `init()` call:
//! `init()` must come first in `main`, and any code before it runs again in every child; a
//! constructor runs before all of it.

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};

use super::bootstrap::run_spawned;
use crate::shared::ENV_TRACKER;

/// A spawned child's results socket.
pub(crate) const ENV_CHILD: &str = "MULTIPROC_CHILD_FD";
/// A forkserver's control socket.
pub(crate) const ENV_FORKSERVER: &str = "MULTIPROC_FORKSERVER_FD";

// after-fork: kept (the same executable in the child)
static LINKED: AtomicBool = AtomicBool::new(false);

#[ctor::ctor]
fn multiproc_child_entry() {
    LINKED.store(true, Ordering::Relaxed);
    // The after-fork registry's `pthread_atfork` hooks, installed while this process has one
    // thread: installed lazily, another thread's first use could be mid-install when some
    // thread forks, and the child would wait forever on the half-run `Once`. Then the handler
    // that settles every other one-time set-up before each fork.
    crate::sys::at_fork::install();
    super::bootstrap::settle_every_fork();
    if let Some(fd) = take_fd_var(ENV_CHILD) {
        // SAFETY: the parent put this fd number in our environment for us alone; we are the
        // only owner of it in this process.
        let stream = UnixStream::from(unsafe { OwnedFd::from_raw_fd(fd) });
        run_spawned(stream);
    }
    if let Some(fd) = take_fd_var(ENV_TRACKER) {
        // SAFETY: as above, for the segment tracker's pipe.
        let pipe = unsafe { OwnedFd::from_raw_fd(fd) };
        crate::shared::serve_tracker(pipe);
    }
    if let Some(fd) = take_fd_var(ENV_FORKSERVER) {
        // SAFETY: as above, for the forkserver's listening socket.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };
        super::forkserver::serve(socket);
    }
}

/// Reads and removes an fd-number variable, so the child's own children do not see it.
fn take_fd_var(name: &str) -> Option<i32> {
    let value = std::env::var_os(name)?;
    // SAFETY: this runs in the constructor, before `main` and before any thread of ours
    // exists, so nothing reads the environment concurrently.
    unsafe { std::env::remove_var(name) };
    value.to_str()?.parse().ok()
}

/// Whether the child entry is linked into this executable (it ran here, before `main`).
pub(crate) fn child_entry_linked() -> bool {
    LINKED.load(Ordering::Relaxed)
}
