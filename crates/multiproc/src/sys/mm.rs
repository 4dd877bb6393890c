//! Private anonymous mappings, for the process-local memory pool's arenas.
//!
//! Why hand-written: two calls over rustix's `mmap`/`munmap`, kept here so the pool above
//! makes no system call itself.

use std::ptr::NonNull;

use rustix::mm::{MapFlags, ProtFlags};

/// Maps `len` bytes of fresh zeroed private memory; `None` if the system refuses.
pub(crate) fn map_private(len: usize) -> Option<NonNull<u8>> {
    // SAFETY: a fresh private anonymous mapping at an address the kernel picks (null hint);
    // nothing else refers to that range.
    let p = unsafe {
        rustix::mm::mmap_anonymous(
            std::ptr::null_mut(),
            len,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::PRIVATE,
        )
    }
    .ok()?;
    NonNull::new(p.cast::<u8>())
}

/// Unmaps a mapping made by [`map_private`].
///
/// # Safety
/// `ptr`/`len` must be exactly one [`map_private`] mapping, and nothing may refer into it
/// afterwards.
pub(crate) unsafe fn unmap_private(ptr: NonNull<u8>, len: usize) {
    // SAFETY: the caller hands over the whole mapping, no longer referenced.
    let _ = unsafe { rustix::mm::munmap(ptr.as_ptr().cast(), len) };
}
