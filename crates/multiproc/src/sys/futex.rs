//! `futex(2)` wait and wake on an [`AtomicU32`], with deadlines.
//!
//! Why hand-written: the sync primitives need a futex that is *not* process-private
//! (std, parking_lot and crossbeam all use `FUTEX_PRIVATE_FLAG` or per-process parking tables),
//! so that a lock word placed in shared memory later works between processes. rustix supplies
//! the safe syscall wrapper; this file adds deadline handling and the retry rules.

use std::sync::atomic::AtomicU32;
use std::time::Instant;

use rustix::io::Errno;
use rustix::thread::futex;

/// Blocks while `*word == expected`, until woken, or until `deadline` passes.
///
/// Returns `false` only when the deadline has passed; `true` means "woken, or the value had
/// already changed, or a spurious wake-up": callers always re-check their condition.
pub(crate) fn wait(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> bool {
    let timeout = match deadline {
        None => None,
        Some(d) => {
            let now = Instant::now();
            if now >= d {
                return false;
            }
            let left = d - now;
            Some(futex::Timespec {
                tv_sec: left.as_secs().min(i64::MAX as u64) as i64,
                tv_nsec: left.subsec_nanos().into(),
            })
        }
    };
    match futex::wait(word, futex::Flags::empty(), expected, timeout.as_ref()) {
        Ok(()) => true,
        Err(Errno::TIMEDOUT) => deadline.is_none_or(|d| Instant::now() < d),
        // EAGAIN: the value was not `expected`; EINTR: a signal. Both: re-check.
        Err(_) => true,
    }
}

/// Wakes at most `n` threads (in any process) blocked in [`wait`] on `word`.
pub(crate) fn wake(word: &AtomicU32, n: u32) -> usize {
    let n = n.min(i32::MAX as u32);
    futex::wake(word, futex::Flags::empty(), n).unwrap_or(0)
}
