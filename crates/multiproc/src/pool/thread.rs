//! [`ThreadPool`]: a pool of worker threads (≈ `multiprocessing.pool.ThreadPool`,
//! `multiprocessing.dummy.Pool`), on the same engine as the process [`Pool`](super::Pool).
//!
//! Jobs go to the workers through one channel; each worker claims its task on the board
//! (plain memory here) exactly as a process worker does, so cancelling, timeouts and
//! `terminate` follow the same rules. Functions may be any closure (captures included) and
//! values never leave the process: nothing is encoded.
//!
//! A thread cannot be killed. A task that times out or is cancelled while running fails at
//! once, its worker is *abandoned* (it finishes the function in the background, drops the
//! value and exits) and a new worker takes its place, so the pool keeps its size.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::engine::{Config, Engine, Kind, Reaped, Spawned};
use super::imap::{ChunkSource, IMapIterator};
use super::map::{self, Chunk, Made, MakeChunk, MapResult, MapState};
use super::options::{MapOptions, Room, TaskOptions};
use super::result::{AsyncResult, Deliver, HasSlot, Slot, Submitted, Target};
use super::stats::{self, Counter, Stats};
use super::ticket::{Board, WORDS_PER_TICKET};
use crate::collect::Part;
use crate::error::PoolError;
use crate::sync::Event;

/// Tickets on a thread pool's board: the most tasks handed to its workers at once (more
/// wait in the engine's pending queue, handed over under its lock as tickets free up, which
/// costs the workers and the submitter contention). The board is 16 bytes a ticket (1 MiB of
/// zeroed memory, whose pages are touched only as tickets are used: a new `ThreadPool(2)` adds
/// about 112 KiB RSS); the engine makes entries as tickets are first needed.
const TICKETS: usize = 65536;
/// A worker releases the entries of the tasks it ended this many at a time (or before it
/// waits).
const RELEASE: usize = 32;

/// A task as a worker thread runs it: calls the function, asks `finish()` whether it may
/// deliver, delivers. `None` if it was told not to (the task was cancelled or timed out
/// while running); else whether it failed.
pub(crate) enum ThreadJob {
    /// A chunk of a `map` (or anything else): a closure.
    Boxed(BoxedJob),
    /// One `apply_async`: the job lives in the same allocation as its result.
    Task(Arc<dyn RunTask>),
}

/// A `map` chunk's task: `f` over `items`, the values written into `into` (their place in
/// the list `map` returns) or, when there is none, collected into a vector of their own.
fn map_job<A, R, F>(
    f: Arc<F>,
    items: Vec<A>,
    into: Option<Part<R>>,
    to: Arc<MapState<R>>,
    part: u32,
) -> ThreadJob
where
    A: Send + 'static,
    R: Send + 'static,
    F: Fn(A) -> R + Send + Sync + 'static,
{
    ThreadJob::Boxed(Box::new(move |finish| {
        map_chunk(items.into_iter().map(&*f), into, &to, part, finish)
    }))
}

/// Runs a `map` chunk on a worker: `values` (its function over its items) written into
/// `into` when the chunk has its place in the result, else collected; then delivered to `to`
/// as part `part`, if this worker may still deliver (`finish`).
fn map_chunk<R: Send + 'static>(
    values: impl Iterator<Item = R>,
    into: Option<Part<R>>,
    to: &MapState<R>,
    part: u32,
    finish: &dyn Fn() -> bool,
) -> Option<bool> {
    let ran = catch_unwind(AssertUnwindSafe(|| match into {
        Some(mut into) => {
            // The part is as long as the chunk: every value finds its place.
            into.fill(values);
            Ok(into)
        }
        None => Err(values.collect::<Vec<R>>()),
    }));
    match ran {
        Ok(Ok(into)) => finish().then(|| {
            to.deliver_in_place(part, into);
            false
        }),
        Ok(Err(values)) => finish().then(|| {
            to.deliver(part, values);
            false
        }),
        Err(payload) => {
            let p = crate::thread::to_panic(crate::thread::current_thread().name(), &*payload);
            finish().then(|| {
                to.failed(part, PoolError::Panicked(p));
                true
            })
        }
    }
}

