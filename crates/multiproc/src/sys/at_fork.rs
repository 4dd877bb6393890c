//! The one after-fork registry (≈ `os.register_at_fork` and `multiprocessing.util
//! .register_after_fork`).
//!
//! After `fork`, the child has one thread: the one that forked. Every lock another thread held
//! stays held in the child, every cached pid or tid is the parent's, and every connection to a
//! helper process (the launcher thread, the forkserver, the segment tracker) belongs to the
//! parent. Each module with such state declares one [`Handler`] next to it and registers it
//! with [`register`] on its first use (before that, there is nothing to reset). A single
//! `pthread_atfork` registration, made here, runs every handler for every fork of the process:
//! ours ([`process::fork`](super::process::fork), the `Fork` start method, the forkserver's
//! children) and anybody else's (a C library's `fork`, `std::process::Command` when it forks).
//!
//! A registration and a fork exclude each other (a spin lock that the forking thread holds
//! across the `fork` call), so a child sees each registration made by another thread whole
//! or not at all.
//!
//! Order: `prepare` handlers run in reverse registration order, `parent` and `child` handlers
//! in registration order, as POSIX orders `pthread_atfork` handlers. The pid and tid caches
//! (in [`tid`](super::tid)) are reset before any `child` handler runs, so handlers may ask for
//! the child's own pid.
//!
//! Rules for a handler: it runs in a process that may have had other threads a moment ago, so
//! it must not wait for a lock another thread may hold (take locks over with
//! `force_unlock_after_fork`), and it must not drop values whose destructor talks to a thread
//! or process that is not the child's (forget them instead).
//!
//! Every `static` with state in this crate says, on the line above it, `after-fork:` and
//! either the handler that resets it or why it needs none; `tests/after_fork_registry.rs`
//! checks that each named handler exists and is registered.
//!
//! Why hand-written: no crate offers a fork registry; this is a fixed array of pointers (no
//! allocation, so it is safe to walk in a child).

use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

/// What one module does around a fork.
#[derive(Debug)]
pub(crate) struct Handler {
    /// Shown by [`registered`], and named by the `after-fork:` comments.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) name: &'static str,
    /// In the forking thread, just before the fork (e.g. take a lock so the child inherits
    /// consistent data).
    pub(crate) prepare: Option<fn()>,
    /// In the parent, just after.
    pub(crate) parent: Option<fn()>,
    /// In the child, just after: the only thread there.
    pub(crate) child: Option<fn()>,
    /// Set once registered, so [`register`] costs one load after the first call.
    done: AtomicBool,
}

impl Handler {
    /// A handler with all three parts.
    pub(crate) const fn new(
        name: &'static str,
        prepare: Option<fn()>,
        parent: Option<fn()>,
        child: Option<fn()>,
    ) -> Handler {
        Handler {
            name,
            prepare,
            parent,
            child,
            done: AtomicBool::new(false),
        }
    }

    /// A handler with only a `child` part.
    pub(crate) const fn child(name: &'static str, child: fn()) -> Handler {
        Handler::new(name, None, None, Some(child))
    }

    /// Registers this handler (see [`register`]).
    #[inline]
    pub(crate) fn register(&'static self) {
        if !self.done.load(Ordering::Acquire) {
            register(self);
        }
    }
}

const CAPACITY: usize = 32;

// after-fork: kept (the registry itself: the child keeps every handler)
static HANDLERS: [AtomicPtr<Handler>; CAPACITY] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; CAPACITY];
// after-fork: kept (the registry itself)
static COUNT: AtomicUsize = AtomicUsize::new(0);

/// Registers `h` (once; later calls with the same handler do nothing). Call it on the first
/// use of the state `h` resets, before that state can be held or cached.
#[cold]
pub(crate) fn register(h: &'static Handler) {
    // after-fork: kept (a `Once` done in the parent is done in the child: the atfork
    // registration is inherited)
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // SAFETY: registers plain `extern "C"` functions that only walk the fixed array.
        let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
        assert_eq!(rc, 0, "pthread_atfork failed");
    });
    // Under the registry's lock, which a fork holds across the `fork` call itself: the
    // child sees this registration whole (marked done, in its slot, counted) or not at all.
    // Without it, a fork between marking the handler done and filling its slot gave a child
    // in which the handler never ran and, marked done, was never registered again.
    lock_registry();
    if !h.done.load(Ordering::Acquire) {
        #[cfg(test)]
        pause_point(h);
        let i = COUNT.load(Ordering::Relaxed);
        if i >= CAPACITY {
            unlock_registry();
            panic!("after-fork registry full: raise CAPACITY");
        }
        HANDLERS[i].store(h as *const Handler as *mut Handler, Ordering::Release);
        COUNT.store(i + 1, Ordering::Release);
        h.done.store(true, Ordering::Release);
    }
    unlock_registry();
}

