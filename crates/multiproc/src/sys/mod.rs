//! The only place with raw OS calls.
//!
//! Everything above this module is written against three small facilities:
//!
//! - [`futex`]: wait on / wake a 32-bit word (`FUTEX_WAIT` / `FUTEX_WAKE`, never the
//!   `PRIVATE` flag, so the same word works when it lives in memory shared between processes);
//! - [`tid`]: the kernel thread id of the calling thread, cached per thread (and reset in the
//!   child after `fork`), used as the owner mark in lock words;
//! - [`pid`]: the process id;
//! - [`liveness`]: whether the holder of a lock, queue side or cache is definitely dead
//!   (identity = id + start time; a probe that cannot answer means alive);
//! - [`at_fork`]: the one after-fork registry, where every module's fork-time reset lives;
//! - [`membarrier`]: the heavy half of an asymmetric fence, so the queues' fast paths need no
//!   locked instruction.
//!
//! Linux is the supported OS. Other platforms fail to compile with a clear message (see
//! `lib.rs`).

pub(crate) mod at_fork;
pub(crate) mod fdpass;
pub(crate) mod futex;
pub(crate) mod liveness;
pub(crate) mod membarrier;
pub(crate) mod process;
pub(crate) mod shm;
pub(crate) mod tid;

pub(crate) use tid::pid;
