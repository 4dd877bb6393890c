//! The remote tests' `redis-server`: the library's [`RedisServer`], started per test on a
//! free loopback port, and signals to it. A machine without `redis-server` fails the test
//! loudly: `.ci/run` installs it.
#![allow(dead_code)]

pub use multiproc::remote::RedisServer;

/// Starts a server or fails the test saying why.
pub fn start(aof: bool) -> RedisServer {
    RedisServer::start_with(aof).unwrap_or_else(|e| panic!("{e}"))
}

/// Sends `sig` to the server.
pub fn signal(s: &RedisServer, sig: i32) {
    // SAFETY: a signal to the server this test started (unreaped: no pid reuse).
    assert_eq!(unsafe { libc::kill(s.pid() as i32, sig) }, 0);
}
