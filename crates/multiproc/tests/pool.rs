//! Pool semantics, modelled on CPython's `_TestPool`, `_TestPoolWorkerLifetime` and
//! `_TestPoolWorkerErrors` (Lib/test/_test_multiprocessing.py): one generic body per
//! behaviour, run over `ThreadPool` and over `Pool` with each start method, each under a
//! watchdog.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use multiproc::PoolError;
use multiproc::pool::{Apply, MapOptions, Pool, TaskOptions, ThreadPool};
use multiproc::process::StartMethod;

/// A test running `body` over a `ThreadPool` and a `Pool` of each start method, `n`
/// workers each, each under a watchdog.
macro_rules! pool_test {
    ($name:ident, $n:expr, $body:ident) => {
        #[test]
        fn $name() {
            common::watchdog(120, || {
                $body(&ThreadPool::new($n).unwrap(), "ThreadPool");
            });
            for m in common::METHODS {
                common::watchdog(120, move || {
                    let p = Pool::builder()
                        .processes($n)
                        .start_method(m)
                        .build()
                        .unwrap();
                    $body(&p, &format!("Pool({m})"));
                });
            }
        }
    };
}

fn sqr(x: i64) -> i64 {
    x * x
}

fn sqr_slow((x, ms): (i64, u64)) -> i64 {
    std::thread::sleep(Duration::from_millis(ms));
    x * x
}

fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn boom(x: i64) -> i64 {
    if x == 3 {
        panic!("boom at {x}");
    }
    x
}

fn pid(_: ()) -> u32 {
    std::process::id() * 1000 + (multiproc::thread::get_native_id() % 1000)
}

// ------------------------------------------------------------------ apply, map

fn apply<P: Apply>(p: &P, l: &str) {
    assert_eq!(p.apply(sqr, 5), Ok(25), "{l}");
    assert_eq!(p.apply(|(a, b): (i64, i64)| a - b, (3, 10)), Ok(-7), "{l}");
}
pool_test!(test_apply, 2, apply);

fn map<P: Apply>(p: &P, l: &str) {
    let want: Vec<i64> = (0..10).map(sqr).collect();
    assert_eq!(p.map(sqr, 0..10).unwrap(), want, "{l}");
    let want: Vec<i64> = (0..100).map(sqr).collect();
    for c in [1, 20, 100, 1000] {
        let got = p
            .map_with(sqr, 0..100, MapOptions::new().chunksize(c))
            .unwrap();
        assert_eq!(got, want, "{l} chunksize {c}");
    }
    assert_eq!(p.map(sqr, 0..0).unwrap(), Vec::<i64>::new(), "{l} empty");
    assert_eq!(
        p.map_with(sqr, Vec::new(), MapOptions::new().chunksize(5))
            .unwrap(),
        Vec::<i64>::new()
    );
    // An input without a length (a filtered iterator) is read whole first, as Python does.
    let odd: Vec<i64> = (0..50).filter(|x| x % 2 == 1).map(sqr).collect();
    assert_eq!(p.map(sqr, (0..50).filter(|x| x % 2 == 1)).unwrap(), odd);
}
pool_test!(test_map, 2, map);

fn starmap<P: Apply>(p: &P, l: &str) {
    fn pow((b, e): (i64, u32)) -> i64 {
        b.pow(e)
    }
    let items: Vec<(i64, u32)> = (0..10).map(|i| (i, 2)).collect();
    let want: Vec<i64> = items.iter().map(|&(b, e)| b.pow(e)).collect();
    assert_eq!(p.map(pow, items.clone()).unwrap(), want, "{l}");
    let r = p
        .map_async_with(pow, items, MapOptions::new().chunksize(3))
        .unwrap();
    assert_eq!(r.get().unwrap(), want, "{l}");
}
pool_test!(test_starmap, 2, starmap);

fn map_failure<P: Apply>(p: &P, l: &str) {
    match p.map_with(boom, 0..10, MapOptions::new().chunksize(1)) {
        Err(PoolError::Panicked(panic)) => {
            assert!(panic.message.contains("boom at 3"), "{l}: {panic}");
            assert!(
                panic
                    .location
                    .as_deref()
                    .is_some_and(|loc| loc.contains("pool.rs")),
                "{l}: the panic's location: {panic:?}"
            );
        }
        other => panic!("{l}: {other:?}"),
    }
    // The pool goes on (test_map_no_failfast).
    assert_eq!(p.map(sqr, 0..4).unwrap(), [0, 1, 4, 9], "{l}");
}
pool_test!(test_map_failure_keeps_the_pool, 2, map_failure);

fn many_outstanding<P: Apply>(p: &P, l: &str) {
    // More tasks outstanding than the board has tickets (a process pool's 16,384, a thread
    // pool's 65,536): the rest wait in the pending queue and go out as tickets free up (a
    // thread pool's used to wait forever).
    let busy: Vec<_> = (0..p.processes())
        .map(|_| p.apply_async(sleep_ms, 300).unwrap())
        .collect();
    let rs: Vec<_> = (0..70_000i64)
        .map(|i| p.apply_async(sqr, i).unwrap())
        .collect();
    assert!(
        p.stats().tasks_outstanding > 65_536,
        "{l}: the workers were not held"
    );
    let sum: i64 = rs.iter().map(|r| r.get().unwrap()).sum();
    for b in busy {
        assert_eq!(b.get(), Ok(300));
    }
    assert_eq!(sum, (0..70_000i64).map(sqr).sum::<i64>(), "{l}");
}
pool_test!(
    test_more_tasks_outstanding_than_tickets,
    2,
    many_outstanding
);

// ------------------------------------------------------------------ async results