impl ThreadJob {
    fn run(self, finish: &dyn Fn() -> bool) -> Option<bool> {
        match self {
            ThreadJob::Boxed(f) => f(finish),
            ThreadJob::Task(t) => t.run(finish),
        }
    }
}

/// A job as a closure: given `finish`, it runs and says what became of it.
pub(crate) type BoxedJob = Box<dyn FnOnce(&dyn Fn() -> bool) -> Option<bool> + Send>;

/// A task that runs itself (see [`OneTask`]).
pub(crate) trait RunTask: Send + Sync {
    fn run(&self, finish: &dyn Fn() -> bool) -> Option<bool>;
}

/// One `apply_async` on a thread pool: its function, arguments and result in one
/// allocation (a separate boxed job would cost a `malloc` and a cross-thread `free` each).
struct OneTask<R, F, A> {
    slot: Slot<R>,
    job: std::sync::Mutex<Option<(F, A)>>,
}

impl<R: Send + 'static, F: Send + 'static, A: Send + 'static> HasSlot<R> for OneTask<R, F, A> {
    fn slot(&self) -> &Slot<R> {
        &self.slot
    }
}

impl<R: Send + 'static, F: Send + 'static, A: Send + 'static> Target for OneTask<R, F, A> {
    fn returned(&self, part: u32, bytes: &[u8]) {
        self.slot.returned(part, bytes);
    }

    fn failed(&self, part: u32, err: PoolError) {
        self.slot.failed(part, err);
    }
}

impl<R, F, A> RunTask for OneTask<R, F, A>
where
    R: Send + 'static,
    F: FnOnce(A) -> R + Send + 'static,
    A: Send + 'static,
{
    fn run(&self, finish: &dyn Fn() -> bool) -> Option<bool> {
        let job = self
            .job
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let (f, args) = job?;
        run_one(f, args, &self.slot, finish)
    }
}

enum Msg {
    Task { t: u32, seq: u64, job: ThreadJob },
    Stop,
}

/// A worker thread.
pub(crate) struct ThreadWorker {
    handle: Option<crate::thread::JoinHandle<()>>,
    native_id: u32,
    abandoned: Arc<AtomicBool>,
    go: Arc<Event>,
}

/// The thread kind (see the [module docs](self)).
pub(crate) struct Threads {
    board: Box<[AtomicU64]>,
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
    init: Option<Arc<dyn Fn() + Send + Sync>>,
    max_tasks: u64,
    size: usize,
    wake: Event,
    names: AtomicU64,
    /// Worker names: `{prefix}_{n}` from 0 (an executor's), else `ThreadPoolWorker-{n}`
    /// from 1 (Python's `Pool`'s).
    prefix: Option<String>,
    stack_size: Option<usize>,
}

impl Kind for Threads {
    type Job = ThreadJob;
    type Worker = ThreadWorker;
    type Words = Arc<[AtomicU64]>;
    const ENDS_WHEN_STOPPED: bool = true;
    const SEND_UNLOCKED: bool = true;
    const WORKERS_COUNT_OUTCOMES: bool = true;

    fn board(&self) -> &[AtomicU64] {
        &self.board
    }

    fn try_send(&self, t: u32, seq: u64, job: ThreadJob) -> Result<(), ThreadJob> {
        self.tx
            .send(Msg::Task { t, seq, job })
            .map_err(|e| match e.0 {
                Msg::Task { job, .. } => job,
                Msg::Stop => unreachable!("a task was sent"),
            })
    }

