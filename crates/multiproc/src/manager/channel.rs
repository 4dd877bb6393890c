//! The two transports between a client and its manager, and how a call picks one.
//!
//! - **Socket**: one frame each way per call, on the Unix or TCP connection. Every call can
//!   take it, on any machine.
//! - **Shared memory**: when the server is on this machine (a Unix address), the client asks
//!   it, over the socket, for a pair of process queues ([`Queue<Vec<u8>>`], a ring each way,
//!   their memory passed as file descriptors), and the server serves them from a thread of
//!   their own. A call then costs two ring hops, which spin briefly before they sleep on a
//!   futex: no system call while both sides are busy, nothing at all while they are idle.
//!   Calls that may wait for another client (a queue `get` with a timeout, a lock `acquire`,
//!   an event or barrier `wait`) still go over the socket, whose thread on the server
//!   watches the client while it waits. So do calls made while (CPUs − 1) other threads of
//!   the process are already looking for their answers (see `Looking` in this module's source): the rings pay off
//!   while a caller can look for its answer instead of sleeping. The rest go over the rings.
//!
//! [`Transport::Auto`] (the default) takes shared memory when the address is a Unix one and
//! the server agrees; [`Transport::Socket`] never does; [`Transport::SharedMemory`] insists
//! (and fails on TCP). Either way the socket stays open: it carries the authkey handshake,
//! and its closing is how each side learns the other is gone (a client waiting on its ring
//! looks at it every 100 ms; the server's ring thread every second).

use std::time::Duration;

use crate::connection::{Address, Connection};
use crate::error::{ConnectionError, GetError, ManagerError, PutError};
use crate::process::Queue;

use super::protocol::{Op, Request};

/// How a client talks to its manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// Shared memory when the server is on this machine and agrees, else the socket.
    #[default]
    Auto,
    /// Always the socket.
    Socket,
    /// Shared memory, or an error if it cannot be had.
    SharedMemory,
}

/// The rings of a shared-memory channel: requests to the server, answers back.
pub(crate) type Rings = (Queue<Vec<u8>>, Queue<Vec<u8>>);

/// The ring size of each direction (a larger message streams through in chunks).
pub(crate) const RING_CAPACITY: usize = 256 << 10;

/// How often a client waiting on its ring looks whether the server is still there.
const LOOK: Duration = Duration::from_millis(100);

/// How long a client looks for its answer before it lets the ring put it to sleep. The ring
/// itself spins for tens of µs; an answer that takes longer (a batch, a big value) would
/// then cost a futex wake-up, which on a virtual machine's idle CPU costs 20 to 40 µs, more
/// than the call. A client with a call in flight is busy anyway; an idle one spins never.
pub(crate) const SPIN: Duration = Duration::from_micros(200);
/// The first, ring-watching part of that: shorter than the ring's own spin, so it never
/// naps.
const QUICK: Duration = Duration::from_micros(5);

/// One client connection: the socket, and the rings if it has them.
pub(crate) struct Link {
    pub(crate) conn: Connection,
    pub(crate) rings: Option<Rings>,
}

impl Link {
    /// Whether `request` may go over the rings (if its caller may look for the answer: see
    /// [`Looking`]).
    pub(crate) fn by_rings(&self, request: &Request) -> bool {
        self.rings.is_some() && !may_wait(request)
    }

    /// One call over the rings: the answer's bytes.
    pub(crate) fn call_rings(
        &self,
        bytes: Vec<u8>,
        looking: &Looking,
    ) -> Result<Vec<u8>, ManagerError> {
        let (req, resp) = self.rings.as_ref().expect("by_rings said so");
        let mut item = bytes;
        loop {
            match req.put_timeout(item, LOOK) {
                Ok(()) => break,
                Err(PutError::Full(back)) => {
                    self.check_server()?;
                    item = back;
                }
                Err(e) => return Err(ring_failed(e.to_string())),
            }
        }
        // First the ring's own wait (it watches one word, and lags off the server's cache
        // lines), for less time than it spins: the usual quick answer. Then looks, yielding
        // in between, for a slower one (a batch). Then the ring's sleeping wait.
        match resp.get_timeout(QUICK) {
            Ok(answer) => return Ok(answer),
            Err(GetError::Empty) => {}
            Err(e) => return Err(ring_failed(e.to_string())),
        }
        if looking.look(|| !resp.empty()) {
            match resp.get_nowait() {
                Ok(answer) => return Ok(answer),
                Err(GetError::Empty) => {}
                Err(e) => return Err(ring_failed(e.to_string())),
            }
        }
        loop {
            match resp.get_timeout(LOOK) {
                Ok(answer) => return Ok(answer),
                Err(GetError::Empty) => self.check_server()?,
                Err(e) => return Err(ring_failed(e.to_string())),
            }
        }
    }

