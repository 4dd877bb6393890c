//! The child side of every start method, and how a function crosses into a child. (Which
//! role a fresh process takes is decided before `main`, in `entry.rs`.)
//!
//! # Functions cross as offsets
//!
//! A target is a `fn(A) -> R`. What crosses is the address of the monomorphised
//! [`trampoline`] for `(A, R)` and the function's own address, as offsets from [`base`]: parent and
//! child run the same executable, so the offset is the same in both despite ASLR. The parent
//! checks that the trampoline lies in the same executable mapping as `base`, so a target from
//! some other object (a `dlopen`ed library) is refused before anything starts.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::current;
use super::wire::{self, Outcome, Start};
use crate::error::ProcessError;
use crate::sys::process::exit_now;
use crate::wire::frame;

pub(crate) use super::entry::ENV_CHILD;

/// The symbol offsets are measured from.
#[inline(never)]
pub(crate) fn base() {
    std::hint::black_box(());
}

fn base_addr() -> usize {
    base as *const () as usize
}

/// What runs a target in a child: decode args, call the function at the target offset,
/// encode the result. One per `(A, R)`; the function itself travels as a second offset.
pub(crate) type Trampoline = fn(i64, &[u8]) -> Outcome;

/// The trampoline for targets of type `fn(A) -> R`.
pub(crate) fn trampoline<A, R>(target: i64, args: &[u8]) -> Outcome
where
    A: DeserializeOwned,
    R: Serialize,
{
    // SAFETY: `run_spawned` checked that `target` lies in this executable's text, and the
    // parent computed it from a `fn(A) -> R` (the trampoline it sent, this one, is the
    // monomorphisation for exactly that type).
    let f = unsafe { fn_at::<A, R>(target) };
    let args: A = match crate::wire::decode(args) {
        Ok(a) => a,
        Err(e) => {
            return Outcome::BadArgs(format!(
                "arguments do not decode as {}: {e}",
                std::any::type_name::<A>()
            ));
        }
    };
    run_caught(move || f(args))
}

/// The `fn(A) -> R` at `offset` from [`base`].
///
/// # Safety
/// `offset` must be in this executable's text ([`offset_check`]) and come from
/// [`code_offset`] of a `fn(A) -> R` in a process running the same executable.
pub(crate) unsafe fn fn_at<A, R>(offset: i64) -> fn(A) -> R {
    let addr = (base_addr() as i64 + offset) as usize;
    // SAFETY: the caller guarantees `addr` is the address of a `fn(A) -> R` in this image;
    // fn pointers are address-sized.
    unsafe { std::mem::transmute::<usize, fn(A) -> R>(addr) }
}

/// In a child: the results socket, where a panic is reported from the panic hook when
/// panics abort (-1: not a child, or already reported).
// after-fork: reset by process::bootstrap
static OUTCOME_FD: AtomicI32 = AtomicI32::new(-1);

// after-fork: kept (the handler itself)
static AT_FORK: crate::sys::at_fork::Handler =
    crate::sys::at_fork::Handler::child("process::bootstrap", || {
        OUTCOME_FD.store(-1, Ordering::Relaxed)
    });

/// In a new child, before its target runs: a panic under `panic = "abort"` is reported on
/// `results` (the socket `finish` writes the outcome to).
pub(crate) fn report_aborting_panics_to(results: BorrowedFd<'_>) {
    AT_FORK.register();
    crate::thread::set_abort_reporter(report_abort);
    OUTCOME_FD.store(results.as_raw_fd(), Ordering::Relaxed);
}

/// The panic hook's report when panics abort: print as the unwinding path does, and send
/// the parent the panic, flagged `aborted`. Runs once (a second panic finds the fd gone).
fn report_abort(info: &std::panic::PanicHookInfo<'_>) -> bool {
    let fd = OUTCOME_FD.swap(-1, Ordering::Relaxed);
    if fd < 0 {
        return false;
    }
    let name = current::current_process().name;
    let panic = crate::error::Panic {
        thread_name: name.clone(),
        message: crate::thread::payload_message(info.payload()),
        location: info.location().map(|l| l.to_string()),
        aborted: true,
    };
    crate::sys::io::write_stderr(format!("Process {name}:\n{panic}\n").as_bytes());
    if let Ok(bytes) = wire::encode(&Outcome::Panicked(panic)) {
        // SAFETY: `fd` is this child's results socket, open until the process ends; the
        // stream is never dropped, so it is not closed here.
        let mut stream = std::mem::ManuallyDrop::new(unsafe { UnixStream::from_raw_fd(fd) });
        let _ = frame::write(&mut *stream, &bytes);
    }
    true
}

