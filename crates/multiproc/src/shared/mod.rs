//! Memory shared between processes (≈ `multiprocessing.sharedctypes` and the process-shared
//! synchronisation objects).
//!
//! - [`Shared<T>`]: a `Lock`, `RLock`, `Semaphore`, `BoundedSemaphore`, `Event` or
//!   `Condition` placed in shared memory: `Shared::new(Lock::new())` is Python's
//!   `multiprocessing.Lock()`, with the same semantics as between threads.
//! - [`Value<T>`] and [`Array<T>`]: plain data (`bytemuck::Pod`) with an `RLock`;
//!   [`RawValue<T>`] and [`RawArray<T>`] without one (`lock=False`).
//! - [`SharedMemory`] and [`ShareableList`]: *named* blocks (≈ `multiprocessing.shared_memory`)
//!   that unrelated processes attach to by name; only the creator's exit unlinks them.
//!
//! Except for the named blocks, every object lives in its own anonymous memfd segment:
//! nothing is named, so nothing can be left behind in `/dev/shm`. Pass objects to a child as
//! `Process` arguments (their fd travels beside the bytes, with every start method) or
//! capture them in a `fork_target`.
//!
//! A counter several processes add to, the tutorials' `Value('i', 0)` with `get_lock()`:
//!
//! ```
//! use multiproc::process::Process;
//! use multiproc::shared::{Array, Shared, Value};
//! use multiproc::sync::Lock;
//!
//! fn add(counter: Value<u64>) {
//!     for _ in 0..100 {
//!         counter.with(|v| *v += 1);
//!     }
//! }
//!
//! let counter = Value::new(0u64).unwrap();
//! let mut workers: Vec<_> = (0..4).map(|_| Process::new(add, counter.clone())).collect();
//! for p in &mut workers {
//!     p.start().unwrap();
//! }
//! for p in &mut workers {
//!     p.join().unwrap();
//! }
//! assert_eq!(counter.get(), 400);
//!
//! // An array and a lock of their own, shared the same way.
//! let squares = Array::<u32>::zeroed(4).unwrap();
//! let lock = Shared::new(Lock::new()).unwrap();
//! let mut p = Process::new(
//!     |(a, l): (Array<u32>, Shared<Lock>)| {
//!         let _g = l.acquire();
//!         for i in 0..a.len() {
//!             a.set(i, (i * i) as u32);
//!         }
//!     },
//!     (squares.clone(), lock.clone()),
//! );
//! p.start().unwrap();
//! p.join().unwrap();
//! assert_eq!(squares.to_vec(), [0, 1, 4, 9]);
//! ```
//!
//! Named blocks, for processes that do not share a parent: one creates, others attach by
//! name, the creator unlinks (or its exit does, however it ends).
//!
//! ```
//! use multiproc::shared::{Item, ShareableList, SharedMemory};
//!
//! let block = SharedMemory::create(64).unwrap();
//! block.write_at(0, b"hello").unwrap();
//! let other = SharedMemory::attach(block.name()).unwrap(); // in another program, by name
//! let mut buf = [0u8; 5];
//! other.read_at(0, &mut buf).unwrap();
//! assert_eq!(&buf, b"hello");
//! assert!(other.read_at(60, &mut buf).is_err()); // past the end: an error, not a crash
//! block.unlink().unwrap();
//!
//! let list = ShareableList::new(&[Item::Int(1), Item::Str("two".into()), Item::None]).unwrap();
//! let seen = ShareableList::attach(list.shm().name()).unwrap();
//! seen.set(0, Item::Int(10)).unwrap();
//! assert_eq!(list.get(0).unwrap(), Item::Int(10));
//! assert_eq!(list.get(1).unwrap(), Item::Str("two".into()));
//! list.shm().unlink().unwrap();
//! ```

mod cell;
pub(crate) mod mapping;
mod shareable_list;
mod shared_memory;
mod tracker;
mod value;
pub(crate) mod words;

pub use cell::{Shared, ShmSafe};
pub use shareable_list::{Item, ShareableList};
pub use shared_memory::SharedMemory;
pub use value::{Array, RawArray, RawValue, Value};

pub(crate) use tracker::{ENV_TRACKER, serve as serve_tracker};
