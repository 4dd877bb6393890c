//! Seed: "管道(Pipes)" — `parent_conn, child_conn = Pipe()`; the child sends
//! `['Hello', None, 'World']` and closes its end; the parent receives it.
//!
//! `cargo run --example pipe`

use multiproc::connection::{Connection, Pipe};
use multiproc::process::{Process, StartMethod};

fn child_process(mut conn: Connection) {
    conn.send(&("Hello", Option::<()>::None, "World"))
        .expect("send");
    conn.close();
}

/// Runs the seed; returns what the parent received.
pub fn run(method: StartMethod) -> (String, Option<()>, String) {
    let (mut parent_conn, child_conn) = Pipe(true).expect("pipe");
    let mut p = Process::builder()
        .start_method(method)
        .target(child_process, child_conn);
    p.start().expect("start");
    let msg = parent_conn.recv().expect("recv");
    p.join().expect("join");
    msg
}

fn main() {
    println!("{:?}", run(multiproc::process::get_start_method()));
}
