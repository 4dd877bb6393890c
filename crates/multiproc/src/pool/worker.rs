//! A process pool's worker (≈ CPython's `multiprocessing.pool.worker`): the loop a worker
//! process runs, and the messages it reads and writes.
//!
//! The worker runs its initializer once, then reads tasks from the pool's task ring. It
//! claims each task on its ticket *inside* the ring read, before the read is committed (see
//! `ticket.rs`), runs it through the task's trampoline, marks the ticket finished and writes
//! the result to the result ring. It exits on a stop message, after `maxtasksperchild` tasks,
//! or when its parent dies (the parent-death signal every child gets).
//!
//! # Messages
//!
//! Both rings carry a fixed 32-byte little-endian header and a payload:
//!
//! - task ring: `kind` (task, group or stop), `ticket`, `seq`, the trampoline and target
//!   offsets; payload: the encoded arguments (a group's: its chunks, `group.rs`);
//! - result ring: `kind` (result, poke, died, init-failed), `ticket`, `seq`, worker slot,
//!   outcome, incarnation; payload: the encoded value, the `Panic`, or a message.

use serde::{Deserialize, Serialize};

use super::group;
use super::stats::{Counter, Pace};
use super::ticket::Board;
use crate::error::Panic;
use crate::process::{Callable, Portable, TaskEnd};
use crate::queue::ring::{Block, Ring, Sink};
use crate::shared::words::Words;

pub(crate) const HEADER: usize = 32;

pub(crate) const TASK: u32 = 1;
pub(crate) const STOP: u32 = 2;
/// Several chunks of one `map` under one ticket (`group.rs`).
pub(crate) const GROUP: u32 = 3;

pub(crate) const RESULT: u32 = 1;
pub(crate) const POKE: u32 = 2;
pub(crate) const DIED: u32 = 3;
pub(crate) const INIT_FAILED: u32 = 4;

pub(crate) const RETURNED: u32 = 0;
pub(crate) const PANICKED: u32 = 1;
pub(crate) const BAD_ARGS: u32 = 2;
pub(crate) const BAD_RESULT: u32 = 3;

/// A task ring message's header.
pub(crate) fn task_header(
    kind: u32,
    ticket: u32,
    seq: u64,
    tramp: i64,
    target: i64,
) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[0..4].copy_from_slice(&kind.to_le_bytes());
    h[4..8].copy_from_slice(&ticket.to_le_bytes());
    h[8..16].copy_from_slice(&seq.to_le_bytes());
    h[16..24].copy_from_slice(&tramp.to_le_bytes());
    h[24..32].copy_from_slice(&target.to_le_bytes());
    h
}

/// A result ring message's header.
pub(crate) fn result_header(
    kind: u32,
    ticket: u32,
    seq: u64,
    worker: u32,
    outcome: u32,
    incarnation: u64,
) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[0..4].copy_from_slice(&kind.to_le_bytes());
    h[4..8].copy_from_slice(&ticket.to_le_bytes());
    h[8..16].copy_from_slice(&seq.to_le_bytes());
    h[16..20].copy_from_slice(&worker.to_le_bytes());
    h[20..24].copy_from_slice(&outcome.to_le_bytes());
    h[24..32].copy_from_slice(&incarnation.to_le_bytes());
    h
}

/// A parsed header (either ring: the fields are read by position).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    pub kind: u32,
    pub ticket: u32,
    pub seq: u64,
    pub a: u64,
    pub b: u64,
}

pub(crate) fn parse(msg: &[u8]) -> Option<Header> {
    let h = msg.get(..HEADER)?;
    let u32_at = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().expect("8 bytes"));
    Some(Header {
        kind: u32_at(0),
        ticket: u32_at(4),
        seq: u64_at(8),
        a: u64_at(16),
        b: u64_at(24),
    })
}

