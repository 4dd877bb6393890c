//! [`Pool`]: a pool of worker processes (≈ `multiprocessing.Pool`), on the engine of
//! `engine.rs` (see the [module docs](super) for the whole story).
//!
//! # Parts
//!
//! - the **task ring** (a process queue's shared-memory ring, written only by this process,
//!   read by every worker) and the **result ring** (written by every worker, read by the
//!   handler), both `queue/ring/`;
//! - the **board** (`ticket.rs`), in a shared segment: the workers claim tasks on it;
//! - three threads in the parent: the **handler** reads results (and runs callbacks), the
//!   **watcher** sees workers die and tasks time out (`watcher.rs`), the **feeder** writes
//!   what could not go straight into the task ring (a full ring, a large message) — a
//!   submission writes its task itself when the ring has room and nothing is pending, so a
//!   steady stream of small tasks never wakes the feeder.
//!
//! No thread of the parent ever waits on one that waits on it: the handler only reads; the
//! feeder waits on the workers, the workers on the handler.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::engine::{Config, Engine, Kind, Reaped, Spawned};
use super::group::{self, Group};
use super::imap::{Chunks as IMapChunks, IMapIterator, Next, Source};
use super::map::{self, Chunk, Made, MapResult, MapState};
use super::options::{MapOptions, Room, TaskOptions};
use super::result::{self, AsyncResult, Slot, Submitted};
use super::stats::{self, Stats};
use super::ticket::{self, WORDS_PER_TICKET};
use super::worker::{self, Common, HEADER};
use crate::error::{PoolError, ProcessError, WorkerExit};
use crate::process::{Callable, Portable, Process, StartMethod, get_start_method};
use crate::queue::ring::{self, Block, Ring, Sink};
use crate::shared::words::Words;
use crate::wire::seq::NumberBytes;

/// Tickets on a process pool's board: the most tasks dispatched and not yet ended at once.
///
/// A task without a ticket waits in the pending queue until a result frees one, and only
/// the handler thread frees them. While the caller submits a burst it can keep the handler
/// off the CPU for the whole burst (a thread that yields waits behind it: `docs/
/// PERFORMANCE.md`, "Where `apply_async`'s time goes"), so the burst's tasks past the board
/// sat in the pending queue and the workers went idle. 16,384 lets a burst of 10,000 go
/// straight to the ring (4,096 did not). The board costs 16 bytes a ticket in shared memory,
/// touched only as tickets are used.
const TICKETS: usize = 16384;
/// The rings' size: whole messages up to a quarter of it; larger ones stream, the writer
/// and the reader taking turns, which costs wake-ups. 512 KiB rather than 256: a `map`'s
/// 1 MB chunks (a million numbers over two workers) take about 10 % less time (5.9 → 5.3 ms
/// a map), and a pool of two workers still adds 4.0–5.0 MiB RSS in all (`examples/
/// pool_memory.rs`; the issue's bound is 10 MiB). 4 MiB would take 4.1–4.8 ms, but each
/// process touching both rings would hold 8 MiB.
const RING: usize = 512 << 10;
/// A `map`'s chunks this long or longer are decoded straight into their place in its result
/// (a place costs a lock per chunk; shorter chunks are copied once more instead).
const IN_PLACE: usize = 64;
/// The largest task or result (as a process `Queue`'s default).
const MAX_MESSAGE: u64 = 1 << 31;

/// One task as the workers read it: the trampoline and function offsets, the arguments.
pub(crate) struct ProcJob {
    tramp: i64,
    target: i64,
    args: Args,
}

/// Encoded arguments: small ones inline (most tasks: no allocation), others on the heap;
/// a `map` chunk of primitive numbers, its vector as read (its bytes are its encoding); or
/// a group's chunks from the given one on (`group.rs`).
enum Args {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Vec<u8>),
    Numbers(Box<dyn NumberBytes>),
    Group(Arc<Group>, u32),
}

const INLINE: usize = 48;

impl Args {
    /// The message's kind and its payload, in the slices written one after another
    /// (`count` holds a group's chunk count, the first of its two).
    fn payload<'a>(&'a self, count: &'a mut [u8; 4]) -> (u32, [&'a [u8]; 2]) {
        match self {
            Args::Inline { len, buf } => (worker::TASK, [&buf[..*len as usize], &[]]),
            Args::Heap(v) => (worker::TASK, [v, &[]]),
            Args::Numbers(v) => (worker::TASK, [v.bytes(), &[]]),
            Args::Group(g, from) => {
                let (c, frames) = g.payload(*from);
                *count = c;
                (worker::GROUP, [count, frames])
            }
        }
    }

    fn len(&self) -> usize {
        let mut count = [0; 4];
        let (_, [a, b]) = self.payload(&mut count);
        a.len() + b.len()
    }

    fn encode<A: serde::Serialize>(a: &A) -> Result<Args, PoolError> {
        let mut buf = [0u8; INLINE];
        match postcard::to_slice(a, &mut buf) {
            Ok(used) => {
                let len = used.len() as u8;
                Ok(Args::Inline { len, buf })
            }
            // Too large for the inline buffer, or an error to put in words: the long way.
            Err(_) => encode(a).map(Args::Heap),
        }
    }
}

fn encode<A: serde::Serialize>(a: &A) -> Result<Vec<u8>, PoolError> {
    crate::wire::encode(a).map_err(|e| encode_error::<A>(&e))
}

/// Why arguments of type `A` did not encode, with what to do about a shared object.
fn encode_error<A>(e: &str) -> PoolError {
    let hint = if e.contains("shared object") {
        " (shared objects cannot be task arguments: give them to the workers through the \
         pool's initializer, as in Python)"
    } else {
        ""
    };
    PoolError::Encode(format!(
        "the arguments ({}) do not encode: {e}{hint}",
        std::any::type_name::<A>()
    ))
}

