//! Statistics (≈ mpire's *insights*): what each worker did and where its time went, what
//! became of every task, and how many workers the pool started. [`Pool::stats`](super::Pool::stats)
//! returns a [`Stats`]; its `Display` is a table.
//!
//! Each worker incarnation counts in a few words of its own (shared memory for a process,
//! plain memory for a thread), written only by that worker with relaxed stores; the parent
//! reads them whenever asked, and adds a worker's words to the pool's totals when it ends.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Words per worker.
pub(crate) const WORDS: usize = 8;
/// 1 + the ticket of the task running now, 0 when idle.
const CURRENT: usize = 0;
const TASKS: usize = 1;
const FAILED: usize = 2;
/// Nanoseconds inside the task functions.
const FUNC_NS: usize = 3;
/// Nanoseconds moving tasks and results (copying, decoding, encoding, writing).
const XFER_NS: usize = 4;
/// When the worker started, and when its initializer had run (monotonic ns).
const STARTED_NS: usize = 5;
const READY_NS: usize = 6;

/// A worker's words, from its own side.
pub(crate) struct Counter<'a>(pub &'a [AtomicU64]);

impl Counter<'_> {
    fn add(&self, i: usize, v: u64) {
        // Only this worker writes its words: a load and a store, no locked instruction.
        let w = &self.0[i];
        w.store(w.load(Ordering::Relaxed).wrapping_add(v), Ordering::Relaxed);
    }

    pub(crate) fn started(&self) {
        self.0[STARTED_NS].store(crate::sys::clock::monotonic_ns(), Ordering::Relaxed);
    }

    pub(crate) fn ready(&self) {
        self.0[READY_NS].store(crate::sys::clock::monotonic_ns(), Ordering::Relaxed);
    }

    pub(crate) fn begin(&self, ticket: u32) {
        self.0[CURRENT].store(u64::from(ticket) + 1, Ordering::Relaxed);
    }

    /// A task ended: `func` ns in the function, `xfer` ns moving it, and whether it failed.
    pub(crate) fn end(&self, func: u64, xfer: u64, failed: bool) {
        self.0[CURRENT].store(0, Ordering::Relaxed);
        self.add(TASKS, 1);
        if failed {
            self.add(FAILED, 1);
        }
        self.add(FUNC_NS, func);
        self.add(XFER_NS, xfer);
    }

    /// More time in the function and in transfer, counted after the task ended (the
    /// result's write).
    pub(crate) fn times(&self, func: u64, xfer: u64) {
        self.add(FUNC_NS, func);
        self.add(XFER_NS, xfer);
    }
}

/// A process worker's clock for its per-task times: [`ticks`](crate::sys::clock::ticks) (the CPU's
/// counter, 10 ns a read here where the vDSO clock takes 22), turned into nanoseconds at a
/// rate measured against the monotonic clock from the worker's start. The clock is read
/// again only every [`RECHECK`] ticks (a fraction of a millisecond), each time refining the
/// rate over the longer span; when the ticks are the clock itself, never.
///
/// Used by one thread (a worker); measuring the rate needs no lock.
pub(crate) struct Pace {
    /// When the worker started, by both clocks.
    base: (u64, u64),
    /// Ticks at the last measurement.
    checked: std::cell::Cell<u64>,
    /// Nanoseconds per tick (0: not measured yet).
    rate: std::cell::Cell<f64>,
    exact: bool,
}

/// Ticks between two measurements of the rate (about 0.3 ms at 3 GHz).
const RECHECK: u64 = 1 << 20;

impl Pace {
    pub(crate) fn new() -> Pace {
        let exact = crate::sys::clock::ticks_are_ns();
        let base = (
            crate::sys::clock::monotonic_ns(),
            crate::sys::clock::ticks(),
        );
        Pace {
            base,
            checked: std::cell::Cell::new(base.1),
            rate: std::cell::Cell::new(if exact { 1.0 } else { 0.0 }),
            exact,
        }
    }

