//! The waker threads behind the library's awaitable waits (`Process::join_async`,
//! `Connection::recv_async`, a process queue's `get_async`/`put_async`, `Event::wait_async`,
//! `Lock::acquire_async`): they sleep on what a blocking call would sleep on, and wake the
//! awaiting task's [`Waker`] when it changes, so any async runtime (or none) can await them.
//!
//! Two threads, each started on first use, because Linux has no single wait over both kinds
//! of thing:
//!
//! - **descriptors** (a process's pidfd, a connection's socket): one thread in `poll(2)` over
//!   every registered descriptor and an eventfd that tells it the list changed. `poll` and not
//!   `epoll`: a descriptor may be registered twice (two tasks on one connection), a list of a
//!   few entries is rebuilt for nothing, and a descriptor closed under it shows as `POLLNVAL`
//!   instead of lingering in an epoll set;
//! - **futex words** (an `Event`, a `Lock`, a queue's wake-up word, in this process's memory
//!   or in shared memory): one thread in `futex_waitv(2)` (Linux 5.16) over up to 127
//!   registered words and a control word of its own. A word whose value differs from the one
//!   registered ends the wait at once, so a change between a task's last look and the thread
//!   going to sleep is never missed (the kernel does not say which word differed, so every
//!   task looks again). Past 127 words, the tasks of the rest look again every millisecond.
//!   `futex_waitv` rather than one thread per word, or `io_uring`'s futex operations (Linux
//!   6.7, and a ring to set up): one system call, one thread, no dependency.
//!
//! The protocol a caller follows is the blocking one with the thread's sleep replaced by a
//! registration: announce the sleeper exactly as a blocking waiter would (set the waiters
//! bit, arm the poller flag), look once more, then [`wait_futex`] with the value seen. A
//! registration lives in the awaiting future ([`Registration`]): dropping the future drops
//! it, and a word or descriptor is only looked at while it is registered, which is while the
//! future, and the object it borrows, are alive.
//!
//! After `fork` the child has neither thread: the handler `sync::reactor` forgets the
//! parent's registrations (their tasks are not in the child) and lets the child start its
//! own threads on first use.

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::AtomicU32;
use std::task::Waker;
use std::time::{Duration, Instant};

use super::{Mutex, ResetAfterFork};
use crate::sys::{futex, io as sio};

/// Which thread a registration belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Fd,
    Futex,
}

/// A waker registered with a waker thread; dropping it cancels the registration.
#[derive(Debug)]
pub(crate) struct Registration {
    side: Side,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        match self.side {
            Side::Fd => {
                FDS.lock().waits.remove(&self.id);
            }
            Side::Futex => {
                FUTEXES.lock().waits.remove(&self.id);
            }
        }
    }
}

/// Refreshes `reg`'s entry in `waits` with `w`, or, when there is none (first poll, or the
/// thread removed it when it fired), adds `w` under a new id and points `reg` at it.
fn put<W>(
    waits: &mut BTreeMap<u64, W>,
    next: &mut u64,
    side: Side,
    reg: &mut Option<Registration>,
    w: W,
) {
    if let Some(r) = reg
        && let Some(entry) = waits.get_mut(&r.id)
    {
        *entry = w;
        return;
    }
    // An old registration already fired and is gone: no need to (and, holding the lock,
    // must not) run its Drop.
    std::mem::forget(reg.take());
    *next += 1;
    waits.insert(*next, w);
    *reg = Some(Registration { side, id: *next });
}

// ------------------------------------------------------------------ descriptors

struct FdWait {
    fd: RawFd,
    waker: Waker,
}

struct FdState {
    next: u64,
    waits: BTreeMap<u64, FdWait>,
    /// The eventfd that wakes the thread; `None` until it starts.
    kick: Option<OwnedFd>,
}

// after-fork: reset by sync::reactor
static FDS: Mutex<FdState> = Mutex::const_new(
    crate::sync::RawLock::new(),
    FdState {
        next: 0,
        waits: BTreeMap::new(),
        kick: None,
    },
);