fn async_get<P: Apply>(p: &P, l: &str) {
    let r = p.apply_async(sqr_slow, (7, 300)).unwrap();
    let t = Instant::now();
    assert_eq!(
        r.get_timeout(Duration::from_millis(50)),
        Err(PoolError::Timeout),
        "{l}"
    );
    assert!(
        t.elapsed() >= Duration::from_millis(50),
        "{l}: gave up early"
    );
    assert!(!r.ready());
    assert_eq!(r.successful(), Err(PoolError::NotReady), "{l}");
    assert_eq!(r.get(), Ok(49), "{l}: the value after a timed-out get");
    assert!(r.ready());
    assert_eq!(r.successful(), Ok(true));
    assert_eq!(r.get(), Err(PoolError::AlreadyTaken), "{l}");
    let e = p.apply_async(boom, 3).unwrap();
    assert!(e.wait_timeout(Duration::from_secs(30)), "{l}");
    assert_eq!(e.successful(), Ok(false));
    assert!(matches!(e.get(), Err(PoolError::Panicked(_))), "{l}");
    assert!(
        matches!(e.get(), Err(PoolError::Panicked(_))),
        "{l}: an error can be asked again"
    );
}
pool_test!(test_async_get_and_timeout, 2, async_get);

fn callbacks<P: Apply>(p: &P, l: &str) {
    let oks = Arc::new(Mutex::new(Vec::new()));
    let errs = Arc::new(AtomicUsize::new(0));
    let mut rs = Vec::new();
    for i in 0..20i64 {
        let (o, e) = (oks.clone(), errs.clone());
        let opts = TaskOptions::new()
            .callback(move |v: &i64| o.lock().unwrap().push(*v))
            .error_callback(move |_| {
                e.fetch_add(1, Ordering::SeqCst);
            });
        rs.push(p.apply_async_with(boom, i, opts).unwrap());
    }
    for r in &rs {
        r.wait();
    }
    // Every callback ran before its result was marked ready: exactly once each.
    let mut got = oks.lock().unwrap().clone();
    got.sort();
    let want: Vec<i64> = (0..20).filter(|&i| i != 3).collect();
    assert_eq!(got, want, "{l}: callbacks");
    assert_eq!(
        errs.load(Ordering::SeqCst),
        1,
        "{l}: error_callback only on failure"
    );

    // map_async's callback gets the whole list; its error_callback the first failure.
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    let r = p
        .map_async_with(
            sqr,
            0..10,
            MapOptions::new().callback(move |v: &Vec<i64>| *s.lock().unwrap() = Some(v.clone())),
        )
        .unwrap();
    r.wait();
    assert_eq!(
        seen.lock().unwrap().clone(),
        Some((0..10).map(sqr).collect::<Vec<_>>()),
        "{l}"
    );
    let failed = Arc::new(AtomicUsize::new(0));
    let f = failed.clone();
    let r = p
        .map_async_with(
            boom,
            0..10,
            MapOptions::new().error_callback(move |e| {
                assert!(matches!(e, PoolError::Panicked(_)));
                f.fetch_add(1, Ordering::SeqCst);
            }),
        )
        .unwrap();
    r.wait();
    assert_eq!(failed.load(Ordering::SeqCst), 1, "{l}");
}
pool_test!(test_callbacks_exactly_once, 2, callbacks);

// ------------------------------------------------------------------ imap

fn imap<P: Apply>(p: &P, l: &str) {
    let want: Vec<i64> = (0..10).map(sqr).collect();
    let got: Vec<i64> = p.imap(sqr, 0..10).map(Result::unwrap).collect();
    assert_eq!(got, want, "{l}");
    let want: Vec<i64> = (0..1000).map(sqr).collect();
    let got: Vec<i64> = p
        .imap(sqr, 0..1000)
        .chunksize(100)
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, want, "{l} chunksize 100");
    let mut un: Vec<i64> = p
        .imap_unordered(sqr, 0..1000)
        .chunksize(53)
        .map(Result::unwrap)
        .collect();
    un.sort();
    assert_eq!(un, want, "{l} unordered");
    assert_eq!(p.imap(sqr, 0..0).count(), 0);
    // A failing item fails at its place; the iteration goes on.
    let got: Vec<Result<i64, PoolError>> = p.imap(boom, 0..6).collect();
    assert_eq!(got.len(), 6);
    assert!(
        got[3].is_err() && got.iter().filter(|r| r.is_ok()).count() == 5,
        "{l}: {got:?}"
    );
}
pool_test!(test_imap, 2, imap);

fn imap_unordered_order<P: Apply>(p: &P, l: &str) {
    // The slow item comes last when results are taken as they complete.
    let items = vec![(1, 600), (2, 1), (3, 1), (4, 1)];
    let got: Vec<i64> = p
        .imap_unordered(sqr_slow, items)
        .map(Result::unwrap)
        .collect();
    assert_eq!(got.last(), Some(&1), "{l}: {got:?}");
}
pool_test!(
    test_imap_unordered_yields_as_they_complete,
    2,
    imap_unordered_order
);

/// An input iterator that panics after `n` items (test_imap_handle_iterable_exception).
struct PanicAfter(i64, i64);

impl Iterator for PanicAfter {
    type Item = i64;
    fn next(&mut self) -> Option<i64> {
        if self.0 == self.1 {
            panic!("the input broke");
        }
        self.0 += 1;
        Some(self.0 - 1)
    }
}

fn input_panics<P: Apply>(p: &P, l: &str) {
    let got: Vec<Result<i64, PoolError>> = p.imap(sqr, PanicAfter(0, 5)).collect();
    assert_eq!(got.len(), 6, "{l}: {got:?}");
    assert_eq!(
        got[..5]
            .iter()
            .map(|r| *r.as_ref().unwrap())
            .collect::<Vec<_>>(),
        [0, 1, 4, 9, 16]
    );
    match &got[5] {
        Err(PoolError::Input(panic)) => assert!(panic.message.contains("the input broke")),
        other => panic!("{l}: {other:?}"),
    }
    match p.map(sqr, PanicAfter(0, 3)) {
        Err(PoolError::Input(panic)) => assert!(panic.message.contains("the input broke")),
        other => panic!("{l}: {other:?}"),
    }
    // The pool is still usable.
    assert_eq!(p.apply(sqr, 9), Ok(81), "{l}");
}
pool_test!(
    test_input_iterator_panic_ends_map_and_keeps_the_pool,
    2,
    input_panics
);

