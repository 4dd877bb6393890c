//! Small fd-level calls the rest of the crate needs, one wrapper each: pipes, eventfds,
//! identities of open files, raw writes to stderr, random bytes, closing an inherited fd.
//!
//! Why hand-written: each is a line over rustix; they live here so that no module above
//! `sys/` makes a system call itself.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};

/// A pipe, both ends close-on-exec: `(read, write)`.
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?)
}

/// A close-on-exec eventfd starting at 0.
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    Ok(rustix::event::eventfd(
        0,
        rustix::event::EventfdFlags::CLOEXEC,
    )?)
}

/// Adds 1 to an eventfd (wakes its pollers).
pub(crate) fn eventfd_signal(fd: impl AsFd) {
    let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
}

/// Reads and resets an eventfd's counter (call once `poll` said it is readable).
pub(crate) fn eventfd_read(fd: impl AsFd) {
    let mut buf = [0u8; 8];
    let _ = rustix::io::read(fd, &mut buf);
}

/// Blocks until one of `fds` is readable (or hung up, in error, or closed): the indices that
/// are. For a waker thread that holds descriptors by number (their owners keep them open
/// while registered; one closed meanwhile shows as ready, `POLLNVAL`, not as misuse).
pub(crate) fn poll_raw(fds: &[RawFd]) -> io::Result<Vec<usize>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `pfds` is an initialised array of `pfds.len()` pollfd structs that outlives
    // the call; poll only writes their `revents`. Descriptor numbers are only looked at.
    let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, -1) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(pfds
        .iter()
        .enumerate()
        .filter(|(_, p)| p.revents != 0)
        .map(|(i, _)| i)
        .collect())
}

/// The (device, inode) pair naming the open file behind `fd`.
pub(crate) fn file_key(fd: BorrowedFd<'_>) -> io::Result<(u64, u64)> {
    let st = rustix::fs::fstat(fd)?;
    Ok((st.st_dev, st.st_ino))
}

/// Writes `bytes` to stderr with one `write`, bypassing std's stderr lock (which, in a forked
/// child, another thread of the parent may have held at the fork).
pub(crate) fn write_stderr(bytes: &[u8]) {
    let _ = rustix::io::write(rustix::stdio::stderr(), bytes);
}

/// Fills `buf` with random bytes from the kernel.
pub(crate) fn random(buf: &mut [u8]) -> io::Result<()> {
    rustix::rand::getrandom(buf, rustix::rand::GetRandomFlags::empty())?;
    Ok(())
}

/// Closes fd number `fd`, which this process inherited but does not own as an `OwnedFd`
/// here (a forked child closing its copies of the parent's descriptors).
///
/// # Safety
/// Nothing in this process may use `fd` afterwards (no `OwnedFd` of it is dropped later).
pub(crate) unsafe fn close_inherited(fd: RawFd) {
    // SAFETY: the caller promises `fd` is not used again; `close` itself has no other
    // precondition.
    unsafe { libc::close(fd) };
}

/// Whether the peer of socket `fd` has hung up (closed, or shut down its sending side), looked
/// at without waiting. Only a definite answer says so: a failed `poll` means "still there".
pub(crate) fn peer_hung_up(fd: BorrowedFd<'_>) -> bool {
    use rustix::event::{PollFd, PollFlags, poll};
    let mut fds = [PollFd::new(&fd, PollFlags::RDHUP)];
    match poll(&mut fds, Some(&rustix::time::Timespec::default())) {
        Ok(n) if n > 0 => fds[0]
            .revents()
            .intersects(PollFlags::HUP | PollFlags::RDHUP | PollFlags::ERR),
        _ => false,
    }
}
