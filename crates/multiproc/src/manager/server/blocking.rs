//! The served objects that make a caller wait: queues, locks and semaphores, conditions,
//! events and barriers (≈ the `queue.Queue` and `threading` objects Python's manager serves).
//!
//! Each is a `std` mutex and condition variable in the server process: the caller's
//! connection thread waits in it. A wait looks at the caller every 100 ms, so a client that
//! dies while it waits costs nothing: its wait ends, and what it held is handed on
//! ([`Acquirer::abandon`]: the next acquirer gets [`Fault::OwnerDied`], where Python's manager
//! would deadlock for ever). A barrier whose waiter dies is broken for the others.

use std::collections::{HashSet, VecDeque};
use std::os::fd::BorrowedFd;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::manager::data::Value;
use crate::manager::protocol::{Fault, Micros, Op, Owner, Reply};

/// How often a waiting call looks whether its client is still there.
const SLICE: Duration = Duration::from_millis(100);

/// Who is calling (a lock's owner: its process and thread), the object called, and the
/// socket to watch while it waits.
pub(crate) struct Caller<'a> {
    pub(crate) owner: Owner,
    pub(crate) object: u64,
    pub(crate) peer: BorrowedFd<'a>,
    /// The locks the caller's process holds, handed on when it goes.
    pub(crate) held: &'a Mutex<HashSet<u64>>,
}

impl Caller<'_> {
    pub(crate) fn gone(&self) -> bool {
        crate::sys::io::peer_hung_up(self.peer)
    }

    fn holds(&self, yes: bool) {
        let mut held = lock(self.held);
        if yes {
            held.insert(self.object);
        } else {
            held.remove(&self.object);
        }
    }
}

enum Waited {
    Ready,
    TimedOut,
    Gone,
}

