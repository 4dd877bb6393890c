//! The [`Ring`] handle: creating a segment or opening one received from another process, taking
//! a side's lock (biased, robust, or given up on for `_nowait`), and the entry points the
//! process queues call (`write`, `read`, `qsize`, the pollers', the task counter's).

use std::time::Instant;

use crossbeam_utils::CachePadded;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::layout::{
    COUNT_MASK, HEADER, Header, ItemType, JOINABLE, MAGIC, MAX_CAPACITY, MIN_CAPACITY, RING_OFFSET,
    Side, unpack,
};
use super::reader::Reader;
use super::tasks::Tasks;
use super::wake::{POLL, Pollers, Wake};
use super::writer::Writer;
use crate::primitive::SpinWait;
use crate::primitive::atomic::Ordering;
use crate::shared::mapping::Backing;
use crate::sync::biased::{Entered, Held};
use crate::sync::lock::Acquired;

/// Whether to wait for a side's lock.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Block {
    /// `_nowait`: give up when the lock holder is itself waiting (queue full/empty).
    No,
    /// Wait until the deadline (`None`: forever).
    Until(Option<Instant>),
}

impl Block {
    /// The deadline to wait until. `_nowait` gets one already past, with no clock read: a
    /// `_nowait` call that finds room or a message (the usual case) never looks at it.
    fn deadline(self) -> Option<Instant> {
        match self {
            Block::No => Some(past()),
            Block::Until(d) => d,
        }
    }
}

/// An instant already past (the first one this thread asked for). A thread-local cell, not
/// a `OnceLock`: nothing a fork could inherit half-filled.
fn past() -> Instant {
    thread_local! {
        // after-fork: kept (an instant in the past stays in the past)
        static PAST: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
    }
    PAST.with(|p| match p.get() {
        Some(t) => t,
        None => {
            let t = Instant::now();
            p.set(Some(t));
            t
        }
    })
}

/// Why a write failed.
#[derive(Debug)]
pub(crate) enum WriteError {
    Full,
    TooLarge { len: u64, max: u64 },
}

/// Why a read failed.
#[derive(Debug)]
pub(crate) enum ReadError {
    Empty,
    TooLarge { len: u64, max: u64 },
    Corrupt(String),
}

/// Where a reader's message bytes go: a whole message in place, or a streamed one chunk by
/// chunk.
pub(crate) trait Sink {
    type Out;
    /// A whole message, contiguous in the ring.
    fn whole(&mut self, bytes: &[u8]) -> Self::Out;
    /// A streamed message of `total` bytes begins.
    fn begin(&mut self, total: usize);
    /// The next chunk of it.
    fn extend(&mut self, bytes: &[u8]);
    /// It is complete.
    fn finish(&mut self) -> Self::Out;
}

/// A handle on one ring; cloning shares the segment.
#[derive(Clone, Debug)]
pub(crate) struct Ring {
    map: Backing,
    /// `map.ptr()` and the ring's capacity, kept here: every access needs them, and asking the
    /// `Backing` means a match and dependent loads on each.
    pub(super) base: usize,
    capacity: usize,
}

impl Ring {
    /// A new ring of `capacity` bytes (a power of two in `MIN_CAPACITY..=MAX_CAPACITY`).
    pub(crate) fn create(
        capacity: usize,
        maxsize: u32,
        max_message: u64,
        kind: u32,
        item_type: &str,
        heap: Option<&crate::mempool::SharedHeap>,
    ) -> std::io::Result<Ring> {
        debug_assert!(capacity.is_power_of_two());
        debug_assert!((MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity));
        let map = Backing::create(heap, RING_OFFSET + capacity, 4096)?;
        let header = Header {
            magic: MAGIC,
            capacity: capacity as u32,
            maxsize,
            kind,
            max_message,
            item_type: ItemType::new(item_type),
            put: CachePadded::new(Side::new()),
            get: CachePadded::new(Side::new()),
            data: CachePadded::new(Wake::new()),
            space: CachePadded::new(Wake::new()),
            tasks: CachePadded::new(Tasks::new()),
            pollers: CachePadded::new(Pollers::new()),
        };
        // SAFETY: the segment is page-aligned, larger than `Header` (checked at compile time),
        // and not yet visible to any other thread or process.
        unsafe { map.ptr().cast::<Header>().write(header) };
        let ring = Ring::from_map(map, capacity);
        ring.h().put.lock.make_robust();
        ring.h().get.lock.make_robust();
        Ok(ring)
    }

    fn from_map(map: Backing, capacity: usize) -> Ring {
        Ring {
            base: map.ptr() as usize,
            map,
            capacity,
        }
    }

