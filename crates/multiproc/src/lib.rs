//! multiproc (work in progress; see README).
#![warn(missing_docs, unsafe_op_in_unsafe_fn)]

#[cfg(not(target_os = "linux"))]
compile_error!("multiproc supports Linux only: it is built on futex(2), memfd and pidfd.");

pub mod error;
mod primitive;
pub mod sync;
mod sys;

pub use error::{BrokenBarrier, Empty, Error, Full, JoinError, Panic, ReleaseError, TaskDoneError, ThreadError, Timeout};
