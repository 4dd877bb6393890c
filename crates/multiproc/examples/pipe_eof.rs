//! Seed: "管道 ... 需要关闭掉不用的所有端口,才会在recv处报错" — `recv` reports the end of the
//! pipe (Python's `EOFError`) only once every copy of the other end is closed, the parent's
//! own copy included: close the ends you do not use.
//!
//! `cargo run --example pipe_eof`

use multiproc::ConnectionError;
use multiproc::connection::{Connection, Pipe};
use multiproc::process::{Process, StartMethod};
use std::time::Duration;

fn producer(mut conn: Connection) {
    for i in 0..3u32 {
        conn.send(&i).expect("send");
    }
}

/// Returns (messages received, whether EOF showed while the parent still held its copy of the
/// child's end, whether EOF showed after closing it).
pub fn run(method: StartMethod) -> (Vec<u32>, bool, bool) {
    let (mut parent_conn, child_conn) = Pipe(true).expect("pipe");
    let mut p = Process::builder()
        .start_method(method)
        .target(producer, child_conn.try_clone().expect("clone"));
    p.start().expect("start");
    p.join().expect("join");
    let mut got = Vec::new();
    let mut eof_while_held = false;
    loop {
        // Without closing `child_conn`, recv would wait forever: poll with a timeout instead.
        if !parent_conn
            .poll_timeout(Duration::from_millis(200))
            .expect("poll")
        {
            break;
        }
        match parent_conn.recv::<u32>() {
            Ok(v) => got.push(v),
            Err(ConnectionError::Eof) => {
                eof_while_held = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    drop(child_conn); // close the end this process does not use
    let eof_after_close = matches!(parent_conn.recv::<u32>(), Err(ConnectionError::Eof));
    (got, eof_while_held, eof_after_close)
}

fn main() {
    let (got, held, closed) = run(multiproc::process::get_start_method());
    println!("received {got:?}; EOF while our copy was open: {held}; after closing it: {closed}");
}
