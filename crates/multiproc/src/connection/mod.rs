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
//! HMAC-SHA256 authkey handshake; [`wait`] waits on several connections, process sentinels
//! and queues at once.

mod listener;
mod pipe;
mod wait;

pub use listener::{Address, AddressParseError, Client, Listener};
pub use pipe::{Connection, DEFAULT_MAX_MESSAGE, Pipe};
pub use wait::{Waitable, wait};
