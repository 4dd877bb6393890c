//! Seed: "队列Queue ... 进程之间的数据安全--进程安全" — one `Queue` shared by several producer
//! and consumer processes; every item is delivered exactly once, whatever the interleaving.
//!
//! `cargo run --example queue_producers_consumers`

use multiproc::process::{JoinableQueue, Process, StartMethod};

/// A producer: puts `n` items `(producer, i)`.
fn producer((q, id, n): (JoinableQueue<(u32, u32)>, u32, u32)) {
    for i in 0..n {
        q.put((id, i)).expect("put");
    }
}

/// A consumer: takes items until `None`-like `(u32::MAX, _)`, returns how many it took and
/// their sum of `i`s.
fn consumer(q: JoinableQueue<(u32, u32)>) -> (u64, u64) {
    let (mut n, mut sum) = (0, 0);
    loop {
        let (id, i) = q.get().expect("get");
        q.task_done().expect("task_done");
        if id == u32::MAX {
            return (n, sum);
        }
        n += 1;
        sum += i as u64;
    }
}

/// Runs `producers` producers of `n` items each and `consumers` consumers; returns each
/// consumer's `(count, sum)`.
pub fn run(method: StartMethod, producers: u32, consumers: u32, n: u32) -> Vec<(u64, u64)> {
    let q = JoinableQueue::new(16).expect("queue");
    let mut cs: Vec<_> = (0..consumers)
        .map(|_| {
            let mut p = Process::builder()
                .start_method(method)
                .target(consumer, q.clone());
            p.start().expect("start");
            p
        })
        .collect();
    let mut ps: Vec<_> = (0..producers)
        .map(|id| {
            let mut p = Process::builder()
                .start_method(method)
                .target(producer, (q.clone(), id, n));
            p.start().expect("start");
            p
        })
        .collect();
    for p in &mut ps {
        p.join().expect("producer");
    }
    q.join(); // every item taken and marked done
    for _ in 0..consumers {
        q.put((u32::MAX, 0)).expect("put");
    }
    cs.iter_mut().map(|p| p.join().expect("consumer")).collect()
}

fn main() {
    let got = run(multiproc::process::get_start_method(), 3, 2, 10_000);
    for (k, (n, sum)) in got.iter().enumerate() {
        println!("consumer {k}: {n} items, sum of indices {sum}");
    }
    let total: u64 = got.iter().map(|(n, _)| n).sum();
    println!("total {total} items (3 producers x 10000)");
}
