//! Every threading example from the seed tutorials, run and checked against what the seed says
//! it shows. The examples are compiled into this test from `examples/`, so what is tested is
//! exactly what `cargo run --example` runs (and what `multiproc tour` reports).

mod common;

use std::time::Duration;

use common::watchdog;

macro_rules! example {
    ($name:ident, $path:literal) => {
        #[allow(dead_code)]
        #[path = $path]
        mod $name;
    };
}

example!(bounded_semaphore, "../examples/bounded_semaphore.rs");
example!(counter_race, "../examples/counter_race.rs");
example!(daemon_threads, "../examples/daemon_threads.rs");
example!(deadlock, "../examples/deadlock.rs");
example!(event_gate, "../examples/event_gate.rs");
example!(interleave, "../examples/interleave.rs");
example!(join_timing, "../examples/join_timing.rs");
example!(lock_print, "../examples/lock_print.rs");
example!(queue_thread_limiter, "../examples/queue_thread_limiter.rs");
example!(rlock_nesting, "../examples/rlock_nesting.rs");
example!(shared_data, "../examples/shared_data.rs");
example!(
    sleep_serial_vs_threads,
    "../examples/sleep_serial_vs_threads.rs"
);
example!(thread_subclass, "../examples/thread_subclass.rs");
example!(thread_target, "../examples/thread_target.rs");

const TICK: Duration = Duration::from_millis(20);

#[test]
fn thread_subclass_loops_five_times_in_its_named_thread() {
    let lines = watchdog(20, || thread_subclass::run(Duration::from_millis(1)));
    assert!(lines[0].starts_with("now: "));
    let body = &lines[1..];
    assert_eq!(body.len(), 10);
    for (i, pair) in body.chunks(2).enumerate() {
        assert_eq!(pair[0], "loop now: loop_thread");
        assert_eq!(pair[1], i.to_string());
    }
}

#[test]
fn thread_target_main_continues_before_threads_finish() {
    watchdog(20, || {
        let (handles, log) = thread_target::run(&["t1", "t2", "t3"], Duration::from_millis(200));
        // `ending!` was logged by the main thread before any thread could finish its sleep.
        assert!(
            handles.iter().all(|h| h.is_alive()),
            "threads finished before main went on"
        );
        for h in handles {
            h.join().unwrap();
        }
        let mut lines = log.lock().unwrap().clone();
        assert!(lines.contains(&"ending!".to_string()));
        lines.retain(|l| l != "ending!");
        lines.sort();
        assert_eq!(lines, ["task t1", "task t2", "task t3"]);
    })
}

#[test]
fn counter_race_loses_updates_without_a_lock_and_none_with_one() {
    watchdog(120, || {
        assert_eq!(counter_race::two_threads(1_000_000, true), 2_000_000);
        // Lost updates are what the seed shows. They are overwhelmingly likely in one run;
        // allow several so a quiet scheduler cannot make this flaky.
        let lost = (0..10)
            .map(|_| counter_race::two_threads(200_000, false))
            .any(|n| n < 400_000);
        assert!(lost, "no lost update in 10 racy runs");
        for _ in 0..3 {
            assert!(counter_race::two_threads(200_000, false) <= 400_000);
        }
        assert_eq!(counter_race::hundred_threads_with_lock(), 100);
    })
}

#[test]
fn interleave_shows_nonzero_without_lock_and_zero_with_it() {
    watchdog(60, || {
        let with_lock = interleave::run(3, TICK, true);
        assert_eq!(with_lock.len(), 6);
        assert!(with_lock.iter().all(|&v| v == 0), "{with_lock:?}");
        // Without the lock the threads overlap inside `test`, so someone prints the other's
        // n. Their sleeps are equal, so overlap is near certain; allow a few tries.
        let overlapped = (0..5).any(|_| interleave::run(3, TICK, false).iter().any(|&v| v != 0));
        assert!(overlapped, "threads never interleaved without a lock");
    })
}

#[test]
fn deadlock_second_acquire_blocks_until_timeout() {
    let o = watchdog(20, || deadlock::run(Duration::from_millis(100)));
    assert!(!o.lock_reacquired);
    assert!(o.waited >= Duration::from_millis(100));
    assert!(o.rlock_reacquired);
    assert_eq!(o.lines[..2], ["start lock", "lock again"]);
}

#[test]
fn rlock_nesting_counts_ten_and_ten() {
    let (totals, each) = watchdog(20, || rlock_nesting::run(10));
    assert_eq!(totals, (10, 10));
    // Each run3 saw its own pair of increments: every value 1..=10 exactly once.
    let mut firsts: Vec<u64> = each.iter().map(|p| p.0).collect();
    firsts.sort();
    assert_eq!(firsts, (1..=10).collect::<Vec<_>>());
}