fn imap_infinite_dropped<P: Apply>(p: &P, l: &str) {
    let firsts: Vec<i64> = p
        .imap(sqr, 0..)
        .read_ahead(4)
        .take(20)
        .map(Result::unwrap)
        .collect();
    assert_eq!(firsts, (0..20).map(sqr).collect::<Vec<_>>(), "{l}");
    // Nothing left behind: every chunk the dropped iterator had out ends (cancelled or done).
    assert!(
        common::eventually(30, || p.stats().tasks_outstanding == 0),
        "{l}: {} tasks outstanding",
        p.stats().tasks_outstanding
    );
    let mut it = p.imap(sleep_ms, std::iter::repeat(5)).read_ahead(3);
    assert_eq!(it.next(), Some(Ok(5)));
    let t = Instant::now();
    assert_eq!(it.next_timeout(Duration::from_secs(30)), Some(Ok(5)), "{l}");
    assert!(t.elapsed() < Duration::from_secs(30));
    drop(it);
    assert!(
        common::eventually(30, || p.stats().tasks_outstanding == 0),
        "{l}"
    );
    assert_eq!(p.idle(), p.processes(), "{l}: every worker idle again");
}
pool_test!(
    test_dropping_an_imap_over_an_endless_input_leaves_nothing,
    2,
    imap_infinite_dropped
);

/// An endless input that counts the items read from it.
struct Counted {
    next: i64,
    pulled: Arc<AtomicU64>,
}

impl Iterator for Counted {
    type Item = i64;
    fn next(&mut self) -> Option<i64> {
        self.pulled.fetch_add(1, Ordering::SeqCst);
        self.next += 1;
        Some(self.next - 1)
    }
}

fn imap_window_adapts<P: Apply>(p: &P, l: &str) {
    // Slow chunks keep the default window at its floor, max(32, 8 × workers)...
    let floor = (8 * p.processes() as u64).max(32);
    let pulled = Arc::new(AtomicU64::new(0));
    let input = Counted {
        next: 5,
        pulled: pulled.clone(),
    };
    let mut slow = p.imap(sleep_ms, input.map(|_| 2u64));
    for i in 1..=20u64 {
        assert_eq!(slow.next(), Some(Ok(2)), "{l}");
        let ahead = pulled.load(Ordering::SeqCst) - i;
        assert!(ahead <= floor, "{l}: {ahead} slow items read ahead");
    }
    drop(slow);
    // ... while fast ones grow it, never past 4,096 chunks.
    let pulled = Arc::new(AtomicU64::new(0));
    let input = Counted {
        next: 0,
        pulled: pulled.clone(),
    };
    let (mut most, t) = (0, Instant::now());
    let fast = p.imap(sqr, input);
    const N: u64 = 200_000;
    for (i, r) in fast.take(N as usize).enumerate() {
        assert_eq!(r, Ok(sqr(i as i64)), "{l}");
        most = most.max(pulled.load(Ordering::SeqCst) - i as u64 - 1);
    }
    assert!(most <= 4096, "{l}: {most} items read ahead");
    let rate = N as f64 / t.elapsed().as_secs_f64();
    if rate > 200_000.0 {
        assert!(
            most > floor,
            "{l}: the window never grew ({rate:.0} items/s)"
        );
    }
    assert!(
        common::eventually(30, || p.stats().tasks_outstanding == 0),
        "{l}"
    );
}
pool_test!(
    test_imap_window_stays_small_for_slow_chunks_and_grows_for_fast_ones,
    2,
    imap_window_adapts
);

// ------------------------------------------------------------------ lifecycle

fn closed<P: Apply>(p: &P, l: &str) {
    let r = p.apply_async(sqr_slow, (3, 100)).unwrap();
    p.close();
    assert!(
        matches!(p.apply_async(sqr, 1), Err(PoolError::Closed)),
        "{l}"
    );
    assert!(matches!(p.map(sqr, 0..3), Err(PoolError::Closed)), "{l}");
    assert!(
        p.imap(sqr, 0..3).all(|r| r == Err(PoolError::Closed)),
        "{l}"
    );
    p.join().unwrap();
    assert_eq!(r.get(), Ok(9), "{l}: close lets submitted work finish");
    assert_eq!(p.busy() + p.idle(), 0, "{l}: no worker after join");
}
pool_test!(test_submit_after_close_is_closed, 2, closed);

fn join_running<P: Apply>(p: &P, l: &str) {
    assert_eq!(p.join(), Err(PoolError::StillRunning), "{l}");
}
pool_test!(test_join_before_close_is_an_error, 1, join_running);

fn close_join_promptly<P: Apply>(p: &P, l: &str) {
    // After close, join returns once the last worker has exited: promptly, whether the
    // pool did work or not (a thread pool's join used to wait for its handler's 1 s
    // poll). Bounded generously: a loaded machine may be slow, never a second each time.
    assert_eq!(p.map(sqr, 0..10).unwrap().len(), 10, "{l}");
    let t = Instant::now();
    for _ in 0..3 {
        p.close();
        p.join().unwrap();
    }
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "{l}: {:?}",
        t.elapsed()
    );
}
pool_test!(
    test_close_then_join_returns_promptly,
    2,
    close_join_promptly
);

fn terminate<P: Apply>(p: &P, l: &str) {
    let r = p
        .map_async_with(sleep_ms, vec![20; 10_000], MapOptions::new().chunksize(1))
        .unwrap();
    let t = Instant::now();
    p.terminate();
    p.join().unwrap();
    let took = t.elapsed();
    println!("{l}: terminate + join with 10,000 tasks queued took {took:?}");
    assert!(
        took < Duration::from_secs(5),
        "{l}: terminate + join took {took:?}"
    );
    assert_eq!(
        r.get(),
        Err(PoolError::Terminated),
        "{l}: the pending map fails"
    );
    assert!(matches!(p.apply_async(sqr, 1), Err(PoolError::Closed)));
}
pool_test!(test_terminate_with_10000_queued_tasks, 2, terminate);

