//! The engine both pools run on: what a task goes through in the parent, whatever runs it.
//!
//! A pool is an [`Engine`] over a worker [`Kind`]: processes (`process.rs`) or threads
//! (`thread.rs`). The engine owns
//!
//! - the *pending queue*: tasks submitted but not yet dispatched, in submission order;
//! - the *tickets* and their [`Board`] (see `ticket.rs`): a dispatched task holds a ticket
//!   until its outcome is known, and its ticket's word says who may do what with it;
//! - the *entries*: for each ticket, where the task's outcome goes (its [`Target`]);
//! - the workers' records, the pool's phase (running, closed, terminated, broken), the
//!   per-task timers (`watcher.rs`), and the handler thread's mailbox.
//!
//! A kind moves jobs to its workers and outcomes back. Whoever removes a task's entry (the
//! handler on a result, a cancel, a timeout, a worker's death, `terminate`) is the one that
//! completes it: an entry is removed once, under the engine's lock, so every task ends
//! exactly once.

use std::collections::VecDeque;

use crossbeam_utils::CachePadded;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use super::group::Group;
use super::result::{Control, Target};
use super::stats::{self, Stats, WorkerStats};
use super::ticket::{Board, State as Ticket};
use super::watcher::{Timer, Timers};
use crate::error::{Panic, PoolError, WorkerExit};

/// An outcome's place, taken from its entry under the engine's lock: the part, its target,
/// and the group's bytes (dropped after the lock).
pub(crate) type Taken = (u32, Arc<dyn Target>, Option<Box<InGroup>>);

/// Tasks given tickets for the feeder to write: (ticket, seq, job).
pub(crate) type Batch<K> = Vec<(u32, u64, <K as Kind>::Job)>;

/// The watcher's poll set: (worker slot, incarnation, its sentinel).
pub(crate) type Sentinels = Vec<(usize, u64, std::os::fd::OwnedFd)>;

/// How a pool's workers are made, fed and stopped.
pub(crate) trait Kind: Send + Sync + Sized + 'static {
    /// A task as the workers receive it (encoded bytes for processes, a closure for threads).
    type Job: Send + 'static;
    /// A started worker.
    type Worker: Send + 'static;
    /// The counters one worker incarnation keeps (`stats.rs`).
    type Words: Deref<Target = [AtomicU64]> + Clone + Send + Sync + 'static;

    /// The task board's words.
    fn board(&self) -> &[AtomicU64];
    /// Hands `job` (ticket `t`, task `seq`) to the workers without blocking, or gives it back.
    /// Called under the engine's lock (unless [`SEND_UNLOCKED`](Kind::SEND_UNLOCKED)), and
    /// never while the kind's feeder writes a batch.
    fn try_send(&self, t: u32, seq: u64, job: Self::Job) -> Result<(), Self::Job>;
    /// Starts worker `index` (its `incarnation`-th start in this pool).
    fn spawn(
        &self,
        engine: &Arc<Engine<Self>>,
        index: usize,
        incarnation: u64,
    ) -> Result<Spawned<Self>, PoolError>;
    /// The worker is in the engine's table (a thread worker waits for this before it runs).
    fn installed(&self, _worker: &Self::Worker) {}
    /// Stops a worker now (SIGKILL for a process; a thread is abandoned).
    fn stop(&self, worker: &Self::Worker);
    /// Waits for an exited worker to end and says how it ended (`stopped`: it was stopped by
    /// [`stop`](Kind::stop); an abandoned thread is then left to finish on its own).
    fn reap(&self, worker: Self::Worker, stopped: bool) -> Reaped;
    /// After `close`, once every task is done: makes `n` idle workers exit (called under the
    /// engine's lock: only records it).
    fn send_stops(&self, n: usize);
    /// Stop messages recorded by [`send_stops`](Kind::send_stops) and not yet written (a
    /// process pool's feeder writes them).
    fn take_stops(&self) -> usize {
        0
    }
    /// Wakes the handler thread (to read the mailbox, or to notice the phase changed).
    fn wake_handler(&self);
    /// Wakes every thread of the pool that may be blocked (at `terminate`).
    fn wake_all(&self);
    /// At `terminate`: drops the jobs handed to the workers and not yet taken by one (a
    /// thread pool's channel), so that what they hold (a borrowing `map_ref`'s chunks) is
    /// released now rather than when the pool is dropped.
    fn drop_queued(&self) {}
    /// The job for chunks `from..` of `group` (a process pool's: to send again the chunks
    /// of a group a dead worker did not start); `None` for a kind without groups.
    fn regroup(&self, _group: &Arc<Group>, _from: u32) -> Option<Self::Job> {
        None
    }
    /// A stopped worker counts as ended at once (an abandoned thread), rather than when the
    /// watcher sees it exit (a killed process).
    const ENDS_WHEN_STOPPED: bool;
    /// [`try_send`](Kind::try_send) never refuses, so a submission hands its job over after
    /// releasing the engine's lock (a thread pool's unbounded channel).
    const SEND_UNLOCKED: bool = false;
    /// The workers' counters say how many tasks ended with a value or an error (a thread
    /// pool's workers deliver themselves); otherwise the engine counts what it delivers.
    const WORKERS_COUNT_OUTCOMES: bool = false;
}

/// A started worker.
pub(crate) struct Spawned<K: Kind> {
    pub worker: K::Worker,
    pub words: K::Words,
    pub pid: u32,
    /// A file descriptor that becomes readable when the worker ends (processes).
    pub sentinel: Option<std::os::fd::OwnedFd>,
}

/// How a worker ended.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reaped {
    pub exit: Option<WorkerExit>,
    /// A panic the worker reported as it died (`panic = "abort"`).
    pub panic: Option<Panic>,
}

/// Where the pool stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    Running,
    Closed,
    Terminated,
    Broken(String),
}

/// What the builder fixed.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub processes: usize,
    pub max_queued: Option<usize>,
    pub task_timeout: Option<Duration>,
    pub name: &'static str,
}

/// Where a task's outcome goes: one task, or a group's chunks (`group.rs`), the tasks
/// `seq..seq + count`, parts `part..part + count` of one target, which end in order.
pub(crate) struct Entry {
    pub seq: u64,
    pub target: Arc<dyn Target>,
    pub part: u32,
    pub timeout: Option<Duration>,
    /// A group's count and bytes; `None` for one task (most entries: kept small).
    pub group: Option<Box<InGroup>>,
}

/// What an entry for a group's chunks has more.
pub(crate) struct InGroup {
    /// Tasks under the entry, and how many of them have ended.
    count: u32,
    ended: u32,
    /// The group's bytes, and where the entry's first chunk is in them (to send again what
    /// a dead worker did not start).
    bytes: Arc<Group>,
    at: u32,
}

