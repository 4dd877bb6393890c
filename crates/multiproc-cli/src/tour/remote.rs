//! Beyond one machine: the tutorials' shared dict and list, and `Pool(5).apply_async` with
//! a callback, against a Redis server, with the pool's workers in two separate `multiproc
//! worker` processes; then a worker SIGKILLed mid-run. Runs when `redis-server` is on the
//! `PATH` (a private one is started on a free port and stopped after); says how to enable
//! it otherwise.

use std::time::{Duration, Instant};

use multiproc::remote::{RedisServer, Remote};
use multiproc::{PoolError, WorkerExit};

use super::{Tour, secs};

#[allow(dead_code)]
#[path = "../../../multiproc/examples/remote_seeds.rs"]
mod remote_seeds;

fn tick(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

pub fn run(t: &mut Tour) {
    if !RedisServer::available() {
        t.start("Redis not found: this section is skipped", "");
        t.done(
            "redis-server is not on the PATH",
            "install it (apt-get install -y redis-server) and run `multiproc tour --section remote`",
        );
        return;
    }
    t.start("a private redis-server on a free loopback port", "");
    let server = match RedisServer::start() {
        Ok(s) => s,
        Err(e) => {
            t.done(format!("could not start it: {e}"), "the section is skipped");
            return;
        }
    };
    t.done(
        format!("listening on {}", server.url()),
        "stopped (and its directory removed) when the section ends",
    );

    t.start(
        "ten processes share a remote dict and list; Pool(5).apply_async(myFun, callback=end_call) on two `multiproc worker` processes",
        "数据共享(Managers), 进程池",
    );
    let work = Duration::from_millis(50);
    let o = remote_seeds::run(&server.url(), "tour", work, false);
    t.done(
        format!(
            "dict {:?}, {} pids in the list; 10 tasks of {} on 3 + 2 slots in {} ({} worker processes), {} callbacks, all in the parent: {}",
            o.dict,
            o.list.len(),
            secs(work),
            secs(o.elapsed),
            o.worker_pids.len(),
            o.callbacks.len(),
            o.callback_pids.iter().all(|&p| p == o.parent)
        ),
        "the same shapes as the local Manager and Pool, with the objects on Redis and workers in other processes (or machines)",
    );

    t.start(
        "a worker SIGKILLed mid-run (lease 0.3 s): every task ends with exactly one result",
        "",
    );
    let lease = Duration::from_millis(300);
    let r = Remote::builder(&server.url(), "tour-kill")
        .lease(lease)
        .connect()
        .expect("connect");
    let args = |slots: usize| {
        std::process::Command::new(std::env::current_exe().expect("current_exe"))
            .args([
                "worker",
                "--redis",
                &server.url(),
                "--namespace",
                "tour-kill",
            ])
            .args(["--concurrency", &slots.to_string(), "--lease-ms", "300"])
            .spawn()
            .expect("start a worker")
    };
    let mut victim = args(2);
    let mut survivor = args(2);
    let pool = r.pool().expect("pool");
    let n = 100;
    let results = pool.submit_many(tick, (0..n).map(|_| 10)).expect("submit");
    // Let the run get going, then kill one worker outright.
    results[20].wait_timeout(Duration::from_secs(10));
    let killed_at = Instant::now();
    let _ = victim.kill();
    let _ = victim.wait();
    let (mut ok, mut lost, mut other, mut last_lost) = (0, 0, 0, Duration::ZERO);
    for res in &results {
        match res.get_timeout(Duration::from_secs(30)) {
            Ok(_) => ok += 1,
            Err(PoolError::WorkerLost {
                exit: WorkerExit::Vanished,
                ..
            }) => {
                lost += 1;
                last_lost = last_lost.max(killed_at.elapsed());
            }
            Err(_) => other += 1,
        }
    }
    let _ = r.stop_workers();
    let _ = survivor.wait();
    t.done(
        format!(
            "{n} tasks: {ok} results, {lost} WorkerLost (the killed worker's in-flight tasks), {other} other; reported within {} of the kill",
            secs(last_lost)
        ),
        "a lost worker fails only what it was running, one lease after it died (CPython's Pool would hang; Celery's default, acking on receipt, leaves such tasks pending for ever)",
    );
}
