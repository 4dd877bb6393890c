//! The pool experiments: `Pool(5).apply_async` with a callback, `apply` against
//! `apply_async`, worker reuse, `multiprocessing.dummy.Pool(10).map`, thread and process
//! pools over sizes, the `threadpool` package, the hand-written pool, and what CPython's pool
//! cannot do (a worker killed mid-task, a task past its time limit).

use std::time::{Duration, Instant};

use multiproc::pool::{Pool, TaskOptions};
use multiproc::{PoolError, WorkerExit};

use super::{Tour, secs};

#[allow(dead_code)]
#[path = "../../../multiproc/examples/hand_written_pool.rs"]
mod hand_written_pool;
#[allow(dead_code)]
#[path = "../../../multiproc/examples/pool_apply_async.rs"]
mod pool_apply_async;
#[allow(dead_code)]
#[path = "../../../multiproc/examples/pool_apply_vs_async.rs"]
mod pool_apply_vs_async;
#[allow(dead_code)]
#[path = "../../../multiproc/examples/pool_sizes.rs"]
mod pool_sizes;
#[allow(dead_code)]
#[path = "../../../multiproc/examples/pool_worker_pids.rs"]
mod pool_worker_pids;
#[allow(dead_code)]
#[path = "../../../multiproc/examples/thread_pool_map.rs"]
mod thread_pool_map;
#[allow(dead_code)]
#[path = "../../../multiproc/examples/threadpool_package.rs"]
mod threadpool_package;

/// A task that takes its worker down with it.
fn abort_mid_task(_: ()) -> u64 {
    std::process::abort()
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

pub fn run(t: &mut Tour) {
    t.start(
        "Pool(5): ten apply_async(myFun, callback=end_call)",
        "进程池",
    );
    let work = Duration::from_millis(100);

    let o = pool_apply_async::run(work, false);
    t.done(
        format!(
            "10 tasks of {} in {}; {} callbacks, all in the parent: {}",
            secs(work),
            secs(o.elapsed),
            o.callbacks.len(),
            o.callback_pids.iter().all(|&p| p == o.parent)
        ),
        "a pool runs 5 at a time; callbacks run in the parent, on the pool's handler thread",
    );

    t.start(
        "apply (串行) vs apply_async + get vs map, 8 tasks of 0.05 s on Pool(4)",
        "进程池Pool",
    );
    let (apply, apply_async, map, same) = pool_apply_vs_async::run(4, 8, Duration::from_millis(50));
    t.done(
        format!(
            "apply {}, apply_async {}, map {}, same results: {same}",
            secs(apply),
            secs(apply_async),
            secs(map)
        ),
        "apply waits for each task; apply_async and map keep every worker busy",
    );

    t.start(
        "Pool(3): ten apply_async(worker) printing their pid",
        "进程池",
    );
    let pids = pool_worker_pids::run(1, Duration::from_millis(5), false);
    t.done(
        format!("ten tasks ran in {} processes", pids.len()),
        "a pool starts its workers once and lends them to tasks",
    );

    t.start(
        "run(n) sleeping 0.01 s: 10 in a row, 10 threads, dummy Pool(10).map over 100",
        "线程的调度与优化",
    );
    let (serial, threads, pooled, used) = thread_pool_map::run(Duration::from_millis(10), false);
    t.done(
        format!(
            "{} / {} / {} on {used} threads",
            secs(serial),
            secs(threads),
            secs(pooled)
        ),
        "ten threads serve a hundred calls: threads are reused",
    );

    let max = (2 * multiproc::process::cpu_count()).min(4);
    t.start(
        &format!(
            "ThreadPool vs Pool over sizes 1..{max}: 8 CPU-bound tasks, and 8 waits of 0.02 s"
        ),
        "多线程-多进程",
    );
    let rows = pool_sizes::run(max, 8, 3_000_000, Duration::from_millis(20));
    let table = pool_sizes::table(&rows);
    t.table("seconds per pool size:", &table.join("\n"));
    t.done(
        format!("{} pool sizes timed (table above)", rows.len()),
        "without a GIL, a thread pool speeds up CPU-bound work as a process pool does",
    );

    t.start(
        "threadpool: makeRequests(hello, args), putRequest, wait",
        "threadpool 线程池",
    );
    let lines = threadpool_package::run(false);
    t.done(
        lines.join("; "),
        "the package's flow, with callbacks run in the thread that waits",
    );

    t.start(
        "the hand-written ThreadPool(5, 10): callback(success, result), close, terminate",
        "线程池 复杂版本",
    );
    let h = hand_written_pool::run(Duration::from_millis(20));
    t.done(
        format!(
            "{} succeeded, {} failed; {} busy + {} idle; after close {} ran, after terminate {}; full queue refused: {}",
            h.succeeded,
            h.failed,
            h.busy_while_running,
            h.idle_while_running,
            h.ran_after_close,
            h.ran_after_terminate,
            h.refused_when_full
        ),
        "each piece is one method of multiproc's pool: bounded queue, callbacks, busy()/idle()",
    );

    t.start("A task that aborts its worker, and a task past its time limit (beyond Python: CPython's Pool hangs forever)", "");
    let pool = Pool::new(2).expect("Pool(2)");
    let t0 = Instant::now();
    let lost = pool.apply(abort_mid_task, ());
    let after = pool.apply(nap, 1);
    let timed = pool.apply_async_with(
        nap,
        10_000,
        TaskOptions::new().timeout(Duration::from_millis(100)),
    );
    let timed = timed.map(|r| r.get());
    let how = match &lost {
        Err(PoolError::WorkerLost {
            exit: WorkerExit::Signal(s),
            ..
        }) => format!("WorkerLost (signal {s})"),
        other => format!("{other:?}"),
    };
    t.done(
        format!(
            "{how}, next task {:?}; 10 s task with a 0.1 s limit: {}; all in {}",
            after,
            match timed {
                Ok(Err(PoolError::TaskTimeout(d))) => format!("TaskTimeout({d:?})"),
                other => format!("{other:?}"),
            },
            secs(t0.elapsed())
        ),
        "only the task that was running fails; its worker is replaced and the pool goes on",
    );
    t.start(
        "Pool statistics: Pool(2).stats() after 20 tasks of 2 ms (like mpire's insights)",
        "",
    );
    let pool = Pool::new(2).expect("Pool(2)");
    pool.map_with(
        nap,
        vec![2; 20],
        multiproc::pool::MapOptions::new().chunksize(1),
    )
    .expect("map");
    let stats = pool.stats();
    t.table("Pool(2).stats():", &stats.to_string());
    t.done(
        format!(
            "{} tasks done, {} workers started",
            stats.tasks_done, stats.workers_started
        ),
        "tasks done and failed, time in the function and in transfer, workers started",
    );
}
