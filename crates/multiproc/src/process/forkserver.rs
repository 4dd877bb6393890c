//! The forkserver: a single-threaded process, started on first use with the `Spawn` machinery,
//! that forks children on request (≈ CPython's `forkserver.py`).
//!
//! Protocol. The parent holds a `SOCK_SEQPACKET` control socket to the server. To start a
//! child it makes two socket pairs, the *results* pair (the child reads its `Start` frame and
//! writes its `Outcome` there, exactly as a spawned child does) and the *status* pair, and
//! sends the child's results end and the server's status end in one message. The server
//! forks; the child runs [`bootstrap::run_spawned`]; the server writes the child's pid (i32 LE)
//! on the status socket, later its exit code, and closes it. Forked children die with the
//! server, and the server dies with the parent (parent-death signals both ways), and exits
//! when the control socket closes.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::bootstrap;
use crate::sync::{Mutex, RawLock};
use crate::sys::{self, fdpass, process as sp};

struct Server {
    control: OwnedFd,
    pid: u32,
}

// after-fork: reset by process::forkserver
static SERVER: Mutex<Option<Server>> = Mutex::const_new(RawLock::new(), None);

// after-fork: kept (the handler itself)
static AT_FORK: sys::at_fork::Handler =
    sys::at_fork::Handler::child("process::forkserver", after_fork_in_child);

/// In a forked child: the control socket is the parent's conversation with its server (two
/// processes writing requests on it would interleave). The child closes its copy and starts
/// its own server when it first needs one.
fn after_fork_in_child() {
    use crate::sync::ResetAfterFork;
    SERVER.force_unlock_after_fork();
    drop(SERVER.lock().take());
}

fn server() -> crate::sync::MutexGuard<'static, Option<Server>> {
    AT_FORK.register();
    SERVER.lock()
}

/// A started forkserver child: pid, the status socket (its sentinel), the results socket.
pub(crate) struct Started {
    pub pid: u32,
    pub status: UnixStream,
    pub results: UnixStream,
}

fn start_server() -> io::Result<Server> {
    let (ours, theirs) = sp::seqpacket_pair()?;
    let pid = super::launcher::spawn_self(super::entry::ENV_FORKSERVER, theirs, true)?;
    Ok(Server { control: ours, pid })
}

/// Asks the forkserver (starting it if needed) for a new child. `prime` writes the child's
/// `Start` frame into the results socket first, so the child finds it waiting when it runs.
pub(crate) fn start_child(
    prime: impl FnOnce(&mut UnixStream) -> Result<(), super::super::ProcessError>,
) -> Result<Started, super::super::ProcessError> {
    let (mut results, child_results) = UnixStream::pair()?;
    prime(&mut results)?;
    let (status, server_status) = UnixStream::pair()?;
    {
        let mut g = server();
        let mut attempt = 0;
        loop {
            if g.is_none() {
                *g = Some(start_server()?);
            }
            let server = g.as_ref().expect("just set");
            match fdpass::send_fds(
                &server.control,
                b"F",
                &[child_results.as_fd(), server_status.as_fd()],
            ) {
                Ok(()) => break,
                // The server died (killed?): start a new one, once.
                Err(e) if attempt == 0 => {
                    let _ = e;
                    *g = None;
                    attempt += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    drop((child_results, server_status));
    let mut pid = [0u8; 4];
    if !sp::wait_readable(
        status.as_fd(),
        crate::sync::deadline(Duration::from_secs(30)),
    )? {
        return Err(
            io::Error::new(io::ErrorKind::TimedOut, "the forkserver did not answer").into(),
        );
    }
    (&status).read_exact(&mut pid)?;
    status.set_nonblocking(true)?;
    Ok(Started {
        pid: i32::from_le_bytes(pid) as u32,
        status,
        results,
    })
}

/// The server's pid, if one is running (for tests and diagnostics).
pub fn forkserver_pid() -> Option<u32> {
    server().as_ref().map(|s| s.pid)
}

struct Kid {
    pidfd: OwnedFd,
    status: UnixStream,
}

/// The server loop; never returns.
pub(crate) fn serve(control: OwnedFd) -> ! {
    let mut kids: Vec<Kid> = Vec::new();
    let me = sys::pid();
    loop {
        let ready = {
            let mut fds: Vec<BorrowedFd<'_>> = vec![control.as_fd()];
            fds.extend(kids.iter().map(|k| k.pidfd.as_fd()));
            match sp::poll_any(&fds, None) {
                Ok(r) => r,
                Err(_) => sp::exit_now(1),
            }
        };
        // Children that exited: report and forget them (highest index first).
        for &i in ready.iter().rev().filter(|&&i| i > 0) {
            let kid = kids.swap_remove(i - 1);
            if let Ok(Some(code)) = sp::try_reap(kid.pidfd.as_fd()) {
                let _ = (&kid.status).write_all(&code.to_le_bytes());
            } else {
                kids.push(kid);
            }
        }
        if ready.first() == Some(&0) {
            let mut buf = [0u8; 16];
            let (n, mut fds) = match fdpass::recv_fds(&control, &mut buf) {
                Ok(r) => r,
                Err(_) => sp::exit_now(1),
            };
            if n == 0 {
                // The parent is gone.
                sp::exit_now(0);
            }
            if fds.len() != 2 {
                continue; // malformed request: ignore it
            }
            let status = UnixStream::from(fds.pop().expect("two fds"));
            let results = UnixStream::from(fds.pop().expect("two fds"));
            // SAFETY: this process is single-threaded (the server runs in the constructor,
            // before main, and never starts a thread), so the child is a complete copy.
            match unsafe { sp::fork() } {
                Ok(None) => {
                    sp::die_with_parent(me);
                    // The server's other fds are not the child's business.
                    // SAFETY: closing fds this (new) process owns and will not use again.
                    unsafe {
                        sys::io::close_inherited(control.as_raw_fd());
                        sys::io::close_inherited(status.as_raw_fd());
                        for k in &kids {
                            sys::io::close_inherited(k.pidfd.as_raw_fd());
                            sys::io::close_inherited(k.status.as_raw_fd());
                        }
                    }
                    bootstrap::run_spawned(results)
                }
                Ok(Some(pid)) => {
                    drop(results);
                    let _ = (&status).write_all(&(pid as i32).to_le_bytes());
                    match sp::pidfd_open(pid) {
                        Ok(pidfd) => kids.push(Kid { pidfd, status }),
                        Err(_) => drop(status),
                    }
                }
                Err(_) => drop((results, status)),
            }
        }
    }
}
