//! `Event` (≈ `threading.Event`): one futex word, bit 0 the flag, bit 1 "someone sleeps".

use std::time::{Duration, Instant};

use crate::primitive::atomic::{AtomicU32, Ordering};
use crate::primitive::{SpinWait, futex};

const SET: u32 = 1;
const SLEEPERS: u32 = 2;

/// A flag threads can wait for (≈ `threading.Event`). Starts cleared.
///
/// ```
/// use multiproc::sync::Event;
/// use std::time::Duration;
///
/// let ev = Event::new();
/// assert!(!ev.wait_timeout(Duration::from_millis(1))); // False on timeout
/// ev.set();
/// assert!(ev.is_set());
/// ev.wait();                                          // returns at once
/// ev.clear();
/// assert!(!ev.is_set());
/// ```
#[derive(Debug, Default)]
#[repr(transparent)]
pub struct Event {
    state: AtomicU32,
}

impl Event {
    const_fn! {
        /// A new, cleared event.
        pub fn new() -> Event {
            Event { state: AtomicU32::new(0) }
        }
    }

    /// Whether the flag is set.
    #[inline]
    pub fn is_set(&self) -> bool {
        self.state.load(Ordering::Acquire) & SET != 0
    }

    /// Whether the flag is set, as a sequentially consistent load (for a Dekker pairing with
    /// [`set`](Self::set), which is one too).
    #[inline]
    pub(crate) fn is_set_seqcst(&self) -> bool {
        self.state.load(Ordering::SeqCst) & SET != 0
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        // SeqCst (free on x86, where a swap is a full barrier anyway): a pool result's
        // listeners pair this store with their own announcement (`pool/listeners.rs`).
        let old = self.state.swap(SET, Ordering::SeqCst);
        if old & SLEEPERS != 0 {
            futex::wake(&self.state, u32::MAX);
        }
    }

    /// Clears the flag.
    pub fn clear(&self) {
        self.state.fetch_and(!SET, Ordering::Relaxed);
    }

    /// Blocks until the flag is set.
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Blocks until the flag is set or `timeout` passes; returns the flag (`False` on timeout).
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(super::deadline(timeout))
    }

    pub(crate) fn wait_until(&self, deadline: Option<Instant>) -> bool {
        let mut spin = SpinWait::new(SpinWait::EVENT);
        while !self.is_set() {
            if !spin.spin() {
                return self.sleep_until(deadline);
            }
        }
        true
    }

    /// [`wait`](Event::wait) as a future (`await event.wait()` of `asyncio.Event`, for a
    /// `threading` or `multiprocessing` event): the word is watched by a waker thread (see
    /// [`crate::futures`]), so awaiting never blocks the runtime's thread. Works for an event
    /// in shared memory set by another process too.
    ///
    /// ```
    /// use multiproc::sync::Event;
    /// use std::sync::Arc;
    ///
    /// let ev = Arc::new(Event::new());
    /// let e = ev.clone();
    /// let setter = std::thread::spawn(move || e.set());
    /// multiproc::futures::block_on(ev.wait_async());
    /// assert!(ev.is_set());
    /// setter.join().unwrap();
    /// ```
    #[cfg(not(multiproc_loom))]
    pub async fn wait_async(&self) {
        let mut reg = None;
        std::future::poll_fn(|cx| {
            // Announce a sleeper as a blocking waiter does, so `set` wakes the word.
            let Some(v) = self.mark_sleeper() else {
                return std::task::Poll::Ready(());
            };
            let r = crate::sync::reactor::wait_futex(&self.state, v, None, cx.waker(), &mut reg);
            if r.is_err() {
                cx.waker().wake_by_ref(); // no waker thread (threads exhausted): poll
            }
            std::task::Poll::Pending
        })
        .await
    }

    #[cold]
    fn sleep_until(&self, deadline: Option<Instant>) -> bool {
        loop {
            let Some(v) = self.mark_sleeper() else {
                return true;
            };
            if !futex::wait(&self.state, v, deadline) {
                return self.is_set();
            }
        }
    }

    /// `None` if the flag is set; otherwise sets the sleepers bit and returns the word's value
    /// to sleep on (`set` then wakes it).
    fn mark_sleeper(&self) -> Option<u32> {
        loop {
            let v = self.state.load(Ordering::Acquire);
            if v & SET != 0 {
                return None;
            }
            if v & SLEEPERS != 0
                || self
                    .state
                    .compare_exchange(v, v | SLEEPERS, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                return Some(v | SLEEPERS);
            }
        }
    }
}
