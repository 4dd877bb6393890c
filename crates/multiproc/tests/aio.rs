//! Every awaitable wait, driven from a tokio current-thread runtime: the runtime must keep
//! running its other tasks while one awaits. Each test has a ticker task on the runtime, and
//! the thing awaited happens only after the ticker has ticked 10 times: if the await blocked
//! the runtime's only thread, the ticks would never come and the watchdog would fail it.

mod common;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use multiproc::connection::Pipe;
use multiproc::futures::{ProcessPoolExecutor, ThreadPoolExecutor, block_on};
use multiproc::pool::{Pool, ThreadPool};
use multiproc::process::{Process, Queue};
use multiproc::shared::Shared;
use multiproc::sync::{Event, Lock};

#[allow(dead_code)]
#[path = "../examples/tokio_fanout.rs"]
mod tokio_fanout;

const TICKS: usize = 10;

/// Runs `body` on a current-thread runtime beside a 5 ms ticker; `trigger` runs on another
/// thread once the ticker has ticked [`TICKS`] times (at most 30 s), and should make `body`'s
/// await complete. Returns `body`'s value and the ticks seen when it completed.
fn while_ticking<T: Send + 'static>(
    trigger: impl FnOnce() + Send + 'static,
    body: impl AsyncFnOnce() -> T + Send + 'static,
) -> (T, usize) {
    common::watchdog(60, move || {
        let ticks = Arc::new(AtomicUsize::new(0));
        let t = ticks.clone();
        let helper = std::thread::spawn(move || {
            assert!(
                common::eventually(30, || t.load(Ordering::SeqCst) >= TICKS),
                "the runtime did not tick while the task awaited"
            );
            trigger();
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let t = ticks.clone();
        let out = rt.block_on(async move {
            let ticker = tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_millis(5));
                loop {
                    every.tick().await;
                    t.fetch_add(1, Ordering::SeqCst);
                }
            });
            let out = body().await;
            ticker.abort();
            out
        });
        helper.join().unwrap();
        let seen = ticks.load(Ordering::SeqCst);
        assert!(seen >= TICKS, "only {seen} ticks while awaiting");
        (out, seen)
    })
}

#[test]
fn an_executor_future_awaited_lets_the_runtime_run() {
    let ex = Arc::new(ThreadPoolExecutor::new(2).unwrap());
    let gate = Arc::new(Event::new());
    let g = gate.clone();
    let f = ex.submit(move |_: ()| g.wait(), ()).unwrap();
    let e = ex.clone();
    let (r, _) = while_ticking(
        move || gate.set(),
        async move || {
            let ok = f.await;
            let two = e.submit(|x: u32| x * 2, 21).unwrap().await;
            (ok, two)
        },
    );
    assert_eq!(r, (Ok(()), Ok(42)));
}

fn wait_file(path: String) -> u32 {
    common::wait_for_file(&path, 30);
    std::fs::remove_file(&path).ok();
    7
}

