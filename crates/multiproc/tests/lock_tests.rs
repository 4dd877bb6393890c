//! Semantics of the acquirable primitives, after CPython's `Lib/test/lock_tests.py`: one
//! generic body per behaviour, run over every type that shares it (`BaseLockTests` over
//! `Lock`, `RLock`, and semaphores of value 1), then the type-specific tests.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{eventually, watchdog};
use multiproc::ReleaseError;
use multiproc::sync::{Acquire, BoundedSemaphore, Event, Leak, Lock, RLock, Semaphore};

const SHORT: Duration = Duration::from_millis(60);

trait Make: Acquire + Send + Sync + 'static {
    fn make() -> Self;
}
impl Make for Lock {
    fn make() -> Self {
        Lock::new()
    }
}
impl Make for RLock {
    fn make() -> Self {
        RLock::new()
    }
}
impl Make for Semaphore {
    fn make() -> Self {
        Semaphore::new(1)
    }
}
impl Make for BoundedSemaphore {
    fn make() -> Self {
        BoundedSemaphore::new(1)
    }
}

/// test_acquire_release / test_with
fn acquire_release<L: Make>() {
    let l = L::make();
    drop(l.acquire());
    let g = l.try_acquire().expect("free lock must be acquirable");
    drop(g);
    drop(l.acquire_timeout(SHORT).expect("free lock within timeout"));
}

/// test_try_acquire_contended: another thread cannot take it while held.
fn try_acquire_contended<L: Make>() {
    let l = Arc::new(L::make());
    let held = l.acquire();
    let l2 = l.clone();
    let got = std::thread::spawn(move || l2.try_acquire().map(|g| g.leak()).is_some())
        .join()
        .unwrap();
    assert!(!got, "try_acquire succeeded on a held lock");
    drop(held);
    let l2 = l.clone();
    let got = std::thread::spawn(move || l2.try_acquire().is_some())
        .join()
        .unwrap();
    assert!(got, "try_acquire failed on a released lock");
}

/// test_timeout: a timed acquire on a held lock waits at least the timeout, then fails and
/// leaves the lock held (bpo-11618).
fn timeout_waits_and_fails<L: Make>() {
    let l = Arc::new(L::make());
    let _held = l.acquire();
    let l2 = l.clone();
    let (got, waited) = std::thread::spawn(move || {
        let t0 = Instant::now();
        let got = l2.acquire_timeout(SHORT).map(|g| g.leak()).is_some();
        (got, t0.elapsed())
    })
    .join()
    .unwrap();
    assert!(!got);
    assert!(
        waited >= SHORT,
        "timed out after {waited:?}, before {SHORT:?}"
    );
    let l2 = l.clone();
    assert!(
        std::thread::spawn(move || l2.try_acquire().is_none())
            .join()
            .unwrap(),
        "still held"
    );
}

/// test_acquire_contended: a blocked acquire proceeds once the holder releases, not before.
fn acquire_contended<L: Make>() {
    let l = Arc::new(L::make());
    let held = l.acquire();
    let about_to = Arc::new(Event::new());
    let acquired = Arc::new(Event::new());
    let t = {
        let (l, about_to, acquired) = (l.clone(), about_to.clone(), acquired.clone());
        std::thread::spawn(move || {
            about_to.set();
            let _g = l.acquire();
            acquired.set();
        })
    };
    about_to.wait();
    assert!(
        !acquired.wait_timeout(SHORT),
        "acquired while another thread held it"
    );
    drop(held);
    assert!(
        acquired.wait_timeout(Duration::from_secs(10)),
        "not woken by release"
    );
    t.join().unwrap();
}

