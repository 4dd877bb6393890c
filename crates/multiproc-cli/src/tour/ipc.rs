//! The IPC experiments: the seed's Pipe between processes, the close-the-unused-end lesson,
//! the seed's Queues (a child's list, `Queue(3)`, producers and consumers), the seed's
//! Manager dict and list shared by ten processes, and live Pipe, Manager and Queue rates.

use std::time::Instant;

use multiproc::connection::{Connection, Pipe};
use multiproc::process::{Process, Queue, StartMethod};

use super::Tour;

#[allow(dead_code)]
#[path = "../../../multiproc/examples/manager_dict_list.rs"]
mod manager_dict_list;
#[allow(dead_code)]
#[path = "../../../multiproc/examples/pipe.rs"]
mod pipe;
#[allow(dead_code)]
#[path = "../../../multiproc/examples/pipe_eof.rs"]
mod pipe_eof;
#[allow(dead_code)]
#[path = "../../../multiproc/examples/queue_list.rs"]
mod queue_list;
#[allow(dead_code)]
#[path = "../../../multiproc/examples/queue_producers_consumers.rs"]
mod queue_producers_consumers;
#[allow(dead_code)]
#[path = "../../../multiproc/examples/queue_three.rs"]
mod queue_three;

fn echo(mut conn: Connection) {
    while let Ok(b) = conn.recv_bytes() {
        if conn.send_bytes(&b).is_err() {
            break;
        }
    }
}

pub fn run(t: &mut Tour) {
    t.start(
        "parent_conn, child_conn = Pipe(); the child sends a list",
        "管道(Pipes)",
    );
    let msg = pipe::run(StartMethod::Forkserver);
    t.done(
        format!("the parent received {msg:?}"),
        "a Pipe carries typed messages between processes",
    );
    t.start(
        "recv after the child exits, before and after closing our copy of its end",
        "管道",
    );
    let (got, held, closed) = pipe_eof::run(StartMethod::Forkserver);
    t.done(
        format!(
            "received {got:?}; EOF while our copy was open: {held}; after closing it: {closed}"
        ),
        "close the ends you do not use, or recv never sees the end of the pipe",
    );

    t.start(
        "Pipe speed between two processes: small-message round trip, and 1 MiB messages echoed",
        "",
    );
    let (mut a, b) = Pipe(true).expect("pipe");
    let mut p = Process::builder()
        .start_method(StartMethod::Forkserver)
        .target(echo, b);
    p.start().expect("start");
    let n = 20_000;
    let t0 = Instant::now();
    for _ in 0..n {
        a.send_bytes(b"ping").expect("send");
        a.recv_bytes().expect("recv");
    }
    let rtt = t0.elapsed() / n;
    let block = vec![7u8; 1 << 20];
    let blocks = 200;
    let t0 = Instant::now();
    for _ in 0..blocks {
        a.send_bytes(&block).expect("send");
        a.recv_bytes().expect("recv");
    }
    let rate = (2.0 * blocks as f64) / t0.elapsed().as_secs_f64() / 1024.0;
    a.close();
    let _ = p.join();
    t.done(
        format!(
            "round trip {:.1} µs; 1 MiB messages at {rate:.2} GiB/s (both directions)",
            rtt.as_secs_f64() * 1e6
        ),
        "a Pipe is a socket pair: one system call per message each way",
    );

    t.start(
        "q = Queue(); a child puts a list, the parent gets it",
        "进程 Queue",
    );
    let item = queue_list::run(StartMethod::Forkserver);
    t.done(
        format!("the parent got {item:?}"),
        "the Queue handle is cloned into the child; the queue itself is one shared ring",
    );
    t.start(
        "q = Queue(3): qsize, put, get, get_nowait on empty, full, put_nowait",
        "进程间通讯",
    );
    t.done(
        queue_three::run().join("; "),
        "get_nowait never blocks: on an empty queue it is Empty, where get would wait",
    );
    t.start(
        "3 producer and 2 consumer processes on one JoinableQueue(16)",
        "队列 ... 进程安全",
    );
    let per = 20_000;
    let got = queue_producers_consumers::run(StartMethod::Forkserver, 3, 2, per);
    let total: u64 = got.iter().map(|(n, _)| n).sum();
    t.done(
        format!(
            "consumers took {:?} items: {total} in all, of {}",
            got.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            3 * per
        ),
        "each item goes to exactly one consumer, whatever the interleaving",
    );

    t.start(
        "Manager(): ten processes share a dict and a list; then d['hits'] += 1, 10 x 100 times",
        "数据共享(Managers)",
    );
    let (dict, list, mut pids, hits) = manager_dict_list::run(StartMethod::Forkserver, true);
    let mut sorted = list.clone();
    sorted.sort_unstable();
    pids.sort_unstable();
    t.done(
        format!(
            "dict {dict:?}; the list holds {} pids, each child's once: {}; hits = {hits} of 1000",
            list.len(),
            sorted == pids
        ),
        "a manager process serves the objects; add() runs on the server, so no increment is lost (Python's += loses them)",
    );
    t.start("Manager dict speed: d[k] = v from this process", "");
    let m = multiproc::manager::Manager::start().expect("manager");
    let d = m.dict::<u64, u64>().expect("dict");
    let n = 20_000u64;
    let t0 = Instant::now();
    for i in 0..n {
        d.insert(i & 1023, i).expect("insert");
    }
    let op = t0.elapsed() / n as u32;
    t.done(
        format!("{:.2} µs per operation", op.as_secs_f64() * 1e6),
        "a shared-memory channel per client on one machine (CPython's manager: about 60 µs here)",
    );

    t.start(
        "Queue speed between two processes: 8-byte items, and 1 MiB items",
        "",
    );
    let (small, mib) = queue_rates();
    t.done(
        format!(
            "{:.1} M items/s; 1 MiB items at {mib:.2} GiB/s",
            small / 1e6
        ),
        "a shared-memory ring: no system call per message, no feeder thread",
    );
}

