//! The IPC experiments: the seed's Pipe between processes, the close-the-unused-end lesson,
//! and live Pipe rates.

use std::time::Instant;

use multiproc::connection::{Connection, Pipe};
use multiproc::process::{Process, StartMethod};

use super::Finding;

#[allow(dead_code)]
#[path = "../../../multiproc/examples/pipe.rs"]
mod pipe;
#[allow(dead_code)]
#[path = "../../../multiproc/examples/pipe_eof.rs"]
mod pipe_eof;

fn echo(mut conn: Connection) {
    while let Ok(b) = conn.recv_bytes() {
        if conn.send_bytes(&b).is_err() {
            break;
        }
    }
}

pub fn run() -> Vec<Finding> {
    let mut out = Vec::new();
    let msg = pipe::run(StartMethod::Forkserver);
    out.push(Finding::new(
        "parent_conn, child_conn = Pipe(); the child sends a list (seed: 管道(Pipes))",
        format!("the parent received {msg:?}"),
        "a Pipe carries typed messages between processes",
    ));
    let (got, held, closed) = pipe_eof::run(StartMethod::Forkserver);
    out.push(Finding::new(
        "recv after the child exits, before and after closing our copy of its end (seed: 管道)",
        format!(
            "received {got:?}; EOF while our copy was open: {held}; after closing it: {closed}"
        ),
        "close the ends you do not use, or recv never sees the end of the pipe",
    ));

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
    out.push(Finding::new(
        "Pipe between two processes: small-message round trip, and 1 MiB messages echoed",
        format!(
            "round trip {:.1} µs; 1 MiB messages at {rate:.2} GiB/s (both directions)",
            rtt.as_secs_f64() * 1e6
        ),
        "a Pipe is a socket pair: one system call per message each way",
    ));
    out
}
