//! [`SharedHeap`]: the memory pool in shared memory. The design is on the type; the locked
//! part and its crash recovery in `heap.rs`, thread caches in `cache.rs`, the segment's
//! layout in `layout.rs`.
mod cache;
mod heap;
mod layout;
mod object;

pub(crate) use object::HeapObject;

use std::alloc::Layout;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use bytemuck::Pod;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use heap::Recovered;

use super::{ARENA_SIZE, ClassStats, NB_SMALL_SIZE_CLASSES, SMALL_REQUEST_THRESHOLD, Stats};
use super::{class_size, size_class};
use crate::primitive::current_pid;
use crate::sys::shm::Segment;
use layout::{Header, MAGIC, MAX_ARENAS};

/// Alignment served from pools (larger alignments take whole arenas, up to a page).
const MAX_POOL_ALIGN: usize = 64;

/// A heap in shared memory, usable by every process it is passed to (as a `Process` argument
/// or inside a `Connection` message). Clone it to share it between threads.
///
/// The pool's geometry inside one shared-memory segment, for blocks that
/// several processes use (≈ `multiprocessing.heap`, the arena behind CPython's
/// `sharedctypes`, with pymalloc's layout).
///
/// - **Same geometry** as the in-process pool: 16-byte classes up to 512 bytes, 16 KiB pools,
///   1 MiB arenas. Requests above 512 bytes (or aligned to more than 64) take whole arenas:
///   the segment is the only "system" every process can see.
/// - **Offsets, not pointers**: each process maps the segment at its own address, so every
///   link, and every block handed to another process, is an offset from the segment's start.
///   [`SharedBox::into_raw`] gives a [`RawBlock`] (an offset) that can travel on a
///   [`Queue`](crate::process::Queue) or a `Connection`; [`SharedHeap::from_raw`] takes it back
///   on the other side, after checking that it names a block of this heap of the right size
///   class (whether the block is still in use, only the program knows: ownership travels with
///   the `RawBlock`).
/// - **Per-thread caches in shared memory**: each thread that uses the heap owns a slot in its
///   header holding its free blocks, moved to and from the pools in batches under one robust
///   lock. Alloc and free touch only the slot: no lock, no atomic read-modify-write.
/// - **A process that dies loses nothing it had cached**: a slot whose thread is gone (checked
///   by tid and start time, so a recycled id does not fool it) is emptied back into the pools
///   by whoever needs room, by [`SharedHeap::recover`], or by the next locker when the dead
///   process held the heap lock; that last case also rebuilds the heap's bookkeeping from
///   the pools' free lists (see `heap.rs`). Blocks the dead process had *in use* stay in use:
///   another process may hold them (a message in flight), and only the program knows.
/// - **Memory is taken and returned per arena**: the segment is a sparse memfd of the
///   capacity asked for; an arena takes memory when it comes into use (`fallocate`, so a
///   full machine is an allocation failure, not a SIGBUS) and gives it back when it is free.
///
/// ```
/// use multiproc::mempool::SharedHeap;
/// use multiproc::process::{Process, Queue};
/// use multiproc::mempool::RawBlock;
///
/// #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
/// #[repr(C)]
/// struct Reading { sensor: u32, value: f32 }
///
/// let heap = SharedHeap::new(64 << 20).unwrap();          // 64 MiB, taken as used
/// let q: Queue<RawBlock> = Queue::new(0).unwrap();
/// let mut child = Process::new(
///     |(heap, q): (SharedHeap, Queue<RawBlock>)| {
///         let b = heap.boxed(Reading { sensor: 7, value: 21.5 }).unwrap();
///         q.put(b.into_raw()).unwrap();                   // hand the block over, no copy
///     },
///     (heap.clone(), q.clone()),
/// );
/// child.start().unwrap();
/// let raw = q.get().unwrap();
/// // SAFETY: the child gave up the block when it sent it; nobody else holds it.
/// let reading = unsafe { heap.from_raw::<Reading>(raw) }.unwrap();
/// assert_eq!(*reading, Reading { sensor: 7, value: 21.5 });
/// drop(reading);                                          // freed here, into our cache
/// child.join().unwrap();
/// println!("{}", heap.stats());
/// ```
///
/// # Objects in a heap
///
/// `Shared::new_in`, `Value::new_in`, `RawValue::new_in`, `Array::zeroed_in`/`from_slice_in`
/// and `RawArray::zeroed_in`/`from_slice_in` place a synchronisation object or shared data in
/// a heap block instead of a segment of its own: no file descriptor and no page each (5,000
/// `Lock`s cost 5,000 × 32 bytes and one fd, where their own segments would need 5,000 fds,
/// past the usual limit of 1,024). A whole message of them sends the heap's fd once.
///
/// Their handles count references across processes: clone adds one, sending adds one for
/// the receiver, drop removes one, the last frees the block. Two differences from objects in
/// their own segment, whose lifetime the kernel keeps:
///
/// - a process killed while holding handles never gives its references back, nor does a
///   message that carried a handle and was never received: those blocks stay in use until
///   the heap goes (when no process maps it any more);
/// - a handle captured by a `fork_target` closure (inherited, not sent) holds no reference of
///   its own: it is valid while the parent keeps one. `Process` arguments are sent, with every
///   start method, so they count.
///
/// ```
/// use multiproc::mempool::SharedHeap;
/// use multiproc::shared::{Shared, Value};
/// use multiproc::sync::Lock;
///
/// let heap = SharedHeap::new(16 << 20).unwrap();
/// let locks: Vec<Shared<Lock>> =
///     (0..1000).map(|_| Shared::new_in(&heap, Lock::new()).unwrap()).collect();
/// let total = Value::new_in(&heap, 0u64).unwrap();
/// total.with(|t| *t += locks.len() as u64);
/// assert_eq!(total.get(), 1000);
/// ```
#[derive(Clone)]
pub struct SharedHeap {
    inner: Arc<Inner>,
}