    fn spawn(
        &self,
        engine: &Arc<Engine<Self>>,
        index: usize,
        incarnation: u64,
    ) -> Result<Spawned<Self>, PoolError> {
        let words: Arc<[AtomicU64]> = (0..stats::WORDS).map(|_| AtomicU64::new(0)).collect();
        let abandoned = Arc::new(AtomicBool::new(false));
        let go = Arc::new(Event::new());
        let n = self.names.fetch_add(1, Ordering::Relaxed);
        let name = match &self.prefix {
            Some(p) => format!("{p}_{n}"),
            None => format!("ThreadPoolWorker-{}", n + 1),
        };
        let mut b = crate::thread::Builder::new().name(name).daemon(true);
        if let Some(s) = self.stack_size {
            b = b.stack_size(s);
        }
        let (e, w, a, g) = (engine.clone(), words.clone(), abandoned.clone(), go.clone());
        let handle = b
            .spawn(move || worker(e, index, incarnation, w, a, g))
            .map_err(|err| PoolError::Os(format!("cannot start a worker thread: {err}")))?;
        let native_id = handle.native_id().unwrap_or(0);
        Ok(Spawned {
            worker: ThreadWorker {
                handle: Some(handle),
                native_id,
                abandoned,
                go,
            },
            words,
            pid: native_id,
            sentinel: None,
        })
    }

    fn installed(&self, worker: &ThreadWorker) {
        worker.go.set();
    }

    fn stop(&self, worker: &ThreadWorker) {
        worker.abandoned.store(true, Ordering::Release);
    }

    fn reap(&self, mut worker: ThreadWorker, stopped: bool) -> Reaped {
        let me = crate::thread::get_native_id();
        if let Some(h) = worker.handle.take()
            && !stopped
            && worker.native_id != me
        {
            let _ = h.join();
        }
        // An abandoned thread finishes its function on its own; the worker reaping itself
        // (it ended and told the engine) is already on its way out.
        Reaped::default()
    }

    fn send_stops(&self, n: usize) {
        for _ in 0..n {
            let _ = self.tx.send(Msg::Stop);
        }
    }

    fn wake_handler(&self) {
        self.wake.set();
    }

    fn drop_queued(&self) {
        let mut stops = 0;
        while let Ok(msg) = self.rx.try_recv() {
            match msg {
                Msg::Task { .. } => {} // its entry was failed; the job is dropped here
                Msg::Stop => stops += 1,
            }
        }
        self.send_stops(stops);
    }

    fn wake_all(&self) {
        // Idle workers sleep in the channel: a stop each wakes them (busy ones see that they
        // were abandoned when their function returns).
        self.send_stops(self.size);
        self.wake.set();
    }
}

fn worker(
    engine: Arc<Engine<Threads>>,
    index: usize,
    incarnation: u64,
    words: Arc<[AtomicU64]>,
    abandoned: Arc<AtomicBool>,
    go: Arc<Event>,
) {
    go.wait();
    crate::thread::capture_panics_here();
    let k = &engine.kind;
    let counter = Counter(&words);
    counter.started();
    if let Some(init) = &k.init
        && let Err(payload) = catch_unwind(AssertUnwindSafe(|| init()))
    {
        let p = crate::thread::to_panic(crate::thread::current_thread().name(), &*payload);
        engine.break_pool(format!("a worker's initializer panicked: {p}"));
        return;
    }
    counter.ready();
    let board = Board(&k.board);
    let mut done = 0u64;
    // Tasks ended here whose entries are not yet removed: released a few at a time (one lock
    // each time), and always before this thread would wait for more work.
    let mut ended: Vec<(u32, u64)> = Vec::with_capacity(RELEASE);
    loop {
        if abandoned.load(Ordering::Acquire) {
            engine.release(&mut ended);
            return;
        }
        let msg = match k.rx.try_recv() {
            Ok(m) => Ok(m),
            Err(_) => {
                engine.release(&mut ended);
                next_message(&k.rx)
            }
        };
        let (t, seq, job) = match msg {
            Ok(Msg::Task { t, seq, job }) => (t, seq, job),
            Ok(Msg::Stop) | Err(_) => break,
        };
        // The vDSO clock, not a process worker's `stats::Pace`: measured, the pace made a
        // thread pool's trivial tasks slower here (2.03 against 2.19 M/s, 12 runs each).
        let t1 = crate::sys::clock::monotonic_ns();
        if abandoned.load(Ordering::Acquire) {
            engine.release(&mut ended);
            return;
        }
        if !board.claim(t, seq, index, || t1) {
            continue;
        }
        counter.begin(t);
        let outcome = job.run(&|| board.finish(t, seq, index));
        if abandoned.load(Ordering::Acquire) {
            // Stopped for this task: the engine has replaced this worker.
            engine.release(&mut ended);
            return;
        }
        // The pool's done and failed counts are the workers' own (no counter shared between
        // workers to bounce on every task).
        if let Some(failed) = outcome {
            counter.end(crate::sys::clock::monotonic_ns() - t1, 0, failed);
        }
        ended.push((t, seq));
        if ended.len() >= RELEASE {
            engine.release(&mut ended);
        }
        done += 1;
        if k.max_tasks != 0 && done >= k.max_tasks {
            break;
        }
    }
    engine.release(&mut ended);
    engine.on_worker_died(index, incarnation);
}

