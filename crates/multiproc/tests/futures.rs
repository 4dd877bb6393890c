//! `concurrent.futures`, modelled on CPython's `test_concurrent_futures` (executor, future,
//! wait, as_completed, shutdown, init, process_pool, thread_pool): one generic body per
//! behaviour, run over `ThreadPoolExecutor`, over `ProcessPoolExecutor` with each start
//! method, and over the remote `ProcessPoolExecutor` (workers in other processes, on a
//! `redis-server` the test starts), each under a watchdog.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use multiproc::PoolError;
use multiproc::futures::{
    ALL_COMPLETED, Executor, FIRST_COMPLETED, FIRST_EXCEPTION, MapOptions, ProcessPoolExecutor,
    ThreadPoolExecutor, as_completed, wait,
};
use multiproc::pool::WorkerExit;
use multiproc::process::get_context;
use multiproc::sync::Event;

/// A test running `body` over a `ThreadPoolExecutor` and a `ProcessPoolExecutor` of each
/// start method, `n` workers each, each under a watchdog.
macro_rules! executor_test {
    ($name:ident, $n:expr, $body:ident) => {
        #[test]
        fn $name() {
            common::watchdog(120, || {
                $body(&ThreadPoolExecutor::new($n).unwrap(), "threads");
            });
            for m in common::METHODS {
                common::watchdog(120, move || {
                    let ex = ProcessPoolExecutor::builder()
                        .max_workers($n)
                        .mp_context(get_context(Some(m)))
                        .build()
                        .unwrap();
                    $body(&ex, &format!("processes({m})"));
                });
            }
            common::watchdog(120, || {
                let (_server, workers, ex) = remote_executor($n);
                $body(&ex, "remote");
                drop(ex);
                stop_workers(workers);
            });
        }
    };
}

/// A remote worker process (this test binary: the same build as the tasks).
fn remote_worker((url, ns): (String, String)) {
    let r = multiproc::remote::connect(&url, &ns).unwrap();
    let _ = multiproc::remote::Worker::new(&r)
        .stop_on_sigterm()
        .unwrap()
        .run();
}

/// A redis-server, `n` one-slot worker processes, and a remote executor over them.
fn remote_executor(
    n: usize,
) -> (
    multiproc::remote::RedisServer,
    Vec<multiproc::process::Process<()>>,
    multiproc::remote::ProcessPoolExecutor,
) {
    let server = multiproc::remote::RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let workers = (0..n)
        .map(|_| {
            let mut p = multiproc::process::Process::builder()
                .daemon(true)
                .target(remote_worker, (server.url(), "futures".to_string()));
            p.start().unwrap();
            p
        })
        .collect();
    let ex = multiproc::remote::connect(&server.url(), "futures")
        .unwrap()
        .executor()
        .unwrap();
    (server, workers, ex)
}

fn stop_workers(workers: Vec<multiproc::process::Process<()>>) {
    for mut w in workers {
        w.terminate().unwrap();
        let _ = w.join_timeout(Duration::from_secs(30));
    }
}

fn pow((a, b): (u64, u32)) -> u64 {
    a.pow(b)
}

fn divmod((a, b): (i64, i64)) -> (i64, i64) {
    assert!(b != 0, "integer division or modulo by zero");
    (a / b, a % b)
}

/// A gate any worker process can wait on whatever its start method (a shared `Event`
/// cannot travel in a task's arguments, as a `Lock` cannot in Python): a file that appears.
#[derive(Clone)]
struct Gate(std::path::PathBuf);

impl Gate {
    fn new() -> Gate {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "multiproc-futures-gate-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_file(&p);
        Gate(p)
    }

    fn path(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }

