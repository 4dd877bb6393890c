//! `Value<T>` and `Array<T>` (≈ `multiprocessing.Value` / `Array` with `lock=True`): plain
//! data in shared memory behind a process-shared `RLock`.

use std::fmt;
use std::marker::PhantomData;

use bytemuck::Pod;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::mapping::Backing;
use crate::mempool::SharedHeap;
use crate::sync::{RLock, RLockGuard};

/// Layout: the lock, the element count, padding to `T`'s alignment, then the elements.
#[repr(C)]
struct Header {
    lock: RLock,
    len: usize,
}

fn data_offset<T>() -> usize {
    size_of::<Header>().next_multiple_of(align_of::<T>())
}

/// Plain data of type `T` in shared memory with its lock: one value ([`Value`]) or many
/// ([`Array`]).
struct Block<T: Pod> {
    map: Backing,
    _t: PhantomData<T>,
}

impl<T: Pod> Block<T> {
    fn new(items: &[T], heap: Option<&SharedHeap>) -> std::io::Result<Block<T>> {
        let map = Backing::create(
            heap,
            data_offset::<T>() + size_of_val(items),
            align_of::<Header>().max(align_of::<T>()),
        )?;
        // SAFETY: the fresh, zeroed memory (a page-aligned segment, or a heap block aligned
        // for both the header and `T`) is large enough for the header and `items.len()`
        // elements at `data_offset`, which is aligned for `T`; nobody else sees it yet.
        unsafe {
            map.ptr().cast::<Header>().write(Header {
                lock: RLock::new(),
                len: items.len(),
            });
            std::ptr::copy_nonoverlapping(
                items.as_ptr(),
                map.ptr().add(data_offset::<T>()).cast::<T>(),
                items.len(),
            );
        }
        let block = Block {
            map,
            _t: PhantomData,
        };
        block.lock().make_robust();
        Ok(block)
    }

    /// `len` zeroed elements, written straight into the fresh segment (no `Vec` of them
    /// first: an array of many gigabytes costs no private memory, and a length whose bytes
    /// overflow `usize` is an error, not a panic).
    fn zeroed(len: usize, heap: Option<&SharedHeap>) -> std::io::Result<Block<T>> {
        let size = len
            .checked_mul(size_of::<T>())
            .and_then(|n| n.checked_add(data_offset::<T>()))
            .filter(|&n| n <= isize::MAX as usize)
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "an array of {len} elements of {} bytes does not fit in memory",
                        size_of::<T>()
                    ),
                )
            })?;
        let map = Backing::create(heap, size, align_of::<Header>().max(align_of::<T>()))?;
        // SAFETY: as in `new`: the memory is fresh, large enough and aligned; all-zero bytes
        // are a valid `T` (`Pod: Zeroable`). A heap block may hold old bytes: zeroed here
        // (a segment is zero-filled by the kernel already, so it is not touched).
        unsafe {
            if matches!(map, Backing::Heap(_)) {
                std::ptr::write_bytes(map.ptr().add(data_offset::<T>()), 0, len * size_of::<T>());
            }
            map.ptr().cast::<Header>().write(Header {
                lock: RLock::new(),
                len,
            });
        }
        let block = Block {
            map,
            _t: PhantomData,
        };
        block.lock().make_robust();
        Ok(block)
    }

    fn header(&self) -> &Header {
        // SAFETY: written by `new` (checked for size on arrival from another process).
        unsafe { &*self.map.ptr().cast::<Header>() }
    }

    fn len(&self) -> usize {
        self.header().len
    }

    fn lock(&self) -> &RLock {
        &self.header().lock
    }

    /// Runs `f` on the elements with the lock held.
    fn with<R>(&self, f: impl FnOnce(&mut [T]) -> R) -> R {
        let _g = self.lock().acquire();
        // SAFETY: the elements lie inside the segment (see `new`); the lock is held, and every
        // access to them goes through this method, so this is the only reference right now
        // (the RLock lets the same thread re-enter, but `f` holds the only `&mut`, and a
        // nested `with` from inside `f` would need that borrow released first).
        let data = unsafe {
            std::slice::from_raw_parts_mut(
                self.map.ptr().add(data_offset::<T>()).cast::<T>(),
                self.len(),
            )
        };
        f(data)
    }

    fn check(map: Backing) -> Result<Block<T>, String> {
        if map.len() < size_of::<Header>() {
            return Err("shared segment too small".into());
        }
        let b = Block {
            map,
            _t: PhantomData,
        };
        let need = data_offset::<T>()
            .checked_add(b.len().checked_mul(size_of::<T>()).ok_or("bad length")?);
        if need.is_none_or(|n| n > b.map.len()) {
            return Err("shared segment smaller than its contents".into());
        }
        Ok(b)
    }
}

