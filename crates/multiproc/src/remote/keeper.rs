//! The keeper: one thread per process that renews every lease this process holds (locks,
//! semaphores) every third of its length, so a hold lasts as long as the holder lives and
//! lapses one lease after it dies or stalls.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::backend::Backend;
use crate::sync::ResetAfterFork;

/// One lease being kept.
struct Kept {
    id: u64,
    backend: Arc<dyn Backend>,
    key: String,
    holder: String,
    ttl: Duration,
    /// Set when a renewal found the lease lapsed.
    lapsed: Arc<AtomicBool>,
}

#[derive(Default)]
struct Keeper {
    next: u64,
    kept: Vec<Kept>,
    running: bool,
}

// after-fork: reset by remote::keeper (the child holds none of the parent's leases)
static KEEPER: crate::sync::Mutex<Option<Keeper>> =
    crate::sync::Mutex::const_new(crate::sync::RawLock::new(), None);

// after-fork: kept (the handler itself)
static AT_FORK: crate::sys::at_fork::Handler =
    crate::sys::at_fork::Handler::child("remote::keeper", || {
        KEEPER.force_unlock_after_fork();
        *KEEPER.lock() = None;
    });

/// A lease kept alive until dropped (or [`release`](Keep::release)d).
#[derive(Debug)]
pub(crate) struct Keep {
    id: u64,
    lapsed: Arc<AtomicBool>,
}

impl Keep {
    /// Starts renewing `holder`'s lease on `key`.
    pub(crate) fn start(
        backend: &Arc<dyn Backend>,
        key: &str,
        holder: &str,
        ttl: Duration,
    ) -> Keep {
        AT_FORK.register();
        let lapsed = Arc::new(AtomicBool::new(false));
        let mut k = KEEPER.lock();
        let k = k.get_or_insert_with(Keeper::default);
        k.next += 1;
        let id = k.next;
        k.kept.push(Kept {
            id,
            backend: backend.clone(),
            key: key.to_string(),
            holder: holder.to_string(),
            ttl,
            lapsed: lapsed.clone(),
        });
        if !k.running {
            k.running = std::thread::Builder::new()
                .name("multiproc-remote-keeper".into())
                .spawn(run)
                .is_ok();
        }
        Keep { id, lapsed }
    }

    /// Whether a renewal found the lease lapsed.
    pub(crate) fn lapsed(&self) -> bool {
        self.lapsed.load(Ordering::Relaxed)
    }
}

impl Drop for Keep {
    fn drop(&mut self) {
        if let Some(k) = KEEPER.lock().as_mut() {
            k.kept.retain(|e| e.id != self.id);
        }
    }
}

/// A renewal due: (id, backend, key, holder, ttl, lapsed flag).
type Due = (
    u64,
    Arc<dyn Backend>,
    String,
    String,
    Duration,
    Arc<AtomicBool>,
);

/// The keeper thread: renews what is due, then sleeps until the next is (a timer, not a
/// synchronisation: a renewal late by a few ms is harmless); ends when nothing is kept.
fn run() {
    let pid = crate::sys::pid();
    let mut due: Vec<(u64, Instant)> = Vec::new();
    loop {
        let now = Instant::now();
        let work: Vec<Due> = {
            let mut k = KEEPER.lock();
            let Some(k) = k.as_mut() else { return };
            if k.kept.is_empty() || crate::sys::pid() != pid {
                k.running = false;
                return;
            }
            due.retain(|(id, _)| k.kept.iter().any(|e| e.id == *id));
            for e in &k.kept {
                if !due.iter().any(|(id, _)| *id == e.id) {
                    due.push((e.id, now + e.ttl / 3));
                }
            }
            k.kept
                .iter()
                .filter(|e| due.iter().any(|(id, t)| *id == e.id && *t <= now))
                .map(|e| {
                    (
                        e.id,
                        e.backend.clone(),
                        e.key.clone(),
                        e.holder.clone(),
                        e.ttl,
                        e.lapsed.clone(),
                    )
                })
                .collect()
        };
        for (id, backend, key, holder, ttl, lapsed) in work {
            // Unreachable or slow: tried again at the next beat; the lease lapses if it
            // stays so.
            if let Ok(false) = backend.renew(&key, &holder, ttl) {
                lapsed.store(true, Ordering::Relaxed);
            }
            if let Some(d) = due.iter_mut().find(|(i, _)| *i == id) {
                d.1 = Instant::now() + ttl / 3;
            }
        }
        let next = due
            .iter()
            .map(|(_, t)| *t)
            .min()
            .unwrap_or(now + Duration::from_millis(100));
        std::thread::sleep(
            next.saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        );
    }
}
