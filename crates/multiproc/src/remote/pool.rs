//! [`Pool`]: a remote pool's client side (≈ `multiprocessing.Pool`, whose workers run
//! anywhere: see [`Worker`](super::Worker)). Tasks are `fn(A) -> R` as for the local pools,
//! results the same [`AsyncResult`], callbacks run in this process exactly once.
//!
//! # Semantics
//!
//! - A task waits in the namespace's queue for its build (only workers running the same
//!   executable, by build id, claim it), until a worker claims it: that moves it, in one
//!   atomic step, to the worker's leased list.
//! - The worker's lease is its heartbeat. A worker that stops renewing it (killed, stalled,
//!   cut off) loses its tasks to the reaper (any client or worker, one at a time, elected
//!   by `SET NX PX`) one lease after its last renewal, plus a grace of half a lease (0.2 to
//!   0.5 s) in which a worker that was only cut off renews, plus up to 0.25 s until the next
//!   reaper round.
//! - By default a task runs at most once: a reaped task fails with
//!   [`PoolError::WorkerLost`], as in the local pool. With
//!   [`max_attempts`](Builder::max_attempts) above 1 it goes back to the queue (after the
//!   back-off) until its attempts are spent: at-least-once delivery.
//! - Either way a task's result is accepted exactly once: an ack is a script that refuses a
//!   worker whose lease lapsed, and a second result for a task already answered.
//! - Results go to this client's reply list, which expires (1 h by default) if the client
//!   is gone; the client's collector thread delivers them.
//!
//! ```no_run
//! use multiproc::remote;
//!
//! fn square(x: u64) -> u64 { x * x }
//!
//! let r = remote::connect("redis://127.0.0.1:6379/0", "jobs").unwrap();
//! let pool = r.pool().unwrap();
//! // Workers: `multiproc worker --redis redis://127.0.0.1:6379/0 --namespace jobs`, or
//! // this program with `remote::worker_main()` (the same build).
//! assert_eq!(pool.map(square, 0..10u64).unwrap(), (0..10u64).map(square).collect::<Vec<_>>());
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::backend::{Backend, Reaped, Wait};
use super::context::Remote;
use super::object::{dec, enc};
use super::redis_backend::random_u128;
use super::task::{Outcome, ReplyWire, TaskWire, parts};
use crate::error::{PoolError, RemoteError};
use crate::pool::result::{Control, Slot, Submitted, Target, decode};
use crate::pool::{AsyncResult, TaskOptions};

/// Options of a [`Pool`] handle ([`Remote::pool_builder`]).
#[derive(Debug, Clone)]
pub struct Builder {
    remote: Remote,
    max_attempts: u32,
    backoff: Duration,
    keep: Duration,
}

impl Builder {
    /// Runs allowed per task (1, the default: at most once, a lost worker's task fails
    /// with `WorkerLost`; more: the task is retried, at-least-once).
    pub fn max_attempts(mut self, n: u32) -> Builder {
        self.max_attempts = n.max(1);
        self
    }

    /// How long a retried task waits before it can be claimed again (1 s by default).
    pub fn backoff(mut self, d: Duration) -> Builder {
        self.backoff = d;
        self
    }

    /// How long results wait for this client if it goes away (1 h by default).
    pub fn keep_results(mut self, d: Duration) -> Builder {
        self.keep = d;
        self
    }

    /// The pool handle (and its collector thread).
    pub fn build(self) -> Result<Pool, RemoteError> {
        let space = &self.remote.space;
        let client = format!("{:016x}", random_u128() as u64);
        let inner = Arc::new(Inner {
            backend: space.backend.clone(),
            keys: Keys::new(&space.namespace),
            reply: super::context::key(&space.namespace, "pool", &format!("reply:{client}")),
            client,
            lease: space.lease,
            max_attempts: self.max_attempts,
            backoff: self.backoff,
            keep: self.keep,
            next: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            idle: std::sync::Condvar::new(),
            idle_lock: Mutex::new(()),
        });
        let weak = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("multiproc-remote-collector".into())
            .spawn(move || collect(weak))
            .map_err(|e| RemoteError::Invalid(format!("cannot start the collector: {e}")))?;
        Ok(Pool {
            inner,
            remote: self.remote,
        })
    }
}

