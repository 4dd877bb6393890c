//! [`Words`]: a run of atomic 64-bit words in a segment of its own, shared by every process
//! it is passed to (crate-internal: the pools' task board and their workers' counters).
//!
//! `Shared<T>` holds one value of a type fixed at compile time; a pool's board is as long as
//! its builder says, so it is a segment viewed as `[AtomicU64]`.

use std::ops::Deref;
use std::sync::atomic::AtomicU64;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::mapping::Mapping;

/// `len` atomic words in shared memory, all zero at creation. Derefs to `[AtomicU64]`;
/// serializes as its segment's fd, like every shared object.
#[derive(Debug, Clone)]
pub(crate) struct Words {
    map: Mapping,
    len: usize,
}

impl Words {
    /// `len` zeroed words (at least one) in a new segment.
    pub(crate) fn new(len: usize) -> std::io::Result<Words> {
        let len = len.max(1);
        let bytes = len.checked_mul(8).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "too many words")
        })?;
        Ok(Words {
            map: Mapping::create(bytes)?,
            len,
        })
    }
}

impl Deref for Words {
    type Target = [AtomicU64];
    fn deref(&self) -> &[AtomicU64] {
        // SAFETY: the segment is page-aligned, at least `len * 8` bytes (checked at creation
        // and on receipt), zero-initialised (a valid `AtomicU64` is any 8 bytes), and mapped
        // as long as `self.map` lives; other processes touch it only through atomics.
        unsafe { std::slice::from_raw_parts(self.map.ptr().cast::<AtomicU64>(), self.len) }
    }
}

impl Serialize for Words {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (&self.map, self.len as u64).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Words {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (map, len): (Mapping, u64) = Deserialize::deserialize(d)?;
        let len = usize::try_from(len).map_err(crate::wire::de_error)?;
        if len.checked_mul(8).is_none_or(|b| b > map.len()) {
            return Err(crate::wire::de_error("segment smaller than its words"));
        }
        Ok(Words { map, len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn words_round_trip_through_serde_to_the_same_memory() {
        let w = Words::new(100).unwrap();
        w[99].store(7, Ordering::Relaxed);
        let (bytes, fds) = crate::wire::handle::collect_fds(|| postcard::to_stdvec(&w).unwrap());
        let back: Words =
            crate::wire::handle::provide_fds(fds, || postcard::from_bytes(&bytes).unwrap());
        assert_eq!(back.len(), 100);
        assert_eq!(back[99].load(Ordering::Relaxed), 7);
        back[0].store(5, Ordering::Relaxed);
        assert_eq!(w[0].load(Ordering::Relaxed), 5);
    }
}
