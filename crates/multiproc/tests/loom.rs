//! Model checks of the futex state machines under loom: every interleaving (up to the
//! preemption bound) of the lock, re-entrant lock, semaphore, event, condition and barrier, and
//! of the process queues' ring: its wake-up handshake and its task counter (`src/queue/ring/`).
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

// ------------------------------------------------------------------ the process queues' ring

use multiproc::__ring_model as ring;

/// A writer publishes two records while the reader waits for the second: whichever way the
/// reader's announce-and-look interleaves with the writer's store-and-look, it is woken (a lost
/// wake-up is a loom deadlock: the model's futex ignores timeouts).
#[test]
fn ring_reader_is_woken_by_every_publish() {
    loom::model(|| {
        let data = Arc::new(ring::Side::new());
        let d = data.clone();
        let writer = thread::spawn(move || {
            d.publish(1);
            d.publish(2);
        });
        assert_eq!(data.wait_for(2), 2);
        writer.join().unwrap();
    });
}

/// Both directions at once, as a full ring makes them: the writer waits for space the reader
/// frees, the reader waits for data the writer publishes (ping-pong over two wake pairs).
#[test]
fn ring_data_and_space_wakeups_ping_pong() {
    loom::model(|| {
        let data = Arc::new(ring::Side::new());
        let space = Arc::new(ring::Side::new());
        let (d, s) = (data.clone(), space.clone());
        let reader = thread::spawn(move || {
            d.wait_for(1);
            s.publish(1);
        });
        data.publish(1);
        space.wait_for(1);
        reader.join().unwrap();
    });
}

/// `connection::wait` polling a queue is woken by the publish it waits for.
#[test]
fn ring_poller_is_woken_by_publish() {
    loom::model(|| {
        let q = Arc::new(ring::Polled::new());
        let q2 = q.clone();
        let writer = thread::spawn(move || q2.publish(1));
        q.wait_for(1);
        writer.join().unwrap();
    });
}

/// `JoinableQueue`: two consumers mark their tasks done while a third thread joins; the joiner
/// is always woken, the count never goes below zero, and one `task_done` too many is refused.
#[test]
fn ring_task_done_wakes_join_and_never_underflows() {
    loom::model(|| {
        let tasks = Arc::new(ring::Tasks::new());
        tasks.add();
        tasks.add();
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let t = tasks.clone();
                thread::spawn(move || assert!(t.done()))
            })
            .collect();
        tasks.join();
        assert_eq!(tasks.unfinished(), 0);
        for w in workers {
            w.join().unwrap();
        }
        assert!(!tasks.done(), "one task_done too many is refused");
    });
}