/// The keys a namespace's pool uses.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    /// The queue of tasks for this build.
    pub tasks: String,
    /// The set of workers.
    pub workers: String,
    /// The reaper's election.
    pub reaper: String,
    /// Attempts per task id.
    pub attempts: String,
    /// Bumped by [`Remote::stop_workers`]: workers that saw another value stop.
    pub shutdown: String,
    ns: String,
}

impl Keys {
    pub(crate) fn new(ns: &str) -> Keys {
        let k = |s: &str| super::context::key(ns, "pool", s);
        Keys {
            tasks: k(&format!("tasks:{}", super::build_id::build_id())),
            workers: k("workers"),
            reaper: k("reaper"),
            attempts: k("attempts"),
            shutdown: k("shutdown"),
            ns: ns.to_string(),
        }
    }

    /// A worker's key base.
    pub(crate) fn worker(&self, wid: &str) -> String {
        super::context::key(&self.ns, "pool", &format!("w:{wid}"))
    }
}

/// A remote pool's client (see the module docs). Cloning shares it.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
    remote: Remote,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("server", &self.remote.server())
            .field("namespace", &self.remote.namespace())
            .field("pending", &self.inner.pending_len())
            .finish()
    }
}

struct Pending {
    target: Arc<dyn Target>,
    payload: Vec<u8>,
}

struct Inner {
    backend: Arc<dyn Backend>,
    keys: Keys,
    reply: String,
    client: String,
    lease: Duration,
    max_attempts: u32,
    backoff: Duration,
    keep: Duration,
    next: AtomicU64,
    pending: Mutex<HashMap<u64, Pending>>,
    closed: AtomicBool,
    stop: AtomicBool,
    /// Signalled when `pending` empties (for `join`).
    idle: std::sync::Condvar,
    idle_lock: Mutex<()>,
}

impl Inner {
    fn pending_len(&self) -> usize {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// The tasks of this handle without a result yet.
    fn pending_seqs(&self) -> Vec<u64> {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .copied()
            .collect()
    }

    fn id(&self, seq: u64) -> String {
        format!("{}-{seq}", self.client)
    }

    fn seq_of(&self, id: &str) -> Option<u64> {
        let (client, seq) = id.rsplit_once('-')?;
        (client == self.client).then(|| seq.parse().ok())?
    }

    fn finish(&self, seq: u64, r: Result<Vec<u8>, PoolError>) {
        let p = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&seq);
        if let Some(p) = p {
            match r {
                Ok(b) => p.target.returned(0, &b),
                Err(e) => p.target.failed(0, e),
            }
        }
        if self.pending_len() == 0 {
            let _g = self
                .idle_lock
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            self.idle.notify_all();
        }
    }
}

impl Control for Inner {
    fn cancel(&self, seq: u64, _running: bool) -> bool {
        let payload = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&seq)
            .map(|p| p.payload.clone());
        let Some(payload) = payload else { return false };
        // Only a task still queued can be cancelled: a claimed one runs to its end.
        match self.backend.remove(&self.keys.tasks, &payload, 1) {
            Ok(1) => {
                self.finish(seq, Err(PoolError::Cancelled));
                true
            }
            _ => false,
        }
    }

    fn defer(&self, f: Box<dyn FnOnce() + Send>) {
        f()
    }

    fn running(&self, _seq: u64) -> bool {
        false
    }
}

impl Remote {
    /// A pool handle with the default options: tasks run at most once.
    pub fn pool(&self) -> Result<Pool, RemoteError> {
        self.pool_builder().build()
    }

    /// A pool handle's options ([`Builder::max_attempts`], ...).
    pub fn pool_builder(&self) -> Builder {
        Builder {
            remote: self.clone(),
            max_attempts: 1,
            backoff: Duration::from_secs(1),
            keep: Duration::from_secs(3600),
        }
    }
}

impl Pool {
    fn check_open(&self) -> Result<(), PoolError> {
        if self.inner.closed.load(Ordering::Relaxed) {
            return Err(PoolError::Closed);
        }
        Ok(())
    }

