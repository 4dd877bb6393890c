//! Model checks of the futex state machines under loom: every interleaving (up to the
//! preemption bound) of the lock, re-entrant lock, semaphore, event, condition and barrier.
//!
//! Run with:
//! `RUSTFLAGS="--cfg multiproc_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release -p multiproc --test loom`
//!
//! Built that way, `multiproc::primitive` swaps std's atomics for loom's and the futex for a
//! model of one (see `src/primitive.rs`): a lost wake-up shows up as a loom deadlock, a broken
//! mutual exclusion as a failed assertion.
#![cfg(multiproc_loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use multiproc::sync::{Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore};

/// Two threads doing a non-atomic increment under the lock never lose an update, and the
/// contended thread is always woken.
#[test]
fn lock_mutual_exclusion_and_wakeup() {
    loom::model(|| {
        let lock = Arc::new(Lock::new());
        let n = Arc::new(AtomicUsize::new(0));
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let (lock, n) = (lock.clone(), n.clone());
                thread::spawn(move || {
                    let _g = lock.acquire();
                    let v = n.load(Ordering::Relaxed);
                    n.store(v + 1, Ordering::Relaxed);
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(n.load(Ordering::Relaxed), 2);
        assert!(!lock.locked());
    });
}

/// Python's any-thread release: one thread acquires, another releases, a third waits.
#[test]
fn lock_released_by_another_thread_wakes_waiter() {
    loom::model(|| {
        let lock = Arc::new(Lock::new());
        lock.acquire().leak();
        let l2 = lock.clone();
        let waiter = thread::spawn(move || {
            let _g = l2.acquire();
        });
        let l3 = lock.clone();
        let releaser = thread::spawn(move || l3.release().unwrap());
        releaser.join().unwrap();
        waiter.join().unwrap();
        assert!(!lock.locked());
    });
}

#[test]
fn rlock_reentrant_and_exclusive() {
    loom::model(|| {
        let lock = Arc::new(RLock::new());
        let n = Arc::new(AtomicUsize::new(0));
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let (lock, n) = (lock.clone(), n.clone());
                thread::spawn(move || {
                    let _a = lock.acquire();
                    let _b = lock.acquire();
                    let v = n.load(Ordering::Relaxed);
                    n.store(v + 1, Ordering::Relaxed);
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(n.load(Ordering::Relaxed), 2);
    });
}

/// A release is never lost: the blocked acquirer always gets through.
#[test]
fn semaphore_release_wakes_acquirer() {
    loom::model(|| {
        let s = Arc::new(Semaphore::new(0));
        let s2 = s.clone();
        let t = thread::spawn(move || s2.acquire().leak());
        s.release().unwrap();
        t.join().unwrap();
        assert_eq!(s.value(), 0);
    });
}

/// release_n(2) lets two blocked acquirers through.
#[test]
fn semaphore_release_n_wakes_n() {
    loom::model(|| {
        let s = Arc::new(Semaphore::new(0));
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let s = s.clone();
                thread::spawn(move || s.acquire().leak())
            })
            .collect();
        s.release_n(2).unwrap();
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(s.value(), 0);
    });
}

#[test]
fn bounded_semaphore_never_exceeds_bound() {
    loom::model(|| {
        let s = Arc::new(BoundedSemaphore::new(1));
        let inside = Arc::new(AtomicUsize::new(0));
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let (s, inside) = (s.clone(), inside.clone());
                thread::spawn(move || {
                    let _g = s.acquire();
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                    inside.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(s.value(), 1);
        assert!(s.release().is_err());
    });
}

#[test]
fn event_set_wakes_waiters() {
    loom::model(|| {
        let e = Arc::new(Event::new());
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let e = e.clone();
                thread::spawn(move || e.wait())
            })
            .collect();
        e.set();
        for t in ts {
            t.join().unwrap();
        }
    });
}

/// The classic: a waiter and a notifier on a flag; no lost wake-up.
#[test]
fn condition_notify_one_is_not_lost() {
    loom::model(|| {
        let c = Arc::new(Condition::with_lock());
        let flag = Arc::new(AtomicUsize::new(0));
        let (c2, flag2) = (c.clone(), flag.clone());
        let waiter = thread::spawn(move || {
            let mut g = c2.acquire();
            g.wait_for(|| flag2.load(Ordering::Relaxed) == 1);
        });
        {
            let g = c.acquire();
            flag.store(1, Ordering::Relaxed);
            g.notify_one();
        }
        waiter.join().unwrap();
    });
}

/// notify(1) with two waiters wakes exactly one; the second needs its own notify.
#[test]
fn condition_notify_counts() {
    loom::model(|| {
        let c = Arc::new(Condition::new());
        let tickets = Arc::new(AtomicUsize::new(0));
        let woken = Arc::new(AtomicUsize::new(0));
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let (c, tickets, woken) = (c.clone(), tickets.clone(), woken.clone());
                thread::spawn(move || {
                    let mut g = c.acquire();
                    g.wait_for(|| tickets.load(Ordering::Relaxed) > woken.load(Ordering::Relaxed));
                    woken.fetch_add(1, Ordering::Relaxed);
                })
            })
            .collect();
        for _ in 0..2 {
            let g = c.acquire();
            tickets.fetch_add(1, Ordering::Relaxed);
            g.notify(1);
        }
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(woken.load(Ordering::Relaxed), 2);
    });
}

#[test]
fn barrier_two_parties() {
    loom::model(|| {
        let b = Arc::new(Barrier::new(2));
        let b2 = b.clone();
        let t = thread::spawn(move || b2.wait().unwrap());
        let mine = b.wait().unwrap();
        let theirs = t.join().unwrap();
        assert_eq!(mine + theirs, 1);
    });
}