fn offsets(tramp: crate::process::TaskTrampoline, target: i64) -> Result<(i64, i64), PoolError> {
    let tramp = crate::process::task_offset(tramp).map_err(foreign)?;
    Ok((tramp, target))
}

fn foreign(e: ProcessError) -> PoolError {
    PoolError::Encode(format!("the function cannot cross into a worker: {e}"))
}

fn one_job<A: Portable, R: Portable>(f: fn(A) -> R, args: &A) -> Result<ProcJob, PoolError> {
    let target = Callable::new(f).offset().map_err(foreign)?;
    let (tramp, target) = offsets(crate::process::call_task::<A, R>, target)?;
    Ok(ProcJob {
        tramp,
        target,
        args: Args::encode(args)?,
    })
}

/// The trampoline and function offsets of a chunk of `f`.
fn chunk_offsets<A: Portable, R: Portable>(f: fn(A) -> R) -> Result<(i64, i64), PoolError> {
    let target = Callable::new(f).offset().map_err(foreign)?;
    offsets(crate::process::call_chunk::<A, R>, target)
}

/// Appends a chunk's encoded items to `out`.
fn encode_chunk<A: Portable>(items: Chunk<A>, out: &mut Vec<u8>) -> Result<(), PoolError> {
    let n = items.len();
    let _ = out.try_reserve(n.saturating_mul(size_of::<A>()).min(64 << 20) + 16);
    crate::wire::seq::encode_vec(items, out).map_err(|e| encode_error::<Vec<A>>(&e))
}

fn chunk_job<A: Portable, R: Portable>(
    f: fn(A) -> R,
    items: Chunk<A>,
) -> Result<ProcJob, PoolError> {
    let (tramp, target) = chunk_offsets(f)?;
    // Numbers leave in the vector they were read into: no second megabyte to allocate and
    // copy for a chunk of 125,000 `u64`s (and no page faults on it, when the allocator has
    // just given such memory back to the system).
    let args = match crate::wire::seq::number_vec(items.collect::<Vec<A>>()) {
        Ok(numbers) => Args::Numbers(numbers),
        Err(items) => {
            let mut out = Vec::new();
            encode_chunk(items.into_iter(), &mut out)?;
            Args::Heap(out)
        }
    };
    Ok(ProcJob {
        tramp,
        target,
        args,
    })
}

/// The job for chunks `from..` of a group.
fn group_job(g: &Arc<Group>, from: u32) -> ProcJob {
    ProcJob {
        tramp: g.tramp,
        target: g.target,
        args: Args::Group(g.clone(), from),
    }
}

/// Starts one worker process (typed over the initializer's arguments when there is one).
type StartWorker =
    dyn Fn(Common, String, StartMethod) -> Result<Process<()>, ProcessError> + Send + Sync;

/// The process kind (see the [module docs](self)).
pub(crate) struct Processes {
    tasks: Ring,
    results: Ring,
    board: Words,
    stops: AtomicUsize,
    method: StartMethod,
    start: Box<StartWorker>,
    max_tasks: u64,
    names: AtomicU64,
    handler_running: AtomicBool,
    /// The handler has exited: it reads no more.
    handler_stopped: AtomicBool,
    /// How long a group of a `map`'s small chunks may run (`PoolBuilder::group_time`).
    group_ns: u64,
}

impl Processes {
    /// Wakes the handler out of its read. Never called on the handler thread (which is the
    /// ring's only reader) nor under the engine's lock.
    fn poke(&self) {
        self.tell_handler(&worker::result_header(worker::POKE, 0, 0, 0, 0, 0));
    }

    /// Writes a message for the handler (a poke, a worker's death) into the result ring,
    /// waiting for room in slices until the handler has stopped; once it has (it does at
    /// `terminate`, and reads nothing more) the message is dropped, where before a ring
    /// the workers had filled made the writer wait forever.
    fn tell_handler(&self, h: &[u8; HEADER]) {
        while !self.handler_stopped.load(Ordering::SeqCst) {
            let slice = Block::Until(Some(Instant::now() + Duration::from_millis(5)));
            match self.results.write(&[h], slice) {
                Err(ring::WriteError::Full) => continue,
                _ => return,
            }
        }
    }

    fn write_task(
        &self,
        t: u32,
        seq: u64,
        job: &ProcJob,
        block: Block,
    ) -> Result<(), ring::WriteError> {
        let mut count = [0; 4];
        let (kind, [a, b]) = job.args.payload(&mut count);
        let h = worker::task_header(kind, t, seq, job.tramp, job.target);
        self.tasks.write(&[&h, a, b], block)
    }
}

impl Kind for Processes {
    type Job = ProcJob;
    type Worker = Process<()>;
    type Words = Words;
    const ENDS_WHEN_STOPPED: bool = false;

    fn board(&self) -> &[std::sync::atomic::AtomicU64] {
        &self.board
    }

    fn try_send(&self, t: u32, seq: u64, job: ProcJob) -> Result<(), ProcJob> {
        if !self.tasks.fits_whole(HEADER + job.args.len()) {
            return Err(job); // streams: the feeder writes it
        }
        // Called under the engine's lock, never while the feeder writes (`State::feeding`).
        match self.write_task(t, seq, &job, Block::No) {
            Ok(()) => Ok(()),
            Err(_) => Err(job),
        }
    }

    fn spawn(
        &self,
        _engine: &Arc<Engine<Self>>,
        index: usize,
        _incarnation: u64,
    ) -> Result<Spawned<Self>, PoolError> {
        let words = Words::new(stats::WORDS)?;
        let common = Common {
            index: index as u32,
            tasks: self.tasks.clone(),
            results: self.results.clone(),
            board: self.board.clone(),
            words: words.clone(),
            max_tasks: self.max_tasks,
        };
        let n = self.names.fetch_add(1, Ordering::Relaxed) + 1;
        let title = match self.method {
            StartMethod::Fork => "Fork",
            StartMethod::Spawn => "Spawn",
            StartMethod::Forkserver => "ForkServer",
        };
        let p = (self.start)(common, format!("{title}PoolWorker-{n}"), self.method)
            .map_err(|e| PoolError::Os(format!("cannot start a worker process: {e}")))?;
        let pid = p.pid().unwrap_or(0);
        let sentinel = p
            .sentinel()
            .ok()
            .and_then(|fd| fd.try_clone_to_owned().ok());
        Ok(Spawned {
            worker: p,
            words,
            pid,
            sentinel,
        })
    }