#[test]
fn bounded_semaphore_five_of_twenty() {
    let o = watchdog(30, || {
        bounded_semaphore::run(5, 20, Duration::from_millis(50))
    });
    assert_eq!(o.ran, 20);
    assert!(o.max_inside <= 5, "{} inside at once", o.max_inside);
    assert!(o.max_inside >= 2, "the semaphore never let two in together");
    // 20 holds of 50 ms through 5 slots take at least 4 rounds.
    assert!(o.elapsed >= Duration::from_millis(200), "{:?}", o.elapsed);
}

#[test]
fn event_gate_holds_ten_threads_until_set() {
    watchdog(20, || {
        use std::sync::atomic::Ordering::SeqCst;
        let gate = event_gate::start(10);
        assert!(common::eventually(10, || gate.started.load(SeqCst) == 10));
        assert!(!gate.event.wait_timeout(Duration::from_millis(50)));
        assert_eq!(
            gate.ended.load(SeqCst),
            0,
            "a thread passed the unset event"
        );
        gate.event.set();
        for t in gate.threads {
            t.join().unwrap();
        }
        assert_eq!(gate.ended.load(SeqCst), 10);
    })
}

#[test]
fn daemon_threads_are_not_waited_for() {
    let waited = watchdog(30, || {
        daemon_threads::run(50, Duration::from_secs(20), Duration::from_millis(100))
    });
    assert!(
        waited >= Duration::from_millis(50),
        "did not wait for the ordinary thread"
    );
    assert!(
        waited < Duration::from_secs(10),
        "waited {waited:?}: for the daemon threads too"
    );
}

#[test]
fn join_in_loop_is_serial_join_after_is_parallel() {
    watchdog(60, || {
        let nap = Duration::from_millis(30);
        let serial = join_timing::join_in_loop(10, nap);
        let parallel = join_timing::join_after_all_started(10, nap);
        assert!(serial >= nap * 10, "{serial:?}");
        assert!(parallel >= nap);
        assert!(parallel < nap * 10, "{parallel:?}: threads did not overlap");
    })
}

#[test]
fn ten_sleeps_serial_vs_threads() {
    watchdog(60, || {
        let nap = Duration::from_millis(30);
        let (s, names) = sleep_serial_vs_threads::serial(10, nap);
        assert!(s >= nap * 10);
        assert!(
            names.iter().all(|n| n == &names[0]),
            "serial calls run in one thread"
        );
        let (t, names) = sleep_serial_vs_threads::threaded(10, nap);
        assert!(t >= nap);
        assert!(t < nap * 10, "{t:?}");
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            unique.len(),
            10,
            "each call ran in its own thread: {names:?}"
        );
    })
}

#[test]
fn lock_keeps_each_threads_lines_together() {
    let lines = watchdog(30, || lock_print::run(Duration::from_millis(10)));
    let ticks: Vec<&String> = lines.iter().filter(|l| l.contains(": tick")).collect();
    assert_eq!(ticks.len(), 6);
    let first = ticks[0].split(':').next().unwrap();
    assert!(ticks[..3].iter().all(|l| l.starts_with(first)), "{ticks:?}");
    assert!(
        ticks[3..].iter().all(|l| !l.starts_with(first)),
        "{ticks:?}"
    );
    assert_eq!(lines.last().unwrap(), "退出主线程");
}

#[test]
fn threads_share_process_memory() {
    let (n, in_thread, in_main) = watchdog(10, shared_data::run);
    assert_eq!(n, 99);
    assert_eq!(in_thread, in_main);
}

#[test]
fn token_queue_limits_to_five() {
    let (done, max) = watchdog(60, || {
        queue_thread_limiter::run(5, 30, Duration::from_millis(20))
    });
    assert_eq!(done, 30);
    assert!(max <= 5, "{max} at once");
}

#[allow(dead_code)]
#[path = "../examples/memory_pool.rs"]
mod memory_pool;

#[test]
fn memory_pool_serves_small_objects_and_reports_them() {
    common::watchdog(60, || {
        let (_, _, a, b) = memory_pool::run(200_000, 1_000);
        assert_eq!(a, b, "the same objects through the pool and through Box");
        let live: Vec<_> = (0..5_000)
            .map(|i| multiproc::mempool::Pooled::new(i as u64 * 3))
            .collect();
        let s = multiproc::mempool::stats();
        // u64: the 16-byte class; at least this thread's live blocks are handed out.
        assert!(s.classes[0].blocks_in_use >= 5_000, "{s:?}");
        assert!(s.arenas >= 1);
        drop(live);
    });
}