/// What every worker of one pool gets (the rings, the board, its own counters).
#[derive(Serialize, Deserialize)]
pub(crate) struct Common {
    pub index: u32,
    pub tasks: Ring,
    pub results: Ring,
    pub board: Words,
    pub words: Words,
    /// 0: no limit.
    pub max_tasks: u64,
}

/// A worker's start: the common part, and the initializer with its arguments (crossing as
/// the `Process` arguments do, so they may hold shared objects).
#[derive(Serialize, Deserialize)]
#[serde(bound = "I: Portable")]
pub(crate) struct Start<I> {
    pub common: Common,
    pub init: Option<(Callable<I, ()>, I)>,
}

/// What the worker's read of the task ring produced.
enum Read {
    Task {
        ticket: u32,
        seq: u64,
        tramp: i64,
        target: i64,
        group: bool,
    },
    Skip,
    Stop,
}

/// Claims the task as it reads it (see the module docs), copying its arguments out.
struct Claim<'a> {
    board: Board<'a>,
    pace: &'a Pace,
    /// When the last claim was made, in the pace's ticks.
    at: u64,
    index: usize,
    args: Vec<u8>,
    /// A streamed message: its header, once its first chunk has come.
    header: Option<Header>,
    claimed: bool,
}

impl Claim<'_> {
    fn claim(&mut self, h: &Header) -> Read {
        match h.kind {
            STOP => Read::Stop,
            TASK | GROUP => {
                let monotonic = crate::sys::clock::monotonic_ns;
                if self.board.claim(h.ticket, h.seq, self.index, monotonic) {
                    self.at = self.pace.now();
                    self.claimed = true;
                    Read::Task {
                        ticket: h.ticket,
                        seq: h.seq,
                        tramp: h.a as i64,
                        target: h.b as i64,
                        group: h.kind == GROUP,
                    }
                } else {
                    Read::Skip
                }
            }
            _ => Read::Skip,
        }
    }
}

impl Claim<'_> {
    /// A streamed message claimed here was abandoned by its writer (a new message began
    /// before its last chunk): give its task back, to be claimed when it is written again.
    fn drop_partial(&mut self) {
        if let Some(h) = self.header.take()
            && self.claimed
        {
            self.board.unclaim(h.ticket, h.seq, self.index);
        }
        self.claimed = false;
    }
}

impl Sink for Claim<'_> {
    type Out = Read;

    fn whole(&mut self, bytes: &[u8]) -> Read {
        self.drop_partial();
        let Some(h) = parse(bytes) else {
            return Read::Skip;
        };
        let r = self.claim(&h);
        if matches!(r, Read::Task { .. }) {
            self.args.clear();
            self.args.extend_from_slice(&bytes[HEADER..]);
        }
        r
    }

    fn begin(&mut self, total: usize) {
        self.drop_partial();
        self.args.clear();
        // Room for the whole message at once (the parent's own length, capped all the same:
        // a length read from another process never sizes an allocation beyond this).
        let _ = self.args.try_reserve(total.min(RESERVE_CAP));
    }

    fn extend(&mut self, bytes: &[u8]) {
        if self.header.is_none() {
            // The first chunk of a streamed message is far larger than the header: claim at
            // once, before the first record is committed.
            let Some(h) = parse(bytes) else { return };
            self.header = Some(h);
            if matches!(self.claim(&h), Read::Task { .. }) {
                self.args.extend_from_slice(&bytes[HEADER..]);
            }
            return;
        }
        if self.claimed {
            self.args.extend_from_slice(bytes);
        }
    }

    fn finish(&mut self) -> Read {
        let claimed = std::mem::replace(&mut self.claimed, false);
        match self.header.take() {
            Some(h) if claimed => Read::Task {
                ticket: h.ticket,
                seq: h.seq,
                tramp: h.a as i64,
                target: h.b as i64,
                group: h.kind == GROUP,
            },
            Some(h) if h.kind == STOP => Read::Stop,
            _ => Read::Skip,
        }
    }
}

/// The most a streamed message's announced length reserves up front.
pub(crate) const RESERVE_CAP: usize = 64 << 20;