    fn stop(&self, worker: &Process<()>) {
        let _ = worker.kill();
    }

    fn reap(&self, mut worker: Process<()>, _stopped: bool) -> Reaped {
        match worker.join() {
            Ok(()) => Reaped {
                exit: Some(WorkerExit::Code(0)),
                panic: None,
            },
            Err(ProcessError::Panicked(p)) => Reaped {
                exit: worker.exitcode().map(WorkerExit::from_exitcode),
                panic: p.aborted.then_some(p),
            },
            Err(ProcessError::Killed(s)) => Reaped {
                exit: Some(WorkerExit::Signal(s)),
                panic: None,
            },
            Err(ProcessError::Exited(c)) => Reaped {
                exit: Some(WorkerExit::Code(c)),
                panic: None,
            },
            Err(_) => Reaped {
                exit: worker.exitcode().map(WorkerExit::from_exitcode),
                panic: None,
            },
        }
    }

    fn send_stops(&self, n: usize) {
        self.stops.fetch_add(n, Ordering::Relaxed);
    }

    fn take_stops(&self) -> usize {
        self.stops.swap(0, Ordering::Relaxed)
    }

    fn wake_handler(&self) {
        // Before the handler runs there is nobody to wake: it reads the flag first.
        if self.handler_running.load(Ordering::SeqCst) {
            self.poke();
        }
    }

    fn wake_all(&self) {
        self.wake_handler();
    }

    fn regroup(&self, group: &Arc<Group>, from: u32) -> Option<ProcJob> {
        Some(group_job(group, from))
    }
}

/// Whether this pool may group a `map`'s chunks (`group.rs`): not under a time limit (the
/// map's own `timeout`, or the pool's) nor with `maxtasksperchild`.
fn groups_allowed(engine: &Engine<Processes>, timeout: Option<Duration>) -> bool {
    timeout.is_none() && engine.config.task_timeout.is_none() && engine.kind.max_tasks == 0
}

/// How this pool groups a `map`'s or `imap`'s chunks of `size` items, `len` in all (see
/// `PoolBuilder::group_time`).
fn group_sizer(
    engine: &Engine<Processes>,
    size: usize,
    len: usize,
    timeout: Option<Duration>,
) -> Option<group::Sizer> {
    let allowed = groups_allowed(engine, timeout);
    group::Sizer::new(
        size,
        len,
        engine.config.processes,
        allowed,
        engine.kind.group_ns,
    )
}

/// The feeder thread: writes pending tasks (and stop messages) into the task ring, waiting
/// for room; gives up only when the pool stops.
fn feeder(engine: Arc<Engine<Processes>>) {
    while let Some((batch, stops)) = engine.next_batch(64) {
        let k = &engine.kind;
        for (t, seq, job) in batch {
            loop {
                let slice = Block::Until(Some(Instant::now() + Duration::from_millis(100)));
                match k.write_task(t, seq, &job, slice) {
                    Ok(()) => break,
                    Err(ring::WriteError::Full) if !engine.stopping() => continue,
                    Err(ring::WriteError::Full) => return,
                    Err(ring::WriteError::TooLarge { len, max }) => {
                        if let Some(e) = engine.take_entry(t, seq) {
                            e.fail(PoolError::Encode(format!(
                                "the arguments are {len} bytes, more than the {max}-byte message limit"
                            )));
                        }
                        break;
                    }
                }
            }
        }
        for _ in 0..stops {
            let h = worker::task_header(worker::STOP, 0, 0, 0, 0);
            while k
                .tasks
                .write(
                    &[&h],
                    Block::Until(Some(Instant::now() + Duration::from_millis(100))),
                )
                .is_err()
            {
                if engine.stopping() {
                    return;
                }
            }
        }
    }
}

/// What the handler read.
enum Got {
    /// A result, kept in the batch (small ones) or handled where it lay.
    Result,
    Poke,
    Died(usize, u64),
    InitFailed(String),
}

/// Results larger than this are handled where they lie in the ring; smaller ones are copied
/// into the batch.
const BATCHED: usize = 256;
/// Results handled per batch at most (one engine lock each).
const BATCH: usize = 256;

/// Small results read but not yet handled: (ticket, seq, outcome, byte range).
#[derive(Default)]
struct Batch {
    items: Vec<(u32, u64, u32, usize, usize)>,
    bytes: Vec<u8>,
    taken: Vec<Option<super::engine::Taken>>,
}

fn outcome(code: u32, body: &[u8]) -> Result<&[u8], PoolError> {
    match code {
        worker::RETURNED => Ok(body),
        worker::PANICKED => Err(PoolError::Panicked(worker::decode_panic(body))),
        worker::BAD_ARGS => Err(PoolError::Decode(String::from_utf8_lossy(body).into())),
        _ => Err(PoolError::Encode(String::from_utf8_lossy(body).into())),
    }
}

impl Batch {
    fn flush(&mut self, engine: &Engine<Processes>) {
        if self.items.is_empty() {
            return;
        }
        let bytes = &self.bytes;
        let keys = self
            .items
            .iter()
            .map(|&(t, seq, code, ..)| (t, seq, code == worker::RETURNED));
        let outcomes = self
            .items
            .iter()
            .map(|&(_, _, code, a, b)| outcome(code, &bytes[a..b]));
        engine.on_results(keys, outcomes, &mut self.taken);
        self.items.clear();
        self.bytes.clear();
        if self.bytes.capacity() > 1 << 20 {
            self.bytes = Vec::new();
        }
    }
}