#[test]
fn test_terminate_reaps_every_worker_process() {
    common::each_method(|m| {
        let p = Pool::builder()
            .processes(3)
            .start_method(m)
            .build()
            .unwrap();
        let pids = p.pids();
        assert_eq!(pids.len(), 3);
        let _r = p
            .map_async_with(sleep_ms, vec![20; 10_000], MapOptions::new().chunksize(1))
            .unwrap();
        let t = Instant::now();
        drop(p); // terminate + join, as Python's `with` block
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{m}: {:?}",
            t.elapsed()
        );
        for pid in pids {
            let gone = || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_err();
            assert!(
                common::eventually(10, gone),
                "{m}: worker {pid} left behind"
            );
        }
    });
}

#[test]
fn test_a_pool_dropped_as_soon_as_built_never_hangs() {
    // Its handler thread may not have run yet when `terminate` wakes it: the wake-up used to
    // be skipped then, and the drop's `join` waited forever (every run under `stress-ng --cpu 2`).
    for m in common::METHODS {
        common::watchdog(120, move || {
            for _ in 0..40 {
                drop(
                    Pool::builder()
                        .processes(1)
                        .start_method(m)
                        .build()
                        .unwrap(),
                );
            }
        });
    }
    common::watchdog(60, || {
        for _ in 0..200 {
            drop(ThreadPool::new(1).unwrap());
        }
    });
}

fn bad_args() {
    assert!(matches!(Pool::new(0), Err(PoolError::Invalid(_))));
    assert!(matches!(ThreadPool::new(0), Err(PoolError::Invalid(_))));
    assert!(matches!(
        Pool::builder().processes(1).max_tasks_per_child(0).build(),
        Err(PoolError::Invalid(_))
    ));
    assert!(matches!(
        ThreadPool::builder()
            .threads(1)
            .max_tasks_per_child(0)
            .build(),
        Err(PoolError::Invalid(_))
    ));
    let p = ThreadPool::new(1).unwrap();
    assert!(matches!(
        p.map_with(sqr, 0..3, MapOptions::new().chunksize(0)),
        Err(PoolError::Invalid(_))
    ));
}

#[test]
fn test_bad_sizes_are_typed_errors() {
    common::watchdog(60, bad_args);
}

// ------------------------------------------------------------------ worker lifetime

fn lifetime<P: Apply>(p: &P, l: &str) {
    // test_pool_worker_lifetime: maxtasksperchild = 10 over 100 tasks changes the workers
    // without losing queued work.
    let rs: Vec<_> = (0..100).map(|_| p.apply_async(pid, ()).unwrap()).collect();
    let ids: Vec<u32> = rs.iter().map(|r| r.get().unwrap()).collect();
    let distinct: HashSet<u32> = ids.iter().copied().collect();
    assert!(
        distinct.len() >= 10,
        "{l}: {} distinct workers for 100 tasks",
        distinct.len()
    );
    let mut counts = std::collections::HashMap::new();
    for i in &ids {
        *counts.entry(i).or_insert(0) += 1;
    }
    assert!(
        counts.values().all(|&c| c <= 10),
        "{l}: a worker ran more than 10: {counts:?}"
    );
    assert!(p.stats().workers_started >= 10, "{l}");
}

#[test]
fn test_max_tasks_per_child_replaces_workers() {
    common::watchdog(120, || {
        let p = ThreadPool::builder()
            .threads(2)
            .max_tasks_per_child(10)
            .build()
            .unwrap();
        lifetime(&p, "ThreadPool");
    });
    for m in common::METHODS {
        common::watchdog(120, move || {
            let p = Pool::builder()
                .processes(2)
                .max_tasks_per_child(10)
                .start_method(m)
                .build()
                .unwrap();
            lifetime(&p, &format!("Pool({m})"));
        });
    }
}

#[test]
fn test_early_close_with_max_tasks_per_child_1() {
    // test_pool_worker_lifetime_early_close: must not hang.
    for m in common::METHODS {
        common::watchdog(60, move || {
            let p = Pool::builder()
                .processes(1)
                .max_tasks_per_child(1)
                .start_method(m)
                .build()
                .unwrap();
            let rs: Vec<_> = (0..6)
                .map(|i| p.apply_async(sqr_slow, (i, 10)).unwrap())
                .collect();
            p.close();
            p.join().unwrap();
            for (i, r) in rs.iter().enumerate() {
                assert_eq!(r.get(), Ok(sqr(i as i64)), "{m}");
            }
        });
    }
}

// ------------------------------------------------------------------ beyond Python

fn cancel<P: Apply>(p: &P, l: &str) {
    // One worker busy with a long task; the queued ones can be cancelled and never run.
    let long = p.apply_async(sleep_ms, 30_000).unwrap();
    assert!(common::eventually(30, || p.busy() == 1), "{l}");
    let ran = Arc::new(AtomicUsize::new(0));
    let mut queued = Vec::new();
    for _ in 0..5 {
        let r = ran.clone();
        queued.push(
            p.apply_async_with(
                sqr,
                2,
                TaskOptions::new().callback(move |_| {
                    r.fetch_add(1, Ordering::SeqCst);
                }),
            )
            .unwrap(),
        );
    }
    for q in &queued {
        assert!(q.cancel(), "{l}");
        assert_eq!(q.get(), Err(PoolError::Cancelled), "{l}");
        assert!(!q.cancel(), "{l}: cancelled twice");
    }
    // The running one: its worker is stopped and replaced.
    let t = Instant::now();
    assert!(long.cancel(), "{l}");
    assert_eq!(long.get(), Err(PoolError::Cancelled), "{l}");
    assert!(t.elapsed() < Duration::from_secs(10), "{l}");
    assert_eq!(p.apply(sqr, 4), Ok(16), "{l}: the pool goes on");
    assert_eq!(ran.load(Ordering::SeqCst), 0, "{l}: a cancelled task ran");
    let done = p.apply_async(sqr, 5).unwrap();
    assert_eq!(done.get(), Ok(25));
    assert!(!done.cancel(), "{l}: a finished task cannot be cancelled");
    let s = p.stats();
    assert_eq!(s.tasks_cancelled, 6, "{l}: {s}");
}
pool_test!(test_cancel_queued_and_running_tasks, 1, cancel);