/// Waits on `cv` while `blocked` says so, at most `timeout`, and not past the caller's death.
fn wait_while<'g, T>(
    cv: &Condvar,
    mut g: MutexGuard<'g, T>,
    timeout: Micros,
    caller: &Caller<'_>,
    mut blocked: impl FnMut(&mut T) -> bool,
) -> (MutexGuard<'g, T>, Waited) {
    let deadline = timeout.and_then(|us| Instant::now().checked_add(Duration::from_micros(us)));
    let forever = timeout.is_none() || deadline.is_none();
    loop {
        if !blocked(&mut g) {
            return (g, Waited::Ready);
        }
        let now = Instant::now();
        let slice = match deadline {
            Some(d) if !forever => {
                if d <= now {
                    return (g, Waited::TimedOut);
                }
                (d - now).min(SLICE)
            }
            _ => SLICE,
        };
        let (back, r) = cv.wait_timeout(g, slice).unwrap_or_else(|p| p.into_inner());
        g = back;
        if r.timed_out() && caller.gone() {
            return (g, Waited::Gone);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn gone() -> Fault {
    Fault::Refused("the client went away while it waited".into())
}

fn unsupported(op: &Op, typeid: &str) -> Fault {
    let name = format!("{op:?}");
    let name = name.split(['(', ' ', '{']).next().unwrap_or("?");
    Fault::TypeError(format!("a {typeid} has no operation {name}"))
}

/// A `Queue` or `JoinableQueue` (≈ `queue.Queue` served).
pub(crate) struct Queue {
    st: Mutex<QueueState>,
    changed: Condvar,
    maxsize: u64,
    joinable: bool,
}

struct QueueState {
    items: VecDeque<Value>,
    unfinished: u64,
}

impl Queue {
    pub(crate) fn new(maxsize: u64, joinable: bool) -> Queue {
        Queue {
            st: Mutex::new(QueueState {
                items: VecDeque::new(),
                unfinished: 0,
            }),
            changed: Condvar::new(),
            maxsize,
            joinable,
        }
    }

    pub(crate) fn typeid(&self) -> &'static str {
        if self.joinable {
            "JoinableQueue"
        } else {
            "Queue"
        }
    }

    pub(crate) fn call(&self, op: Op, caller: &Caller<'_>) -> Result<Reply, Fault> {
        let g = lock(&self.st);
        let max = self.maxsize;
        Ok(match op {
            Op::Put(x, t) => {
                let (mut g, w) = wait_while(&self.changed, g, t, caller, |s| {
                    max > 0 && s.items.len() as u64 >= max
                });
                match w {
                    Waited::Ready => {}
                    Waited::TimedOut => return Err(Fault::Full),
                    Waited::Gone => return Err(gone()),
                }
                g.items.push_back(x.into());
                g.unfinished += 1;
                self.changed.notify_all();
                Reply::Unit
            }
            Op::Take(t) => {
                let waited = g.items.is_empty();
                let (mut g, w) = wait_while(&self.changed, g, t, caller, |s| s.items.is_empty());
                match w {
                    // A caller that waited may have died meanwhile: leave the item for
                    // another (and if it dies after this look, see `requeue`).
                    Waited::Ready if waited && caller.gone() => return Err(gone()),
                    Waited::Ready => {}
                    Waited::TimedOut => return Err(Fault::Empty),
                    Waited::Gone => return Err(gone()),
                }
                let item = g.items.pop_front().expect("not empty");
                self.changed.notify_all();
                Reply::Data(item.into())
            }
            Op::QSize | Op::Len => Reply::Int(g.items.len() as i64),
            Op::IsFull => Reply::Bool(max > 0 && g.items.len() as u64 >= max),
            Op::Unfinished => Reply::Int(g.unfinished as i64),
            Op::TaskDone if self.joinable => {
                let mut g = g;
                if g.unfinished == 0 {
                    return Err(Fault::Misuse("task_done() called too many times".into()));
                }
                g.unfinished -= 1;
                if g.unfinished == 0 {
                    self.changed.notify_all();
                }
                Reply::Unit
            }
            Op::Join(t) if self.joinable => {
                match wait_while(&self.changed, g, t, caller, |s| s.unfinished > 0).1 {
                    Waited::Ready => Reply::Unit,
                    Waited::TimedOut => return Err(Fault::Timeout),
                    Waited::Gone => return Err(gone()),
                }
            }
            other => return Err(unsupported(&other, self.typeid())),
        })
    }
}

impl Queue {
    /// Puts back at the front an item taken by a caller that could not be told (its
    /// connection failed before the answer went out): nothing taken is lost.
    pub(crate) fn requeue(&self, item: Value) {
        let mut g = lock(&self.st);
        g.items.push_front(item);
        self.changed.notify_all();
    }
}

#[derive(Clone, Copy, PartialEq)]
enum AcquirerKind {
    Lock,
    RLock,
    Semaphore,
    Bounded(u64),
}

/// A `Lock`, `RLock`, `Semaphore` or `BoundedSemaphore` (Python's manager serves them as
/// `AcquirerProxy`).
pub(crate) struct Acquirer {
    st: Mutex<AcquirerState>,
    changed: Condvar,
    kind: AcquirerKind,
}

struct AcquirerState {
    /// Free permits (a lock: 1 when free).
    value: u64,
    /// A lock's holder (connection) and an RLock's depth.
    owner: Option<Owner>,
    depth: u64,
    /// Its holder died holding it: the next acquirer is told.
    abandoned: bool,
}

impl Acquirer {
    pub(crate) fn lock(reentrant: bool) -> Acquirer {
        Acquirer::with(
            1,
            if reentrant {
                AcquirerKind::RLock
            } else {
                AcquirerKind::Lock
            },
        )
    }

    pub(crate) fn semaphore(value: u64, bounded: bool) -> Acquirer {
        Acquirer::with(
            value,
            if bounded {
                AcquirerKind::Bounded(value)
            } else {
                AcquirerKind::Semaphore
            },
        )
    }

    fn with(value: u64, kind: AcquirerKind) -> Acquirer {
        Acquirer {
            st: Mutex::new(AcquirerState {
                value,
                owner: None,
                depth: 0,
                abandoned: false,
            }),
            changed: Condvar::new(),
            kind,
        }
    }

    pub(crate) fn typeid(&self) -> &'static str {
        match self.kind {
            AcquirerKind::Lock => "Lock",
            AcquirerKind::RLock => "RLock",
            AcquirerKind::Semaphore => "Semaphore",
            AcquirerKind::Bounded(_) => "BoundedSemaphore",
        }
    }

    fn is_lock(&self) -> bool {
        matches!(self.kind, AcquirerKind::Lock | AcquirerKind::RLock)
    }

    pub(crate) fn call(&self, op: Op, caller: &Caller<'_>) -> Result<Reply, Fault> {
        let mut g = lock(&self.st);
        Ok(match op {
            Op::Acquire(t) => {
                if self.kind == AcquirerKind::RLock && g.owner == Some(caller.owner) {
                    g.depth += 1;
                    return Ok(Reply::Bool(true));
                }
                let (mut g, w) = wait_while(&self.changed, g, t, caller, |s| s.value == 0);
                match w {
                    Waited::Ready => {}
                    Waited::TimedOut => return Ok(Reply::Bool(false)),
                    Waited::Gone => return Err(gone()),
                }
                g.value -= 1;
                if self.is_lock() {
                    g.owner = Some(caller.owner);
                    g.depth = 1;
                    caller.holds(true);
                }
                if std::mem::take(&mut g.abandoned) {
                    return Err(Fault::OwnerDied);
                }
                Reply::Bool(true)
            }
            Op::Release => {
                match self.kind {
                    AcquirerKind::Lock => {
                        if g.value > 0 {
                            return Err(Fault::Misuse("release unlocked lock".into()));
                        }
                        g.owner = None;
                        caller.holds(false);
                    }
                    AcquirerKind::RLock => {
                        if g.owner != Some(caller.owner) {
                            return Err(Fault::Misuse("cannot release un-acquired lock".into()));
                        }
                        g.depth -= 1;
                        if g.depth > 0 {
                            return Ok(Reply::Unit);
                        }
                        g.owner = None;
                        caller.holds(false);
                    }
                    AcquirerKind::Bounded(initial) if g.value >= initial => {
                        return Err(Fault::ValueError(
                            "Semaphore released too many times".into(),
                        ));
                    }
                    _ => {}
                }
                g.value += 1;
                self.changed.notify_one();
                Reply::Unit
            }
            Op::Locked => Reply::Bool(g.value == 0),
            Op::Len => Reply::Int(g.value as i64),
            other => return Err(unsupported(&other, self.typeid())),
        })
    }

    /// Client process `process` is gone: if it held this lock, free it for the next acquirer,
    /// who is told ([`Fault::OwnerDied`]).
    pub(crate) fn abandon(&self, process: u64) {
        let mut g = lock(&self.st);
        if g.owner.is_some_and(|o| o.process == process) {
            g.owner = None;
            g.depth = 0;
            g.value = 1;
            g.abandoned = true;
            self.changed.notify_one();
        }
    }
}

/// A `Condition` over its own reentrant lock (≈ `threading.Condition()` served).
#[derive(Default)]
pub(crate) struct Condition {
    st: Mutex<ConditionState>,
    changed: Condvar,
}

#[derive(Default)]
struct ConditionState {
    owner: Option<Owner>,
    depth: u64,
    next_ticket: u64,
    waiting: VecDeque<u64>,
    notified: HashSet<u64>,
    abandoned: bool,
}

impl Condition {
    pub(crate) fn call(&self, op: Op, caller: &Caller<'_>) -> Result<Reply, Fault> {
        let mut g = lock(&self.st);
        let me = Some(caller.owner);
        Ok(match op {
            Op::Acquire(t) => {
                if g.owner == me {
                    g.depth += 1;
                    return Ok(Reply::Bool(true));
                }
                let (mut g, w) = wait_while(&self.changed, g, t, caller, |s| s.owner.is_some());
                match w {
                    Waited::Ready => {}
                    Waited::TimedOut => return Ok(Reply::Bool(false)),
                    Waited::Gone => return Err(gone()),
                }
                g.owner = me;
                g.depth = 1;
                caller.holds(true);
                if std::mem::take(&mut g.abandoned) {
                    return Err(Fault::OwnerDied);
                }
                Reply::Bool(true)
            }
            Op::Release => {
                if g.owner != me {
                    return Err(Fault::Misuse("cannot release un-acquired lock".into()));
                }
                g.depth -= 1;
                if g.depth == 0 {
                    g.owner = None;
                    caller.holds(false);
                    self.changed.notify_all();
                }
                Reply::Unit
            }
            Op::Wait(t) => {
                if g.owner != me {
                    return Err(Fault::Misuse("cannot wait on un-acquired lock".into()));
                }
                let depth = std::mem::take(&mut g.depth);
                g.owner = None;
                let ticket = g.next_ticket;
                g.next_ticket += 1;
                g.waiting.push_back(ticket);
                self.changed.notify_all();
                let (mut g, w) = wait_while(&self.changed, g, t, caller, |s| {
                    !s.notified.contains(&ticket)
                });
                let notified = g.notified.remove(&ticket);
                g.waiting.retain(|x| *x != ticket);
                if let Waited::Gone = w {
                    return Err(gone());
                }
                let (mut g, w) = wait_while(&self.changed, g, None, caller, |s| s.owner.is_some());
                if let Waited::Gone = w {
                    return Err(gone());
                }
                g.owner = me;
                g.depth = depth;
                Reply::Bool(notified)
            }
            Op::Notify(n) => self.notify(&mut g, me, n)?,
            Op::NotifyAll => self.notify(&mut g, me, u64::MAX)?,
            other => return Err(unsupported(&other, "Condition")),
        })
    }

    fn notify(&self, g: &mut ConditionState, me: Option<Owner>, n: u64) -> Result<Reply, Fault> {
        if g.owner != me {
            return Err(Fault::Misuse("cannot notify on un-acquired lock".into()));
        }
        let mut left = n;
        while left > 0 {
            let Some(t) = g.waiting.pop_front() else {
                break;
            };
            g.notified.insert(t);
            left -= 1;
        }
        self.changed.notify_all();
        Ok(Reply::Unit)
    }

    /// As [`Acquirer::abandon`].
    pub(crate) fn abandon(&self, process: u64) {
        let mut g = lock(&self.st);
        if g.owner.is_some_and(|o| o.process == process) {
            g.owner = None;
            g.depth = 0;
            g.abandoned = true;
            self.changed.notify_all();
        }
    }
}

/// An `Event` (≈ `threading.Event` served).
#[derive(Default)]
pub(crate) struct Event {
    set: Mutex<bool>,
    changed: Condvar,
}

impl Event {
    pub(crate) fn call(&self, op: Op, caller: &Caller<'_>) -> Result<Reply, Fault> {
        let mut g = lock(&self.set);
        Ok(match op {
            Op::Set => {
                *g = true;
                self.changed.notify_all();
                Reply::Unit
            }
            Op::ClearEvent => {
                *g = false;
                Reply::Unit
            }
            Op::IsSet => Reply::Bool(*g),
            Op::Wait(t) => {
                let (g, w) = wait_while(&self.changed, g, t, caller, |s| !*s);
                if let Waited::Gone = w {
                    return Err(gone());
                }
                Reply::Bool(*g)
            }
            other => return Err(unsupported(&other, "Event")),
        })
    }
}

/// A `Barrier` (≈ `threading.Barrier` served). A waiter that times out or dies breaks it for
/// the others, as a timeout does in Python.
pub(crate) struct Barrier {
    st: Mutex<BarrierState>,
    changed: Condvar,
}

struct BarrierState {
    parties: u64,
    timeout: Micros,
    count: u64,
    generation: u64,
    broken: bool,
    /// The generation a `reset` ended: its waiters get `BrokenBarrier`.
    reset_generation: Option<u64>,
}

impl Barrier {
    pub(crate) fn new(parties: u64, timeout: Micros) -> Barrier {
        Barrier {
            st: Mutex::new(BarrierState {
                parties: parties.max(1),
                timeout,
                count: 0,
                generation: 0,
                broken: false,
                reset_generation: None,
            }),
            changed: Condvar::new(),
        }
    }

    pub(crate) fn call(&self, op: Op, caller: &Caller<'_>) -> Result<Reply, Fault> {
        let mut g = lock(&self.st);
        Ok(match op {
            Op::BarrierWait(t) => {
                if g.broken {
                    return Err(Fault::BrokenBarrier);
                }
                let index = g.count;
                g.count += 1;
                if g.count == g.parties {
                    g.count = 0;
                    g.generation += 1;
                    self.changed.notify_all();
                    return Ok(Reply::Int(index as i64));
                }
                let generation = g.generation;
                let t = t.or(g.timeout);
                let (mut g, w) = wait_while(&self.changed, g, t, caller, |s| {
                    s.generation == generation && !s.broken
                });
                if g.generation != generation {
                    if g.reset_generation == Some(generation) {
                        return Err(Fault::BrokenBarrier);
                    }
                    return Ok(Reply::Int(index as i64));
                }
                if !matches!(w, Waited::Ready) {
                    g.broken = true;
                    self.changed.notify_all();
                }
                return Err(Fault::BrokenBarrier);
            }
            Op::Reset => {
                if g.count > 0 {
                    g.reset_generation = Some(g.generation);
                    g.generation += 1;
                }
                g.count = 0;
                g.broken = false;
                self.changed.notify_all();
                Reply::Unit
            }
            Op::Abort => {
                g.broken = true;
                self.changed.notify_all();
                Reply::Unit
            }
            Op::BarrierState => Reply::Barrier(g.parties, g.count, g.broken),
            other => return Err(unsupported(&other, "Barrier")),
        })
    }
}
