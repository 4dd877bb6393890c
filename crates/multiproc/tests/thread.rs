//! `multiproc::thread` semantics, after CPython's `test_threading`.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::watchdog;
use multiproc::JoinError;
use multiproc::sync::Event;
use multiproc::thread::{self, Builder, Local, Run, Timer};

/// Every panic the excepthook saw in this test binary: (thread name, message).
fn hook_log() -> &'static Mutex<Vec<(String, String)>> {
    static LOG: OnceLock<Mutex<Vec<(String, String)>>> = OnceLock::new();
    LOG.get_or_init(|| {
        thread::set_excepthook(|args| {
            hook_log()
                .lock()
                .unwrap()
                .push((args.thread.name().to_owned(), args.panic.message.clone()));
        });
        Mutex::new(Vec::new())
    })
}

#[test]
fn join_returns_the_closure_value() {
    watchdog(10, || {
        let t = thread::spawn(|| vec![1, 2, 3]);
        assert_eq!(t.join().unwrap(), [1, 2, 3]);
    })
}

#[test]
fn panic_reaches_join_with_message_and_location_and_the_excepthook_once() {
    watchdog(10, || {
        hook_log();
        let t = Builder::new()
            .name("panicky-1")
            .spawn(|| -> u32 { panic!("boom {}", 7) })
            .unwrap();
        match t.join() {
            Err(JoinError::Panicked(p)) => {
                assert_eq!(p.message, "boom 7");
                assert_eq!(p.thread_name, "panicky-1");
                let loc = p.location.expect("location recorded");
                assert!(
                    loc.starts_with("crates/multiproc/tests/thread.rs:"),
                    "{loc}"
                );
            }
            other => panic!("expected a panic, got {other:?}"),
        }
        let seen: Vec<_> = hook_log()
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _)| n == "panicky-1")
            .cloned()
            .collect();
        assert_eq!(seen, [("panicky-1".to_owned(), "boom 7".to_owned())]);
    })
}

#[test]
fn join_timeout_then_join_again() {
    watchdog(10, || {
        let gate = Arc::new(Event::new());
        let g = gate.clone();
        let mut t = thread::spawn(move || {
            g.wait();
            5
        });
        let t0 = Instant::now();
        assert_eq!(
            t.join_timeout(Duration::from_millis(50)),
            Err(JoinError::Timeout)
        );
        assert!(t0.elapsed() >= Duration::from_millis(50));
        assert!(t.is_alive());
        gate.set();
        assert_eq!(t.join_timeout(Duration::from_secs(5)), Ok(5));
        assert!(!t.is_alive());
        assert_eq!(
            t.join_timeout(Duration::from_secs(5)),
            Err(JoinError::AlreadyJoined)
        );
    })
}

#[test]
fn joining_yourself_is_an_error() {
    watchdog(10, || {
        let slot: Arc<Mutex<Option<thread::JoinHandle<()>>>> = Arc::new(Mutex::new(None));
        let (tx, rx) = std::sync::mpsc::channel();
        let ready = Arc::new(Event::new());
        let (s, r) = (slot.clone(), ready.clone());
        let t = thread::spawn(move || {
            r.wait();
            let mut me = s.lock().unwrap().take().unwrap();
            tx.send(me.join_timeout(Duration::from_secs(1))).unwrap();
        });
        slot.lock().unwrap().replace(t);
        ready.set();
        let r = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(r, Err(JoinError::CurrentThread));
        assert_eq!(
            JoinError::CurrentThread.to_string(),
            "cannot join current thread"
        );
    })
}

#[test]
fn names_idents_and_native_ids() {
    watchdog(10, || {
        let t = thread::spawn(|| {
            (
                thread::current_thread().name().to_owned(),
                thread::get_ident(),
                thread::get_native_id(),
            )
        });
        let (name, ident, native) = (t.name().to_owned(), t.ident(), t.native_id());
        let (inner_name, inner_ident, inner_native) = t.join().unwrap();
        assert!(name.starts_with("Thread-"), "{name}");
        assert_eq!(inner_name, name);
        assert_eq!(inner_ident, ident);
        assert_eq!(
            Some(inner_native),
            native,
            "native_id is known once spawn returns"
        );
        let other = thread::spawn(thread::get_ident).join().unwrap();
        assert_ne!(other, ident, "idents are unique");
        let named = Builder::new()
            .name("loop_thread")
            .spawn(|| thread::current_thread().name().to_owned())
            .unwrap();
        assert_eq!(named.join().unwrap(), "loop_thread");
    })
}

#[test]
fn main_thread_is_the_process() {
    let m = thread::main_thread();
    assert_eq!(m.name(), "MainThread");
    assert_eq!(m.native_id(), Some(std::process::id()));
    assert!(m.is_main());
    assert!(!m.is_daemon());
    assert!(thread::enumerate().contains(&m));
}

#[test]
fn is_alive_transitions() {
    watchdog(10, || {
        let gate = Arc::new(Event::new());
        let g = gate.clone();
        let t = thread::spawn(move || g.wait());
        let handle = t.thread().clone();
        assert!(handle.is_alive());
        assert!(thread::enumerate().contains(&handle));
        gate.set();
        t.join().unwrap();
        assert!(!handle.is_alive());
        assert!(
            !thread::enumerate().contains(&handle),
            "a joined thread leaves enumerate()"
        );
    })
}

