//! `Process` and its `Builder` (≈ `multiprocessing.Process`).

use std::fmt;
use std::marker::PhantomData;
use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::portable::Portable;

use super::bootstrap::{self, Trampoline};
use super::context::{StartMethod, get_start_method};
use super::current::current_process;
use super::popen::{self, Child, Launch, Spec};
use super::registry;
use super::wire::{self, Outcome};
use crate::error::ProcessError;
use crate::sys::process as sp;

type Prepare = Box<dyn FnOnce(StartMethod) -> Result<Launch, ProcessError> + Send>;

/// Configures a process before it starts (≈ `Process(name=..., daemon=...)` and a context's
/// start method).
#[derive(Debug, Default, Clone)]
#[must_use = "a Builder does nothing until target() and start()"]
pub struct Builder {
    name: Option<String>,
    daemon: Option<bool>,
    method: Option<StartMethod>,
}

impl Builder {
    /// Python's defaults: name `Process-N`, not a daemon, the default start method.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// The process's name (`Process.name`).
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// A daemon process is terminated when its parent exits, and may not start children.
    pub fn daemon(mut self, daemon: bool) -> Builder {
        self.daemon = Some(daemon);
        self
    }

    /// The start method (default: [`get_start_method`]).
    pub fn start_method(mut self, method: StartMethod) -> Builder {
        self.method = Some(method);
        self
    }

    /// A process that will run `target(args)` (≈ `Process(target=f, args=...)`).
    ///
    /// `target` is a `fn(A) -> R`: a `fn` item or a closure that captures nothing (a
    /// capturing closure is refused by `cargo check`, "closures can only be coerced to `fn`
    /// types if they do not capture any variables"; use [`fork_target`](Builder::fork_target)
    /// for those), because with `Spawn` and `Forkserver` only its identity crosses into the
    /// child (see [`Callable`](super::Callable)). `args` and the return value cross by serde
    /// with every start method.
    pub fn target<A, R>(self, target: fn(A) -> R, args: A) -> Process<R>
    where
        A: Portable + Send,
        R: Portable,
    {
        self.call(super::Callable::new(target), args)
    }

    /// As [`target`](Builder::target), with the function already a [`Callable`](super::Callable).
    pub fn call<A, R>(self, target: super::Callable<A, R>, args: A) -> Process<R>
    where
        A: Portable + Send,
        R: Portable,
    {
        let prepare: Prepare = Box::new(move |method| {
            // The arguments cross by serde with every start method, `Fork` included: a shared
            // object in them then takes its reference for the child before the fork (a heap
            // object counts it; a segment passes its fd), exactly as with `Spawn`.
            let (args, fds) = crate::wire::handle::collect_fds(|| wire::encode(&args));
            let args = args.map_err(|e| {
                ProcessError::Encode(format!(
                    "{} does not encode: {e}",
                    std::any::type_name::<A>()
                ))
            })?;
            match method {
                StartMethod::Fork => Ok(Launch::Run(Box::new(move || {
                    let f = target.get();
                    crate::wire::handle::provide_fds(fds, || {
                        match crate::wire::decode::<A>(&args) {
                            Ok(a) => bootstrap::run_caught(move || f(a)),
                            Err(e) => Outcome::BadArgs(format!(
                                "arguments do not decode as {}: {e}",
                                std::any::type_name::<A>()
                            )),
                        }
                    })
                }))),
                StartMethod::Spawn | StartMethod::Forkserver => {
                    let t: Trampoline = bootstrap::trampoline::<A, R>;
                    let offset = bootstrap::offset_of(t)?;
                    let target = target.offset()?;
                    Ok(Launch::Exec {
                        offset,
                        target,
                        args,
                        fds,
                    })
                }
            }
        });
        self.build(prepare, None)
    }

    /// A process running a closure that may capture anything; only the `Fork` start method
    /// can do that (the child is a copy of this process). Its value crosses back by serde.
    pub fn fork_target<F, R>(self, target: F) -> Process<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        let prepare: Prepare = Box::new(move |method| match method {
            StartMethod::Fork => Ok(Launch::Run(Box::new(move || bootstrap::run_caught(target)))),
            other => Err(ProcessError::NeedsFork(other)),
        });
        let method = self.method;
        self.build(prepare, Some(method.unwrap_or(StartMethod::Fork)))
    }

    fn build<R>(self, prepare: Prepare, method: Option<StartMethod>) -> Process<R> {
        Process {
            name: self.name.unwrap_or_else(next_name),
            daemon: self.daemon.unwrap_or(false),
            method: method.or(self.method).unwrap_or_else(get_start_method),
            prepare: Some(prepare),
            child: None,
            joined: false,
            closed: false,
            _result: PhantomData,
        }
    }
}