impl<T: Pod> Clone for Block<T> {
    fn clone(&self) -> Self {
        Block {
            map: self.map.clone(),
            _t: PhantomData,
        }
    }
}

/// One `T` in shared memory with a lock (≈ `multiprocessing.Value(typecode, v)`).
///
/// `get` and `set` each hold the lock; a read-modify-write (`v.value += 1` in Python) must
/// hold it across both, which is what [`with`](Value::with) does.
///
/// ```
/// use multiproc::process::Process;
/// use multiproc::shared::Value;
///
/// let counter = Value::new(0u64).unwrap();
/// let mut p = Process::new(|c: Value<u64>| for _ in 0..1000 { c.with(|v| *v += 1) }, counter.clone());
/// p.start().unwrap();
/// p.join().unwrap();
/// assert_eq!(counter.get(), 1000);
/// ```
pub struct Value<T: Pod>(Block<T>);

impl<T: Pod> Value<T> {
    /// A shared value starting at `v`.
    pub fn new(v: T) -> std::io::Result<Value<T>> {
        Ok(Value(Block::new(std::slice::from_ref(&v), None)?))
    }

    /// In a block of `heap` instead of a segment of its own (see
    /// [`Shared::new_in`](super::Shared::new_in)).
    pub fn new_in(heap: &SharedHeap, v: T) -> std::io::Result<Value<T>> {
        Ok(Value(Block::new(std::slice::from_ref(&v), Some(heap))?))
    }

    /// Reads it under the lock (`v.value`).
    pub fn get(&self) -> T {
        self.0.with(|d| d[0])
    }

    /// Writes it under the lock (`v.value = x`).
    pub fn set(&self, v: T) {
        self.0.with(|d| d[0] = v)
    }

    /// Runs `f` on the value with the lock held: `with v.get_lock(): v.value += 1`.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        self.0.with(|d| f(&mut d[0]))
    }

    /// The lock (`get_lock()`), to hold it across several operations.
    pub fn get_lock(&self) -> &RLock {
        self.0.lock()
    }

    /// Acquires the lock (`with v.get_lock():`).
    pub fn acquire(&self) -> RLockGuard<'_> {
        self.0.lock().acquire()
    }
}

/// A fixed-length array of `T` in shared memory with a lock (≈ `multiprocessing.Array`).
///
/// ```
/// use multiproc::shared::Array;
/// let a = Array::from_slice(&[1i32, 2, 3]).unwrap();
/// a.set(1, 20);
/// assert_eq!(a.to_vec(), [1, 20, 3]);
/// assert_eq!(a.len(), 3);
/// ```
pub struct Array<T: Pod>(Block<T>);

impl<T: Pod> Array<T> {
    /// `len` zeroed elements (`Array('i', 10)`).
    pub fn zeroed(len: usize) -> std::io::Result<Array<T>> {
        Ok(Array(Block::zeroed(len, None)?))
    }

    /// `len` zeroed elements in a block of `heap` (see
    /// [`Shared::new_in`](super::Shared::new_in)).
    pub fn zeroed_in(heap: &SharedHeap, len: usize) -> std::io::Result<Array<T>> {
        Ok(Array(Block::zeroed(len, Some(heap))?))
    }

    /// A copy of `items` (`Array('i', [1, 2, 3])`).
    pub fn from_slice(items: &[T]) -> std::io::Result<Array<T>> {
        Ok(Array(Block::new(items, None)?))
    }