/// Yields before parking: while tasks keep coming, an idle worker finds the next one
/// without the submitter paying a wake-up (a futex call) for it.
const IDLE_YIELDS: u32 = 64;

fn next_message(rx: &Receiver<Msg>) -> Result<Msg, crossbeam_channel::RecvError> {
    for _ in 0..IDLE_YIELDS {
        match rx.try_recv() {
            Ok(m) => return Ok(m),
            Err(crossbeam_channel::TryRecvError::Disconnected) => {
                return Err(crossbeam_channel::RecvError);
            }
            Err(crossbeam_channel::TryRecvError::Empty) => std::thread::yield_now(),
        }
    }
    rx.recv()
}

/// The handler thread of a thread pool: runs callbacks (the workers deliver values
/// themselves) until the pool is done.
fn handler(engine: Arc<Engine<Threads>>) {
    engine.enter_handler();
    loop {
        engine.kind.wake.wait_timeout(Duration::from_secs(1));
        engine.kind.wake.clear();
        engine.run_mailbox();
        if engine.handler_should_exit() {
            break;
        }
    }
    engine.handler_exited();
}

/// Runs `f(args)`, delivering to `to` unless told not to.
fn run_one<A, R: 'static, F>(
    f: F,
    args: A,
    to: &dyn Deliver<R>,
    finish: &dyn Fn() -> bool,
) -> Option<bool>
where
    F: FnOnce(A) -> R,
{
    match catch_unwind(AssertUnwindSafe(move || f(args))) {
        Ok(v) => finish().then(|| {
            to.deliver(0, v);
            false
        }),
        Err(payload) => {
            let p = crate::thread::to_panic(crate::thread::current_thread().name(), &*payload);
            finish().then(|| {
                to.failed(0, PoolError::Panicked(p));
                true
            })
        }
    }
}

/// Options for a new [`ThreadPool`] (≈ `ThreadPool(processes, initializer, initargs)`).
///
/// ```
/// use multiproc::pool::ThreadPool;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// let started = Arc::new(AtomicUsize::new(0));
/// let s = started.clone();
/// let pool = ThreadPool::builder()
///     .threads(3)
///     .initializer(move || { s.fetch_add(1, Ordering::SeqCst); })
///     .build()
///     .unwrap();
/// pool.map(|x: u32| x, 0..10).unwrap();
/// pool.close();
/// pool.join().unwrap(); // every worker has started (and run its initializer) and ended
/// assert_eq!(started.load(Ordering::SeqCst), 3);
/// ```
#[must_use = "a builder does nothing until build()"]
pub struct ThreadPoolBuilder {
    threads: Option<usize>,
    max_tasks_per_child: Option<u64>,
    max_queued: Option<usize>,
    task_timeout: Option<Duration>,
    init: Option<Arc<dyn Fn() + Send + Sync>>,
    stack_size: Option<usize>,
    prefix: Option<String>,
}

impl fmt::Debug for ThreadPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolBuilder")
            .field("threads", &self.threads)
            .field("max_tasks_per_child", &self.max_tasks_per_child)
            .field("max_queued", &self.max_queued)
            .field("task_timeout", &self.task_timeout)
            .field("initializer", &self.init.is_some())
            .finish()
    }
}

impl Default for ThreadPoolBuilder {
    fn default() -> Self {
        ThreadPoolBuilder::new()
    }
}

