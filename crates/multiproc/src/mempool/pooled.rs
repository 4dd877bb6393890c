//! The typed face of the pool: [`Pool<T>`] hands out [`Pooled<T>`], a `Box`-like owner whose
//! block goes back to the pool on drop.

use std::alloc::Layout;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

use super::cache;

/// Allocates `T`s from the pool (≈ what pymalloc does for every small Python object). All
/// pools share one heap, so a `Pool<T>` is a zero-size handle: make one anywhere, or use
/// [`Pooled::new`] directly.
///
/// `T`s larger than 512 bytes or aligned to more than 16 come from the system allocator;
/// zero-size `T`s take no memory.
pub struct Pool<T> {
    _t: PhantomData<fn() -> T>,
}

impl<T> Pool<T> {
    /// A handle on the pool for `T`.
    pub const fn new() -> Pool<T> {
        Pool { _t: PhantomData }
    }

    /// Moves `value` into a pooled block.
    pub fn alloc(&self, value: T) -> Pooled<T> {
        Pooled::new(value)
    }

    /// Whether `T` is served from pools (at most 512 bytes, aligned to at most 16).
    pub fn is_pooled(&self) -> bool {
        super::pooled(Layout::new::<T>())
    }
}

impl<T> Default for Pool<T> {
    fn default() -> Self {
        Pool::new()
    }
}

impl<T> Clone for Pool<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Pool<T> {}

impl<T> fmt::Debug for Pool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pool<{}>", std::any::type_name::<T>())
    }
}

/// A `T` in a pooled block; returns the block on drop (≈ `Box<T>` from the pool).
pub struct Pooled<T> {
    ptr: NonNull<T>,
    _own: PhantomData<T>,
}

// SAFETY: `Pooled<T>` owns its `T` exactly as `Box<T>` does; the block can be freed from any
// thread (it joins that thread's cache).
unsafe impl<T: Send> Send for Pooled<T> {}
// SAFETY: as above: shared access only hands out `&T`.
unsafe impl<T: Sync> Sync for Pooled<T> {}

impl<T> Pooled<T> {
    /// Moves `value` into a pooled block.
    ///
    /// # Panics
    /// If the system refuses memory (as `Box::new` aborts).
    pub fn new(value: T) -> Pooled<T> {
        let layout = Layout::new::<T>();
        let ptr = cache::alloc(layout)
            .unwrap_or_else(|| std::alloc::handle_alloc_error(layout))
            .cast::<T>();
        // SAFETY: a fresh block of `T`'s size and alignment (or a dangling aligned pointer for
        // a zero-size `T`, where the write is a no-op).
        unsafe { ptr.as_ptr().write(value) };
        Pooled {
            ptr,
            _own: PhantomData,
        }
    }

    /// Takes the value out, returning the block.
    pub fn into_inner(this: Pooled<T>) -> T {
        let this = std::mem::ManuallyDrop::new(this);
        // SAFETY: the block holds an initialised `T`, read once here; the block is then freed
        // without dropping the value again.
        unsafe {
            let value = this.ptr.as_ptr().read();
            cache::dealloc(this.ptr.cast(), Layout::new::<T>());
            value
        }
    }
}

impl<T> Deref for Pooled<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the block holds an initialised `T` owned by `self`.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> DerefMut for Pooled<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above, and `&mut self` is unique.
        unsafe { self.ptr.as_mut() }
    }
}

impl<T> Drop for Pooled<T> {
    fn drop(&mut self) {
        // SAFETY: the value is initialised and dropped once; the block came from
        // `cache::alloc` with `T`'s layout.
        unsafe {
            self.ptr.as_ptr().drop_in_place();
            cache::dealloc(self.ptr.cast(), Layout::new::<T>());
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Pooled<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: PartialEq> PartialEq for Pooled<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}
