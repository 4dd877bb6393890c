//! The ring's protocols as loom sees them (built only with `--cfg multiproc_loom`): the same
//! [`Wake`](super::wake::Wake), [`Pollers`](super::wake::Pollers) and
//! [`Tasks`](super::tasks::Tasks) code the queues run, wrapped so that `tests/loom.rs` can
//! drive them without a shared-memory segment.
#![allow(
    missing_docs,
    missing_debug_implementations,
    clippy::new_without_default
)]

use crate::primitive::atomic::{AtomicU64, Ordering};

use super::{tasks, wake};

/// One side's word and the futex the other side sleeps on: what a writer does after each
/// record ([`publish`](Self::publish)) and what a reader at the other end does when it finds
/// nothing ([`wait_for`](Self::wait_for)). The same pair serves the space direction.
pub struct Side {
    word: AtomicU64,
    seen: AtomicU64,
    wake: wake::Wake,
}

impl Side {
    pub fn new() -> Side {
        Side {
            word: AtomicU64::new(0),
            seen: AtomicU64::new(0),
            wake: wake::Wake::new(),
        }
    }

    /// Stores `v` as the writer publishes it, then wakes a sleeper.
    pub fn publish(&self, v: u64) {
        wake::store_then_look(&self.word, v);
        self.wake.notify();
    }

    /// Waits, untimed, until the word is at least `v`; returns what it saw.
    pub fn wait_for(&self, v: u64) -> u64 {
        let ok = self
            .wake
            .wait(&self.word, &self.seen, |w| w >= v, None, false, || {});
        assert!(ok, "an untimed wait returned false");
        self.seen.load(Ordering::Relaxed)
    }
}

/// A word watched by `connection::wait`'s pollers.
pub struct Polled {
    word: AtomicU64,
    pollers: wake::Pollers,
}

impl Polled {
    pub fn new() -> Polled {
        Polled {
            word: AtomicU64::new(0),
            pollers: wake::Pollers::new(),
        }
    }

    pub fn publish(&self, v: u64) {
        wake::store_then_look(&self.word, v);
        self.pollers.notify();
    }

    pub fn wait_for(&self, v: u64) {
        let never = std::sync::atomic::AtomicBool::new(false);
        let ok = self
            .pollers
            .wait(|| self.word.load(Ordering::SeqCst) >= v, None, &never);
        assert!(ok, "an untimed poll returned false");
    }
}

/// `JoinableQueue`'s task counter.
pub struct Tasks(tasks::Tasks);

impl Tasks {
    pub fn new() -> Tasks {
        Tasks(tasks::Tasks::new())
    }
    pub fn add(&self) {
        self.0.add()
    }
    pub fn done(&self) -> bool {
        self.0.done()
    }
    pub fn unfinished(&self) -> u32 {
        self.0.unfinished()
    }
    pub fn join(&self) {
        assert!(self.0.join(None), "an untimed join returned false");
    }
}
