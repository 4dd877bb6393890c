//! Shared memory segments: an anonymous memfd, sized with `fallocate` (so running out of
//! memory is an error now, not a SIGBUS later), mapped `MAP_SHARED`. Nothing is named, so a
//! crash leaves nothing behind in `/dev/shm`; the segment lives while a process maps it or
//! holds its fd.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;

use rustix::fs::{FallocateFlags, MemfdFlags};
use rustix::mm::{MapFlags, ProtFlags};

/// One mapped segment. Unmapped on drop.
#[derive(Debug)]
pub(crate) struct Segment {
    fd: OwnedFd,
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain shared memory; `Segment` only hands out its address, and the
// types placed there (atomics, `UnsafeCell`s behind locks) do their own synchronisation.
unsafe impl Send for Segment {}
// SAFETY: as above.
unsafe impl Sync for Segment {}

impl Segment {
    /// A new zero-filled segment of at least `len` bytes.
    pub(crate) fn create(len: usize) -> io::Result<Segment> {
        let len = len.max(1);
        let fd = rustix::fs::memfd_create("multiproc", MemfdFlags::CLOEXEC)?;
        rustix::fs::ftruncate(&fd, len as u64)?;
        if let Err(e) = rustix::fs::fallocate(&fd, FallocateFlags::empty(), 0, len as u64) {
            // Filesystems without fallocate still work; the size is already set.
            if e != rustix::io::Errno::OPNOTSUPP {
                return Err(e.into());
            }
        }
        Segment::map(fd)
    }

    /// Maps a segment received from another process.
    pub(crate) fn map(fd: OwnedFd) -> io::Result<Segment> {
        let len = rustix::fs::fstat(&fd)?.st_size as usize;
        if len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "empty shared memory segment",
            ));
        }
        // SAFETY: a fresh mapping chosen by the kernel (null hint), of the fd's whole size;
        // nothing else refers to that address range yet.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                &fd,
                0,
            )?
        };
        let ptr =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Segment { fd, ptr, len })
    }

    pub(crate) fn ptr(&self) -> NonNull<u8> {
        self.ptr
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly the mapping made in `map`, and every reference into
        // it is tied to a borrow of this segment (through an `Arc`), so none outlives it.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}
