//! [`Worker`]: runs a namespace's remote pool tasks, on any machine that reaches the
//! backend (the `multiproc worker` command, or [`worker_main`] in the user's program).
//!
//! A worker runs the tasks of its own build only: a task names its function by offset in
//! the executable that submitted it, and waits in that build's queue (see
//! [`build_id`](super::build_id)), so a worker built from older code never runs a newer
//! task's bytes. Slots are threads: `concurrency` tasks at once.
//!
//! It heartbeats: its lease is renewed every third of its length. A worker whose lease
//! lapsed (it stalled past it) takes a new name: whatever it finishes under the old one is
//! refused, since the reaper has taken those tasks back. On `SIGTERM` (with
//! [`worker_main`], or after [`Worker::stop_on_sigterm`]) it claims nothing new, finishes
//! what it runs, and exits.
//!
//! ```no_run
//! // In `main`: `my-app worker --redis redis://host:6379/0 --namespace jobs --concurrency 4`
//! if std::env::args().nth(1).as_deref() == Some("worker") {
//!     multiproc::remote::worker_main();
//! }
//! // ... the program that submits tasks, as usual
//! ```

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use super::backend::{Ack, Backend, Lease, Wait};
use super::context::Remote;
use super::object::{dec, enc};
use super::pool::{Keys, REAP_EVERY, housekeep};
use super::redis_backend::random_u128;
use super::task::{Outcome, ReplyWire, TaskWire, Trampoline};
use crate::error::RemoteError;
use crate::process::Callable;

/// What a worker did, when it stops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Tasks run whose result was accepted.
    pub accepted: u64,
    /// Results refused (the lease had lapsed) or dropped as duplicates.
    pub refused: u64,
    /// Times the worker's lease lapsed and it took a new name.
    pub renamed: u64,
}

/// A worker for a namespace's pool (see the module docs).
#[derive(Debug)]
pub struct Worker {
    remote: Remote,
    concurrency: usize,
    prefetch: usize,
    stop: Arc<AtomicBool>,
    sigterm: bool,
}

struct Shared {
    backend: Arc<dyn Backend>,
    keys: Keys,
    lease: Duration,
    /// The worker's current key base (it changes when the lease lapsed).
    name: Mutex<String>,
    stop: Arc<AtomicBool>,
    sigterm: bool,
    accepted: AtomicU64,
    refused: AtomicU64,
    renamed: AtomicU64,
    /// Payloads a slot is running (claimed and not yet acked).
    inflight: Mutex<HashSet<Vec<u8>>>,
    /// Held (shared) by a slot from its claim until its payloads are in `inflight`, and
    /// (exclusive) by the search for orphans, which so never mistakes a task being claimed
    /// for one whose claim's answer was lost.
    claiming: RwLock<()>,
    /// Tasks leased to this worker that no slot knew of (a claim whose answer was lost):
    /// the next free slot runs them.
    orphans: Mutex<Vec<Lease>>,
}

impl Shared {
    /// Finds tasks leased to this worker that no slot runs: a claim executed by the server
    /// whose answer never arrived (timed out, interrupted). Without this a live worker would
    /// hold them for ever.
    fn adopt_orphans(&self) {
        let _exclusive = self
            .claiming
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // Held across the read: a slot that acks a task meanwhile removes it from
        // `inflight` only after this, so a task read here as leased and missing from
        // `inflight` is one no slot has (not one a slot has just finished).
        let mut inflight = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
        let Ok(leased) = self.backend.leases(&self.name()) else {
            return;
        };
        let mut orphans = self.orphans.lock().unwrap_or_else(PoisonError::into_inner);
        for l in leased {
            if inflight.insert(l.payload.clone()) {
                orphans.push(l);
            }
        }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
            || (self.sigterm && crate::sys::process::TERM_REQUESTED.load(Ordering::Relaxed))
    }

