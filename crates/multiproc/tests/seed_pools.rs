//! Every pool example from the seed tutorials, run and checked against what the seed says it
//! shows (compiled in from `examples/`, so this is what `cargo run --example` runs and what
//! `multiproc tour` reports).

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

example!(pool_apply_async, "../examples/pool_apply_async.rs");
example!(pool_apply_vs_async, "../examples/pool_apply_vs_async.rs");
example!(pool_worker_pids, "../examples/pool_worker_pids.rs");
example!(thread_pool_map, "../examples/thread_pool_map.rs");
example!(pool_sizes, "../examples/pool_sizes.rs");
example!(threadpool_package, "../examples/threadpool_package.rs");
example!(hand_written_pool, "../examples/hand_written_pool.rs");

const WORK: Duration = Duration::from_millis(100);

#[test]
fn pool_of_5_runs_10_tasks_in_two_rounds_with_every_callback_in_the_parent() {
    let o = watchdog(60, || pool_apply_async::run(WORK, false));
    let mut got = o.callbacks.clone();
    got.sort();
    assert_eq!(got, (100..110).collect::<Vec<_>>(), "each callback once");
    assert!(
        o.callback_pids.iter().all(|&p| p == o.parent),
        "callbacks run in the parent"
    );
    // Ten tasks on five workers: two rounds, not ten.
    assert!(o.elapsed >= 2 * WORK, "{:?}", o.elapsed);
    assert!(
        o.elapsed < 8 * WORK,
        "the tasks did not overlap: {:?}",
        o.elapsed
    );
}

#[test]
fn apply_runs_tasks_one_at_a_time_apply_async_and_map_in_parallel() {
    let (apply, apply_async, map, same) = watchdog(60, || pool_apply_vs_async::run(4, 8, WORK));
    assert!(same, "the three gave different results");
    assert!(apply >= 8 * WORK, "apply overlapped tasks: {apply:?}");
    assert!(
        apply_async >= 2 * WORK && apply_async < apply,
        "{apply_async:?} vs {apply:?}"
    );
    assert!(map >= 2 * WORK && map < apply, "{map:?} vs {apply:?}");
}

#[test]
fn ten_tasks_on_a_pool_of_three_reuse_three_processes() {
    let pids = watchdog(60, || {
        pool_worker_pids::run(2, Duration::from_millis(5), false)
    });
    assert!(!pids.is_empty() && pids.len() <= 3, "{pids:?}");
    assert!(!pids.contains(&std::process::id()));
}

#[test]
fn a_pool_of_ten_threads_serves_a_hundred_calls_in_ten_rounds() {
    let work = Duration::from_millis(20);
    let (serial, threads, pool, used) = watchdog(60, move || thread_pool_map::run(work, false));
    assert!(serial >= 10 * work, "{serial:?}");
    assert!(threads < serial, "{threads:?} vs {serial:?}");
    assert!(
        pool >= 10 * work,
        "100 calls on 10 threads take 10 rounds: {pool:?}"
    );
    assert!(pool < 100 * work, "the pool ran one at a time: {pool:?}");
    assert_eq!(used, 10, "the calls were spread over the ten threads");
}

#[test]
fn thread_and_process_pools_both_scale_with_size_and_overlap_waits() {
    let rows = watchdog(120, || {
        pool_sizes::run(2, 8, 2_000_000, Duration::from_millis(20))
    });
    assert_eq!(rows.len(), 2);
    let lines = pool_sizes::table(&rows);
    assert_eq!(lines.len(), 3);
    // Waiting overlaps in both kinds of pool: 8 waits of 20 ms take about 4 rounds on 2.
    for r in &rows {
        assert!(
            r.threads_io >= Duration::from_millis(20 * 8 / r.size as u64),
            "{r:?}"
        );
        assert!(
            r.processes_io >= Duration::from_millis(20 * 8 / r.size as u64),
            "{r:?}"
        );
    }
    assert!(rows[1].threads_io < rows[0].threads_io, "{rows:?}");
    assert!(rows[1].processes_io < rows[0].processes_io, "{rows:?}");
}

#[test]
fn the_threadpool_package_flow_calls_back_for_each_request() {
    let lines = watchdog(30, || threadpool_package::run(false));
    assert_eq!(lines, ["m = 1, n = 2, o = 3", "m = 4, n = 5, o = 6"]);
}

#[test]
fn the_hand_written_pool_as_pool_methods() {
    let o = watchdog(60, || hand_written_pool::run(Duration::from_millis(20)));
    // 30 tasks; multiples of 7 (7, 14, 21, 28) fail.
    assert_eq!((o.succeeded, o.failed), (26, 4), "{o:?}");
    assert_eq!(o.busy_while_running + o.idle_while_running, 5, "{o:?}");
    assert!(o.busy_while_running >= 1, "{o:?}");
    assert_eq!(o.ran_after_close, 6, "close lets queued work run: {o:?}");
    assert_eq!(
        o.ran_after_terminate, 2,
        "terminate drops the queued: {o:?}"
    );
    assert!(o.refused_when_full, "{o:?}");
}