/// Reads the result ring: small results into the batch, large ones handled in place.
struct Results<'a> {
    engine: &'a Engine<Processes>,
    buf: Vec<u8>,
    batch: Batch,
}

impl Results<'_> {
    fn handle(&mut self, msg: &[u8]) -> Got {
        let Some(h) = worker::parse(msg) else {
            return Got::Result;
        };
        let body = &msg[HEADER..];
        match h.kind {
            worker::RESULT => {
                let code = (h.a >> 32) as u32;
                if body.len() <= BATCHED {
                    let a = self.batch.bytes.len();
                    self.batch.bytes.extend_from_slice(body);
                    self.batch
                        .items
                        .push((h.ticket, h.seq, code, a, self.batch.bytes.len()));
                } else {
                    self.engine.on_result(h.ticket, h.seq, outcome(code, body));
                }
                Got::Result
            }
            worker::POKE => Got::Poke,
            worker::DIED => Got::Died(h.a as u32 as usize, h.b),
            worker::INIT_FAILED => {
                let p = worker::decode_panic(body);
                Got::InitFailed(format!("a worker's initializer panicked: {p}"))
            }
            _ => Got::Result,
        }
    }
}

impl Sink for Results<'_> {
    type Out = Got;

    fn whole(&mut self, bytes: &[u8]) -> Got {
        self.handle(bytes)
    }

    fn begin(&mut self, total: usize) {
        self.buf.clear();
        let _ = self.buf.try_reserve(total.min(worker::RESERVE_CAP));
    }

    fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    fn finish(&mut self) -> Got {
        let buf = std::mem::take(&mut self.buf);
        let got = self.handle(&buf);
        self.buf = buf;
        self.buf.clear();
        if self.buf.capacity() > 1 << 20 {
            self.buf = Vec::new();
        }
        got
    }
}

/// How long the handler waits for a message before it looks at its flag again anyway (a
/// safety net: every change also wakes it).
const HANDLER_SLICE: Duration = Duration::from_millis(250);

/// The handler thread: reads results until the pool is done. It drains what the ring holds
/// (up to a batch) without waiting, settles those results under one engine lock, and only
/// then waits for more.
fn handler(engine: Arc<Engine<Processes>>) {
    engine.enter_handler();
    engine.kind.handler_running.store(true, Ordering::SeqCst);
    let mut sink = Results {
        engine: &engine,
        buf: Vec::new(),
        batch: Batch::default(),
    };
    let mut look = true; // a wake-up may have come before this thread ran
    loop {
        if look || engine.poked() {
            engine.run_mailbox();
            if engine.handler_should_exit() {
                break;
            }
        }
        let mut event = None;
        let mut read = 0;
        while read < BATCH {
            match engine.kind.results.read(&mut sink, Block::No) {
                Ok(Got::Result) => read += 1,
                Ok(other) => {
                    event = Some(Ok(other));
                    break;
                }
                Err(ring::ReadError::Empty) => break,
                Err(e) => {
                    event = Some(Err(e));
                    break;
                }
            }
        }
        if read == 0 && event.is_none() {
            let slice = Block::Until(Some(Instant::now() + HANDLER_SLICE));
            match engine.kind.results.read(&mut sink, slice) {
                Ok(Got::Result) | Err(ring::ReadError::Empty) => {}
                other => event = Some(other),
            }
        }
        // Every result before an event is settled before the event (a worker's results
        // before its death).
        sink.batch.flush(&engine);
        look = event.is_some();
        match event {
            Some(Ok(Got::Died(index, incarnation))) => engine.on_worker_died(index, incarnation),
            Some(Ok(Got::InitFailed(why))) => engine.break_pool(why),
            Some(Err(e)) => {
                let m = format!("multiproc pool: the result ring is corrupt ({e:?}); going on\n");
                crate::sys::io::write_stderr(m.as_bytes());
            }
            _ => {}
        }
    }
    engine.kind.handler_running.store(false, Ordering::SeqCst);
    engine.kind.handler_stopped.store(true, Ordering::SeqCst);
    engine.handler_exited();
}

/// Options for a new [`Pool`] (≈ `Pool(processes, initializer, initargs, maxtasksperchild,
/// context)`).
///
/// ```
/// use multiproc::pool::Pool;
/// use multiproc::process::StartMethod;
///
/// fn setup(greeting: String) { assert_eq!(greeting, "hi"); }
/// fn double(x: u64) -> u64 { x * 2 }
///
/// let pool = Pool::builder()
///     .processes(2)
///     .initializer(setup, "hi".to_string())
///     .max_tasks_per_child(10)
///     .start_method(StartMethod::Spawn)
///     .build()
///     .unwrap();
/// assert_eq!(pool.map(double, 0..5).unwrap(), [0, 2, 4, 6, 8]);
/// ```
#[must_use = "a builder does nothing until build()"]
pub struct PoolBuilder {
    processes: Option<usize>,
    max_tasks_per_child: Option<u64>,
    max_queued: Option<usize>,
    task_timeout: Option<Duration>,
    group_time: Duration,
    method: Option<StartMethod>,
    start: Option<Box<StartWorker>>,
}

impl fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("processes", &self.processes)
            .field("max_tasks_per_child", &self.max_tasks_per_child)
            .field("max_queued", &self.max_queued)
            .field("task_timeout", &self.task_timeout)
            .field("group_time", &self.group_time)
            .field("start_method", &self.method)
            .field("initializer", &self.start.is_some())
            .finish()
    }
}

impl Default for PoolBuilder {
    fn default() -> Self {
        PoolBuilder::new()
    }
}

fn start_plain(
    common: Common,
    name: String,
    method: StartMethod,
) -> Result<Process<()>, ProcessError> {
    let mut p = Process::builder()
        .name(name)
        .daemon(true)
        .start_method(method)
        .call(
            Callable::new(worker::main::<()>),
            worker::Start { common, init: None },
        );
    p.start()?;
    Ok(p)
}