    fn name(&self) -> String {
        self.name
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The lease lapsed. A worker that kept trying to renew (the backend stalled or was
    /// cut off) renews it under the same name: the reaper, which waits a grace period for
    /// exactly this, has not taken its tasks. A worker that itself stalled past its lease
    /// takes a new name: whatever it finishes under the old one is refused.
    fn renew_lapsed(&self, stalled: bool) -> Result<(), RemoteError> {
        if !stalled
            && self
                .backend
                .extend(&self.keys.workers, &self.name(), self.lease, true)?
        {
            return Ok(());
        }
        self.renamed.fetch_add(1, Ordering::Relaxed);
        self.register()
    }

    /// Registers under a fresh name.
    fn register(&self) -> Result<(), RemoteError> {
        loop {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_default();
            let wid = format!("{}-{:x}-{host}", std::process::id(), random_u128() as u64);
            let base = self.keys.worker(&wid);
            if self
                .backend
                .extend(&self.keys.workers, &base, self.lease, true)?
            {
                *self.name.lock().unwrap_or_else(PoisonError::into_inner) = base;
                return Ok(());
            }
        }
    }
}

impl Worker {
    /// A worker for `remote`'s namespace: 1 slot, claiming 1 task at a time.
    pub fn new(remote: &Remote) -> Worker {
        Worker {
            remote: remote.clone(),
            concurrency: 1,
            prefetch: 1,
            stop: Arc::new(AtomicBool::new(false)),
            sigterm: false,
        }
    }

    /// Tasks run at once (threads), at least 1.
    pub fn concurrency(mut self, n: usize) -> Worker {
        self.concurrency = n.max(1);
        self
    }

    /// Tasks a slot claims at once (1 by default). More saves round trips on tiny tasks,
    /// but a worker lost with claimed tasks not yet started loses those too.
    pub fn prefetch(mut self, n: usize) -> Worker {
        self.prefetch = n.max(1);
        self
    }

    /// Stops (gracefully) when `SIGTERM` arrives: installs a handler for it.
    pub fn stop_on_sigterm(mut self) -> Result<Worker, RemoteError> {
        crate::sys::process::on_sigterm()
            .map_err(|e| RemoteError::Invalid(format!("cannot handle SIGTERM: {e}")))?;
        self.sigterm = true;
        Ok(self)
    }

    /// A flag that stops the worker (gracefully) when set.
    pub fn stopper(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Runs until stopped; what it did.
    pub fn run(self) -> Result<WorkerStats, RemoteError> {
        let space = &self.remote.space;
        let shared = Arc::new(Shared {
            backend: space.backend.clone(),
            keys: Keys::new(&space.namespace),
            lease: space.lease,
            name: Mutex::new(String::new()),
            stop: self.stop.clone(),
            sigterm: self.sigterm,
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            renamed: AtomicU64::new(0),
            inflight: Mutex::new(HashSet::new()),
            claiming: RwLock::new(()),
            orphans: Mutex::new(Vec::new()),
        });
        shared.register()?;
        let shutdown_seen = shared.backend.get(&shared.keys.shutdown, None)?;
        let slots: Vec<_> = (0..self.concurrency)
            .map(|i| {
                let (s, prefetch) = (shared.clone(), self.prefetch);
                std::thread::Builder::new()
                    .name(format!("multiproc-worker-{i}"))
                    .spawn(move || slot(&s, prefetch))
            })
            .collect::<Result<_, _>>()
            .map_err(|e| RemoteError::Invalid(format!("cannot start a slot: {e}")))?;
        // This thread heartbeats and reaps.
        let beat = shared.lease / 3;
        let mut next_reap = Instant::now();
        let mut next_adopt = Instant::now() + ADOPT_EVERY;
        let mut result = Ok(());
        let mut slept_at = Instant::now();
        let mut pause = Duration::ZERO;
        while !shared.stopping() && !slots.iter().all(|s| s.is_finished()) {
            // Whether this process woke on time from its last pause: oversleeping by half
            // a lease means it was stopped (SIGSTOP, a frozen VM), not merely cut off (time
            // spent waiting for the backend does not count).
            let stalled = slept_at.elapsed() > pause + shared.lease / 2;
            let renewed =
                shared
                    .backend
                    .extend(&shared.keys.workers, &shared.name(), shared.lease, false);
            pause = match renewed {
                Ok(true) => beat,
                Ok(false) => {
                    if let Err(e) = shared.renew_lapsed(stalled) {
                        result = Err(e);
                        break;
                    }
                    beat
                }
                Err(RemoteError::BackendLost) => {
                    result = Err(RemoteError::BackendLost);
                    break;
                }
                // Cut off: try again soon, so the lease is renewed as soon as the backend
                // answers (the reaper waits `REAP_GRACE` for that).
                Err(_) => Duration::from_millis(100),
            };
            if Instant::now() >= next_reap {
                housekeep(&*shared.backend, &shared.keys, shared.lease);
                next_reap = Instant::now() + REAP_EVERY;
                if shared
                    .backend
                    .get(&shared.keys.shutdown, None)
                    .is_ok_and(|now| now != shutdown_seen)
                {
                    break; // `Remote::stop_workers`
                }
            }
            if Instant::now() >= next_adopt {
                shared.adopt_orphans();
                next_adopt = Instant::now() + ADOPT_EVERY;
            }
            // Until the next beat, in short steps so a stop is seen promptly.
            pause = pause.min(REAP_EVERY);
            slept_at = Instant::now();
            let until = slept_at + pause;
            while Instant::now() < until && !shared.stopping() {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        shared.stop.store(true, Ordering::Relaxed);
        for s in slots {
            let _ = s.join();
        }
        // Leaving: no lease, so the reaper forgets this worker at once.
        let name = shared.name();
        let _ = shared.backend.delete(&format!("{name}:alive"), None);
        result.map(|()| WorkerStats {
            accepted: shared.accepted.load(Ordering::Relaxed),
            refused: shared.refused.load(Ordering::Relaxed),
            renamed: shared.renamed.load(Ordering::Relaxed),
        })
    }
}

/// How often a worker looks for tasks leased to it that no slot runs.
const ADOPT_EVERY: Duration = Duration::from_secs(1);

/// A task's lease, its (id, reply list), and its reply, encoded.
type Answer = (Lease, Option<(String, String)>, Vec<u8>);

/// One slot: claims, runs, acks, until the worker stops.
fn slot(s: &Shared, prefetch: usize) {
    while !s.stopping() {
        let name = s.name();
        let orphan = s
            .orphans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let leases = match orphan {
            Some(l) => vec![l],
            None => {
                let shared = s.claiming.read().unwrap_or_else(PoisonError::into_inner);
                // Short blocks, so a stopping worker's slots notice within a quarter second.
                let wait = Wait::Until(Instant::now() + REAP_EVERY);
                match s.backend.claim(&s.keys.tasks, &name, prefetch, wait) {
                    Ok(l) => {
                        let mut inflight =
                            s.inflight.lock().unwrap_or_else(PoisonError::into_inner);
                        for lease in &l {
                            inflight.insert(lease.payload.clone());
                        }
                        drop(shared);
                        l
                    }
                    Err(RemoteError::BackendLost) => return,
                    Err(_) => {
                        drop(shared);
                        std::thread::sleep(Duration::from_millis(100));
                        continue;
                    }
                }
            }
        };
        let mut replies: Vec<Answer> = Vec::new();
        let mut keep = Duration::from_secs(1);
        for lease in leases {
            let (task, outcome) = run_task(&lease.payload);
            let Some(task) = task else {
                // Unreadable: it can never be answered. Drop it from the lease list.
                let _ = s.backend.nack(
                    &lease,
                    &format!("{}:unreadable", s.keys.tasks),
                    Duration::ZERO,
                );
                s.inflight
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&lease.payload);
                continue;
            };
            let reply = ReplyWire {
                id: task.id.clone(),
                outcome,
            };
            let bytes = enc(&reply).unwrap_or_default();
            keep = keep.max(Duration::from_millis(task.keep_ms));
            replies.push((lease, Some((task.id, task.reply)), bytes));
        }
        let acks: Vec<Ack<'_>> = replies
            .iter()
            .filter_map(|(lease, t, result)| {
                let (id, reply) = t.as_ref()?;
                Some(Ack {
                    lease,
                    id,
                    reply,
                    result,
                })
            })
            .collect();
        // Acked until the backend answers: a task left leased by a live worker would wait
        // for ever. Given up only if the worker was renamed (the reaper takes the tasks
        // back), the backend lost its data, or it stops and the backend stays away a lease.
        let since = Instant::now();
        loop {
            match s.backend.ack(&acks, keep) {
                Ok(done) => {
                    for a in done {
                        if a == super::backend::Acked::Accepted {
                            s.accepted.fetch_add(1, Ordering::Relaxed);
                        } else {
                            s.refused.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    break;
                }
                Err(RemoteError::BackendLost) => return,
                Err(_) if s.name() != name || (s.stopping() && since.elapsed() > s.lease) => {
                    s.refused.fetch_add(acks.len() as u64, Ordering::Relaxed);
                    break;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        let mut inflight = s.inflight.lock().unwrap_or_else(PoisonError::into_inner);
        for (lease, _, _) in &replies {
            inflight.remove(&lease.payload);
        }
    }
}

/// Runs one task's bytes: the task (if it decodes) and how it ended.
fn run_task(payload: &[u8]) -> (Option<TaskWire>, Outcome) {
    let task: TaskWire = match dec(payload) {
        Ok(t) => t,
        Err(e) => return (None, Outcome::Refused(e.to_string())),
    };
    let t = match Trampoline::from_parts(task.trampoline.0, &task.trampoline.1) {
        Ok(t) => t,
        Err(e) => return (Some(task), Outcome::Refused(e)),
    };
    let call = (task.function.clone(), task.args.clone());
    let outcome = match catch_unwind(AssertUnwindSafe(|| Callable::call(&t, call))) {
        Ok(Ok(b)) => Outcome::Value(b),
        Ok(Err(m)) => Outcome::Refused(m),
        Err(p) => Outcome::Panicked(crate::thread::to_panic("remote worker", &*p)),
    };
    (Some(task), outcome)
}

impl Remote {
    /// Asks every worker of the namespace running now to stop gracefully (as `SIGTERM`
    /// does: running tasks finish, nothing new is claimed); workers started afterwards
    /// are not affected (≈ Celery's `control.shutdown()`).
    pub fn stop_workers(&self) -> Result<(), RemoteError> {
        let keys = Keys::new(&self.space.namespace);
        self.space.backend.incr(&keys.shutdown, None, 1).map(|_| ())
    }
}

/// The worker entry point for a user's program (the same build as the program that
/// submits): reads `--redis URL`, `--namespace NS` and `--concurrency N` (or the
/// environment's `MULTIPROC_REDIS`, `MULTIPROC_NAMESPACE`, `MULTIPROC_CONCURRENCY`),
/// runs a [`Worker`] until `SIGTERM`, and exits the process (status 0, or 1 with the
/// error on stderr).
pub fn worker_main() -> ! {
    let mut url = std::env::var("MULTIPROC_REDIS").ok();
    let mut ns = std::env::var("MULTIPROC_NAMESPACE").ok();
    let mut n: usize = std::env::var("MULTIPROC_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let args: Vec<String> = std::env::args().collect();
    for w in args.windows(2) {
        match w[0].as_str() {
            "--redis" => url = Some(w[1].clone()),
            "--namespace" => ns = Some(w[1].clone()),
            "--concurrency" => n = w[1].parse().unwrap_or(n),
            _ => {}
        }
    }
    let code = match (url, ns) {
        (Some(url), Some(ns)) => match run_worker(&url, &ns, n) {
            Ok(_) => 0,
            Err(e) => {
                eprintln!("multiproc worker: {e}");
                1
            }
        },
        _ => {
            eprintln!("multiproc worker: --redis URL and --namespace NS are required");
            2
        }
    };
    std::process::exit(code)
}

/// Connects and runs a worker with `concurrency` slots until `SIGTERM`.
pub fn run_worker(
    url: &str,
    namespace: &str,
    concurrency: usize,
) -> Result<WorkerStats, RemoteError> {
    let remote = super::connect(url, namespace)?;
    Worker::new(&remote)
        .concurrency(concurrency)
        .stop_on_sigterm()?
        .run()
}
