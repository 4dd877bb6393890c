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