impl PoolBuilder {
    /// Python's defaults: `cpu_count()` workers, no initializer, no task limit.
    pub fn new() -> PoolBuilder {
        PoolBuilder {
            processes: None,
            max_tasks_per_child: None,
            max_queued: None,
            task_timeout: None,
            group_time: Duration::from_nanos(group::GROUP_NS),
            method: None,
            start: None,
        }
    }

    /// Worker processes (`processes=`); 0 is refused by `build`, as Python's `ValueError`.
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = Some(n);
        self
    }

    /// Runs `f(args)` once in every worker as it starts, replacements included
    /// (`initializer=f, initargs=args`). `args` cross as a `Process`'s arguments do, so they
    /// may hold shared objects (a process `Queue`, a `Value`, a lock): the way to give tasks
    /// shared objects, as in Python. If it panics the pool is broken: every task fails with
    /// [`PoolError::Broken`] (CPython restarts such workers forever).
    pub fn initializer<I>(mut self, f: fn(I), args: I) -> Self
    where
        I: Portable + Clone + Send + Sync,
    {
        let init = Callable::new(f);
        self.start = Some(Box::new(move |common, name, method| {
            let mut p = Process::builder()
                .name(name)
                .daemon(true)
                .start_method(method)
                .call(
                    Callable::new(worker::main::<I>),
                    worker::Start {
                        common,
                        init: Some((init, args.clone())),
                    },
                );
            p.start()?;
            Ok(p)
        }));
        self
    }

    /// A worker exits after this many tasks and is replaced (`maxtasksperchild=`; a `map`
    /// chunk counts as one task, as in Python); 0 is refused by `build`.
    pub fn max_tasks_per_child(mut self, n: u64) -> Self {
        self.max_tasks_per_child = Some(n);
        self
    }

    /// At most `n` tasks wait for a worker (beyond Python, as the hand-written pools of the
    /// tutorials bound their task queue): `apply_async` then blocks for room,
    /// `try_apply_async` says [`PoolError::Full`], `apply_async_timeout` waits at most so long.
    pub fn max_queued(mut self, n: usize) -> Self {
        self.max_queued = Some(n);
        self
    }

    /// A default time limit for every task once it runs (see [`TaskOptions::timeout`]).
    pub fn task_timeout(mut self, d: Duration) -> Self {
        self.task_timeout = Some(d);
        self
    }

    /// How long a group of a `map`'s (or `imap`'s) small chunks, sent to a worker in one
    /// message, should take to run at the pace measured so far (beyond Python; default
    /// 100 µs). Each chunk stays a task of its own (see the [module docs](super) and
    /// `Stats::tasks_grouped`); a longer time sends fewer, larger messages for fast chunks at
    /// the cost of balancing the load less finely. `Duration::ZERO` sends every chunk alone,
    /// as Python does.
    ///
    /// ```
    /// use multiproc::pool::{MapOptions, Pool};
    /// use std::time::Duration;
    ///
    /// fn double(x: u64) -> u64 { x * 2 }
    ///
    /// let pool = Pool::builder().processes(2).group_time(Duration::ZERO).build().unwrap();
    /// let out = pool.map_with(double, 0..1000, MapOptions::new().chunksize(1)).unwrap();
    /// assert_eq!(out[999], 1998);
    /// assert_eq!(pool.stats().tasks_grouped, 0);
    /// ```
    pub fn group_time(mut self, d: Duration) -> Self {
        self.group_time = d;
        self
    }

    /// How workers start (`context=`); default [`get_start_method`].
    pub fn start_method(mut self, m: StartMethod) -> Self {
        self.method = Some(m);
        self
    }

    /// Starts the workers.
    pub fn build(self) -> Result<Pool, PoolError> {
        let processes = self.processes.unwrap_or_else(crate::process::cpu_count);
        if processes == 0 {
            return Err(PoolError::Invalid("Number of processes must be at least 1"));
        }
        if processes > ticket::MAX_WORKERS {
            return Err(PoolError::Invalid("too many processes"));
        }
        if self.max_tasks_per_child == Some(0) {
            return Err(PoolError::Invalid(
                "maxtasksperchild must be a positive int or None",
            ));
        }
        if self.max_queued == Some(0) {
            return Err(PoolError::Invalid("max_queued must be at least 1"));
        }
        let make_ring = || -> Result<Ring, PoolError> {
            Ok(Ring::create(RING, 0, MAX_MESSAGE, 0, "pool", None)?)
        };
        let kind = Processes {
            tasks: make_ring()?,
            results: make_ring()?,
            board: Words::new(TICKETS * WORDS_PER_TICKET)?,
            stops: AtomicUsize::new(0),
            method: self.method.unwrap_or_else(get_start_method),
            start: self.start.unwrap_or_else(|| Box::new(start_plain)),
            max_tasks: self.max_tasks_per_child.unwrap_or(0),
            names: AtomicU64::new(0),
            handler_running: AtomicBool::new(false),
            handler_stopped: AtomicBool::new(false),
            group_ns: u64::try_from(self.group_time.as_nanos()).unwrap_or(u64::MAX),
        };
        let engine = Engine::new(
            kind,
            Config {
                processes,
                max_queued: self.max_queued,
                task_timeout: self.task_timeout,
                name: "Pool",
            },
        );
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map_err(PoolError::from)
        };
        let e = engine.clone();
        engine.add_thread(spawn("pool-handler", Box::new(move || handler(e)))?);
        let e = engine.clone();
        engine.add_thread(spawn("pool-feeder", Box::new(move || feeder(e)))?);
        let e = engine.clone();
        engine.add_thread(spawn(
            "pool-watcher",
            Box::new(move || {
                let k = e.clone();
                super::watcher::run(e, move |index, incarnation| {
                    // Behind every result the dead worker wrote: the handler sees those first.
                    let mut h = worker::result_header(worker::DIED, 0, 0, 0, 0, 0);
                    h[16..24].copy_from_slice(&(index as u64).to_le_bytes());
                    h[24..32].copy_from_slice(&incarnation.to_le_bytes());
                    k.kind.tell_handler(&h);
                })
            }),
        )?);
        engine.start_workers()?;
        Ok(Pool { engine })
    }
}

