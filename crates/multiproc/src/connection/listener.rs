//! `Listener` and `Client` (≈ `multiprocessing.connection.Listener` / `Client`): connections
//! between unrelated processes, over Unix sockets or TCP, guarded by an authkey.
//!
//! # The handshake
//!
//! With an authkey, both sides prove they hold it before any data moves, in both directions
//! (CPython 3.12+'s scheme): the listener sends `#CHALLENGE#{sha256}` + 40 random bytes, the
//! client answers `{sha256}` + HMAC-SHA256(authkey, challenge), the listener replies
//! `#WELCOME#` or `#FAILURE#`; then the roles swap. Digests are compared in constant time.
//! During the handshake reads time out (10 s) and messages are capped (256 bytes), so a
//! silent or garbage-sending peer costs the listener one failed `accept`, never a hang.
//!
//! Unix addresses on Linux are abstract by default (`Address::Abstract`): no file is created,
//! so a crash leaves nothing stale behind.

use std::fmt;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr as UnixAddr, UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::pipe::{Connection, Stream};
use crate::error::ConnectionError;

const CHALLENGE: &[u8] = b"#CHALLENGE#";
const WELCOME: &[u8] = b"#WELCOME#";
const FAILURE: &[u8] = b"#FAILURE#";
const DIGEST_PREFIX: &[u8] = b"{sha256}";
const NONCE_LEN: usize = 40;
const HANDSHAKE_MAX: u64 = 256;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a [`Listener`] listens (≈ the `address`/`family` pair of Python).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A Linux abstract Unix socket name (Python's `"\0name"`): nothing in the filesystem.
    Abstract(String),
    /// A Unix socket at a filesystem path (`'AF_UNIX'`).
    Path(PathBuf),
    /// A TCP address (`'AF_INET'`, `(host, port)`); port 0 picks a free one.
    Tcp(SocketAddr),
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Abstract(n) => write!(f, "\\0{n}"),
            Address::Path(p) => write!(f, "{}", p.display()),
            Address::Tcp(a) => write!(f, "{a}"),
        }
    }
}

/// Python's `AuthenticationError` messages.
fn auth_error(msg: &str) -> ConnectionError {
    ConnectionError::Authentication(msg.to_owned())
}

fn digest(authkey: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(authkey).expect("HMAC takes any key length");
    mac.update(message);
    let mut out = DIGEST_PREFIX.to_vec();
    out.extend_from_slice(&mac.finalize().into_bytes());
    out
}

fn verify(authkey: &[u8], message: &[u8], response: &[u8]) -> bool {
    let Some(tag) = response.strip_prefix(DIGEST_PREFIX) else {
        return false;
    };
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(authkey).expect("HMAC takes any key length");
    mac.update(message);
    mac.verify_slice(tag).is_ok()
}

fn deliver_challenge(conn: &mut Connection, authkey: &[u8]) -> Result<(), ConnectionError> {
    let mut nonce = [0u8; NONCE_LEN];
    rustix::rand::getrandom(&mut nonce, rustix::rand::GetRandomFlags::empty())
        .map_err(std::io::Error::from)?;
    let mut message = DIGEST_PREFIX.to_vec();
    message.extend_from_slice(&nonce);
    let mut challenge = CHALLENGE.to_vec();
    challenge.extend_from_slice(&message);
    conn.send_bytes(&challenge)?;
    let response = conn.recv_bytes()?;
    if verify(authkey, &message, &response) {
        conn.send_bytes(WELCOME)
    } else {
        let _ = conn.send_bytes(FAILURE);
        Err(auth_error("digest received was wrong"))
    }
}

fn answer_challenge(conn: &mut Connection, authkey: &[u8]) -> Result<(), ConnectionError> {
    let challenge = conn.recv_bytes()?;
    let message = challenge
        .strip_prefix(CHALLENGE)
        .ok_or_else(|| auth_error("protocol error: expected a challenge"))?;
    conn.send_bytes(&digest(authkey, message))?;
    if conn.recv_bytes()? == WELCOME {
        Ok(())
    } else {
        Err(auth_error("digest sent was rejected"))
    }
}