/// Runs `body` with panics caught and reported (message and location), encoding its value.
pub(crate) fn run_caught<R: Serialize>(body: impl FnOnce() -> R) -> Outcome {
    crate::thread::capture_panics_here();
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(v) => match wire::encode(&v) {
            Ok(bytes) => Outcome::Returned(bytes),
            Err(e) => Outcome::BadResult(format!(
                "{} does not encode: {e}",
                std::any::type_name::<R>()
            )),
        },
        Err(payload) => {
            let name = current::current_process().name;
            let panic = crate::thread::to_panic(&name, &*payload);
            // A raw write, not `eprintln!`: in a forked child, std's stderr lock may have been
            // held by another thread of the parent at the fork, and would never be released.
            crate::sys::io::write_stderr(format!("Process {name}:\n{panic}\n").as_bytes());
            Outcome::Panicked(panic)
        }
    }
}

/// How one pool task ended in a worker process (its value, if any, is in the `out` buffer).
#[derive(Debug)]
pub(crate) enum TaskEnd {
    /// The function returned; `out` holds its encoded value.
    Returned,
    /// It panicked.
    Panicked(crate::error::Panic),
    /// The arguments did not decode.
    BadArgs(String),
    /// The value did not encode.
    BadResult(String),
}

/// What runs one pool task in a worker: decode the arguments, call the function at the
/// target offset, encode the value into `out`. One per argument/result type and shape (one
/// call, or a chunk of calls); like [`Trampoline`], it crosses as an offset.
pub(crate) type TaskTrampoline = fn(target: i64, args: &[u8], out: &mut Vec<u8>) -> TaskEnd;

/// The name panics in a pool worker's tasks are reported under.
fn task_panic(payload: &(dyn std::any::Any + Send)) -> crate::error::Panic {
    crate::thread::to_panic(&current::current_process().name, payload)
}

fn encode_into<R: Serialize>(v: &R, out: &mut Vec<u8>) -> TaskEnd {
    match crate::wire::encode_into(v, out) {
        Ok(()) => TaskEnd::Returned,
        Err(e) => {
            out.clear();
            TaskEnd::BadResult(format!(
                "{} does not encode: {e}",
                std::any::type_name::<R>()
            ))
        }
    }
}

/// The trampoline for one call of a `fn(A) -> R`.
pub(crate) fn call_task<A, R>(target: i64, args: &[u8], out: &mut Vec<u8>) -> TaskEnd
where
    A: DeserializeOwned,
    R: Serialize,
{
    // SAFETY: `task_trampoline` checked both offsets lie in this executable's text, and the
    // parent computed `target` from a `fn(A) -> R` beside this very trampoline's offset.
    let f = unsafe { fn_at::<A, R>(target) };
    let a: A = match crate::wire::decode(args) {
        Ok(a) => a,
        Err(e) => {
            return TaskEnd::BadArgs(format!(
                "arguments do not decode as {}: {e}",
                std::any::type_name::<A>()
            ));
        }
    };
    match catch_unwind(AssertUnwindSafe(move || f(a))) {
        Ok(v) => encode_into(&v, out),
        Err(payload) => TaskEnd::Panicked(task_panic(&*payload)),
    }
}

/// The trampoline for a chunk of calls of a `fn(A) -> R` (`map`): `Vec<A>` in, `Vec<R>` out
/// (numbers as their bytes: `wire::seq`); a panic fails the whole chunk, as in Python.
pub(crate) fn call_chunk<A, R>(target: i64, args: &[u8], out: &mut Vec<u8>) -> TaskEnd
where
    A: DeserializeOwned + 'static,
    R: Serialize + 'static,
{
    // SAFETY: as in `call_task`.
    let f = unsafe { fn_at::<A, R>(target) };
    // Numbers to numbers: decoded, mapped and encoded in one pass, no vector per chunk.
    match catch_unwind(AssertUnwindSafe(|| {
        crate::wire::seq::map_numbers_into::<A, R>(args, f, out)
    })) {
        Ok(None) => {}
        Ok(Some(Ok(()))) => return TaskEnd::Returned,
        Ok(Some(Err(e))) => return chunk_bad_args::<A>(e),
        Err(payload) => return TaskEnd::Panicked(task_panic(&*payload)),
    }
    // Decoded and mapped in one pass; a decoding error comes before any call.
    let values = catch_unwind(AssertUnwindSafe(|| {
        crate::wire::seq::decode_map::<A, R>(args, f)
    }));
    match values {
        Ok(Err(e)) => chunk_bad_args::<A>(e),
        Ok(Ok(v)) => {
            // About what will be written: one allocation instead of a doubling series of
            // copies.
            let _ = out.try_reserve(v.len().saturating_mul(size_of::<R>()).min(64 << 20) + 16);
            match crate::wire::seq::encode_vec(v.into_iter(), out) {
                Ok(()) => TaskEnd::Returned,
                Err(e) => {
                    out.clear();
                    TaskEnd::BadResult(format!(
                        "{} does not encode: {e}",
                        std::any::type_name::<Vec<R>>()
                    ))
                }
            }
        }
        Err(payload) => TaskEnd::Panicked(task_panic(&*payload)),
    }
}