/// Wakes `waker` once `fd` is readable (or hung up, or in error). `reg` holds the
/// registration: pass the same one on every poll of a future (it is refreshed, not
/// duplicated). `Err` only when the waker thread cannot start (fds or threads exhausted).
pub(crate) fn wait_readable(
    fd: BorrowedFd<'_>,
    waker: &Waker,
    reg: &mut Option<Registration>,
) -> std::io::Result<()> {
    at_fork();
    let mut st = FDS.lock();
    if st.kick.is_none() {
        let kick = sio::eventfd()?;
        let raw = kick.as_raw_fd();
        std::thread::Builder::new()
            .name("multiproc-fd-waker".into())
            .spawn(move || fd_thread(raw))?;
        st.kick = Some(kick);
    }
    let w = FdWait {
        fd: fd.as_raw_fd(),
        waker: waker.clone(),
    };
    let s = &mut *st;
    put(&mut s.waits, &mut s.next, Side::Fd, reg, w);
    if let Some(k) = &st.kick {
        sio::eventfd_signal(k);
    }
    Ok(())
}

fn fd_thread(kick: RawFd) {
    let mut ids = Vec::new();
    let mut fds: Vec<RawFd> = Vec::new();
    loop {
        ids.clear();
        fds.clear();
        fds.push(kick);
        {
            let st = FDS.lock();
            if st.kick.as_ref().map(AsRawFd::as_raw_fd) != Some(kick) {
                return; // a fork child's copy of the state: not ours
            }
            for (id, w) in &st.waits {
                ids.push(*id);
                fds.push(w.fd);
            }
        }
        let Ok(ready) = sio::poll_raw(&fds) else {
            continue; // a transient failure: rebuild and poll again
        };
        let mut woken = Vec::new();
        {
            let mut st = FDS.lock();
            for i in ready {
                if i == 0 {
                    if let Some(k) = &st.kick {
                        sio::eventfd_read(k);
                    }
                } else if let Some(w) = st.waits.remove(&ids[i - 1]) {
                    woken.push(w.waker);
                }
            }
        }
        for w in woken {
            w.wake();
        }
    }
}

// ------------------------------------------------------------------ futex words

/// How often words past the first 127 are looked at (and all of them, on a kernel without
/// `futex_waitv`).
const OVERFLOW_POLL: Duration = Duration::from_millis(1);

struct FutexWait {
    word: usize,
    expected: u32,
    deadline: Option<Instant>,
    waker: Waker,
}

struct FutexState {
    next: u64,
    waits: BTreeMap<u64, FutexWait>,
    started: bool,
}

// after-fork: reset by sync::reactor
static FUTEXES: Mutex<FutexState> = Mutex::const_new(
    crate::sync::RawLock::new(),
    FutexState {
        next: 0,
        waits: BTreeMap::new(),
        started: false,
    },
);

/// Bumped (and woken) when the registrations change: the futex thread's own word.
// after-fork: kept (a counter; the child's thread starts from whatever it holds)
static CONTROL: AtomicU32 = AtomicU32::new(0);

/// Wakes `waker` once `word` no longer holds `expected` (after a `FUTEX_WAKE` on it, or a
/// change the thread sees), or once `deadline` passes. The caller has announced itself as
/// a sleeper the way the word's protocol asks, so whoever changes the word wakes it. `reg`
/// as for [`wait_readable`].
///
/// The word must stay alive while registered: the caller's future borrows what holds it and
/// drops `reg` before that borrow ends.
pub(crate) fn wait_futex(
    word: &AtomicU32,
    expected: u32,
    deadline: Option<Instant>,
    waker: &Waker,
    reg: &mut Option<Registration>,
) -> std::io::Result<()> {
    at_fork();
    let mut st = FUTEXES.lock();
    if !st.started {
        std::thread::Builder::new()
            .name("multiproc-futex-waker".into())
            .spawn(futex_thread)?;
        st.started = true;
    }
    let w = FutexWait {
        word: std::ptr::from_ref(word) as usize,
        expected,
        deadline,
        waker: waker.clone(),
    };
    let s = &mut *st;
    put(&mut s.waits, &mut s.next, Side::Futex, reg, w);
    drop(st);
    CONTROL.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    futex::wake(&CONTROL, 1);
    Ok(())
}