/// Runs the handshake with bounded reads, then restores normal settings.
fn handshake(
    mut conn: Connection,
    authkey: Option<&[u8]>,
    server: bool,
) -> Result<Connection, ConnectionError> {
    let Some(key) = authkey else { return Ok(conn) };
    if let Some(s) = conn.stream() {
        s.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    }
    conn.set_max_message(HANDSHAKE_MAX);
    let r = if server {
        deliver_challenge(&mut conn, key).and_then(|()| answer_challenge(&mut conn, key))
    } else {
        answer_challenge(&mut conn, key).and_then(|()| deliver_challenge(&mut conn, key))
    };
    r.map_err(|e| match e {
        ConnectionError::BadMessageLength { .. }
        | ConnectionError::Io(_)
        | ConnectionError::Eof => auth_error(&format!("handshake failed: {e}")),
        other => other,
    })?;
    if let Some(s) = conn.stream() {
        s.set_read_timeout(None)?;
    }
    conn.set_max_message(super::DEFAULT_MAX_MESSAGE);
    Ok(conn)
}

enum Socket {
    Unix(UnixListener),
    Tcp(TcpListener),
}

/// Accepts connections (≈ `multiprocessing.connection.Listener`).
///
/// ```
/// use multiproc::connection::{Address, Client, Listener};
///
/// let listener = Listener::bind(None, Some(b"secret")).unwrap(); // an abstract Unix name
/// let address = listener.address().clone();
/// let t = std::thread::spawn(move || {
///     let mut c = Client(&address, Some(b"secret")).unwrap();
///     c.send(&"hello").unwrap();
/// });
/// let mut conn = listener.accept().unwrap();
/// assert_eq!(conn.recv::<String>().unwrap(), "hello");
/// t.join().unwrap();
/// ```
pub struct Listener {
    socket: Option<Socket>,
    address: Address,
    authkey: Option<Vec<u8>>,
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Listener {
    /// Listens at `address` (`None`: a fresh abstract Unix name), requiring `authkey` from
    /// every client when given. Binding an address in use is an error.
    pub fn bind(
        address: Option<Address>,
        authkey: Option<&[u8]>,
    ) -> Result<Listener, ConnectionError> {
        let address = address.unwrap_or_else(|| {
            let mut r = [0u8; 8];
            let _ = rustix::rand::getrandom(&mut r, rustix::rand::GetRandomFlags::empty());
            Address::Abstract(format!(
                "multiproc-{}-{}",
                std::process::id(),
                u64::from_le_bytes(r)
            ))
        });
        let (socket, address) = match address {
            Address::Abstract(name) => {
                let addr = UnixAddr::from_abstract_name(name.as_bytes())?;
                (
                    Socket::Unix(UnixListener::bind_addr(&addr)?),
                    Address::Abstract(name),
                )
            }
            Address::Path(p) => (Socket::Unix(UnixListener::bind(&p)?), Address::Path(p)),
            Address::Tcp(a) => {
                let l = TcpListener::bind(a)?;
                let bound = l.local_addr()?;
                (Socket::Tcp(l), Address::Tcp(bound))
            }
        };
        Ok(Listener {
            socket: Some(socket),
            address,
            authkey: authkey.map(<[u8]>::to_vec),
        })
    }

    /// The address it listens on (a TCP port 0 resolved to the real one).
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Waits for a client and runs the handshake. A client that fails it (wrong key, garbage,
    /// silence) is an error for this call only: the listener keeps serving.
    pub fn accept(&self) -> Result<Connection, ConnectionError> {
        let stream = match self.socket.as_ref().ok_or(ConnectionError::Closed)? {
            Socket::Unix(l) => Stream::Unix(l.accept()?.0),
            Socket::Tcp(l) => {
                let (s, _) = l.accept()?;
                s.set_nodelay(true)?;
                Stream::Tcp(s)
            }
        };
        handshake(
            Connection::new(stream, true, true),
            self.authkey.as_deref(),
            true,
        )
    }

    /// Stops listening (`close()`); a later `accept` is [`ConnectionError::Closed`]. A path
    /// socket's file is removed.
    pub fn close(&mut self) {
        if self.socket.take().is_some()
            && let Address::Path(p) = &self.address
        {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.close();
    }
}

/// Connects to a [`Listener`] (≈ `multiprocessing.connection.Client(address, authkey=...)`):
/// a wrong key is [`ConnectionError::Authentication`] ("digest sent was rejected").
#[allow(non_snake_case)]
pub fn Client(address: &Address, authkey: Option<&[u8]>) -> Result<Connection, ConnectionError> {
    let stream = match address {
        Address::Abstract(name) => Stream::Unix(UnixStream::connect_addr(
            &UnixAddr::from_abstract_name(name.as_bytes())?,
        )?),
        Address::Path(p) => Stream::Unix(UnixStream::connect(p)?),
        Address::Tcp(a) => {
            let s = TcpStream::connect(a)?;
            s.set_nodelay(true)?;
            Stream::Tcp(s)
        }
    };
    handshake(Connection::new(stream, true, true), authkey, false)
}
