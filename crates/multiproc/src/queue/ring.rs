//! The shared-memory ring under the process queues: one memfd segment holding a header and a
//! byte ring; one producer writes at a time (the *put lock*), one consumer reads at a time
//! (the *get lock*), and the two sides meet lock-free, as in a single-producer
//! single-consumer ring.
//!
//! # No locked instruction on the fast path
//!
//! For a small message the cost is not the copy but the synchronisation, so the common case
//! of one producer thread and one consumer thread takes no atomic read-modify-write at all:
//!
//! - each side's lock is a [`BiasedLock`]: the first thread to take it keeps it, entering and
//!   leaving with plain stores, until another thread revokes it (once) with a `membarrier`;
//! - each side publishes its word with a plain store and then looks whether the other side
//!   sleeps. The sleeper announces itself, naps briefly, and before any longer sleep runs
//!   [`membarrier::barrier`], which pairs with those plain stores (see `store_then_look`);
//! - a side that finds nothing waits [`LAG_SPINS`] before looking again, so that a reader at
//!   its writer's heels does not steal the cache line being written after every message.
//!
//! # Why hand-written
//!
//! ipc-channel and crossbeam have no multi-producer multi-consumer queue in shared memory that
//! survives a process dying mid-operation; CPython's queue is a pipe plus a feeder thread,
//! which loses buffered data at exit. Here a `put` that returned has its bytes in the shared
//! ring: nothing is left in the producer to flush.
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
//! # Crashes
//!
//! Both locks are robust (a waiter takes a lock over from a dead process, and a revoker takes
//! a bias over from an owner killed inside it, both reported the same way):
//!
//! - a producer dead mid-message leaves `MID` set: whoever takes the put lock over clears it,
//!   and a reader in the middle of that message, seeing the stream end (no more records, `MID`
//!   clear) or a new `FIRST`, drops what it had: no half message is ever delivered. A reader
//!   waiting for the rest of a message checks every 100 ms whether the writer died.
//! - a consumer dead mid-message leaves records of a message whose `FIRST` is gone: the next
//!   reader skips records until a `FIRST`, counting the lost message as consumed. Recovery
//!   needs no state: a live reader never stops mid-message.
//! - unpublished bytes beyond `tail` are never read.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::primitive::SpinWait;
use crate::shared::mapping::Backing;
use crate::sync::biased::{BiasedLock, Entered, Held};
use crate::sync::lock::Acquired;
use crate::sys::{futex, membarrier};

const MAGIC: u32 = 0x6d70_7132;
/// The ring starts one page into the segment.
const RING_OFFSET: usize = 4096;
const HEADER: usize = 8;

const FIRST: u32 = 1;
const LAST: u32 = 2;
const PAD: u32 = 4;

const MID: u64 = 1 << 63;
/// `Header::kind`: every message is a task (`JoinableQueue`).
pub(crate) const JOINABLE: u32 = 1;
const COUNT_MASK: u32 = 0x7fff_ffff;

/// How often a blocked side checks whether the other side's process died.
const POLL: Duration = Duration::from_millis(100);
/// A waiter's first sleep, taken without the `membarrier` (which on a VM can cost hundreds of
/// microseconds when the other side's CPU is busy): the most a wake-up lost to the unfenced
/// race can be late.
const NAP: Duration = Duration::from_millis(1);

/// `pause`s (about 0.9 µs on an 18 ns-`pause` Xeon) a side that finds nothing waits before it
/// first looks at the other side's word. A reader at its writer's heels reads the write word
/// and the record being written after every message, so each message moves two cache lines
/// back and forth; a short lag lets a few messages gather, and the pair stays in the streaming
/// regime (measured 5 M/s at the heels, 20 M/s with the lag, for `u64` items between two
/// processes; `docs/PERFORMANCE.md`). Costs at most that much latency, and only to a message
/// that arrives within it.
const LAG_SPINS: u32 = 48;

