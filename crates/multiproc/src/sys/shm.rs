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

    /// A new segment of `len` bytes that takes no memory until parts of it are
    /// [`reserve`](Self::reserve)d (a sparse file): for heaps that grow inside a fixed range.
    pub(crate) fn create_sparse(len: usize) -> io::Result<Segment> {
        let fd = rustix::fs::memfd_create("multiproc-heap", MemfdFlags::CLOEXEC)?;
        rustix::fs::ftruncate(&fd, len.max(1) as u64)?;
        Segment::map(fd)
    }

    /// Backs `len` bytes at `offset` with memory now, so running out is an error here rather
    /// than a SIGBUS on first touch.
    pub(crate) fn reserve(&self, offset: usize, len: usize) -> io::Result<()> {
        match rustix::fs::fallocate(&self.fd, FallocateFlags::empty(), offset as u64, len as u64) {
            Ok(()) | Err(rustix::io::Errno::OPNOTSUPP) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Gives the memory of `len` bytes at `offset` back to the system; they read as zeros
    /// afterwards, in every process.
    pub(crate) fn release(&self, offset: usize, len: usize) {
        let _ = rustix::fs::fallocate(
            &self.fd,
            FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE,
            offset as u64,
            len as u64,
        );
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
