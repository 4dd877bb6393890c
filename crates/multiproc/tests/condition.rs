//! `Condition` semantics, after CPython's `ConditionTests` (lock_tests.py): one body over a
//! condition on a `Lock` and one on an `RLock`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::{eventually, watchdog};
use multiproc::sync::{Condition, ConditionLock, Lock, RLock};

const SHORT: Duration = Duration::from_millis(60);

trait MakeCond: ConditionLock + Send + Sync + 'static {
    fn cond() -> Condition<Self>;
}
impl MakeCond for Lock {
    fn cond() -> Condition<Lock> {
        Condition::with_lock()
    }
}
impl MakeCond for RLock {
    fn cond() -> Condition<RLock> {
        Condition::new()
    }
}

fn waiting<L: ConditionLock>(c: &Condition<L>) -> usize {
    c.acquire().waiting()
}

/// test_notify: notify(1) wakes one, notify(3) three more, notify_all the rest — never more.
fn notify_wakes_exactly_n<L: MakeCond>() {
    let c = Arc::new(L::cond());
    let woken = Arc::new(AtomicU32::new(0));
    let threads: Vec<_> = (0..5)
        .map(|_| {
            let (c, woken) = (c.clone(), woken.clone());
            std::thread::spawn(move || {
                let mut g = c.acquire();
                g.wait();
                woken.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    assert!(
        eventually(10, || waiting(&c) == 5),
        "5 waiters never arrived"
    );
    assert_eq!(c.acquire().notify(1), 1);
    assert!(eventually(10, || woken.load(Ordering::SeqCst) == 1));
    std::thread::sleep(SHORT);
    assert_eq!(
        woken.load(Ordering::SeqCst),
        1,
        "notify(1) woke more than one"
    );
    assert_eq!(c.acquire().notify(3), 3);
    assert!(eventually(10, || woken.load(Ordering::SeqCst) == 4));
    std::thread::sleep(SHORT);
    assert_eq!(
        woken.load(Ordering::SeqCst),
        4,
        "notify(3) woke more than three"
    );
    assert_eq!(c.acquire().notify_all(), 1);
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(woken.load(Ordering::SeqCst), 5);
    assert_eq!(c.acquire().notify_all(), 0, "nobody left to wake");
}

/// A notify is not taken by a thread that started waiting after it.
fn late_waiter_cannot_steal<L: MakeCond>() {
    let c = Arc::new(L::cond());
    let first_done = Arc::new(AtomicBool::new(false));
    let first = {
        let (c, done) = (c.clone(), first_done.clone());
        std::thread::spawn(move || {
            let mut g = c.acquire();
            g.wait();
            done.store(true, Ordering::SeqCst);
        })
    };
    assert!(eventually(10, || waiting(&c) == 1));
    let late_woken = Arc::new(AtomicBool::new(false));
    {
        let g = c.acquire();
        g.notify_one();
        // While we still hold the lock, a second waiter cannot even start: start it now; it
        // begins waiting only after the notify.
        let (c2, late_woken2) = (c.clone(), late_woken.clone());
        std::thread::spawn(move || {
            let mut g = c2.acquire();
            let got = g.wait_timeout(SHORT);
            late_woken2.store(got, Ordering::SeqCst);
        });
        drop(g);
    }
    first.join().unwrap();
    assert!(first_done.load(Ordering::SeqCst));
    assert!(eventually(10, || waiting(&c) == 0));
    assert!(
        !late_woken.load(Ordering::SeqCst),
        "late waiter stole the notify"
    );
}

/// test_timeout: wait_timeout returns false after at least the timeout.
fn wait_timeout_returns_false<L: MakeCond>() {
    let c = L::cond();
    let mut g = c.acquire();
    let t0 = Instant::now();
    assert!(!g.wait_timeout(SHORT));
    assert!(t0.elapsed() >= SHORT);
    assert_eq!(g.waiting(), 0, "a timed-out waiter must leave the count");
    assert_eq!(g.notify_one(), 0);
}

/// test_waitfor / test_waitfor_timeout.
fn wait_for_predicate<L: MakeCond>() {
    let c = Arc::new(L::cond());
    let state = Arc::new(AtomicU32::new(0));
    let t = {
        let (c, state) = (c.clone(), state.clone());
        std::thread::spawn(move || {
            let mut g = c.acquire();
            g.wait_for(|| state.load(Ordering::SeqCst) == 4);
            state.load(Ordering::SeqCst)
        })
    };
    for _ in 0..4 {
        let g = c.acquire();
        state.fetch_add(1, Ordering::SeqCst);
        g.notify_all();
    }
    assert_eq!(t.join().unwrap(), 4);

    let mut g = c.acquire();
    let t0 = Instant::now();
    assert!(!g.wait_for_timeout(SHORT, || state.load(Ordering::SeqCst) == 99));
    assert!(t0.elapsed() >= SHORT);
    assert!(
        g.wait_for_timeout(SHORT, || true),
        "a true predicate returns at once"
    );
}

/// Waiting releases the lock so a notifier can take it.
fn wait_releases_lock<L: MakeCond>() {
    let c = Arc::new(L::cond());
    let t = {
        let c = c.clone();
        std::thread::spawn(move || {
            let mut g = c.acquire();
            g.wait_timeout(Duration::from_secs(10))
        })
    };
    assert!(eventually(10, || waiting(&c) == 1));
    // If wait did not release the lock, this acquire would fail.
    let g = c
        .acquire_timeout(Duration::from_secs(5))
        .expect("wait() must release the lock");
    g.notify_one();
    drop(g);
    assert!(t.join().unwrap());
}

macro_rules! condition_tests {
    ($($mod:ident => $ty:ty),*) => {$(
        mod $mod {
            use super::*;
            #[test] fn notify_wakes_exactly_n() { watchdog(30, super::notify_wakes_exactly_n::<$ty>) }
            #[test] fn late_waiter_cannot_steal() { watchdog(30, super::late_waiter_cannot_steal::<$ty>) }
            #[test] fn wait_timeout_returns_false() { watchdog(30, super::wait_timeout_returns_false::<$ty>) }
            #[test] fn wait_for_predicate() { watchdog(30, super::wait_for_predicate::<$ty>) }
            #[test] fn wait_releases_lock() { watchdog(30, super::wait_releases_lock::<$ty>) }
        }
    )*};
}

condition_tests!(over_lock => Lock, over_rlock => RLock);

/// With an RLock acquired twice, wait releases both levels and restores both.
#[test]
fn rlock_condition_wait_releases_every_level() {
    watchdog(30, || {
        let c = Arc::new(Condition::new());
        let outer = c.lock().acquire();
        let mut g = c.acquire();
        assert_eq!(c.lock().recursion_count(), 2);
        let c2 = c.clone();
        let t = std::thread::spawn(move || {
            let g = c2
                .acquire_timeout(Duration::from_secs(5))
                .expect("lock fully released by wait");
            g.notify_one();
        });
        assert!(g.wait_timeout(Duration::from_secs(10)));
        assert_eq!(c.lock().recursion_count(), 2, "both levels restored");
        drop(g);
        drop(outer);
        t.join().unwrap();
        assert!(!c.lock().is_owned());
    })
}

/// Producer/consumer stress: every item delivered exactly once.
#[test]
fn condition_producer_consumer_exactly_once() {
    watchdog(60, || {
        let c = Arc::new(Condition::with_lock());
        let items = Arc::new(std::sync::Mutex::new(Vec::<u64>::new()));
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let (c, items) = (c.clone(), items.clone());
                std::thread::spawn(move || {
                    let (mut sum, mut n) = (0u64, 0u64);
                    loop {
                        let mut g = c.acquire();
                        g.wait_for(|| !items.lock().unwrap().is_empty());
                        let v = items.lock().unwrap().pop().unwrap();
                        drop(g);
                        if v == u64::MAX {
                            return (sum, n);
                        }
                        sum += v;
                        n += 1;
                    }
                })
            })
            .collect();
        for v in 0..10_000u64 {
            let g = c.acquire();
            items.lock().unwrap().insert(0, v);
            g.notify_one();
        }
        for _ in 0..3 {
            let g = c.acquire();
            items.lock().unwrap().insert(0, u64::MAX);
            g.notify_one();
        }
        let (mut sum, mut n) = (0, 0);
        for t in consumers {
            let (s, k) = t.join().unwrap();
            sum += s;
            n += k;
        }
        assert_eq!(n, 10_000);
        assert_eq!(sum, (0..10_000u64).sum::<u64>());
    })
}
