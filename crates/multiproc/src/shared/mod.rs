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

mod cell;
mod handle;
pub(crate) mod mapping;
mod shareable_list;
mod shared_memory;
mod tracker;
mod value;

pub use cell::{Shared, ShmSafe};
pub use shareable_list::{Item, ShareableList};
pub use shared_memory::SharedMemory;
pub use value::{Array, RawArray, RawValue, Value};

pub(crate) use tracker::serve as serve_tracker;

pub(crate) use handle::{collect_fds, provide_fds, push_fd, take_fd, take_refusal};