/// Smallest and largest ring.
pub(crate) const MIN_CAPACITY: usize = 4096;
pub(crate) const MAX_CAPACITY: usize = 1 << 30;

#[repr(C)]
struct Header {
    magic: u32,
    capacity: u32,
    /// 0: unbounded.
    maxsize: u32,
    /// [`JOINABLE`] or 0.
    kind: u32,
    max_message: u64,
    /// The item type's tag (`wire::type_tag`), written at creation: a handle opened as a
    /// queue of another type is refused.
    item_type: ItemType,
    put: CachePadded<Side>,
    get: CachePadded<Side>,
    /// The reader sleeping for data.
    data: CachePadded<Wake>,
    /// The writer sleeping for space (or for `maxsize`).
    space: CachePadded<Wake>,
    tasks: CachePadded<Tasks>,
    /// Threads in `connection::wait` on this queue (any process).
    pollers: CachePadded<Pollers>,
}

const _: () = assert!(size_of::<Header>() <= RING_OFFSET);

/// Bytes of an item type's tag kept in the header; longer tags are compared on this prefix.
const ITEM_TYPE_LEN: usize = 120;

#[repr(C)]
struct ItemType {
    len: u32,
    name: [u8; ITEM_TYPE_LEN],
}

impl ItemType {
    fn new(tag: &str) -> ItemType {
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

    fn as_bytes(&self) -> &[u8] {
        &self.name[..(self.len as usize).min(ITEM_TYPE_LEN)]
    }
}

/// Waiters that are not the reader: `connection::wait` watching for data. A flag, not a
/// count: a poller killed while armed leaves it set, and then the next publish clears it
/// (one extra wake-up in all), where a count would stay wrong and cost every publish a
/// syscall forever. Pollers re-arm before each sleep, so none is left behind.
#[repr(C)]
struct Pollers {
    armed: AtomicU32,
    seq: AtomicU32,
}

impl Pollers {
    /// After data is published: wake every poller.
    #[inline]
    fn notify(&self) {
        if self.armed.load(Ordering::SeqCst) != 0 {
            self.wake_all();
        }
    }

    #[cold]
    fn wake_all(&self) {
        self.armed.store(0, Ordering::Relaxed);
        self.seq.fetch_add(1, Ordering::SeqCst);
        futex::wake(&self.seq, u32::MAX);
    }
}

#[repr(C)]
struct Side {
    lock: BiasedLock,
    /// This side's last look at the other side's word (only the lock holder touches it).
    seen: AtomicU64,
    /// `write` for the put side, `read` for the get side. On a cache line of its own: the
    /// other side reads it for every message, and must not steal the lock's line to do so.
    word: CachePadded<AtomicU64>,
}

#[repr(C)]
struct Wake {
    seq: AtomicU32,
    /// 1 while the lock holder sleeps (0/1, not a count: a holder killed while sleeping would
    /// leave a count wrong forever; the next holder resets the flag).
    sleeping: AtomicU32,
}

#[repr(C)]
struct Tasks {
    /// Unfinished tasks (low 32 bits) | tasks ever added (high 32 bits): one word, so a
    /// producer killed between the two updates cannot exist.
    word: AtomicU64,
    seq: AtomicU32,
    waiters: AtomicU32,
}

/// Whether to wait for a side's lock.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Block {
    /// `_nowait`: give up when the lock holder is itself waiting (queue full/empty).
    No,
    /// Wait until the deadline (`None`: forever).
    Until(Option<Instant>),
}

impl Block {
    fn deadline(self) -> Option<Instant> {
        match self {
            Block::No => Some(Instant::now()),
            Block::Until(d) => d,
        }
    }
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
    base: usize,
    capacity: usize,
}

#[inline]
fn align8(n: usize) -> usize {
    (n + 7) & !7
}

