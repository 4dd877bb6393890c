//! The `Forkserver` start method (≈ CPython's `popen_forkserver.py`): the forkserver (see
//! `forkserver.rs`) forks the child, which then runs like a spawned one.

use super::forkserver;
use super::popen::{Child, ExitWatch, Launch, Popen, Spec, send_start};
use crate::error::ProcessError;
use crate::start_method::StartMethod;

/// See the [module docs](self).
pub(crate) struct Forkserver;

impl Popen for Forkserver {
    fn popen(&self, spec: Spec, launch: Launch) -> Result<Child, ProcessError> {
        let (start, fds) = launch.into_start(&spec, StartMethod::Forkserver)?;
        let started = forkserver::start_child(|results| send_start(results, start, fds))?;
        Ok(Child::new(
            started.pid,
            spec.name,
            spec.daemon,
            ExitWatch::Forkserver {
                status: started.status,
                pidfd: started.pidfd,
            },
            started.results,
        )?)
    }
}