fn next_name() -> String {
    // after-fork: kept (only unique names within a process are needed)
    static N: AtomicU64 = AtomicU64::new(1);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let me = current_process().name;
    if me.starts_with("Process-") {
        format!("{me}:{n}")
    } else {
        format!("Process-{n}")
    }
}

/// A child process (≈ `multiprocessing.Process`). `R` is what the target returns, handed to
/// [`join`](Process::join).
///
/// ```
/// use multiproc::process::{Process, StartMethod};
///
/// fn square(x: u64) -> u64 { x * x }
///
/// for method in [StartMethod::Fork, StartMethod::Spawn, StartMethod::Forkserver] {
///     let mut p = Process::builder().start_method(method).target(square, 12);
///     p.start().unwrap();
///     assert_eq!(p.join().unwrap(), 144);
///     assert_eq!(p.exitcode(), Some(0));
/// }
/// ```
pub struct Process<R = ()> {
    name: String,
    daemon: bool,
    method: StartMethod,
    prepare: Option<Prepare>,
    child: Option<Arc<Child>>,
    joined: bool,
    closed: bool,
    _result: PhantomData<fn() -> R>,
}

impl<R> fmt::Debug for Process<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match (&self.child, self.closed) {
            (_, true) => "closed".to_owned(),
            (None, _) => "initial".to_owned(),
            (Some(c), _) => match c.exitcode() {
                Some(code) => format!("stopped exitcode={code}"),
                None => format!("started pid={}", c.pid),
            },
        };
        write!(
            f,
            "<Process name='{}' {state}{}>",
            self.name,
            if self.daemon { " daemon" } else { "" }
        )
    }
}

impl Process<()> {
    /// A builder (name, daemon, start method).
    pub fn builder() -> Builder {
        Builder::new()
    }
}

impl<R> Process<R> {
    /// `Process(target=f, args=args)` with defaults; see [`Builder::target`].
    pub fn new<A>(target: fn(A) -> R, args: A) -> Process<R>
    where
        A: Portable + Send,
        R: Portable,
    {
        Builder::new().target(target, args)
    }

    /// Starts the child. A second call is [`ProcessError::AlreadyStarted`].
    pub fn start(&mut self) -> Result<(), ProcessError> {
        if self.closed {
            return Err(ProcessError::Closed);
        }
        let prepare = self.prepare.take().ok_or(ProcessError::AlreadyStarted)?;
        let me = current_process();
        if me.daemon {
            return Err(ProcessError::DaemonChildren);
        }
        if !super::entry::child_entry_linked() {
            return Err(ProcessError::ChildEntryMissing);
        }
        registry::reap();
        let launch = prepare(self.method)?;
        let spec = Spec {
            name: self.name.clone(),
            daemon: self.daemon,
            parent_name: me.name,
        };
        let child = popen::for_method(self.method).popen(spec, launch)?;
        let child = Arc::new(child);
        registry::add(child.clone());
        self.child = Some(child);
        Ok(())
    }

    fn started(&self) -> Result<&Arc<Child>, ProcessError> {
        if self.closed {
            return Err(ProcessError::Closed);
        }
        self.child.as_ref().ok_or(ProcessError::NotStarted)
    }

    /// Waits for the child to end; the target's value, or why there is none.
    pub fn join(&mut self) -> Result<R, ProcessError>
    where
        R: DeserializeOwned,
    {
        self.join_until(None)
    }

    /// As [`join`](Process::join) for at most `timeout`: [`ProcessError::Timeout`] leaves the
    /// child running and the process joinable again (Python's `join(timeout)`).
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<R, ProcessError>
    where
        R: DeserializeOwned,
    {
        self.join_until(crate::sync::deadline(timeout))
    }