/// The registry's lock: taken by [`register`] for a few stores, and by the forking thread
/// from the end of the `prepare` handlers to the start of the `parent` ones (the child,
/// where no other thread is left, lets it go). A spin lock: no allocation, no other lock,
/// held for a few instructions, or across a `fork`, when a registering thread may wait
/// for the fork.
// after-fork: kept (the forking thread held it; this module's own `child` hook lets it go)
static REGISTERING: AtomicBool = AtomicBool::new(false);

fn lock_registry() {
    while REGISTERING
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        std::thread::yield_now();
    }
}

fn unlock_registry() {
    REGISTERING.store(false, Ordering::Release);
}

/// Tests: the handler whose registration stops half-way for a while (see `pause_point`).
#[cfg(test)]
// after-fork: kept (a test's hook)
static PAUSE_ON: AtomicPtr<Handler> = AtomicPtr::new(std::ptr::null_mut());
/// Tests: set when that registration has stopped.
#[cfg(test)]
// after-fork: kept (a test's hook)
static PAUSED: AtomicBool = AtomicBool::new(false);

/// Tests: holds up the registration of `PAUSE_ON`'s handler for 300 ms, so that a test can
/// fork while it is half-way.
#[cfg(test)]
fn pause_point(h: &'static Handler) {
    if std::ptr::eq(PAUSE_ON.load(Ordering::SeqCst), h) {
        PAUSED.store(true, Ordering::SeqCst);
        let until = std::time::Instant::now() + std::time::Duration::from_millis(300);
        while std::time::Instant::now() < until {
            std::thread::yield_now();
        }
    }
}

fn each() -> impl DoubleEndedIterator<Item = &'static Handler> {
    let n = COUNT.load(Ordering::Acquire).min(CAPACITY);
    HANDLERS[..n].iter().filter_map(|p| {
        let p = p.load(Ordering::Acquire);
        // SAFETY: only `&'static Handler`s are stored.
        (!p.is_null()).then(|| unsafe { &*p })
    })
}

/// The names of the registered handlers, in order.
#[cfg(test)]
pub(crate) fn registered() -> Vec<&'static str> {
    each().map(|h| h.name).collect()
}

extern "C" fn prepare() {
    for h in each().rev() {
        if let Some(f) = h.prepare {
            f();
        }
    }
    // Last, so that a `prepare` handler may still register one (on a first use).
    lock_registry();
}

extern "C" fn parent() {
    unlock_registry();
    for h in each() {
        if let Some(f) = h.parent {
            f();
        }
    }
}

extern "C" fn child() {
    unlock_registry();
    super::tid::reset_after_fork();
    for h in each() {
        if let Some(f) = h.child {
            f();
        }
    }
}

/// Makes sure the registry's own `pthread_atfork` handlers are installed (the pid and tid
/// caches are reset by them even when no module has registered yet). The library's
/// constructor calls this before `main`, while the process has one thread, so `INSTALL` is
/// never half-run at a fork.
pub(crate) fn install() {
    // after-fork: kept (a handler with nothing to do)
    static NOTHING: Handler = Handler::new("sys::at_fork", None, None, None);
    NOTHING.register();
}

#[cfg(test)]
mod tests {
    //! The registry's completeness, checked on the source: every `static` says what happens
    //! to it after a fork, every handler it names exists and is registered on first use.

    use std::path::{Path, PathBuf};