#[inline]
fn pack_write(tail: u32, committed: u32, mid: bool) -> u64 {
    tail as u64 | ((committed & COUNT_MASK) as u64) << 32 | if mid { MID } else { 0 }
}

#[inline]
fn unpack(word: u64) -> (u32, u32) {
    (word as u32, (word >> 32) as u32 & COUNT_MASK)
}

#[inline]
fn pack_read(head: u32, consumed: u32) -> u64 {
    head as u64 | ((consumed & COUNT_MASK) as u64) << 32
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
            tasks: CachePadded::new(Tasks {
                word: AtomicU64::new(0),
                seq: AtomicU32::new(0),
                waiters: AtomicU32::new(0),
            }),
            pollers: CachePadded::new(Pollers {
                armed: AtomicU32::new(0),
                seq: AtomicU32::new(0),
            }),
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
    fn h(&self) -> &Header {
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

    /// The largest message written as one record.
    fn whole_max(&self) -> usize {
        self.capacity() / 4
    }

    #[inline]
    fn ring_ptr(&self, pos: u32) -> *mut u8 {
        let off = pos as usize & (self.capacity - 1);
        (self.base + RING_OFFSET + off) as *mut u8
    }

    /// Whether a reader would find bytes now (a message, or the first part of a streamed
    /// one): what `connection::wait` reports as ready.
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
        let p = &self.h().pollers;
        let mut napped = false;
        loop {
            let seq = p.seq.load(Ordering::SeqCst);
            // Arm, then look (the writer publishes, then looks at `armed`): a first nap
            // without the barrier, then fenced sleeps, as in `Wake::wait`.
            p.armed.store(1, Ordering::SeqCst);
            if napped {
                membarrier::barrier();
            }
            if self.readable() {
                return true;
            }
            if cancel.load(Ordering::SeqCst) || deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            // Slices: a writer that cleared `armed` for another poller's sake wakes us too,
            // but a stale wake-up is harmless and a missed one would not be, so re-arm often.
            let slice = Instant::now() + if napped { POLL } else { NAP };
            napped = true;
            futex::wait(&p.seq, seq, Some(deadline.map_or(slice, |d| d.min(slice))));
        }
    }

    /// Wakes every thread in [`wait_readable`](Self::wait_readable) (to cancel one).
    pub(crate) fn wake_pollers(&self) {
        self.h().pollers.wake_all();
    }

    /// Complete messages in the ring now.
    pub(crate) fn qsize(&self) -> usize {
        // Read first: consumed can only grow toward committed, so this order never
        // sees more consumed than committed.
        let (_, consumed) = unpack(self.h().get.word.load(Ordering::Acquire));
        let (_, committed) = unpack(self.h().put.word.load(Ordering::Acquire));
        (committed.wrapping_sub(consumed) & COUNT_MASK) as usize
    }

    // ---------------------------------------------------------------- locking

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
        let (got, deadline, give_up): (_, _, &dyn Fn() -> bool) = match block {
            Block::Until(deadline) => match raw.lock_until_checked(deadline) {
                Acquired::No => return None,
                got => (got, deadline, &|| false),
            },
            Block::No => {
                let give_up = Instant::now() + POLL;
                let mut spin = SpinWait::new(SpinWait::LOCK);
                let got = loop {
                    if raw.try_lock() {
                        break Acquired::Yes;
                    }
                    if holder_sleeping() {
                        return None;
                    }
                    if Instant::now() >= give_up {
                        break raw.try_lock_checked()?;
                    }
                    if !spin.spin() {
                        std::thread::yield_now();
                    }
                };
                (got, Some(give_up), &holder_sleeping)
            }
        };
        // Holding the robust lock: a bias owner may still be inside.
        match side.lock.settle(deadline, give_up) {
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
        let mut w = Writer {
            ring: self,
            held: got.held,
            mid: false,
        };
        if got.died {
            w.recover();
        }
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
    pub(crate) fn task_done(&self) -> bool {
        let t = &self.h().tasks;
        let mut cur = t.word.load(Ordering::Relaxed);
        loop {
            if cur as u32 == 0 {
                return false;
            }
            match t
                .word
                .compare_exchange_weak(cur, cur - 1, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(v) => cur = v,
            }
        }
        if cur as u32 == 1 && t.waiters.load(Ordering::SeqCst) != 0 {
            t.seq.fetch_add(1, Ordering::SeqCst);
            futex::wake(&t.seq, u32::MAX);
        }
        true
    }

    pub(crate) fn unfinished_tasks(&self) -> u32 {
        self.h().tasks.word.load(Ordering::Acquire) as u32
    }

    /// `JoinableQueue.join()`: waits until every task is done; false if `deadline` passed.
    pub(crate) fn join_tasks(&self, deadline: Option<Instant>) -> bool {
        let t = &self.h().tasks;
        loop {
            if t.word.load(Ordering::Acquire) as u32 == 0 {
                return true;
            }
            t.waiters.fetch_add(1, Ordering::SeqCst);
            let seq = t.seq.load(Ordering::SeqCst);
            let done = t.word.load(Ordering::SeqCst) as u32 == 0;
            // Slices: a joiner killed while waiting leaves `waiters` one too high, which only
            // costs wake-ups; a slice bounds the cost of a missed one to nothing but latency.
            let slice = Instant::now() + POLL * 10;
            let timed_out =
                !done && !futex::wait(&t.seq, seq, Some(deadline.map_or(slice, |d| d.min(slice))));
            t.waiters.fetch_sub(1, Ordering::SeqCst);
            if timed_out && deadline.is_some_and(|d| Instant::now() >= d) {
                return t.word.load(Ordering::Acquire) as u32 == 0;
            }
        }
    }
}

impl Side {
    fn new() -> Side {
        Side {
            lock: BiasedLock::new(),
            seen: AtomicU64::new(0),
            word: CachePadded::new(AtomicU64::new(0)),
        }
    }
}

impl Wake {
    fn new() -> Wake {
        Wake {
            seq: AtomicU32::new(0),
            sleeping: AtomicU32::new(0),
        }
    }

    /// After a store the other side may be waiting for: wake it if it sleeps.
    #[inline]
    fn notify(&self) {
        if self.sleeping.load(Ordering::SeqCst) != 0 {
            self.seq.fetch_add(1, Ordering::SeqCst);
            futex::wake(&self.seq, 1);
        }
    }

    /// Waits until `ready(word)` holds; false once `deadline` passes. First lags
    /// [`LAG_SPINS`], unless `other_side_is_us` (this thread last wrote the other side's word,
    /// so there is no writer's line to keep off). `on_slice` runs every [`POLL`] while sleeping
    /// (crash checks).
    fn wait(
        &self,
        word: &AtomicU64,
        seen: &AtomicU64,
        ready: impl Fn(u64) -> bool,
        deadline: Option<Instant>,
        other_side_is_us: bool,
        mut on_slice: impl FnMut(),
    ) -> bool {
        if !other_side_is_us {
            // (When this thread wrote the other side itself, what it wrote is there: no lag.)
            for _ in 0..LAG_SPINS {
                std::hint::spin_loop();
            }
        }
        let mut spin = SpinWait::new(SpinWait::EVENT);
        let mut napped = false;
        loop {
            let v = word.load(Ordering::Acquire);
            if ready(v) {
                seen.store(v, Ordering::Relaxed);
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            if spin.spin() {
                continue;
            }
            // Sleep: announce it, then re-check. The other side stores its word, then looks
            // at `sleeping`, with no fence between (see `store_then_look`): the first sleep is
            // a short nap, and a wake-up missed in that race costs at most the nap; every
            // longer sleep first runs the barrier that makes the pairing exact.
            let seq = self.seq.load(Ordering::SeqCst);
            self.sleeping.store(1, Ordering::SeqCst);
            if napped {
                membarrier::barrier();
            }
            let v = word.load(Ordering::SeqCst);
            if ready(v) {
                self.sleeping.store(0, Ordering::Relaxed);
                seen.store(v, Ordering::Relaxed);
                return true;
            }
            let slice = Instant::now() + if napped { POLL } else { NAP };
            napped = true;
            let woke = futex::wait(
                &self.seq,
                seq,
                Some(deadline.map_or(slice, |d| d.min(slice))),
            );
            self.sleeping.store(0, Ordering::Relaxed);
            if !woke {
                on_slice();
            }
            spin = SpinWait::new(SpinWait::LOCK);
        }
    }
}

thread_local! {
    /// The ring this thread last published a write to, and last freed space in: a side waiting
    /// for what this same thread just did on the other side has no reason to lag.
    // after-fork: kept (a hint; a wrong one only costs a wake-up check)
    static LAST_WRITTEN: Cell<usize> = const { Cell::new(0) };
    // after-fork: kept (a hint; a wrong one only costs a wake-up check)
    static LAST_READ: Cell<usize> = const { Cell::new(0) };
}

/// Stores a side's word, which the other side may be about to sleep on, before the caller
/// looks at its `sleeping` flag. Dekker's rule wants a full fence between the two; in a process
/// registered with `membarrier` the sleeper supplies it (it runs [`membarrier::barrier`]
/// between announcing its sleep and its last look), so this is a plain store.
#[inline]
fn store_then_look(word: &AtomicU64, v: u64) {
    if membarrier::registered() {
        word.store(v, Ordering::Release);
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
    } else {
        word.swap(v, Ordering::SeqCst);
    }
}

/// The put-lock holder. Releases the lock on drop, first abandoning a half-written message
/// (a panic or a timeout mid-stream), so readers drop it.
struct Writer<'a> {
    ring: &'a Ring,
    held: Held,
    mid: bool,
}

impl Writer<'_> {
    fn h(&self) -> &Header {
        self.ring.h()
    }

    /// The put lock came from a dead producer: end its half message and undo a task count it
    /// added without publishing the message.
    fn recover(&mut self) {
        let h = self.h();
        h.space.sleeping.store(0, Ordering::Relaxed);
        let w = h.put.word.load(Ordering::Relaxed);
        if w & MID != 0 {
            self.publish(w & !MID);
        }
        if h.kind != JOINABLE {
            return;
        }
        let (_, committed) = unpack(w);
        let mut t = h.tasks.word.load(Ordering::Relaxed);
        // Killed between adding the task and publishing its message: take the task back.
        while (t >> 32) as u32 & COUNT_MASK != committed {
            let unfinished = (t as u32).saturating_sub(1) as u64;
            let added = ((t >> 32) as u32).wrapping_sub(1) as u64;
            match h.tasks.word.compare_exchange(
                t,
                unfinished | added << 32,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(v) => t = v,
            }
        }
    }

    fn publish(&self, w: u64) {
        LAST_WRITTEN.set(self.ring.base);
        let h = self.h();
        store_then_look(&h.put.word, w);
        h.data.notify();
        h.pollers.notify();
    }

    /// Waits on the read word (space, maxsize).
    fn wait_read(&self, ready: impl Fn(u64) -> bool, deadline: Option<Instant>) -> bool {
        let h = self.h();
        if ready(h.put.seen.load(Ordering::Relaxed)) {
            return true;
        }
        let us = LAST_READ.get() == self.ring.base;
        h.space
            .wait(&h.get.word, &h.put.seen, ready, deadline, us, || {})
    }

    /// Waits for `need` free bytes.
    fn wait_free(&self, tail: u32, need: usize, deadline: Option<Instant>) -> bool {
        let cap = self.ring.capacity();
        self.wait_read(
            |read| cap - tail.wrapping_sub(unpack(read).0) as usize >= need,
            deadline,
        )
    }

    fn write_header(&self, pos: u32, len: usize, flags: u32) {
        let v = len as u64 | (flags as u64) << 32;
        // SAFETY: `pos` is 8-aligned and the record fits before the ring's end (callers
        // check), in bytes no reader looks at until the next publish.
        unsafe { self.ring.ring_ptr(pos).cast::<u64>().write(v) };
    }

    fn write_whole(
        &mut self,
        parts: &[&[u8]],
        total: usize,
        deadline: Option<Instant>,
        task: bool,
    ) -> Result<(), WriteError> {
        let cap = self.ring.capacity();
        let (mut tail, committed) = unpack(self.h().put.word.load(Ordering::Relaxed));
        let rec = HEADER + align8(total);
        let to_end = cap - (tail as usize & (cap - 1));
        let need = if to_end < rec { to_end + rec } else { rec };
        if !self.wait_free(tail, need, deadline) {
            return Err(WriteError::Full);
        }
        if to_end < rec {
            self.write_header(tail, to_end - HEADER, PAD);
            tail = tail.wrapping_add(to_end as u32);
        }
        self.write_header(tail, total, FIRST | LAST);
        copy_parts(
            parts,
            0,
            total,
            self.ring.ring_ptr(tail.wrapping_add(HEADER as u32)),
        );
        if task {
            self.h().tasks.word.fetch_add(1 | 1 << 32, Ordering::AcqRel);
        }
        self.publish(pack_write(
            tail.wrapping_add(rec as u32),
            committed.wrapping_add(1),
            false,
        ));
        self.mid = false;
        Ok(())
    }

    fn write_streamed(
        &mut self,
        parts: &[&[u8]],
        total: usize,
        deadline: Option<Instant>,
        task: bool,
    ) -> Result<(), WriteError> {
        let cap = self.ring.capacity();
        let chunk_max = self.ring.whole_max();
        // Wake the reader in steps of at least this much, not for every few bytes.
        let step = cap / 16;
        let (mut tail, committed) = unpack(self.h().put.word.load(Ordering::Relaxed));
        let mut done = 0;
        loop {
            let first = done == 0;
            let extra = if first { 8 } else { 0 };
            let remaining = total - done;
            let want = HEADER + extra + align8(remaining.min(step));
            if !self.wait_free(tail, want, deadline) {
                // Abandon the half message (Drop clears MID); readers drop what they have.
                return Err(WriteError::Full);
            }
            let (head, _) = unpack(self.h().put.seen.load(Ordering::Relaxed));
            let free = cap - tail.wrapping_sub(head) as usize;
            let to_end = cap - (tail as usize & (cap - 1));
            if to_end < want {
                self.write_header(tail, to_end - HEADER, PAD);
                tail = tail.wrapping_add(to_end as u32);
                continue;
            }
            let room = free.min(to_end).min(HEADER + extra + chunk_max);
            let len = remaining.min(room - HEADER - extra);
            let last = len == remaining;
            let flags = if first { FIRST } else { 0 } | if last { LAST } else { 0 };
            self.write_header(tail, extra + len, flags);
            let mut at = tail.wrapping_add(HEADER as u32);
            if first {
                // SAFETY: 8-aligned, inside the record just sized.
                unsafe { self.ring.ring_ptr(at).cast::<u64>().write(total as u64) };
                at = at.wrapping_add(8);
            }
            copy_parts(parts, done, len, self.ring.ring_ptr(at));
            done += len;
            tail = tail.wrapping_add((HEADER + align8(extra + len)) as u32);
            if last {
                if task {
                    self.h().tasks.word.fetch_add(1 | 1 << 32, Ordering::AcqRel);
                }
                self.publish(pack_write(tail, committed.wrapping_add(1), false));
                self.mid = false;
                return Ok(());
            }
            self.mid = true;
            self.publish(pack_write(tail, committed, true));
        }
    }
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        let h = self.h();
        if self.mid {
            let w = h.put.word.load(Ordering::Relaxed);
            self.publish(w & !MID);
        }
        h.put.lock.unlock(self.held);
    }
}

