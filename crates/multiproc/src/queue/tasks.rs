//! The unfinished-task counter behind `task_done()` and `join()`.
//!
//! `put` adds one; `task_done` takes one away and, on reaching zero, wakes `join`ers. The count
//! is an atomic so `put` and `task_done` cost one atomic op; only the transition to zero and
//! `join` itself touch the lock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crossbeam_utils::CachePadded;

use crate::error::TaskDoneError;
use crate::sync::Mutex;
use crate::sync::condition::WaitQueue;

#[derive(Debug, Default)]
pub(crate) struct Tasks {
    /// Written by every `put`: on its own cache line, so consumers reading the queue's other
    /// fields do not pay for producers' writes (false sharing cost 4× in throughput).
    unfinished: CachePadded<AtomicUsize>,
    lock: Mutex<()>,
    all_done: WaitQueue,
}

impl Tasks {
    pub(crate) fn add(&self) {
        self.unfinished.fetch_add(1, Ordering::AcqRel);
    }

    /// Takes back an `add` whose item was never enqueued.
    pub(crate) fn undo_add(&self) {
        let _ = self.task_done();
    }

    pub(crate) fn task_done(&self) -> Result<(), TaskDoneError> {
        let before = self
            .unfinished
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| u.checked_sub(1))
            .map_err(|_| TaskDoneError)?;
        if before == 1 {
            let _g = self.lock.lock();
            self.all_done.notify_all();
        }
        Ok(())
    }

    pub(crate) fn join_until(&self, deadline: Option<Instant>) -> bool {
        let mut g = self.lock.lock();
        while self.unfinished.load(Ordering::Acquire) != 0 {
            if !self.all_done.wait_until(&mut g, deadline) {
                return self.unfinished.load(Ordering::Acquire) == 0;
            }
        }
        true
    }

    pub(crate) fn unfinished(&self) -> usize {
        self.unfinished.load(Ordering::Acquire)
    }
}