/// test_thread_leak / mutual exclusion: 8 threads doing non-atomic increments under the lock.
fn mutual_exclusion<L: Make>() {
    let l = Arc::new(L::make());
    let n = Arc::new(AtomicU32::new(0));
    let inside = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (l, n, inside) = (l.clone(), n.clone(), inside.clone());
            std::thread::spawn(move || {
                for _ in 0..2000 {
                    let _g = l.acquire();
                    assert_eq!(
                        inside.fetch_add(1, Ordering::SeqCst),
                        0,
                        "two holders at once"
                    );
                    let v = n.load(Ordering::Relaxed);
                    n.store(v + 1, Ordering::Relaxed);
                    inside.fetch_sub(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(n.load(Ordering::Relaxed), 16_000);
}

/// Manual acquire (guard leaked) paired with `release()`, as a bare Python acquire/release.
fn leak_then_release<L: Make>() {
    let l = L::make();
    l.acquire().leak();
    l.release().unwrap();
    drop(l.try_acquire().expect("released"));
}

macro_rules! base_lock_tests {
    ($($mod:ident => $ty:ty),*) => {$(
        mod $mod {
            use super::*;
            #[test] fn acquire_release() { watchdog(20, super::acquire_release::<$ty>) }
            #[test] fn try_acquire_contended() { watchdog(20, super::try_acquire_contended::<$ty>) }
            #[test] fn timeout_waits_and_fails() { watchdog(20, super::timeout_waits_and_fails::<$ty>) }
            #[test] fn acquire_contended() { watchdog(20, super::acquire_contended::<$ty>) }
            #[test] fn mutual_exclusion() { watchdog(60, super::mutual_exclusion::<$ty>) }
            #[test] fn leak_then_release() { watchdog(20, super::leak_then_release::<$ty>) }
        }
    )*};
}

base_lock_tests!(lock => Lock, rlock => RLock, semaphore => Semaphore, bounded_semaphore => BoundedSemaphore);

// ---- Lock (LockTests) ----

#[test]
fn lock_release_unlocked_is_error() {
    let l = Lock::new();
    assert_eq!(l.release(), Err(ReleaseError::Unlocked));
    assert_eq!(ReleaseError::Unlocked.to_string(), "release unlocked lock");
    drop(l.acquire());
    assert_eq!(l.release(), Err(ReleaseError::Unlocked));
}

#[test]
fn lock_is_not_reentrant() {
    let l = Lock::new();
    let _g = l.acquire();
    assert!(l.try_acquire().is_none());
    let t0 = Instant::now();
    assert!(
        l.acquire_timeout(SHORT).is_none(),
        "a second acquire by the owner must block"
    );
    assert!(t0.elapsed() >= SHORT);
    assert!(l.locked());
}

#[test]
fn lock_released_by_different_thread() {
    watchdog(20, || {
        // test_different_thread: acquired in one thread, released in another.
        let l = Arc::new(Lock::new());
        let l2 = l.clone();
        std::thread::spawn(move || l2.acquire().leak())
            .join()
            .unwrap();
        assert!(l.locked());
        l.release().unwrap();
        assert!(!l.locked());
    })
}

#[test]
fn lock_state_after_timeout_is_unchanged() {
    watchdog(20, || {
        let l = Lock::new();
        let g = l.acquire();
        assert!(l.acquire_timeout(Duration::from_millis(5)).is_none());
        drop(g);
        assert!(
            !l.locked(),
            "a timed-out acquire must not leave the lock held"
        );
        drop(l.try_acquire().unwrap());
    })
}

#[test]
fn static_lock_and_mutex() {
    static L: Lock = Lock::new();
    drop(L.acquire());
    let m = multiproc::sync::Mutex::new(5);
    *m.lock() += 1;
    assert_eq!(*m.lock(), 6);
    assert!(m.try_lock_for(SHORT).is_some());
}

// ---- RLock (RLockTests) ----

#[test]
fn rlock_reentrancy() {
    let l = RLock::new();
    let a = l.acquire();
    let b = l.acquire();
    let c = l.try_acquire().unwrap();
    assert_eq!(l.recursion_count(), 3);
    drop(c);
    drop(b);
    assert!(l.is_owned());
    drop(a);
    assert!(!l.is_owned());
    assert_eq!(l.recursion_count(), 0);
}

#[test]
fn rlock_release_unacquired_is_error() {
    let l = RLock::new();
    assert_eq!(l.release(), Err(ReleaseError::NotOwner));
    assert_eq!(
        ReleaseError::NotOwner.to_string(),
        "cannot release un-acquired lock"
    );
    l.acquire().leak();
    l.acquire().leak();
    l.release().unwrap();
    l.release().unwrap();
    assert_eq!(l.release(), Err(ReleaseError::NotOwner));
}

#[test]
fn rlock_release_by_non_owner_is_error() {
    watchdog(20, || {
        let l = Arc::new(RLock::new());
        let _g = l.acquire();
        let l2 = l.clone();
        let r = std::thread::spawn(move || l2.release()).join().unwrap();
        assert_eq!(r, Err(ReleaseError::NotOwner));
        assert!(l.is_owned(), "a refused release must not change the owner");
    })
}

#[test]
fn rlock_other_thread_blocks_until_fully_released() {
    watchdog(20, || {
        let l = Arc::new(RLock::new());
        let a = l.acquire();
        let b = l.acquire();
        let l2 = l.clone();
        let probe = move || {
            let l2 = l2.clone();
            std::thread::spawn(move || l2.try_acquire().is_some())
                .join()
                .unwrap()
        };
        assert!(!probe());
        drop(b);
        assert!(!probe(), "free after one of two releases");
        drop(a);
        assert!(probe());
    })
}

// ---- Semaphore (BaseSemaphoreTests, SemaphoreTests, BoundedSemaphoreTests) ----

#[test]
fn semaphore_counts() {
    let s = Semaphore::new(3);
    let g1 = s.acquire();
    let _g2 = s.acquire();
    let _g3 = s.acquire();
    assert_eq!(s.value(), 0);
    assert!(s.try_acquire().is_none());
    drop(g1);
    assert_eq!(s.value(), 1);
}

#[test]
fn semaphore_release_past_initial_value_is_allowed() {
    let s = Semaphore::new(1);
    s.release().unwrap();
    s.release_n(5).unwrap();
    assert_eq!(s.value(), 7);
}

#[test]
fn semaphore_release_zero_is_error() {
    let s = Semaphore::new(0);
    assert_eq!(s.release_n(0), Err(ReleaseError::ZeroCount));
    assert_eq!(ReleaseError::ZeroCount.to_string(), "n must be one or more");
}

#[test]
fn semaphore_overflow_is_error() {
    let s = Semaphore::new(u32::MAX);
    assert_eq!(s.release(), Err(ReleaseError::Overflow));
    assert_eq!(s.value(), u32::MAX);
}

#[test]
fn bounded_semaphore_over_release_is_error() {
    let s = BoundedSemaphore::new(2);
    assert_eq!(s.release(), Err(ReleaseError::TooManyReleases));
    assert_eq!(
        ReleaseError::TooManyReleases.to_string(),
        "Semaphore released too many times"
    );
    s.acquire().leak();
    s.acquire().leak();
    // release(n) overshoot is refused whole
    assert_eq!(s.release_n(3), Err(ReleaseError::TooManyReleases));
    assert_eq!(s.value(), 0);
    s.release_n(2).unwrap();
    assert_eq!(s.value(), 2);
}

/// test_multirelease: release(n) lets exactly n blocked acquirers through.
#[test]
fn semaphore_release_n_wakes_exactly_n() {
    watchdog(30, || {
        let s = Arc::new(Semaphore::new(0));
        let through = Arc::new(AtomicU32::new(0));
        let threads: Vec<_> = (0..5)
            .map(|_| {
                let (s, through) = (s.clone(), through.clone());
                std::thread::spawn(move || {
                    s.acquire().leak();
                    through.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        s.release_n(3).unwrap();
        assert!(eventually(10, || through.load(Ordering::SeqCst) == 3));
        // and no more than 3, even given time
        std::thread::sleep(SHORT);
        assert_eq!(through.load(Ordering::SeqCst), 3);
        assert_eq!(s.value(), 0);
        s.release_n(2).unwrap();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(through.load(Ordering::SeqCst), 5);
    })
}

/// The seed's BoundedSemaphore(5): never more than 5 holders at once.
#[test]
fn bounded_semaphore_limits_concurrency() {
    watchdog(30, || {
        let s = Arc::new(BoundedSemaphore::new(5));
        let inside = Arc::new(AtomicU32::new(0));
        let max = Arc::new(AtomicU32::new(0));
        let threads: Vec<_> = (0..20)
            .map(|_| {
                let (s, inside, max) = (s.clone(), inside.clone(), max.clone());
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let _g = s.acquire();
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        max.fetch_max(now, Ordering::SeqCst);
                        std::hint::spin_loop();
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(
            max.load(Ordering::SeqCst) <= 5,
            "max holders {}",
            max.load(Ordering::SeqCst)
        );
        assert_eq!(s.value(), 5);
    })
}

/// Regression: a waiter whose deadline passes just as it is woken must pass the wake-up on
/// (take the lock with the waiters bit, or leave the bit set), or a sleeping blocking acquirer
/// is stranded. Timed and blocking acquirers mixed under load must all finish.
#[test]
fn timed_out_acquirers_never_strand_a_sleeper() {
    watchdog(120, || {
        let l = Arc::new(Lock::new());
        let done = Arc::new(AtomicU32::new(0));
        let mut ts = Vec::new();
        for k in 0..4u64 {
            let (l, done) = (l.clone(), done.clone());
            ts.push(std::thread::spawn(move || {
                for i in 0..3000u64 {
                    let t = Duration::from_micros((i * 7 + k * 13) % 50);
                    if let Some(_g) = l.acquire_timeout(t) {
                        std::hint::spin_loop();
                    }
                }
                done.fetch_add(1, Ordering::SeqCst);
            }));
        }
        for _ in 0..2 {
            let (l, done) = (l.clone(), done.clone());
            ts.push(std::thread::spawn(move || {
                for _ in 0..3000 {
                    let _g = l.acquire();
                    std::hint::spin_loop();
                }
                done.fetch_add(1, Ordering::SeqCst);
            }));
        }
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(done.load(Ordering::SeqCst), 6);
        assert!(!l.locked());
    })
}