fn futex_thread() {
    let mut ids: Vec<u64> = Vec::new();
    let mut overflow: Vec<u64> = Vec::new();
    let mut words: Vec<(usize, u32)> = Vec::new();
    loop {
        ids.clear();
        overflow.clear();
        words.clear();
        let control = CONTROL.load(std::sync::atomic::Ordering::SeqCst);
        words.push((std::ptr::from_ref(&CONTROL) as usize, control));
        let mut deadline: Option<Instant> = None;
        {
            let mut st = FUTEXES.lock();
            if !st.started {
                return;
            }
            let now = Instant::now();
            let due: Vec<u64> = st
                .waits
                .iter()
                .filter(|(_, w)| w.deadline.is_some_and(|d| d <= now))
                .map(|(id, _)| *id)
                .collect();
            if !due.is_empty() {
                let wakers: Vec<Waker> = due
                    .iter()
                    .filter_map(|id| st.waits.remove(id).map(|w| w.waker))
                    .collect();
                drop(st);
                wakers.into_iter().for_each(Waker::wake);
                continue;
            }
            for (id, w) in st.waits.iter() {
                if words.len() < futex::WAIT_ANY_MAX {
                    words.push((w.word, w.expected));
                    ids.push(*id);
                } else {
                    overflow.push(*id);
                }
                if let Some(d) = w.deadline {
                    deadline = Some(deadline.map_or(d, |x: Instant| x.min(d)));
                }
            }
            if !overflow.is_empty() {
                let d = now + OVERFLOW_POLL;
                deadline = Some(deadline.map_or(d, |x| x.min(d)));
            }
        }
        let woke = futex::wait_any(&words, deadline);
        let wakers: Vec<Waker> = {
            let mut st = FUTEXES.lock();
            let fired: Vec<u64> = match woke {
                // Woken on a word: wake its task even if the value came back (a FUTEX_WAKE
                // means "look again").
                futex::WokeOn::Word(i) if i > 0 => vec![ids[i - 1]],
                // Some word no longer held its value, unknown which: every task looks again
                // (each registers afresh with the value it then sees).
                futex::WokeOn::Changed => ids.clone(),
                // The call itself failed (no `futex_waitv` in this kernel, say): every task
                // looks again, and the thread degrades to looking every millisecond.
                futex::WokeOn::Failed => {
                    std::thread::sleep(OVERFLOW_POLL);
                    ids.clone()
                }
                // The words that did not fit: their tasks look again every millisecond (each
                // registers afresh, behind the others).
                futex::WokeOn::Other => overflow.clone(),
                // The control word, a deadline: the next round sorts it out.
                _ => Vec::new(),
            };
            fired
                .iter()
                .filter_map(|id| st.waits.remove(id).map(|w| w.waker))
                .collect()
        };
        wakers.into_iter().for_each(Waker::wake);
    }
}

// ------------------------------------------------------------------ fork

// after-fork: kept (the handler itself)
static AT_FORK: crate::sys::at_fork::Handler =
    crate::sys::at_fork::Handler::child("sync::reactor", || {
        // The threads are not in the child, nor are the tasks the wakers belong to: forget the
        // registrations (a waker's drop might reach into a runtime that is not here) and the
        // parent's eventfd (the child's copy of the descriptor is closed: the parent keeps its
        // own), so the child starts its own threads on first use.
        FDS.force_unlock_after_fork();
        FUTEXES.force_unlock_after_fork();
        let mut fds = FDS.lock();
        std::mem::forget(std::mem::take(&mut fds.waits));
        fds.kick = None;
        drop(fds);
        let mut fx = FUTEXES.lock();
        std::mem::forget(std::mem::take(&mut fx.waits));
        fx.started = false;
    });

fn at_fork() {
    AT_FORK.register();
}