impl Entry {
    pub(crate) fn single(
        seq: u64,
        target: Arc<dyn Target>,
        part: u32,
        timeout: Option<Duration>,
    ) -> Entry {
        Entry {
            seq,
            target,
            part,
            timeout,
            group: None,
        }
    }

    /// Tasks under the entry.
    fn count(&self) -> u32 {
        self.group.as_ref().map_or(1, |g| g.count)
    }

    /// Of those, how many have ended.
    fn ended(&self) -> u32 {
        self.group.as_ref().map_or(0, |g| g.ended)
    }

    /// Keeps only the first `n` tasks (a group cut short: `cut_locked`).
    fn keep(&mut self, n: u32) {
        if let Some(g) = &mut self.group {
            g.count = g.count.min(n);
        }
    }

    /// The part of the first task not yet ended (the one an outcome is for).
    pub(crate) fn current_part(&self) -> u32 {
        self.part + self.ended()
    }

    /// Tasks not yet ended.
    pub(crate) fn left(&self) -> u64 {
        u64::from(self.count().saturating_sub(self.ended()))
    }

    /// Whether task `seq` is one of this entry's.
    fn holds(&self, seq: u64) -> bool {
        seq.wrapping_sub(self.seq) < u64::from(self.count())
    }

    /// Fails every task not yet ended with `err`.
    pub(crate) fn fail(self, err: PoolError) {
        for i in self.ended()..self.count() {
            self.target.failed(self.part + i, err.clone());
        }
    }

    /// A group's tasks from its `i`-th on, as an entry of their own (to go back to the
    /// pending queue, or to fail); `None` if there are none.
    fn rest(&self, i: u32) -> Option<Entry> {
        let g = self.group.as_ref()?;
        (i < g.count).then(|| Entry {
            seq: self.seq.wrapping_add(u64::from(i)),
            target: self.target.clone(),
            part: self.part + i,
            timeout: self.timeout,
            group: Some(Box::new(InGroup {
                count: g.count - i,
                ended: 0,
                bytes: g.bytes.clone(),
                at: g.at + i,
            })),
        })
    }
}

struct PendingTask<J> {
    job: J,
    entry: Entry,
}

/// One worker slot's current incarnation.
struct Live<K: Kind> {
    worker: Option<K::Worker>,
    words: K::Words,
    pid: u32,
    incarnation: u64,
    sentinel: Option<std::os::fd::OwnedFd>,
    /// Being stopped (its running task was cancelled or timed out, or `terminate`).
    stopping: bool,
}

struct State<K: Kind> {
    phase: Phase,
    next_seq: u64,
    pending: VecDeque<PendingTask<K::Job>>,
    /// Tickets free to give; with [`State::take_ticket`], which makes new ones up to
    /// `tickets`.
    free: Vec<u32>,
    entries: Vec<Option<Entry>>,
    /// The board's tickets: `entries` grows up to this.
    tickets: usize,
    /// Submitted and not yet ended.
    outstanding: usize,
    workers: Vec<Option<Live<K>>>,
    /// Bumped whenever a worker starts or ends (the watcher rebuilds its poll set).
    generation: u64,
    next_incarnation: u64,
    stops_sent: bool,
    /// A kind's feeder is writing the batch it took (from [`Engine::next_batch`] until it
    /// asks for the next): nothing else hands a job over meanwhile, so tasks go out in
    /// the order they were submitted. A flag read under this lock, where a lock of the
    /// kind's own, taken for every task, bounced between the submitting threads.
    feeding: bool,
    /// Submitters waiting for room in a bounded pool.
    room_waiters: usize,
    /// Workers stopped or ended but not yet reaped.
    to_reap: Vec<K::Worker>,
    totals: WorkerStats,
    workers_started: u64,
    workers_lost: u64,
    threads: Vec<std::thread::JoinHandle<()>>,
    threads_done: bool,
}

/// Tickets whose entries are made when the engine starts; more are made as needed.
const FIRST_TICKETS: usize = 1024;

impl<K: Kind> State<K> {
    /// A free ticket: a released one, or a new one while the board has more.
    fn take_ticket(&mut self) -> Option<u32> {
        if let Some(t) = self.free.pop() {
            return Some(t);
        }
        if self.entries.len() < self.tickets {
            self.entries.push(None);
            return Some((self.entries.len() - 1) as u32);
        }
        None
    }

    /// Whether [`take_ticket`](State::take_ticket) would give one.
    fn has_ticket(&self) -> bool {
        !self.free.is_empty() || self.entries.len() < self.tickets
    }
}

/// The engine (see the [module docs](self)).
pub(crate) struct Engine<K: Kind> {
    /// Read by every thread on every task: on cache lines of its own, away from the `Arc`'s
    /// counts and the lock's word, which the submitting thread writes.
    pub(crate) kind: CachePadded<K>,
    state: CachePadded<Mutex<State<K>>>,
    /// Signalled when the handler exits (`join` waits for that).
    changed: Condvar,
    /// The feeder waits here; kicked only when it has something to do (a task the fast paths
    /// could not hand over, stop messages, or the end), so a steady stream of results costs
    /// no wake-up.
    feed: Condvar,
    /// The feeder is waiting on `feed` (set and cleared under the engine's lock). A kick
    /// while it is not costs nothing: `Condvar::notify_all` makes a `futex` call whether
    /// or not anyone waits, and a handler handing pending tasks over while the feeder
    /// writes made one per result batch (`perf`: 400 a `map` of 100,000 at chunksize 1).
    feeder_waiting: AtomicBool,
    mailbox: Mutex<VecDeque<Box<dyn FnOnce() + Send>>>,
    mailbox_poked: AtomicBool,
    pub(crate) config: Config,
    pub(crate) timers: Timers,
    /// The pool's handler thread (its `thread::current().id()` as a number), for `defer`.
    handler: AtomicU64,
    /// Blocked submitters of a bounded pool wait here.
    room: Condvar,
    /// The handler thread has exited: deferred closures run where they are posted.
    handler_gone: AtomicBool,
    pub(crate) counters: stats::Counters,
    me: Weak<Engine<K>>,
}

fn thread_number() -> u64 {
    // after-fork: kept (a thread's own number; the forked child's thread gets its own)
    thread_local!(static N: u64 = NEXT.fetch_add(1, Ordering::Relaxed));
    // after-fork: kept (numbers only need to be unique within a process)
    static NEXT: AtomicU64 = AtomicU64::new(1);
    N.with(|n| *n)
}

