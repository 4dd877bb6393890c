//! Seed: "进程 Queue" — a child puts `['Hello', None, 'World']` on a `Queue` passed as its
//! argument ("相当于克隆了一份Queue": the handle is cloned, the queue is the same); the parent
//! gets it.
//!
//! `cargo run --example queue_list`

use multiproc::process::{Process, Queue, StartMethod};

type Item = (String, Option<()>, String);

fn child_process(q: Queue<Item>) {
    q.put(("Hello".into(), None, "World".into())).expect("put");
}

/// Runs the seed; returns what the parent got.
pub fn run(method: StartMethod) -> Item {
    let q: Queue<Item> = Queue::new(0).expect("queue");
    let mut p = Process::builder()
        .start_method(method)
        .target(child_process, q.clone());
    p.start().expect("start");
    let got = q.get().expect("get");
    p.join().expect("join");
    got
}

fn main() {
    println!("{:?}", run(multiproc::process::get_start_method()));
}