/// A pool of worker processes (≈ `multiprocessing.Pool`). See the [module docs](super).
///
/// ```
/// use multiproc::pool::Pool;
///
/// fn square(x: u64) -> u64 { x * x }
///
/// let pool = Pool::new(2).unwrap();
/// assert_eq!(pool.apply(square, 7), Ok(49));
/// let r = pool.apply_async(square, 8).unwrap();
/// assert_eq!(pool.map(square, 0..5).unwrap(), [0, 1, 4, 9, 16]);
/// assert_eq!(r.get(), Ok(64));
/// pool.close();
/// pool.join().unwrap();
/// ```
///
/// Dropping a pool **terminates** it, as Python's `with Pool() as p:` does on exit: tasks
/// not yet finished fail with [`PoolError::Terminated`] and every worker is killed and
/// reaped. To let the work finish first, call [`close`](Pool::close) and
/// [`join`](Pool::join) (or [`close_and_join`](Pool::close_and_join)).
pub struct Pool {
    engine: Arc<Engine<Processes>>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<Pool processes={} start_method={} outstanding={}>",
            self.engine.config.processes,
            self.engine.kind.method,
            self.engine.outstanding()
        )
    }
}

impl Pool {
    /// A pool of `processes` workers with the default start method (`Pool(processes)`); 0 is
    /// [`PoolError::Invalid`]. [`cpu_count`](crate::process::cpu_count) is Python's default.
    pub fn new(processes: usize) -> Result<Pool, PoolError> {
        PoolBuilder::new().processes(processes).build()
    }

    /// A builder (initializer, `maxtasksperchild`, start method, bounded queue, timeout).
    pub fn builder() -> PoolBuilder {
        PoolBuilder::new()
    }

    /// The number of worker processes.
    pub fn processes(&self) -> usize {
        self.engine.config.processes
    }

    /// The workers' start method.
    pub fn start_method(&self) -> StartMethod {
        self.engine.kind.method
    }

    /// Runs `f(args)` in a worker and waits for its value (`apply`).
    pub fn apply<A, R>(&self, f: fn(A) -> R, args: A) -> Result<R, PoolError>
    where
        A: Portable + Send,
        R: Portable + Send,
    {
        self.apply_async(f, args)?.get()
    }

    /// Submits `f(args)` (`apply_async`); the arguments are encoded here, so one that cannot
    /// cross is an error now. [`PoolError::Closed`] after `close` or `terminate`.
    pub fn apply_async<A, R>(&self, f: fn(A) -> R, args: A) -> Result<AsyncResult<R>, PoolError>
    where
        A: Portable + Send,
        R: Portable + Send,
    {
        self.apply_async_with(f, args, TaskOptions::new())
    }

    /// [`apply_async`](Pool::apply_async) with `callback`, `error_callback` and a timeout.
    pub fn apply_async_with<A, R>(
        &self,
        f: fn(A) -> R,
        args: A,
        opts: TaskOptions<R>,
    ) -> Result<AsyncResult<R>, PoolError>
    where
        A: Portable + Send,
        R: Portable + Send,
    {
        self.submit_task(f, args, opts).map(AsyncResult::submitted)
    }

    /// Submits one task: `apply_async_with`, and an executor's `submit`.
    pub(crate) fn submit_task<A, R>(
        &self,
        f: fn(A) -> R,
        args: A,
        opts: TaskOptions<R>,
    ) -> Result<Submitted<R>, PoolError>
    where
        A: Portable + Send,
        R: Portable + Send,
    {
        let job = one_job(f, &args)?;
        let control = self.engine.control();
        let slot = Slot::new(opts.callbacks, Some(&control), Some(result::decode::<R>));
        let seq = self
            .engine
            .submit(job, slot.clone(), 0, opts.timeout, opts.room.deadline())?;
        Ok(Submitted {
            holder: slot,
            seq,
            control,
        })
    }

    /// [`apply_async`](Pool::apply_async) that does not wait for room in a bounded pool:
    /// [`PoolError::Full`] instead.
    pub fn try_apply_async<A, R>(&self, f: fn(A) -> R, args: A) -> Result<AsyncResult<R>, PoolError>
    where
        A: Portable + Send,
        R: Portable + Send,
    {
        let mut o = TaskOptions::new();
        o.room = Room::Until(Instant::now());
        self.apply_async_with(f, args, o)
    }

    /// [`apply_async`](Pool::apply_async) waiting at most `timeout` for room in a bounded pool.
    pub fn apply_async_timeout<A, R>(
        &self,
        f: fn(A) -> R,
        args: A,
        timeout: Duration,
    ) -> Result<AsyncResult<R>, PoolError>
    where
        A: Portable + Send,
        R: Portable + Send,
    {
        let mut o = TaskOptions::new();
        o.room = Room::Until(Instant::now() + timeout);
        self.apply_async_with(f, args, o)
    }

    /// `f` over every item, in order (`map`), cut into chunks by Python's rule
    /// (`len / (4 × processes)`, rounded up). An input whose length is known (an exact
    /// `size_hint`: a range, a vector, a slice's iterator) is read chunk by chunk, each chunk
    /// sent as soon as it is read; any other input is read whole first, as Python turns it
    /// into a list. Fails with the first failure to arrive, after every chunk has ended.
    ///
    /// Small chunks (under 256 items) that are seen to run fast go to a worker several to a
    /// message, each still a task of its own: its result comes back as soon as it has run,
    /// and a worker's death fails only the chunk it was running (the rest of its message is
    /// sent again). A group is kept to about 100 µs of work, so the load stays balanced;
    /// with a per-task timeout or `maxtasksperchild`, nothing is grouped. This makes
    /// `chunksize(1)` over many fast items cost a fraction of a task each.
    pub fn map<A, R, I>(&self, f: fn(A) -> R, items: I) -> Result<Vec<R>, PoolError>
    where
        A: Portable + Send,
        R: Portable + Send,
        I: IntoIterator<Item = A>,
    {
        self.map_with(f, items, MapOptions::new())
    }

