//! The watcher: one thread per pool that sleeps in `poll` on its workers' sentinels (a
//! process pool) and until the next per-task deadline, and acts when either comes:
//!
//! - a worker process ended: the kind is told (a process pool posts it through its result
//!   ring, behind every result that worker sent, so the handler sees them first);
//! - a task's timeout passed: if the task is still running, the engine stops its worker and
//!   fails it with `TaskTimeout`; if it has not started, it is looked at again later (a
//!   timeout counts from the moment a worker starts the task, as in pebble);
//! - a worker could not be restarted: it is tried again.
//!
//! Timers live in a heap under a lock; arming one earlier than the watcher's next wake-up
//! signals its eventfd. Nothing here spins: an idle pool's watcher sleeps in `poll`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::engine::{Engine, Kind};

/// Something the watcher must do at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Check task `seq` (ticket `ticket`) against its timeout.
    Task {
        at: Instant,
        seq: u64,
        ticket: u32,
        timeout: Duration,
    },
    /// Try again to start a worker in slot `index`.
    Respawn { at: Instant, index: usize },
}

impl Timer {
    fn at(&self) -> Instant {
        match *self {
            Timer::Task { at, .. } | Timer::Respawn { at, .. } => at,
        }
    }
}

impl Ord for Timer {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.at().cmp(&other.at()).then_with(|| {
            let key = |t: &Timer| match *t {
                Timer::Task { seq, .. } => (0, seq),
                Timer::Respawn { index, .. } => (1, index as u64),
            };
            key(self).cmp(&key(other))
        })
    }
}

impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The timer heap and the eventfd that wakes the watcher.
pub(crate) struct Timers {
    heap: Mutex<BinaryHeap<Reverse<Timer>>>,
    wake: Option<OwnedFd>,
}

impl Timers {
    pub(crate) fn new() -> Timers {
        Timers {
            heap: Mutex::new(BinaryHeap::new()),
            wake: crate::sys::io::eventfd().ok(),
        }
    }

    /// Adds a timer, waking the watcher if it is now the earliest.
    pub(crate) fn arm(&self, t: Timer) {
        let mut heap = self.heap.lock().unwrap_or_else(PoisonError::into_inner);
        let earliest = heap.peek().is_none_or(|Reverse(first)| t.at() < first.at());
        heap.push(Reverse(t));
        drop(heap);
        if earliest {
            self.wake();
        }
    }

    /// Wakes the watcher (the worker set or the pool's phase changed).
    pub(crate) fn wake(&self) {
        if let Some(fd) = &self.wake {
            crate::sys::io::eventfd_signal(fd);
        }
    }

    fn next(&self) -> Option<Instant> {
        let heap = self.heap.lock().unwrap_or_else(PoisonError::into_inner);
        heap.peek().map(|Reverse(t)| t.at())
    }

    fn due(&self, now: Instant) -> Vec<Timer> {
        let mut heap = self.heap.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = Vec::new();
        while heap.peek().is_some_and(|Reverse(t)| t.at() <= now) {
            out.push(heap.pop().expect("peeked").0);
        }
        out
    }
}

/// How long the watcher sleeps at most with nothing to wait for (a safety net: every change
/// signals its eventfd).
const IDLE: Duration = Duration::from_secs(1);

/// The watcher thread's body; `died(index, incarnation)` reports a worker process that ended.
pub(crate) fn run<K: Kind>(engine: Arc<Engine<K>>, died: impl Fn(usize, u64)) {
    let mut generation = u64::MAX;
    let mut sentinels: Vec<(usize, u64, OwnedFd)> = Vec::new();
    let mut reported: HashSet<(usize, u64)> = HashSet::new();
    loop {
        if engine.handler_should_exit() {
            break;
        }
        if let Some((g, fds)) = engine.sentinels(generation) {
            generation = g;
            sentinels = fds;
            reported.retain(|k| sentinels.iter().any(|(i, n, _)| (*i, *n) == *k));
        }
        let now = Instant::now();
        let deadline = engine
            .timers
            .next()
            .map_or(now + IDLE, |t| t.min(now + IDLE));
        let mut fds = Vec::with_capacity(sentinels.len() + 1);
        if let Some(w) = &engine.timers.wake {
            fds.push(w.as_fd());
        }
        let watched: Vec<&(usize, u64, OwnedFd)> = sentinels
            .iter()
            .filter(|(i, n, _)| !reported.contains(&(*i, *n)))
            .collect();
        let first = fds.len();
        fds.extend(watched.iter().map(|(_, _, fd)| fd.as_fd()));
        let ready = crate::sys::process::poll_any(&fds, Some(deadline)).unwrap_or_default();
        for i in ready {
            if i < first {
                if let Some(w) = &engine.timers.wake {
                    crate::sys::io::eventfd_read(w);
                }
            } else {
                let (index, incarnation, _) = watched[i - first];
                reported.insert((*index, *incarnation));
                died(*index, *incarnation);
            }
        }
        for t in engine.timers.due(Instant::now()) {
            match t {
                Timer::Task {
                    seq,
                    ticket,
                    timeout,
                    ..
                } => {
                    if let Some(at) = engine.check_timeout(ticket, seq, timeout) {
                        engine.timers.arm(Timer::Task {
                            at,
                            seq,
                            ticket,
                            timeout,
                        });
                    }
                }
                Timer::Respawn { index, .. } => engine.replace(index),
            }
        }
    }
}