impl<K: Kind> Engine<K> {
    pub(crate) fn new(kind: K, config: Config) -> Arc<Engine<K>> {
        let tickets = Board(kind.board()).tickets();
        // Entries are made as tickets are first needed (a thread pool's board is large).
        let first = tickets.min(FIRST_TICKETS);
        Arc::new_cyclic(|me| Engine {
            state: CachePadded::new(Mutex::new(State {
                phase: Phase::Running,
                next_seq: 1,
                pending: VecDeque::new(),
                free: (0..first as u32).rev().collect(),
                entries: (0..first).map(|_| None).collect(),
                tickets,
                outstanding: 0,
                workers: (0..config.processes).map(|_| None).collect(),
                generation: 0,
                next_incarnation: 0,
                stops_sent: false,
                feeding: false,
                room_waiters: 0,
                to_reap: Vec::new(),
                totals: WorkerStats::default(),
                workers_started: 0,
                workers_lost: 0,
                threads: Vec::new(),
                threads_done: false,
            })),
            kind: CachePadded::new(kind),
            changed: Condvar::new(),
            feed: Condvar::new(),
            feeder_waiting: AtomicBool::new(false),
            mailbox: Mutex::new(VecDeque::new()),
            mailbox_poked: AtomicBool::new(false),
            config,
            timers: Timers::new(),
            handler: AtomicU64::new(0),
            room: Condvar::new(),
            handler_gone: AtomicBool::new(false),
            counters: stats::Counters::default(),
            me: me.clone(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State<K>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn board(&self) -> Board<'_> {
        Board(self.kind.board())
    }

    /// A weak handle for results (cancel, callbacks).
    pub(crate) fn control(&self) -> Weak<dyn Control> {
        self.me.clone() as Weak<dyn Control>
    }

    // ------------------------------------------------------------ starting

    /// Starts every worker; on failure stops those started and says why.
    pub(crate) fn start_workers(self: &Arc<Self>) -> Result<(), PoolError> {
        for i in 0..self.config.processes {
            if let Err(e) = self.spawn_worker(i) {
                self.terminate();
                self.join(None).ok();
                return Err(e);
            }
        }
        Ok(())
    }

    /// Records one of the pool's own threads (handler, watcher, feeder) for `join`.
    pub(crate) fn add_thread(&self, t: std::thread::JoinHandle<()>) {
        self.lock().threads.push(t);
    }

    fn spawn_worker(self: &Arc<Self>, index: usize) -> Result<(), PoolError> {
        let incarnation = {
            let mut st = self.lock();
            st.next_incarnation += 1;
            st.next_incarnation
        };
        let spawned = self.kind.spawn(self, index, incarnation)?;
        let mut st = self.lock();
        st.workers_started += 1;
        st.generation += 1;
        if matches!(st.phase, Phase::Terminated | Phase::Broken(_)) {
            // Terminated while it started: stop it at once.
            self.kind.stop(&spawned.worker);
            self.kind.installed(&spawned.worker);
            st.to_reap.push(spawned.worker);
            return Ok(());
        }
        self.kind.installed(&spawned.worker);
        let late = st.stops_sent;
        if late {
            // Started while `close` was counting the live workers: it needs a stop of its own.
            self.kind.send_stops(1);
        }
        st.workers[index] = Some(Live {
            worker: Some(spawned.worker),
            words: spawned.words,
            pid: spawned.pid,
            incarnation,
            sentinel: spawned.sentinel,
            stopping: false,
        });
        drop(st);
        if late {
            self.kick_feeder();
        }
        self.timers.wake();
        Ok(())
    }

    // ------------------------------------------------------------ submitting

    /// Submits one task: dispatched at once if a ticket is free and nothing is pending,
    /// queued otherwise. With a bounded queue, waits for room until `deadline` (`Some(now)`
    /// for the `try_` form). Returns the task's sequence number.
    pub(crate) fn submit(
        &self,
        job: K::Job,
        target: Arc<dyn Target>,
        part: u32,
        timeout: Option<Duration>,
        deadline: Option<Instant>,
    ) -> Result<u64, PoolError> {
        self.submit_tasks(job, target, part, (1, None), timeout, deadline)
    }

    /// [`submit`](Engine::submit) for one task, or for a group's `count` chunks (parts
    /// `part..part + count`, in one job: `group.rs`), which get the sequence numbers
    /// `seq..seq + count`; returns `seq`.
    pub(crate) fn submit_tasks(
        &self,
        job: K::Job,
        target: Arc<dyn Target>,
        part: u32,
        (count, group): (u32, Option<Arc<Group>>),
        timeout: Option<Duration>,
        deadline: Option<Instant>,
    ) -> Result<u64, PoolError> {
        let mut st = self.lock();
        if let Some(max) = self.config.max_queued {
            // At most `max` tasks wait for a worker: with every worker busy, that is
            // `max + processes` outstanding.
            let limit = max + self.config.processes;
            loop {
                Self::check_running(&st.phase)?;
                if st.outstanding < limit {
                    break;
                }
                st.room_waiters += 1;
                st = match deadline {
                    None => self.room.wait(st).unwrap_or_else(PoisonError::into_inner),
                    Some(d) => {
                        let left = d.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            st.room_waiters -= 1;
                            return Err(PoolError::Full);
                        }
                        self.room
                            .wait_timeout(st, left)
                            .unwrap_or_else(PoisonError::into_inner)
                            .0
                    }
                };
                st.room_waiters -= 1;
            }
        }
        Self::check_running(&st.phase)?;
        let count = count.max(1);
        let seq = st.next_seq;
        st.next_seq += u64::from(count);
        st.outstanding += 1;
        // Written only under the engine's lock: a load and a store, no locked instruction.
        let add = |c: &AtomicU64, n: u32| {
            c.store(c.load(Ordering::Relaxed) + u64::from(n), Ordering::Relaxed);
        };
        add(&self.counters.submitted, count);
        if count > 1 {
            add(&self.counters.grouped, count);
        }
        let mut entry = Entry::single(seq, target, part, timeout.or(self.config.task_timeout));
        if let Some(bytes) = group.filter(|_| count > 1) {
            entry.group = Some(Box::new(InGroup {
                count,
                ended: 0,
                bytes,
                at: 0,
            }));
        }
        if K::SEND_UNLOCKED
            && st.pending.is_empty()
            && let Some(t) = st.take_ticket()
        {
            // The entry is in the table before the job leaves (a worker may end it at once).
            let timeout = entry.timeout;
            self.board().queue(t, seq, timeout.is_some());
            st.entries[t as usize] = Some(entry);
            drop(st);
            if let Some(d) = timeout {
                self.timers.arm(Timer::Task {
                    at: Instant::now() + d,
                    seq,
                    ticket: t,
                    timeout: d,
                });
            }
            if let Err(job) = self.kind.try_send(t, seq, job) {
                // Never for a kind that sets SEND_UNLOCKED; if it did, the task fails.
                drop(job);
                if let Some(e) = self.take_entry(t, seq) {
                    e.fail(PoolError::Broken("the workers' channel closed".into()));
                }
            }
            return Ok(seq);
        }
        if st.pending.is_empty()
            && let Some(t) = st.take_ticket()
        {
            match self.dispatch(&mut st, t, entry, job) {
                Ok(()) => return Ok(seq),
                Err((entry, job)) => {
                    st.free.push(t);
                    st.pending.push_back(PendingTask { job, entry });
                }
            }
        } else {
            st.pending.push_back(PendingTask { job, entry });
        }
        // With tickets to spare, what stopped it was the kind (a full ring, a large message):
        // the feeder's work. Without, a freed ticket will take it.
        let kick = st.has_ticket();
        drop(st);
        if kick {
            self.kick_feeder();
        }
        Ok(seq)
    }

    fn check_running(phase: &Phase) -> Result<(), PoolError> {
        match phase {
            Phase::Running => Ok(()),
            Phase::Broken(why) => Err(PoolError::Broken(why.clone())),
            _ => Err(PoolError::Closed),
        }
    }

    /// Gives `entry` ticket `t` and hands its job over; on refusal gives both back (the
    /// ticket is then unused).
    fn dispatch(
        &self,
        st: &mut State<K>,
        t: u32,
        entry: Entry,
        job: K::Job,
    ) -> Result<(), (Entry, K::Job)> {
        if st.feeding {
            return Err((entry, job)); // after the feeder's batch, by the feeder
        }
        let seq = entry.seq;
        let timeout = entry.timeout;
        self.board().queue(t, seq, timeout.is_some());
        // In the table before the job leaves: a thread worker may finish it at once.
        st.entries[t as usize] = Some(entry);
        match self.kind.try_send(t, seq, job) {
            Ok(()) => {
                if let Some(d) = timeout {
                    self.timers.arm(Timer::Task {
                        at: Instant::now() + d,
                        seq,
                        ticket: t,
                        timeout: d,
                    });
                }
                Ok(())
            }
            Err(job) => {
                self.board().free(t);
                let entry = st.entries[t as usize].take().expect("just placed");
                Err((entry, job))
            }
        }
    }

    /// For a kind's feeder: waits until pending tasks can be given tickets (or the pool is
    /// stopping: `None`), then gives up to `max` of them tickets and returns them to write.
    /// Until its next call, nothing else hands jobs over (see `State::feeding`).
    pub(crate) fn next_batch(&self, max: usize) -> Option<(Batch<K>, usize)> {
        let mut st = self.lock();
        st.feeding = false;
        loop {
            if matches!(st.phase, Phase::Terminated | Phase::Broken(_)) {
                return None;
            }
            let stops = self.kind.take_stops();
            if (!st.pending.is_empty() && st.has_ticket()) || stops > 0 {
                let mut batch = Vec::new();
                while batch.len() < max && !st.pending.is_empty() {
                    let Some(t) = st.take_ticket() else { break };
                    let p = st.pending.pop_front().expect("not empty");
                    let seq = p.entry.seq;
                    self.board().queue(t, seq, p.entry.timeout.is_some());
                    if let Some(d) = p.entry.timeout {
                        self.timers.arm(Timer::Task {
                            at: Instant::now() + d,
                            seq,
                            ticket: t,
                            timeout: d,
                        });
                    }
                    st.entries[t as usize] = Some(p.entry);
                    batch.push((t, seq, p.job));
                }
                st.feeding = true;
                return Some((batch, stops));
            }
            if st.threads_done_ready() {
                return None;
            }
            // Set before the lock is let go in `wait`: whoever changes what the feeder looks
            // at does so under the lock, after this, and then sees the flag.
            self.feeder_waiting.store(true, Ordering::SeqCst);
            st = self.feed.wait(st).unwrap_or_else(PoisonError::into_inner);
            self.feeder_waiting.store(false, Ordering::SeqCst);
        }
    }

    /// Wakes the feeder (it has work, or should look whether the pool is done), if it waits:
    /// called after a change made under the engine's lock, which a feeder not waiting sees
    /// when it next looks (see `feeder_waiting`).
    fn kick_feeder(&self) {
        if self.feeder_waiting.load(Ordering::SeqCst) {
            self.feed.notify_all();
        }
    }

    /// Whether the pool is terminated or broken (feeders and handlers stop).
    pub(crate) fn stopping(&self) -> bool {
        matches!(self.lock().phase, Phase::Terminated | Phase::Broken(_))
    }

    // ------------------------------------------------------------ outcomes

    /// Removes and returns task `seq`'s entry at ticket `t`, freeing the ticket, if it is
    /// still there: the caller then completes the task. Called once per task, whoever ends it.
    pub(crate) fn take_entry(&self, t: u32, seq: u64) -> Option<Entry> {
        let mut st = self.lock();
        let e = self.take_locked(&mut st, t, seq)?;
        drop(st);
        Some(e)
    }

    fn take_locked(&self, st: &mut State<K>, t: u32, seq: u64) -> Option<Entry> {
        let slot = st.entries.get_mut(t as usize)?;
        if slot.as_ref().is_none_or(|e| e.seq != seq) {
            return None;
        }
        let e = slot.take();
        self.board().free(t);
        st.free.push(t);
        self.ended_locked(st);
        self.dispatch_pending(st);
        e
    }

    /// [`take_locked`](Engine::take_locked) for the outcome of task `seq`, which may be one
    /// chunk of a group: the group's entry stays until its last chunk's outcome, and the
    /// entry returned for an earlier chunk names that chunk alone. `None` for an outcome
    /// not expected now (its task was cancelled, timed out, or ended already).
    fn take_part(&self, st: &mut State<K>, t: u32, seq: u64) -> Option<Entry> {
        let e = st.entries.get_mut(t as usize)?.as_mut()?;
        let (first, part) = (e.seq, e.part);
        let Some(g) = e
            .group
            .as_mut()
            .filter(|g| seq.wrapping_sub(first) == u64::from(g.ended))
        else {
            return self.take_locked(st, t, seq);
        };
        if g.ended + 1 == g.count {
            return self.take_locked(st, t, first);
        }
        g.ended += 1;
        Some(Entry::single(
            seq,
            e.target.clone(),
            part + g.ended - 1,
            None,
        ))
    }

    /// Puts `e` (the rest of a group) back at the front of the pending queue, as a new
    /// group; counted as outstanding before the entry it came from ends, so that a closing
    /// pool does not stop its workers in between. Given back when it cannot be sent again
    /// (the pool is terminated): the caller fails it.
    fn requeue_locked(&self, st: &mut State<K>, e: Entry) -> Option<Entry> {
        let job = e
            .group
            .as_ref()
            .and_then(|g| self.kind.regroup(&g.bytes, g.at));
        match job {
            Some(job) if st.phase != Phase::Terminated => {
                st.outstanding += 1;
                st.pending.push_front(PendingTask { job, entry: e });
                self.kick_feeder();
                None
            }
            _ => Some(e),
        }
    }

    /// Hands pending tasks over while tickets are free and the kind takes them without
    /// blocking (a thread pool's channel always does; a process pool's ring while it has room
    /// and the feeder is not writing, which then takes over).
    fn dispatch_pending(&self, st: &mut State<K>) {
        while !st.pending.is_empty() && st.phase != Phase::Terminated {
            let Some(t) = st.take_ticket() else { return };
            let p = st.pending.pop_front().expect("not empty");
            if let Err((entry, job)) = self.dispatch(st, t, p.entry, p.job) {
                st.free.push(t);
                st.pending.push_front(PendingTask { job, entry });
                self.kick_feeder();
                return;
            }
        }
    }

    /// One task fewer outstanding; after `close`, the last one stops the workers.
    fn ended_locked(&self, st: &mut State<K>) {
        st.outstanding -= 1;
        if st.room_waiters > 0 {
            self.room.notify_one();
        }
        if st.outstanding == 0 && st.phase == Phase::Closed && !st.stops_sent {
            st.stops_sent = true;
            let live = st.workers.iter().filter(|w| w.is_some()).count();
            self.kind.send_stops(live);
            self.kick_feeder();
        }
    }

    /// A process worker's result for ticket `t` arrived (`Ok` bytes or why not): a batch
    /// of one (a large result, handled where it lies in the ring).
    pub(crate) fn on_result(&self, t: u32, seq: u64, outcome: Result<&[u8], PoolError>) {
        let key = (t, seq, outcome.is_ok());
        self.on_results(
            std::iter::once(key),
            std::iter::once(outcome),
            &mut Vec::new(),
        );
    }

    /// Removes the entries of tasks a thread worker has ended (several at once: one lock),
    /// as [`take_entry`](Engine::take_entry) does for each; `done` is left empty.
    pub(crate) fn release(&self, done: &mut Vec<(u32, u64)>) {
        if done.is_empty() {
            return;
        }
        // The entries are dropped after the lock is released: dropping one may free its
        // task's whole allocation (its result already taken), which the submitting thread,
        // waiting for this lock, need not wait for. A worker releases 32 at most at a time
        // (`thread.rs`, `RELEASE`); any more would be dropped under the lock.
        let mut entries: [Option<Entry>; 32] = Default::default();
        let mut st = self.lock();
        for (i, (t, seq)) in done.drain(..).enumerate() {
            let e = self.take_locked(&mut st, t, seq);
            if let Some(slot) = entries.get_mut(i) {
                *slot = e;
            }
        }
        drop(st);
        drop(entries);
    }

    /// Several results at once (a process pool's handler drains its ring in batches): one
    /// lock for all of them. `keys` are the results' (ticket, seq, whether the task
    /// returned), `outcomes` the results themselves, in the same order; `taken` is the
    /// caller's buffer, left empty.
    pub(crate) fn on_results<'b>(
        &self,
        keys: impl Iterator<Item = (u32, u64, bool)>,
        outcomes: impl Iterator<Item = Result<&'b [u8], PoolError>>,
        taken: &mut Vec<Option<Taken>>,
    ) {
        let (mut done, mut failed) = (0, 0);
        {
            let mut st = self.lock();
            for (t, seq, ok) in keys {
                let e = self.take_part(&mut st, t, seq);
                if e.is_some() {
                    if ok { done += 1 } else { failed += 1 }
                }
                taken.push(e.map(|e| (e.current_part(), e.target, e.group)));
            }
        }
        // Counted before they are delivered: whoever a delivery wakes sees them counted.
        self.counters.done.fetch_add(done, Ordering::Relaxed);
        if failed > 0 {
            self.counters.failed.fetch_add(failed, Ordering::Relaxed);
        }
        for (e, outcome) in taken.drain(..).zip(outcomes) {
            let Some((part, target, _group)) = e else {
                continue; // cancelled, timed out or terminated first
            };
            match outcome {
                Ok(bytes) => target.returned(part, bytes),
                Err(err) => target.failed(part, err),
            }
        }
    }

    /// Cancels task `seq` (see `AsyncResult::cancel`).
    pub(crate) fn cancel_task(&self, seq: u64, running: bool) -> bool {
        self.cancel_many(&[seq], running) > 0
    }

    /// Cancels each task of `seqs` as [`cancel_task`](Engine::cancel_task) does, finding
    /// them all in one pass over the pending queue and the tickets (a `map`'s many chunks);
    /// how many it cancelled.
    pub(crate) fn cancel_many(&self, seqs: &[u64], running: bool) -> usize {
        if seqs.is_empty() {
            return 0;
        }
        let wanted: std::collections::HashSet<u64> = seqs.iter().copied().collect();
        let (removed, found) = {
            let mut st = self.lock();
            let mut removed = Vec::new();
            if st.pending.iter().any(|p| wanted.contains(&p.entry.seq)) {
                let mut kept = VecDeque::with_capacity(st.pending.len());
                for p in st.pending.drain(..) {
                    if wanted.contains(&p.entry.seq) {
                        removed.push(p);
                    } else {
                        kept.push_back(p);
                    }
                }
                st.pending = kept;
                for _ in &removed {
                    self.ended_locked(&mut st);
                }
            }
            let found: Vec<(u32, u64)> = st
                .entries
                .iter()
                .enumerate()
                .filter_map(|(t, e)| {
                    let seq = e.as_ref()?.seq;
                    wanted.contains(&seq).then_some((t as u32, seq))
                })
                .collect();
            (removed, found)
        };
        let mut n = removed.len();
        let tasks: u64 = removed.iter().map(|p| p.entry.left()).sum();
        self.counters.cancelled.fetch_add(tasks, Ordering::Relaxed);
        for p in removed {
            p.entry.fail(PoolError::Cancelled);
        }
        for (t, seq) in found {
            n += usize::from(self.cancel_ticket(t, seq, running));
        }
        n
    }

    /// Cancels dispatched task `seq` on ticket `t`: queued, it never runs; running, its
    /// worker is stopped when `running` says so. For a group (`seq` its first chunk's), the
    /// chunk running is stopped and the chunks not started fail, when `running` says so;
    /// a group on a worker otherwise runs on, as a running task does.
    fn cancel_ticket(&self, t: u32, seq: u64, running: bool) -> bool {
        loop {
            let mut st = self.lock();
            let Some(e) = st
                .entries
                .get(t as usize)
                .and_then(Option::as_ref)
                .filter(|e| e.seq == seq)
            else {
                return false; // ended meanwhile
            };
            let (count, ended) = (e.count(), e.ended());
            let word = self.board().read(t);
            let Some(i) = Board::index_in(&word, seq, count) else {
                return false;
            };
            let now = seq.wrapping_add(u64::from(i));
            match word.state {
                Ticket::Queued => {
                    if !self.board().cancel_queued(t, seq) {
                        continue; // claimed meanwhile: look again
                    }
                    let e = self.take_locked(&mut st, t, seq);
                    drop(st);
                    if let Some(e) = e {
                        self.counters
                            .cancelled
                            .fetch_add(e.left(), Ordering::Relaxed);
                        e.fail(PoolError::Cancelled);
                    }
                    return true;
                }
                Ticket::Running if running => {
                    drop(st);
                    if self.kill_task(t, now, PoolError::Cancelled) {
                        return true;
                    }
                    // Finished (or, in a group, moved on) meanwhile: look again.
                }
                // A group between two chunks: stop it there (its worker, finding the word
                // moved on, runs no more of it); the chunks not started fail.
                Ticket::Finished if running && i + 1 < count => {
                    if !self.board().stop_group(t, now, word.worker) {
                        drop(st);
                        continue; // moved on meanwhile: look again
                    }
                    let rest = self.cut_locked(&mut st, t, i + 1, ended);
                    drop(st);
                    if let Some(r) = rest {
                        self.counters
                            .cancelled
                            .fetch_add(r.left(), Ordering::Relaxed);
                        r.fail(PoolError::Cancelled);
                    }
                    return true;
                }
                _ => return false,
            }
        }
    }

    /// Cuts the entry on ticket `t` before its `i`-th task (a group's, `i ≥ 1`; `ended` of
    /// its tasks have ended): the tasks from `i` on leave it and are returned (to fail or
    /// to queue again). What stays waits for the outcomes still to come; when none are to
    /// come, the entry ends now and the ticket is free.
    fn cut_locked(&self, st: &mut State<K>, t: u32, i: u32, ended: u32) -> Option<Entry> {
        let e = st.entries.get_mut(t as usize)?.as_mut()?;
        let rest = e.rest(i);
        e.keep(i);
        if ended >= e.count() {
            let first = e.seq;
            drop(self.take_locked(st, t, first));
        }
        rest
    }

    /// Cancels every task not yet running (`shutdown(cancel_futures=True)`): each fails with
    /// `Cancelled` and never runs. Returns how many.
    pub(crate) fn cancel_all_queued(&self) -> usize {
        let (drained, dispatched) = {
            let mut st = self.lock();
            let drained: Vec<PendingTask<K::Job>> = st.pending.drain(..).collect();
            for _ in &drained {
                self.ended_locked(&mut st);
            }
            let dispatched: Vec<u64> = st.entries.iter().flatten().map(|e| e.seq).collect();
            (drained, dispatched)
        };
        let n = drained.len();
        let tasks: u64 = drained.iter().map(|p| p.entry.left()).sum();
        self.counters.cancelled.fetch_add(tasks, Ordering::Relaxed);
        for p in drained {
            p.entry.fail(PoolError::Cancelled);
        }
        n + self.cancel_many(&dispatched, false)
    }

    /// Whether task `seq` has been claimed by a worker and its outcome is not in yet.
    pub(crate) fn task_running(&self, seq: u64) -> bool {
        let st = self.lock();
        let Some(t) = st
            .entries
            .iter()
            .position(|e| e.as_ref().is_some_and(|e| e.holds(seq)))
        else {
            return false;
        };
        drop(st);
        let word = self.board().read(t as u32);
        Board::same_seq(&word, seq) && matches!(word.state, Ticket::Running | Ticket::Finished)
    }

    /// Stops the worker running task `seq` (ticket `t`) and fails the task with `err`; false
    /// if it was no longer running. In a group, the chunks before it whose results are still
    /// on their way keep the entry; the chunks after it fail too when the group is cancelled,
    /// and go back to the pending queue otherwise.
    pub(crate) fn kill_task(&self, t: u32, seq: u64, err: PoolError) -> bool {
        let word = self.board().read(t);
        if !Board::same_seq(&word, seq)
            || word.state != Ticket::Running
            || !self.board().kill(t, seq, word.worker)
        {
            return false;
        }
        let mut st = self.lock();
        let mut ended = None;
        if let Some(Some(live)) = st.workers.get_mut(word.worker)
            && let Some(w) = live.worker.as_ref()
        {
            live.stopping = true;
            self.kind.stop(w);
            ended = Some((word.worker, live.incarnation));
        }
        let (mut killed, mut rest) = (None, None);
        if let Some(e) = st.entries.get(t as usize).and_then(Option::as_ref)
            && e.holds(seq)
        {
            let (first, done) = (e.seq, e.ended());
            let i = seq.wrapping_sub(first) as u32;
            rest = self.cut_locked(&mut st, t, i + 1, done);
            if i == done {
                killed = self.take_locked(&mut st, t, first);
            } else if let Some(e) = st.entries.get_mut(t as usize).and_then(Option::as_mut) {
                // Chunks before it are on their way: the entry waits for them.
                e.keep(i);
                killed = Some(Entry::single(seq, e.target.clone(), e.part + i, None));
            }
        }
        // The chunks after it: cancelled with it, or sent again (failed if the pool is
        // being terminated).
        let mut rest_err = PoolError::Cancelled;
        if !matches!(err, PoolError::Cancelled)
            && let Some(r) = rest.take()
        {
            rest = self.requeue_locked(&mut st, r);
            rest_err = PoolError::Terminated;
        }
        drop(st);
        if K::ENDS_WHEN_STOPPED
            && let (Some((index, incarnation)), Some(me)) = (ended, self.me.upgrade())
        {
            me.on_worker_died(index, incarnation);
        }
        match &err {
            PoolError::Cancelled => self.counters.cancelled.fetch_add(1, Ordering::Relaxed),
            _ => self.counters.timed_out.fetch_add(1, Ordering::Relaxed),
        };
        if let Some(r) = rest {
            if matches!(rest_err, PoolError::Cancelled) {
                self.counters
                    .cancelled
                    .fetch_add(r.left(), Ordering::Relaxed);
            }
            r.fail(rest_err);
        }
        if let Some(e) = killed {
            e.fail(err);
        }
        true
    }

    /// A per-task timer fired: kills the task if it has run past its timeout, or says when
    /// to look again.
    pub(crate) fn check_timeout(&self, t: u32, seq: u64, timeout: Duration) -> Option<Instant> {
        let word = self.board().read(t);
        if !Board::same_seq(&word, seq) {
            return None;
        }
        match word.state {
            Ticket::Queued => Some(Instant::now() + timeout),
            Ticket::Running => {
                let started = self.board().started_ns(t);
                let now = crate::sys::clock::monotonic_ns();
                let due = started.saturating_add(timeout.as_nanos() as u64);
                if started != 0 && now < due {
                    return Some(Instant::now() + Duration::from_nanos(due - now));
                }
                if started == 0 {
                    return Some(Instant::now() + Duration::from_millis(1));
                }
                self.kill_task(t, seq, PoolError::TaskTimeout(timeout));
                None
            }
            _ => None,
        }
    }

    // ------------------------------------------------------------ workers ending

    /// Worker `index` (incarnation `incarnation`) has ended: reaps it, fails the task it was
    /// running (and one whose result it was sending) with `WorkerLost`, and replaces it if
    /// there is still work to do. Called on the handler thread, after every result the worker
    /// sent before it died.
    pub(crate) fn on_worker_died(self: &Arc<Self>, index: usize, incarnation: u64) {
        let live = {
            let mut st = self.lock();
            let here = st
                .workers
                .get(index)
                .is_some_and(|w| w.as_ref().is_some_and(|l| l.incarnation == incarnation));
            if !here {
                return;
            }
            st.generation += 1;
            st.workers[index].take().expect("checked")
        };
        let mut live = live;
        let reaped = match live.worker.take() {
            Some(w) => self.kind.reap(w, live.stopping),
            None => Reaped::default(),
        };
        let err = match (&reaped.panic, reaped.exit) {
            (Some(p), _) => PoolError::Panicked(p.clone()),
            (None, exit) => PoolError::WorkerLost {
                pid: live.pid,
                exit: exit.unwrap_or(WorkerExit::Signal(9)),
            },
        };
        let board = self.board();
        let mut lost = Vec::new();
        {
            let mut st = self.lock();
            st.totals.add(&stats::read(&live.words));
            // A thread never dies under a task: one that ended (stopped, retired) delivered
            // everything it finished, and releases those entries itself.
            let tickets = if K::ENDS_WHEN_STOPPED {
                0
            } else {
                board.tickets() as u32
            };
            for t in 0..tickets {
                let w = board.read(t);
                if w.worker == index
                    && matches!(w.state, Ticket::Running | Ticket::Finished)
                    && let Some((seq, count, ended)) = st
                        .entries
                        .get(t as usize)
                        .and_then(|e| e.as_ref())
                        .map(|e| (e.seq, e.count(), e.ended()))
                    && let Some(i) = Board::index_in(&w, seq, count)
                {
                    // The task the word names is lost, unless it is a group's chunk that
                    // finished and whose result came (every result the worker sent has been
                    // handled); a group's chunks after it were never started: sent again.
                    let delivered = w.state == Ticket::Finished && i < ended;
                    if let Some(rest) = self.cut_locked(&mut st, t, i + 1, ended)
                        && let Some(unsent) = self.requeue_locked(&mut st, rest)
                    {
                        lost.push(unsent); // terminating: nothing is sent again
                    }
                    if !delivered && let Some(e) = self.take_locked(&mut st, t, seq) {
                        lost.push(e);
                    }
                }
            }
            if !lost.is_empty() || !(live.stopping || reaped.exit == Some(WorkerExit::Code(0))) {
                st.workers_lost += 1;
            }
        }
        self.kick_feeder();
        self.timers.wake();
        for e in lost {
            self.counters.lost.fetch_add(e.left(), Ordering::Relaxed);
            e.fail(err.clone());
        }
        self.replace(index);
        // After close or terminate, the last worker's end may be what the handler (and so
        // `join`) waits for: tell it now rather than at its next poll.
        if self.lock().phase != Phase::Running {
            self.wake_handler();
        }
    }

    /// Starts a new worker in slot `index` if the pool still has work for it.
    pub(crate) fn replace(self: &Arc<Self>, index: usize) {
        let needed = {
            let st = self.lock();
            st.workers[index].is_none()
                && match st.phase {
                    Phase::Running => true,
                    Phase::Closed => st.outstanding > 0,
                    _ => false,
                }
        };
        if !needed {
            self.kick_feeder();
            return;
        }
        if let Err(e) = self.spawn_worker(index) {
            let none_left = self.lock().workers.iter().all(Option::is_none);
            if none_left {
                self.break_pool(format!("cannot start a worker: {e}"));
            } else {
                // Try again shortly; the others carry on meanwhile.
                self.timers.arm(Timer::Respawn {
                    at: Instant::now() + Duration::from_millis(100),
                    index,
                });
            }
        }
    }

    /// A worker's initializer failed (or no worker can start): every task fails with
    /// `Broken`, and so does every later submission.
    pub(crate) fn break_pool(&self, why: String) {
        self.stop_everything(Phase::Broken(why.clone()), PoolError::Broken(why));
    }

    // ------------------------------------------------------------ lifecycle

    /// `close()`: no new tasks; workers exit once every task is done.
    pub(crate) fn close(&self) {
        let mut st = self.lock();
        if st.phase != Phase::Running {
            return;
        }
        st.phase = Phase::Closed;
        if st.outstanding == 0 && !st.stops_sent {
            st.stops_sent = true;
            let live = st.workers.iter().filter(|w| w.is_some()).count();
            self.kind.send_stops(live);
        }
        drop(st);
        self.room.notify_all();
        self.kick_feeder();
        self.wake_handler();
    }

    /// `terminate()`: stops every worker now; every unfinished task fails with `Terminated`.
    pub(crate) fn terminate(&self) {
        self.stop_everything(Phase::Terminated, PoolError::Terminated);
    }

    fn stop_everything(&self, phase: Phase, err: PoolError) {
        let mut failed = Vec::new();
        {
            let mut st = self.lock();
            if matches!(st.phase, Phase::Terminated | Phase::Broken(_)) {
                return;
            }
            st.phase = phase;
            while let Some(p) = st.pending.pop_front() {
                failed.push(p.entry);
            }
            for t in 0..st.entries.len() {
                if let Some(e) = st.entries[t].take() {
                    self.board().free(t as u32);
                    st.free.push(t as u32);
                    failed.push(e);
                }
            }
            st.outstanding = 0;
            for w in st.workers.iter_mut().flatten() {
                w.stopping = true;
                if let Some(worker) = w.worker.as_ref() {
                    self.kind.stop(worker);
                }
            }
        }
        self.room.notify_all();
        self.kick_feeder();
        self.kind.drop_queued();
        self.mailbox_poked.store(true, Ordering::SeqCst);
        if !self.on_handler_thread() {
            self.kind.wake_all();
        }
        self.timers.wake();
        // Callbacks of what terminate fails run here: the handler is stopping.
        for e in failed {
            e.fail(err.clone());
        }
        self.run_mailbox();
    }

    /// `join()`: after `close` or `terminate`, waits for the workers to exit and the pool's
    /// threads to end; reaps everything. `PoolError::StillRunning` before that (Python's
    /// `ValueError`), `PoolError::Timeout` if `deadline` passes first.
    pub(crate) fn join(&self, deadline: Option<Instant>) -> Result<(), PoolError> {
        let mut st = self.lock();
        if st.phase == Phase::Running {
            return Err(PoolError::StillRunning);
        }
        while !st.threads_done {
            st = match deadline {
                None => self
                    .changed
                    .wait(st)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(PoolError::Timeout);
                    }
                    self.changed
                        .wait_timeout(st, left.min(Duration::from_millis(50)))
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
        let threads = std::mem::take(&mut st.threads);
        let mut workers: Vec<(K::Worker, bool)> = std::mem::take(&mut st.to_reap)
            .into_iter()
            .map(|w| (w, true))
            .collect();
        for i in 0..st.workers.len() {
            if let Some(mut l) = st.workers[i].take() {
                st.totals.add(&stats::read(&l.words));
                if let Some(w) = l.worker.take() {
                    workers.push((w, l.stopping));
                }
            }
        }
        drop(st);
        for t in threads {
            let _ = t.join();
        }
        for (w, stopped) in workers {
            self.kind.reap(w, stopped);
        }
        self.run_mailbox();
        Ok(())
    }

    /// Called by the handler thread when it exits: `join` may proceed.
    pub(crate) fn handler_exited(&self) {
        self.handler_gone.store(true, Ordering::Release);
        self.lock().threads_done = true;
        self.changed.notify_all();
        self.timers.wake();
        self.run_mailbox();
    }

    /// Whether the handler thread should exit: terminated, or closed with every task done
    /// and every worker gone.
    pub(crate) fn handler_should_exit(&self) -> bool {
        let st = self.lock();
        st.threads_done_ready()
    }

    /// Marks this thread as the pool's handler.
    pub(crate) fn enter_handler(&self) {
        self.handler.store(thread_number(), Ordering::Relaxed);
    }

    // ------------------------------------------------------------ mailbox

    /// Whether the handler has been asked to look (the mailbox, or the pool's phase).
    pub(crate) fn poked(&self) -> bool {
        self.mailbox_poked.load(Ordering::SeqCst)
    }

    /// Asks the handler to look at the mailbox and the pool's phase. The flag is what it
    /// reads; the kind's wake-up only gets it out of its wait (and is skipped on the handler
    /// thread itself, which looks after whatever it is running now).
    pub(crate) fn wake_handler(&self) {
        self.mailbox_poked.store(true, Ordering::SeqCst);
        if !self.on_handler_thread() {
            self.kind.wake_handler();
        }
    }

    fn on_handler_thread(&self) -> bool {
        self.handler.load(Ordering::Relaxed) == thread_number()
    }

    /// Runs every deferred closure (on the handler thread).
    pub(crate) fn run_mailbox(&self) {
        self.mailbox_poked.store(false, Ordering::SeqCst);
        loop {
            let next = self
                .mailbox
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop_front();
            match next {
                Some(f) => f(),
                None => break,
            }
        }
    }

    // ------------------------------------------------------------ looking

    /// Workers running a task now.
    pub(crate) fn busy(&self) -> usize {
        self.lock()
            .workers
            .iter()
            .flatten()
            .filter(|l| stats::is_busy(&l.words))
            .count()
    }

    /// Live workers.
    pub(crate) fn alive(&self) -> usize {
        self.lock().workers.iter().flatten().count()
    }

    /// The live workers' pids (thread pools: their native thread ids).
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.lock()
            .workers
            .iter()
            .flatten()
            .map(|l| l.pid)
            .collect()
    }

    /// Tasks submitted and not yet ended.
    pub(crate) fn outstanding(&self) -> usize {
        self.lock().outstanding
    }

    /// For the watcher: the sentinels of live workers, when they changed since `seen`.
    pub(crate) fn sentinels(&self, seen: u64) -> Option<(u64, Sentinels)> {
        let st = self.lock();
        if st.generation == seen {
            return None;
        }
        let mut out = Vec::new();
        for (i, w) in st.workers.iter().enumerate() {
            if let Some(l) = w
                && let Some(fd) = l.sentinel.as_ref().and_then(|f| f.try_clone().ok())
            {
                out.push((i, l.incarnation, fd));
            }
        }
        Some((st.generation, out))
    }

    /// Statistics now (see `stats.rs`).
    pub(crate) fn stats(&self) -> Stats {
        let st = self.lock();
        let live: Vec<_> = st
            .workers
            .iter()
            .enumerate()
            .filter_map(|(i, w)| w.as_ref().map(|l| (i, l.pid, stats::read(&l.words))))
            .collect();
        stats::build(
            self.config.name,
            &self.counters,
            K::WORKERS_COUNT_OUTCOMES,
            live,
            &st.totals,
            (st.workers_started, st.workers_lost),
            st.outstanding,
        )
    }
}

impl<K: Kind> State<K> {
    /// Terminated or broken, or closed with nothing left to do and no worker alive.
    fn threads_done_ready(&self) -> bool {
        match self.phase {
            Phase::Terminated | Phase::Broken(_) => true,
            Phase::Closed => self.outstanding == 0 && self.workers.iter().all(Option::is_none),
            Phase::Running => false,
        }
    }
}

impl<K: Kind> Control for Engine<K> {
    fn cancel(&self, seq: u64, running: bool) -> bool {
        self.cancel_task(seq, running)
    }

    fn cancel_many(&self, seqs: &[u64], running: bool) -> usize {
        Engine::cancel_many(self, seqs, running)
    }

    fn running(&self, seq: u64) -> bool {
        self.task_running(seq)
    }

    fn defer(&self, f: Box<dyn FnOnce() + Send>) {
        if self.on_handler_thread() || self.handler_gone.load(Ordering::Acquire) {
            f();
            return;
        }
        self.mailbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(f);
        if !self.mailbox_poked.swap(true, Ordering::SeqCst) {
            self.kind.wake_handler();
        }
    }
}
