//! Two tutorials' examples, beyond one machine: the same shapes, with the objects on a
//! Redis server and the pool's workers in separate processes started from the command line.
//!
//! - "数据共享(Managers)": ten processes share a dict and a list; each sets `Dict['k1']`,
//!   `Dict['k2']` and appends its pid; the parent prints both at the end.
//! - "进程池": `Pool(5)` with ten `apply_async(myFun, (i,), callback=end_call)`; the
//!   callbacks run in the parent. Here the pool's five slots are two workers (three and two
//!   slots), each its own process, as `multiproc worker` would be on other machines.
//!
//! ```text
//! redis-server --port 6390 --save '' &
//! cargo run --example remote_seeds -- redis://127.0.0.1:6390/0
//! ```
//!
//! The workers are this program again (`remote_seeds worker --redis URL --namespace NS`):
//! a worker runs only tasks of its own build.

use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use multiproc::pool::TaskOptions;
use multiproc::process::{Process, current_process};
use multiproc::remote::{self, Dict, List};

fn child_process((dict, list): (Dict<String, String>, List<u32>)) {
    dict.insert("k1".into(), "v1".into()).expect("insert");
    dict.insert("k2".into(), "v2".into()).expect("insert");
    list.append(current_process().pid).expect("append");
}

/// The seed's `myFun`: sleeps, then returns `i + 100` (and, here, the worker's pid).
pub fn my_fun((i, ms): (u64, u64)) -> (u64, u32) {
    std::thread::sleep(Duration::from_millis(ms));
    (i + 100, std::process::id())
}

/// What the two examples showed.
#[derive(Debug)]
pub struct Outcome {
    /// The shared dict's items at the end.
    pub dict: Vec<(String, String)>,
    /// The shared list: the ten children's pids.
    pub list: Vec<u32>,
    /// What `end_call` received, in the order the results came.
    pub callbacks: Vec<u64>,
    /// The process each `end_call` ran in.
    pub callback_pids: Vec<u32>,
    /// This (the parent) process.
    pub parent: u32,
    /// The worker processes that ran the tasks.
    pub worker_pids: Vec<u32>,
    /// From the first `apply_async` to the end of `join`.
    pub elapsed: Duration,
}

/// Starts a worker process for `url`/`namespace` with `slots` slots: this program again
/// (its `worker` mode), or the `multiproc` command, whose arguments are the same.
pub fn spawn_worker(url: &str, namespace: &str, slots: usize) -> Child {
    Command::new(std::env::current_exe().expect("current_exe"))
        .args(["worker", "--redis", url, "--namespace", namespace])
        .args(["--concurrency", &slots.to_string()])
        .spawn()
        .expect("start a worker")
}

/// Runs both examples against `url` in `namespace`, with tasks of `work`.
pub fn run(url: &str, namespace: &str, work: Duration, print: bool) -> Outcome {
    let r = remote::connect(url, namespace).expect("connect");
    r.delete("shared").expect("delete");
    r.delete("pids").expect("delete");

    // 数据共享: ten processes, one dict and one list.
    let dict = r.dict::<String, String>("shared").expect("dict");
    let list = r.list::<u32>("pids").expect("list");
    let mut children: Vec<Process> = (0..10)
        .map(|_| Process::new(child_process, (dict.clone(), list.clone())))
        .collect();
    for p in &mut children {
        p.start().expect("start");
    }
    for p in &mut children {
        p.join().expect("join");
    }
    let mut items = dict.items().expect("items");
    items.sort();
    if print {
        println!("{items:?}");
        println!("{:?}", list.to_vec().expect("list"));
    }

    // 进程池: two workers (3 + 2 slots), ten apply_async with a callback.
    let mut workers = [
        spawn_worker(url, namespace, 3),
        spawn_worker(url, namespace, 2),
    ];
    let pool = r.pool().expect("pool");
    let seen = Arc::new(Mutex::new((Vec::new(), Vec::new())));
    let ran_on = Arc::new(Mutex::new(Vec::new()));
    let t0 = Instant::now();
    for i in 0..10 {
        let (seen, ran_on) = (seen.clone(), ran_on.clone());
        let end_call = move |&(arg, worker): &(u64, u32)| {
            if print {
                println!("end_call>> {arg} (ran in worker {worker})");
            }
            let mut s = seen.lock().unwrap();
            s.0.push(arg);
            s.1.push(std::process::id());
            ran_on.lock().unwrap().push(worker);
        };
        pool.apply_async_with(
            my_fun,
            (i, work.as_millis() as u64),
            TaskOptions::new().callback(end_call),
        )
        .expect("apply_async");
    }
    if print {
        println!("end");
    }
    pool.close();
    pool.join().expect("join");
    let elapsed = t0.elapsed();
    r.stop_workers().expect("stop workers");
    for w in &mut workers {
        let _ = w.wait();
    }
    let (callbacks, callback_pids) = seen.lock().unwrap().clone();
    let mut worker_pids = ran_on.lock().unwrap().clone();
    worker_pids.sort();
    worker_pids.dedup();
    Outcome {
        dict: items,
        list: list.to_vec().expect("list"),
        callbacks,
        callback_pids,
        parent: std::process::id(),
        worker_pids,
        elapsed,
    }
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("worker") {
        remote::worker_main();
    }
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "redis://127.0.0.1:6379/0".to_string());
    let o = run(&url, "remote-seeds", Duration::from_millis(500), true);
    println!(
        "10 tasks of 0.5 s on 5 slots in 2 worker processes {:?}: {:.2} s",
        o.worker_pids,
        o.elapsed.as_secs_f64()
    );
}
