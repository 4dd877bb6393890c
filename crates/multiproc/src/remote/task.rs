//! What crosses between a remote pool's clients and its workers: a task ([`TaskWire`]) and
//! its reply ([`ReplyWire`]), and the trampoline a worker calls a task's function through.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Panic, PoolError, WorkerExit};
use crate::process::Callable;

/// A task as it waits in the backend's queue.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct TaskWire {
    /// Unique in the namespace (a task is answered once, by id).
    pub id: String,
    /// Where the reply goes (the submitting client's list).
    pub reply: String,
    /// The trampoline for the function's type, and the function: offsets in the build.
    pub trampoline: (i64, String),
    pub function: (i64, String),
    /// The argument, encoded.
    pub args: Vec<u8>,
    /// Runs allowed (1: at most once).
    pub max_attempts: u32,
    /// Back-off before a retry, in ms.
    pub backoff_ms: u64,
    /// How long the reply list is kept for a client that went away, in ms.
    pub keep_ms: u64,
}

/// How a task ended, as a worker (or a reaper) reports it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Outcome {
    /// The result, encoded.
    Value(Vec<u8>),
    /// The function panicked.
    Panicked(Panic),
    /// The worker running it stopped renewing its lease (`pid` of its process, host).
    Lost { pid: u32, host: String },
    /// The worker could not run it (a function it does not have, an argument that does
    /// not decode, a result that does not encode).
    Refused(String),
}

/// A reply: the task's id, and its outcome.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ReplyWire {
    pub id: String,
    pub outcome: Outcome,
}

impl Outcome {
    pub(crate) fn into_result(self) -> Result<Vec<u8>, PoolError> {
        match self {
            Outcome::Value(b) => Ok(b),
            Outcome::Panicked(p) => Err(PoolError::Panicked(p)),
            Outcome::Lost { pid, .. } => Err(PoolError::WorkerLost {
                pid,
                exit: WorkerExit::Vanished,
            }),
            Outcome::Refused(m) => Err(PoolError::Decode(m)),
        }
    }
}

/// A function as it crosses: its offset in the build, and its type tag.
pub(crate) type Named = (i64, String);

/// What a worker calls: (function, argument) to the result, all encoded.
pub(crate) type Trampoline = Callable<((i64, String), Vec<u8>), Result<Vec<u8>, String>>;

/// The trampoline for functions `fn(A) -> R`, monomorphised in the client.
fn run<A: DeserializeOwned + 'static, R: Serialize + 'static>(
    ((offset, tag), args): ((i64, String), Vec<u8>),
) -> Result<Vec<u8>, String> {
    let f: Callable<A, R> = Callable::from_parts(offset, &tag)?;
    let a: A = crate::wire::decode(&args).map_err(|e| format!("the argument: {e}"))?;
    crate::wire::encode(&f.call(a)).map_err(|e| format!("the result: {e}"))
}

/// The parts naming `f` and its trampoline.
pub(crate) fn parts<A, R>(f: fn(A) -> R) -> Result<(Named, Named), PoolError>
where
    A: Serialize + DeserializeOwned + 'static,
    R: Serialize + DeserializeOwned + 'static,
{
    let t: Trampoline = Callable::new(run::<A, R>);
    let t = t.to_parts().map_err(|e| PoolError::Encode(e.to_string()))?;
    let f = Callable::new(f)
        .to_parts()
        .map_err(|e| PoolError::Encode(e.to_string()))?;
    Ok((t, f))
}