    fn task_bytes<A, R>(&self, f: fn(A) -> R, args: &A) -> Result<(u64, Vec<u8>), PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        let (trampoline, function) = parts(f)?;
        let seq = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let task = TaskWire {
            id: self.inner.id(seq),
            reply: self.inner.reply.clone(),
            trampoline,
            function,
            args: crate::wire::encode(args).map_err(PoolError::Encode)?,
            max_attempts: self.inner.max_attempts,
            backoff_ms: self.inner.backoff.as_millis() as u64,
            keep_ms: self.inner.keep.as_millis() as u64,
        };
        Ok((
            seq,
            enc(&task).map_err(|e| PoolError::Encode(e.to_string()))?,
        ))
    }

    fn submit<A, R>(
        &self,
        f: fn(A) -> R,
        args: impl IntoIterator<Item = A>,
        opts: impl FnMut() -> TaskOptions<R>,
    ) -> Result<Vec<AsyncResult<R>>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        Ok(self
            .submit_slots(f, args, opts)?
            .into_iter()
            .map(|s| AsyncResult::submitted(s))
            .collect())
    }

    /// Queues one task per argument, in one round trip per 4,096; what holds each result.
    pub(crate) fn submit_slots<A, R>(
        &self,
        f: fn(A) -> R,
        args: impl IntoIterator<Item = A>,
        opts: impl FnMut() -> TaskOptions<R>,
    ) -> Result<Vec<Submitted<R>>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.check_open()?;
        let mut opts = opts;
        let control: Weak<dyn Control> = Arc::downgrade(&self.inner) as Weak<dyn Control>;
        let mut payloads = Vec::new();
        let mut results = Vec::new();
        {
            let mut pending = self
                .inner
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for a in args {
                let (seq, payload) = self.task_bytes(f, &a)?;
                let slot = Slot::new(opts().callbacks, Some(&control), Some(decode::<R>));
                pending.insert(
                    seq,
                    Pending {
                        target: slot.clone(),
                        payload: payload.clone(),
                    },
                );
                payloads.push(payload);
                results.push(Submitted {
                    holder: slot,
                    seq,
                    control: control.clone(),
                });
            }
        }
        for (i, chunk) in payloads.chunks(4096).enumerate() {
            if let Err(e) =
                self.inner
                    .backend
                    .push(&self.inner.keys.tasks, chunk, false, None, None)
            {
                // This chunk and the later ones were not queued: fail them here, so no result
                // waits for ever (the earlier ones run as submitted).
                for r in &results[i * 4096..] {
                    self.inner
                        .finish(r.seq, Err(PoolError::Broken(e.to_string())));
                }
                return Err(PoolError::Broken(e.to_string()));
            }
        }
        Ok(results)
    }

    /// `pool.apply_async(f, (a,))`: queued for a worker; the result to wait for.
    pub fn apply_async<A, R>(&self, f: fn(A) -> R, args: A) -> Result<AsyncResult<R>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.apply_async_with(f, args, TaskOptions::new())
    }

    /// As [`apply_async`](Self::apply_async) with `callback`/`error_callback`, run in this
    /// process exactly once (a task timeout in `opts` is not supported remotely and is
    /// ignored).
    pub fn apply_async_with<A, R>(
        &self,
        f: fn(A) -> R,
        args: A,
        opts: TaskOptions<R>,
    ) -> Result<AsyncResult<R>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let mut opts = Some(opts);
        let mut r = self.submit(f, [args], || opts.take().unwrap_or_default())?;
        Ok(r.remove(0))
    }

    /// `pool.apply(f, (a,))`: runs it on a worker and waits.
    pub fn apply<A, R>(&self, f: fn(A) -> R, args: A) -> Result<R, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.apply_async(f, args)?.get()
    }

    /// One task per item, all queued in one round trip per 4096; their results in order.
    pub fn submit_many<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<Vec<AsyncResult<R>>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.submit(f, items, TaskOptions::new)
    }

    /// `pool.map(f, items)`: the results in order; the first failure is the error.
    pub fn map<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<Vec<R>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.submit_many(f, items)?
            .iter()
            .map(AsyncResult::get)
            .collect()
    }

    /// Cancels every task of this handle still queued (they fail with
    /// [`PoolError::Cancelled`] and never run); how many.
    pub fn cancel_queued(&self) -> usize {
        let seqs = self.inner.pending_seqs();
        seqs.into_iter()
            .filter(|&s| self.inner.cancel(s, false))
            .count()
    }

    /// `close()`: no more tasks from this handle.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Relaxed);
    }

    /// `join()` after `close()`: waits until every task of this handle has its result.
    pub fn join(&self) -> Result<(), PoolError> {
        self.join_timeout(None)
    }

    /// As [`join`](Self::join), for at most `timeout`: [`PoolError::Timeout`] after it.
    pub fn join_timeout(&self, timeout: Option<Duration>) -> Result<(), PoolError> {
        if !self.inner.closed.load(Ordering::Relaxed) {
            return Err(PoolError::StillRunning);
        }
        let deadline = timeout.and_then(crate::sync::deadline);
        let mut g = self
            .inner
            .idle_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while self.inner.pending_len() > 0 {
            let now = Instant::now();
            let slice = match deadline {
                Some(d) if d <= now => return Err(PoolError::Timeout),
                Some(d) => d - now,
                None => Duration::from_secs(3600),
            };
            g = self
                .inner
                .idle
                .wait_timeout(g, slice)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        Ok(())
    }

    /// `terminate()`: no more tasks; tasks of this handle still queued are taken back
    /// (never run) and fail with [`PoolError::Terminated`], as does every result not yet
    /// in. Tasks already claimed run to their end on their workers; their results are
    /// dropped.
    pub fn terminate(&self) {
        self.close();
        let all: Vec<(u64, Vec<u8>)> = self
            .inner
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(s, p)| (*s, p.payload.clone()))
            .collect();
        let payloads: Vec<Vec<u8>> = all.iter().map(|(_, p)| p.clone()).collect();
        let _ = self
            .inner
            .backend
            .remove_each(&self.inner.keys.tasks, &payloads);
        for (seq, _) in all {
            self.inner.finish(seq, Err(PoolError::Terminated));
        }
    }

    /// Drops every task waiting in the namespace's queue for this build, any client's (≈
    /// `celery purge`); this handle's fail with [`PoolError::Terminated`]. Tasks already
    /// claimed run on. How many were dropped.
    pub fn purge(&self) -> Result<u64, RemoteError> {
        let n = self.inner.backend.len(&self.inner.keys.tasks)?;
        self.inner.backend.delete(&self.inner.keys.tasks, None)?;
        let queued = self.inner.pending_seqs();
        for seq in queued {
            self.inner.finish(seq, Err(PoolError::Terminated));
        }
        Ok(n)
    }

    /// Tasks of this handle without a result yet.
    pub fn pending(&self) -> usize {
        self.inner.pending_len()
    }

    /// Tasks waiting in the namespace's queue for this build (any client's).
    pub fn queued(&self) -> Result<u64, RemoteError> {
        self.inner.backend.len(&self.inner.keys.tasks)
    }

    /// Workers registered in the namespace (live or not yet reaped).
    pub fn workers(&self) -> Result<usize, RemoteError> {
        Ok(self
            .inner
            .backend
            .count(&self.inner.keys.workers)
            .unwrap_or(0) as usize)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// What the reaper does with a lapsed worker's task: another attempt, or `WorkerLost`.
pub(crate) fn reap_decision(
    backend: &dyn Backend,
    keys: &Keys,
    lease: &super::backend::Lease,
) -> Reaped {
    let task: Option<TaskWire> = dec(&lease.payload).ok();
    let Some(task) = task else {
        // Not a task of ours: it cannot be answered; drop it.
        return Reaped::Fail {
            id: "unreadable".into(),
            reply: super::context::key(&keys.ns, "pool", "dead-letters"),
            result: lease.payload.clone(),
            keep: Duration::from_secs(3600),
        };
    };
    let attempts = backend
        .incr(&keys.attempts, Some(task.id.as_bytes()), 1)
        .unwrap_or(i64::MAX);
    if attempts < task.max_attempts as i64 {
        return Reaped::Requeue {
            queue: keys.tasks.clone(),
            delay: Duration::from_millis(task.backoff_ms),
        };
    }
    // A worker's name is `{pid}-{random}-{host}` (see `Worker`).
    let (pid, host) = lease
        .worker
        .rsplit_once(":w:")
        .and_then(|(_, w)| {
            let mut it = w.splitn(3, '-');
            let pid = it.next()?.parse().ok()?;
            let _ = it.next()?;
            Some((pid, it.next()?.to_string()))
        })
        .unwrap_or((0, String::new()));
    let reply = ReplyWire {
        id: task.id.clone(),
        outcome: Outcome::Lost { pid, host },
    };
    Reaped::Fail {
        id: task.id,
        reply: task.reply,
        result: enc(&reply).unwrap_or_default(),
        keep: Duration::from_millis(task.keep_ms),
    }
}

/// How often workers and waiting clients try to reap (one of them wins each period).
pub(crate) const REAP_EVERY: Duration = Duration::from_millis(250);
/// How long a lapsed lease is watched before its tasks are taken: half a lease, between
/// 0.2 and 0.5 s. A worker that was only cut off from the backend retries its renewal every
/// 100 ms, and so renews well within it.
pub(crate) fn reap_grace(lease: Duration) -> Duration {
    (lease / 2).clamp(Duration::from_millis(200), Duration::from_millis(500))
}

/// Reaps lapsed workers and promotes delayed retries, if this caller wins the election.
/// A lost worker's tasks are taken back at most a lease + [`REAP_EVERY`] +
/// [`reap_grace`] after its last renewal (`lease`: this caller's).
pub(crate) fn housekeep(backend: &dyn Backend, keys: &Keys, lease: Duration) {
    let _ = backend.reap(
        &keys.workers,
        &keys.reaper,
        REAP_EVERY,
        reap_grace(lease),
        &mut |l| reap_decision(backend, keys, l),
    );
    let _ = backend.promote(&keys.tasks);
}

/// The collector thread: delivers replies to their results; reaps now and then.
fn collect(pool: Weak<Inner>) {
    let mut last_reap = Instant::now();
    loop {
        let Some(inner) = pool.upgrade() else { return };
        if inner.stop.load(Ordering::Relaxed) {
            return;
        }
        let (backend, reply) = (inner.backend.clone(), inner.reply.clone());
        let waiting = inner.pending_len() > 0;
        drop(inner);
        if waiting && last_reap.elapsed() >= REAP_EVERY {
            if let Some(inner) = pool.upgrade() {
                housekeep(&*backend, &inner.keys, inner.lease);
            }
            last_reap = Instant::now();
        }
        let wait = Wait::Until(
            Instant::now()
                + if waiting {
                    REAP_EVERY
                } else {
                    Duration::from_secs(1)
                },
        );
        // Read without taking, trimmed once delivered: an answer lost on the way (a
        // timeout, a dropped connection) is read again, never lost; one delivered twice is
        // ignored the second time (a result is set once).
        let got = match backend.peek(&reply, 512, wait) {
            Ok(g) => g,
            Err(RemoteError::BackendLost) => {
                // Nothing submitted before can be answered now.
                if let Some(inner) = pool.upgrade() {
                    let seqs = inner.pending_seqs();
                    for s in seqs {
                        inner.finish(
                            s,
                            Err(PoolError::Broken(RemoteError::BackendLost.to_string())),
                        );
                    }
                }
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            // Cut off: the next try reconnects (paced, the backend being away).
            Err(_) => {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let Some(inner) = pool.upgrade() else { return };
        for b in &got {
            let Ok(r) = dec::<ReplyWire>(b) else {
                continue;
            };
            if let Some(seq) = inner.seq_of(&r.id) {
                inner.finish(seq, r.outcome.into_result());
            }
        }
        if !got.is_empty() {
            // Not trimmed (the backend went away): read again, and ignored, next time.
            let _ = backend.trim_front(&reply, got.len());
        }
    }
}