/// A chunk whose arguments did not decode.
fn chunk_bad_args<A>(e: String) -> TaskEnd {
    TaskEnd::BadArgs(format!(
        "arguments do not decode as {}: {e}",
        std::any::type_name::<Vec<A>>()
    ))
}

/// The task trampoline at `offset`, and a check that `target` is in this executable too:
/// both offsets come from the parent, which runs this same executable.
pub(crate) fn task_trampoline(offset: i64, target: i64) -> Result<TaskTrampoline, String> {
    offset_check(offset)?;
    offset_check(target)?;
    let addr = (base_addr() as i64 + offset) as usize;
    // SAFETY: the parent computed `offset` with `code_offset` from a `TaskTrampoline` of this
    // executable (checked to lie in its text just above); fn pointers are address-sized.
    Ok(unsafe { std::mem::transmute::<usize, TaskTrampoline>(addr) })
}

/// The offset to send for task trampoline `t`.
pub(crate) fn task_offset(t: TaskTrampoline) -> Result<i64, ProcessError> {
    code_offset(t as *const () as usize)
}

/// The address ranges of the executable mapping(s) holding `base`.
fn own_text() -> &'static [(usize, usize)] {
    // after-fork: kept (the child maps the same executable text)
    static TEXT: OnceLock<Vec<(usize, usize)>> = OnceLock::new();
    TEXT.get_or_init(|| {
        let base = base_addr();
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
        let rows: Vec<(usize, usize, bool, String)> = maps
            .lines()
            .filter_map(|l| {
                let mut parts = l.split_whitespace();
                let range = parts.next()?;
                let perms = parts.next()?;
                let path = parts.nth(3).unwrap_or("").to_owned();
                let (a, b) = range.split_once('-')?;
                let a = usize::from_str_radix(a, 16).ok()?;
                let b = usize::from_str_radix(b, 16).ok()?;
                Some((a, b, perms.contains('x'), path))
            })
            .collect();
        let Some(path) = rows
            .iter()
            .find(|r| r.0 <= base && base < r.1)
            .map(|r| r.3.clone())
        else {
            return Vec::new();
        };
        rows.into_iter()
            .filter(|r| r.2 && r.3 == path)
            .map(|r| (r.0, r.1))
            .collect()
    })
}

/// The offset to send for the code at `addr`, after checking it belongs to this executable.
pub(crate) fn code_offset(addr: usize) -> Result<i64, ProcessError> {
    if !own_text().iter().any(|&(a, b)| a <= addr && addr < b) {
        return Err(ProcessError::ForeignTarget);
    }
    Ok(addr as i64 - base_addr() as i64)
}

/// The offset to send for `t`.
pub(crate) fn offset_of(t: Trampoline) -> Result<i64, ProcessError> {
    code_offset(t as *const () as usize)
}

/// The trampoline at `offset` from [`base`].
///
/// # Safety
/// `offset` must come from [`offset_of`] in a process running the same executable.
unsafe fn from_offset(offset: i64) -> Trampoline {
    let addr = (base_addr() as i64 + offset) as usize;
    // SAFETY: the caller guarantees `addr` is the address of a `Trampoline` in this image.
    unsafe { std::mem::transmute::<usize, Trampoline>(addr) }
}

