//! [`RedisServer`]: a throwaway `redis-server` (Debian's package, or any on the `PATH`)
//! on a free loopback port with a temporary data directory, stopped by its pid when
//! dropped: for tests, demos (`multiproc tour`'s remote section) and trying things out.
//!
//! ```no_run
//! use multiproc::remote::{self, RedisServer};
//!
//! let server = RedisServer::start().unwrap();
//! let r = remote::connect(&server.url(), "try").unwrap();
//! r.list::<u32>("l").unwrap().append(1).unwrap();
//! ```

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server` of this process (see the module docs).
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    aof: bool,
    extra: Vec<String>,
}

fn free_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

impl RedisServer {
    /// Starts one without persistence; an error if `redis-server` cannot be run (not
    /// installed: `apt-get install -y redis-server`) or does not answer within 20 s.
    pub fn start() -> std::io::Result<RedisServer> {
        RedisServer::start_with(false)
    }

    /// Starts one; with `aof`, append-only persistence (`appendfsync everysec`).
    pub fn start_with(aof: bool) -> std::io::Result<RedisServer> {
        RedisServer::start_with_args(aof, &[])
    }

    /// As [`start_with`](Self::start_with), with more `redis-server` arguments (`--user
    /// alice on >secret ~* +@all`, `--requirepass`, ...).
    pub fn start_with_args(aof: bool, args: &[&str]) -> std::io::Result<RedisServer> {
        let port = free_port()?;
        let dir = std::env::temp_dir().join(format!(
            "multiproc-redis-{}-{port}-{:x}",
            std::process::id(),
            super::redis_backend::random_u128() as u32
        ));
        std::fs::create_dir_all(&dir)?;
        let mut s = RedisServer {
            child: None,
            port,
            dir,
            aof,
            extra: args.iter().map(|a| a.to_string()).collect(),
        };
        s.spawn()?;
        Ok(s)
    }

    /// Whether `redis-server` is on the `PATH`.
    pub fn available() -> bool {
        Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--save", ""])
            .args(["--appendonly", if self.aof { "yes" } else { "no" }])
            .args(["--appendfsync", "everysec", "--daemonize", "no"])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot run redis-server ({e}): apt-get install -y redis-server"),
                )
            })?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                use std::io::{Read, Write};
                let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                let mut buf = [0u8; 64];
                // Answering: a PONG, or a refusal of a client that has not logged in.
                if s.write_all(b"PING\r\n").is_ok()
                    && s.read(&mut buf).is_ok_and(|n| {
                        buf[..n].starts_with(b"+PONG") || buf[..n].starts_with(b"-NOAUTH")
                    })
                {
                    return Ok(());
                }
            }
            // Polling a starting server (its own process: nothing to wait on but its port).
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill();
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "redis-server on port {} did not answer within 20 s",
                self.port
            ),
        ))
    }

    /// `redis://127.0.0.1:port/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its pid (0 after [`kill`](Self::kill)).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// `kill -9`, and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `kill -9`, then starts it again on the same port and directory (with AOF, with the
    /// data it had written).
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.kill();
        self.spawn()
    }
}

impl Drop for RedisServer {
    /// `kill -9` (a stopped server dies too), reaps it, removes its directory.
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
