//! Memory shared between processes (≈ `multiprocessing.sharedctypes` and the process-shared
//! synchronisation objects).
//!
//! - [`Shared<T>`]: a `Lock`, `RLock`, `Semaphore`, `BoundedSemaphore`, `Event` or
//!   `Condition` placed in shared memory: `Shared::new(Lock::new())` is Python's
//!   `multiprocessing.Lock()`, with the same semantics as between threads.
//! - [`Value<T>`] and [`Array<T>`]: plain data (`bytemuck::Pod`) with an `RLock`.
//!
//! Every object lives in its own anonymous memfd segment: nothing is named, so nothing can be
//! left behind in `/dev/shm`. Pass objects to a child as `Process` arguments (their fd
//! travels beside the bytes, with every start method) or capture them in a `fork_target`.

mod cell;
mod handle;
mod mapping;
mod value;

pub use cell::{Shared, ShmSafe};
pub use value::{Array, Value};

pub(crate) use handle::{collect_fds, provide_fds};
