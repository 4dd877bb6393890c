//! Process-level system calls: fork, `_exit`, parent-death signal, pidfds, waiting, polling.
//!
//! Hand-written rather than std's `Command` for the parts std does not do: a plain `fork()`
//! that runs Rust code in the child (the `Fork` start method and the forkserver), the
//! parent-death signal with the `getppid` race closed, and reaping through a pidfd with a
//! deadline.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Instant;

use rustix::event::{PollFd, PollFlags, poll};
use rustix::process::{Pid, PidfdFlags, Signal, WaitId, WaitIdOptions};

/// How a process ended, in Python's `exitcode` convention: `>= 0` the exit status, `-N` death
/// by signal N.
pub(crate) type ExitCode = i32;

/// `fork()`. Returns `Ok(None)` in the child and `Ok(Some(pid))` in the parent.
///
/// # Safety
/// In a multi-threaded parent only the calling thread exists in the child; locks other threads
/// held stay held there. The caller must only do what is safe in that state.
pub(crate) unsafe fn fork() -> io::Result<Option<u32>> {
    // SAFETY: the caller accepts fork's rules (see above); fork itself has no preconditions.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(None),
        pid => Ok(Some(pid as u32)),
    }
}

/// Ends the calling process at once with `code`: no atexit handlers, no destructors (they
/// belong to the parent whose memory a forked child copied).
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` is always safe to call; it never returns.
    unsafe { libc::_exit(code) }
}

/// In a new child: die with SIGKILL when the parent does, and if the parent is already gone
/// (it died between fork and this call), exit now.
pub(crate) fn die_with_parent(parent: u32) {
    let _ = rustix::process::set_parent_process_death_signal(Some(Signal::KILL));
    let ppid = rustix::process::getppid().map(|p| p.as_raw_nonzero().get() as u32);
    if ppid != Some(parent) {
        exit_now(70);
    }
}

fn pid(p: u32) -> io::Result<Pid> {
    Pid::from_raw(p as i32).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "pid 0"))
}

/// A pidfd for `pid` (readable once the process has exited).
pub(crate) fn pidfd_open(p: u32) -> io::Result<OwnedFd> {
    Ok(rustix::process::pidfd_open(pid(p)?, PidfdFlags::empty())?)
}

/// Sends `sig` through a pidfd (no pid-reuse race).
pub(crate) fn pidfd_signal(fd: BorrowedFd<'_>, sig: i32) -> io::Result<()> {
    let sig = Signal::from_named_raw(sig)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "unknown signal"))?;
    Ok(rustix::process::pidfd_send_signal(fd, sig)?)
}

/// Reaps the child behind `fd` if it has exited; `None` while it runs.
pub(crate) fn try_reap(fd: BorrowedFd<'_>) -> io::Result<Option<ExitCode>> {
    let status = rustix::process::waitid(
        WaitId::PidFd(fd),
        WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
    )?;
    Ok(status.and_then(|s| {
        if let Some(code) = s.exit_status() {
            Some(code)
        } else {
            s.terminating_signal().map(|sig| -sig)
        }
    }))
}

/// Waits until `fd` is readable or `deadline` passes; `false` on timeout.
pub(crate) fn wait_readable(fd: BorrowedFd<'_>, deadline: Option<Instant>) -> io::Result<bool> {
    Ok(!poll_any(&[fd], deadline)?.is_empty())
}

/// Polls `fds` for readability (or hang-up); returns the indices that are ready, empty on
/// timeout.
pub(crate) fn poll_any(
    fds: &[BorrowedFd<'_>],
    deadline: Option<Instant>,
) -> io::Result<Vec<usize>> {
    loop {
        let timeout = match deadline {
            None => None,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                Some(rustix::time::Timespec {
                    tv_sec: left.as_secs().min(i64::MAX as u64) as i64,
                    tv_nsec: left.subsec_nanos().into(),
                })
            }
        };
        let mut pfds: Vec<PollFd<'_>> = fds.iter().map(|f| PollFd::new(f, PollFlags::IN)).collect();
        match poll(&mut pfds, timeout.as_ref()) {
            Ok(0) => return Ok(Vec::new()),
            Ok(_) => {
                return Ok(pfds
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| !p.revents().is_empty())
                    .map(|(i, _)| i)
                    .collect());
            }
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Clears `FD_CLOEXEC` so the fd survives `exec` (for the bootstrap socket).
pub(crate) fn inherit_across_exec(fd: impl AsFd) -> io::Result<()> {
    let flags = rustix::io::fcntl_getfd(&fd)?;
    rustix::io::fcntl_setfd(&fd, flags - rustix::io::FdFlags::CLOEXEC)?;
    Ok(())
}

/// The raw number of an fd (for the environment marker).
pub(crate) fn raw(fd: impl AsFd) -> i32 {
    fd.as_fd().as_raw_fd()
}

/// CPUs this process may run on (`os.process_cpu_count()`), at least 1.
pub(crate) fn cpu_count() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// The CPUs the calling thread may run on (`sched_getaffinity(0)`), in ascending order.
pub(crate) fn affinity() -> io::Result<Vec<usize>> {
    let set = rustix::thread::sched_getaffinity(None)?;
    Ok((0..rustix::thread::CpuSet::MAX_CPU)
        .filter(|&c| set.is_set(c))
        .collect())
}

/// Lets the calling thread run only on `cpus` (`sched_setaffinity(0, cpus)`); threads and
/// processes it starts afterwards inherit the set. An empty set, a CPU number past the
/// kernel's limit, or only CPUs this process may not use is `InvalidInput`.
pub(crate) fn set_affinity(cpus: &[usize]) -> io::Result<()> {
    let mut set = rustix::thread::CpuSet::new();
    for &c in cpus {
        if c >= rustix::thread::CpuSet::MAX_CPU {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "CPU {c} is past the limit of {}",
                    rustix::thread::CpuSet::MAX_CPU
                ),
            ));
        }
        set.set(c);
    }
    if cpus.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "no CPU given"));
    }
    rustix::thread::sched_setaffinity(None, &set).map_err(|e| match e {
        rustix::io::Errno::INVAL => io::Error::new(
            io::ErrorKind::InvalidInput,
            "none of these CPUs is allowed to this process",
        ),
        e => e.into(),
    })
}

/// `SIGTERM`, for `terminate()`.
pub(crate) const SIGTERM: i32 = libc::SIGTERM;
/// `SIGKILL`, for `kill()`.
pub(crate) const SIGKILL: i32 = libc::SIGKILL;

/// Sends `sig` to `pid` (for children without a pidfd). A process already gone is not an
/// error: there is nothing left to signal.
pub(crate) fn kill(p: u32, sig: i32) -> io::Result<()> {
    let sig = Signal::from_named_raw(sig)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "unknown signal"))?;
    match rustix::process::kill_process(pid(p)?, sig) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Whether an error from signalling means the process is already gone.
pub(crate) fn is_gone(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ESRCH)
}

/// Runs `f` when the process exits normally (C's `atexit`, which Rust's `main` returning
/// triggers through `exit`).
pub(crate) fn at_exit(f: extern "C" fn()) {
    // SAFETY: registering a plain `extern "C"` function with no captured state.
    unsafe { libc::atexit(f) };
}

/// `waitpid(pid, 0)`, retried on `EINTR`: the exit code in `multiprocessing`'s convention.
pub(crate) fn waitpid(p: u32) -> io::Result<ExitCode> {
    let p = pid(p)?;
    loop {
        match rustix::process::waitpid(Some(p), rustix::process::WaitOptions::empty()) {
            Ok(Some((_, status))) => match (status.exit_status(), status.terminating_signal()) {
                (Some(code), _) => return Ok(code),
                (None, Some(sig)) => return Ok(-sig),
                _ => continue,
            },
            Ok(None) => continue,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// A pair of connected `SOCK_SEQPACKET` Unix sockets (message boundaries kept), close-on-exec.
pub(crate) fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair};
    Ok(socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

/// Starts this executable again (`/proc/self/exe`, the same argv\[0\], no arguments: the child
/// entry takes over before `main`) with `fd` inherited and its number in the environment
/// variable `env`. With `die_with_parent = Some(parent)`, the new process gets a parent-death
/// signal tied to the calling *thread* (see `process::launcher` for why that matters).
/// Returns the new pid; nothing waits for it here.
pub(crate) fn exec_self(
    env: &'static str,
    fd: OwnedFd,
    die_with_parent: Option<u32>,
) -> io::Result<u32> {
    use std::os::unix::process::CommandExt;
    let raw_fd = raw(&fd);
    let mut cmd = std::process::Command::new("/proc/self/exe");
    if let Some(arg0) = std::env::args_os().next() {
        cmd.arg0(arg0);
    }
    cmd.env(env, raw_fd.to_string());
    // SAFETY: runs between fork and exec and only makes async-signal-safe calls (prctl,
    // getppid, fcntl, _exit); `raw_fd` is open in the child (fork copied it).
    unsafe {
        cmd.pre_exec(move || {
            if let Some(parent) = die_with_parent {
                crate::sys::process::die_with_parent(parent);
            }
            inherit_across_exec(BorrowedFd::borrow_raw(raw_fd))
        });
    }
    let child = cmd.spawn()?;
    drop(fd);
    Ok(child.id())
}

/// Set by the `SIGTERM` handler [`on_sigterm`] installs.
// after-fork: kept (a child that inherits the handler inherits the request too)
pub(crate) static TERM_REQUESTED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

extern "C" fn note_sigterm(_: libc::c_int) {
    TERM_REQUESTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Makes `SIGTERM` set [`TERM_REQUESTED`] instead of ending the process (a remote worker's
/// graceful shutdown: it finishes what it runs, claims nothing new, and exits).
pub(crate) fn on_sigterm() -> io::Result<()> {
    // SAFETY: `sigaction` with a zeroed struct, `SA_RESTART`, and a handler that only
    // stores to an atomic (async-signal-safe); no other handler state is touched.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = note_sigterm as extern "C" fn(libc::c_int) as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(libc::SIGTERM, &sa, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
