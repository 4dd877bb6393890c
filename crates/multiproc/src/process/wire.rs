//! The bootstrap messages between a parent and a child process, postcard-encoded in the
//! crate's frames (`wire/frame.rs`) over a Unix socket: one `Start` goes to a spawned or
//! forkserver child; one `Outcome` comes back from every child.

use serde::{Deserialize, Serialize};

use crate::error::Panic;

/// What a spawned child needs to run its target.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Start {
    /// The trampoline, as an offset from the base symbol.
    pub offset: i64,
    /// The target function, as an offset from the base symbol.
    pub target: i64,
    /// The target's arguments (postcard).
    pub args: Vec<u8>,
    /// The child's `Process` name.
    pub name: String,
    /// Whether the child is a daemon.
    pub daemon: bool,
    /// The parent's pid and name, for `parent_process()`.
    pub parent_pid: u32,
    pub parent_name: String,
    /// The start method (`context::code`): the child's own default.
    pub method: u8,
    /// The parent's authkey, which the child inherits (`current_process().authkey`).
    pub authkey: Vec<u8>,
}

/// How a child's target ended, sent back before the child exits.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Outcome {
    /// The target returned; its value (postcard).
    Returned(Vec<u8>),
    /// The target panicked.
    Panicked(Panic),
    /// The arguments did not decode as the target's argument type.
    BadArgs(String),
    /// The return value did not encode.
    BadResult(String),
}

impl Outcome {
    /// The exit status the child uses after sending this (Python: an exception exits with 1).
    pub(crate) fn exit_code(&self) -> i32 {
        match self {
            Outcome::Returned(_) => 0,
            _ => 1,
        }
    }
}

pub(crate) fn encode<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_stdvec(v)
}