    /// [`join`](Process::join) as a future: awaiting it never blocks the thread (the child's
    /// pidfd is watched by a waker thread, see [`crate::futures`]), under any async runtime.
    ///
    /// ```
    /// use multiproc::process::Process;
    ///
    /// let mut p = Process::new(|x: u32| x + 1, 41);
    /// p.start().unwrap();
    /// assert_eq!(multiproc::futures::block_on(p.join_async()).unwrap(), 42);
    /// ```
    pub async fn join_async(&mut self) -> Result<R, ProcessError>
    where
        R: DeserializeOwned,
    {
        let child = self.started()?.clone();
        if self.joined {
            return Err(ProcessError::AlreadyJoined);
        }
        let mut reg = None;
        std::future::poll_fn(|cx| {
            if !matches!(child.poll(), Ok(None)) {
                return std::task::Poll::Ready(());
            }
            // A pidfd stays readable once the child has ended: registering after the end is
            // not a lost wake-up.
            if crate::sync::reactor::wait_readable(child.sentinel(), cx.waker(), &mut reg).is_err()
            {
                cx.waker().wake_by_ref(); // no waker thread (threads exhausted): poll
            }
            std::task::Poll::Pending
        })
        .await;
        drop(reg);
        self.join()
    }

    fn join_until(&mut self, deadline: Option<Instant>) -> Result<R, ProcessError>
    where
        R: DeserializeOwned,
    {
        let child = self.started()?.clone();
        if self.joined {
            return Err(ProcessError::AlreadyJoined);
        }
        let code = child.wait(deadline)?.ok_or(ProcessError::Timeout)?;
        self.joined = true;
        let decode = |bytes: &[u8]| {
            crate::wire::decode::<R>(bytes).map_err(|e| {
                ProcessError::BadResult(format!(
                    "result does not decode as {}: {e}",
                    std::any::type_name::<R>()
                ))
            })
        };
        match child.take_outcome() {
            Some(Outcome::Returned(bytes)) => decode(&bytes),
            Some(Outcome::Panicked(p)) => Err(ProcessError::Panicked(p)),
            Some(Outcome::BadArgs(m)) => Err(ProcessError::BadArgs(m)),
            Some(Outcome::BadResult(m)) => Err(ProcessError::BadResult(m)),
            // The target ended the process itself (`exit(n)`), or it was killed.
            None if code == 0 => decode(&[]).map_err(|_| ProcessError::Exited(0)),
            None if code < 0 => Err(ProcessError::Killed(-code)),
            None => Err(ProcessError::Exited(code)),
        }
    }

    /// Whether the child is running (polls, and reaps it if it has ended).
    pub fn is_alive(&self) -> bool {
        match self.started() {
            Ok(c) => matches!(c.poll(), Ok(None)),
            Err(_) => false,
        }
    }

    /// The exit code: `None` before the end, `0` normally, `1` after a panic, `n` after
    /// `exit(n)`, `-N` after death by signal N (Python's convention).
    pub fn exitcode(&self) -> Option<i32> {
        self.child.as_ref().and_then(|c| c.poll().ok().flatten())
    }

    /// The child's pid, once started.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.pid)
    }

    /// The process name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// At exit, terminate it as a daemon is (instead of waiting for it), though it is not a
    /// daemon and may start children: a manager's server.
    pub(crate) fn stop_at_exit(&self) {
        if let Some(c) = &self.child {
            c.stop_at_exit
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Whether it is a daemon process.
    pub fn daemon(&self) -> bool {
        self.daemon
    }

    /// Its start method.
    pub fn start_method(&self) -> StartMethod {
        self.method
    }

    /// Sends SIGTERM (`terminate()`).
    pub fn terminate(&self) -> Result<(), ProcessError> {
        Ok(self.started()?.signal(sp::SIGTERM)?)
    }

    /// Sends SIGKILL (`kill()`).
    pub fn kill(&self) -> Result<(), ProcessError> {
        Ok(self.started()?.signal(sp::SIGKILL)?)
    }

    /// An fd that becomes readable when the child ends, for `poll`/`connection::wait`
    /// (Python's `sentinel`).
    pub fn sentinel(&self) -> Result<BorrowedFd<'_>, ProcessError> {
        Ok(self.started()?.sentinel())
    }

    /// Releases the process's resources (`close()`): refused while it runs.
    pub fn close(&mut self) -> Result<(), ProcessError> {
        if let Some(c) = &self.child
            && matches!(c.poll(), Ok(None))
        {
            return Err(ProcessError::StillRunning);
        }
        self.child = None;
        self.prepare = None;
        self.closed = true;
        Ok(())
    }
}