/// One process's attachment to a heap.
struct Inner {
    seg: Segment,
    /// Unique in this process (a counter): tells attachments apart in thread-local lookups
    /// and slot records, even when one heap is attached twice or an address is reused.
    id: u64,
}

impl Inner {
    fn new(seg: Segment) -> Arc<Inner> {
        // after-fork: kept (ids need only be unique within a process)
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Arc::new(Inner {
            seg,
            id: NEXT.fetch_add(1, Relaxed),
        })
    }

    #[inline]
    fn base(&self) -> *mut u8 {
        self.seg.ptr().as_ptr()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // No handle is left in this process, so none of its threads is using its slots: give
        // their caches back now rather than when the threads end.
        let pid = current_pid();
        let mut h = heap::lock(&self.seg);
        for i in 0..layout::MAX_SLOTS {
            let s = &h.header().slots[i];
            if s.tid.load(Relaxed) != 0
                && s.pid.load(Relaxed) == pid
                && s.instance.load(Relaxed) == self.id
            {
                h.release_slot(i);
            }
        }
    }
}

pub use crate::error::HeapFull;

/// A [`RawBlock`] that does not name a block of the expected size in this heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("offset {offset} does not name a block of {size} bytes in this shared heap")]
pub struct InvalidBlock {
    /// The offset given.
    pub offset: u64,
    /// The size expected.
    pub size: u64,
}

/// A block of a [`SharedHeap`] as it travels between processes: its offset and size. Plain
/// data (`Serialize`, `Copy`); ownership travels with it by convention, as with a raw pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RawBlock {
    /// Bytes from the start of the heap's segment.
    pub offset: u64,
    /// Size of the value in it.
    pub size: u64,
}

/// Where a layout is served from.
enum Kind {
    Zero,
    Small(usize),
    Large,
}

#[inline]
fn kind(layout: Layout) -> Option<Kind> {
    if layout.size() == 0 {
        return Some(Kind::Zero);
    }
    if layout.align() <= MAX_POOL_ALIGN {
        let size = layout
            .size()
            .next_multiple_of(layout.align().max(super::ALIGNMENT));
        if size <= SMALL_REQUEST_THRESHOLD {
            return Some(Kind::Small(size_class(size)));
        }
    }
    (layout.align() <= 4096).then_some(Kind::Large)
}

impl SharedHeap {
    /// A new heap able to hold about `capacity` bytes (rounded up to whole 1 MiB arenas, at
    /// most 4 GiB). It takes memory only as arenas come into use.
    pub fn new(capacity: usize) -> std::io::Result<SharedHeap> {
        let arenas = (capacity.div_ceil(ARENA_SIZE) + 1).clamp(2, MAX_ARENAS);
        let len = arenas * ARENA_SIZE;
        let seg = Segment::create_sparse(len)?;
        seg.reserve(0, size_of::<Header>())?;
        let h = heap::header(&seg);
        h.capacity.store(len as u64, Relaxed);
        h.lock.make_robust();
        h.magic.store(MAGIC, Release);
        Ok(SharedHeap {
            inner: Inner::new(seg),
        })
    }

