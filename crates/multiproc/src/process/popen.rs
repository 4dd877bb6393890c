//! A started child, whatever started it (≈ CPython's `Popen` objects): its pid, how to learn
//! that it exited and with what status, and the stream its outcome comes back on.
//!
//! A child of ours (Fork, Spawn) is watched through a pidfd, which becomes readable when it
//! exits and is reaped with `waitid(P_PIDFD)`. A forkserver's child is the server's child, not
//! ours: the server reaps it and writes its status on a per-child status socket, which is
//! that child's sentinel (as in CPython).

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use super::wire::{self, Outcome};
use crate::sys::process::{self as sp, ExitCode};

#[derive(Debug)]
pub(crate) enum ExitWatch {
    /// Our own child: a pidfd.
    PidFd(OwnedFd),
    /// A forkserver child: the server writes the exit status (i32 LE) here. A pidfd is kept
    /// for signals when the kernel gives one.
    Forkserver {
        status: UnixStream,
        pidfd: Option<OwnedFd>,
    },
}

#[derive(Debug)]
struct State {
    results: Option<UnixStream>,
    buf: Vec<u8>,
    outcome: Option<Outcome>,
    exitcode: Option<ExitCode>,
}

/// One started child process.
#[derive(Debug)]
pub(crate) struct Child {
    pub(crate) pid: u32,
    pub(crate) name: String,
    pub(crate) daemon: bool,
    watch: ExitWatch,
    state: Mutex<State>,
}

impl Child {
    pub(crate) fn new(
        pid: u32,
        name: String,
        daemon: bool,
        watch: ExitWatch,
        results: UnixStream,
    ) -> io::Result<Child> {
        results.set_nonblocking(true)?;
        Ok(Child {
            pid,
            name,
            daemon,
            watch,
            state: Mutex::new(State {
                results: Some(results),
                buf: Vec::new(),
                outcome: None,
                exitcode: None,
            }),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The fd that becomes readable when the child has exited (Python's `sentinel`).
    pub(crate) fn sentinel(&self) -> BorrowedFd<'_> {
        match &self.watch {
            ExitWatch::PidFd(fd) => fd.as_fd(),
            ExitWatch::Forkserver { status, .. } => status.as_fd(),
        }
    }

    /// The exit code if the child has exited (reaping it), else `None`. Never blocks.
    pub(crate) fn poll(&self) -> io::Result<Option<ExitCode>> {
        self.wait(Some(Instant::now()))
    }

    /// Waits for the child to exit, collecting its outcome meanwhile; `None` on timeout.
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> io::Result<Option<ExitCode>> {
        let mut st = self.state();
        loop {
            if let Some(code) = st.exitcode {
                return Ok(Some(code));
            }
            // A forkserver child that sent its outcome and closed its stream is ending: its
            // pidfd says when it has exited, and its status follows from the outcome, without
            // waiting for the server's report.
            if let (
                ExitWatch::Forkserver {
                    pidfd: Some(fd), ..
                },
                None,
                Some(outcome),
            ) = (&self.watch, &st.results, &st.outcome)
            {
                if !sp::wait_readable(fd.as_fd(), deadline)? {
                    return Ok(None);
                }
                let code = outcome.exit_code();
                st.exitcode = Some(code);
                return Ok(Some(code));
            }
            let ready = {
                let mut fds = vec![self.sentinel()];
                if let Some(r) = &st.results {
                    fds.push(r.as_fd());
                }
                sp::poll_any(&fds, deadline)?
            };
            if ready.contains(&1) {
                Self::read_results(&mut st)?;
            }
            if ready.contains(&0) {
                if let Some(code) = self.collect_exit()? {
                    Self::read_results(&mut st)?;
                    st.results = None;
                    st.exitcode = Some(code);
                    return Ok(Some(code));
                }
            }
            if ready.is_empty() {
                return Ok(None);
            }
        }
    }

    fn collect_exit(&self) -> io::Result<Option<ExitCode>> {
        match &self.watch {
            ExitWatch::PidFd(fd) => sp::try_reap(fd.as_fd()),
            ExitWatch::Forkserver { status, .. } => {
                let mut code = [0u8; 4];
                match (&*status).read(&mut code) {
                    Ok(4) => Ok(Some(i32::from_le_bytes(code))),
                    // The server died before reporting: the child died with it.
                    Ok(_) => Ok(Some(-9)),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// Reads whatever the child has sent so far, without blocking.
    fn read_results(st: &mut State) -> io::Result<()> {
        let Some(stream) = st.results.as_mut() else {
            return Ok(());
        };
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match stream.read(&mut chunk) {
                // A child that died with our Start frame unread resets the connection: that is
                // its end of stream too.
                Ok(0) => {
                    st.results = None;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    st.results = None;
                    break;
                }
                Ok(n) => st.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        if st.outcome.is_none()
            && let Some(frame) = wire::take_frame(&mut st.buf)?
        {
            st.outcome = Some(
                postcard::from_bytes(&frame)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?,
            );
        }
        Ok(())
    }

    /// The outcome the child sent, once (after it exited).
    pub(crate) fn take_outcome(&self) -> Option<Outcome> {
        self.state().outcome.take()
    }

    /// The exit code, if known (without polling).
    pub(crate) fn exitcode(&self) -> Option<ExitCode> {
        self.state().exitcode
    }

    /// Sends `sig` unless the child is already reaped. Errors from a child that has just
    /// exited are ignored, as Python ignores `ProcessLookupError`.
    pub(crate) fn signal(&self, sig: i32) -> io::Result<()> {
        if self.exitcode().is_some() {
            return Ok(());
        }
        let r = match &self.watch {
            ExitWatch::PidFd(fd) => sp::pidfd_signal(fd.as_fd(), sig),
            ExitWatch::Forkserver {
                pidfd: Some(fd), ..
            } => sp::pidfd_signal(fd.as_fd(), sig),
            ExitWatch::Forkserver { pidfd: None, .. } => sp::kill(self.pid, sig),
        };
        match r {
            Err(e) if sp::is_gone(&e) => Ok(()),
            other => other,
        }
    }
}