/// Buffers above this size are given back after the task that needed them.
const KEEP: usize = 1 << 20;

/// The worker process's body (the pool starts it as a `Process` target).
pub(crate) fn main<I: Portable>(start: Start<I>) {
    crate::thread::capture_panics_here();
    let c = start.common;
    let counter = Counter(&c.words);
    counter.started();
    if let Some((init, args)) = start.init {
        let f = init.get();
        if let Err(payload) =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || f(args)))
        {
            let name = crate::process::current_process().name;
            let p = crate::thread::to_panic(&name, &*payload);
            let body = postcard::to_stdvec(&p).unwrap_or_default();
            let h = result_header(INIT_FAILED, 0, 0, c.index, 0, 0);
            let _ = c.results.write(&[&h, &body], Block::Until(None));
            return;
        }
    }
    counter.ready();
    let index = c.index as usize;
    let pace = Pace::new();
    let share = std::cell::Cell::new(0.0);
    let mut claim = Claim {
        board: Board(&c.board),
        pace: &pace,
        at: 0,
        index,
        args: Vec::new(),
        header: None,
        claimed: false,
    };
    let mut out: Vec<u8> = Vec::with_capacity(256);
    let mut done = 0u64;
    // The last (trampoline, target) pair checked against the executable's text: consecutive
    // tasks are usually calls of one function.
    let mut checked: Option<(i64, i64, crate::process::TaskTrampoline)> = None;
    loop {
        let (ticket, seq, tramp, target, group) = match c.tasks.read(&mut claim, Block::Until(None))
        {
            Ok(Read::Task {
                ticket,
                seq,
                tramp,
                target,
                group,
            }) => (ticket, seq, tramp, target, group),
            Ok(Read::Skip) => continue,
            Ok(Read::Stop) => return,
            // A corrupt ring cannot be trusted: end, and the parent replaces this worker.
            Err(_) => return,
        };
        let code = match checked {
            Some((a, b, t)) if (a, b) == (tramp, target) => Ok(t),
            _ => crate::process::task_trampoline(tramp, target),
        };
        if let Ok(t) = code {
            checked = Some((tramp, target, t));
        }
        let task = Task {
            c: &c,
            board: claim.board,
            counter: &counter,
            pace: &pace,
            share: &share,
            ticket,
            code: &code,
            target,
        };
        if group {
            // A group: its chunks one after another, each sending its result before the
            // ticket moves on to the next (see `group.rs`); each chunk's time starts where
            // the one before it ended.
            let payload = std::mem::take(&mut claim.args);
            let (mut seq, mut at) = (seq, claim.at);
            for (i, chunk) in group::Chunks::new(&payload).enumerate() {
                if i > 0 && !claim.board.advance(ticket, seq, index) {
                    break; // stopped by the parent: run no more of it
                }
                seq += u64::from(i > 0);
                let split = i % SPLIT_EVERY == 0;
                at = task.run(seq, chunk.map_err(str::to_string), &mut out, at, split);
                done += 1;
            }
            claim.args = payload;
        } else {
            task.run(seq, Ok(&claim.args), &mut out, claim.at, true);
            done += 1;
        }
        if claim.args.capacity() > KEEP {
            claim.args = Vec::new();
        }
        if out.capacity() > KEEP {
            out = Vec::with_capacity(256);
        }
        if c.max_tasks != 0 && done >= c.max_tasks {
            return; // retire (maxtasksperchild); the parent starts another
        }
    }
}

/// A group's chunks measured in full (the function's time, then the result's), one in
/// this many; the others read the clock once, after their result is sent, and split their
/// time as the measured ones did (a clock read is a sizeable part of a small chunk's cost).
const SPLIT_EVERY: usize = 16;

/// What running one task needs.
struct Task<'a> {
    c: &'a Common,
    board: Board<'a>,
    counter: &'a Counter<'a>,
    pace: &'a Pace,
    /// The share of transfer in the tasks measured in full, lately.
    share: &'a std::cell::Cell<f64>,
    ticket: u32,
    code: &'a Result<crate::process::TaskTrampoline, String>,
    target: i64,
}

