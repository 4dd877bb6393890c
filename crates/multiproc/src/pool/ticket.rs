//! The task board: one state word and one start stamp per *ticket*, through which the parent
//! and its workers agree, without a lock, on what became of every task that left the
//! parent's pending queue.
//!
//! A task gets a ticket when it is dispatched (written into the workers' task ring, or a
//! thread pool's channel). Its word goes through:
//!
//! ```text
//!            parent                 worker                  worker
//!  Free ──queue──▶ Queued(seq) ──claim──▶ Running(seq, w) ──finish──▶ Finished(seq, w)
//!                     │                        │
//!              cancel_queued            kill (cancel, timeout)
//!                     ▼                        ▼
//!                   Free                  Kill(seq, w)
//! ```
//!
//! A group (`group.rs`: several chunks of one `map` in one message, under one ticket)
//! goes `Finished(seq, w) ──advance──▶ Running(seq + 1, w)` from each chunk to the next, so
//! the word always names the chunk running now; `stop_group` (a cancel) turns
//! `Finished(seq, w)` into `Kill(seq, w)`, and the worker, failing to advance, runs no more
//! of the group.
//!
//! Every transition is one compare-and-swap of the whole word, sequence number included, so
//! the two sides never both win: a cancelled task is never claimed (the worker's `claim`
//! fails and it skips the message), a task being killed never delivers a result (the
//! worker's `finish` fails and it waits to be stopped), and a ticket reused for a newer task
//! cannot be mistaken for the old one. A process worker claims *inside* its read of the task
//! ring, before the read is committed: killed before the claim, the message is still in the
//! ring for the next worker; killed after it, the word says `Running(seq, w)` and the parent,
//! seeing `w` die, fails exactly that task with `WorkerLost`. No task is ever lost silently.
//!
//! The board is plain memory for a thread pool and a shared segment for a process pool; the
//! same functions serve both.

use std::sync::atomic::{AtomicU64, Ordering};

/// Words per ticket: the state word and the start stamp (monotonic ns), side by side.
pub(crate) const WORDS_PER_TICKET: usize = 2;

/// The stamp of a task without a timeout: nothing reads its start, so the claim does not
/// read the clock for it.
const UNTIMED: u64 = u64::MAX;

const STATE_BITS: u32 = 4;
const WORKER_BITS: u32 = 20;
const SEQ_SHIFT: u32 = STATE_BITS + WORKER_BITS;
const SEQ_MASK: u64 = (1 << (64 - SEQ_SHIFT)) - 1;
/// The largest worker index a word can name.
pub(crate) const MAX_WORKERS: usize = (1 << WORKER_BITS) - 1;

/// Where a ticket's task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Free = 0,
    Queued = 1,
    Running = 2,
    Finished = 3,
    Kill = 4,
}

/// A ticket's word, unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word {
    pub seq: u64,
    pub state: State,
    pub worker: usize,
}

fn pack(seq: u64, state: State, worker: usize) -> u64 {
    debug_assert!(worker <= MAX_WORKERS);
    ((seq & SEQ_MASK) << SEQ_SHIFT) | ((worker as u64) << STATE_BITS) | state as u64
}

fn unpack(w: u64) -> Word {
    let state = match w & ((1 << STATE_BITS) - 1) {
        1 => State::Queued,
        2 => State::Running,
        3 => State::Finished,
        4 => State::Kill,
        _ => State::Free,
    };
    Word {
        seq: w >> SEQ_SHIFT,
        state,
        worker: ((w >> STATE_BITS) & ((1 << WORKER_BITS) - 1)) as usize,
    }
}

/// A view of a board's words (see the [module docs](self)).
#[derive(Clone, Copy)]
pub(crate) struct Board<'a>(pub &'a [AtomicU64]);

