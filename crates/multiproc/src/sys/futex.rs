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

/// The most words [`wait_any`] takes (`FUTEX_WAITV_MAX`).
pub(crate) const WAIT_ANY_MAX: usize = 128;

/// How [`wait_any`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WokeOn {
    /// A `FUTEX_WAKE` on word `i`.
    Word(usize),
    /// Some word did not hold its expected value (which one, the kernel does not say).
    Changed,
    /// The deadline passed, or a signal came: look again.
    Other,
    /// The call failed (a kernel without `futex_waitv`, an address no longer mapped).
    Failed,
}

/// Blocks while every `(address, expected)` word holds its value, until one is woken, or
/// `deadline` (`futex_waitv`, Linux 5.16; at most [`WAIT_ANY_MAX`] words, shared futexes).
/// The addresses are only handed to the kernel, which checks them: an address no longer
/// mapped fails the call (`Other`), it is never dereferenced here.
pub(crate) fn wait_any(words: &[(usize, u32)], deadline: Option<Instant>) -> WokeOn {
    let waits: Vec<futex::Wait> = words
        .iter()
        .take(WAIT_ANY_MAX)
        .map(|&(addr, expected)| {
            let mut w = futex::Wait::new();
            w.uaddr = futex::WaitPtr::new(addr as *mut std::ffi::c_void);
            w.val = u64::from(expected);
            w.flags = futex::WaitFlags::SIZE_U32;
            w
        })
        .collect();
    // futex_waitv takes an absolute time on the monotonic clock.
    let timeout = deadline.map(|d| {
        let left = d.saturating_duration_since(Instant::now());
        let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        let nsec = now.tv_nsec + i64::from(left.subsec_nanos());
        futex::Timespec {
            tv_sec: now.tv_sec
                + left.as_secs().min(i64::MAX as u64 / 2) as i64
                + nsec / 1_000_000_000,
            tv_nsec: (nsec % 1_000_000_000) as _,
        }
    });
    match futex::waitv(
        &waits,
        futex::WaitvFlags::empty(),
        timeout.as_ref(),
        rustix::time::ClockId::Monotonic,
    ) {
        Ok(i) => WokeOn::Word(i),
        Err(Errno::AGAIN) => WokeOn::Changed,
        Err(Errno::TIMEDOUT | Errno::INTR) => WokeOn::Other,
        Err(_) => WokeOn::Failed,
    }
}

/// Wakes at most `n` threads (in any process) blocked in [`wait`] on `word`.
pub(crate) fn wake(word: &AtomicU32, n: u32) -> usize {
    let n = n.min(i32::MAX as u32);
    futex::wake(word, futex::Flags::empty(), n).unwrap_or(0)
}
