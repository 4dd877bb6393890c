//! [`PoolProxy`]: a process pool that lives in the manager's server (≈ `Manager().Pool(n)`),
//! usable from any process of this program, and [`ManagedResult`], a call's result there.
//!
//! A function crosses as a [`Callable`]: by name in this executable, never as code, checked
//! on arrival (same executable, same type, inside its text). That is still code that
//! clients choose, so only servers started by [`Manager::start`](super::Manager::start) (a
//! child of this program, whose clients hold its key) serve pools; a [`Server`](super::Server)
//! refuses unless [`ServerOptions::serve_pools`](super::ServerOptions::serve_pools) says so,
//! and the `multiproc` command's server never does.
//!
//! ```
//! use multiproc::manager::Manager;
//!
//! fn square(x: u64) -> u64 { x * x }
//!
//! let m = Manager::start().unwrap();
//! let pool = m.pool(2).unwrap();
//! assert_eq!(pool.apply(square, 7).unwrap(), 49);
//! assert_eq!(pool.map(square, 0..5u64).unwrap(), [0, 1, 4, 9, 16]);
//! let r = pool.apply_async(square, 9).unwrap();
//! assert_eq!(r.get().unwrap(), 81);
//! ```

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::client::{Proxy, typed_proxy};
use super::protocol::{Op, PoolTask, Reply, micros};
use crate::error::ManagerError;
use crate::process::Callable;

typed_proxy! {
    /// A process pool in a manager's server (≈ `Manager().Pool(n)`).
    PoolProxy<>
}

typed_proxy! {
    /// The result of one call on a [`PoolProxy`] (≈ the `AsyncResult` proxy of a manager's
    /// pool): it lives in the server until taken.
    ManagedResult<R>
}

/// A task's trampoline as it crosses: (the function, its argument), encoded, to the
/// result, encoded.
pub(crate) type PoolTrampoline = Callable<(Vec<u8>, Vec<u8>), Result<Vec<u8>, String>>;

/// What a pool worker runs: decodes the function and its argument, calls it, encodes the
/// result. Monomorphised in the client, named to the server as a [`Callable`].
fn run<A: DeserializeOwned + 'static, R: Serialize + 'static>(
    (f, args): (Vec<u8>, Vec<u8>),
) -> Result<Vec<u8>, String> {
    let f: Callable<A, R> = crate::wire::decode(&f)?;
    let a: A = crate::wire::decode(&args)?;
    crate::wire::encode(&f.call(a))
}

fn task<A, R>(f: fn(A) -> R, args: &A) -> Result<PoolTask, ManagerError>
where
    A: Serialize + DeserializeOwned + 'static,
    R: Serialize + DeserializeOwned + 'static,
{
    let trampoline: PoolTrampoline = Callable::new(run::<A, R>);
    Ok(PoolTask {
        trampoline: crate::wire::encode(&trampoline).map_err(ManagerError::Data)?,
        f: crate::wire::encode(&Callable::new(f)).map_err(ManagerError::Data)?,
        args: crate::wire::encode(args).map_err(ManagerError::Data)?,
    })
}

fn decode<R: DeserializeOwned>(bytes: &[u8]) -> Result<R, ManagerError> {
    crate::wire::decode(bytes).map_err(|e| ManagerError::Data(format!("a task's result: {e}")))
}

impl PoolProxy {
    /// `pool.apply(f, (a,))`: runs `f(args)` in a worker of the server's pool and waits.
    pub fn apply<A, R>(&self, f: fn(A) -> R, args: A) -> Result<R, ManagerError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        match self.inner.call(Op::PoolApply(task(f, &args)?))? {
            Reply::Bytes(b) => decode(&b),
            other => Err(ManagerError::Data(format!("unexpected reply: {other:?}"))),
        }
    }

    /// `pool.apply_async(f, (a,))`: a [`ManagedResult`] to ask later, from any process.
    pub fn apply_async<A, R>(
        &self,
        f: fn(A) -> R,
        args: A,
    ) -> Result<ManagedResult<R>, ManagerError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        match self.inner.call(Op::PoolApplyAsync(task(f, &args)?))? {
            Reply::Created(id) => Ok(ManagedResult::wrap(Proxy {
                id,
                typeid: "AsyncResult".into(),
                endpoint: self.inner.endpoint.clone(),
            })),
            other => Err(ManagerError::Data(format!("unexpected reply: {other:?}"))),
        }
    }

    /// `pool.map(f, items)`: the results in order; the first failure is the error.
    pub fn map<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<Vec<R>, ManagerError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        let mut t: Option<PoolTask> = None;
        let mut args = Vec::new();
        for a in items {
            if t.is_none() {
                t = Some(task(f, &a)?);
            }
            args.push(crate::wire::encode(&a).map_err(ManagerError::Data)?);
        }
        let Some(t) = t else { return Ok(Vec::new()) };
        match self.inner.call(Op::PoolMap(t, args))? {
            Reply::Blobs(v) => v.iter().map(|b| decode(b)).collect(),
            other => Err(ManagerError::Data(format!("unexpected reply: {other:?}"))),
        }
    }

    /// `pool.close()`: no more tasks.
    pub fn close(&self) -> Result<(), ManagerError> {
        self.inner.call(Op::PoolClose)?.unit()
    }

    /// `pool.terminate()`: stops the workers now.
    pub fn terminate(&self) -> Result<(), ManagerError> {
        self.inner.call(Op::PoolTerminate)?.unit()
    }

    /// `pool.join()` (after `close` or `terminate`).
    pub fn join(&self) -> Result<(), ManagerError> {
        self.inner.call(Op::PoolJoin)?.unit()
    }
}

impl<R: DeserializeOwned> ManagedResult<R> {
    /// `get()`: waits for the value and takes it (a second `get` is
    /// [`ManagerError::Task`] "already taken").
    pub fn get(&self) -> Result<R, ManagerError> {
        self.get_with(None)
    }

    /// `get(timeout)`: [`ManagerError::Timeout`] if not ready in time.
    pub fn get_timeout(&self, timeout: Duration) -> Result<R, ManagerError> {
        self.get_with(Some(timeout))
    }

    fn get_with(&self, timeout: Option<Duration>) -> Result<R, ManagerError> {
        match self.inner.call(Op::ResultGet(micros(timeout)))? {
            Reply::Bytes(b) => decode(&b),
            other => Err(ManagerError::Data(format!("unexpected reply: {other:?}"))),
        }
    }

    /// `ready()`.
    pub fn ready(&self) -> Result<bool, ManagerError> {
        self.inner.call(Op::ResultReady)?.bool()
    }
}
