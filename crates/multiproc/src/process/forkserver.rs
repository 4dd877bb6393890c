//! The forkserver: a single-threaded process, started on first use with the `Spawn` machinery,
//! that forks children on request (≈ CPython's `forkserver.py`).
//!
//! Protocol, in the crate's frames (`wire/frame.rs`) with postcard bodies. The parent holds a
//! `SOCK_SEQPACKET` control socket to the server. To start a child it makes two socket pairs,
//! the *results* pair (the child reads its `Start` frame and writes its `Outcome` there,
//! exactly as a spawned child does) and the *status* pair, and sends a [`Request::Fork`]
//! frame with the child's results end and the server's status end attached. The server forks;
//! the child runs [`bootstrap::run_spawned`]; the server answers [`Status::Started`] on the
//! status socket with the child's pid *and a pidfd for it* attached (opened by the server
//! while the child cannot yet have been reaped, so the parent holds the child's identity, not
//! a pid that may have been reused), later [`Status::Exited`] with its exit code, and closes
//! it. Forked children die with the server, and the server dies with the parent (parent-death
//! signals both ways), and exits when the control socket closes.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::bootstrap;
use crate::sync::{Mutex, RawLock};
use crate::sys::{self, fdpass, process as sp};
use crate::wire::frame;

/// What the parent asks of the server (one variant today; a preload request, as CPython's
/// `set_forkserver_preload`, would be another).
#[derive(Debug, Serialize, Deserialize)]
enum Request {
    /// Fork a child; attached: the child's results end, the server's status end.
    Fork,
}

/// What the server reports on a child's status socket.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Status {
    /// Forked; attached: a pidfd for it (none if the kernel refused one).
    Started { pid: u32 },
    /// Reaped, with its exit code (a negative signal number if killed).
    Exited { code: i32 },
}

/// The largest frame either side accepts.
const MAX_MESSAGE: u64 = 256;

fn body<T: Serialize>(v: &T) -> Vec<u8> {
    postcard::to_stdvec(v).expect("a small enum encodes")
}

/// A whole frame in a buffer: a seqpacket message must go out in one `sendmsg`.
fn framed<T: Serialize>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    frame::write(&mut out, &body(v)).expect("writing to a Vec");
    out
}