fn timeout<P: Apply>(p: &P, l: &str) {
    for i in 0..5 {
        // From before the submission: the limit counts from when a worker starts the task,
        // which may be before `apply_async_with` returns.
        let t = Instant::now();
        let r = p
            .apply_async_with(
                sleep_ms,
                30_000,
                TaskOptions::new().timeout(Duration::from_millis(100)),
            )
            .unwrap();
        assert_eq!(
            r.get(),
            Err(PoolError::TaskTimeout(Duration::from_millis(100))),
            "{l} #{i}"
        );
        assert!(
            t.elapsed() >= Duration::from_millis(100),
            "{l}: stopped early"
        );
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{l}: {:?}",
            t.elapsed()
        );
    }
    // A task within its limit is untouched, and the pool goes on.
    let ok = p
        .apply_async_with(
            sleep_ms,
            10,
            TaskOptions::new().timeout(Duration::from_secs(30)),
        )
        .unwrap();
    assert_eq!(ok.get(), Ok(10), "{l}");
    assert_eq!(p.stats().tasks_timed_out, 5, "{l}");
}
pool_test!(test_task_timeout_stops_and_replaces_the_worker, 2, timeout);

#[test]
fn test_stopping_a_thread_worker_leaves_the_tasks_it_finished_alone() {
    // A thread worker releases the tasks it ended in batches. Cancelling the task it runs
    // next abandons it; the tasks it had finished (delivered, not yet released) used to be
    // failed a second time as lost, and a map counted a chunk twice (an overflow panic).
    common::watchdog(60, || {
        let p = ThreadPool::new(1).unwrap();
        let blocker = p.apply_async(sleep_ms, 100).unwrap();
        let m = p
            .map_async_with(sqr, 0..5, MapOptions::new().chunksize(1))
            .unwrap();
        let long = p.apply_async(sleep_ms, 30_000).unwrap();
        assert!(common::eventually(30, || m.ready() && p.busy() == 1));
        assert!(long.cancel());
        assert_eq!(m.get(), Ok(vec![0, 1, 4, 9, 16]));
        assert_eq!(blocker.get(), Ok(100));
        let s = p.stats();
        assert_eq!((s.tasks_lost, s.tasks_cancelled), (0, 1), "{s}");
    });
}

#[test]
fn test_bounded_queue_blocks_and_try_says_full() {
    common::watchdog(60, || {
        let p = ThreadPool::builder()
            .threads(1)
            .max_queued(2)
            .build()
            .unwrap();
        let busy = p.apply_async(sleep_ms, 300).unwrap();
        assert!(common::eventually(10, || p.busy() == 1));
        let a = p.try_apply_async(sqr, 1).unwrap();
        let b = p.try_apply_async(sqr, 2).unwrap();
        assert!(matches!(p.try_apply_async(sqr, 3), Err(PoolError::Full)));
        let t = Instant::now();
        assert!(matches!(
            p.apply_async_timeout(sqr, 3, Duration::from_millis(50)),
            Err(PoolError::Full)
        ));
        assert!(t.elapsed() >= Duration::from_millis(50));
        // A blocking submission waits for room, then goes in.
        let c = p.apply_async(sqr, 4).unwrap();
        assert_eq!(
            (a.get(), b.get(), c.get(), busy.get()),
            (Ok(1), Ok(4), Ok(16), Ok(300))
        );
    });
    for m in common::METHODS {
        common::watchdog(60, move || {
            let p = Pool::builder()
                .processes(1)
                .max_queued(1)
                .start_method(m)
                .build()
                .unwrap();
            let _busy = p.apply_async(sleep_ms, 300).unwrap();
            assert!(common::eventually(10, || p.busy() == 1));
            let a = p.try_apply_async(sqr, 1).unwrap();
            assert!(
                matches!(p.try_apply_async(sqr, 2), Err(PoolError::Full)),
                "{m}"
            );
            assert_eq!(a.get(), Ok(1));
        });
    }
}

fn busy_idle<P: Apply>(p: &P, l: &str) {
    assert!(common::eventually(10, || p.idle() == 3), "{l}");
    let rs: Vec<_> = (0..2)
        .map(|_| p.apply_async(sleep_ms, 400).unwrap())
        .collect();
    assert!(
        common::eventually(10, || p.busy() == 2 && p.idle() == 1),
        "{l}"
    );
    for r in rs {
        r.get().unwrap();
    }
    assert!(
        common::eventually(10, || p.busy() == 0 && p.idle() == 3),
        "{l}"
    );
}
pool_test!(test_busy_and_idle_workers, 3, busy_idle);

fn stats<P: Apply>(p: &P, l: &str) {
    p.map_with(sqr, 0..100, MapOptions::new().chunksize(10))
        .unwrap();
    let _ = p.apply(boom, 3);
    let s = p.stats();
    assert_eq!(s.tasks_submitted, 11, "{l}: {s}");
    assert_eq!(s.tasks_done, 10, "{l}: {s}");
    assert_eq!(s.tasks_failed, 1, "{l}: {s}");
    assert_eq!(s.total.tasks, 11, "{l}: {s}");
    assert_eq!(s.workers_started, 2, "{l}: {s}");
    let table = s.to_string();
    assert!(
        table.contains("worker") && table.contains("transfer"),
        "{table}"
    );
    assert_eq!(table.lines().count(), 2 + 2 + 1, "{table}");
}
pool_test!(test_stats_count_tasks_and_workers, 2, stats);

