//! A reference-counted object in a [`SharedHeap`]: how `Shared::new_in`, `Value::new_in`,
//! `Array::*_in` place their state in a heap instead of a segment of their own.
//!
//! The block starts with a header (references, length, where the data starts); the count
//! covers handles in every process. Cloning a handle adds one; sending it (as a `Process`
//! argument or in a `Connection` message) adds one that the receiver adopts; dropping one
//! removes one, and the last frees the block.
//!
//! Two limits, both documented on the constructors: a handle *inherited* through `fork` (a
//! `fork_target` capture) does not count, so it is valid while its parent keeps its own; and
//! references held by a process that is killed are never given back, so the block stays in
//! use until the heap itself goes (when the last process drops it). Objects in their own
//! segment (the default constructors) have neither limit: the kernel counts their mappings.

use std::alloc::Layout;
use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::SharedHeap;
use crate::primitive::current_pid;

/// At the start of an object's block.
#[repr(C)]
struct Header {
    refs: AtomicU64,
    len: u64,
    /// From the block's start to the data (the data's alignment, at least 16).
    data: u64,
    _pad: u64,
}

const HEADER: usize = size_of::<Header>();

/// One handle on a heap object.
pub(crate) struct HeapObject {
    heap: SharedHeap,
    /// The block (its header).
    off: u64,
    /// The process whose reference this handle holds (a copy inherited by a forked child
    /// holds none).
    pid: u32,
}

impl HeapObject {
    /// A zeroed object of `len` bytes whose data is aligned to `align`.
    pub(crate) fn create(heap: &SharedHeap, len: usize, align: usize) -> std::io::Result<Self> {
        let data = align.max(HEADER);
        let layout = Layout::from_size_align(data + len, data)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let ptr = heap.alloc(layout).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::OutOfMemory,
                super::HeapFull {
                    requested: layout.size(),
                    capacity: heap.capacity(),
                },
            )
        })?;
        // SAFETY: a fresh block of `layout`: the header fits before the data, and the data is
        // zeroed as a fresh segment would be.
        unsafe {
            ptr.as_ptr().write_bytes(0, layout.size());
            ptr.cast::<Header>().write(Header {
                refs: AtomicU64::new(1),
                len: len as u64,
                data: data as u64,
                _pad: 0,
            });
        }
        Ok(HeapObject {
            heap: heap.clone(),
            off: heap.offset_of(ptr),
            pid: current_pid(),
        })
    }

    fn header(&self) -> &Header {
        // SAFETY: the block holds a header (written by `create`, checked on arrival), and
        // this handle's reference keeps it allocated.
        unsafe { self.heap.at(self.off).cast::<Header>().as_ref() }
    }

    /// The data's address in this process.
    pub(crate) fn ptr(&self) -> *mut u8 {
        let h = self.header();
        // SAFETY: `data` lies inside the block (checked on creation and arrival).
        unsafe { self.heap.at(self.off).as_ptr().add(h.data as usize) }
    }

    /// Bytes of data.
    pub(crate) fn len(&self) -> usize {
        self.header().len as usize
    }

    fn layout(&self) -> Layout {
        let h = self.header();
        Layout::from_size_align((h.data + h.len) as usize, h.data as usize)
            .expect("checked on creation")
    }
}

impl Clone for HeapObject {
    fn clone(&self) -> Self {
        self.header().refs.fetch_add(1, Relaxed);
        HeapObject {
            heap: self.heap.clone(),
            off: self.off,
            pid: current_pid(),
        }
    }
}

impl Drop for HeapObject {
    fn drop(&mut self) {
        if self.pid != current_pid() {
            // Inherited through fork: the parent's reference, not ours.
            return;
        }
        if self.header().refs.fetch_sub(1, AcqRel) == 1 {
            let layout = self.layout();
            // SAFETY: the last reference: nobody else holds the block.
            unsafe { self.heap.dealloc(self.heap.at(self.off), layout) };
        }
    }
}

impl fmt::Debug for HeapObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeapObject")
            .field("offset", &self.off)
            .field("len", &self.len())
            .finish()
    }
}

impl Serialize for HeapObject {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(2)?;
        // The heap first: it refuses (no fd sink) before a reference is taken for the message.
        t.serialize_element(&self.heap)?;
        self.header().refs.fetch_add(1, Relaxed);
        t.serialize_element(&self.off)?;
        t.end()
    }
}

impl<'de> Deserialize<'de> for HeapObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let (heap, off) = <(SharedHeap, u64)>::deserialize(d)?;
        if !heap.is_block_start(off) {
            return Err(D::Error::custom("not an object of this shared heap"));
        }
        // SAFETY: a block of this heap (checked above), which starts with a header.
        let h = unsafe { heap.at(off).cast::<Header>().as_ref() };
        let fits = h.data >= HEADER as u64
            && h.data.is_power_of_two()
            && h.len
                .checked_add(h.data)
                .is_some_and(|end| (off as u128 + end as u128) <= heap.capacity() as u128)
            && h.refs.load(Acquire) > 0;
        if !fits {
            return Err(D::Error::custom("damaged shared heap object header"));
        }
        // Adopts the reference the sender took for this message.
        Ok(HeapObject {
            heap,
            off,
            pid: current_pid(),
        })
    }
}
