//! `Shared<T>`: one synchronisation object in shared memory, usable by every process it is
//! passed to (≈ `multiprocessing.Lock()`, `RLock()`, `Semaphore()`, `Event()`, ...).

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::mapping::Backing;
use crate::mempool::SharedHeap;
use crate::sync::{BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore};

/// Types that work when placed in memory shared between processes: their whole state is
/// position-independent futex words, with no pointers, no heap, no destructor.
///
/// # Safety
/// Implementors must be valid at any address, in any process, from a bitwise copy, and need
/// no `Drop`.
pub unsafe trait ShmSafe: Sync + Send + 'static {
    /// Refuses values that cannot be shared although their type can (a `Barrier` with an
    /// action: a closure cannot cross into another process).
    #[doc(hidden)]
    fn check_shareable(&self) -> Result<(), &'static str> {
        Ok(())
    }

    /// Called once the value is in shared memory (locks start watching for dead owners).
    #[doc(hidden)]
    fn placed_in_shared_memory(&self) {}
}

// SAFETY: a `Barrier` is a `Condition<Lock>`, atomics and plain numbers, plus an
// `Option<Box<..>>` action that `check_shareable` requires to be `None` (a null word, valid in
// every process, with nothing to drop).
unsafe impl ShmSafe for crate::sync::Barrier {
    fn check_shareable(&self) -> Result<(), &'static str> {
        if self.has_action() {
            Err(
                "a Barrier with an action cannot be shared between processes (the action is a closure)",
            )
        } else {
            Ok(())
        }
    }

    fn placed_in_shared_memory(&self) {
        self.make_robust();
    }
}

// SAFETY: each is `#[repr(C)]`/`#[repr(transparent)]` over `AtomicU32`s (and a `u32` bound),
// with no pointers and no `Drop`.
unsafe impl ShmSafe for Lock {
    fn placed_in_shared_memory(&self) {
        self.raw().make_robust();
    }
}
// SAFETY: as above.
unsafe impl ShmSafe for RLock {
    fn placed_in_shared_memory(&self) {
        self.make_robust();
    }
}
// SAFETY: as above.
unsafe impl ShmSafe for Semaphore {}
// SAFETY: as above.
unsafe impl ShmSafe for BoundedSemaphore {}
// SAFETY: as above.
unsafe impl ShmSafe for Event {}
// SAFETY: std's atomics are plain integers with atomic access, valid at any address.
unsafe impl ShmSafe for std::sync::atomic::AtomicU64 {}
// SAFETY: as above.
unsafe impl ShmSafe for std::sync::atomic::AtomicU32 {}
// SAFETY: as above.
unsafe impl ShmSafe for std::sync::atomic::AtomicI64 {}
// SAFETY: as above.
unsafe impl ShmSafe for std::sync::atomic::AtomicBool {}

// SAFETY: an array of values each valid at any address, in any process, from a bitwise copy,
// with no `Drop`, is all of those too (its elements sit at fixed offsets from its start).
// `Shared<[AtomicU64; N]>` is a table of words every process sees (≈ a `RawArray` of
// atomics).
unsafe impl<T: ShmSafe, const N: usize> ShmSafe for [T; N] {
    fn check_shareable(&self) -> Result<(), &'static str> {
        self.iter().try_for_each(T::check_shareable)
    }

    fn placed_in_shared_memory(&self) {
        self.iter().for_each(T::placed_in_shared_memory);
    }
}

// SAFETY: a `Condition` is its lock plus atomics (its counts and its waiter groups).
unsafe impl ShmSafe for Condition<Lock> {
    fn placed_in_shared_memory(&self) {
        self.make_robust();
    }
}
// SAFETY: as above.
unsafe impl ShmSafe for Condition<RLock> {
    fn placed_in_shared_memory(&self) {
        self.make_robust();
    }
}

/// A `T` in shared memory. Clone it to share within a process; pass it as a `Process`
/// argument (or capture it in a `fork_target`) to share it with a child.
///
/// ```
/// use multiproc::process::Process;
/// use multiproc::shared::Shared;
/// use multiproc::sync::Event;
///
/// let ready = Shared::new(Event::new()).unwrap();       // multiprocessing.Event()
/// let mut p = Process::new(|ev: Shared<Event>| ev.set(), ready.clone());
/// p.start().unwrap();
/// assert!(ready.wait_timeout(std::time::Duration::from_secs(30)));
/// p.join().unwrap();
/// ```
pub struct Shared<T: ShmSafe> {
    map: Backing,
    _t: PhantomData<T>,
}

impl<T: ShmSafe> Shared<T> {
    /// Moves `value` into a new shared segment of its own.
    pub fn new(value: T) -> std::io::Result<Shared<T>> {
        Shared::place(value, None)
    }

    /// Moves `value` into a block of `heap`: no segment and no file descriptor of its own, so
    /// thousands of them cost what they weigh (a `Lock` takes a 32-byte block, not a page and
    /// an fd). Handles count references across processes; see
    /// [`SharedHeap`](crate::mempool::SharedHeap#objects-in-a-heap) for what that means when a
    /// process is killed.
    pub fn new_in(heap: &SharedHeap, value: T) -> std::io::Result<Shared<T>> {
        Shared::place(value, Some(heap))
    }

    fn place(value: T, heap: Option<&SharedHeap>) -> std::io::Result<Shared<T>> {
        value
            .check_shareable()
            .map_err(|m| std::io::Error::new(std::io::ErrorKind::InvalidInput, m))?;
        let map = Backing::create(heap, size_of::<T>(), align_of::<T>())?;
        // SAFETY: the memory is aligned for `T` (a page, or a heap block aligned as asked), at
        // least `size_of::<T>()` bytes, and not yet visible to anyone else.
        unsafe { map.ptr().cast::<T>().write(value) };
        let shared: Shared<T> = Shared {
            map,
            _t: PhantomData,
        };
        shared.placed_in_shared_memory();
        Ok(shared)
    }
}

impl<T: ShmSafe> Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the segment holds a `T` written by `new` (or by the process that sent it,
        // as the same type: both sides run this executable), lives as long as `self.map`,
        // and `T: ShmSafe` is valid at any address and shared between processes.
        unsafe { &*self.map.ptr().cast::<T>() }
    }
}

impl<T: ShmSafe> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared {
            map: self.map.clone(),
            _t: PhantomData,
        }
    }
}

impl<T: ShmSafe + fmt::Debug> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Shared").field(&**self).finish()
    }
}

impl<T: ShmSafe> Serialize for Shared<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.map.serialize(s)
    }
}

impl<'de, T: ShmSafe> Deserialize<'de> for Shared<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = Backing::deserialize(d)?;
        if map.len() < size_of::<T>() {
            return Err(crate::wire::de_error(
                "shared segment smaller than its type",
            ));
        }
        Ok(Shared {
            map,
            _t: PhantomData,
        })
    }
}
