//! The process experiments: start methods, CPU-bound work over processes vs threads, shared
//! memory, a lock whose holder is killed, and `os.fork`.

use std::time::{Duration, Instant};

use multiproc::OwnerDied;
use multiproc::process::{self, Fork, Process, StartMethod, fork, waitpid};
use multiproc::shared::{Shared, Value};
use multiproc::sync::{Event, Lock};

use super::{Finding, secs};

#[allow(dead_code)]
#[path = "../../../multiproc/examples/cpu_bound.rs"]
mod cpu_bound;

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

pub fn run() -> Vec<Finding> {
    let mut out = Vec::new();

    let mut per_method = Vec::new();
    for m in [
        StartMethod::Fork,
        StartMethod::Forkserver,
        StartMethod::Spawn,
    ] {
        let runs = 20;
        let t0 = Instant::now();
        for _ in 0..runs {
            let mut p = Process::builder().start_method(m).target(|x: u32| x + 1, 1);
            p.start().expect("start");
            assert_eq!(p.join().expect("join"), 2);
        }
        per_method.push(format!("{m} {}", ms(t0.elapsed() / runs)));
    }
    out.push(Finding::new(
        "Process(target, args).start(); join(), per start method (seed: 进程的实现)",
        per_method.join(", "),
        "fork copies this process; forkserver forks a small clean server; spawn re-runs the binary",
    ));

    let n = 300_000_000;
    let parts = process::cpu_count().max(2) as u64;
    let (r0, serial) = cpu_bound::serial(n);
    let (r1, threads) = cpu_bound::threads(n, parts);
    let (r2, procs) = cpu_bound::processes(n, parts, StartMethod::Forkserver);
    assert!(r0 == r1 && r1 == r2);
    out.push(Finding::new(
        format!("sum of squares below {n}, split {parts} ways (seed: 效率测试 / 多线程-多进程)"),
        format!(
            "serial {}, {parts} threads {}, {parts} processes {}",
            secs(serial),
            secs(threads),
            secs(procs)
        ),
        "without a GIL, threads and processes both use every core; processes add start-up cost",
    ));

    let v = Value::new(0u64).expect("value");
    let mut ps: Vec<_> = (0..4)
        .map(|_| {
            Process::builder().target(
                |v: Value<u64>| {
                    for _ in 0..10_000 {
                        v.with(|x| *x += 1)
                    }
                },
                v.clone(),
            )
        })
        .collect();
    for p in &mut ps {
        p.start().expect("start");
    }
    for p in &mut ps {
        p.join().expect("join");
    }
    out.push(Finding::new(
        "4 processes × 10,000 `v.value += 1` under v.get_lock() (seed: 数据共享)",
        format!("v = {}", v.get()),
        "a Value lives in shared memory; its lock makes each read-modify-write whole",
    ));

    let lock = Shared::new(Lock::new()).expect("lock");
    let held = Shared::new(Event::new()).expect("event");
    let mut p = Process::builder().target(
        |(l, held): (Shared<Lock>, Shared<Event>)| {
            l.acquire().leak();
            held.set();
            std::thread::sleep(Duration::from_secs(60));
        },
        (lock.clone(), held.clone()),
    );
    p.start().expect("start");
    held.wait();
    p.kill().expect("kill");
    let _ = p.join();
    let t0 = Instant::now();
    let died = matches!(lock.acquire_checked(), Err(OwnerDied(_)));
    out.push(Finding::new(
        "kill -9 a process holding a shared Lock, then acquire it (beyond Python)",
        format!(
            "next acquire: OwnerDied = {died}, after {}",
            ms(t0.elapsed())
        ),
        "CPython's lock stays locked forever; here the next acquirer gets the lock and is told",
    ));

    // SAFETY: the child only exits.
    let (pid, code) = match unsafe { fork() }.expect("fork") {
        Fork::Child => std::process::exit(3),
        Fork::Parent(pid) => (pid, waitpid(pid).expect("waitpid")),
    };
    out.push(Finding::new(
        "pid = os.fork(); if pid == 0: child (seed: 类UNIX系统)",
        format!("child {pid} took the pid == 0 branch and exited with {code}"),
        "fork returns twice: 0 in the child, the child's pid in the parent",
    ));
    out
}
