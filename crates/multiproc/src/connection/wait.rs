//! [`wait`] (≈ `multiprocessing.connection.wait`): block until any of several connections,
//! process sentinels and queues is ready.
//!
//! Connections and sentinels are file descriptors, polled as they are. A process queue has no
//! descriptor: it is a ring in shared memory. For each queue, a helper thread sleeps on the
//! ring's *pollers* futex, which every publish wakes while a poller is armed, and on data
//! signals an eventfd that the caller polls beside the descriptors. Readiness is
//! level-triggered: a queue is ready while it holds bytes, a descriptor while `poll` says so.
//! (A lone queue is waited on directly, without a helper.)
//!
//! As in Python, ready means a read would not block *now*: another consumer may still take
//! the item first.
//!
//! ```
//! use std::os::fd::AsFd;
//! use std::time::Duration;
//! use multiproc::connection::{Pipe, Waitable, wait};
//! use multiproc::process::Queue;
//!
//! let (a, mut b) = Pipe(true).unwrap();
//! let q: Queue<u32> = Queue::new(0).unwrap();
//! q.put(7).unwrap();
//! let ready = wait(&[Waitable::from(&a), Waitable::from(&q)], Some(Duration::from_secs(5))).unwrap();
//! assert_eq!(ready, [1]);                  // the queue has an item, the pipe nothing
//! b.send(&"hi").unwrap();
//! let ready = wait(&[a.as_fd().into(), Waitable::from(&q)], None).unwrap();
//! assert_eq!(ready, [0, 1]);
//! ```

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::Connection;
use crate::queue::process::{JoinableQueue, Queue, SimpleQueue};
use crate::queue::ring::Ring;
use crate::sys::process::poll_any;

/// One thing [`wait`] can wait on: a file descriptor (a [`Connection`], a process
/// [`sentinel`](crate::process::Process::sentinel), a socket) or a process queue. Made with
/// `From`/`into()`.
#[derive(Clone, Copy)]
pub struct Waitable<'a>(Kind<'a>);

impl std::fmt::Debug for Waitable<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::os::fd::AsRawFd;
        match self.0 {
            Kind::Fd(fd) => write!(f, "Waitable::Fd({})", fd.as_raw_fd()),
            Kind::Ring(_) => write!(f, "Waitable::Queue"),
        }
    }
}

#[derive(Clone, Copy)]
enum Kind<'a> {
    Fd(BorrowedFd<'a>),
    Ring(&'a Ring),
}

impl<'a> From<BorrowedFd<'a>> for Waitable<'a> {
    fn from(fd: BorrowedFd<'a>) -> Self {
        Waitable(Kind::Fd(fd))
    }
}

impl<'a> From<&'a Connection> for Waitable<'a> {
    fn from(c: &'a Connection) -> Self {
        Waitable(Kind::Fd(c.as_fd()))
    }
}

impl<'a, T> From<&'a Queue<T>> for Waitable<'a> {
    fn from(q: &'a Queue<T>) -> Self {
        Waitable(Kind::Ring(q.ring()))
    }
}

impl<'a, T> From<&'a SimpleQueue<T>> for Waitable<'a> {
    fn from(q: &'a SimpleQueue<T>) -> Self {
        Waitable(Kind::Ring(q.inner().ring()))
    }
}

impl<'a, T> From<&'a JoinableQueue<T>> for Waitable<'a> {
    fn from(q: &'a JoinableQueue<T>) -> Self {
        Waitable(Kind::Ring(q.inner().ring()))
    }
}

/// Waits until some of `objects` are ready to read (a connection with a message or at end of
/// file, a process sentinel that fired, a queue with an item); returns their indices in
/// order, empty on timeout (≈ `multiprocessing.connection.wait`). `None` waits forever.
///
/// Takes anything that converts to a [`Waitable`]: a slice of `BorrowedFd`s as before, or of
/// `Waitable`s to mix descriptors and queues.
pub fn wait<'a, W: Into<Waitable<'a>> + Copy>(
    objects: &[W],
    timeout: Option<Duration>,
) -> io::Result<Vec<usize>> {
    let deadline = timeout.and_then(crate::sync::deadline);
    let mut fds: Vec<(usize, BorrowedFd<'a>)> = Vec::new();
    let mut rings: Vec<(usize, &'a Ring)> = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        match (*o).into().0 {
            Kind::Fd(fd) => fds.push((i, fd)),
            Kind::Ring(r) => rings.push((i, r)),
        }
    }
    let only_fds: Vec<BorrowedFd<'a>> = fds.iter().map(|&(_, fd)| fd).collect();
    if rings.is_empty() {
        return Ok(poll_any(&only_fds, deadline)?
            .into_iter()
            .map(|k| fds[k].0)
            .collect());
    }
    // Level-triggered: whatever is ready now answers at once.
    let now = ready(&fds, &only_fds, &rings)?;
    if !now.is_empty() || deadline.is_some_and(|d| Instant::now() >= d) {
        return Ok(now);
    }
    let never = AtomicBool::new(false);
    if let ([(_, ring)], []) = (rings.as_slice(), fds.as_slice()) {
        ring.wait_readable(deadline, &never);
        return ready(&fds, &only_fds, &rings);
    }
    let efd = crate::sys::io::eventfd()?;
    let cancel = AtomicBool::new(false);
    std::thread::scope(|s| -> io::Result<()> {
        for &(_, ring) in &rings {
            let (efd, cancel) = (&efd, &cancel);
            s.spawn(move || {
                if ring.wait_readable(deadline, cancel) {
                    crate::sys::io::eventfd_signal(efd);
                }
            });
        }
        let mut all = only_fds.clone();
        all.push(efd.as_fd());
        let polled = poll_any(&all, deadline);
        cancel.store(true, Ordering::SeqCst);
        for &(_, ring) in &rings {
            ring.wake_pollers();
        }
        polled.map(drop)
    })?;
    ready(&fds, &only_fds, &rings)
}

/// Indices ready now, without blocking.
fn ready(
    fds: &[(usize, BorrowedFd<'_>)],
    only_fds: &[BorrowedFd<'_>],
    rings: &[(usize, &Ring)],
) -> io::Result<Vec<usize>> {
    let mut out: Vec<usize> = if fds.is_empty() {
        Vec::new()
    } else {
        poll_any(only_fds, Some(Instant::now()))?
            .into_iter()
            .map(|k| fds[k].0)
            .collect()
    };
    out.extend(rings.iter().filter(|(_, r)| r.readable()).map(|&(i, _)| i));
    out.sort_unstable();
    Ok(out)
}
