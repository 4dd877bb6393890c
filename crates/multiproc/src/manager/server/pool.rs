//! The server's side of a manager's pool (see [`crate::manager::pool`]): a process pool in
//! the server process, whose workers run the functions clients name, and the results
//! waiting to be taken.

use std::sync::Mutex;
use std::time::Duration;

use super::State;
use super::blocking::Caller;
use super::objects::Object;
use crate::error::PoolError;
use crate::manager::pool::PoolTrampoline;
use crate::manager::protocol::{Fault, Op, PoolTask, Reply};
use crate::pool::{AsyncResult, Pool};

/// A task's trampoline: (the function, its argument), encoded, to the result, encoded.
type Trampoline = fn((Vec<u8>, Vec<u8>)) -> Result<Vec<u8>, String>;

/// A pending result in the server.
pub(crate) type Pending = Mutex<Option<AsyncResult<Result<Vec<u8>, String>>>>;

/// How long a waiting `get` sleeps before it looks whether its client is still there.
const LOOK: Duration = Duration::from_millis(100);

fn trampoline(t: &PoolTask) -> Result<Trampoline, Fault> {
    let c: PoolTrampoline = crate::wire::decode(&t.trampoline)
        .map_err(|e| Fault::Refused(format!("a pool task: {e}")))?;
    Ok(c.get())
}

fn failed(e: PoolError) -> Fault {
    match e {
        PoolError::Timeout => Fault::Timeout,
        e => Fault::Task(e.to_string()),
    }
}

fn value(r: Result<Vec<u8>, String>) -> Result<Reply, Fault> {
    r.map(Reply::Bytes).map_err(Fault::Data)
}

/// A new pool of `processes` workers, if this server serves pools.
pub(crate) fn create(state: &State, processes: u64) -> Result<Object, Fault> {
    if !state.options.serve_pools {
        return Err(Fault::Refused(
            "this server does not run pools (they run functions clients name): a manager \
             started by Manager::start does, a Server with ServerOptions::serve_pools"
                .into(),
        ));
    }
    let n = usize::try_from(processes).unwrap_or(usize::MAX);
    Pool::new(n)
        .map(Object::Pool)
        .map_err(|e| Fault::ValueError(e.to_string()))
}

/// Runs a pool operation, or a result's.
pub(crate) fn call(
    state: &State,
    obj: &Object,
    op: Op,
    caller: &Caller<'_>,
) -> Result<Reply, Fault> {
    match (obj, op) {
        (Object::Pool(pool), Op::PoolApply(t)) => {
            let r = pool
                .apply_async(trampoline(&t)?, (t.f, t.args))
                .map_err(failed)?;
            wait(&r, None, caller)
        }
        (Object::Pool(pool), Op::PoolApplyAsync(t)) => {
            let r = pool
                .apply_async(trampoline(&t)?, (t.f, t.args))
                .map_err(failed)?;
            let id = super::add_object(state, Object::PoolResult(Mutex::new(Some(r))));
            Ok(Reply::Created(id))
        }
        (Object::Pool(pool), Op::PoolMap(t, args)) => {
            let f = trampoline(&t)?;
            let results = pool
                .map(f, args.into_iter().map(|a| (t.f.clone(), a)))
                .map_err(failed)?;
            let blobs = results
                .into_iter()
                .collect::<Result<Vec<_>, String>>()
                .map_err(Fault::Data)?;
            Ok(Reply::Blobs(blobs))
        }
        (Object::Pool(pool), Op::PoolClose) => {
            pool.close();
            Ok(Reply::Unit)
        }
        (Object::Pool(pool), Op::PoolTerminate) => {
            pool.terminate();
            Ok(Reply::Unit)
        }
        (Object::Pool(pool), Op::PoolJoin) => pool.join().map(|()| Reply::Unit).map_err(failed),
        (Object::PoolResult(slot), Op::ResultReady) => {
            let g = slot.lock().unwrap_or_else(|p| p.into_inner());
            Ok(Reply::Bool(g.as_ref().is_none_or(AsyncResult::ready)))
        }
        (Object::PoolResult(slot), Op::ResultGet(t)) => {
            // Another `get` of the same result waits for this one.
            let mut g = slot.lock().unwrap_or_else(|p| p.into_inner());
            let r = g
                .as_ref()
                .ok_or_else(|| Fault::Task("the result was already taken".into()))?;
            let reply = wait(r, t.map(Duration::from_micros), caller);
            if reply.is_ok() {
                g.take();
            }
            reply
        }
        (obj, op) => Err(Fault::TypeError(format!(
            "a {} has no operation {:?}",
            obj.typeid(),
            std::mem::discriminant(&op)
        ))),
    }
}

/// Waits for `r`, at most `timeout`, and not past the caller's death.
fn wait(
    r: &AsyncResult<Result<Vec<u8>, String>>,
    timeout: Option<Duration>,
    caller: &Caller<'_>,
) -> Result<Reply, Fault> {
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    loop {
        let slice = match deadline {
            Some(d) => d
                .saturating_duration_since(std::time::Instant::now())
                .min(LOOK),
            None => LOOK,
        };
        match r.get_timeout(slice) {
            Ok(v) => return value(v),
            Err(PoolError::Timeout) => {
                if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                    return Err(Fault::Timeout);
                }
                if caller.gone() {
                    return Err(Fault::Refused(
                        "the client went away while it waited".into(),
                    ));
                }
            }
            Err(e) => return Err(failed(e)),
        }
    }
}