    /// [`map`](Pool::map) with a chunk size, a timeout per chunk, a progress bar.
    pub fn map_with<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
        opts: MapOptions<R>,
    ) -> Result<Vec<R>, PoolError>
    where
        A: Portable + Send,
        R: Portable + Send,
        I: IntoIterator<Item = A>,
    {
        self.map_async_with(f, items, opts)?.get()
    }

    /// Submits `map` and returns at once (`map_async`).
    pub fn map_async<A, R, I>(&self, f: fn(A) -> R, items: I) -> Result<MapResult<R>, PoolError>
    where
        A: Portable + Send,
        R: Portable + Send,
        I: IntoIterator<Item = A>,
    {
        self.map_async_with(f, items, MapOptions::new())
    }

    /// [`map_async`](Pool::map_async) with options (`chunksize`, `callback`, `error_callback`).
    pub fn map_async_with<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
        opts: MapOptions<R>,
    ) -> Result<MapResult<R>, PoolError>
    where
        A: Portable + Send,
        R: Portable + Send,
        I: IntoIterator<Item = A>,
    {
        // Each chunk is read in the caller's thread, encoded and sent at once; its values
        // are decoded straight into their place in the list `map` returns. Small chunks
        // that run fast go several to a message (`group.rs`).
        let (mut input, len) = map::Input::new(items.into_iter())?;
        let (engine, timeout) = (&*self.engine, opts.timeout);
        let mut sizer = None;
        // A chunk that did not encode, found while filling a group: the next part.
        let mut carry: Option<PoolError> = None;
        let mut made = 0u64;
        let mut next = move |size: usize, state: &Arc<MapState<R>>, part: u32| {
            if let Some(e) = carry.take() {
                made += 1;
                return Ok(Some(Made::one(Err(e))));
            }
            let sizer = sizer.get_or_insert_with(|| group_sizer(engine, size, len, timeout));
            let want = sizer.as_ref().map_or(1, |s| s.next(made, state.ended()));
            if want <= 1 {
                let chunk = input.chunk(size)?;
                if chunk.is_empty() {
                    return Ok(None);
                }
                state.place(part, chunk.len());
                made += 1;
                return Ok(Some(Made::one(chunk_job(f, chunk.into_iter()))));
            }
            // The group's chunks, encoded as they are read; one place for their values
            // (made before the job leaves: results cannot come back sooner).
            let mut b = group::Builder::new();
            let mut items = 0;
            if crate::wire::seq::is_number::<A>() {
                // Numbers cannot fail to encode: the group's items are read as one vector,
                // and each chunk's frame is a run of their bytes (no vector per chunk).
                // Whole chunks only: every chunk but the input's last has `size` items.
                let most = group::GROUP_ITEMS / size * size;
                let all = input.chunk((want as usize).saturating_mul(size).min(most))?;
                items = all.len();
                let Ok(numbers) = crate::wire::seq::number_vec(all) else {
                    unreachable!("is_number said it was one")
                };
                let bytes = numbers.bytes();
                let width = bytes.len() / items.max(1);
                for run in bytes.chunks((size * width).max(1)) {
                    let _ = b.push(|out| {
                        out.extend_from_slice(run);
                        Ok::<(), ()>(())
                    });
                }
            } else {
                while b.len() < want && !b.full() && items < group::GROUP_ITEMS {
                    let chunk = input.chunk(size)?;
                    if chunk.is_empty() {
                        break;
                    }
                    let n = chunk.len();
                    if let Err(e) = b.push(|out| encode_chunk(chunk.into_iter(), out)) {
                        carry = Some(e); // the next part, failed
                        break;
                    }
                    items += n;
                }
            }
            let count = b.len();
            made += u64::from(count);
            if count == 0 {
                made += u64::from(carry.is_some());
                return Ok(carry.take().map(|e| Made::one(Err(e))));
            }
            state.place_group(part, count, items);
            let (tramp, target) = match chunk_offsets(f) {
                Ok(o) => o,
                Err(e) => {
                    return Ok(Some(Made {
                        job: Err(e),
                        count,
                        group: None,
                    }));
                }
            };
            let g = b.finish(tramp, target);
            Ok(Some(Made {
                job: Ok(group_job(&g, 0)),
                count,
                group: Some(g),
            }))
        };
        map::map_async(
            &self.engine,
            len,
            // Small chunks are decoded in place too when they may go in groups.
            Some(if groups_allowed(&self.engine, timeout) {
                1
            } else {
                IN_PLACE
            }),
            opts,
            Some(result::decode_vec::<R>),
            Some(result::decode_into::<R>),
            &mut next,
        )
    }

    /// `starmap`: Python unpacks each item into the function's arguments; a Rust function
    /// takes one argument, so give it a tuple and unpack it in its signature
    /// (`fn pow((b, e): (u64, u32)) -> u64`). The same as [`map`](Pool::map).
    pub fn starmap<A, R, I>(&self, f: fn(A) -> R, items: I) -> Result<Vec<R>, PoolError>
    where
        A: Portable + Send,
        R: Portable + Send,
        I: IntoIterator<Item = A>,
    {
        self.map(f, items)
    }

    /// `starmap_async` (see [`starmap`](Pool::starmap)).
    pub fn starmap_async<A, R, I>(&self, f: fn(A) -> R, items: I) -> Result<MapResult<R>, PoolError>
    where
        A: Portable + Send,
        R: Portable + Send,
        I: IntoIterator<Item = A>,
    {
        self.map_async(f, items)
    }

    fn imap_kind<A, R, I>(&self, f: fn(A) -> R, items: I, ordered: bool) -> IMapIterator<'_, R>
    where
        A: Portable + Send,
        R: Portable + Send,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'static,
    {
        let source = IMapSource {
            engine: &self.engine,
            items: items.into_iter(),
            f,
            sizer: None,
            made: 0,
            carry: None,
            input_error: None,
            ended: false,
        };
        IMapIterator::new(
            Box::new(source),
            Some(result::decode_vec::<R>),
            self.engine.control(),
            ordered,
            self.processes(),
        )
    }

    /// Results in input order, as they come (`imap`), over an input read lazily (see
    /// [`IMapIterator::read_ahead`] for the window). Python's default `chunksize=1`: small
    /// chunks seen to run fast go to a worker several to a message, as [`map`](Pool::map)'s
    /// do, each still a task of its own.
    pub fn imap<A, R, I>(&self, f: fn(A) -> R, items: I) -> IMapIterator<'_, R>
    where
        A: Portable + Send,
        R: Portable + Send,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'static,
    {
        self.imap_kind(f, items, true)
    }

    /// Results in the order they complete (`imap_unordered`).
    pub fn imap_unordered<A, R, I>(&self, f: fn(A) -> R, items: I) -> IMapIterator<'_, R>
    where
        A: Portable + Send,
        R: Portable + Send,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'static,
    {
        self.imap_kind(f, items, false)
    }
}

