//! The floor every round-trip benchmark is compared with: a raw socketpair ping-pong, one
//! byte each way, with a forked echo process. Shared by the benches that quote it.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use criterion::BenchmarkGroup;
use criterion::measurement::WallTime;
use multiproc::process::Process;

/// Adds the raw ping-pong to `g`.
pub fn raw_socketpair(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.bench_function("raw socketpair ping-pong (1 byte)", |b| {
        let (mut ours, theirs) = UnixStream::pair().unwrap();
        let mut p = Process::builder().fork_target(move || {
            let mut theirs = theirs;
            let mut byte = [0u8; 1];
            while theirs.read_exact(&mut byte).is_ok() && byte[0] != 0 {
                if theirs.write_all(&byte).is_err() {
                    break;
                }
            }
        });
        p.start().unwrap();
        let mut byte = [1u8; 1];
        b.iter(|| {
            ours.write_all(&byte).unwrap();
            ours.read_exact(&mut byte).unwrap();
        });
        ours.write_all(&[0]).unwrap();
        let _ = p.join();
    });
}
