//! `Timer` (≈ `threading.Timer`): run a function after a delay, unless cancelled first.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use super::builder::{Builder, JoinHandle};
use crate::error::{JoinError, ThreadError};
use crate::sync::Event;

const PENDING: u8 = 0;
const FIRED: u8 = 1;
const CANCELLED: u8 = 2;

struct State {
    outcome: AtomicU8,
    cancel: Event,
}

/// A thread that calls a function after `interval` (≈ `threading.Timer`).
///
/// [`cancel`](Timer::cancel) stops it only if it has not fired yet, and says whether it did:
/// exactly one of "fired" and "cancelled" happens.
///
/// ```
/// use multiproc::thread::Timer;
/// use std::time::Duration;
///
/// let mut t = Timer::new(Duration::from_secs(30), || println!("never"));
/// t.start().unwrap();
/// assert!(t.cancel());        // stopped before it fired
/// t.join().unwrap();
/// assert!(!t.fired());
/// ```
pub struct Timer {
    interval: Duration,
    function: Option<Box<dyn FnOnce() + Send>>,
    state: Arc<State>,
    handle: Option<JoinHandle<()>>,
    builder: Option<Builder>,
}

impl Timer {
    /// A timer that will call `function` `interval` after [`start`](Timer::start).
    pub fn new(interval: Duration, function: impl FnOnce() + Send + 'static) -> Timer {
        Timer {
            interval,
            function: Some(Box::new(function)),
            state: Arc::new(State {
                outcome: AtomicU8::new(PENDING),
                cancel: Event::new(),
            }),
            handle: None,
            builder: Some(Builder::new()),
        }
    }

    /// Configures the timer's thread (name, daemon) before `start`.
    pub fn with_builder(mut self, builder: Builder) -> Timer {
        self.builder = Some(builder);
        self
    }

    /// Starts the countdown. A second call is [`ThreadError::AlreadyStarted`].
    pub fn start(&mut self) -> Result<(), ThreadError> {
        let (Some(function), Some(builder)) = (self.function.take(), self.builder.take()) else {
            return Err(ThreadError::AlreadyStarted);
        };
        let state = self.state.clone();
        let interval = self.interval;
        self.handle = Some(builder.spawn(move || {
            let cancelled = state.cancel.wait_timeout(interval);
            if !cancelled
                && state
                    .outcome
                    .compare_exchange(PENDING, FIRED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                function();
            }
        })?);
        Ok(())
    }

    /// Stops the timer if it has not fired; returns whether this call stopped it.
    pub fn cancel(&self) -> bool {
        let stopped = self
            .state
            .outcome
            .compare_exchange(PENDING, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        self.state.cancel.set();
        stopped
    }

    /// Whether the function was (or is being) called.
    pub fn fired(&self) -> bool {
        self.state.outcome.load(Ordering::Acquire) == FIRED
    }

    /// Whether the timer's thread is running.
    pub fn is_alive(&self) -> bool {
        self.handle.as_ref().is_some_and(JoinHandle::is_alive)
    }

    /// Waits for the timer's thread to end (after firing or cancellation).
    pub fn join(&mut self) -> Result<(), JoinError> {
        match self.handle.take() {
            Some(h) => h.join(),
            None => Ok(()),
        }
    }

    /// Waits at most `timeout` for the timer's thread to end.
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<(), JoinError> {
        match self.handle.as_mut() {
            Some(h) => {
                h.join_timeout(timeout)?;
                self.handle = None;
                Ok(())
            }
            None => Ok(()),
        }
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timer")
            .field("interval", &self.interval)
            .field("fired", &self.fired())
            .finish_non_exhaustive()
    }
}
