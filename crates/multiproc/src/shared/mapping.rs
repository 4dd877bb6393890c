//! A reference-counted mapped segment that serializes as a handle (its fd).

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::sys::shm::Segment;

#[derive(Debug, Clone)]
pub(crate) struct Mapping(pub(crate) Arc<Segment>);

impl Mapping {
    pub(crate) fn create(len: usize) -> std::io::Result<Mapping> {
        Ok(Mapping(Arc::new(Segment::create(len)?)))
    }

    pub(crate) fn ptr(&self) -> *mut u8 {
        self.0.ptr().as_ptr()
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

impl Serialize for Mapping {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::wire::handle::carry("SharedMemory", self.0.fd())
            .map_err(crate::wire::ser_error)?
            .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Mapping {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let carried = crate::wire::handle::Carried::deserialize(d)?;
        let fd = crate::wire::handle::receive(carried).map_err(crate::wire::de_error)?;
        let seg = Segment::map(fd).map_err(crate::wire::de_error)?;
        Ok(Mapping(Arc::new(seg)))
    }
}

/// Where a shared object lives: its own segment (the default), or a block of a
/// [`SharedHeap`](crate::mempool::SharedHeap) (the `*_in` constructors).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Backing {
    Segment(Mapping),
    Heap(crate::mempool::HeapObject),
}

impl Backing {
    /// `len` zeroed bytes aligned to `align` (at most a page), in `heap` or a new segment.
    pub(crate) fn create(
        heap: Option<&crate::mempool::SharedHeap>,
        len: usize,
        align: usize,
    ) -> std::io::Result<Backing> {
        match heap {
            None => Ok(Backing::Segment(Mapping::create(len)?)),
            Some(h) => Ok(Backing::Heap(crate::mempool::HeapObject::create(
                h, len, align,
            )?)),
        }
    }

    pub(crate) fn ptr(&self) -> *mut u8 {
        match self {
            Backing::Segment(m) => m.ptr(),
            Backing::Heap(o) => o.ptr(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Backing::Segment(m) => m.len(),
            Backing::Heap(o) => o.len(),
        }
    }
}