/// A child started by `Spawn` (or forked by the forkserver): run the target and exit.
pub(crate) fn run_spawned(mut stream: UnixStream) -> ! {
    report_aborting_panics_to(stream.as_fd());
    let outcome = match receive_start(&mut stream) {
        Ok((start, fds)) => {
            current::set_child(
                &start.name,
                start.daemon,
                start.parent_pid,
                &start.parent_name,
            );
            current::set_authkey(&start.authkey);
            if let Some(m) = super::context::from_code(start.method) {
                super::context::adopt(m);
            }
            if let Err(e) = offset_check(start.offset).and_then(|()| offset_check(start.target)) {
                Outcome::BadArgs(e)
            } else {
                // SAFETY: the offset was produced by `offset_of` in our parent, which runs this
                // same executable (we were exec'd from /proc/self/exe or forked from it), and
                // it points into our own text (checked just above).
                let t = unsafe { from_offset(start.offset) };
                crate::wire::handle::provide_fds(fds, || t(start.target, &start.args))
            }
        }
        Err(e) => Outcome::BadArgs(format!("bad start message: {e}")),
    };
    finish(&mut stream, outcome, true)
}

/// Works out, once, what each child checks its target against (the executable's text), so
/// that children forked afterwards inherit it: the forkserver calls this before it serves.
pub(crate) fn prepare_for_children() {
    let _ = own_text();
}

/// Before every fork (ours, a user's raw `fork`, a C library's), in the forking thread: the
/// one-time set-ups a child may need are finished first. A `Once` or `OnceLock` that another
/// thread was running at the fork would stay "running" in the child forever, and the child
/// would hang at its first use (a pool worker's first task hung on the executable's text
/// table this way); here the forking thread waits for that other thread, or does the work.
fn settle_before_fork() {
    crate::thread::install_recording_hook();
    let _ = own_text();
    super::registry::install_at_exit();
}

// after-fork: kept (the handler itself)
static SETTLE: crate::sys::at_fork::Handler =
    crate::sys::at_fork::Handler::new("process::settle", Some(settle_before_fork), None, None);

/// Registers [`settle_before_fork`] (from the library's constructor, before `main`).
pub(crate) fn settle_every_fork() {
    SETTLE.register();
}

/// In a forkserver's spare child, before its request comes: works out this process's identity
/// (its start time, which its first lock records) while nobody waits for it.
pub(crate) fn prepare_spare() {
    let _ = crate::sys::liveness::process_identity();
}

pub(crate) fn offset_check(offset: i64) -> Result<(), String> {
    let addr = (base_addr() as i64 + offset) as usize;
    if own_text().iter().any(|&(a, b)| a <= addr && addr < b) {
        Ok(())
    } else {
        Err(format!(
            "target offset {offset:#x} is outside this executable"
        ))
    }
}

fn receive_start(stream: &mut UnixStream) -> io::Result<(Start, Vec<OwnedFd>)> {
    let (body, fds) = frame::read_with_fds(stream, frame::MAX_INTERNAL)?;
    let start =
        postcard::from_bytes(&body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    Ok((start, fds))
}

/// Sends the outcome and exits with Python's status for it. `flush_stdout` flushes Rust's
/// buffered stdout first: right for a freshly exec'd child, but not for a forked one, where
/// the stdout lock may have been held by another thread of the parent at the fork (complete
/// lines are already out: stdout is line-buffered).
pub(crate) fn finish(stream: &mut UnixStream, outcome: Outcome, flush_stdout: bool) -> ! {
    OUTCOME_FD.store(-1, Ordering::Relaxed);
    let code = outcome.exit_code();
    if let Ok(bytes) = wire::encode(&outcome) {
        let _ = frame::write(stream, &bytes);
    }
    if flush_stdout {
        use std::io::Write;
        let _ = std::io::stdout().flush();
    }
    exit_now(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(x: u32) -> u32 {
        x
    }

    #[test]
    fn own_trampolines_are_accepted() {
        let off = offset_of(trampoline::<u32, u32>).expect("our own code");
        let f: fn(u32) -> u32 = target;
        let target_off = code_offset(f as usize).expect("our own code");
        // SAFETY: produced by `offset_of` in this very process.
        let t = unsafe { from_offset(off) };
        assert!(matches!(
            t(target_off, &postcard::to_stdvec(&5u32).unwrap()),
            Outcome::Returned(_)
        ));
    }

    #[test]
    fn code_outside_this_executable_is_refused() {
        // A function of the C library: real code, but not in this executable's mapping.
        let foreign = libc::getpid as *const ();
        // SAFETY: only the address is used (compared with our text range), never called.
        let t: Trampoline = unsafe { std::mem::transmute::<*const (), Trampoline>(foreign) };
        assert!(matches!(offset_of(t), Err(ProcessError::ForeignTarget)));
        assert!(
            offset_check(i64::MAX / 2).is_err(),
            "the child checks the offset too"
        );
    }
}