fn gate_path(tag: &str) -> String {
    let p = std::env::temp_dir().join(format!("multiproc-aio-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p.to_string_lossy().into_owned()
}

#[test]
fn a_process_executor_future_awaited_lets_the_runtime_run() {
    let ex = ProcessPoolExecutor::new(1).unwrap();
    let path = gate_path("ppe");
    let f = ex.submit(wait_file, path.clone()).unwrap();
    let (r, _) = while_ticking(
        move || std::fs::write(&path, b"go").unwrap(),
        async move || f.await,
    );
    assert_eq!(r, Ok(7));
}

#[test]
fn a_pool_async_result_awaited_lets_the_runtime_run() {
    let pool = ThreadPool::new(1).unwrap();
    let gate = Arc::new(Event::new());
    let g = gate.clone();
    let r = pool
        .apply_async(
            move |x: u32| {
                g.wait();
                x
            },
            5,
        )
        .unwrap();
    let (got, _) = while_ticking(move || gate.set(), async move || r.await);
    assert_eq!(got, Ok(5));
    // A process pool's result too.
    let pool = Pool::new(1).unwrap();
    let path = gate_path("pool");
    let r = pool.apply_async(wait_file, path.clone()).unwrap();
    let (got, _) = while_ticking(
        move || std::fs::write(&path, b"go").unwrap(),
        async move || r.await,
    );
    assert_eq!(got, Ok(7));
}

#[test]
fn process_join_async_lets_the_runtime_run() {
    let path = gate_path("join");
    let mut p = Process::new(wait_file, path.clone());
    p.start().unwrap();
    let (r, _) = while_ticking(
        move || std::fs::write(&path, b"go").unwrap(),
        async move || p.join_async().await,
    );
    assert_eq!(r.unwrap(), 7);
}

#[test]
fn connection_recv_async_and_poll_async_let_the_runtime_run() {
    let (mut a, mut b) = Pipe(true).unwrap();
    let (r, _) = while_ticking(
        move || {
            a.send(&"hello".to_string()).unwrap();
            a.send_bytes(b"raw").unwrap();
            drop(a);
        },
        async move || {
            b.poll_async().await.unwrap();
            let s: String = b.recv_async().await.unwrap();
            let raw = b.recv_bytes_async().await.unwrap();
            // The writer is gone: poll_async returns (end of file), recv says Eof.
            b.poll_async().await.unwrap();
            (s, raw, b.recv_bytes_async().await.is_err())
        },
    );
    assert_eq!(r, ("hello".to_string(), b"raw".to_vec(), true));
}

#[test]
fn queue_get_async_lets_the_runtime_run_and_sees_another_process_put() {
    let q: Queue<u64> = Queue::new(0).unwrap();
    let p = q.clone();
    let (r, _) = while_ticking(
        move || p.put(11).unwrap(),
        async move || q.get_async().await,
    );
    assert_eq!(r.unwrap(), 11);

    // Put by a child process.
    let q: Queue<u64> = Queue::new(0).unwrap();
    let path = gate_path("qget");
    let mut child = Process::new(
        |(q, path): (Queue<u64>, String)| {
            wait_file(path);
            q.put(99).unwrap();
        },
        (q.clone(), path.clone()),
    );
    child.start().unwrap();
    let (r, _) = while_ticking(
        move || std::fs::write(&path, b"go").unwrap(),
        async move || q.get_async().await,
    );
    assert_eq!(r.unwrap(), 99);
    child.join().unwrap();
}

#[test]
fn queue_put_async_waits_for_room_without_blocking_the_runtime() {
    let q: Queue<u64> = Queue::new(1).unwrap();
    q.put(1).unwrap();
    let c = q.clone();
    let taken = Arc::new(AtomicUsize::new(0));
    let tk = taken.clone();
    let (r, _) = while_ticking(
        move || {
            tk.store(c.get().unwrap() as usize, Ordering::SeqCst);
        },
        async move || {
            q.put_async(2).await.unwrap();
            q.get_async().await
        },
    );
    assert_eq!(taken.load(Ordering::SeqCst), 1);
    assert_eq!(r.unwrap(), 2);
}

#[test]
fn event_wait_async_lets_the_runtime_run_and_sees_another_process_set() {
    let ev = Arc::new(Event::new());
    let e = ev.clone();
    let (_, _) = while_ticking(move || e.set(), async move || ev.wait_async().await);

    let shared = Shared::new(Event::new()).unwrap();
    let path = gate_path("event");
    let mut child = Process::new(
        |(ev, path): (Shared<Event>, String)| {
            wait_file(path);
            ev.set();
        },
        (shared.clone(), path.clone()),
    );
    child.start().unwrap();
    let s = shared.clone();
    let (_, _) = while_ticking(
        move || std::fs::write(&path, b"go").unwrap(),
        async move || s.wait_async().await,
    );
    assert!(shared.is_set());
    child.join().unwrap();
}

#[test]
fn lock_acquire_async_lets_the_runtime_run() {
    let lock = Arc::new(Lock::new());
    let held = Arc::new(Event::new());
    let release = Arc::new(Event::new());
    let (l, h, r) = (lock.clone(), held.clone(), release.clone());
    let holder = std::thread::spawn(move || {
        let g = l.acquire();
        h.set();
        r.wait();
        drop(g);
    });
    held.wait();
    let l = lock.clone();
    let (got, _) = while_ticking(
        move || release.set(),
        async move || {
            let g = l.acquire_async().await;
            drop(g);
            true
        },
    );
    assert!(got);
    holder.join().unwrap();
    assert!(!lock.locked());
}

#[test]
fn an_abandoned_acquire_async_does_not_strand_a_blocked_waiter() {
    common::watchdog(60, || {
        for _ in 0..20 {
            let lock = Arc::new(Lock::new());
            let g = lock.acquire();
            // An async waiter registers, then is dropped while the lock is released.
            let mut fut = Box::pin(lock.acquire_async());
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            assert!(fut.as_mut().poll(&mut cx).is_pending());
            let l = lock.clone();
            let blocked = std::thread::spawn(move || drop(l.acquire()));
            drop(g);
            drop(fut);
            // Whoever consumed the release's wake-up, the blocked thread gets the lock.
            blocked.join().unwrap();
            assert!(!lock.locked());
        }
    });
}

#[test]
fn block_on_runs_a_future_to_its_end() {
    common::watchdog(60, || {
        let ex = ProcessPoolExecutor::new(2).unwrap();
        let v = block_on(async {
            let fs: Vec<_> = (0..8u64)
                .map(|i| ex.submit(|x: u64| x * x, i).unwrap())
                .collect();
            let mut sum = 0;
            for f in fs {
                sum += f.await.unwrap();
            }
            sum
        });
        assert_eq!(v, (0..8u64).map(|x| x * x).sum());
    });
}

#[test]
fn a_forked_child_awaits_with_its_own_waker_threads() {
    common::watchdog(60, || {
        // The parent's waker threads are running (and hold registrations) when it forks.
        let ev = Arc::new(Event::new());
        let e = ev.clone();
        let setter = std::thread::spawn(move || e.set());
        block_on(ev.wait_async());
        setter.join().unwrap();
        let parked = Arc::new(Event::new());
        let mut pending = Box::pin(parked.wait_async());
        let waker = std::task::Waker::noop();
        assert!(
            pending
                .as_mut()
                .poll(&mut std::task::Context::from_waker(waker))
                .is_pending()
        );
        // And the descriptor waker thread too.
        let (mut x, y) = Pipe(true).unwrap();
        block_on(after_first_pending(y.poll_async(), || {
            x.send(&0u8).unwrap()
        }))
        .unwrap();
        let (mut a, b) = Pipe(true).unwrap();
        let (ready_tx, mut ready_rx) = Pipe(true).unwrap();
        let mut child = Process::builder()
            .start_method(multiproc::process::StartMethod::Fork)
            .fork_target(move || {
                let (mut b, mut ready_tx) = (b, ready_tx);
                // The parent's registrations are in the child's copy of the state: they are
                // forgotten, and this child's own threads serve its awaits. Each wait below
                // is satisfied only after its first poll was pending, so only a waker
                // thread can end it.
                let q: Queue<u32> = Queue::new(0).unwrap();
                let p = q.clone();
                let polled = Arc::new(Event::new());
                let pl = polled.clone();
                let t = std::thread::spawn(move || {
                    pl.wait();
                    p.put(3).unwrap();
                });
                let got = block_on(after_first_pending(q.get_async(), move || polled.set()));
                t.join().unwrap();
                block_on(after_first_pending(b.poll_async(), || {
                    ready_tx.send(&1u8).unwrap()
                }))
                .unwrap();
                let msg: u32 = b.recv().unwrap();
                got.unwrap() + msg
            });
        child.start().unwrap();
        let _: u8 = ready_rx.recv().unwrap();
        a.send(&4u32).unwrap();
        assert_eq!(child.join().unwrap(), 7);
        parked.set();
        block_on(pending);
    });
}

/// Polls `f`; runs `on_pending` once, after its first `Pending`.
async fn after_first_pending<F: Future>(f: F, on_pending: impl FnOnce()) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut hook = Some(on_pending);
    std::future::poll_fn(|cx| {
        let r = f.as_mut().poll(cx);
        if r.is_pending()
            && let Some(h) = hook.take()
        {
            h();
        }
        r
    })
    .await
}

#[test]
fn more_awaiting_tasks_than_one_futex_waitv_takes_all_complete() {
    // 300 events awaited at once: past the 127 words one `futex_waitv` takes.
    let events: Vec<Arc<Event>> = (0..300).map(|_| Arc::new(Event::new())).collect();
    let setters = events.clone();
    let (done, _) = while_ticking(
        move || {
            for e in setters.iter().rev() {
                e.set();
            }
        },
        async move || {
            let tasks: Vec<_> = events
                .into_iter()
                .map(|e| tokio::spawn(async move { e.wait_async().await }))
                .collect();
            let mut n = 0;
            for t in tasks {
                t.await.unwrap();
                n += 1;
            }
            n
        },
    );
    assert_eq!(done, 300);
}

#[test]
fn the_tokio_fanout_example_counts_primes_while_the_runtime_ticks() {
    common::watchdog(120, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        // Enough work that the heartbeat must tick while it runs (4 × ~0.1 s at least).
        let limits = [200_000u64, 200_001, 200_002, 200_003, 100, 10];
        let o = rt.block_on(tokio_fanout::run(&limits));
        let want = [17_984u64, 17_984, 17_984, 17_984, 25, 4];
        let got: Vec<u64> = o.results.iter().map(|r| r.1).collect();
        assert_eq!(got, want);
        assert!(
            o.ticks >= 2 || o.elapsed < Duration::from_millis(30),
            "{} ticks in {:?}",
            o.ticks,
            o.elapsed
        );
    });
}