    /// An error if the server has hung up.
    fn check_server(&self) -> Result<(), ManagerError> {
        use std::os::fd::AsFd;
        if crate::sys::io::peer_hung_up(self.conn.as_fd()) {
            return Err(ManagerError::Connection(ConnectionError::Eof));
        }
        Ok(())
    }
}

/// How many threads of a process may look at once: one fewer than the CPUs, at least one.
/// (Worked out once: `available_parallelism` reads cgroup files, tens of µs.)
pub(crate) fn lookers() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    // after-fork: kept (the machine's CPUs do not change with a fork)
    static N: AtomicUsize = AtomicUsize::new(0);
    match N.load(Ordering::Relaxed) {
        0 => {
            let n = crate::sys::process::cpu_count().saturating_sub(1).max(1);
            N.store(n, Ordering::Relaxed);
            n
        }
        n => n,
    }
}

// after-fork: reset by manager::client (a thread of the parent may have been looking; the
// child has none)
pub(crate) static LOOKING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Leave to look for an answer instead of sleeping at once: at most [`lookers`] threads of a
/// process hold one (one fewer than the CPUs), because with more calls in flight looking
/// would only crowd the CPUs the server needs. A call that gets one goes over the rings (if
/// it has them) and looks; one that does not sleeps on the socket, whose wake-ups under load
/// cost less than the rings' (a ring's sleeper pairs with a `membarrier`, an interrupt to
/// every CPU, each time).
pub(crate) struct Looking(());

impl Looking {
    pub(crate) fn try_start() -> Option<Looking> {
        use std::sync::atomic::Ordering;
        if BACKING_OFF.load(Ordering::Relaxed) > 0 {
            let _ = BACKING_OFF
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
            return None;
        }
        if LOOKING.fetch_add(1, Ordering::Relaxed) >= lookers() {
            LOOKING.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        Some(Looking(()))
    }

    /// Looks until `ready()`, yielding in between, for up to [`SPIN`]; whether it became
    /// ready.
    pub(crate) fn look(&self, mut ready: impl FnMut() -> bool) -> bool {
        let start = std::time::Instant::now();
        while start.elapsed() < SPIN {
            if ready() {
                return true;
            }
            std::thread::yield_now();
        }
        // Looked in vain: the server is busy (many clients, or CPUs crowded), where looking
        // only takes CPU from it. The next calls sleep at once.
        BACKING_OFF.store(BACK_OFF_CALLS, std::sync::atomic::Ordering::Relaxed);
        false
    }
}

/// Calls that do not look after a look found nothing in [`SPIN`].
const BACK_OFF_CALLS: u32 = 64;

// after-fork: kept (a hint: at worst a child's first calls sleep instead of looking)
static BACKING_OFF: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl Drop for Looking {
    fn drop(&mut self) {
        LOOKING.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

fn ring_failed(why: String) -> ManagerError {
    ManagerError::Connection(ConnectionError::Io(std::io::Error::other(format!(
        "shared-memory channel failed: {why}"
    ))))
}

/// Whether a request may wait on other clients (those stay on the socket, whose server
/// thread watches the caller while it waits).
pub(crate) fn may_wait(request: &Request) -> bool {
    match request {
        Request::Call(
            _,
            Op::Put(_, t)
            | Op::Take(t)
            | Op::Join(t)
            | Op::Acquire(t)
            | Op::Wait(t)
            | Op::BarrierWait(t),
        ) => *t != Some(0),
        Request::Call(_, Op::ResultGet(t)) => *t != Some(0),
        Request::Call(_, Op::PoolApply(_) | Op::PoolMap(..) | Op::PoolJoin) => true,
        Request::Shutdown => true,
        _ => false,
    }
}

/// Whether `transport` asks for rings at `address`; an error if it insists where it cannot.
pub(crate) fn wants_rings(transport: Transport, address: &Address) -> Result<bool, ManagerError> {
    let local = matches!(address, Address::Abstract(_) | Address::Path(_));
    match transport {
        Transport::Socket => Ok(false),
        Transport::Auto => Ok(local),
        Transport::SharedMemory if local => Ok(true),
        Transport::SharedMemory => Err(ManagerError::Refused(format!(
            "a shared-memory channel needs a server on this machine (a Unix address), not {address}"
        ))),
    }
}
