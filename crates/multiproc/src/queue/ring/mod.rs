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

#[cfg(not(multiproc_loom))]
mod handle;
#[cfg(not(multiproc_loom))]
mod layout;
#[cfg(multiproc_loom)]
pub mod model;
#[cfg(not(multiproc_loom))]
mod reader;
mod tasks;
mod wake;
#[cfg(not(multiproc_loom))]
mod writer;

#[cfg(not(multiproc_loom))]
pub(crate) use handle::{Block, ReadError, Ring, Sink, WriteError};
#[cfg(not(multiproc_loom))]
pub(crate) use layout::{JOINABLE, MAX_CAPACITY, MIN_CAPACITY};