    /// A copy of `items` in a block of `heap` (see
    /// [`Shared::new_in`](super::Shared::new_in)).
    pub fn from_slice_in(heap: &SharedHeap, items: &[T]) -> std::io::Result<Array<T>> {
        Ok(Array(Block::new(items, Some(heap))?))
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i` (under the lock), or `None` past the end (Python's `IndexError`).
    pub fn get(&self, i: usize) -> Option<T> {
        self.0.with(|d| d.get(i).copied())
    }

    /// Sets element `i` (under the lock); `false` past the end.
    pub fn set(&self, i: usize, v: T) -> bool {
        self.0.with(|d| d.get_mut(i).map(|x| *x = v).is_some())
    }

    /// A copy of every element (`a[:]`).
    pub fn to_vec(&self) -> Vec<T> {
        self.0.with(|d| d.to_vec())
    }

    /// Runs `f` on the elements with the lock held.
    pub fn with<R>(&self, f: impl FnOnce(&mut [T]) -> R) -> R {
        self.0.with(f)
    }

    /// The lock (`get_lock()`).
    pub fn get_lock(&self) -> &RLock {
        self.0.lock()
    }
}

impl<T: Pod> Block<T> {
    fn data_ptr(&self) -> *mut T {
        // SAFETY: `data_offset` is inside the segment (checked in `new`/`check`).
        unsafe { self.map.ptr().add(data_offset::<T>()).cast::<T>() }
    }

    /// An unlocked volatile read of element `i` (bounds checked by the caller).
    fn read_raw(&self, i: usize) -> T {
        // SAFETY: `i < len` (callers check), the element lies in the live mapping, and a
        // volatile copy never creates a reference to memory other processes may write.
        unsafe { self.data_ptr().add(i).read_volatile() }
    }

    /// An unlocked volatile write of element `i` (bounds checked by the caller).
    fn write_raw(&self, i: usize, v: T) {
        // SAFETY: as in `read_raw`.
        unsafe { self.data_ptr().add(i).write_volatile(v) }
    }
}

/// One `T` in shared memory *without* a lock (≈ `RawValue` / `Value(..., lock=False)`).
///
/// Reads and writes are single volatile copies: a `T` wider than the machine word can be read
/// half-updated while another process writes it, exactly as with Python's unlocked ctypes
/// objects. Use [`Value`] (or a `Shared<Lock>`) when that matters.
///
/// ```
/// use multiproc::shared::RawValue;
/// let flag = RawValue::new(0u32).unwrap();
/// flag.set(1);
/// assert_eq!(flag.get(), 1);
/// ```
pub struct RawValue<T: Pod>(Block<T>);

impl<T: Pod> RawValue<T> {
    /// A shared value starting at `v`.
    pub fn new(v: T) -> std::io::Result<RawValue<T>> {
        Ok(RawValue(Block::new(std::slice::from_ref(&v), None)?))
    }

    /// In a block of `heap` instead of a segment of its own (see
    /// [`Shared::new_in`](super::Shared::new_in)).
    pub fn new_in(heap: &SharedHeap, v: T) -> std::io::Result<RawValue<T>> {
        Ok(RawValue(Block::new(std::slice::from_ref(&v), Some(heap))?))
    }

    /// Reads it (no lock).
    pub fn get(&self) -> T {
        self.0.read_raw(0)
    }

    /// Writes it (no lock).
    pub fn set(&self, v: T) {
        self.0.write_raw(0, v)
    }
}

/// A fixed-length array of `T` in shared memory *without* a lock (≈ `RawArray` /
/// `Array(..., lock=False)`); element reads and writes are volatile copies, see [`RawValue`].
pub struct RawArray<T: Pod>(Block<T>);

impl<T: Pod> RawArray<T> {
    /// `len` zeroed elements.
    pub fn zeroed(len: usize) -> std::io::Result<RawArray<T>> {
        Ok(RawArray(Block::zeroed(len, None)?))
    }

    /// `len` zeroed elements in a block of `heap` (see
    /// [`Shared::new_in`](super::Shared::new_in)).
    pub fn zeroed_in(heap: &SharedHeap, len: usize) -> std::io::Result<RawArray<T>> {
        Ok(RawArray(Block::zeroed(len, Some(heap))?))
    }

    /// A copy of `items`.
    pub fn from_slice(items: &[T]) -> std::io::Result<RawArray<T>> {
        Ok(RawArray(Block::new(items, None)?))
    }

    /// A copy of `items` in a block of `heap` (see
    /// [`Shared::new_in`](super::Shared::new_in)).
    pub fn from_slice_in(heap: &SharedHeap, items: &[T]) -> std::io::Result<RawArray<T>> {
        Ok(RawArray(Block::new(items, Some(heap))?))
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i`, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<T> {
        (i < self.len()).then(|| self.0.read_raw(i))
    }

    /// Sets element `i`; `false` past the end.
    pub fn set(&self, i: usize, v: T) -> bool {
        let ok = i < self.len();
        if ok {
            self.0.write_raw(i, v);
        }
        ok
    }

    /// A copy of every element (element by element, not atomically as a whole).
    pub fn to_vec(&self) -> Vec<T> {
        (0..self.len()).map(|i| self.0.read_raw(i)).collect()
    }
}

macro_rules! handle_impls {
    ($($ty:ident),*) => {$(
        impl<T: Pod> Clone for $ty<T> {
            fn clone(&self) -> Self {
                $ty(self.0.clone())
            }
        }

        impl<T: Pod + fmt::Debug> fmt::Debug for $ty<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let items: Vec<T> = (0..self.0.len()).map(|i| self.0.read_raw(i)).collect();
                f.debug_tuple(stringify!($ty)).field(&items).finish()
            }
        }

        impl<T: Pod> Serialize for $ty<T> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.0.map.serialize(s)
            }
        }

        impl<'de, T: Pod> Deserialize<'de> for $ty<T> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let map = Backing::deserialize(d)?;
                Block::check(map).map($ty).map_err(crate::wire::de_error)
            }
        }
    )*};
}

handle_impls!(Value, Array, RawValue, RawArray);