impl Board<'_> {
    /// How many tickets the board holds.
    pub(crate) fn tickets(&self) -> usize {
        self.0.len() / WORDS_PER_TICKET
    }

    fn word(&self, t: u32) -> &AtomicU64 {
        &self.0[t as usize * WORDS_PER_TICKET]
    }

    fn stamp(&self, t: u32) -> &AtomicU64 {
        &self.0[t as usize * WORDS_PER_TICKET + 1]
    }

    fn cas(&self, t: u32, from: u64, to: u64) -> bool {
        self.word(t)
            .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Parent, before the task's message is written: `Queued(seq)`. A `timed` task (one
    /// with a timeout) has its start stamped when it is claimed.
    pub(crate) fn queue(&self, t: u32, seq: u64, timed: bool) {
        let stamp = if timed { 0 } else { UNTIMED };
        self.stamp(t).store(stamp, Ordering::Relaxed);
        self.word(t)
            .store(pack(seq, State::Queued, 0), Ordering::Release);
    }

    /// Worker `w`, on reading the message: takes the task unless it was cancelled (or the
    /// ticket has moved on to a newer task). Stamps the start time of a timed task with
    /// `now_ns()`.
    pub(crate) fn claim(&self, t: u32, seq: u64, w: usize, now_ns: impl FnOnce() -> u64) -> bool {
        if (t as usize) >= self.tickets() {
            return false;
        }
        let won = self.cas(t, pack(seq, State::Queued, 0), pack(seq, State::Running, w));
        // The parent wrote the stamp before the word, and the swap acquired it.
        if won && self.stamp(t).load(Ordering::Relaxed) != UNTIMED {
            self.stamp(t).store(now_ns(), Ordering::Release);
        }
        won
    }

    /// Worker `w`, between two tasks of one message (a group, `group.rs`): task `seq` has
    /// sent its result; takes task `seq + 1`, which shares the ticket. (A group never has a
    /// timeout: nothing to stamp.) False if the parent has moved the ticket on (the worker
    /// then runs no more of them).
    pub(crate) fn advance(&self, t: u32, seq: u64, w: usize) -> bool {
        self.cas(
            t,
            pack(seq, State::Finished, w),
            pack(seq.wrapping_add(1), State::Running, w),
        )
    }

    /// Worker `w`: gives back a task it claimed from a streamed message whose writer gave up
    /// half-way (the parent's feeder writes it again whole).
    pub(crate) fn unclaim(&self, t: u32, seq: u64, w: usize) -> bool {
        self.cas(t, pack(seq, State::Running, w), pack(seq, State::Queued, 0))
    }

    /// Worker `w`, after running the task and before sending its result: false if the parent
    /// is stopping this worker for it (cancel, timeout), in which case the result is dropped.
    pub(crate) fn finish(&self, t: u32, seq: u64, w: usize) -> bool {
        self.cas(
            t,
            pack(seq, State::Running, w),
            pack(seq, State::Finished, w),
        )
    }

    /// Parent: the running task `seq` on worker `w` is to be stopped; true if it was still
    /// running (the caller then stops the worker and fails the task).
    pub(crate) fn kill(&self, t: u32, seq: u64, w: usize) -> bool {
        self.cas(t, pack(seq, State::Running, w), pack(seq, State::Kill, w))
    }

    /// Parent: a group whose task `seq` has finished on worker `w` is to run no more of its
    /// tasks (it is cancelled); false if the worker has moved on already.
    pub(crate) fn stop_group(&self, t: u32, seq: u64, w: usize) -> bool {
        self.cas(t, pack(seq, State::Finished, w), pack(seq, State::Kill, w))
    }

    /// Parent: cancels the queued task `seq`, which then never runs; false if a worker has
    /// claimed it already.
    pub(crate) fn cancel_queued(&self, t: u32, seq: u64) -> bool {
        self.cas(t, pack(seq, State::Queued, 0), pack(0, State::Free, 0))
    }

    /// Parent: the ticket is free for another task.
    pub(crate) fn free(&self, t: u32) {
        self.word(t)
            .store(pack(0, State::Free, 0), Ordering::Release);
    }

    /// The ticket's word now.
    pub(crate) fn read(&self, t: u32) -> Word {
        unpack(self.word(t).load(Ordering::Acquire))
    }

    /// When the running timed task started (monotonic ns), 0 if not stamped yet.
    pub(crate) fn started_ns(&self, t: u32) -> u64 {
        self.stamp(t).load(Ordering::Acquire)
    }

    /// Which of the `count` tasks `first..first + count` (full sequence numbers, one group's)
    /// a word names, if any.
    pub(crate) fn index_in(word: &Word, first: u64, count: u32) -> Option<u32> {
        let i = word.seq.wrapping_sub(first & SEQ_MASK) & SEQ_MASK;
        (i < u64::from(count)).then_some(i as u32)
    }

    /// Whether `seq` (a full sequence number) is the one a word names.
    pub(crate) fn same_seq(word: &Word, seq: u64) -> bool {
        word.seq == seq & SEQ_MASK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board(n: usize) -> Vec<AtomicU64> {
        (0..n * WORDS_PER_TICKET)
            .map(|_| AtomicU64::new(0))
            .collect()
    }

    #[test]
    fn a_cancelled_task_is_never_claimed_and_a_claimed_one_cannot_be_cancelled() {
        let words = board(4);
        let b = Board(&words);
        b.queue(1, 10, true);
        assert!(b.cancel_queued(1, 10));
        assert!(!b.claim(1, 10, 3, || 5), "claimed after cancel");
        b.queue(1, 11, true);
        assert!(b.claim(1, 11, 3, || 5));
        assert!(!b.cancel_queued(1, 11), "cancelled after claim");
        assert_eq!(
            b.read(1),
            Word {
                seq: 11,
                state: State::Running,
                worker: 3
            }
        );
        assert_eq!(b.started_ns(1), 5);
    }

    #[test]
    fn only_a_timed_task_reads_the_clock_when_claimed() {
        let words = board(1);
        let b = Board(&words);
        b.queue(0, 1, false);
        assert!(b.claim(0, 1, 0, || panic!("read the clock for an untimed task")));
        b.queue(0, 2, true);
        assert_eq!(b.started_ns(0), 0, "not stamped before the claim");
        assert!(b.claim(0, 2, 0, || 42));
        assert_eq!(b.started_ns(0), 42);
    }

    #[test]
    fn finish_and_kill_exclude_each_other() {
        let words = board(2);
        let b = Board(&words);
        b.queue(0, 7, true);
        assert!(b.claim(0, 7, 1, || 1));
        assert!(b.kill(0, 7, 1));
        assert!(!b.finish(0, 7, 1), "a killed task delivered its result");
        b.queue(0, 8, true);
        assert!(b.claim(0, 8, 1, || 1));
        assert!(b.finish(0, 8, 1));
        assert!(!b.kill(0, 8, 1), "a finished task was killed");
    }

    #[test]
    fn an_abandoned_stream_gives_its_claim_back() {
        let words = board(1);
        let b = Board(&words);
        b.queue(0, 3, true);
        assert!(b.claim(0, 3, 2, || 1));
        assert!(!b.unclaim(0, 3, 1), "another worker's claim");
        assert!(b.unclaim(0, 3, 2));
        assert!(b.claim(0, 3, 1, || 1), "the rewritten message is claimable");
    }

    #[test]
    fn a_reused_ticket_refuses_the_old_task() {
        let words = board(1);
        let b = Board(&words);
        b.queue(0, 1, true);
        assert!(b.cancel_queued(0, 1));
        b.queue(0, 2, true); // the ticket moves on before the old message is read
        assert!(!b.claim(0, 1, 0, || 1), "the old message ran");
        assert!(b.claim(0, 2, 0, || 1));
        assert!(!b.claim(5, 2, 0, || 1), "out of range");
    }

    #[test]
    fn a_group_advances_task_by_task_and_a_kill_stops_it() {
        let words = board(1);
        let b = Board(&words);
        b.queue(0, 40, true);
        assert!(b.claim(0, 40, 1, || 5));
        assert!(
            !b.advance(0, 40, 1),
            "advanced before the first task finished"
        );
        assert!(b.finish(0, 40, 1));
        assert!(!b.advance(0, 40, 2), "another worker's group");
        assert!(b.advance(0, 40, 1));
        let w = b.read(0);
        assert_eq!((w.seq, w.state), (41, State::Running));
        assert_eq!(Board::index_in(&w, 40, 3), Some(1));
        assert_eq!(Board::index_in(&w, 40, 1), None);
        assert_eq!(Board::index_in(&w, 42, 3), None);
        assert!(!b.stop_group(0, 41, 1), "stopped while a task runs");
        assert!(b.finish(0, 41, 1));
        assert!(b.stop_group(0, 41, 1));
        assert!(!b.advance(0, 41, 1), "advanced after a stop");
        b.queue(0, 50, true);
        assert!(b.claim(0, 50, 1, || 5));
        assert!(b.kill(0, 50, 1));
        assert!(!b.finish(0, 50, 1), "a killed group's task delivered");
        assert!(!b.advance(0, 50, 1));
        // Sequence numbers wrap inside the word: a group across the wrap still counts.
        let first = SEQ_MASK;
        b.queue(0, first, true);
        assert!(b.claim(0, first, 0, || 1) && b.finish(0, first, 0));
        assert!(b.advance(0, first, 0));
        assert_eq!(Board::index_in(&b.read(0), first, 2), Some(1));
    }

    #[test]
    fn words_pack_large_sequences_and_workers() {
        let w = pack(SEQ_MASK, State::Kill, MAX_WORKERS);
        assert_eq!(
            unpack(w),
            Word {
                seq: SEQ_MASK,
                state: State::Kill,
                worker: MAX_WORKERS
            }
        );
        assert!(Board::same_seq(
            &unpack(pack(SEQ_MASK + 5, State::Queued, 0)),
            SEQ_MASK + 5
        ));
    }
}
