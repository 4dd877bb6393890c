//! Starting threads: [`Builder`], [`spawn`], the [`Run`] trait, and [`JoinHandle`].

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::excepthook::{call_excepthook, capture_panics_here, to_panic};
use super::registry::{self, Kind, Thread, current_thread, get_ident};
use crate::error::{JoinError, Panic};
use crate::sync::Event;

/// A thread's work as an object, the way Python subclasses `Thread` and overrides `run()`.
///
/// ```
/// use multiproc::thread::{Builder, Run};
///
/// struct Countdown { from: u32 }
///
/// impl Run for Countdown {
///     type Output = Vec<u32>;
///     fn run(self) -> Vec<u32> { (0..self.from).rev().collect() }
/// }
///
/// let t = Builder::new().name("countdown").start(Countdown { from: 3 }).unwrap();
/// assert_eq!(t.name(), "countdown");
/// assert_eq!(t.join().unwrap(), [2, 1, 0]);
/// ```
pub trait Run: Send + 'static {
    /// What `run` returns, handed to [`JoinHandle::join`].
    type Output: Send + 'static;
    /// The thread's body.
    fn run(self) -> Self::Output;
}

/// Configures a thread before it starts (≈ `threading.Thread(name=..., daemon=...)`).
#[derive(Debug, Default)]
#[must_use = "a Builder does nothing until spawn() or start()"]
pub struct Builder {
    name: Option<String>,
    daemon: Option<bool>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with Python's defaults: name `Thread-N`, daemon inherited from the calling
    /// thread.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// The thread's name (also given to the OS, truncated to 15 bytes there).
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Whether it is a daemon thread: [`shutdown`](super::shutdown) does not wait for daemon
    /// threads. Default: the calling thread's own daemon flag (Python's rule).
    pub fn daemon(mut self, daemon: bool) -> Builder {
        self.daemon = Some(daemon);
        self
    }

    /// The new thread's stack size in bytes (≈ `threading.stack_size`).
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Starts a [`Run`] object on a new thread.
    pub fn start<R: Run>(self, work: R) -> io::Result<JoinHandle<R::Output>> {
        self.spawn(move || work.run())
    }

    /// Starts `f` on a new thread and returns once it is running (so `native_id` is known).
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let daemon = self.daemon.unwrap_or_else(|| current_thread().is_daemon());
        let name = self.name.unwrap_or_else(|| registry::new_name("Thread"));
        let thread = registry::new_thread(registry::new_ident(), name, daemon, Kind::Spawned);
        let packet: Arc<Mutex<Option<Result<T, Panic>>>> = Arc::new(Mutex::new(None));
        let started = Arc::new(Event::new());

        let mut std_builder = std::thread::Builder::new().name(thread.name().to_owned());
        if let Some(size) = self.stack_size {
            std_builder = std_builder.stack_size(size);
        }
        let (their_thread, their_packet, their_started) =
            (thread.clone(), packet.clone(), started.clone());
        registry::register(&thread);
        let native = std_builder.spawn(move || {
            registry::set_current(&their_thread);
            capture_panics_here();
            their_started.set();
            drop(their_started);
            let result = catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
                let panic = to_panic(their_thread.name(), &*payload);
                call_excepthook(&their_thread, &panic);
                panic
            });
            *their_packet.lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
            registry::unregister(&their_thread);
            their_thread.inner.finished.set();
        });
        match native {
            Ok(native) => {
                started.wait();
                Ok(JoinHandle {
                    thread,
                    native: Some(native),
                    packet,
                })
            }
            Err(e) => {
                registry::unregister(&thread);
                thread.inner.finished.set();
                Err(e)
            }
        }
    }
}

/// Starts `f` on a new thread with default settings; panics if the OS cannot create a thread
/// (as `std::thread::spawn` does; use [`Builder::spawn`] to get the error instead).
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new().spawn(f).expect("failed to spawn thread")
}

/// Owns a started thread: join it to get its closure's value (≈ `Thread.join()`, which in
/// Python returns nothing; here it returns what the closure returned, or its panic).
#[derive(Debug)]
pub struct JoinHandle<T> {
    thread: Thread,
    native: Option<std::thread::JoinHandle<()>>,
    packet: Arc<Mutex<Option<Result<T, Panic>>>>,
}

impl<T> JoinHandle<T> {
    /// The thread's [`Thread`] handle.
    pub fn thread(&self) -> &Thread {
        &self.thread
    }

    /// The thread's name.
    pub fn name(&self) -> &str {
        self.thread.name()
    }

    /// See [`Thread::ident`].
    pub fn ident(&self) -> u64 {
        self.thread.ident()
    }

    /// See [`Thread::native_id`].
    pub fn native_id(&self) -> Option<u32> {
        self.thread.native_id()
    }

    /// See [`Thread::is_daemon`].
    pub fn is_daemon(&self) -> bool {
        self.thread.is_daemon()
    }

    /// True until the closure returns or panics.
    pub fn is_alive(&self) -> bool {
        self.thread.is_alive()
    }

    /// Waits for the thread; its value, or [`JoinError::Panicked`] with the panic's message and
    /// location.
    pub fn join(mut self) -> Result<T, JoinError> {
        self.join_inner(None)
    }

    /// Waits at most `timeout`. On [`JoinError::Timeout`] the thread is still running and the
    /// handle can be joined again (Python's `join(timeout)` followed by `is_alive()`).
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<T, JoinError> {
        self.join_inner(Some(timeout))
    }

    fn join_inner(&mut self, timeout: Option<Duration>) -> Result<T, JoinError> {
        if self.thread.ident() == get_ident() {
            return Err(JoinError::CurrentThread);
        }
        if self.native.is_none() {
            return Err(JoinError::AlreadyJoined);
        }
        match timeout {
            None => self.thread.inner.finished.wait(),
            Some(t) => {
                if !self.thread.inner.finished.wait_timeout(t) {
                    return Err(JoinError::Timeout);
                }
            }
        }
        if let Some(native) = self.native.take() {
            // The closure is over; this only waits for thread-local destructors.
            let _ = native.join();
        }
        match self
            .packet
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            Some(Ok(v)) => Ok(v),
            Some(Err(p)) => Err(JoinError::Panicked(p)),
            None => Err(JoinError::AlreadyJoined),
        }
    }
}