impl ThreadPoolBuilder {
    /// Python's defaults: `cpu_count()` threads, no initializer.
    pub fn new() -> ThreadPoolBuilder {
        ThreadPoolBuilder {
            threads: None,
            max_tasks_per_child: None,
            max_queued: None,
            task_timeout: None,
            init: None,
            stack_size: None,
            prefix: None,
        }
    }

    /// Worker threads (`processes=` in Python's `ThreadPool`); 0 is refused by `build`.
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = Some(n);
        self
    }

    /// Runs once in every worker thread as it starts (`initializer=`, `initargs=`: capture
    /// them). If it panics the pool is broken.
    pub fn initializer(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.init = Some(Arc::new(f));
        self
    }

    /// A worker thread exits after this many tasks and is replaced (Python's `ThreadPool`
    /// has no such option; offered for symmetry with [`Pool`](super::Pool)).
    pub fn max_tasks_per_child(mut self, n: u64) -> Self {
        self.max_tasks_per_child = Some(n);
        self
    }

    /// At most `n` tasks wait for a worker (see [`PoolBuilder::max_queued`](super::PoolBuilder::max_queued)).
    pub fn max_queued(mut self, n: usize) -> Self {
        self.max_queued = Some(n);
        self
    }

    /// A default time limit for every task once it runs. A thread cannot be killed: one that
    /// runs past its limit is abandoned and replaced (see [`ThreadPool`]).
    pub fn task_timeout(mut self, d: Duration) -> Self {
        self.task_timeout = Some(d);
        self
    }

    /// Names the workers `{prefix}_0`, `{prefix}_1`, ... (`ThreadPoolExecutor`'s
    /// `thread_name_prefix`); by default `ThreadPoolWorker-1`, `-2`, ...
    pub fn thread_name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Each worker's stack size.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Starts the workers.
    pub fn build(self) -> Result<ThreadPool, PoolError> {
        let threads = self.threads.unwrap_or_else(crate::process::cpu_count);
        if threads == 0 {
            return Err(PoolError::Invalid("Number of processes must be at least 1"));
        }
        if threads > super::ticket::MAX_WORKERS {
            return Err(PoolError::Invalid("too many threads"));
        }
        if self.max_tasks_per_child == Some(0) {
            return Err(PoolError::Invalid(
                "maxtasksperchild must be a positive int or None",
            ));
        }
        if self.max_queued == Some(0) {
            return Err(PoolError::Invalid("max_queued must be at least 1"));
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        let kind = Threads {
            board: (0..TICKETS * WORDS_PER_TICKET)
                .map(|_| AtomicU64::new(0))
                .collect(),
            tx,
            rx,
            init: self.init,
            max_tasks: self.max_tasks_per_child.unwrap_or(0),
            size: threads,
            wake: Event::new(),
            names: AtomicU64::new(0),
            prefix: self.prefix,
            stack_size: self.stack_size,
        };
        let engine = Engine::new(
            kind,
            Config {
                processes: threads,
                max_queued: self.max_queued,
                task_timeout: self.task_timeout,
                name: "ThreadPool",
            },
        );
        let e = engine.clone();
        engine.add_thread(
            std::thread::Builder::new()
                .name("threadpool-handler".into())
                .spawn(move || handler(e))?,
        );
        let e = engine.clone();
        engine.add_thread(
            std::thread::Builder::new()
                .name("threadpool-watcher".into())
                .spawn(move || super::watcher::run(e, |_, _| {}))?,
        );
        engine.start_workers()?;
        Ok(ThreadPool { engine })
    }
}

/// A pool of worker threads (≈ `multiprocessing.pool.ThreadPool` and
/// `multiprocessing.dummy.Pool`), with the same methods as the process [`Pool`](super::Pool).
/// Functions are any closures; values are never encoded.
///
/// ```
/// use multiproc::pool::ThreadPool;
///
/// let offset = 10;
/// let pool = ThreadPool::new(4).unwrap();
/// let out = pool.map(move |x: u64| x + offset, 0..5).unwrap(); // a capturing closure
/// assert_eq!(out, [10, 11, 12, 13, 14]);
/// ```
///
/// Dropping it terminates it (see [`Pool`](super::Pool)); threads busy in a function are
/// abandoned, not waited for. A task that is cancelled or times out while running fails at
/// once, and its thread, which cannot be killed, is abandoned: it finishes the function in
/// the background, drops the value and exits, and a new thread takes its place.
pub struct ThreadPool {
    engine: Arc<Engine<Threads>>,
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<ThreadPool threads={} outstanding={}>",
            self.engine.config.processes,
            self.engine.outstanding()
        )
    }
}

