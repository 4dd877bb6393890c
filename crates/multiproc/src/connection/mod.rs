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
//! and queues at once (see its module for an example).
//!
//! # Two programs
//!
//! A server program listens and prints its address; a client program, started anywhere on
//! the machine with that address (text, parsed with [`Address::from_str`](std::str::FromStr)),
//! connects:
//!
//! ```no_run
//! // server.rs
//! use multiproc::connection::{Address, Listener};
//!
//! let listener = Listener::bind(Some("@my-service".parse().unwrap()), Some(b"secret")).unwrap();
//! println!("listening on {}", listener.address()); // "@my-service"
//! loop {
//!     match listener.accept() {
//!         Ok(mut conn) => {
//!             let n: u64 = conn.recv().unwrap();
//!             conn.send(&(n * 2)).unwrap();
//!         }
//!         // A wrong key, garbage or a slow client: that client only.
//!         Err(e) => eprintln!("refused a client: {e}"),
//!     }
//! }
//! ```
//!
//! ```no_run
//! // client.rs, run as `client @my-service`
//! use multiproc::connection::{Address, Client};
//!
//! let address: Address = std::env::args().nth(1).unwrap().parse().unwrap();
//! let mut conn = Client(&address, Some(b"secret")).unwrap();
//! conn.send(&21u64).unwrap();
//! assert_eq!(conn.recv::<u64>().unwrap(), 42);
//! ```
//!
//! The same, runnable here, with the client in a spawned process that gets the address as an
//! argument (an `Address` crosses by serde):
//!
//! ```
//! use multiproc::connection::{Address, Client, Listener};
//! use multiproc::process::{Process, StartMethod};
//!
//! let listener = Listener::bind(None, Some(b"secret")).unwrap();
//! let mut client = Process::builder().start_method(StartMethod::Spawn).target(
//!     |address: Address| {
//!         let mut conn = Client(&address, Some(b"secret")).unwrap();
//!         conn.send(&21u64).unwrap();
//!         conn.recv::<u64>().unwrap()
//!     },
//!     listener.address().clone(),
//! );
//! client.start().unwrap();
//! let mut conn = listener.accept().unwrap();
//! let n: u64 = conn.recv().unwrap();
//! conn.send(&(n * 2)).unwrap();
//! assert_eq!(client.join().unwrap(), 42);
//! ```

mod listener;
mod pipe;
mod wait;

pub use listener::{Address, AddressParseError, Client, Listener};
pub use pipe::{Connection, DEFAULT_MAX_MESSAGE, Pipe};
pub use wait::{Waitable, wait};
