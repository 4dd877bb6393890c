//! Where a sequential `apply`'s tail comes from: windows of sequential `Pool(2).apply`
//! calls, each printed with its p50, p90 and p99 beside what every thread of ours did
//! during it, read from `/proc`: its sleeps (voluntary context switches), its other
//! switches, and the CPU it was last seen on. The caller, the pool's result handler and the
//! two workers; `docs/PERFORMANCE.md` ("where a sequential `apply`'s tail comes from") says
//! what it showed on a 2-vCPU VM.
//!
//! With a third argument it first places the threads on the first two CPUs: `same` puts
//! the caller and the handler on one and both workers on the other; `split` puts the caller
//! and the handler on different CPUs, with one worker beside each.
//!
//! `cargo run --release --example apply_placement [fork|forkserver|spawn] [windows] [same|split]`

use multiproc::pool::Pool;
use multiproc::process::{StartMethod, sched_getaffinity, sched_setaffinity};
use std::time::{Duration, Instant};

/// Applies per window.
const WINDOW: u64 = 30_000;

/// A trivial task.
fn ident(x: u64) -> u64 {
    x
}

/// A worker's initializer: it pins itself to `cpus[0]`, or for `split` to one of the two
/// by its pid's parity (so the two workers usually land one on each).
fn pin_worker((cpus, split): ([usize; 2], bool)) {
    let cpu = if split {
        cpus[std::process::id() as usize % 2]
    } else {
        cpus[0]
    };
    sched_setaffinity(&[cpu]).unwrap();
}

/// One thread's (or process's) counts at a moment.
struct Seen {
    /// Its `/proc` directory: what identifies it from one snapshot to the next.
    dir: String,
    name: String,
    /// A worker's pid (`None` for a thread of this process).
    pid: Option<u32>,
    sleeps: u64,
    switches: u64,
    cpu: String,
}

/// `/proc/<path>`'s context switches and last CPU; `None` once it is gone.
fn seen(name: String, pid: Option<u32>, dir: &str) -> Option<Seen> {
    let status = std::fs::read_to_string(format!("{dir}/status")).ok()?;
    let field = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    // `stat`'s field 39 (the 37th after the closing parenthesis of the name) is the CPU.
    let stat = std::fs::read_to_string(format!("{dir}/stat")).ok()?;
    let cpu = stat
        .rsplit(')')
        .next()
        .and_then(|rest| rest.split_whitespace().nth(36))
        .unwrap_or("?")
        .to_string();
    Some(Seen {
        dir: dir.to_string(),
        name,
        pid,
        sleeps: field("voluntary_ctxt_switches"),
        switches: field("nonvoluntary_ctxt_switches"),
        cpu,
    })
}

/// The caller and the pool's threads (this process), and the workers.
fn snapshot(pool: &Pool) -> Vec<Seen> {
    let me = std::process::id();
    let mut all = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{me}/task")) {
        for t in tasks.flatten() {
            let dir = t.path().display().to_string();
            let name = std::fs::read_to_string(format!("{dir}/comm")).unwrap_or_default();
            all.extend(seen(name.trim().to_string(), None, &dir));
        }
    }
    for pid in pool.pids() {
        all.extend(seen(
            format!("worker {pid}"),
            Some(pid),
            &format!("/proc/{pid}"),
        ));
    }
    all
}

fn main() {
    let method = match std::env::args().nth(1).as_deref() {
        Some("forkserver") => StartMethod::Forkserver,
        Some("spawn") => StartMethod::Spawn,
        _ => StartMethod::Fork,
    };
    let windows: usize = std::env::args()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or(6);
    let plan = std::env::args().nth(3);
    let cpus = sched_getaffinity().unwrap();
    let builder = Pool::builder().processes(2).start_method(method);
    let pool = match plan.as_deref() {
        Some(plan @ ("same" | "split")) if cpus.len() >= 2 => {
            let split = plan == "split";
            let (caller, handler) = (cpus[0], if split { cpus[1] } else { cpus[0] });
            let workers = if split {
                [cpus[0], cpus[1]]
            } else {
                [cpus[1]; 2]
            };
            // The pool's threads inherit the creating thread's CPUs: the handler goes where
            // the caller is now; the caller moves afterwards.
            sched_setaffinity(&[handler]).unwrap();
            let pool = builder
                .initializer(pin_worker, (workers, split))
                .build()
                .unwrap();
            sched_setaffinity(&[caller]).unwrap();
            println!("placed ({plan}): caller on CPU {caller}, handler on CPU {handler}");
            pool
        }
        Some(other) => panic!("{other}: `same` or `split`, on a machine with 2 CPUs or more"),
        None => builder.build().unwrap(),
    };
    for i in 0..1_000 {
        pool.apply(ident, i).unwrap();
    }
    println!("{method}: {windows} windows of {WINDOW} sequential applies");
    for _ in 0..windows {
        let before = snapshot(&pool);
        let tasks_before = pool.stats().workers;
        let mut lat: Vec<Duration> = (0..WINDOW)
            .map(|i| {
                let t = Instant::now();
                pool.apply(ident, i).unwrap();
                t.elapsed()
            })
            .collect();
        let after = snapshot(&pool);
        let tasks_after = pool.stats().workers;
        lat.sort();
        let q = |f: f64| lat[((lat.len() as f64 * f) as usize).min(lat.len() - 1)];
        print!(
            "p50 {:>9.1?} p90 {:>9.1?} p99 {:>9.1?} |",
            q(0.5),
            q(0.9),
            q(0.99)
        );
        for a in &after {
            let Some(b) = before.iter().find(|b| b.dir == a.dir) else {
                continue;
            };
            let (sleeps, switches) = (a.sleeps - b.sleeps, a.switches - b.switches);
            // Threads that did nothing in the window (the feeder, the watcher) are left out.
            if sleeps + switches > 50 {
                print!(
                    "  {} cpu{}: {sleeps} sleeps, {switches} switches",
                    a.name, a.cpu
                );
                // A worker's share of the window's tasks.
                if let Some(pid) = a.pid {
                    let tasks = |all: &[(usize, u32, multiproc::pool::WorkerStats)]| {
                        all.iter().find(|w| w.1 == pid).map_or(0, |w| w.2.tasks)
                    };
                    print!(", {} tasks", tasks(&tasks_after) - tasks(&tasks_before));
                }
            }
        }
        println!();
    }
}
