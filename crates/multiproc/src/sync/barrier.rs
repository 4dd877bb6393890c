//! `Barrier` (≈ `threading.Barrier`), a port of CPython's state machine.
//!
//! States: *filling* (threads arrive), *draining* (the cycle completed; threads leave),
//! *resetting* (`reset()` while threads waited: they leave with `BrokenBarrier`), *broken*.
//! Each state change happens under the barrier's [`Condition`], and every waiter blocks in
//! `wait_for(state != filling)`. The `parties`-th arrival runs the action, then opens the cycle.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::time::{Duration, Instant};

use super::condition::{Condition, ConditionGuard};
use super::lock::Lock;
use crate::error::BrokenBarrier;
use crate::primitive::atomic::{AtomicI32, AtomicU32, Ordering};

const FILLING: i32 = 0;
const DRAINING: i32 = 1;
const RESETTING: i32 = -1;
const BROKEN: i32 = -2;

type Action = Box<dyn Fn() + Send + Sync>;

/// A barrier for a fixed number of threads (≈ `threading.Barrier`), reusable cycle after
/// cycle.
///
/// [`wait`](Barrier::wait) returns a distinct index in `0..parties` to each thread of a cycle.
/// A waiter that times out, an [`abort`](Barrier::abort), or an action that panics breaks the
/// barrier: every waiter, now and later, gets [`BrokenBarrier`] until [`reset`](Barrier::reset).
///
/// ```
/// use multiproc::sync::Barrier;
/// use std::sync::Arc;
///
/// let barrier = Arc::new(Barrier::new(3));
/// let handles: Vec<_> = (0..3)
///     .map(|_| {
///         let b = barrier.clone();
///         std::thread::spawn(move || b.wait().unwrap())
///     })
///     .collect();
/// let mut indices: Vec<u32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
/// indices.sort();
/// assert_eq!(indices, [0, 1, 2]);
/// ```
pub struct Barrier {
    cond: Condition<Lock>,
    state: AtomicI32,
    count: AtomicU32,
    parties: u32,
    timeout: Option<Duration>,
    action: Option<Action>,
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("n_waiting", &self.n_waiting())
            .field("broken", &self.broken())
            .finish()
    }
}

impl Barrier {
    /// A barrier for `parties` threads.
    ///
    /// # Panics
    /// If `parties` is 0 (Python 3.11 accepts it and then misbehaves; we refuse).
    pub fn new(parties: u32) -> Barrier {
        assert!(parties > 0, "a Barrier needs at least one party");
        Barrier {
            cond: Condition::with_lock(),
            state: AtomicI32::new(FILLING),
            count: AtomicU32::new(0),
            parties,
            timeout: None,
            action: None,
        }
    }

    /// Runs `action` once per cycle, in the last thread to arrive, before any thread is
    /// released. If it panics, that thread gets the panic and the barrier breaks.
    pub fn with_action(mut self, action: impl Fn() + Send + Sync + 'static) -> Barrier {
        self.action = Some(Box::new(action));
        self
    }

    /// The default timeout of [`wait`](Barrier::wait) (Python's `timeout=` argument).
    pub fn with_timeout(mut self, timeout: Duration) -> Barrier {
        self.timeout = Some(timeout);
        self
    }

    /// Waits for all parties; returns this thread's index in the cycle.
    pub fn wait(&self) -> Result<u32, BrokenBarrier> {
        self.wait_inner(self.timeout.and_then(super::deadline))
    }

    /// As [`wait`](Barrier::wait) with its own timeout; a timeout breaks the barrier.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<u32, BrokenBarrier> {
        self.wait_inner(super::deadline(timeout))
    }

    fn state(&self) -> i32 {
        self.state.load(Ordering::Relaxed)
    }

    fn set_state(&self, s: i32) {
        self.state.store(s, Ordering::Relaxed);
    }

    fn wait_inner(&self, deadline: Option<Instant>) -> Result<u32, BrokenBarrier> {
        let mut g = self.cond.acquire();
        // _enter: wait out a previous cycle that is still draining or resetting.
        g.wait_for(|| !matches!(self.state(), DRAINING | RESETTING));
        if self.state() == BROKEN {
            return Err(BrokenBarrier);
        }
        let index = self.count.fetch_add(1, Ordering::Relaxed);
        let result = if index + 1 == self.parties {
            self.release(&g)
        } else {
            self.wait_released(&mut g, deadline)
        };
        // _exit
        self.count.fetch_sub(1, Ordering::Relaxed);
        if self.count.load(Ordering::Relaxed) == 0 && matches!(self.state(), RESETTING | DRAINING) {
            self.set_state(FILLING);
            g.notify_all();
        }
        drop(g);
        match result {
            Ok(()) => Ok(index),
            Err(Broken::Panic(p)) => resume_unwind(p),
            Err(Broken::Barrier) => Err(BrokenBarrier),
        }
    }

    fn release(&self, g: &ConditionGuard<'_, Lock>) -> Result<(), Broken> {
        if let Some(action) = &self.action
            && let Err(p) = catch_unwind(AssertUnwindSafe(action))
        {
            self.break_barrier(g);
            return Err(Broken::Panic(p));
        }
        self.set_state(DRAINING);
        g.notify_all();
        Ok(())
    }

    fn wait_released(
        &self,
        g: &mut ConditionGuard<'_, Lock>,
        deadline: Option<Instant>,
    ) -> Result<(), Broken> {
        let released = match deadline {
            None => {
                g.wait_for(|| self.state() != FILLING);
                true
            }
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                g.wait_for_timeout(left, || self.state() != FILLING)
            }
        };
        if !released {
            self.break_barrier(g);
            return Err(Broken::Barrier);
        }
        if self.state() < 0 {
            return Err(Broken::Barrier);
        }
        Ok(())
    }

    fn break_barrier(&self, g: &ConditionGuard<'_, Lock>) {
        self.set_state(BROKEN);
        g.notify_all();
    }

    /// Returns the barrier to its initial state. Threads waiting now get [`BrokenBarrier`].
    pub fn reset(&self) {
        let g = self.cond.acquire();
        if self.count.load(Ordering::Relaxed) > 0 {
            if matches!(self.state(), FILLING | BROKEN) {
                self.set_state(RESETTING);
            }
        } else {
            self.set_state(FILLING);
        }
        g.notify_all();
    }

    /// Breaks the barrier: current and future waiters get [`BrokenBarrier`] until `reset`.
    pub fn abort(&self) {
        let g = self.cond.acquire();
        self.break_barrier(&g);
    }

    pub(crate) fn has_action(&self) -> bool {
        self.action.is_some()
    }

    pub(crate) fn make_robust(&self) {
        self.cond.lock().raw().make_robust();
    }

    /// The number of threads needed to pass.
    pub fn parties(&self) -> u32 {
        self.parties
    }

    /// Threads currently waiting in this cycle.
    pub fn n_waiting(&self) -> u32 {
        if self.state() == FILLING {
            self.count.load(Ordering::Relaxed)
        } else {
            0
        }
    }

    /// Whether the barrier is broken.
    pub fn broken(&self) -> bool {
        self.state() == BROKEN
    }
}

enum Broken {
    Barrier,
    Panic(Box<dyn std::any::Any + Send>),
}
