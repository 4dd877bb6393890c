//! The `Fork` start method (≈ CPython's `popen_fork.py`): the child is a copy of this
//! process, forked on the launcher thread, and runs the target's closure directly.

use std::os::unix::net::UnixStream;

use super::popen::{Child, ExitWatch, Launch, Popen, Spec};
use super::{bootstrap, current, launcher};
use crate::error::ProcessError;
use crate::start_method::StartMethod;
use crate::sys::{self, process as sp};

/// See the [module docs](self).
pub(crate) struct Fork;

impl Popen for Fork {
    fn popen(&self, spec: Spec, launch: Launch) -> Result<Child, ProcessError> {
        let body = match launch {
            Launch::Run(body) => body,
            // A `Callable` target under Fork is prepared as `Run` too; nothing else reaches here.
            Launch::Exec { .. } => return Err(ProcessError::NeedsFork(StartMethod::Fork)),
        };
        let (results, child_end) = UnixStream::pair()?;
        let parent_pid = sys::pid();
        let parent_end_raw = sp::raw(&results);
        let Spec {
            name,
            daemon,
            parent_name,
        } = spec;
        let child_name = name.clone();
        let pid = launcher::fork(Box::new(move || {
            // SAFETY: the parent's end of the results socket is not this process's business;
            // closing our copy lets the parent see EOF when we exit.
            unsafe { sys::io::close_inherited(parent_end_raw) };
            current::set_child(&child_name, daemon, parent_pid, &parent_name);
            super::context::adopt(StartMethod::Fork);
            bootstrap::report_aborting_panics_to(std::os::fd::AsFd::as_fd(&child_end));
            let outcome = body();
            let mut stream = child_end;
            bootstrap::finish(&mut stream, outcome, false)
        }))?;
        let pidfd = sp::pidfd_open(pid)?;
        Ok(Child::new(
            pid,
            name,
            daemon,
            ExitWatch::PidFd(pidfd),
            results,
        )?)
    }
}