    /// Now, in ticks.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        let t = crate::sys::clock::ticks();
        if !self.exact && t.wrapping_sub(self.checked.get()) > RECHECK {
            self.measure(t);
        }
        t
    }

    /// A span of ticks in nanoseconds.
    #[inline]
    pub(crate) fn ns(&self, ticks: u64) -> u64 {
        if self.rate.get() == 0.0 {
            self.measure(crate::sys::clock::ticks());
        }
        (ticks as f64 * self.rate.get()) as u64
    }

    #[cold]
    fn measure(&self, t: u64) {
        self.checked.set(t);
        let ns = crate::sys::clock::monotonic_ns().saturating_sub(self.base.0);
        let ticks = t.saturating_sub(self.base.1);
        // Too short a span to tell (a worker a few hundred ticks old): one tick per ns
        // meanwhile, the error bounded by that span.
        let rate = if ticks < 1024 {
            1.0
        } else {
            ns as f64 / ticks as f64
        };
        self.rate.set(rate);
    }
}

/// Whether a worker is running a task now.
pub(crate) fn is_busy(words: &[AtomicU64]) -> bool {
    words[CURRENT].load(Ordering::Relaxed) != 0
}

/// One worker's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Tasks it ran to the end (a chunk of a `map` counts as one, as in Python).
    pub tasks: u64,
    /// Of those, how many failed (panicked, or their arguments or result did not cross).
    pub failed: u64,
    /// Time running tasks: decoding the arguments, the function itself, encoding its value
    /// (a thread pool's tasks: the function alone).
    pub function: Duration,
    /// Time moving results back: writing them to the result ring (a process pool). For the
    /// chunks of a `map` sent several to a message, the split between this and
    /// [`function`](Self::function) is measured on one chunk in 16 and applied to the
    /// others (their sum is measured on each).
    pub transfer: Duration,
    /// Time from the worker's start until its initializer had run.
    pub startup: Duration,
    /// Whether it is running a task now.
    pub busy: bool,
}

impl WorkerStats {
    pub(crate) fn add(&mut self, o: &WorkerStats) {
        self.tasks += o.tasks;
        self.failed += o.failed;
        self.function += o.function;
        self.transfer += o.transfer;
        self.startup += o.startup;
    }
}

/// Reads a worker's words.
pub(crate) fn read(words: &[AtomicU64]) -> WorkerStats {
    let w = |i: usize| words[i].load(Ordering::Relaxed);
    let (started, ready) = (w(STARTED_NS), w(READY_NS));
    WorkerStats {
        tasks: w(TASKS),
        failed: w(FAILED),
        function: Duration::from_nanos(w(FUNC_NS)),
        transfer: Duration::from_nanos(w(XFER_NS)),
        startup: Duration::from_nanos(ready.saturating_sub(started)),
        busy: w(CURRENT) != 0,
    }
}

/// The parent's counts of what became of tasks. The two counted for every task are on
/// cache lines of their own: submitters write one, the handler the other.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub submitted: crossbeam_utils::CachePadded<AtomicU64>,
    pub done: crossbeam_utils::CachePadded<AtomicU64>,
    pub failed: AtomicU64,
    pub cancelled: AtomicU64,
    pub timed_out: AtomicU64,
    pub lost: AtomicU64,
    pub grouped: AtomicU64,
}

/// A pool's statistics: what each worker did and where its time went, what became of every
/// task, how many workers the pool started.
///
/// ```
/// use multiproc::pool::ThreadPool;
///
/// let pool = ThreadPool::new(2).unwrap();
/// pool.map(|x: u64| x + 1, 0..100).unwrap();
/// let stats = pool.stats();
/// assert_eq!(stats.tasks_done, stats.tasks_submitted);
/// println!("{stats}"); // a table: one row per worker, then the totals
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// `"Pool"` or `"ThreadPool"`.
    pub kind: &'static str,
    /// Workers started since the pool was made (replacements included).
    pub workers_started: u64,
    /// Workers that died unexpectedly (crashed or were killed from outside).
    pub workers_lost: u64,
    /// Tasks submitted (a `map` chunk counts as one).
    pub tasks_submitted: u64,
    /// Tasks that ended with a value.
    pub tasks_done: u64,
    /// Tasks that ended with an error (panic, encoding).
    pub tasks_failed: u64,
    /// Tasks cancelled.
    pub tasks_cancelled: u64,
    /// Tasks stopped by their timeout.
    pub tasks_timed_out: u64,
    /// Tasks whose worker died under them (`WorkerLost`).
    pub tasks_lost: u64,
    /// Tasks submitted and not yet ended (a group of a `map`'s chunks counts once).
    pub tasks_outstanding: u64,
    /// Of the tasks submitted, those sent to a worker several to a message: a process
    /// pool's `map` sends its small chunks that way once it has seen them run fast (each
    /// still a task of its own: see `Pool::map`).
    pub tasks_grouped: u64,
    /// The live workers: slot, pid (a thread's native id), counts.
    pub workers: Vec<(usize, u32, WorkerStats)>,
    /// Everything, ended workers included.
    pub total: WorkerStats,
}