/// Copies `len` bytes starting at offset `from` of the concatenation of `parts` to `dst`.
fn copy_parts(parts: &[&[u8]], mut from: usize, mut len: usize, mut dst: *mut u8) {
    for p in parts {
        if len == 0 {
            break;
        }
        if from >= p.len() {
            from -= p.len();
            continue;
        }
        let n = (p.len() - from).min(len);
        // SAFETY: `dst` has `len` writable bytes in the ring (the caller sized the record),
        // reserved by the put lock and not yet published; `p[from..from + n]` is in bounds.
        unsafe {
            std::ptr::copy_nonoverlapping(p.as_ptr().add(from), dst, n);
            dst = dst.add(n);
        }
        len -= n;
        from = 0;
    }
}

/// The get-lock holder; releases the lock on drop.
struct Reader<'a> {
    ring: &'a Ring,
    held: Held,
}

/// One record, as read at the head.
struct Record {
    len: usize,
    flags: u32,
    size: u32,
}

impl Reader<'_> {
    fn h(&self) -> &Header {
        self.ring.h()
    }

    fn store(&self, head: u32, consumed: u32) {
        LAST_READ.set(self.ring.base);
        let h = self.h();
        store_then_look(&h.get.word, pack_read(head, consumed));
        h.space.notify();
    }

    /// Waits until the write word satisfies `ready`. While `mid_message`, checks every slice
    /// whether the writer's process died, and if so takes its lock and ends the message.
    fn wait_write(
        &self,
        ready: impl Fn(u64) -> bool,
        deadline: Option<Instant>,
        mid_message: bool,
    ) -> bool {
        let h = self.h();
        if ready(h.get.seen.load(Ordering::Relaxed)) {
            return true;
        }
        let us = LAST_WRITTEN.get() == self.ring.base;
        h.data
            .wait(&h.put.word, &h.get.seen, ready, deadline, us, || {
                if mid_message {
                    self.check_writer();
                }
            })
    }

    /// The writer has been silent mid-message for a while: if it died, end its message.
    #[cold]
    fn check_writer(&self) {
        // Never block on the put lock while holding the get lock: a live writer may be
        // waiting for us to free space.
        if let Some(got) = self.h().put.lock.try_lock_checked() {
            let mut w = Writer {
                ring: self.ring,
                held: got.held,
                mid: false,
            };
            if got.died {
                w.recover();
            }
            // Dropping `w` releases the put lock.
        }
    }

    fn record(&self, head: u32, tail: u32) -> Result<Record, ReadError> {
        let cap = self.ring.capacity();
        // SAFETY: `head` is 8-aligned and below `tail`: a published record starts here.
        let v = unsafe { self.ring.ring_ptr(head).cast::<u64>().read() };
        let (len, flags) = (v as u32 as usize, (v >> 32) as u32);
        let size = HEADER + align8(len);
        let to_end = cap - (head as usize & (cap - 1));
        if size > to_end
            || size > tail.wrapping_sub(head) as usize
            || flags & !(FIRST | LAST | PAD) != 0
        {
            return Err(ReadError::Corrupt(format!(
                "bad record at {head}: length {len}, flags {flags:#x}"
            )));
        }
        Ok(Record {
            len,
            flags,
            size: size as u32,
        })
    }

    fn payload(&self, head: u32, len: usize) -> &[u8] {
        // SAFETY: the record `[head, head + 8 + len)` is published, lies before the ring's
        // end (checked by `record`), and no writer touches it until we store a head past it.
        unsafe {
            std::slice::from_raw_parts(self.ring.ring_ptr(head.wrapping_add(HEADER as u32)), len)
        }
    }

    fn read<S: Sink>(
        &mut self,
        sink: &mut S,
        deadline: Option<Instant>,
    ) -> Result<S::Out, ReadError> {
        let h = self.h();
        let (mut head, mut consumed) = unpack(h.get.word.load(Ordering::Relaxed));
        let max = self.ring.max_message();
        'message: loop {
            // At a message boundary.
            let ready = |w: u64| unpack(w).0 != head;
            if !self.wait_write(ready, deadline, false) {
                return Err(ReadError::Empty);
            }
            let (tail, _) = unpack(h.get.seen.load(Ordering::Relaxed));
            let rec = self
                .record(head, tail)
                .inspect_err(|_| self.store(tail, consumed))?;
            if rec.flags & PAD != 0 || rec.flags & FIRST == 0 {
                // Filler, or the rest of a message whose reader died: skip.
                if rec.flags & (PAD | LAST) == LAST {
                    consumed = consumed.wrapping_add(1);
                }
                head = head.wrapping_add(rec.size);
                self.store(head, consumed);
                continue;
            }
            if rec.flags & LAST != 0 {
                // A whole message: decode in place, then free it (also if decoding panics).
                let next = head.wrapping_add(rec.size);
                // Dropped where it stands at the end of the block (an explicit `drop` would
                // move it, and reloading the just-written struct stalls store forwarding).
                let out = {
                    let release = Release {
                        reader: self,
                        head: next,
                        consumed: consumed.wrapping_add(1),
                    };
                    sink.whole(release.reader.payload(head, rec.len))
                };
                return Ok(out);
            }
            // A streamed message.
            let p = self.payload(head, rec.len);
            if rec.len < 8 {
                self.store(tail, consumed);
                return Err(ReadError::Corrupt(
                    "streamed message without its length".into(),
                ));
            }
            let total = u64::from_ne_bytes(p[..8].try_into().expect("8 bytes"));
            let too_large = total > max;
            if !too_large {
                sink.begin(total as usize);
                sink.extend(&p[8..]);
            }
            let mut got = rec.len - 8;
            head = head.wrapping_add(rec.size);
            self.store(head, consumed);
            loop {
                let ready = |w: u64| unpack(w).0 != head || w & MID == 0;
                self.wait_write(ready, None, true);
                let w = h.get.seen.load(Ordering::Relaxed);
                let (tail, _) = unpack(w);
                if tail == head {
                    // The stream ended without its last record: the writer gave up or died.
                    continue 'message;
                }
                let rec = self
                    .record(head, tail)
                    .inspect_err(|_| self.store(tail, consumed))?;
                if rec.flags & FIRST != 0 {
                    // A new message began: this one was abandoned.
                    continue 'message;
                }
                head = head.wrapping_add(rec.size);
                if rec.flags & PAD != 0 {
                    self.store(head, consumed);
                    continue;
                }
                got += rec.len;
                if got as u64 > total {
                    self.store(tail, consumed);
                    return Err(ReadError::Corrupt(format!(
                        "streamed message longer than its announced {total} bytes"
                    )));
                }
                if !too_large {
                    let bytes = self.payload(head.wrapping_sub(rec.size), rec.len);
                    sink.extend(bytes);
                }
                if rec.flags & LAST != 0 {
                    consumed = consumed.wrapping_add(1);
                    self.store(head, consumed);
                    if too_large {
                        return Err(ReadError::TooLarge { len: total, max });
                    }
                    return Ok(sink.finish());
                }
                self.store(head, consumed);
            }
        }
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        self.h().get.lock.unlock(self.held);
    }
}

/// Frees a whole message once decoded, even if decoding panicked.
struct Release<'r, 'a> {
    reader: &'r Reader<'a>,
    head: u32,
    consumed: u32,
}

impl Drop for Release<'_, '_> {
    fn drop(&mut self) {
        self.reader.store(self.head, self.consumed);
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
