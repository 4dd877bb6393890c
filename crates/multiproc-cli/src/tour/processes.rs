//! The process experiments: start methods, CPU-bound work over processes vs threads, shared
//! memory, a lock whose holder is killed, and `os.fork`.

use std::time::{Duration, Instant};

use multiproc::OwnerDied;
use multiproc::process::{self, Fork, Process, StartMethod, fork, waitpid};
use multiproc::shared::{Shared, Value};
use multiproc::sync::{Event, Lock};

use super::{Tour, secs};

#[allow(dead_code)]
#[path = "../../../multiproc/examples/cpu_bound.rs"]
mod cpu_bound;

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

pub fn run(t: &mut Tour) {
    t.start(
        "Start and join a process, per start method: Process(target, args).start(); join()",
        "进程的实现",
    );

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
    t.done(
        per_method.join(", "),
        "fork copies this process; forkserver forks a small clean server; spawn re-runs the binary",
    );

    let n = 300_000_000;
    let parts = process::cpu_count().max(2) as u64;
    t.start(
        &format!("CPU-bound: the sum of squares below {n}, serial, then split {parts} ways over threads and over processes"),
        "效率测试 / 多线程-多进程",
    );
    let (r0, serial) = cpu_bound::serial(n);
    let (r1, threads) = cpu_bound::threads(n, parts);
    let (r2, procs) = cpu_bound::processes(n, parts, StartMethod::Forkserver);
    assert!(r0 == r1 && r1 == r2);
    t.done(
        format!(
            "serial {}, {parts} threads {}, {parts} processes {}",
            secs(serial),
            secs(threads),
            secs(procs)
        ),
        "without a GIL, threads and processes both use every core; processes add start-up cost",
    );

    t.start(
        "Shared memory: 4 processes × 10,000 `v.value += 1` under v.get_lock()",
        "数据共享",
    );
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
    t.done(
        format!("v = {}", v.get()),
        "a Value lives in shared memory; its lock makes each read-modify-write whole",
    );

    t.start(
        "Kill -9 a process holding a shared Lock, then acquire it (beyond Python)",
        "",
    );
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
    t.done(
        format!(
            "next acquire: OwnerDied = {died}, after {}",
            ms(t0.elapsed())
        ),
        "CPython's lock stays locked forever; here the next acquirer gets the lock and is told",
    );

    t.start(
        "Fork: pid = os.fork(); the child takes the pid == 0 branch",
        "类UNIX系统",
    );
    // SAFETY: the child only exits.
    let (pid, code) = match unsafe { fork() }.expect("fork") {
        Fork::Child => std::process::exit(3),
        Fork::Parent(pid) => (pid, waitpid(pid).expect("waitpid")),
    };
    t.done(
        format!("child {pid} took the pid == 0 branch and exited with {code}"),
        "fork returns twice: 0 in the child, the child's pid in the parent",
    );
}
