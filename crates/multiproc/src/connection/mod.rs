//! Connections between processes (≈ `multiprocessing.Pipe` and `multiprocessing.connection`).
//!
//! ```
//! use multiproc::connection::Pipe;
//! use multiproc::process::Process;
//!
//! let (mut parent_conn, child_conn) = Pipe(true).unwrap();
//! let mut p = Process::new(
//!     |mut conn: multiproc::connection::Connection| {
//!         conn.send(&("Hello", (), "World")).unwrap();
//!         conn.close();
//!     },
//!     child_conn,
//! );
//! p.start().unwrap();
//! let msg: (String, (), String) = parent_conn.recv().unwrap();
//! assert_eq!(msg.0, "Hello");
//! p.join().unwrap();
//! ```
//!
//! [`Listener`] and [`Client`] connect unrelated processes over Unix sockets or TCP, with an
//! HMAC-SHA256 authkey handshake; [`wait`] waits on several connections and sentinels.

mod listener;
mod pipe;

pub use listener::{Address, Client, Listener};
pub use pipe::{Connection, DEFAULT_MAX_MESSAGE, Pipe};

use std::os::fd::BorrowedFd;
use std::time::Duration;

/// Waits until some of `objects` are ready to read (a connection with a message or at end of
/// file, a process sentinel that fired); returns their indices, empty on timeout
/// (≈ `multiprocessing.connection.wait`). `None` waits forever.
pub fn wait(objects: &[BorrowedFd<'_>], timeout: Option<Duration>) -> std::io::Result<Vec<usize>> {
    crate::sys::process::poll_any(objects, timeout.and_then(crate::sync::deadline))
}