    /// Bytes the segment spans (the header's arena included).
    pub fn capacity(&self) -> usize {
        self.inner.seg.len()
    }

    /// A block for `layout`, valid in this process at the address returned (other processes
    /// reach it by [`offset_of`](Self::offset_of)); `None` if the heap is full. Zero-size
    /// layouts get a dangling, aligned pointer.
    #[inline(always)]
    pub fn alloc(&self, layout: Layout) -> Option<NonNull<u8>> {
        let off = match kind(layout)? {
            Kind::Zero => return NonNull::new(layout.align() as *mut u8),
            Kind::Small(class) => cache::alloc(&self.inner, class)?,
            Kind::Large => self.alloc_large(layout.size())?,
        };
        // SAFETY: `off` is inside the segment.
        NonNull::new(unsafe { self.inner.base().add(off as usize) })
    }

    #[cold]
    fn alloc_large(&self, size: usize) -> Option<u64> {
        let mut h = heap::lock(&self.inner.seg);
        h.alloc_large(size).or_else(|| {
            // Room may be cached by threads that died.
            h.recover(false);
            h.alloc_large(size)
        })
    }

    /// Frees a block from [`alloc`](Self::alloc) (in any process: after `at`).
    ///
    /// # Safety
    /// `ptr` is a block of this heap allocated with `layout`, and nobody uses it afterwards.
    #[inline(always)]
    pub unsafe fn dealloc(&self, ptr: NonNull<u8>, layout: Layout) {
        let off = self.offset_of(ptr);
        match kind(layout) {
            Some(Kind::Small(class)) => {
                // SAFETY: the caller's.
                unsafe { cache::free(&self.inner, class, off) }
            }
            Some(Kind::Large) => self.free_large(off),
            _ => {}
        }
    }

    #[cold]
    fn free_large(&self, off: u64) {
        let mut h = heap::lock(&self.inner.seg);
        if h.large_len(off).is_some() {
            // SAFETY: the caller of `dealloc` gave it up.
            unsafe { h.free_large(off) };
        }
    }

    /// The offset of a pointer into this heap.
    #[inline]
    pub fn offset_of(&self, ptr: NonNull<u8>) -> u64 {
        (ptr.as_ptr() as usize - self.inner.base() as usize) as u64
    }

    /// The address, in this process, of the byte at `offset`.
    ///
    /// # Panics
    /// If `offset` is outside the heap.
    pub fn at(&self, offset: u64) -> NonNull<u8> {
        assert!(
            (offset as usize) < self.capacity(),
            "offset outside the heap"
        );
        // SAFETY: inside the segment.
        NonNull::new(unsafe { self.inner.base().add(offset as usize) }).expect("mapped")
    }

