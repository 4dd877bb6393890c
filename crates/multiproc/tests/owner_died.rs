//! Beyond Python: a process that dies holding a process-shared `Lock`/`RLock` hands the next
//! acquirer the lock with an `OwnerDied` error, instead of wedging every other process
//! (CPython's semaphore-based locks stay locked forever). Tested by really killing the holder.

mod common;

use std::time::{Duration, Instant};

use common::{each_method, watchdog};
use multiproc::OwnerDied;
use multiproc::process::Process;
use multiproc::shared::{Shared, Value};
use multiproc::sync::{Event, Lock, RLock};

#[test]
fn killed_lock_holder_hands_over_with_owner_died() {
    each_method(|m| {
        let lock = Shared::new(Lock::new()).unwrap();
        let held = Shared::new(Event::new()).unwrap();
        let mut p = Process::builder().start_method(m).target(
            |(l, held): (Shared<Lock>, Shared<Event>)| {
                l.acquire().leak();
                held.set();
                std::thread::sleep(Duration::from_secs(600));
            },
            (lock.clone(), held.clone()),
        );
        p.start().unwrap();
        assert!(held.wait_timeout(Duration::from_secs(30)));
        assert!(lock.try_acquire().is_none(), "held by the child");
        p.kill().unwrap();
        let _ = p.join();
        let t0 = Instant::now();
        match lock.acquire_checked() {
            Err(OwnerDied(g)) => drop(g),
            Ok(_) => panic!("{m}: taken over silently"),
        }
        assert!(t0.elapsed() < Duration::from_secs(20));
        assert!(!lock.locked(), "released when the recovered guard dropped");
        drop(
            lock.acquire_checked()
                .expect("an ordinary acquire afterwards"),
        );
    });
}

#[test]
fn killed_rlock_holder_and_waiters_blocked_before_the_death() {
    each_method(|m| {
        let lock = Shared::new(RLock::new()).unwrap();
        let held = Shared::new(Event::new()).unwrap();
        let mut p = Process::builder().start_method(m).target(
            |(l, held): (Shared<RLock>, Shared<Event>)| {
                l.acquire().leak();
                l.acquire().leak();
                held.set();
                std::thread::sleep(Duration::from_secs(600));
            },
            (lock.clone(), held.clone()),
        );
        p.start().unwrap();
        assert!(held.wait_timeout(Duration::from_secs(30)));
        // A waiter already blocked when the owner dies must recover too.
        let l2 = lock.clone();
        let waiter = std::thread::spawn(move || matches!(l2.acquire_checked(), Err(OwnerDied(_))));
        // Not synchronisation: this only makes it likely that the waiter is already asleep on
        // the lock when its owner dies. Either order must end in OwnerDied, and the assertion
        // below holds for both.
        std::thread::sleep(Duration::from_millis(50));
        p.kill().unwrap();
        let _ = p.join();
        assert!(
            waiter.join().unwrap(),
            "{m}: the blocked waiter did not get OwnerDied"
        );
        let g = lock
            .acquire_checked()
            .expect("free again, owned by nobody dead");
        assert_eq!(lock.recursion_count(), 1);
        drop(g);
    });
}

/// A child killed inside `Value::with` leaves the value's lock held; the parent's next access
/// recovers instead of hanging.
#[test]
fn value_lock_recovers_after_its_holder_is_killed() {
    each_method(|m| {
        let v = Value::new(7u32).unwrap();
        let inside = Shared::new(Event::new()).unwrap();
        let mut p = Process::builder().start_method(m).target(
            |(v, inside): (Value<u32>, Shared<Event>)| {
                v.with(|x| {
                    *x = 8;
                    inside.set();
                    std::thread::sleep(Duration::from_secs(600));
                })
            },
            (v.clone(), inside.clone()),
        );
        p.start().unwrap();
        assert!(inside.wait_timeout(Duration::from_secs(30)));
        p.kill().unwrap();
        let _ = p.join();
        assert_eq!(v.get(), 8);
    });
}

/// Python's rule stays: a *thread* that ends holding a Lock (in a live process) leaves it
/// locked; only a dead process hands it over.
#[test]
fn a_thread_that_exits_holding_the_lock_keeps_it_locked() {
    watchdog(30, || {
        let lock = Shared::new(Lock::new()).unwrap();
        let l2 = lock.clone();
        std::thread::spawn(move || l2.acquire().leak())
            .join()
            .unwrap();
        assert!(
            lock.acquire_timeout(Duration::from_millis(350)).is_none(),
            "stolen from a live process"
        );
        lock.release().unwrap();
    })
}