#[test]
fn test_initializer_runs_in_every_worker_and_a_failing_one_breaks_the_pool() {
    fn init_ok(v: multiproc::shared::Value<u32>) {
        v.with(|x| *x += 1);
    }
    fn init_bad(_: ()) {
        panic!("no database");
    }
    for m in common::METHODS {
        common::watchdog(60, move || {
            let v = multiproc::shared::Value::new(0u32).unwrap();
            let p = Pool::builder()
                .processes(2)
                .max_tasks_per_child(2)
                .initializer(init_ok, v.clone())
                .start_method(m)
                .build()
                .unwrap();
            p.map_with(sqr, 0..8, MapOptions::new().chunksize(1))
                .unwrap();
            p.close();
            p.join().unwrap();
            // 8 tasks, 2 per worker: 4 workers ran the initializer (and perhaps one more
            // replacement started before close).
            assert!(v.get() >= 4, "{m}: initializer ran {} times", v.get());

            let p = Pool::builder()
                .processes(2)
                .initializer(init_bad, ())
                .start_method(m)
                .build()
                .unwrap();
            match p.apply(sqr, 2) {
                Err(PoolError::Broken(why)) => assert!(why.contains("no database"), "{m}: {why}"),
                other => panic!("{m}: {other:?}"),
            }
            assert!(matches!(p.apply_async(sqr, 2), Err(PoolError::Broken(_))));
        });
    }
    common::watchdog(60, || {
        let p = ThreadPool::builder()
            .threads(2)
            .initializer(|| panic!("no database"))
            .build()
            .unwrap();
        assert!(matches!(p.apply(sqr, 2), Err(PoolError::Broken(_))));
    });
}