fn sleep_long(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[test]
fn an_awaited_call_whose_worker_is_killed_fails_with_worker_lost() {
    let ex = Arc::new(ProcessPoolExecutor::new(1).unwrap());
    let f = ex.submit(sleep_long, 60_000).unwrap();
    let e = ex.clone();
    let probe = f.clone();
    let (r, _) = while_ticking(
        move || {
            assert!(common::eventually(30, || probe.running()));
            let pid = e.pids()[0];
            // SAFETY: signalling our own executor's worker.
            assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
        },
        async move || f.await,
    );
    match r {
        Err(multiproc::PoolError::WorkerLost { exit, .. }) => {
            assert_eq!(exit, multiproc::pool::WorkerExit::Signal(9))
        }
        other => panic!("{other:?}"),
    }
    // The executor lives on.
    let again = ex.submit(sleep_long, 1).unwrap();
    assert_eq!(block_on(again), Ok(1));
}

#[test]
fn semaphore_acquire_async_limits_concurrency_without_blocking_the_runtime() {
    use multiproc::sync::Semaphore;
    let sem = Arc::new(Semaphore::new(1));
    // The one unit is taken: every task waits until the ticker has ticked.
    sem.acquire().leak();
    let s = sem.clone();
    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (i, m) = (inside.clone(), most.clone());
    let (n, _) = while_ticking(
        move || s.release().unwrap(),
        async move || {
            let tasks: Vec<_> = (0..8)
                .map(|_| {
                    let (sem, i, m) = (sem.clone(), i.clone(), m.clone());
                    tokio::spawn(async move {
                        let _unit = sem.acquire_async().await;
                        let now = i.fetch_add(1, Ordering::SeqCst) + 1;
                        m.fetch_max(now, Ordering::SeqCst);
                        tokio::task::yield_now().await;
                        i.fetch_sub(1, Ordering::SeqCst);
                    })
                })
                .collect();
            let mut n = 0;
            for t in tasks {
                t.await.unwrap();
                n += 1;
            }
            n
        },
    );
    assert_eq!(n, 8);
    assert_eq!(
        most.load(Ordering::SeqCst),
        1,
        "one unit: one holder at a time"
    );
}
