//! Seed: "数据共享(Managers)" — ten child processes share a `Manager().dict()` and a
//! `Manager().list()`: each sets `Dict['k1']`, `Dict['k2']` and appends its pid to the list,
//! then prints the list so far; the parent prints both at the end. And the trap Python
//! leaves open, shut: `d['hits'] += 1` from ten processes loses updates there; `d.add` does
//! not.
//!
//! `cargo run --example manager_dict_list`

use multiproc::manager::{DictProxy, ListProxy, Manager};
use multiproc::process::{Process, StartMethod, current_process, get_context};

fn child_process((dict, list, quiet): (DictProxy<String, String>, ListProxy<u32>, bool)) {
    dict.insert("k1".into(), "v1".into()).expect("insert");
    dict.insert("k2".into(), "v2".into()).expect("insert");
    list.append(current_process().pid).expect("append");
    if !quiet {
        println!("{:?}", list.to_vec().expect("list"));
    }
}

fn count_hits(hits: DictProxy<String, u64>) {
    for _ in 0..100 {
        hits.add("hits".into(), 1).expect("add");
    }
}

/// What the seed ends with: the dict's items, the list, the children's pids, and the hits
/// counted by ten processes.
pub type Outcome = (Vec<(String, String)>, Vec<u32>, Vec<u32>, u64);

/// Runs the seed with `method`.
pub fn run(method: StartMethod, quiet: bool) -> Outcome {
    let manager = Manager::builder()
        .context(get_context(Some(method)))
        .start()
        .expect("manager");
    let dict = manager.dict::<String, String>().expect("dict");
    let list = manager.list::<u32>().expect("list");
    let ctx = get_context(Some(method));
    let mut children: Vec<Process> = (0..10)
        .map(|_| {
            ctx.process()
                .target(child_process, (dict.clone(), list.clone(), quiet))
        })
        .collect();
    for p in &mut children {
        p.start().expect("start");
    }
    let pids = children.iter().filter_map(Process::pid).collect();
    for p in &mut children {
        p.join().expect("join");
    }
    // Ten processes x 100 atomic increments.
    let hits = manager.dict::<String, u64>().expect("dict");
    let mut counters: Vec<Process> = (0..10)
        .map(|_| ctx.process().target(count_hits, hits.clone()))
        .collect();
    for p in &mut counters {
        p.start().expect("start");
    }
    for p in &mut counters {
        p.join().expect("join");
    }
    let total = hits.get(&"hits".into()).expect("get").unwrap_or(0);
    (
        dict.items().expect("items"),
        list.to_vec().expect("list"),
        pids,
        total,
    )
}

fn main() {
    let (dict, list, _, hits) = run(multiproc::process::get_start_method(), false);
    println!("\n");
    println!("{dict:?}");
    println!("{list:?}");
    println!("hits from 10 processes x 100 increments: {hits}");
}
