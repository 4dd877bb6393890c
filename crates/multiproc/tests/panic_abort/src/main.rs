//! Starts a child that panics, with each start method, and prints what `join` said, one line
//! per method, for `tests/panic_abort.rs` to check.

use multiproc::ProcessError;
use multiproc::process::{Process, StartMethod};

fn boom(x: u32) -> u32 {
    if x > 0 {
        panic!("boom {x}");
    }
    x
}

fn main() {
    for m in [
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::Forkserver,
    ] {
        let mut p = Process::builder().start_method(m).target(boom, 7);
        p.start().unwrap();
        match p.join() {
            Err(ProcessError::Panicked(panic)) => println!(
                "{m}: panicked aborted={} message={:?} location={:?} exitcode={:?}",
                panic.aborted,
                panic.message,
                panic.location,
                p.exitcode()
            ),
            other => println!("{m}: {other:?}"),
        }
    }
}
