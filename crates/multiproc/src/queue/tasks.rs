//! The unfinished-task accounting behind `task_done()` and `join()`.
//!
//! unfinished = (items put) − (task_done calls). `put` is the hot path, so the put count is
//! sharded: each producer thread bumps its own counter, on its own cache line, with a plain
//! load and store (it is the only writer), instead of a locked read-modify-write on one shared
//! word. That RMW alone halved single-producer throughput here: a slower producer makes the
//! consumer find the queue empty and park. `task_done` (one RMW on the done count) and `join`
//! sum the shards; both are rarer than `put` and already pay for a wake-up path.
//!
//! Ordering: a producer's shard store happens before the item is sent, and the send happens
//! before the consumer's receive, so the `task_done` for an item always sees that item's put.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crossbeam_utils::CachePadded;
use thread_local::ThreadLocal;

use crate::error::TaskDoneError;
use crate::sync::Mutex;
use crate::sync::condition::WaitQueue;

#[derive(Debug, Default)]
pub(crate) struct Tasks {
    puts: ThreadLocal<CachePadded<AtomicUsize>>,
    done: CachePadded<AtomicUsize>,
    lock: Mutex<()>,
    all_done: WaitQueue,
}

impl Tasks {
    /// Counts one item put by the calling thread (call before the item becomes visible).
    #[inline]
    pub(crate) fn add(&self) {
        let mine = self.puts.get_or(Default::default);
        mine.store(mine.load(Ordering::Relaxed) + 1, Ordering::Release);
    }

    /// Takes back an `add` whose item was never enqueued.
    pub(crate) fn undo_add(&self) {
        let mine = self.puts.get_or(Default::default);
        mine.store(mine.load(Ordering::Relaxed) - 1, Ordering::Release);
        self.notify_if_all_done();
    }

    fn total_puts(&self) -> usize {
        self.puts.iter().map(|c| c.load(Ordering::Acquire)).sum()
    }

    pub(crate) fn task_done(&self) -> Result<(), TaskDoneError> {
        let done = self.done.fetch_add(1, Ordering::AcqRel) + 1;
        let puts = self.total_puts();
        if done > puts {
            self.done.fetch_sub(1, Ordering::AcqRel);
            return Err(TaskDoneError);
        }
        if done == puts {
            self.notify_if_all_done();
        }
        Ok(())
    }

    fn notify_if_all_done(&self) {
        let _g = self.lock.lock();
        if self.unfinished() == 0 {
            self.all_done.notify_all();
        }
    }

    pub(crate) fn join_until(&self, deadline: Option<Instant>) -> bool {
        let mut g = self.lock.lock();
        while self.unfinished() != 0 {
            if !self.all_done.wait_until(&mut g, deadline) {
                return self.unfinished() == 0;
            }
        }
        true
    }

    /// Items put and not yet marked done. Reads `done` first, so a concurrent put/task_done
    /// pair can only make this larger, never wrap below zero.
    pub(crate) fn unfinished(&self) -> usize {
        let done = self.done.load(Ordering::Acquire);
        self.total_puts().saturating_sub(done)
    }
}