pub(crate) fn build(
    kind: &'static str,
    c: &Counters,
    workers_count_outcomes: bool,
    workers: Vec<(usize, u32, WorkerStats)>,
    ended: &WorkerStats,
    (workers_started, workers_lost): (u64, u64),
    outstanding: usize,
) -> Stats {
    let mut total = *ended;
    for (_, _, w) in &workers {
        total.add(w);
    }
    total.busy = workers.iter().any(|(_, _, w)| w.busy);
    let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
    Stats {
        kind,
        workers_started,
        workers_lost,
        tasks_submitted: l(&c.submitted),
        tasks_done: if workers_count_outcomes {
            total.tasks - total.failed
        } else {
            l(&c.done)
        },
        tasks_failed: if workers_count_outcomes {
            total.failed
        } else {
            l(&c.failed)
        },
        tasks_cancelled: l(&c.cancelled),
        tasks_timed_out: l(&c.timed_out),
        tasks_lost: l(&c.lost),
        tasks_outstanding: outstanding as u64,
        tasks_grouped: l(&c.grouped),
        workers,
        total,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn share(part: Duration, whole: Duration) -> String {
    if whole.is_zero() {
        "-".into()
    } else {
        format!("{:.0} %", 100.0 * part.as_secs_f64() / whole.as_secs_f64())
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} statistics: {} workers started ({} lost); tasks: {} submitted ({} grouped), {} \
             done, {} failed, {} cancelled, {} timed out, {} lost, {} outstanding",
            self.kind,
            self.workers_started,
            self.workers_lost,
            self.tasks_submitted,
            self.tasks_grouped,
            self.tasks_done,
            self.tasks_failed,
            self.tasks_cancelled,
            self.tasks_timed_out,
            self.tasks_lost,
            self.tasks_outstanding
        )?;
        writeln!(
            f,
            "{:>6} {:>8} {:>8} {:>7} {:>12} {:>12} {:>9} {:>10} {:>5}",
            "worker",
            "pid",
            "tasks",
            "failed",
            "function",
            "transfer",
            "transfer",
            "startup",
            "busy"
        )?;
        let row = |f: &mut fmt::Formatter<'_>, name: &str, pid: &str, w: &WorkerStats| {
            writeln!(
                f,
                "{:>6} {:>8} {:>8} {:>7} {:>12} {:>12} {:>9} {:>10} {:>5}",
                name,
                pid,
                w.tasks,
                w.failed,
                ms(w.function),
                ms(w.transfer),
                share(w.transfer, w.transfer + w.function),
                ms(w.startup),
                if w.busy { "yes" } else { "no" }
            )
        };
        for (i, pid, w) in &self.workers {
            row(f, &i.to_string(), &pid.to_string(), w)?;
        }
        row(f, "all", "", &self.total)
    }
}

#[cfg(test)]
mod tests {
    use super::Pace;
    use std::time::{Duration, Instant};

    #[test]
    fn a_pace_measures_spans_as_the_clock_does() {
        let pace = Pace::new();
        // Young: a span measured at once is still a span, however rough.
        let (a, i) = (pace.now(), Instant::now());
        std::thread::sleep(Duration::from_millis(5));
        let (b, by_clock) = (pace.now(), i.elapsed());
        assert!(b > a, "ticks went back");
        let by_pace = Duration::from_nanos(pace.ns(b - a));
        assert!(
            by_pace >= by_clock / 2 && by_pace <= by_clock * 2 + Duration::from_millis(1),
            "{by_pace:?} vs {by_clock:?}"
        );
        // Older, with the rate measured over the whole span: within a few percent (loosely:
        // the two clocks are not read at one instant on a shared machine).
        for _ in 0..3 {
            let (a, i) = (pace.now(), Instant::now());
            std::thread::sleep(Duration::from_millis(20));
            let (b, by_clock) = (pace.now(), i.elapsed());
            let by_pace = pace.ns(b - a) as f64;
            let by_clock = by_clock.as_nanos() as f64;
            assert!(
                (by_pace / by_clock - 1.0).abs() < 0.1,
                "{by_pace} vs {by_clock}"
            );
        }
    }
}
