//! What the segment holds, byte for byte: the [`Header`] in the first page (both sides' lock
//! and word, the wake-up flags, the task counter, the item type), then the byte ring of
//! 8-byte-aligned records; and how the two words pack positions and message counts.
//!
//!
//! # Records
//!
//! The ring holds 8-byte-aligned records, each an 8-byte header (`len: u32`, `flags: u32`)
//! and `len` payload bytes:
//!
//! - `FIRST | LAST`: a whole message, contiguous (the reader decodes it in place);
//! - a message longer than a quarter of the ring *streams*: a `FIRST` record whose payload
//!   starts with the total length, middle records, and a `LAST` one; the reader copies out
//!   each chunk as it arrives, so a message may be far larger than the ring;
//! - `PAD`: filler up to the end of the ring, so a whole message never wraps.
//!
//! # The two words
//!
//! - `write` = tail (byte position, `u32` wrapping) | committed messages (31 bits) | `MID`
//!   (a streamed message is half written). Stored only by the put-lock holder.
//! - `read` = head | consumed messages (31 bits). Stored only by the get-lock holder.
//!
//! `qsize` is committed − consumed. Each word is one atomic store, so a process killed at any
//! instruction leaves a state that is consistent.
//!
//!
//! Every process that maps the segment reads these structs in place, so they are `repr(C)`,
//! made only of atomics and plain numbers, and valid at any address.

use crossbeam_utils::CachePadded;

pub(super) use super::tasks::COUNT_MASK;
use super::tasks::Tasks;
use super::wake::{Pollers, Wake};
use crate::primitive::atomic::AtomicU64;
use crate::sync::biased::BiasedLock;

pub(super) const MAGIC: u32 = 0x6d70_7132;
/// The ring starts one page into the segment.
pub(super) const RING_OFFSET: usize = 4096;
pub(super) const HEADER: usize = 8;

pub(super) const FIRST: u32 = 1;
pub(super) const LAST: u32 = 2;
pub(super) const PAD: u32 = 4;

pub(super) const MID: u64 = 1 << 63;
/// `Header::kind`: every message is a task (`JoinableQueue`).
pub(crate) const JOINABLE: u32 = 1;

/// Smallest and largest ring.
pub(crate) const MIN_CAPACITY: usize = 4096;
pub(crate) const MAX_CAPACITY: usize = 1 << 30;

/// The segment's first page.
#[repr(C)]
pub(super) struct Header {
    pub(super) magic: u32,
    pub(super) capacity: u32,
    /// 0: unbounded.
    pub(super) maxsize: u32,
    /// [`JOINABLE`] or 0.
    pub(super) kind: u32,
    pub(super) max_message: u64,
    /// The item type's tag (`wire::type_tag`), written at creation: a handle opened as a
    /// queue of another type is refused.
    pub(super) item_type: ItemType,
    pub(super) put: CachePadded<Side>,
    pub(super) get: CachePadded<Side>,
    /// The reader sleeping for data.
    pub(super) data: CachePadded<Wake>,
    /// The writer sleeping for space (or for `maxsize`).
    pub(super) space: CachePadded<Wake>,
    pub(super) tasks: CachePadded<Tasks>,
    /// Threads in `connection::wait` on this queue (any process).
    pub(super) pollers: CachePadded<Pollers>,
}

const _: () = assert!(size_of::<Header>() <= RING_OFFSET);

/// Bytes of an item type's tag kept in the header; longer tags are compared on this prefix.
pub(super) const ITEM_TYPE_LEN: usize = 120;

#[repr(C)]
pub(super) struct ItemType {
    len: u32,
    name: [u8; ITEM_TYPE_LEN],
}

impl ItemType {
    pub(super) fn new(tag: &str) -> ItemType {
        let mut end = tag.len().min(ITEM_TYPE_LEN);
        while !tag.is_char_boundary(end) {
            end -= 1;
        }
        let mut name = [0u8; ITEM_TYPE_LEN];
        name[..end].copy_from_slice(&tag.as_bytes()[..end]);
        ItemType {
            len: end as u32,
            name,
        }
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.name[..(self.len as usize).min(ITEM_TYPE_LEN)]
    }
}

/// One side (put or get): its lock and its word.
#[repr(C)]
pub(super) struct Side {
    pub(super) lock: BiasedLock,
    /// This side's last look at the other side's word (only the lock holder touches it).
    pub(super) seen: AtomicU64,
    /// `write` for the put side, `read` for the get side. On a cache line of its own: the
    /// other side reads it for every message, and must not steal the lock's line to do so.
    pub(super) word: CachePadded<AtomicU64>,
}

impl Side {
    pub(super) fn new() -> Side {
        Side {
            lock: BiasedLock::new(),
            seen: AtomicU64::new(0),
            word: CachePadded::new(AtomicU64::new(0)),
        }
    }
}

#[inline]
pub(super) fn align8(n: usize) -> usize {
    (n + 7) & !7
}

#[inline]
pub(super) fn pack_write(tail: u32, committed: u32, mid: bool) -> u64 {
    tail as u64 | ((committed & COUNT_MASK) as u64) << 32 | if mid { MID } else { 0 }
}

#[inline]
pub(super) fn unpack(word: u64) -> (u32, u32) {
    (word as u32, (word >> 32) as u32 & COUNT_MASK)
}

#[inline]
pub(super) fn pack_read(head: u32, consumed: u32) -> u64 {
    head as u64 | ((consumed & COUNT_MASK) as u64) << 32
}