/// Reads one [`Status`] from a status socket, with the fds that came with it. `None` at end
/// of stream (the server died).
pub(crate) fn read_status(status: &UnixStream) -> io::Result<Option<(Status, Vec<OwnedFd>)>> {
    match frame::read_with_fds(&mut &*status, MAX_MESSAGE) {
        Ok((body, fds)) => Ok(Some((
            postcard::from_bytes(&body)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?,
            fds,
        ))),
        Err(frame::FrameError::Eof) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

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

/// A started forkserver child: pid, its pidfd (sent by the server), the status socket (its
/// sentinel), the results socket.
pub(crate) struct Started {
    pub pid: u32,
    pub pidfd: Option<OwnedFd>,
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
                &framed(&Request::Fork),
                &[child_results.as_fd(), server_status.as_fd()],
            ) {
                Ok(_) => break,
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
    if !sp::wait_readable(
        status.as_fd(),
        crate::sync::deadline(Duration::from_secs(30)),
    )? {
        return Err(
            io::Error::new(io::ErrorKind::TimedOut, "the forkserver did not answer").into(),
        );
    }
    match read_status(&status)? {
        Some((Status::Started { pid }, mut fds)) => Ok(Started {
            pid,
            pidfd: fds.pop(),
            status,
            results,
        }),
        _ => Err(io::Error::new(io::ErrorKind::InvalidData, "the forkserver did not fork").into()),
    }
}

/// The server's pid, if one is running (for tests and diagnostics).
pub fn forkserver_pid() -> Option<u32> {
    server().as_ref().map(|s| s.pid)
}

struct Kid {
    pidfd: OwnedFd,
    status: UnixStream,
}

/// A child forked ahead of the next request: it waits on `hand` for the results socket of the
/// request it will serve. Forking is the slow part of a start (the kernel copies the
/// server's page tables); with a spare ready the parent's answer does not wait for it, and
/// the next spare is forked while the child just handed over runs.
struct Spare {
    pid: u32,
    pidfd: OwnedFd,
    hand: UnixStream,
}

/// Forks a [`Spare`]; `None` if the system refuses (then a request is answered by a fresh
/// fork, or fails).
fn fork_spare(me: u32, control: &OwnedFd, kids: &[Kid]) -> Option<Spare> {
    let (hand, theirs) = UnixStream::pair().ok()?;
    // SAFETY: this process is single-threaded (the server runs in the constructor, before
    // main, and never starts a thread), so the child is a complete copy.
    match unsafe { sp::fork() } {
        Ok(None) => {
            sp::die_with_parent(me);
            // The server's other fds are not the child's business.
            // SAFETY: closing fds this (new) process owns and will not use again.
            unsafe {
                sys::io::close_inherited(control.as_raw_fd());
                sys::io::close_inherited(hand.as_raw_fd());
                for k in kids {
                    sys::io::close_inherited(k.pidfd.as_raw_fd());
                    sys::io::close_inherited(k.status.as_raw_fd());
                }
            }
            std::mem::forget(hand);
            // While idle, what the child would otherwise do on the clock.
            bootstrap::prepare_spare();
            let results = match fdpass::recv_fds(&theirs, &mut [0u8; 1]) {
                Ok((1, mut fds)) if fds.len() == 1 => UnixStream::from(fds.pop().expect("one")),
                // The server let this spare go (or died): nothing to run.
                _ => sp::exit_now(0),
            };
            drop(theirs);
            bootstrap::run_spawned(results)
        }
        Ok(Some(pid)) => {
            drop(theirs);
            // Not yet reaped (only this process can), so the pidfd is the child's.
            match sp::pidfd_open(pid) {
                Ok(pidfd) => Some(Spare { pid, pidfd, hand }),
                Err(_) => {
                    // Without a pidfd it cannot be watched: let it go, and reap it.
                    drop(hand);
                    let _ = sp::waitpid(pid);
                    None
                }
            }
        }
        Err(_) => None,
    }
}

/// The server loop; never returns.
pub(crate) fn serve(control: OwnedFd) -> ! {
    let mut kids: Vec<Kid> = Vec::new();
    let me = sys::pid();
    // What every child would otherwise work out for itself (reading `/proc/self/maps`), done
    // once here and inherited through `fork`.
    bootstrap::prepare_for_children();
    let mut spare = fork_spare(me, &control, &kids);
    loop {
        // Polled: the control socket, each child, then the idle spare.
        let ready = {
            let mut fds: Vec<BorrowedFd<'_>> = vec![control.as_fd()];
            fds.extend(kids.iter().map(|k| k.pidfd.as_fd()));
            fds.extend(spare.iter().map(|s| s.pidfd.as_fd()));
            match sp::poll_any(&fds, None) {
                Ok(r) => r,
                Err(_) => sp::exit_now(1),
            }
        };
        if spare.is_some() && ready.contains(&(kids.len() + 1)) {
            // The idle spare died (killed?): reap it; the next request forks another.
            if let Some(s) = spare.take() {
                let _ = sp::try_reap(s.pidfd.as_fd());
            }
        }
        // Children that exited: report and forget them (highest index first).
        let polled_kids = kids.len();
        for &i in ready.iter().rev().filter(|&&i| i > 0 && i <= polled_kids) {
            let kid = kids.swap_remove(i - 1);
            if let Ok(Some(code)) = sp::try_reap(kid.pidfd.as_fd()) {
                let _ =
                    frame::write_with_fds(&mut &kid.status, &body(&Status::Exited { code }), &[]);
            } else {
                kids.push(kid);
            }
        }
        if ready.first() == Some(&0) {
            // A seqpacket message arrives whole: one frame.
            let mut buf = [0u8; MAX_MESSAGE as usize];
            let (n, mut fds) = match fdpass::recv_fds(&control, &mut buf) {
                Ok(r) => r,
                Err(_) => sp::exit_now(1),
            };
            if n == 0 {
                // The parent is gone.
                sp::exit_now(0);
            }
            let request = frame::take(&mut buf[..n].to_vec(), MAX_MESSAGE)
                .ok()
                .flatten()
                .and_then(|body| postcard::from_bytes::<Request>(&body).ok());
            if !matches!(request, Some(Request::Fork)) || fds.len() != 2 {
                continue; // malformed request: ignore it
            }
            let status = UnixStream::from(fds.pop().expect("two fds"));
            let results = UnixStream::from(fds.pop().expect("two fds"));
            // The spare, or (if it died, or there is none) a fresh one, once.
            let mut child = None;
            for _ in 0..2 {
                let Some(s) = spare.take().or_else(|| fork_spare(me, &control, &kids)) else {
                    break;
                };
                if fdpass::send_fds(&s.hand, b"R", &[results.as_fd()]).is_ok() {
                    child = Some(s);
                    break;
                }
                // Its end is closed, so it is dead or dying: reap it.
                let _ = sp::waitpid(s.pid);
            }
            drop(results);
            // No child: dropping `status` unanswered tells the parent.
            if let Some(Spare { pid, pidfd, hand }) = child {
                drop(hand);
                let _ = frame::write_with_fds(
                    &mut &status,
                    &body(&Status::Started { pid }),
                    &[pidfd.as_fd()],
                );
                kids.push(Kid { pidfd, status });
            }
            // The next one, while this child runs.
            if spare.is_none() {
                spare = fork_spare(me, &control, &kids);
            }
        }
    }
}
