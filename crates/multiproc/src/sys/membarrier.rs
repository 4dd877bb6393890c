//! `membarrier(2)`: the heavy half of an *asymmetric* fence between processes.
//!
//! # Why
//!
//! The process queues meet on flag pairs: "I published" against "I am going to sleep", "I am
//! inside" against "I am taking the lock from you". Each side stores its flag and then loads
//! the other's, and that needs a full fence between the store and the load (Dekker's rule). On
//! x86 a full fence is a locked instruction: about twenty cycles, and it also waits for every
//! store still in flight, so a producer pays for the cache line its consumer just read.
//!
//! One side of each pair runs millions of times a second (a `put`), the other rarely (a thread
//! about to sleep, a second producer taking the lock over). So the frequent side uses only a
//! compiler fence, and the rare side calls [`barrier`]: the kernel runs a full memory barrier
//! on every CPU that is running a thread of a registered process, which orders the frequent
//! side's store and load as if it had fenced itself. This is the pairing of
//! `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)` described in its man page, the one liburcu
//! and folly's `asymmetricHeavyBarrier` use.
//!
//! # The rule
//!
//! A process may run the light side only after [`register`] returned `true` (checked cheaply
//! with [`registered`]). Registration belongs to the address space: a forked or spawned child
//! starts unregistered, so it is remembered by pid. Without membarrier (an old kernel, a
//! seccomp filter), [`register`] returns `false` and callers keep their full fences.
//!
//! Why hand-written: rustix supplies the syscall; this adds the per-process registration cache
//! and the fallback.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use rustix::thread::{MembarrierCommand, membarrier};

/// The pid that registered, so a forked child (same memory, new address space) does not
/// believe it is registered.
// after-fork: kept (compared with the pid: a child starts unregistered)
static REGISTERED_PID: AtomicU32 = AtomicU32::new(0);
// after-fork: kept (the same kernel in the child)
static UNSUPPORTED: AtomicBool = AtomicBool::new(false);

/// Whether this process may run the light side of an asymmetric fence now.
#[inline]
pub(crate) fn registered() -> bool {
    REGISTERED_PID.load(Ordering::Relaxed) == super::pid()
}

/// Registers this process so that [`barrier`] calls from any process reach its threads; `false`
/// if the kernel refuses (then the caller must keep its full fences).
#[inline]
pub(crate) fn register() -> bool {
    registered() || (!UNSUPPORTED.load(Ordering::Relaxed) && register_slow())
}

#[cold]
fn register_slow() -> bool {
    // Both commands must work: registering here, and the barrier the other side will issue.
    let ok = membarrier(MembarrierCommand::RegisterGlobalExpedited).is_ok()
        && membarrier(MembarrierCommand::GlobalExpedited).is_ok();
    if ok {
        REGISTERED_PID.store(super::pid(), Ordering::Relaxed);
    } else {
        UNSUPPORTED.store(true, Ordering::Relaxed);
    }
    ok
}

/// The heavy half: when this returns, every thread of every registered process has passed a
/// full memory barrier since the call began (a thread not running then gets one from the
/// context switch). Also a full fence for the caller.
pub(crate) fn barrier() {
    if membarrier(MembarrierCommand::GlobalExpedited).is_err() {
        // No process can have registered on this kernel (or this process is filtered, which
        // the module docs rule out): the fence for our own side is all that is left to do.
        std::sync::atomic::fence(Ordering::SeqCst);
    }
}