    fn set(&self) {
        std::fs::write(&self.0, b"open").unwrap();
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Item 2 blocks until the gate opens.
fn gated((i, gate): (u32, String)) -> u32 {
    if i == 2 {
        common::wait_for_file(&gate, 60);
    }
    i
}

fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn fail_on(x: u32) -> u32 {
    assert!(x != 1, "failing on {x}");
    x
}

fn wait_gate(gate: String) -> u32 {
    common::wait_for_file(&gate, 60);
    7
}

// ------------------------------------------------------------------ executor

fn submit<E: Executor>(ex: &E, l: &str) {
    let f = ex.submit(pow, (2, 8)).unwrap();
    assert_eq!(f.result(), Ok(256), "{l}");
    // result() reads it again, as in Python.
    assert_eq!(f.result(), Ok(256), "{l}");
    assert_eq!(f.into_result(), Ok(256), "{l}");
}
executor_test!(test_submit, 2, submit);

fn map_equals_iterator_map<E: Executor>(ex: &E, l: &str) {
    let want: Vec<u64> = (0..10u32).map(|i| pow((u64::from(i), i))).collect();
    let got: Vec<u64> = ex
        .map(pow, (0..10u32).map(|i| (u64::from(i), i)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, want, "{l}");
    for c in [1, 3, 100] {
        let got: Vec<u64> = ex
            .map_with(
                pow,
                (0..10u32).map(|i| (u64::from(i), i)),
                MapOptions::new().chunksize(c),
            )
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(got, want, "{l} chunksize {c}");
    }
}
executor_test!(test_map, 2, map_equals_iterator_map);

fn map_exception<E: Executor>(ex: &E, l: &str) {
    let mut i = ex.map(divmod, [(1, 2), (1, 3), (1, 0), (1, 5)]).unwrap();
    assert_eq!(i.next(), Some(Ok((0, 1))), "{l}");
    assert_eq!(i.next(), Some(Ok((0, 1))), "{l}");
    match i.next() {
        Some(Err(PoolError::Panicked(p))) => {
            assert!(p.message.contains("division or modulo by zero"), "{l}: {p}")
        }
        other => panic!("{l}: {other:?}"),
    }
    // The generator has raised: it is over.
    assert_eq!(i.next(), None, "{l}");
}
executor_test!(test_map_exception, 2, map_exception);

fn map_timeout<E: Executor>(ex: &E, l: &str) {
    let gate = Gate::new();
    let t0 = Instant::now();
    let items: Vec<_> = (0..3).map(|i| (i, gate.path())).collect();
    let mut it = ex
        .map_with(
            gated,
            items,
            MapOptions::new().timeout(Duration::from_millis(1500)),
        )
        .unwrap();
    assert_eq!(it.next(), Some(Ok(0)), "{l}");
    assert_eq!(it.next(), Some(Ok(1)), "{l}");
    assert_eq!(it.next(), Some(Err(PoolError::Timeout)), "{l}");
    assert!(t0.elapsed() >= Duration::from_millis(1500), "{l}");
    assert_eq!(it.next(), None, "{l}");
    gate.set();
    // The gated call still runs: let it see the gate before the file goes.
    drop(it);
    ex.shutdown(true, false);
}
executor_test!(test_map_timeout, 2, map_timeout);

fn map_buffersize_reads_lazily<E: Executor>(ex: &E, l: &str) {
    // An endless input works with a buffer (Python 3.14).
    let first: Vec<u64> = ex
        .map_with(|x: u64| x * 2, 0.., MapOptions::new().buffersize(4))
        .unwrap()
        .take(6)
        .map(Result::unwrap)
        .collect();
    assert_eq!(first, [0, 2, 4, 6, 8, 10], "{l}");
    assert!(matches!(
        ex.map_with(|x: u64| x, 0..3, MapOptions::new().buffersize(0)),
        Err(PoolError::Invalid("buffersize must be None or >= 1."))
    ));
    assert!(matches!(
        ex.map_with(|x: u64| x, 0..3, MapOptions::new().chunksize(0)),
        Err(PoolError::Invalid("chunksize must be >= 1."))
    ));
    assert!(matches!(
        ex.map_with(
            |x: u64| x,
            0..3,
            MapOptions::new()
                .buffersize(2)
                .timeout(Duration::from_secs(1))
        ),
        Err(PoolError::Invalid(
            "cannot specify both buffersize and timeout."
        ))
    ));
}
executor_test!(test_map_buffersize, 2, map_buffersize_reads_lazily);

fn shutdown_refuses_new_work<E: Executor>(ex: &E, l: &str) {
    let f = ex.submit(pow, (3, 2)).unwrap();
    ex.shutdown(true, false);
    assert_eq!(f.result(), Ok(9), "{l}");
    assert_eq!(
        ex.submit(pow, (2, 2)).unwrap_err(),
        PoolError::Shutdown,
        "{l}"
    );
    assert_eq!(
        ex.submit(pow, (2, 2)).unwrap_err().to_string(),
        "cannot schedule new futures after shutdown"
    );
    assert!(
        matches!(ex.map(pow, [(1, 1)]), Err(PoolError::Shutdown)),
        "{l}"
    );
    ex.shutdown(true, false); // again: harmless
}
executor_test!(test_shutdown, 2, shutdown_refuses_new_work);

fn cancel_futures<E: Executor>(ex: &E, l: &str) {
    // CPython's test_cancel_futures: 50 queued sleeps, shutdown(cancel_futures=True).
    let fs: Vec<_> = (0..50).map(|_| ex.submit(sleep_ms, 100).unwrap()).collect();
    ex.shutdown(true, true);
    let cancelled = fs.iter().filter(|f| f.cancelled()).count();
    assert!(cancelled > 20, "{l}: only {cancelled} cancelled");
    for f in fs.iter().filter(|f| !f.cancelled()) {
        assert!(f.done(), "{l}");
        assert_eq!(f.exception(), None, "{l}");
    }
    for f in fs.iter().filter(|f| f.cancelled()) {
        assert_eq!(f.result(), Err(PoolError::Cancelled), "{l}");
    }
}
executor_test!(test_cancel_futures, 2, cancel_futures);

fn shutdown_no_wait_finishes_in_background<E: Executor>(ex: &E, l: &str) {
    let gate = Gate::new();
    let fs: Vec<_> = (0..4)
        .map(|_| ex.submit(wait_gate, gate.path()).unwrap())
        .collect();
    let t0 = Instant::now();
    ex.shutdown(false, false);
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "{l}: shutdown(wait=False) waited"
    );
    gate.set();
    for f in &fs {
        assert_eq!(f.result_timeout(Duration::from_secs(60)), Ok(7), "{l}");
    }
}
executor_test!(
    test_shutdown_no_wait,
    2,
    shutdown_no_wait_finishes_in_background
);

#[test]
fn max_workers_zero_is_a_typed_error() {
    assert_eq!(
        ThreadPoolExecutor::new(0).unwrap_err(),
        PoolError::Invalid("max_workers must be greater than 0")
    );
    assert_eq!(
        ProcessPoolExecutor::new(0).unwrap_err().to_string(),
        "max_workers must be greater than 0"
    );
    assert!(matches!(
        ProcessPoolExecutor::builder()
            .max_tasks_per_child(0)
            .build(),
        Err(PoolError::Invalid("max_tasks_per_child must be >= 1"))
    ));
}

#[test]
fn default_max_workers_are_pythons() {
    let cpus = multiproc::process::cpu_count();
    let ex = ThreadPoolExecutor::builder().build().unwrap();
    assert_eq!(ex.max_workers(), 32.min(cpus + 4));
    let ex = ProcessPoolExecutor::builder().build().unwrap();
    assert_eq!(ex.max_workers(), cpus);
}

#[test]
fn dropping_an_executor_waits_for_its_work() {
    common::watchdog(60, || {
        let done = Arc::new(AtomicUsize::new(0));
        let fs = {
            let ex = ThreadPoolExecutor::new(2).unwrap();
            let fs: Vec<_> = (0..10)
                .map(|_| {
                    let d = done.clone();
                    ex.submit(
                        move |ms: u64| {
                            std::thread::sleep(Duration::from_millis(ms));
                            d.fetch_add(1, Ordering::SeqCst)
                        },
                        20,
                    )
                    .unwrap()
                })
                .collect();
            fs
            // `with ThreadPoolExecutor() as ex:` ends here: shutdown(wait=True).
        };
        assert_eq!(done.load(Ordering::SeqCst), 10);
        assert!(fs.iter().all(|f| f.done() && f.exception().is_none()));
    });
}

#[test]
fn thread_name_prefix_names_the_workers() {
    common::watchdog(60, || {
        let ex = ThreadPoolExecutor::builder()
            .max_workers(2)
            .thread_name_prefix("SpecialPool")
            .build()
            .unwrap();
        let names: HashSet<String> = (0..20)
            .map(|_| {
                ex.submit(
                    |_: ()| multiproc::thread::current_thread().name().to_string(),
                    (),
                )
                .unwrap()
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|f| f.result().unwrap())
            .collect();
        for n in &names {
            assert!(
                n == "SpecialPool_0" || n == "SpecialPool_1",
                "unexpected worker name {n}"
            );
        }
        // Without a prefix: ThreadPoolExecutor-N_k.
        let ex = ThreadPoolExecutor::new(1).unwrap();
        let n = ex
            .submit(
                |_: ()| multiproc::thread::current_thread().name().to_string(),
                (),
            )
            .unwrap()
            .result()
            .unwrap();
        assert!(
            n.starts_with("ThreadPoolExecutor-") && n.ends_with("_0"),
            "{n}"
        );
    });
}

// ------------------------------------------------------------------ initializer, workers

fn init_fails(_: ()) {
    panic!("initializer failed on purpose");
}

#[test]
fn a_failing_initializer_breaks_the_executor() {
    for m in common::METHODS {
        common::watchdog(60, move || {
            let ex = ProcessPoolExecutor::builder()
                .max_workers(2)
                .mp_context(get_context(Some(m)))
                .initializer(init_fails, ())
                .build()
                .unwrap();
            let fs: Vec<_> = (0..2).filter_map(|i| ex.submit(pow, (2, i)).ok()).collect();
            for f in fs {
                assert!(matches!(f.result(), Err(PoolError::Broken(_))), "{m}");
            }
            assert!(
                common::eventually(30, || matches!(
                    ex.submit(pow, (2, 1)),
                    Err(PoolError::Broken(_))
                )),
                "{m}: submit on a broken executor"
            );
        });
    }
    common::watchdog(60, || {
        let ex = ThreadPoolExecutor::builder()
            .max_workers(2)
            .initializer(|| panic!("thread initializer failed"))
            .build()
            .unwrap();
        if let Ok(f) = ex.submit(|x: u32| x, 1) {
            assert!(matches!(f.result(), Err(PoolError::Broken(_))));
        }
        assert!(common::eventually(30, || matches!(
            ex.submit(|x: u32| x, 1),
            Err(PoolError::Broken(_))
        )));
    });
}

fn pid(_: ()) -> u32 {
    std::process::id()
}

#[test]
fn max_tasks_per_child_3_gives_one_pid_for_3_calls_and_a_new_one_on_the_4th() {
    for m in common::METHODS {
        common::watchdog(60, move || {
            let ex = ProcessPoolExecutor::builder()
                .max_workers(1)
                .mp_context(get_context(Some(m)))
                .max_tasks_per_child(3)
                .build()
                .unwrap();
            let original = ex.submit(pid, ()).unwrap().result().unwrap();
            assert_eq!(ex.submit(pid, ()).unwrap().result(), Ok(original), "{m}");
            assert_eq!(ex.submit(pid, ()).unwrap().result(), Ok(original), "{m}");
            let new = ex.submit(pid, ()).unwrap().result().unwrap();
            assert_ne!(new, original, "{m}");
        });
    }
}

#[test]
fn a_worker_killed_mid_call_fails_only_that_future_and_the_executor_lives() {
    for m in common::METHODS {
        common::watchdog(60, move || {
            let ex = ProcessPoolExecutor::builder()
                .max_workers(1)
                .mp_context(get_context(Some(m)))
                .build()
                .unwrap();
            let victim = ex.submit(sleep_ms, 60_000).unwrap();
            let behind: Vec<_> = (0..10).map(|i| ex.submit(pow, (2, i)).unwrap()).collect();
            assert!(common::eventually(30, || victim.running()), "{m}");
            let pid = ex.pids()[0];
            // SAFETY: signalling our own executor's worker.
            assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
            match victim.result() {
                Err(PoolError::WorkerLost { pid: lost, exit }) => {
                    assert_eq!((lost, exit), (pid, WorkerExit::Signal(9)), "{m}")
                }
                other => panic!("{m}: {other:?}"),
            }
            for (i, f) in behind.iter().enumerate() {
                assert_eq!(f.result(), Ok(1 << i), "{m}");
            }
            assert_eq!(ex.submit(pow, (3, 3)).unwrap().result(), Ok(27), "{m}");
        });
    }
}

// ------------------------------------------------------------------ Future

/// A call on `ex` that holds its worker until the returned gate opens, then returns `v`.
fn held<T: Send + 'static>(ex: &ThreadPoolExecutor, v: T) -> (Arc<Event>, F<T>) {
    let gate = Arc::new(Event::new());
    let g = gate.clone();
    let f = ex
        .submit(
            move |v: T| {
                g.wait();
                v
            },
            v,
        )
        .unwrap();
    (gate, f)
}

#[test]
fn future_states_pending_running_finished_cancelled() {
    common::watchdog(60, || {
        let ex = ThreadPoolExecutor::new(1).unwrap();
        let (gate, running) = held(&ex, ());
        let pending = ex.submit(|x: u32| x, 5).unwrap();
        assert!(common::eventually(30, || running.running()));
        assert!(!pending.running() && !pending.done());
        // RUNNING → false.
        assert!(!running.cancel());
        assert!(!running.cancelled());
        // PENDING → true; and true again once cancelled.
        assert!(pending.cancel());
        assert!(pending.cancelled() && pending.done() && !pending.running());
        assert!(pending.cancel());
        assert_eq!(pending.result(), Err(PoolError::Cancelled));
        assert_eq!(pending.exception(), Some(PoolError::Cancelled));
        gate.set();
        assert_eq!(running.result(), Ok(()));
        // FINISHED → false.
        assert!(!running.cancel());
        assert!(!running.cancelled() && running.done() && !running.running());
        assert!(format!("{running:?}").contains("state=finished returned"));
        assert!(format!("{pending:?}").contains("state=cancelled"));
    });
}

#[test]
fn result_timeout_and_exception_timeout() {
    common::watchdog(60, || {
        let ex = ThreadPoolExecutor::new(1).unwrap();
        let (gate, f) = held(&ex, ());
        let t0 = Instant::now();
        assert_eq!(
            f.result_timeout(Duration::from_millis(100)),
            Err(PoolError::Timeout)
        );
        assert!(t0.elapsed() >= Duration::from_millis(100));
        assert_eq!(
            f.exception_timeout(Duration::from_millis(10)),
            Err(PoolError::Timeout)
        );
        gate.set();
        assert_eq!(f.exception_timeout(Duration::from_secs(30)), Ok(None));
        let g = ex.submit(fail_on, 1).unwrap();
        assert!(matches!(g.exception(), Some(PoolError::Panicked(_))));
        assert!(matches!(g.result(), Err(PoolError::Panicked(_))));
    });
}

#[test]
fn done_callbacks_run_once_in_order_and_survive_a_panicking_one() {
    common::watchdog(60, || {
        let ex = ThreadPoolExecutor::new(1).unwrap();
        let (gate, f) = held(&ex, 11u32);
        let log = Arc::new(Mutex::new(Vec::new()));
        for k in 0..3 {
            let log = log.clone();
            f.add_done_callback(move |f| {
                log.lock().unwrap().push((k, f.result()));
                assert!(k != 1, "callback {k} panics on purpose");
            });
        }
        assert!(log.lock().unwrap().is_empty());
        gate.set();
        assert_eq!(f.result(), Ok(11));
        assert!(common::eventually(30, || log.lock().unwrap().len() == 3));
        assert_eq!(
            *log.lock().unwrap(),
            [(0, Ok(11)), (1, Ok(11)), (2, Ok(11))]
        );
        // Added after the end: runs at once, here.
        let here = std::thread::current().id();
        let ran_on = Arc::new(Mutex::new(None));
        let r = ran_on.clone();
        f.add_done_callback(move |_| *r.lock().unwrap() = Some(std::thread::current().id()));
        assert_eq!(*ran_on.lock().unwrap(), Some(here));
        // A cancelled future calls back too.
        let (g2, _busy) = held(&ex, ());
        let queued = ex.submit(|x: u32| x, 0).unwrap();
        let seen = Arc::new(AtomicUsize::new(0));
        let s = seen.clone();
        queued.add_done_callback(move |f| {
            assert!(f.cancelled());
            s.fetch_add(1, Ordering::SeqCst);
        });
        assert!(queued.cancel());
        assert_eq!(seen.load(Ordering::SeqCst), 1);
        g2.set();
    });
}

// ------------------------------------------------------------------ wait, as_completed

/// Futures for `wait`/`as_completed`: one finished, one failed, one cancelled, one running
/// until the returned gate opens (on a 1-worker executor the last holds the worker).
type F<T = u32> = multiproc::futures::Future<T>;

fn four(ex: &ThreadPoolExecutor) -> (Arc<Event>, F, F, F, F) {
    let finished = ex.submit(|x: u32| x, 1).unwrap();
    assert_eq!(finished.result(), Ok(1));
    let failed = ex.submit(fail_on, 1).unwrap();
    assert!(failed.exception().is_some());
    let (gate, running) = held(ex, 3);
    let cancelled = ex.submit(|x: u32| x, 4).unwrap();
    assert!(cancelled.cancel());
    (gate, finished, failed, running, cancelled)
}

#[test]
fn wait_partitions_as_cpython_does() {
    common::watchdog(60, || {
        let ex = ThreadPoolExecutor::new(1).unwrap();
        let (gate, finished, failed, running, cancelled) = four(&ex);
        let short = Some(Duration::from_millis(50));

        let r = wait(&[finished.clone(), running.clone()], None, FIRST_COMPLETED);
        assert_eq!((r.done.len(), r.not_done.len()), (1, 1));
        assert!(r.done[0].same(&finished) && r.not_done[0].same(&running));

        // FIRST_EXCEPTION: a failed future ends the wait; a cancelled one does not.
        let r = wait(&[failed.clone(), running.clone()], None, FIRST_EXCEPTION);
        assert_eq!((r.done.len(), r.not_done.len()), (1, 1));
        let t0 = Instant::now();
        let r = wait(
            &[cancelled.clone(), running.clone()],
            short,
            FIRST_EXCEPTION,
        );
        assert!(t0.elapsed() >= Duration::from_millis(50));
        assert_eq!((r.done.len(), r.not_done.len()), (1, 1));

        // ALL_COMPLETED with a timeout: the running one is not done.
        let all = [
            finished.clone(),
            failed.clone(),
            cancelled.clone(),
            running.clone(),
        ];
        let r = wait(&all, short, ALL_COMPLETED);
        assert_eq!((r.done.len(), r.not_done.len()), (3, 1));
        assert!(r.not_done[0].same(&running));

        // A future given twice appears once.
        let r = wait(&[finished.clone(), finished.clone()], None, ALL_COMPLETED);
        assert_eq!((r.done.len(), r.not_done.len()), (1, 0));

        // ALL_COMPLETED without a timeout returns when the last one ends.
        let g = gate.clone();
        let opener = std::thread::spawn(move || g.set());
        let r = wait(&all, None, ALL_COMPLETED);
        assert_eq!((r.done.len(), r.not_done.len()), (4, 0));
        opener.join().unwrap();
        assert_eq!(running.result(), Ok(3));
    });
}

#[test]
fn as_completed_yields_each_once_then_times_out_with_pythons_message() {
    common::watchdog(60, || {
        let ex = ThreadPoolExecutor::new(1).unwrap();
        let (gate, finished, failed, running, cancelled) = four(&ex);
        // Queued behind `running` on the single worker.
        let (g2, behind) = held(&ex, 5);
        let fs = [
            finished.clone(),
            failed.clone(),
            cancelled.clone(),
            running.clone(),
            behind.clone(),
            finished.clone(),
        ];
        let mut it = as_completed(&fs, Some(Duration::from_millis(100)));
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(it.next().unwrap().unwrap());
        }
        assert!(got.iter().any(|f| f.same(&finished)));
        assert!(got.iter().any(|f| f.same(&failed)));
        assert!(got.iter().any(|f| f.same(&cancelled)));
        match it.next() {
            Some(Err(e)) => {
                assert_eq!(
                    e,
                    PoolError::Unfinished {
                        unfinished: 2,
                        total: 5
                    }
                );
                assert_eq!(e.to_string(), "2 (of 5) futures unfinished");
            }
            other => panic!("{other:?}"),
        }
        assert!(it.next().is_none());

        // Without a timeout: every future, once, as each ends.
        let mut it = as_completed(&fs, None);
        for _ in 0..3 {
            assert!(it.next().unwrap().unwrap().done());
        }
        gate.set();
        assert!(it.next().unwrap().unwrap().same(&running));
        g2.set();
        assert!(it.next().unwrap().unwrap().same(&behind));
        assert!(it.next().is_none());
    });
}

#[test]
fn terminate_workers_fails_what_is_unfinished_and_refuses_more() {
    for m in common::METHODS {
        common::watchdog(60, move || {
            let ex = ProcessPoolExecutor::builder()
                .max_workers(1)
                .mp_context(get_context(Some(m)))
                .build()
                .unwrap();
            let running = ex.submit(sleep_ms, 60_000).unwrap();
            let queued = ex.submit(sleep_ms, 1).unwrap();
            assert!(common::eventually(30, || running.running()), "{m}");
            let pids = ex.pids();
            let t0 = Instant::now();
            ex.kill_workers();
            assert!(t0.elapsed() < Duration::from_secs(30), "{m}");
            assert_eq!(running.result(), Err(PoolError::Terminated), "{m}");
            assert_eq!(queued.result(), Err(PoolError::Terminated), "{m}");
            assert!(
                pids.iter().all(|&p| !common::alive(p)),
                "{m}: a worker survived"
            );
            assert_eq!(
                ex.submit(sleep_ms, 1).unwrap_err(),
                PoolError::Shutdown,
                "{m}"
            );
        });
    }
}

#[test]
fn future_repr_names_the_state_as_python_does() {
    common::watchdog(60, || {
        let ex = ThreadPoolExecutor::new(1).unwrap();
        let ok = ex.submit(|x: u32| x, 1).unwrap();
        ok.result().unwrap();
        assert!(
            format!("{ok:?}").ends_with("state=finished returned u32>"),
            "{ok:?}"
        );
        let bad = ex.submit(fail_on, 1).unwrap();
        bad.exception().unwrap();
        assert!(
            format!("{bad:?}").ends_with("state=finished raised Panicked>"),
            "{bad:?}"
        );
    });
}