    #[inline]
    pub(super) fn h(&self) -> &Header {
        // SAFETY: the segment starts with a `Header`, written by `create` (or checked by
        // `deserialize`) and alive as long as `self.map`; every field is atomic or constant.
        unsafe { &*(self.base as *const Header) }
    }

    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Refuses a handle to a queue of another item type than `tag` (see `wire::type_tag`).
    pub(crate) fn check_item_type(&self, tag: &str) -> Result<(), String> {
        let stored = self.h().item_type.as_bytes();
        let asked = ItemType::new(tag);
        if stored == asked.as_bytes() {
            Ok(())
        } else {
            Err(format!(
                "a queue of `{}` opened as a queue of `{tag}`",
                String::from_utf8_lossy(stored)
            ))
        }
    }

    /// 0: unbounded.
    pub(crate) fn maxsize(&self) -> u32 {
        self.h().maxsize
    }

    pub(crate) fn max_message(&self) -> u64 {
        self.h().max_message
    }

    /// Whether a message of `len` bytes goes in as one record (larger ones stream).
    #[inline]
    pub(crate) fn fits_whole(&self, len: usize) -> bool {
        len + HEADER <= self.whole_max()
    }

    /// The largest message written as one record.
    #[inline]
    pub(super) fn whole_max(&self) -> usize {
        self.capacity() / 4
    }

    #[inline]
    pub(super) fn ring_ptr(&self, pos: u32) -> *mut u8 {
        let off = pos as usize & (self.capacity - 1);
        (self.base + RING_OFFSET + off) as *mut u8
    }

    /// Whether a reader would find bytes now (a message, or the first part of a streamed
    /// one): what `connection::wait` reports as ready.
    #[inline]
    pub(crate) fn readable(&self) -> bool {
        let (head, _) = unpack(self.h().get.word.load(Ordering::SeqCst));
        let (tail, _) = unpack(self.h().put.word.load(Ordering::SeqCst));
        head != tail
    }

    /// Sleeps until [`readable`](Self::readable), `deadline`, or `cancel` (after
    /// [`wake_pollers`](Self::wake_pollers)); returns whether it is readable.
    pub(crate) fn wait_readable(
        &self,
        deadline: Option<Instant>,
        cancel: &std::sync::atomic::AtomicBool,
    ) -> bool {
        self.h().pollers.wait(|| self.readable(), deadline, cancel)
    }

    /// An async reader's announcement: arms the pollers (see `Pollers::arm`) and returns the
    /// word and value to register with the futex waker thread.
    #[cfg(not(multiproc_loom))]
    pub(crate) fn arm_for_data(&self, fenced: bool) -> (&std::sync::atomic::AtomicU32, u32) {
        self.h().pollers.arm(fenced)
    }

    /// An async writer's announcement that it waits for room (see `Wake::arm`).
    #[cfg(not(multiproc_loom))]
    pub(crate) fn arm_for_space(&self, fenced: bool) -> (&std::sync::atomic::AtomicU32, u32) {
        self.h().space.arm(fenced)
    }

    /// How long an async waiter on this ring sleeps before it looks again: a first short
    /// nap without the barrier, then slices (see `wake.rs`).
    #[cfg(not(multiproc_loom))]
    pub(crate) fn async_slice(fenced: bool) -> std::time::Duration {
        if fenced { POLL } else { super::wake::NAP }
    }

    /// Wakes every thread in [`wait_readable`](Self::wait_readable) (to cancel one).
    pub(crate) fn wake_pollers(&self) {
        self.h().pollers.wake_all();
    }

    /// Complete messages in the ring now.
    #[inline]
    pub(crate) fn qsize(&self) -> usize {
        // Read first: consumed can only grow toward committed, so this order never
        // sees more consumed than committed.
        let (_, consumed) = unpack(self.h().get.word.load(Ordering::Acquire));
        let (_, committed) = unpack(self.h().put.word.load(Ordering::Acquire));
        (committed.wrapping_sub(consumed) & COUNT_MASK) as usize
    }

    // ---------------------------------------------------------------- locking