#[test]
fn test_a_shared_object_as_a_task_argument_is_an_encode_error() {
    common::watchdog(60, || {
        let p = Pool::new(1).unwrap();
        let q = multiproc::process::Queue::<u32>::new(0).unwrap();
        fn put(q: multiproc::process::Queue<u32>) {
            q.put(1).unwrap();
        }
        match p.apply_async(put, q) {
            Err(PoolError::Encode(m)) => assert!(m.contains("initializer"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(p.apply(sqr, 3), Ok(9));
    });
}

#[test]
fn test_a_result_that_cannot_encode_fails_its_task_and_the_worker_lives() {
    // test_unpickleable_result: a value whose Serialize fails.
    struct Bad;
    impl serde::Serialize for Bad {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("cannot serialize Bad"))
        }
    }
    impl<'de> serde::Deserialize<'de> for Bad {
        fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Bad, D::Error> {
            Ok(Bad)
        }
    }
    fn make_bad(_: ()) -> Bad {
        Bad
    }
    common::each_method(|m| {
        let p = Pool::builder()
            .processes(1)
            .start_method(m)
            .build()
            .unwrap();
        let pids = p.pids();
        match p.apply(make_bad, ()) {
            // postcard keeps only "Serde Serialization Error" of a custom message; the type's
            // name says which value it was.
            Err(PoolError::Encode(msg)) => assert!(msg.contains("Bad"), "{m}: {msg}"),
            other => panic!("{m}: {:?}", other.map(|_| ())),
        }
        assert_eq!(p.apply(sqr, 3), Ok(9));
        assert_eq!(p.pids(), pids, "{m}: the worker lived");
    });
}

fn progress<P: Apply>(p: &P, l: &str) {
    // A caller's bar (hidden here) is set to the input's length and advanced to the end.
    let bar = indicatif::ProgressBar::hidden();
    let out = p
        .map_with(
            sqr,
            0..250,
            MapOptions::new().chunksize(7).progress_bar(bar.clone()),
        )
        .unwrap();
    assert_eq!(out.len(), 250);
    assert_eq!((bar.length(), bar.position()), (Some(250), 250), "{l}");
    let bar = indicatif::ProgressBar::hidden();
    let n = p.imap(sqr, 0..40).progress_bar(bar.clone()).count();
    assert_eq!((n, bar.position()), (40, 40), "{l}");
    // Our own bar draws only on a terminal; the test's stderr is not one, and the map works.
    assert_eq!(
        p.map_with(sqr, 0..10, MapOptions::new().progress(true))
            .unwrap()
            .len(),
        10
    );
}
pool_test!(test_progress_bars_advance_with_the_items, 2, progress);

#[test]
fn test_context_pool_uses_its_start_method() {
    common::watchdog(60, || {
        let ctx = multiproc::process::get_context(Some(StartMethod::Spawn));
        let p = ctx.pool(2).unwrap();
        fn method(_: ()) -> String {
            multiproc::process::get_start_method().name().to_string()
        }
        assert_eq!(p.apply(method, ()), Ok("spawn".to_string()));
        assert_eq!(p.start_method(), StartMethod::Spawn);
    });
}

#[test]
fn test_thread_pool_takes_capturing_closures_and_moves_values_unencoded() {
    common::watchdog(60, || {
        let p = ThreadPool::new(3).unwrap();
        let base = Arc::new(AtomicUsize::new(100));
        let b = base.clone();
        let out = p
            .map(move |x: usize| b.load(Ordering::SeqCst) + x, 0..5)
            .unwrap();
        assert_eq!(out, [100, 101, 102, 103, 104]);
        // A value that is not serde at all crosses to a worker thread and back.
        let (tx, rx) = std::sync::mpsc::channel::<u32>();
        let back = p
            .apply(
                move |tx: std::sync::mpsc::Sender<u32>| {
                    tx.send(7).unwrap();
                    tx
                },
                tx,
            )
            .unwrap();
        back.send(8).unwrap();
        assert_eq!((rx.recv().unwrap(), rx.recv().unwrap()), (7, 8));
    });
}

// ------------------------------------------- ThreadPool: map in place, map_ref (borrowing)

/// An input that says it has `said` items (an exact `size_hint`) and yields `has`, panicking
/// at item `panic_at` if given: `map` trusts the hint for its chunk size and the room it
/// writes into, never for the answer.
struct Sized {
    next: i64,
    said: usize,
    has: i64,
    panic_at: Option<i64>,
}

impl Sized {
    fn new(said: usize, has: i64, panic_at: Option<i64>) -> Sized {
        Sized {
            next: 0,
            said,
            has,
            panic_at,
        }
    }
}

impl Iterator for Sized {
    type Item = i64;
    fn next(&mut self) -> Option<i64> {
        if Some(self.next) == self.panic_at {
            panic!("the input broke");
        }
        if self.next == self.has {
            return None;
        }
        self.next += 1;
        Some(self.next - 1)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.said.saturating_sub(self.next as usize);
        (left, Some(left))
    }
}

fn sqr_text(x: i64) -> String {
    (x * x).to_string()
}

fn sized_inputs<P: Apply>(p: &P, l: &str) {
    for (said, has) in [(1000, 1000), (10, 1000), (1000, 10), (0, 50), (50, 0)] {
        for chunk in [None, Some(1), Some(7), Some(100), Some(5000)] {
            let input = Sized::new(said, has, None);
            let opts = match chunk {
                Some(c) => MapOptions::new().chunksize(c),
                None => MapOptions::new(),
            };
            let want: Vec<String> = (0..has).map(sqr_text).collect();
            let got = p.map_with(sqr_text, input, opts);
            assert_eq!(
                got.unwrap(),
                want,
                "{l}: said {said}, has {has}, chunk {chunk:?}"
            );
            // Numbers take the other road (their bytes, decoded in place).
            let input = Sized::new(said, has, None);
            let want: Vec<i64> = (0..has).map(sqr).collect();
            assert_eq!(
                p.map(sqr, input).unwrap(),
                want,
                "{l}: said {said}, has {has}"
            );
        }
    }
    // The input breaks after some chunks were handed out: the map fails with the input's
    // panic, and the pool goes on.
    let input = Sized::new(100, 100, Some(60));
    match p.map_with(sqr, input, MapOptions::new().chunksize(10)) {
        Err(PoolError::Input(panic)) => assert!(panic.message.contains("the input broke")),
        other => panic!("{l}: {other:?}"),
    }
    assert_eq!(p.map(sqr, 0..5).unwrap(), [0, 1, 4, 9, 16], "{l}");
}
pool_test!(
    test_map_over_a_sized_input_trusts_its_hint_only_for_speed,
    2,
    sized_inputs
);

#[test]
fn test_a_sized_input_that_breaks_runs_nothing_past_the_break() {
    common::watchdog(60, || {
        let p = ThreadPool::new(2).unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let input = Sized::new(100, 100, Some(60));
        let got = p.map_with(
            move |x: i64| {
                r.fetch_add(1, Ordering::SeqCst);
                x
            },
            input,
            MapOptions::new().chunksize(10),
        );
        assert!(matches!(got, Err(PoolError::Input(_))), "{got:?}");
        assert!(
            ran.load(Ordering::SeqCst) <= 60,
            "nothing past the break ran"
        );
    });
}

/// A process pool sends a chunk of primitive numbers as the vector it read them into (its
/// bytes are its encoding) and decodes numbers into their place: every width and kind, in
/// chunks one to a message (no groups: `maxtasksperchild`) and in groups, small ones and ones
/// that stream through the ring, for `map` and `imap`, equal `Iterator::map`; a chunk of
/// numbers that gives a non-number back too.
#[test]
fn test_process_map_over_every_kind_of_number() {
    fn neg(x: i8) -> i8 {
        x.wrapping_neg()
    }
    fn halve(x: f32) -> f64 {
        f64::from(x) / 2.0
    }
    fn wide(x: u16) -> u128 {
        u128::from(x) << 100
    }
    fn label(x: isize) -> String {
        format!("#{x}")
    }
    fn back(x: u128) -> u8 {
        (x >> 100) as u8
    }
    fn square(x: u64) -> u64 {
        x.wrapping_mul(x)
    }
    for one_to_a_message in [true, false] {
        common::watchdog(60, move || {
            let i8s: Vec<i8> = (0..5_000).map(|i| (i % 256) as u8 as i8).collect();
            let f32s: Vec<f32> = (0..5_000).map(|i| i as f32 * 0.25).collect();
            let u16s: Vec<u16> = (0..5_000).map(|i| (i * 13) as u16).collect();
            let isizes: Vec<isize> = (-2_500..2_500).collect();
            let u128s: Vec<u128> = u16s.iter().map(|&x| wide(x)).collect();
            let mut b = Pool::builder().processes(2).start_method(StartMethod::Fork);
            if one_to_a_message {
                b = b.max_tasks_per_child(1_000);
            }
            let p = b.build().unwrap();
            let l = format!("one to a message: {one_to_a_message}");
            let want: Vec<i8> = i8s.iter().map(|&x| neg(x)).collect();
            assert_eq!(p.map(neg, i8s.clone()).unwrap(), want, "{l}");
            let want: Vec<f64> = f32s.iter().map(|&x| halve(x)).collect();
            assert_eq!(p.map(halve, f32s.clone()).unwrap(), want, "{l}");
            let got: Vec<f64> = p.imap(halve, f32s.clone()).map(Result::unwrap).collect();
            assert_eq!(got, want, "{l} imap");
            let want: Vec<u128> = u16s.iter().map(|&x| wide(x)).collect();
            assert_eq!(p.map(wide, u16s.clone()).unwrap(), want, "{l}");
            let want: Vec<u8> = u128s.iter().map(|&x| back(x)).collect();
            let opts = MapOptions::new().chunksize(700);
            assert_eq!(p.map_with(back, u128s.clone(), opts).unwrap(), want, "{l}");
            let want: Vec<String> = isizes.iter().map(|&x| label(x)).collect();
            assert_eq!(p.map(label, isizes.clone()).unwrap(), want, "{l}");
            // Chunks of 800 KB: past a quarter of the ring, so they stream through it.
            let want: Vec<u64> = (0..300_000u64).map(|x| x.wrapping_mul(x)).collect();
            let opts = MapOptions::new().chunksize(100_000);
            let got = p.map_with(square, 0..300_000u64, opts).unwrap();
            assert!(got == want, "{l}: large chunks");
        });
    }
}

#[test]
fn test_map_ref_borrows_the_items_and_equals_iter_map() {
    common::watchdog(60, || {
        let p = ThreadPool::new(3).unwrap();
        // Items that are not 'static and not Clone: the workers only borrow them.
        struct Word<'a>(&'a str);
        let text = String::from("the quick brown fox jumps over the lazy dog ").repeat(50);
        let words: Vec<Word<'_>> = text.split(' ').map(Word).collect();
        let want: Vec<String> = words.iter().map(|w| w.0.to_uppercase()).collect();
        assert_eq!(
            p.map_ref(|w: &Word<'_>| w.0.to_uppercase(), &words),
            Ok(want.clone())
        );
        for c in [1, 20, 100, 10_000] {
            let got = p.map_ref_with(
                |w: &Word<'_>| w.0.to_uppercase(),
                &words,
                MapOptions::new().chunksize(c),
            );
            assert_eq!(got, Ok(want.clone()), "chunksize {c}");
        }
        let none: [u8; 0] = [];
        assert_eq!(p.map_ref(|x: &u8| *x, &none), Ok(vec![]));
        // A failing chunk fails the map; the others still ran; the pool goes on.
        let nums: Vec<i64> = (0..100).collect();
        let ran = AtomicUsize::new(0);
        let got = p.map_ref_with(
            |x: &i64| {
                ran.fetch_add(1, Ordering::SeqCst);
                boom(*x)
            },
            &nums,
            MapOptions::new().chunksize(10),
        );
        match got {
            Err(PoolError::Panicked(panic)) => assert!(panic.message.contains("boom at 3")),
            other => panic!("{other:?}"),
        }
        assert_eq!(ran.load(Ordering::SeqCst), 94, "each other chunk ran whole");
        assert_eq!(p.map_ref(|x: &i64| x + 1, &nums[..3]), Ok(vec![1, 2, 3]));
    });
}

/// `map_ref` lends its items, so it returns only once no worker can touch them: after a
/// chunk that timed out, or was running at `terminate`, has returned from its function,
/// and with the chunks still queued at `terminate` dropped unrun.
#[test]
fn test_map_ref_waits_for_abandoned_chunks_before_returning() {
    common::watchdog(60, || {
        let items: Vec<u64> = (0..8).collect();
        let release = multiproc::sync::Event::new();
        let returned = AtomicUsize::new(0);
        let ran = AtomicUsize::new(0);

        // A chunk over its time limit: the map fails with TaskTimeout, after its function
        // ended (it ends when released).
        let p = ThreadPool::new(2).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                while p.stats().tasks_timed_out == 0 {
                    std::thread::yield_now();
                }
                release.set();
            });
            let got = p.map_ref_with(
                |&x: &u64| {
                    if x == 0 {
                        release.wait();
                        returned.fetch_add(1, Ordering::SeqCst);
                    }
                    x
                },
                &items,
                MapOptions::new()
                    .chunksize(1)
                    .timeout(Duration::from_millis(50)),
            );
            assert!(matches!(got, Err(PoolError::TaskTimeout(_))), "{got:?}");
            assert_eq!(
                returned.load(Ordering::SeqCst),
                1,
                "waited for the function"
            );
        });

        // Terminate while both workers are held: the two running chunks are waited for,
        // the six queued ones never run.
        release.clear();
        returned.store(0, Ordering::SeqCst);
        let p = ThreadPool::new(2).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                while ran.load(Ordering::SeqCst) < 2 {
                    std::thread::yield_now();
                }
                p.terminate();
                release.set();
            });
            let got = p.map_ref_with(
                |&x: &u64| {
                    ran.fetch_add(1, Ordering::SeqCst);
                    release.wait();
                    returned.fetch_add(1, Ordering::SeqCst);
                    x
                },
                &items,
                MapOptions::new().chunksize(1),
            );
            assert_eq!(got, Err(PoolError::Terminated));
            assert_eq!(
                returned.load(Ordering::SeqCst),
                2,
                "both running chunks ended"
            );
        });
        assert_eq!(ran.load(Ordering::SeqCst), 2, "no queued chunk ran");
    });
}

