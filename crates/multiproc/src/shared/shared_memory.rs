//! `SharedMemory` (≈ `multiprocessing.shared_memory.SharedMemory`): a named block any process
//! can attach to by name.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::mapping::Mapping;
use super::tracker;
use crate::error::ShmError;
use crate::sys::shm::{self, NamedError};

/// A named shared memory block (≈ `SharedMemory(name=None, create=False, size=0)`).
///
/// Unlike [`Value`](super::Value) and friends, it has a name in `/dev/shm`, so unrelated
/// processes can [`attach`](SharedMemory::attach) to it. Only its creator arranges for it to be
/// unlinked: explicitly with [`unlink`](SharedMemory::unlink), or automatically when the
/// creating process ends, even by SIGKILL. A process that only attached never unlinks it
/// (CPython's gh-82300). It serializes as its name, so it can be passed to a child with any
/// start method.
///
/// ```
/// use multiproc::shared::SharedMemory;
///
/// let shm = SharedMemory::create(64).unwrap();
/// shm.write_at(0, b"hello").unwrap();
/// let other = SharedMemory::attach(shm.name()).unwrap(); // e.g. in another process
/// let mut buf = [0u8; 5];
/// other.read_at(0, &mut buf).unwrap();
/// assert_eq!(&buf, b"hello");
/// shm.unlink().unwrap();
/// ```
pub struct SharedMemory {
    name: String,
    map: Mapping,
    creator: bool,
    unlinked: Arc<AtomicBool>,
}

fn random_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("psm_{:08x}", h.finish() as u32)
}

fn shm_error(e: NamedError, name: &str, size: usize) -> ShmError {
    match e {
        NamedError::Exists => ShmError::Exists(name.to_owned()),
        NamedError::NotFound => ShmError::NotFound(name.to_owned()),
        NamedError::NoSpace => ShmError::NoSpace { size },
        NamedError::Os(e) => ShmError::Os(e),
    }
}

impl SharedMemory {
    /// Creates a block of `size` bytes with a generated name (`psm_XXXXXXXX`).
    pub fn create(size: usize) -> Result<SharedMemory, ShmError> {
        loop {
            match Self::create_named(&random_name(), size) {
                Err(ShmError::Exists(_)) => continue,
                other => return other,
            }
        }
    }

    /// Creates a block with this name (`create=True, name=...`): [`ShmError::Exists`] if the
    /// name is taken, [`ShmError::InvalidSize`] for size 0.
    pub fn create_named(name: &str, size: usize) -> Result<SharedMemory, ShmError> {
        if size == 0 {
            return Err(ShmError::InvalidSize);
        }
        let mut registered = false;
        let seg = shm::create_named(name, size, || {
            tracker::register(name);
            registered = true;
        })
        .map_err(|e| {
            if registered {
                tracker::unregister(name);
            }
            shm_error(e, name, size)
        })?;
        Ok(SharedMemory {
            name: name.to_owned(),
            map: Mapping(Arc::new(seg)),
            creator: true,
            unlinked: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Attaches to an existing block by name ([`ShmError::NotFound`] if there is none).
    pub fn attach(name: &str) -> Result<SharedMemory, ShmError> {
        let seg = shm::open_named(name).map_err(|e| shm_error(e, name, 0))?;
        Ok(SharedMemory {
            name: name.to_owned(),
            map: Mapping(Arc::new(seg)),
            creator: false,
            unlinked: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Its name (without the leading `/`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its size in bytes (as the OS reports it).
    pub fn size(&self) -> usize {
        self.map.len()
    }

    /// Whether this handle created the block.
    pub fn is_creator(&self) -> bool {
        self.creator
    }

    fn check(&self, offset: usize, len: usize) -> Result<(), ShmError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.size() => Ok(()),
            _ => Err(ShmError::OutOfBounds {
                offset,
                len,
                size: self.size(),
            }),
        }
    }

    /// Copies bytes out of the block.
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<(), ShmError> {
        self.check(offset, buf.len())?;
        // SAFETY: the range is inside the mapping (checked); other processes may write it
        // concurrently, which is why this is a copy and never a reference into the block.
        unsafe {
            std::ptr::copy_nonoverlapping(self.map.ptr().add(offset), buf.as_mut_ptr(), buf.len())
        };
        Ok(())
    }

    /// Copies bytes into the block.
    pub fn write_at(&self, offset: usize, data: &[u8]) -> Result<(), ShmError> {
        self.check(offset, data.len())?;
        // SAFETY: as in `read_at`.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.map.ptr().add(offset), data.len())
        };
        Ok(())
    }

    /// The block's address in this process, for structured access. Synchronise with another
    /// primitive (a `Shared<Lock>`): other processes may write at any time.
    pub fn as_ptr(&self) -> *mut u8 {
        self.map.ptr()
    }

    /// Removes the name (`unlink()`): attached processes keep their mappings; new attaches
    /// fail. A second unlink is [`ShmError::NotFound`], as on POSIX in Python.
    pub fn unlink(&self) -> Result<(), ShmError> {
        shm::unlink_named(&self.name).map_err(|e| shm_error(e, &self.name, 0))?;
        self.unlinked.store(true, Ordering::Relaxed);
        tracker::unregister(&self.name);
        Ok(())
    }
}

impl fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedMemory({:?}, size={})", self.name, self.size())
    }
}

impl Serialize for SharedMemory {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.name.serialize(s)
    }
}

impl<'de> Deserialize<'de> for SharedMemory {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        SharedMemory::attach(&name).map_err(crate::wire::de_error)
    }
}