impl Task<'_> {
    /// Runs task `seq` (claimed, or advanced to, on the ticket) over `args`, and sends its
    /// outcome; waits to be killed if the parent stopped it meanwhile. Counts its times from
    /// `start` (the pace's ticks) and returns when it sent the result.
    ///
    /// Decoding, the call and encoding count as the function's time, writing the result
    /// as transfer: measured when `split`, else the time in all split at the recent share.
    fn run(
        &self,
        seq: u64,
        args: Result<&[u8], String>,
        out: &mut Vec<u8>,
        start: u64,
        split: bool,
    ) -> u64 {
        let (c, index, ticket) = (self.c, self.c.index as usize, self.ticket);
        self.counter.begin(ticket);
        out.clear();
        let end = match (self.code, args) {
            (Ok(t), Ok(args)) => t(self.target, args, out),
            (Err(e), _) => TaskEnd::BadArgs(e.clone()),
            (_, Err(e)) => TaskEnd::BadArgs(e),
        };
        let ran = split.then(|| self.pace.now());
        let (outcome, failed) = match &end {
            TaskEnd::Returned => (RETURNED, false),
            TaskEnd::Panicked(p) => {
                out.clear();
                let _ = postcard::to_io(p, &mut *out);
                (PANICKED, true)
            }
            TaskEnd::BadArgs(m) => {
                out.clear();
                out.extend_from_slice(m.as_bytes());
                (BAD_ARGS, true)
            }
            TaskEnd::BadResult(m) => {
                out.clear();
                out.extend_from_slice(m.as_bytes());
                (BAD_RESULT, true)
            }
        };
        // Counted before the result goes: whoever sees it sees the task counted.
        let func = ran.map_or(0, |ran| self.pace.ns(ran.wrapping_sub(start)));
        self.counter.end(func, 0, failed);
        if !self.board.finish(ticket, seq, index) {
            // The parent is stopping this worker for this task (cancel, timeout).
            park_until_killed();
        }
        send_result(c, ticket, seq, outcome, out);
        let sent = self.pace.now();
        let all = sent.wrapping_sub(start);
        match ran {
            Some(ran) => {
                let xfer = sent.wrapping_sub(ran);
                self.counter.times(0, self.pace.ns(xfer));
                let seen = xfer as f64 / all.max(1) as f64;
                self.share.set(0.75 * self.share.get() + 0.25 * seen);
            }
            None => {
                let all = self.pace.ns(all);
                let xfer = (all as f64 * self.share.get()) as u64;
                self.counter.times(all - xfer.min(all), xfer);
            }
        }
        sent
    }
}

fn send_result(c: &Common, ticket: u32, seq: u64, outcome: u32, out: &[u8]) {
    let h = result_header(RESULT, ticket, seq, c.index, outcome, 0);
    match c.results.write(&[&h, out], Block::Until(None)) {
        Ok(()) => {}
        Err(crate::queue::ring::WriteError::TooLarge { len, max }) => {
            let m = format!("the result is {len} bytes, more than the {max}-byte message limit");
            let h = result_header(RESULT, ticket, seq, c.index, BAD_RESULT, 0);
            let _ = c.results.write(&[&h, m.as_bytes()], Block::Until(None));
        }
        Err(crate::queue::ring::WriteError::Full) => {}
    }
}

/// Waits for the parent's SIGKILL (or for the parent to die, which kills this process too).
fn park_until_killed() -> ! {
    loop {
        std::thread::park();
    }
}

/// Decodes a `Panic` sent by a worker.
pub(crate) fn decode_panic(bytes: &[u8]) -> Panic {
    postcard::from_bytes(bytes).unwrap_or_else(|e| Panic {
        thread_name: "pool worker".into(),
        message: format!("(the panic did not decode: {e})"),
        location: None,
        aborted: false,
    })
}
