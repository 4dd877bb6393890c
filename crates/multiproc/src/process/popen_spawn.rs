//! The `Spawn` start method (≈ CPython's `popen_spawn_posix.py`): a fresh run of this
//! executable, which finds its target by offset and its arguments in the `Start` frame.

use std::os::unix::net::UnixStream;

use super::popen::{Child, ExitWatch, Launch, Popen, Spec, send_start};
use super::{bootstrap, launcher};
use crate::error::ProcessError;
use crate::start_method::StartMethod;
use crate::sys::process as sp;

/// See the [module docs](self).
pub(crate) struct Spawn;

impl Popen for Spawn {
    fn popen(&self, spec: Spec, launch: Launch) -> Result<Child, ProcessError> {
        let (start, fds) = launch.into_start(&spec, StartMethod::Spawn)?;
        let (mut results, child_end) = UnixStream::pair()?;
        let pid = launcher::spawn_self(bootstrap::ENV_CHILD, child_end.into(), true)?;
        let pidfd = sp::pidfd_open(pid)?;
        send_start(&mut results, start, fds)?;
        Ok(Child::new(
            pid,
            spec.name,
            spec.daemon,
            ExitWatch::PidFd(pidfd),
            results,
        )?)
    }
}