/// Cancelling many tasks at once finds them in one pass: a `map` of 100,000 queued
/// single-item chunks cancelled as a whole (`MapResult::cancel`), past a thread pool's 65,536
/// tickets, so some are dispatched and some still pending. Task by task, each cancel
/// searched the pending queue and the ticket table again: minutes.
#[test]
fn test_cancelling_a_map_of_100000_queued_chunks_is_prompt() {
    common::watchdog(120, || {
        let p = ThreadPool::new(1).unwrap();
        let hold = Arc::new(multiproc::sync::Event::new());
        let h = hold.clone();
        let held = p.apply_async(move |_: ()| h.wait(), ()).unwrap();
        let r = p
            .map_async_with(sqr, 0..100_000i64, MapOptions::new().chunksize(1))
            .unwrap();
        let t = Instant::now();
        assert!(r.cancel());
        let took = t.elapsed();
        hold.set();
        assert_eq!(r.get(), Err(PoolError::Cancelled));
        held.get().unwrap();
        assert!(took < Duration::from_secs(5), "cancelling took {took:?}");
        assert_eq!(p.stats().tasks_cancelled, 100_000);
        assert_eq!(p.map(sqr, 0..3).unwrap(), [0, 1, 4], "the pool goes on");
    });
}

/// Turns taken in this process (a pool's one worker, or the test's own for a thread pool).
static TURN: AtomicU64 = AtomicU64::new(0);

fn take_turn(_ballast: Vec<u8>) -> u64 {
    TURN.fetch_add(1, Ordering::SeqCst)
}

fn start_order<P: Apply>(p: &P, l: &str) {
    // One worker runs tasks in the order they reach it. Large arguments (streamed by a
    // process pool's feeder) between small ones (which a submission writes itself): every
    // task still starts in submission order.
    let mut results = Vec::new();
    for i in 0..200 {
        let ballast = if i % 5 == 0 {
            vec![7u8; 400 << 10]
        } else {
            Vec::new()
        };
        results.push(p.apply_async(take_turn, ballast).unwrap());
    }
    let turns: Vec<u64> = results.iter().map(|r| r.get().unwrap()).collect();
    assert!(turns.windows(2).all(|w| w[0] < w[1]), "{l}: {turns:?}");
}
pool_test!(test_tasks_start_in_submission_order, 1, start_order);