    /// Moves `value` into a block of the heap.
    pub fn boxed<T: Pod>(&self, value: T) -> Result<SharedBox<'_, T>, HeapFull> {
        let ptr = self.alloc(Layout::new::<T>()).ok_or(HeapFull {
            requested: size_of::<T>(),
            capacity: self.capacity(),
        })?;
        let ptr = ptr.cast::<T>();
        // SAFETY: a fresh block for a `T`, aligned (16, or the layout's alignment).
        unsafe { ptr.write(value) };
        Ok(SharedBox {
            heap: self,
            ptr,
            _t: PhantomData,
        })
    }

    /// Takes ownership of a block another thread or process gave up with
    /// [`SharedBox::into_raw`], after checking that `raw` names a block of this heap in `T`'s
    /// size class (a garbage offset is refused; a block already freed is not detected).
    ///
    /// # Safety
    /// Nobody else owns the block: each `RawBlock` is taken back at most once.
    pub unsafe fn from_raw<T: Pod>(&self, raw: RawBlock) -> Result<SharedBox<'_, T>, InvalidBlock> {
        let bad = InvalidBlock {
            offset: raw.offset,
            size: size_of::<T>() as u64,
        };
        if raw.size != size_of::<T>() as u64 {
            return Err(bad);
        }
        let ok = match kind(Layout::new::<T>()) {
            Some(Kind::Zero) => raw.offset == 0,
            Some(Kind::Small(class)) => {
                let h = heap::lock(&self.inner.seg);
                h.valid_block(raw.offset).is_some_and(|(_, c)| c == class)
            }
            Some(Kind::Large) => {
                let h = heap::lock(&self.inner.seg);
                h.large_len(raw.offset)
                    .is_some_and(|n| n * ARENA_SIZE >= size_of::<T>())
            }
            None => false,
        };
        if !ok {
            return Err(bad);
        }
        let ptr = if size_of::<T>() == 0 {
            NonNull::dangling()
        } else {
            self.at(raw.offset).cast::<T>()
        };
        Ok(SharedBox {
            heap: self,
            ptr,
            _t: PhantomData,
        })
    }

    /// Whether `off` is the start of a block carved from this heap (small or large).
    pub(crate) fn is_block_start(&self, off: u64) -> bool {
        let h = heap::lock(&self.inner.seg);
        h.valid_block(off).is_some() || h.large_len(off).is_some()
    }

    /// Gives back the caches of threads (in any process) that died, and repairs the heap's
    /// bookkeeping; returns what came back. Also happens on its own when the heap runs out of
    /// room or of slots, and when a process dies holding the heap lock.
    pub fn recover(&self) -> Recovered {
        heap::lock(&self.inner.seg).recover(false)
    }

    /// Returns the calling thread's cached blocks to the pools (so empty arenas can go back
    /// to the system) and frees its slot; it takes a new one on next use.
    pub fn trim(&self) {
        cache::release_here(&self.inner);
    }

    /// Test hook (feature `test-hooks`, for this crate's tests only): ends the process while
    /// it holds the heap lock, halfway through moving a block of `size` bytes from a pool to
    /// its cache (the worst moment to die).
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn __die_mid_refill(&self, size: usize) -> ! {
        cache::die_mid_refill(&self.inner, size_class(size))
    }

    /// A snapshot of the heap, across all processes (≈ `sys._debugmallocstats()`).
    pub fn stats(&self) -> SharedStats {
        let mine = cache::claimed_slot(&self.inner);
        let h = heap::lock(&self.inner.seg);
        let mut classes: Vec<ClassStats> = (0..NB_SMALL_SIZE_CLASSES)
            .map(|c| ClassStats {
                size: class_size(c),
                ..ClassStats::default()
            })
            .collect();
        let (arenas, pools_free, large_blocks, large_bytes) = h.walk(|class, used, cap| {
            let c = &mut classes[class];
            c.pools += 1;
            c.blocks_in_use += used;
            c.blocks_free += cap - used;
        });
        let mut caching_threads = 0;
        for (i, s) in h.header().slots.iter().enumerate() {
            if s.tid.load(Relaxed) == 0 {
                continue;
            }
            caching_threads += 1;
            for (c, bin) in classes.iter_mut().zip(&s.bins) {
                let n = bin.count.load(Relaxed) as usize;
                if Some(i) == mine {
                    c.cached_here += n;
                } else {
                    c.cached_between_threads += n;
                }
            }
        }
        let (allocated, freed, slots_recovered, blocks_recovered) = h.totals();
        SharedStats {
            pools: Stats {
                arenas,
                arenas_allocated_total: allocated,
                arenas_freed_total: freed,
                pools_free,
                classes,
            },
            large_blocks,
            large_bytes,
            caching_threads,
            slots_recovered_total: slots_recovered,
            blocks_recovered_total: blocks_recovered,
            capacity: self.capacity(),
        }
    }
}

impl fmt::Debug for SharedHeap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedHeap")
            .field("capacity", &self.capacity())
            .finish_non_exhaustive()
    }
}

impl Serialize for SharedHeap {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::wire::handle::carry("SharedHeap", self.inner.seg.fd())
            .map_err(crate::wire::ser_error)?
            .serialize(s)
    }
}

impl<'de> Deserialize<'de> for SharedHeap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let carried = crate::wire::handle::Carried::deserialize(d)?;
        let fd = crate::wire::handle::receive(carried).map_err(D::Error::custom)?;
        let key = attach_key(&fd).map_err(D::Error::custom)?;
        if let Some(inner) = attached(key, None) {
            // Already mapped here: one attachment per process, however many handles arrive.
            return Ok(SharedHeap { inner });
        }
        let seg = Segment::map(fd).map_err(D::Error::custom)?;
        let ok = seg.len() >= 2 * ARENA_SIZE && {
            let h = heap::header(&seg);
            h.magic.load(Acquire) == MAGIC && h.capacity.load(Relaxed) == seg.len() as u64
        };
        if !ok {
            return Err(D::Error::custom("not a multiproc shared heap"));
        }
        let inner = Inner::new(seg);
        Ok(SharedHeap {
            inner: attached(key, Some(&inner)).unwrap_or(inner),
        })
    }
}

/// Identifies a heap's memfd (device, inode).
fn attach_key(fd: &std::os::fd::OwnedFd) -> std::io::Result<(u64, u64)> {
    crate::sys::io::file_key(std::os::fd::AsFd::as_fd(fd))
}

