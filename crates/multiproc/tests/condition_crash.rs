//! A process killed inside `Condition::wait` on a shared condition is no longer a waiter: it
//! is not counted by `waiting()`, a `notify` is not granted to it, and no notify wakes two
//! live waiters because of it. CPython has no such case (its shared `Condition` keeps a
//! semaphore per wait and leaks it); the README's promise is that `notify(n)` wakes exactly n.

mod common;

use std::time::{Duration, Instant};

use common::{eventually, watchdog};
use multiproc::process::{Process, StartMethod};
use multiproc::shared::Shared;
use multiproc::sync::{Condition, Event};

fn wait_forever((cond, inside): (Shared<Condition>, Shared<Event>)) {
    let mut g = cond.acquire();
    inside.set();
    loop {
        g.wait();
    }
}

fn waiting(cond: &Shared<Condition>) -> usize {
    cond.acquire().waiting()
}

#[test]
fn a_waiter_killed_inside_wait_is_dropped_and_absorbs_no_notify() {
    watchdog(120, || {
        for m in [StartMethod::Fork, StartMethod::Forkserver] {
            let cond = Shared::new(Condition::new()).unwrap();
            let inside = Shared::new(Event::new()).unwrap();
            let mut p = Process::builder()
                .start_method(m)
                .target(wait_forever, (cond.clone(), inside.clone()));
            p.start().unwrap();
            assert!(inside.wait_timeout(Duration::from_secs(30)));
            assert!(eventually(30, || waiting(&cond) == 1), "{m}: never waiting");
            p.kill().unwrap();
            let _ = p.join_timeout(Duration::from_secs(30));

            assert_eq!(waiting(&cond), 0, "{m}: the dead waiter is still counted");
            assert_eq!(
                cond.acquire().notify_one(),
                0,
                "{m}: a notify went to the dead"
            );

            // Two live waiters, one notify: exactly one wakes.
            let waiters: Vec<_> = (0..2)
                .map(|_| {
                    let c = cond.clone();
                    std::thread::spawn(move || {
                        let mut g = c.acquire();
                        let t0 = Instant::now();
                        (g.wait_timeout(Duration::from_secs(3)), t0.elapsed())
                    })
                })
                .collect();
            assert!(eventually(30, || waiting(&cond) == 2));
            assert_eq!(cond.acquire().notify_one(), 1);
            let results: Vec<_> = waiters.into_iter().map(|t| t.join().unwrap()).collect();
            let woken = results.iter().filter(|(w, _)| *w).count();
            assert_eq!(woken, 1, "{m}: one notify_one woke {woken}: {results:?}");
            assert_eq!(waiting(&cond), 0);
        }
    });
}

fn wait_then_count((cond, inside): (Shared<Condition>, Shared<Event>)) -> bool {
    let mut g = cond.acquire();
    inside.set();
    g.wait_timeout(Duration::from_secs(30))
}

#[test]
fn waiters_in_several_processes_are_each_woken_by_their_own_notify() {
    watchdog(120, || {
        let cond = Shared::new(Condition::new()).unwrap();
        let mut kids = Vec::new();
        for _ in 0..3 {
            let inside = Shared::new(Event::new()).unwrap();
            let mut p = Process::builder()
                .start_method(StartMethod::Fork)
                .target(wait_then_count, (cond.clone(), inside.clone()));
            p.start().unwrap();
            assert!(inside.wait_timeout(Duration::from_secs(30)));
            kids.push(p);
        }
        assert!(eventually(30, || waiting(&cond) == 3));
        for left in (0..3).rev() {
            assert_eq!(cond.acquire().notify_one(), 1);
            assert!(eventually(30, || waiting(&cond) == left));
        }
        for mut p in kids {
            assert!(
                p.join_timeout(Duration::from_secs(30)).unwrap(),
                "a waiter timed out"
            );
        }
        assert_eq!(cond.acquire().notify_all(), 0);
    });
}