    fn sources(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                // Unit-test modules are not the library's state.
                let text = match text.find("\n#[cfg(test)]\nmod tests") {
                    Some(end) => text[..end].to_owned(),
                    None => text,
                };
                out.push((path.clone(), text));
            }
        }
    }

    fn handler_names(text: &str) -> Vec<(String, String)> {
        // (name, static) for every `static X: ...Handler = ...Handler::child("name"` / `::new(`.
        let mut out = Vec::new();
        for (i, _) in text.match_indices("Handler::") {
            let rest = &text[i + "Handler::".len()..];
            if !(rest.starts_with("child(") || rest.starts_with("new(")) {
                continue;
            }
            let open = rest.find('(').unwrap();
            let args = rest[open + 1..].trim_start();
            let Some(args) = args.strip_prefix('"') else {
                continue;
            };
            let name = &args[..args.find('"').unwrap()];
            let before = &text[..i];
            let decl = before.rfind("static ").expect("a handler in a static");
            let ident: String = before[decl + 7..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.push((name.to_owned(), ident));
        }
        out
    }

    #[test]
    fn every_static_says_what_happens_after_fork() {
        let mut files = Vec::new();
        sources(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        let mut handlers = vec![("sys::at_fork".to_owned(), "NOTHING".to_owned())];
        for (path, text) in &files {
            for (name, ident) in handler_names(text) {
                assert!(
                    text.contains(&format!("{ident}.register()")),
                    "{}: handler {name} ({ident}) is never registered",
                    path.display()
                );
                handlers.push((name, ident));
            }
        }
        let mut missing = Vec::new();
        let mut checked = 0;
        for (path, text) in &files {
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                let t = line.trim_start();
                let t = t
                    .strip_prefix("pub(crate) ")
                    .or(t.strip_prefix("pub "))
                    .unwrap_or(t);
                if !t.starts_with("static ") {
                    continue;
                }
                checked += 1;
                let marker = lines[..i]
                    .iter()
                    .rev()
                    .take_while(|l| {
                        let l = l.trim_start();
                        l.starts_with("//") || l.starts_with("#[")
                    })
                    .find_map(|l| l.trim_start().strip_prefix("// after-fork: "));
                match marker {
                    None => missing.push(format!("{}:{}: {}", path.display(), i + 1, line.trim())),
                    Some(m) => {
                        if let Some(name) = m.strip_prefix("reset by ") {
                            let name = name.split_whitespace().next().unwrap();
                            assert!(
                                handlers.iter().any(|(n, _)| n == name),
                                "{}:{}: names handler {name}, which does not exist",
                                path.display(),
                                i + 1
                            );
                        } else {
                            assert!(
                                m.starts_with("kept ("),
                                "{}:{}: after-fork: says neither `reset by` nor `kept (why)`",
                                path.display(),
                                i + 1
                            );
                        }
                    }
                }
            }
        }
        assert!(checked > 30, "the scan found only {checked} statics");
        assert!(
            missing.is_empty(),
            "statics without an `after-fork:` line:\n{}",
            missing.join("\n")
        );
    }

    #[test]
    fn a_fork_while_another_thread_registers_a_handler_gives_the_child_that_handler() {
        // Another thread registers a handler while this one forks. The child must have it,
        // run it, and keep it for its own forks: once marked done, nobody registers it again.
        use std::sync::atomic::{AtomicU32, Ordering};
        static SEEN: AtomicU32 = AtomicU32::new(0);
        static MID: super::Handler = super::Handler::child("test::mid", || {
            SEEN.store(crate::sys::pid(), Ordering::Relaxed)
        });
        super::install();
        super::PAUSE_ON.store(&MID as *const super::Handler as *mut _, Ordering::SeqCst);
        let registering = std::thread::spawn(|| MID.register());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !super::PAUSED.load(Ordering::SeqCst) {
            assert!(std::time::Instant::now() < deadline, "never paused");
            std::thread::yield_now();
        }
        // SAFETY: the child only reads the registry and a static, and `_exit`s.
        match unsafe { crate::sys::process::fork() }.unwrap() {
            None => {
                let ran = SEEN.load(Ordering::Relaxed) == crate::sys::pid();
                let listed = super::registered().contains(&"test::mid");
                crate::sys::process::exit_now(i32::from(!ran) + 2 * i32::from(!listed));
            }
            Some(pid) => {
                registering.join().unwrap();
                assert_eq!(
                    crate::process::waitpid(pid).unwrap(),
                    0,
                    "1: the child's handler did not run; 2: not registered; 3: both"
                );
                assert!(super::registered().contains(&"test::mid"));
            }
        }
    }

    #[test]
    fn handlers_run_in_a_forked_child() {
        use std::sync::atomic::{AtomicU32, Ordering};
        static SEEN: AtomicU32 = AtomicU32::new(0);
        static PROBE: super::Handler = super::Handler::child("test::probe", || {
            SEEN.store(crate::sys::pid(), Ordering::Relaxed)
        });
        PROBE.register();
        assert!(super::registered().contains(&"test::probe"));
        // SAFETY: the child only does async-signal-safe work and `_exit`s.
        match unsafe { crate::sys::process::fork() }.unwrap() {
            None => {
                let ok = SEEN.load(Ordering::Relaxed) == crate::sys::pid();
                crate::sys::process::exit_now(if ok { 0 } else { 1 });
            }
            Some(pid) => {
                assert_eq!(
                    crate::process::waitpid(pid).unwrap(),
                    0,
                    "the child's handler did not run"
                );
                assert_eq!(SEEN.load(Ordering::Relaxed), 0, "ran in the parent");
            }
        }
    }
}
