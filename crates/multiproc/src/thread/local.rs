//! `Local<T>` (≈ `threading.local`): one value per thread, per object.
//!
//! Rust's `thread_local!` gives one slot per *static*; Python's `local()` is an object you can
//! create at run time, many of them, each with its own per-thread values. `Local` is that,
//! built on the `thread_local` crate (one well-kept implementation of per-object thread-local
//! storage). As in Python, where a subclass's `__init__` runs again in every thread that
//! touches the object, the `init` function runs once in each thread, on first use.

use std::cell::RefCell;
use std::fmt;

use thread_local::ThreadLocal;

/// Per-thread values in one object (≈ `threading.local`).
///
/// ```
/// use multiproc::thread::Local;
/// use std::sync::Arc;
///
/// let data = Arc::new(Local::new(|| 0u32));
/// data.with(|x| *x = 7);
/// let d = data.clone();
/// let other = std::thread::spawn(move || d.get()).join().unwrap();
/// assert_eq!(other, 0);          // a new thread starts from `init`
/// assert_eq!(data.get(), 7);     // this thread kept its own value
/// ```
pub struct Local<T: Send> {
    slots: ThreadLocal<RefCell<T>>,
    init: Box<dyn Fn() -> T + Send + Sync>,
}

impl<T: Send> Local<T> {
    /// A new object whose value in each thread starts as `init()`.
    pub fn new(init: impl Fn() -> T + Send + Sync + 'static) -> Local<T> {
        Local {
            slots: ThreadLocal::new(),
            init: Box::new(init),
        }
    }

    fn slot(&self) -> &RefCell<T> {
        self.slots.get_or(|| RefCell::new((self.init)()))
    }

    /// Runs `f` on this thread's value (`mydata.x = ...`).
    ///
    /// # Panics
    /// If called again from inside `f` on the same object (the value is already borrowed).
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.slot().borrow_mut())
    }

    /// A copy of this thread's value.
    pub fn get(&self) -> T
    where
        T: Clone,
    {
        self.slot().borrow().clone()
    }

    /// Replaces this thread's value.
    pub fn set(&self, value: T) {
        *self.slot().borrow_mut() = value;
    }

    /// Whether this thread has touched the object yet (Python: the attribute is absent in a
    /// new thread).
    pub fn is_initialized(&self) -> bool {
        self.slots.get().is_some()
    }
}

impl<T: Send> fmt::Debug for Local<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Local").finish_non_exhaustive()
    }
}