/// The heaps attached in this process, so that handles arriving one by one share one mapping.
/// With `add`, records it (unless another attachment won the race: that one is returned);
/// without, looks up. Never blocks: the registry is only an economy, so if its lock is busy
/// (or was held by another thread at `fork`) the heap is simply mapped again.
fn attached(key: (u64, u64), add: Option<&Arc<Inner>>) -> Option<Arc<Inner>> {
    use std::collections::HashMap;
    use std::sync::{Mutex, Weak};
    type Registry = HashMap<(u64, u64), Weak<Inner>>;
    // after-fork: kept (only ever try_lock-ed: a lock held at the fork means the child maps again)
    static ATTACHED: Mutex<Option<Registry>> = Mutex::new(None);
    let mut g = ATTACHED.try_lock().ok()?;
    let map = g.get_or_insert_with(HashMap::new);
    map.retain(|_, w| w.strong_count() > 0);
    if let Some(inner) = map.get(&key).and_then(Weak::upgrade) {
        return Some(inner);
    }
    if let Some(inner) = add {
        map.insert(key, Arc::downgrade(inner));
    }
    None
}

/// A `T` in a [`SharedHeap`] block, owned like a `Box`: freed on drop (into the dropping
/// thread's cache, whichever process allocated it).
pub struct SharedBox<'h, T: Pod> {
    heap: &'h SharedHeap,
    ptr: NonNull<T>,
    _t: PhantomData<T>,
}

impl<T: Pod> SharedBox<'_, T> {
    /// Gives the block up as a [`RawBlock`] to send to another thread or process, which takes
    /// it back with [`SharedHeap::from_raw`]. Not freed here.
    pub fn into_raw(self) -> RawBlock {
        let raw = RawBlock {
            offset: if size_of::<T>() == 0 {
                0
            } else {
                self.heap.offset_of(self.ptr.cast())
            },
            size: size_of::<T>() as u64,
        };
        std::mem::forget(self);
        raw
    }

    /// The block's offset in the heap.
    pub fn offset(&self) -> u64 {
        self.heap.offset_of(self.ptr.cast())
    }
}

impl<T: Pod> Deref for SharedBox<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the block holds a `T` (written by `boxed`, or checked by `from_raw` to be a
        // block of this size; any bytes are a valid `Pod`), and this box owns it.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: Pod> DerefMut for SharedBox<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above; owned exclusively.
        unsafe { self.ptr.as_mut() }
    }
}

impl<T: Pod> Drop for SharedBox<'_, T> {
    fn drop(&mut self) {
        // SAFETY: allocated from this heap with `T`'s layout, owned by this box.
        unsafe { self.heap.dealloc(self.ptr.cast(), Layout::new::<T>()) }
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for SharedBox<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

// SAFETY: a `SharedBox` owns its `T` exclusively, like a `Box`; the heap handle is `Sync`.
unsafe impl<T: Pod + Send> Send for SharedBox<'_, T> {}
// SAFETY: as above.
unsafe impl<T: Pod + Sync> Sync for SharedBox<'_, T> {}

/// Statistics of a [`SharedHeap`], across every process using it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedStats {
    /// The pools, as for the in-process pool. `cached_here` counts the calling thread's
    /// cache; `cached_between_threads` the caches of all other threads, in every process.
    pub pools: Stats,
    /// Blocks over 512 bytes (whole arenas).
    pub large_blocks: usize,
    /// Bytes they span.
    pub large_bytes: usize,
    /// Threads holding a cache slot.
    pub caching_threads: usize,
    /// Caches of dead threads emptied, ever.
    pub slots_recovered_total: u64,
    /// Blocks those caches held.
    pub blocks_recovered_total: u64,
    /// Bytes the segment spans.
    pub capacity: usize,
}

impl SharedStats {
    /// Blocks in every cache (all threads, all processes).
    pub fn blocks_cached(&self) -> usize {
        self.pools
            .classes
            .iter()
            .map(|c| c.cached_here + c.cached_between_threads)
            .sum()
    }
}

impl fmt::Display for SharedStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.pools)?;
        writeln!(
            f,
            "# large blocks (whole arenas)      = {:>12} ({} bytes)",
            self.large_blocks, self.large_bytes
        )?;
        writeln!(
            f,
            "# threads caching / blocks cached  = {:>12} / {}",
            self.caching_threads,
            self.blocks_cached()
        )?;
        write!(
            f,
            "# dead caches recovered (blocks)   = {:>12} ({})",
            self.slots_recovered_total, self.blocks_recovered_total
        )
    }
}
