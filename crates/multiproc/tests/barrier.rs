//! `Barrier` semantics, after CPython's `BarrierTests` (lock_tests.py).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::{eventually, watchdog};
use multiproc::BrokenBarrier;
use multiproc::sync::Barrier;

const N: u32 = 5;

fn run_threads<T: Send + 'static>(
    n: u32,
    f: impl Fn(u32) -> T + Send + Sync + 'static,
) -> Vec<std::thread::Result<T>> {
    let f = Arc::new(f);
    let hs: Vec<_> = (0..n)
        .map(|i| {
            let f = f.clone();
            std::thread::spawn(move || f(i))
        })
        .collect();
    hs.into_iter().map(|h| h.join()).collect()
}

/// test_barrier / test_thousand-style: many cycles; each cycle hands out every index once.
#[test]
fn indices_exactly_once_per_cycle() {
    watchdog(60, || {
        const CYCLES: usize = 200;
        let b = Arc::new(Barrier::new(N));
        let seen = Arc::new(std::sync::Mutex::new(vec![Vec::new(); CYCLES]));
        let (b2, seen2) = (b.clone(), seen.clone());
        let results = run_threads(N, move |_| {
            for cycle in 0..CYCLES {
                let i = b2.wait().unwrap();
                seen2.lock().unwrap()[cycle].push(i);
            }
        });
        assert!(results.iter().all(Result::is_ok));
        for (cycle, mut idx) in seen.lock().unwrap().clone().into_iter().enumerate() {
            idx.sort();
            assert_eq!(idx, (0..N).collect::<Vec<_>>(), "cycle {cycle}");
        }
        assert_eq!(b.n_waiting(), 0);
        assert!(!b.broken());
    })
}

/// test_action: the action runs once per cycle, before anyone is released.
#[test]
fn action_runs_once_per_cycle() {
    watchdog(60, || {
        let runs = Arc::new(AtomicU32::new(0));
        let r = runs.clone();
        let b = Arc::new(Barrier::new(N).with_action(move || {
            r.fetch_add(1, Ordering::SeqCst);
        }));
        let (b2, runs2) = (b.clone(), runs.clone());
        let results = run_threads(N, move |_| {
            for cycle in 1..=20u32 {
                b2.wait().unwrap();
                assert!(
                    runs2.load(Ordering::SeqCst) >= cycle,
                    "released before the action ran"
                );
            }
        });
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(runs.load(Ordering::SeqCst), 20);
    })
}

/// test_abort: waiters and later callers get BrokenBarrier.
#[test]
fn abort_breaks_for_everyone() {
    watchdog(30, || {
        let b = Arc::new(Barrier::new(N));
        let b2 = b.clone();
        let waiters = std::thread::spawn(move || run_threads(N - 1, move |_| b2.wait()));
        assert!(eventually(10, || b.n_waiting() == N - 1));
        b.abort();
        let results = waiters.join().unwrap();
        assert!(
            results
                .into_iter()
                .all(|r| r.unwrap() == Err(BrokenBarrier))
        );
        assert!(b.broken());
        assert_eq!(b.wait(), Err(BrokenBarrier));
        b.reset();
        assert!(!b.broken());
    })
}

/// test_reset: waiters get BrokenBarrier, and the barrier works again afterwards.
#[test]
fn reset_breaks_current_waiters_then_works() {
    watchdog(30, || {
        let b = Arc::new(Barrier::new(3));
        let b2 = b.clone();
        let waiters = std::thread::spawn(move || run_threads(2, move |_| b2.wait()));
        assert!(eventually(10, || b.n_waiting() == 2));
        b.reset();
        let results = waiters.join().unwrap();
        assert!(
            results
                .into_iter()
                .all(|r| r.unwrap() == Err(BrokenBarrier))
        );
        assert!(!b.broken());
        let b2 = b.clone();
        let results = run_threads(3, move |_| b2.wait());
        let mut idx: Vec<u32> = results.into_iter().map(|r| r.unwrap().unwrap()).collect();
        idx.sort();
        assert_eq!(idx, [0, 1, 2]);
    })
}

/// test_timeout: one waiter's timeout breaks the barrier for all.
#[test]
fn timeout_breaks_for_all() {
    watchdog(30, || {
        let b = Arc::new(Barrier::new(3));
        let b2 = b.clone();
        let other = std::thread::spawn(move || b2.wait());
        assert!(eventually(10, || b.n_waiting() == 1));
        let t0 = Instant::now();
        assert_eq!(
            b.wait_timeout(Duration::from_millis(60)),
            Err(BrokenBarrier)
        );
        assert!(t0.elapsed() >= Duration::from_millis(60));
        assert_eq!(other.join().unwrap(), Err(BrokenBarrier));
        assert!(b.broken());
    })
}

/// test_default_timeout.
#[test]
fn default_timeout() {
    watchdog(30, || {
        let b = Barrier::new(2).with_timeout(Duration::from_millis(30));
        assert_eq!(b.wait(), Err(BrokenBarrier));
    })
}

/// test_action (raising): the thread running the action gets its panic, the rest BrokenBarrier.
#[test]
fn panicking_action_breaks_barrier() {
    watchdog(30, || {
        let b = Arc::new(Barrier::new(3).with_action(|| panic!("action failed")));
        let b2 = b.clone();
        let results = run_threads(3, move |_| b2.wait());
        let panics = results.iter().filter(|r| r.is_err()).count();
        let broken = results
            .iter()
            .filter(|r| matches!(r, Ok(Err(BrokenBarrier))))
            .count();
        assert_eq!((panics, broken), (1, 2));
        assert!(b.broken());
    })
}

#[test]
fn single_party_passes_alone() {
    let b = Barrier::new(1);
    assert_eq!(b.wait(), Ok(0));
    assert_eq!(b.wait(), Ok(0));
    assert_eq!(b.parties(), 1);
}

#[test]
#[should_panic(expected = "at least one party")]
fn zero_parties_rejected() {
    let _ = Barrier::new(0);
}
