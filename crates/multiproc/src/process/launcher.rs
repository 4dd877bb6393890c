//! The launcher thread: every fork (and every spawn's fork+exec) happens on it.
//!
//! Why one thread: a child's parent-death signal (`PR_SET_PDEATHSIG`) fires when the *thread*
//! that forked it exits, not the process. Processes started from a short-lived thread would
//! be killed when that thread ends. Forking from one thread that lives as long as the process
//! keeps "the child dies with its parent" true and nothing else. (The main thread lives as long
//! as the process too, so a spawn from the main thread runs its fork+exec right there.)

use std::io;
use std::os::fd::OwnedFd;
use std::sync::mpsc;

use crate::sync::{Mutex, ResetAfterFork};
use crate::sys;

/// Runs in the child; must end the process (it ends in `_exit`).
type ChildBody = Box<dyn FnOnce() + Send>;
type Job = Box<dyn FnOnce() -> io::Result<u32> + Send>;

enum Request {
    Fork(ChildBody, mpsc::Sender<io::Result<u32>>),
    Run(Job, mpsc::Sender<io::Result<u32>>),
}

// after-fork: reset by process::launcher
static LAUNCHER: Mutex<Option<mpsc::Sender<Request>>> =
    Mutex::const_new(crate::sync::RawLock::new(), None);

/// Set in a forked child: its first thread may not be able to start another (std's own
/// thread bookkeeping lock may have been held by a parent thread at the fork), so a forked
/// child forks from its main thread instead of through a launcher thread.
// after-fork: reset by process::launcher (set, in the child)
static FORKED_CHILD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

// after-fork: kept (the handler itself)
static AT_FORK: sys::at_fork::Handler =
    sys::at_fork::Handler::child("process::launcher", after_fork_in_child);

fn send(req: impl FnOnce(mpsc::Sender<io::Result<u32>>) -> Request) -> io::Result<u32> {
    let (tx, rx) = mpsc::channel();
    AT_FORK.register();
    {
        let mut g = LAUNCHER.lock();
        let launcher = match &*g {
            Some(l) => l.clone(),
            None => {
                let l = start()?;
                *g = Some(l.clone());
                l
            }
        };
        launcher
            .send(req(tx))
            .map_err(|_| io::Error::other("the launcher thread is gone"))?;
    }
    rx.recv()
        .map_err(|_| io::Error::other("the launcher thread is gone"))?
}

fn start() -> io::Result<mpsc::Sender<Request>> {
    let (tx, rx) = mpsc::channel::<Request>();
    std::thread::Builder::new()
        .name("multiproc-launcher".into())
        .spawn(move || {
            for req in rx {
                match req {
                    Request::Fork(body, reply) => {
                        let _ = reply.send(fork_here(body));
                    }
                    Request::Run(job, reply) => {
                        let _ = reply.send(job());
                    }
                }
            }
        })?;
    Ok(tx)
}

/// Forks from the calling thread, which must live as long as the process.
fn fork_here(body: ChildBody) -> io::Result<u32> {
    let parent = sys::pid();
    // The child reports panics through this hook; install it here, so the child never takes
    // std's hook lock for writing (another thread may hold it across the fork).
    // (The executable's text table and the exit handler are settled by the after-fork
    // registry's `process::settle` prepare handler.)
    crate::thread::install_recording_hook();
    // SAFETY: the child only runs `body`, which starts with the parent-death set-up and ends
    // in `_exit`; see the `StartMethod::Fork` docs for the multithreaded-parent caveat.
    match unsafe { sys::process::fork() }? {
        None => {
            // The after-fork registry has already reset this process's state (this module's
            // launcher, the registries, the tracker, ...).
            sys::process::die_with_parent(parent);
            body();
            sys::process::exit_now(0)
        }
        Some(pid) => Ok(pid),
    }
}

/// The main thread lives exactly as long as the process: a parent-death signal tied to it is
/// tied to the process, so it can fork itself and skip the hop to the launcher thread.
fn on_main_thread() -> bool {
    sys::tid::current() == sys::pid()
}

/// Forks on the launcher thread; the child runs `body` (which must end the process).
pub(crate) fn fork(body: ChildBody) -> io::Result<u32> {
    if FORKED_CHILD.load(std::sync::atomic::Ordering::Relaxed) && on_main_thread() {
        AT_FORK.register();
        return fork_here(body);
    }
    // Otherwise through the launcher: measured, forking from the main thread itself was
    // slower (487 µs vs 431 µs start+join), unlike a spawn's fork+exec.
    send(|reply| Request::Fork(body, reply))
}

/// Runs `job` on the launcher thread (a `Command::spawn`, so its fork happens there too).
pub(crate) fn run(job: Job) -> io::Result<u32> {
    if on_main_thread() {
        return job();
    }
    send(|reply| Request::Run(job, reply))
}

/// In a forked child (whoever forked): the parent's launcher thread does not exist here; the
/// next start makes a new one. The parent's sender is forgotten, not dropped: its channel
/// belongs to a thread that is not in this process.
fn after_fork_in_child() {
    LAUNCHER.force_unlock_after_fork();
    std::mem::forget(LAUNCHER.lock().take());
    FORKED_CHILD.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Starts this executable again (same argv\[0\], no arguments: the child entry takes over
/// before `main`) with `fd` inherited and its number in the environment variable `env`. With
/// `die_with_parent`, the new process gets a parent-death signal. Runs on the launcher thread
/// (or the main thread), so that signal is tied to this process. Returns the pid.
pub(crate) fn spawn_self(
    env: &'static str,
    fd: OwnedFd,
    die_with_parent: bool,
) -> std::io::Result<u32> {
    let parent = die_with_parent.then(sys::pid);
    run(Box::new(move || sys::process::exec_self(env, fd, parent)))
}