/// Reads an `imap`'s input and submits its chunks: small chunks seen to run fast go
/// several to a message, as `map`'s do (`group.rs`). Chunks are read one at a time, so an
/// input that panics yields the results of every item before it first, as without groups.
struct IMapSource<'p, I: Iterator, A, R> {
    engine: &'p Arc<Engine<Processes>>,
    items: I,
    f: fn(A) -> R,
    /// Made with the first chunk (it needs the chunk size); `Some(None)`: no groups.
    sizer: Option<Option<group::Sizer>>,
    /// Chunks read so far.
    made: u64,
    /// Met while a group was filled, for the next call: a chunk that did not encode (the
    /// next part, failed) with its item count; the input's panic (yielded after the
    /// group's items); the input's end.
    carry: Option<(PoolError, usize)>,
    input_error: Option<crate::error::Panic>,
    ended: bool,
}

impl<I, A, R> IMapSource<'_, I, A, R>
where
    I: Iterator<Item = A>,
    A: Portable + Send,
    R: Portable + Send,
{
    /// The next `size` items (fewer at the input's end), or the input's panic.
    fn chunk(&mut self, size: usize) -> Result<Vec<A>, crate::error::Panic> {
        let items = &mut self.items;
        crate::thread::catch_quietly(|| items.take(size).collect())
    }

    /// The next chunk, or why there is none (`Err`: what to yield instead).
    fn read(&mut self, size: usize) -> Result<Vec<A>, Next> {
        if let Some((err, n)) = self.carry.take() {
            self.made += 1;
            return Err(Next::Failed { err, n });
        }
        if let Some(p) = self.input_error.take() {
            return Err(Next::Input(p));
        }
        if self.ended {
            return Err(Next::End);
        }
        match self.chunk(size) {
            Ok(c) if c.is_empty() => Err(Next::End),
            Ok(c) => Ok(c),
            Err(p) => Err(Next::Input(p)),
        }
    }
}

impl<I, A, R> Source<R> for IMapSource<'_, I, A, R>
where
    I: Iterator<Item = A>,
    A: Portable + Send,
    R: Portable + Send,
{
    fn next_chunk(
        &mut self,
        size: usize,
        timeout: Option<Duration>,
        chunks: &Arc<IMapChunks<R>>,
        part: u32,
        room: usize,
    ) -> Next {
        let engine = self.engine;
        let sizer = self
            .sizer
            .get_or_insert_with(|| group_sizer(engine, size, usize::MAX >> 1, timeout));
        let want = sizer
            .as_ref()
            .map_or(1, |s| s.next(self.made, chunks.ended()));
        let want = want.min(u32::try_from(room).unwrap_or(u32::MAX));
        let first = match self.read(size) {
            Ok(c) => c,
            Err(next) => return next,
        };
        let n = first.len();
        if want <= 1 {
            self.made += 1;
            return match chunk_job(self.f, first.into_iter())
                .and_then(|job| engine.submit(job, chunks.clone(), part, timeout, None))
            {
                Ok(seq) => Next::Submitted {
                    seq,
                    n,
                    count: 1,
                    last: n,
                },
                Err(err) => Next::Failed { err, n },
            };
        }
        // A group: every chunk but the input's last has `size` items.
        let mut b = group::Builder::new();
        if let Err(err) = b.push(|out| encode_chunk(first.into_iter(), out)) {
            self.made += 1;
            return Next::Failed { err, n };
        }
        let (mut items, mut last) = (n, n);
        while b.len() < want && !b.full() && items < group::GROUP_ITEMS && last == size {
            match self.chunk(size) {
                Ok(c) if c.is_empty() => {
                    self.ended = true;
                    break;
                }
                Ok(c) => {
                    let k = c.len();
                    if let Err(e) = b.push(|out| encode_chunk(c.into_iter(), out)) {
                        self.carry = Some((e, k));
                        break;
                    }
                    items += k;
                    last = k;
                }
                Err(p) => {
                    self.input_error = Some(p);
                    break;
                }
            }
        }
        let count = b.len();
        self.made += u64::from(count);
        let submitted = chunk_offsets(self.f).and_then(|(tramp, target)| {
            let g = b.finish(tramp, target);
            let job = group_job(&g, 0);
            engine.submit_tasks(job, chunks.clone(), part, (count, Some(g)), timeout, None)
        });
        match submitted {
            Ok(seq) => Next::Submitted {
                seq,
                n: size,
                count,
                last,
            },
            // Not sent: one part for all the group's items.
            Err(err) => Next::Failed { err, n: items },
        }
    }
}

lifecycle!(Pool);
