//! Shared memory segments: an anonymous memfd, sized with `fallocate` (so running out of
//! memory is an error now, not a SIGBUS later), mapped `MAP_SHARED`. Nothing is named, so a
//! crash leaves nothing behind in `/dev/shm`; the segment lives while a process maps it or
//! holds its fd.
//!
//! Named segments (`SharedMemory`, in `/dev/shm`) are made here too ([`create_named`],
//! [`open_named`], [`unlink_named`]), and sized the same way: a block larger than what
//! `/dev/shm` has left is [`NamedError::NoSpace`] at creation, where Python's
//! `SharedMemory(create=True, size=...)` succeeds and the first touch of a missing page
//! kills the process with SIGBUS.

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
        // An anonymous memfd has no size limit of its own: `fallocate` would take memory page
        // by page until the machine runs out. More than RAM and swap together can never
        // succeed, so say so at once.
        let info = rustix::system::sysinfo();
        let unit = u64::from(info.mem_unit.max(1));
        let ceiling = (info.totalram as u64)
            .saturating_add(info.totalswap as u64)
            .saturating_mul(unit);
        if len as u64 > ceiling {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!(
                    "a segment of {len} bytes is larger than memory and swap ({ceiling} bytes)"
                ),
            ));
        }
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

/// Why a named segment operation failed.
#[derive(Debug)]
pub(crate) enum NamedError {
    /// `create_named`: the name is taken.
    Exists,
    /// `open_named` / `unlink_named`: no such name.
    NotFound,
    /// `create_named`: `/dev/shm` (or memory) cannot hold that many bytes.
    NoSpace,
    /// Anything else the OS said.
    Os(io::Error),
}

fn named_path(name: &str) -> String {
    format!("/{name}")
}

/// Creates `/dev/shm/<name>` (exclusively) of `len` bytes, backed with memory now, and maps
/// it. `created` runs right after the name exists and before it is sized (to register it
/// for cleanup, so a crash in between leaves nothing behind); on any later failure the name
/// is unlinked again.
pub(crate) fn create_named(
    name: &str,
    len: usize,
    created: impl FnOnce(),
) -> Result<Segment, NamedError> {
    let path = named_path(name);
    let fd = rustix::shm::open(
        path.as_str(),
        rustix::shm::OFlags::CREATE | rustix::shm::OFlags::EXCL | rustix::shm::OFlags::RDWR,
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .map_err(|e| match e {
        rustix::io::Errno::EXIST => NamedError::Exists,
        e => NamedError::Os(e.into()),
    })?;
    created();
    let sized = (|| {
        rustix::fs::ftruncate(&fd, len as u64)?;
        match rustix::fs::fallocate(&fd, FallocateFlags::empty(), 0, len as u64) {
            Ok(()) | Err(rustix::io::Errno::OPNOTSUPP) => Ok(()),
            Err(e) => Err(e),
        }
    })();
    let result = match sized {
        Ok(()) => Segment::map(fd).map_err(NamedError::Os),
        Err(rustix::io::Errno::NOSPC | rustix::io::Errno::FBIG | rustix::io::Errno::NOMEM) => {
            Err(NamedError::NoSpace)
        }
        Err(e) => Err(NamedError::Os(e.into())),
    };
    if result.is_err() {
        let _ = rustix::shm::unlink(path.as_str());
    }
    result
}

/// Maps the existing `/dev/shm/<name>`.
pub(crate) fn open_named(name: &str) -> Result<Segment, NamedError> {
    let fd = rustix::shm::open(
        named_path(name).as_str(),
        rustix::shm::OFlags::RDWR,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| match e {
        rustix::io::Errno::NOENT => NamedError::NotFound,
        e => NamedError::Os(e.into()),
    })?;
    Segment::map(fd).map_err(NamedError::Os)
}

/// Removes `/dev/shm/<name>`.
pub(crate) fn unlink_named(name: &str) -> Result<(), NamedError> {
    rustix::shm::unlink(named_path(name).as_str()).map_err(|e| match e {
        rustix::io::Errno::NOENT => NamedError::NotFound,
        e => NamedError::Os(e.into()),
    })
}

impl Drop for Segment {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly the mapping made in `map`, and every reference into
        // it is tied to a borrow of this segment (through an `Arc`), so none outlives it.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}
