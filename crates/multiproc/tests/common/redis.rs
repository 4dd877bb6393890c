//! A real `redis-server` (Debian's package) for the remote tests: started on a free
//! loopback port with a temporary data directory, stopped by its pid. A machine without
//! `redis-server` fails the test loudly: `.ci/run` installs it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    aof: bool,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().unwrap().port()
}

impl RedisServer {
    /// Starts one without persistence.
    pub fn start() -> RedisServer {
        RedisServer::start_with(false)
    }

    /// Starts one; with `aof`, append-only persistence (`appendfsync everysec`).
    pub fn start_with(aof: bool) -> RedisServer {
        let dir = std::env::temp_dir().join(format!(
            "multiproc-redis-{}-{:x}",
            std::process::id(),
            Instant::now().elapsed().as_nanos() ^ (free_port() as u128) << 20
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut s = RedisServer {
            child: None,
            port: free_port(),
            dir,
            aof,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", self.dir.to_str().unwrap(), "--save", ""])
            .args(["--appendonly", if self.aof { "yes" } else { "no" }])
            .args(["--appendfsync", "everysec", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}): install it (apt-get install -y redis-server)"
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                use std::io::{Read, Write};
                let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                let mut buf = [0u8; 64];
                if s.write_all(b"PING\r\n").is_ok()
                    && s.read(&mut buf)
                        .is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
                {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!(
            "redis-server on port {} did not answer within 20 s",
            self.port
        );
    }

    /// `redis://127.0.0.1:port/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends `sig` to it.
    pub fn signal(&self, sig: i32) {
        // SAFETY: a signal to the server this test started (unreaped: no pid reuse).
        assert_eq!(unsafe { libc::kill(self.pid() as i32, sig) }, 0);
    }

    /// `kill -9`, and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and directory (after [`kill`](Self::kill)).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(c) = &self.child {
            // SAFETY: as in `signal`; SIGCONT in case a test left it stopped.
            unsafe { libc::kill(c.id() as i32, libc::SIGCONT) };
        }
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
