//! `Event` semantics, after CPython's `EventTests` (lock_tests.py).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::watchdog;
use multiproc::sync::Event;

const SHORT: Duration = Duration::from_millis(60);

#[test]
fn is_set_set_clear() {
    let e = Event::new();
    assert!(!e.is_set());
    e.set();
    assert!(e.is_set());
    e.set();
    assert!(e.is_set());
    e.clear();
    assert!(!e.is_set());
    e.clear();
    assert!(!e.is_set());
}

#[test]
fn wait_timeout_is_false_after_at_least_timeout() {
    let e = Event::new();
    let t0 = Instant::now();
    assert!(!e.wait_timeout(SHORT));
    assert!(t0.elapsed() >= SHORT);
}

#[test]
fn wait_returns_at_once_when_set() {
    watchdog(10, || {
        let e = Event::new();
        e.set();
        e.wait();
        assert!(e.wait_timeout(Duration::ZERO));
    })
}

/// test_notify: set() releases every waiter (the seed's 10 threads waiting for one event).
#[test]
fn set_wakes_all_waiters() {
    watchdog(30, || {
        let e = Arc::new(Event::new());
        let passed = Arc::new(AtomicU32::new(0));
        let threads: Vec<_> = (0..10)
            .map(|_| {
                let (e, passed) = (e.clone(), passed.clone());
                std::thread::spawn(move || {
                    e.wait();
                    passed.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        assert!(!e.wait_timeout(SHORT));
        assert_eq!(
            passed.load(Ordering::SeqCst),
            0,
            "a waiter passed an unset event"
        );
        e.set();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(passed.load(Ordering::SeqCst), 10);
    })
}

/// Set/clear cycles with waiters coming and going: nobody is lost.
#[test]
fn set_clear_cycles() {
    watchdog(60, || {
        let go = Arc::new(Event::new());
        let back = Arc::new(Event::new());
        let t = {
            let (go, back) = (go.clone(), back.clone());
            std::thread::spawn(move || {
                for _ in 0..2000 {
                    go.wait();
                    go.clear();
                    back.set();
                }
            })
        };
        for _ in 0..2000 {
            go.set();
            back.wait();
            back.clear();
        }
        t.join().unwrap();
    })
}