fn drain_u64((q, ack): (Queue<u64>, Queue<u64>)) {
    while let Ok(x) = q.get() {
        if x == u64::MAX {
            ack.put(0).expect("ack");
            return;
        }
    }
}

fn drain_bytes((q, ack): (Queue<Vec<u8>>, Queue<u64>)) {
    while let Ok(m) = q.get() {
        if m.is_empty() {
            ack.put(0).expect("ack");
            return;
        }
    }
}

/// Items per second (8-byte items) and GiB/s (1 MiB items), producer here, consumer in a
/// child.
fn queue_rates() -> (f64, f64) {
    let q: Queue<u64> = Queue::new(0).expect("queue");
    let ack: Queue<u64> = Queue::new(0).expect("queue");
    let mut p = Process::builder()
        .start_method(StartMethod::Forkserver)
        .target(drain_u64, (q.clone(), ack.clone()));
    p.start().expect("start");
    let n = 2_000_000;
    let t0 = Instant::now();
    for i in 0..n {
        q.put(i).expect("put");
    }
    q.put(u64::MAX).expect("put");
    ack.get().expect("ack");
    let small = n as f64 / t0.elapsed().as_secs_f64();
    let _ = p.join();

    let q: Queue<Vec<u8>> = Queue::new(0).expect("queue");
    let mut p = Process::builder()
        .start_method(StartMethod::Forkserver)
        .target(drain_bytes, (q.clone(), ack.clone()));
    p.start().expect("start");
    let block = vec![7u8; 1 << 20];
    let blocks = 1000;
    let t0 = Instant::now();
    for _ in 0..blocks {
        q.put(block.clone()).expect("put");
    }
    q.put(Vec::new()).expect("put");
    ack.get().expect("ack");
    let mib = blocks as f64 / t0.elapsed().as_secs_f64() / 1024.0;
    let _ = p.join();
    (small, mib)
}
