//! Starting a child and watching it, whatever the start method (≈ CPython's `Popen` objects).
//!
//! [`Popen`] is how a start method makes a child from a [`Launch`]: `popen_fork.rs`,
//! `popen_spawn.rs`, `popen_forkserver.rs` (as CPython lays them out). [`Child`] is the
//! started child: its pid, how to learn that it exited and with what status, and the stream
//! its outcome comes back on.
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

use super::wire::{self, Outcome, Start};
use crate::error::ProcessError;
use crate::start_method::StartMethod;
use crate::sys::process::{self as sp, ExitCode};
use crate::wire::frame;

/// What a target turns into once the start method is known.
pub(crate) enum Launch {
    /// Run this in a forked child.
    Run(Box<dyn FnOnce() -> Outcome + Send>),
    /// Send this trampoline and target (offsets) and these encoded arguments (and the fds of
    /// the shared objects among them) to a fresh child.
    Exec {
        offset: i64,
        target: i64,
        args: Vec<u8>,
        fds: Vec<OwnedFd>,
    },
}

/// Who the child is: its `Process` name, whether it is a daemon, and its parent's name.
pub(crate) struct Spec {
    pub name: String,
    pub daemon: bool,
    pub parent_name: String,
}

impl Spec {
    /// The `Start` frame for this child, started by `method`.
    pub(crate) fn start_frame(&self, method: StartMethod) -> Start {
        Start {
            method: super::context::code(method),
            offset: 0,
            target: 0,
            args: Vec::new(),
            name: self.name.clone(),
            daemon: self.daemon,
            parent_pid: crate::sys::pid(),
            parent_name: self.parent_name.clone(),
            authkey: super::current::authkey(),
        }
    }
}

impl Launch {
    /// The `Start` frame of an `Exec` launch for `spec`, started by `method`, and the fds to
    /// send with it. A `Run` launch (a capturing closure) needs `Fork`.
    pub(crate) fn into_start(
        self,
        spec: &Spec,
        method: StartMethod,
    ) -> Result<(Start, Vec<OwnedFd>), ProcessError> {
        match self {
            Launch::Exec {
                offset,
                target,
                args,
                fds,
            } => Ok((
                Start {
                    offset,
                    target,
                    args,
                    ..spec.start_frame(method)
                },
                fds,
            )),
            Launch::Run(_) => Err(ProcessError::NeedsFork(method)),
        }
    }
}

/// One start method's way to make a child.
pub(crate) trait Popen: Sync {
    /// Starts the child described by `spec`, running what `launch` says.
    fn popen(&self, spec: Spec, launch: Launch) -> Result<Child, ProcessError>;
}

/// The [`Popen`] of `method`.
pub(crate) fn for_method(method: StartMethod) -> &'static dyn Popen {
    match method {
        StartMethod::Fork => &super::popen_fork::Fork,
        StartMethod::Spawn => &super::popen_spawn::Spawn,
        StartMethod::Forkserver => &super::popen_forkserver::Forkserver,
    }
}

/// Sends a spawned child its `Start` frame, with the fds of the shared objects in it.
pub(crate) fn send_start(
    results: &mut UnixStream,
    start: Start,
    fds: Vec<OwnedFd>,
) -> Result<(), ProcessError> {
    let bytes = wire::encode(&start).map_err(|e| ProcessError::Encode(e.to_string()))?;
    // A child that died before reading makes this fail; `join` reports how it died.
    let fds: Vec<_> = fds.iter().map(|f| f.as_fd()).collect();
    let _ = frame::write_with_fds(results, &bytes, &fds);
    Ok(())
}

#[derive(Debug)]
pub(crate) enum ExitWatch {
    /// Our own child: a pidfd.
    PidFd(OwnedFd),
    /// A forkserver child: the server reports its exit code here (`forkserver::Status`). The
    /// pidfd the server sent with its pid serves for signals and for seeing the exit early.
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
    /// Terminated first at exit, as a daemon is, though it may have children (a manager's
    /// server, ≈ Python's manager finalizer).
    pub(crate) stop_at_exit: std::sync::atomic::AtomicBool,
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
            stop_at_exit: std::sync::atomic::AtomicBool::new(false),
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
            if ready.contains(&0)
                && let Some(code) = self.collect_exit()?
            {
                Self::read_results(&mut st)?;
                st.results = None;
                st.exitcode = Some(code);
                return Ok(Some(code));
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
                match super::forkserver::read_status(status) {
                    Ok(Some((super::forkserver::Status::Exited { code }, _))) => Ok(Some(code)),
                    Ok(Some(_)) => Ok(None),
                    // The server died before reporting: the child died with it.
                    Ok(None) => Ok(Some(-9)),
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
            && let Some(body) = frame::take(&mut st.buf, frame::MAX_INTERNAL)?
        {
            st.outcome = Some(
                postcard::from_bytes(&body)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?,
            );
            // The outcome is the child's last word: waiting on to see its stream close would
            // cost a wake-up for nothing (the exit watch says when it has gone).
            st.results = None;
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