impl ThreadPool {
    /// A pool of `threads` workers; 0 is [`PoolError::Invalid`].
    pub fn new(threads: usize) -> Result<ThreadPool, PoolError> {
        ThreadPoolBuilder::new().threads(threads).build()
    }

    /// A builder (initializer, bounded queue, timeout).
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder::new()
    }

    /// The number of worker threads.
    pub fn processes(&self) -> usize {
        self.engine.config.processes
    }

    /// Runs `f(args)` on a worker and waits for its value (`apply`).
    pub fn apply<A, R, F>(&self, f: F, args: A) -> Result<R, PoolError>
    where
        A: Send + 'static,
        R: Send + 'static,
        F: FnOnce(A) -> R + Send + 'static,
    {
        self.apply_async(f, args)?.get()
    }

    /// Submits `f(args)` (`apply_async`).
    pub fn apply_async<A, R, F>(&self, f: F, args: A) -> Result<AsyncResult<R>, PoolError>
    where
        A: Send + 'static,
        R: Send + 'static,
        F: FnOnce(A) -> R + Send + 'static,
    {
        self.apply_async_with(f, args, TaskOptions::new())
    }

    /// [`apply_async`](ThreadPool::apply_async) with `callback`, `error_callback`, a timeout.
    pub fn apply_async_with<A, R, F>(
        &self,
        f: F,
        args: A,
        opts: TaskOptions<R>,
    ) -> Result<AsyncResult<R>, PoolError>
    where
        A: Send + 'static,
        R: Send + 'static,
        F: FnOnce(A) -> R + Send + 'static,
    {
        self.submit_task(f, args, opts).map(AsyncResult::submitted)
    }

    /// Submits one task: `apply_async_with`, and an executor's `submit`.
    pub(crate) fn submit_task<A, R, F>(
        &self,
        f: F,
        args: A,
        opts: TaskOptions<R>,
    ) -> Result<Submitted<R>, PoolError>
    where
        A: Send + 'static,
        R: Send + 'static,
        F: FnOnce(A) -> R + Send + 'static,
    {
        let control = self.engine.control();
        let job = std::sync::Mutex::new(Some((f, args)));
        let task = if opts.callbacks.is_empty() {
            Arc::new(OneTask {
                slot: Slot::bare(None),
                job,
            })
        } else {
            Arc::new_cyclic(|me: &std::sync::Weak<OneTask<R, F, A>>| OneTask {
                slot: Slot::inside(me, opts.callbacks, Some(&control), None),
                job,
            })
        };
        let job = ThreadJob::Task(task.clone());
        let seq = self
            .engine
            .submit(job, task.clone(), 0, opts.timeout, opts.room.deadline())?;
        Ok(Submitted {
            holder: task,
            seq,
            control,
        })
    }

    /// [`apply_async`](ThreadPool::apply_async) that does not wait for room in a bounded pool.
    pub fn try_apply_async<A, R, F>(&self, f: F, args: A) -> Result<AsyncResult<R>, PoolError>
    where
        A: Send + 'static,
        R: Send + 'static,
        F: FnOnce(A) -> R + Send + 'static,
    {
        let mut o = TaskOptions::new();
        o.room = Room::Until(Instant::now());
        self.apply_async_with(f, args, o)
    }

    /// [`apply_async`](ThreadPool::apply_async) waiting at most `timeout` for room.
    pub fn apply_async_timeout<A, R, F>(
        &self,
        f: F,
        args: A,
        timeout: Duration,
    ) -> Result<AsyncResult<R>, PoolError>
    where
        A: Send + 'static,
        R: Send + 'static,
        F: FnOnce(A) -> R + Send + 'static,
    {
        let mut o = TaskOptions::new();
        o.room = Room::Until(Instant::now() + timeout);
        self.apply_async_with(f, args, o)
    }

    fn chunk_maker<A, R, F>(f: F) -> Box<MakeChunk<'static, Threads, A, R>>
    where
        A: Send + 'static,
        R: Send + 'static,
        F: Fn(A) -> R + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        Box::new(
            move |items: Chunk<A>, to: Arc<dyn Deliver<Vec<R>>>, part: u32| {
                let items: Vec<A> = items.collect();
                let f = f.clone();
                let job = ThreadJob::Boxed(Box::new(move |finish| {
                    match catch_unwind(AssertUnwindSafe(|| {
                        items.into_iter().map(&*f).collect::<Vec<R>>()
                    })) {
                        Ok(v) => finish().then(|| {
                            to.deliver(part, v);
                            false
                        }),
                        Err(payload) => {
                            let p = crate::thread::to_panic(
                                crate::thread::current_thread().name(),
                                &*payload,
                            );
                            finish().then(|| {
                                to.failed(part, PoolError::Panicked(p));
                                true
                            })
                        }
                    }
                }));
                Ok(job)
            },
        )
    }

    /// `f` over every item, in order (`map`); see [`Pool::map`](super::Pool::map).
    pub fn map<A, R, F, I>(&self, f: F, items: I) -> Result<Vec<R>, PoolError>
    where
        A: Send + 'static,
        R: Send + 'static,
        F: Fn(A) -> R + Send + Sync + 'static,
        I: IntoIterator<Item = A>,
    {
        self.map_with(f, items, MapOptions::new())
    }

    /// [`map`](ThreadPool::map) with options.
    pub fn map_with<A, R, F, I>(
        &self,
        f: F,
        items: I,
        opts: MapOptions<R>,
    ) -> Result<Vec<R>, PoolError>
    where
        A: Send + 'static,
        R: Send + 'static,
        F: Fn(A) -> R + Send + Sync + 'static,
        I: IntoIterator<Item = A>,
    {
        self.map_async_with(f, items, opts)?.get()
    }

    /// `map_async`.
    pub fn map_async<A, R, F, I>(&self, f: F, items: I) -> Result<MapResult<R>, PoolError>
    where
        A: Send + 'static,
        R: Send + 'static,
        F: Fn(A) -> R + Send + Sync + 'static,
        I: IntoIterator<Item = A>,
    {
        self.map_async_with(f, items, MapOptions::new())
    }

    /// `map_async` with options.
    pub fn map_async_with<A, R, F, I>(
        &self,
        f: F,
        items: I,
        opts: MapOptions<R>,
    ) -> Result<MapResult<R>, PoolError>
    where
        A: Send + 'static,
        R: Send + 'static,
        F: Fn(A) -> R + Send + Sync + 'static,
        I: IntoIterator<Item = A>,
    {
        // Each chunk is read in the caller's thread and handed out at once; its task writes
        // its values straight into the list `map` returns (`collect.rs`).
        let (mut input, len) = map::Input::new(items.into_iter())?;
        let f = Arc::new(f);
        let mut next = move |size: usize, state: &Arc<MapState<R>>, part: u32| {
            let chunk = input.chunk(size)?;
            if chunk.is_empty() {
                return Ok(None);
            }
            let into = state.part(chunk.len());
            Ok(Some(Made::one(Ok(map_job(
                f.clone(),
                chunk,
                into,
                state.clone(),
                part,
            )))))
        };
        map::map_async(&self.engine, len, Some(1), opts, None, None, &mut next)
    }

    /// `f` over every item of a borrowed slice, in order, as rayon's `par_iter().map()`:
    /// the workers read the caller's items in place (nothing is moved or cloned) and write
    /// every value straight into the list returned. Otherwise as [`map`](ThreadPool::map):
    /// Python's chunk-size rule, the first failure reported once every chunk has ended.
    ///
    /// Lending the items has one rule, as `std::thread::scope`'s: this call returns only
    /// once no worker can touch them any more. A chunk that timed out, was cancelled, or
    /// was running at `terminate` (whose thread the pool abandons) is waited for until its
    /// function returns; a function that never returns keeps this call waiting.
    ///
    /// ```
    /// use multiproc::pool::ThreadPool;
    ///
    /// let pool = ThreadPool::new(2).unwrap();
    /// let words = vec!["apple".to_string(), "fig".into(), "banana".into()];
    /// let lens = pool.map_ref(|w: &String| w.len(), &words).unwrap();
    /// assert_eq!(lens, [5, 3, 6]);
    /// assert_eq!(words.len(), 3, "still the caller's");
    /// ```
    pub fn map_ref<A, R, F>(&self, f: F, items: &[A]) -> Result<Vec<R>, PoolError>
    where
        A: Sync,
        R: Send + 'static,
        F: Fn(&A) -> R + Sync,
    {
        self.map_ref_with(f, items, MapOptions::new())
    }

    /// [`map_ref`](ThreadPool::map_ref) with options (`chunksize`, `timeout`, a progress
    /// bar, callbacks).
    pub fn map_ref_with<A, R, F>(
        &self,
        f: F,
        items: &[A],
        opts: MapOptions<R>,
    ) -> Result<Vec<R>, PoolError>
    where
        A: Sync,
        R: Send + 'static,
        F: Fn(&A) -> R + Sync,
    {
        let f = &f;
        crate::scope::scope(|s| {
            let mut rest = items;
            let mut next = |size: usize, state: &Arc<MapState<R>>, part: u32| {
                if rest.is_empty() {
                    return Ok(None);
                }
                let (chunk, tail) = rest.split_at(size.min(rest.len()));
                rest = tail;
                let into = state.part(chunk.len());
                let to = state.clone();
                Ok(Some(Made::one(Ok(ThreadJob::Boxed(s.job(
                    move |finish| map_chunk(chunk.iter().map(f), into, &to, part, finish),
                ))))))
            };
            map::map_async(
                &self.engine,
                items.len(),
                Some(1),
                opts,
                None,
                None,
                &mut next,
            )?
            .get()
        })
    }

    /// `starmap` (see [`Pool::starmap`](super::Pool::starmap)).
    pub fn starmap<A, R, F, I>(&self, f: F, items: I) -> Result<Vec<R>, PoolError>
    where
        A: Send + 'static,
        R: Send + 'static,
        F: Fn(A) -> R + Send + Sync + 'static,
        I: IntoIterator<Item = A>,
    {
        self.map(f, items)
    }

    /// `starmap_async`.
    pub fn starmap_async<A, R, F, I>(&self, f: F, items: I) -> Result<MapResult<R>, PoolError>
    where
        A: Send + 'static,
        R: Send + 'static,
        F: Fn(A) -> R + Send + Sync + 'static,
        I: IntoIterator<Item = A>,
    {
        self.map_async(f, items)
    }

    fn imap_kind<A, R, F, I>(&self, f: F, items: I, ordered: bool) -> IMapIterator<'_, R>
    where
        A: Send + 'static,
        R: Send + 'static,
        F: Fn(A) -> R + Send + Sync + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'static,
    {
        let source = ChunkSource {
            engine: &self.engine,
            items: items.into_iter(),
            make: Self::chunk_maker(f),
        };
        IMapIterator::new(
            Box::new(source),
            None,
            self.engine.control(),
            ordered,
            self.processes(),
        )
    }

    /// `imap`: results in input order over a lazily read input.
    pub fn imap<A, R, F, I>(&self, f: F, items: I) -> IMapIterator<'_, R>
    where
        A: Send + 'static,
        R: Send + 'static,
        F: Fn(A) -> R + Send + Sync + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'static,
    {
        self.imap_kind(f, items, true)
    }

    /// `imap_unordered`: results as they complete.
    pub fn imap_unordered<A, R, F, I>(&self, f: F, items: I) -> IMapIterator<'_, R>
    where
        A: Send + 'static,
        R: Send + 'static,
        F: Fn(A) -> R + Send + Sync + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'static,
    {
        self.imap_kind(f, items, false)
    }
}

lifecycle!(ThreadPool);
