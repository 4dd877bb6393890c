//! Seed: "进程间通讯 ... Queue为堵塞的" — `q = Queue(3)`, `qsize()` 0, `put('num1')`,
//! `qsize()` 1, `get()` returns `num1`, and `get_nowait()` on the empty queue raises
//! (`queue.Empty`) where `get()` would block. Also the seed's other list: `full`, `empty`,
//! `put_nowait`.
//!
//! `cargo run --example queue_three`

use multiproc::GetError;
use multiproc::PutError;
use multiproc::process::Queue;

/// What the seed prints, line by line.
pub fn run() -> Vec<String> {
    let mut out = Vec::new();
    let q: Queue<String> = Queue::new(3).expect("queue");
    out.push(format!("q.qsize() -> {}", q.qsize()));
    q.put("num1".into()).expect("put");
    out.push(format!("q.qsize() -> {}", q.qsize()));
    out.push(format!("q.get() -> {}", q.get().expect("get")));
    match q.get_nowait() {
        Err(GetError::Empty) => out.push("q.get_nowait() -> Empty (would block)".into()),
        other => out.push(format!("q.get_nowait() -> {other:?}")),
    }
    for n in ["a", "b", "c"] {
        q.put(n.into()).expect("put");
    }
    out.push(format!("q.full() -> {}", q.full()));
    match q.put_nowait("d".into()) {
        Err(PutError::Full(item)) => out.push(format!("q.put_nowait({item:?}) -> Full")),
        other => out.push(format!("q.put_nowait -> {other:?}")),
    }
    while !q.empty() {
        q.get().expect("get");
    }
    out.push(format!("q.empty() -> {}", q.empty()));
    out
}

fn main() {
    for line in run() {
        println!("{line}");
    }
}