#[test]
fn daemon_flag_is_inherited() {
    watchdog(10, || {
        let d = Builder::new()
            .daemon(true)
            .spawn(|| {
                thread::spawn(|| thread::current_thread().is_daemon())
                    .join()
                    .unwrap()
            })
            .unwrap();
        assert!(d.is_daemon());
        assert!(
            d.join().unwrap(),
            "a daemon thread's children are daemons by default"
        );
        let n = Builder::new()
            .daemon(false)
            .spawn(|| {
                thread::spawn(|| thread::current_thread().is_daemon())
                    .join()
                    .unwrap()
            })
            .unwrap();
        assert!(
            !n.join().unwrap(),
            "a non-daemon thread's children are non-daemon by default"
        );
        // Threads not started by multiproc are daemons (Python's _DummyThread), so are theirs.
        let from_dummy = std::thread::spawn(|| Builder::new().spawn(|| ()).unwrap().is_daemon());
        assert!(from_dummy.join().unwrap());
    })
}

#[test]
fn foreign_threads_get_dummy_entries() {
    watchdog(10, || {
        let (name, daemon, ident) = std::thread::spawn(|| {
            let t = thread::current_thread();
            (t.name().to_owned(), t.is_daemon(), t.ident())
        })
        .join()
        .unwrap();
        assert!(name.starts_with("Dummy-"), "{name}");
        assert!(daemon);
        assert!(
            common::eventually(5, || thread::enumerate().iter().all(|t| t.ident() != ident)),
            "a dummy entry is dropped when its thread exits"
        );
    })
}

#[test]
fn run_trait_like_a_thread_subclass() {
    struct LoopThread {
        n: u32,
    }
    impl Run for LoopThread {
        type Output = Vec<String>;
        fn run(mut self) -> Vec<String> {
            let mut lines = Vec::new();
            while self.n < 5 {
                lines.push(format!(
                    "loop now: {} {}",
                    thread::current_thread().name(),
                    self.n
                ));
                self.n += 1;
            }
            lines
        }
    }
    watchdog(10, || {
        let t = Builder::new()
            .name("loop_thread")
            .start(LoopThread { n: 0 })
            .unwrap();
        let lines = t.join().unwrap();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[4], "loop now: loop_thread 4");
    })
}

#[test]
fn local_is_per_thread_and_per_object() {
    watchdog(10, || {
        let inits = Arc::new(AtomicU32::new(0));
        let i = inits.clone();
        let a = Arc::new(Local::new(move || {
            i.fetch_add(1, Ordering::SeqCst);
            0u32
        }));
        let b = Arc::new(Local::new(|| 100u32));
        a.set(1);
        b.set(2);
        let (a2, b2) = (a.clone(), b.clone());
        let (seen_a, seen_b, init_before) = thread::spawn(move || {
            let before = a2.is_initialized();
            let r = (a2.get(), b2.get(), before);
            a2.set(50);
            r
        })
        .join()
        .unwrap();
        assert_eq!((seen_a, seen_b, init_before), (0, 100, false));
        assert_eq!(
            (a.get(), b.get()),
            (1, 2),
            "another thread's writes are invisible here"
        );
        assert_eq!(inits.load(Ordering::SeqCst), 2, "init ran once per thread");
    })
}

#[test]
fn timer_fires_after_interval() {
    watchdog(10, || {
        let fired_at = Arc::new(Mutex::new(None));
        let f = fired_at.clone();
        let t0 = Instant::now();
        let mut t = Timer::new(Duration::from_millis(50), move || {
            *f.lock().unwrap() = Some(Instant::now())
        });
        t.start().unwrap();
        t.join().unwrap();
        assert!(t.fired());
        let at = fired_at.lock().unwrap().expect("timer ran");
        assert!(at - t0 >= Duration::from_millis(50));
        assert!(!t.cancel(), "cancel after firing does nothing");
    })
}

#[test]
fn timer_cancel_before_firing() {
    watchdog(10, || {
        let ran = Arc::new(AtomicU32::new(0));
        let r = ran.clone();
        let mut t = Timer::new(Duration::from_secs(60), move || {
            r.fetch_add(1, Ordering::SeqCst);
        });
        t.start().unwrap();
        assert!(t.cancel());
        t.join_timeout(Duration::from_secs(5)).unwrap();
        assert!(!t.fired());
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        assert!(matches!(
            t.start(),
            Err(multiproc::ThreadError::AlreadyStarted)
        ));
    })
}

#[test]
fn shutdown_waits_for_non_daemon_threads_only() {
    watchdog(20, || {
        let never = Arc::new(Event::new());
        let n = never.clone();
        let _daemon = Builder::new().daemon(true).spawn(move || n.wait()).unwrap();
        let finished = Arc::new(AtomicU32::new(0));
        let f = finished.clone();
        let gate = Arc::new(Event::new());
        let g = gate.clone();
        let _worker = Builder::new().daemon(false).spawn(move || {
            g.wait_timeout(Duration::from_millis(100));
            f.store(1, Ordering::SeqCst);
        });
        thread::shutdown();
        assert_eq!(
            finished.load(Ordering::SeqCst),
            1,
            "shutdown returned before a non-daemon thread finished"
        );
        never.set();
    })
}