    #[inline]
    fn lock_side(&self, side: &Side, wake: &Wake, block: Block) -> Option<Entered> {
        if side.lock.enter_biased() {
            return Some(Entered {
                held: Held::Biased,
                died: false,
            });
        }
        let raw = side.lock.raw();
        // The holder is either copying (it will be quick) or sleeping because the queue is
        // full (put side) or empty (get side): then a `_nowait` call gives up.
        let holder_sleeping = || wake.sleeping.load(Ordering::Acquire) != 0;
        let (got, give_up_at, give_up): (_, Option<Instant>, &dyn Fn() -> bool) = match block {
            Block::Until(deadline) => match raw.lock_until_checked(deadline) {
                Acquired::No => return None,
                got => (got, None, &|| false),
            },
            Block::No => {
                // A free lock costs no clock read: the give-up time is only needed once the
                // lock was seen held.
                let mut give_up = None;
                let mut spin = SpinWait::new(SpinWait::LOCK);
                let got = loop {
                    if raw.try_lock() {
                        break Acquired::Yes;
                    }
                    if holder_sleeping() {
                        return None;
                    }
                    let now = Instant::now();
                    if now >= *give_up.get_or_insert(now + POLL) {
                        break raw.try_lock_checked()?;
                    }
                    if !spin.spin() {
                        std::thread::yield_now();
                    }
                };
                (got, give_up, &holder_sleeping)
            }
        };
        // Holding the robust lock: a bias owner may still be inside. Only a revocation
        // (once in a ring's life) needs the deadline.
        let deadline = || match block {
            Block::Until(d) => d,
            Block::No => Some(give_up_at.unwrap_or_else(|| Instant::now() + POLL)),
        };
        match side.lock.settle(&deadline, give_up) {
            Some(died) => Some(Entered {
                held: Held::Locked,
                died: died || got == Acquired::OwnerDied,
            }),
            None => {
                side.lock.unlock(Held::Locked);
                None
            }
        }
    }

    // ---------------------------------------------------------------- writing

    /// Writes one message made of `parts` (concatenated), counting it as a task in a
    /// joinable queue. Blocks for the put lock, `maxsize` and ring space as `block` says.
    #[inline]
    pub(crate) fn write(&self, parts: &[&[u8]], block: Block) -> Result<(), WriteError> {
        let task = self.h().kind == JOINABLE;
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let max = self.max_message();
        if total as u64 > max {
            return Err(WriteError::TooLarge {
                len: total as u64,
                max,
            });
        }
        let h = self.h();
        let got = self
            .lock_side(&h.put, &h.space, block)
            .ok_or(WriteError::Full)?;
        let mut w = Writer::enter(self, got);
        let deadline = block.deadline();
        let maxsize = self.maxsize();
        if maxsize != 0 {
            let (_, committed) = unpack(h.put.word.load(Ordering::Relaxed));
            let fits = |read: u64| committed.wrapping_sub(unpack(read).1) & COUNT_MASK < maxsize;
            if !w.wait_read(fits, deadline) {
                return Err(WriteError::Full);
            }
        }
        if total + HEADER <= self.whole_max() {
            w.write_whole(parts, total, deadline, task)
        } else {
            w.write_streamed(parts, total, deadline, task)
        }
    }

    // ---------------------------------------------------------------- reading

    /// Reads one message into `sink`.
    pub(crate) fn read<S: Sink>(&self, sink: &mut S, block: Block) -> Result<S::Out, ReadError> {
        let h = self.h();
        let got = self
            .lock_side(&h.get, &h.data, block)
            .ok_or(ReadError::Empty)?;
        let mut r = Reader {
            ring: self,
            held: got.held,
        };
        if got.died {
            // The dead reader may have been asleep; its partial message is skipped below.
            h.data.sleeping.store(0, Ordering::Relaxed);
        }
        r.read(sink, block.deadline())
    }

    // ---------------------------------------------------------------- tasks

    /// `JoinableQueue.task_done()`: false when called more times than items were put.
    #[inline]
    pub(crate) fn task_done(&self) -> bool {
        self.h().tasks.done()
    }

    #[inline]
    pub(crate) fn unfinished_tasks(&self) -> u32 {
        self.h().tasks.unfinished()
    }

    /// `JoinableQueue.join()`: waits until every task is done; false if `deadline` passed.
    pub(crate) fn join_tasks(&self, deadline: Option<Instant>) -> bool {
        self.h().tasks.join(deadline)
    }
}

impl Serialize for Ring {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.map.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Ring {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = Backing::deserialize(d)?;
        if map.len() < RING_OFFSET + MIN_CAPACITY {
            return Err(crate::wire::de_error("segment too small for a queue"));
        }
        // SAFETY: the segment is at least a page (checked above); these two `u32`s are the
        // first fields of a `Header`, written once at creation.
        let (magic, cap) = unsafe {
            let p = map.ptr().cast::<u32>();
            (p.read(), p.add(1).read())
        };
        let cap = cap as usize;
        if magic != MAGIC || !cap.is_power_of_two() || map.len() < RING_OFFSET + cap {
            return Err(crate::wire::de_error("segment does not hold a queue"));
        }
        Ok(Ring::from_map(map, cap))
    }
}
