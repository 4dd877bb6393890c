//! `Listener` and `Client` (≈ `multiprocessing.connection.Listener` / `Client`): connections
//! between unrelated processes, over Unix sockets or TCP, guarded by an authkey.
//!
//! # The handshake
//!
//! With an authkey, both sides prove they hold it before any data moves, in both directions
//! (CPython 3.12+'s scheme): the listener sends `#CHALLENGE#{sha256}` + 40 random bytes, the
//! client answers `{sha256}` + HMAC-SHA256(authkey, challenge), the listener replies
//! `#WELCOME#` or `#FAILURE#`; then the roles swap. Digests are compared in constant time.
//! The whole handshake has a deadline (10 s) and its messages are capped (256 bytes), so a
//! silent, garbage-sending or slow peer (one byte every few seconds, "slowloris") costs the
//! listener one failed handshake, never a hang. And it costs nobody else anything: the
//! listener runs up to 64 handshakes at once, each on its own thread, and `accept` returns
//! whichever finishes first; a handshake past its deadline has its socket shut down.
//!
//! Unix addresses on Linux are abstract by default (`Address::Abstract`): no file is created,
//! so a crash leaves nothing stale behind.

use std::collections::HashMap;
use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr as UnixAddr, UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

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
/// Handshakes a listener runs at once; more clients wait in the kernel's backlog.
const MAX_HANDSHAKES: usize = 64;

/// Where a [`Listener`] listens (≈ the `address`/`family` pair of Python).
///
/// Written as text (for a command line, a config file, or to pass to another program) it is
/// `@name` for an abstract name (as `ss` shows them), a `host:port` for TCP, and anything
/// else is a path; [`FromStr`](std::str::FromStr) reads what [`Display`](fmt::Display)
/// writes, and serde uses the same text.
///
/// ```
/// use multiproc::connection::Address;
///
/// let a: Address = "@my-service".parse().unwrap();
/// assert_eq!(a, Address::Abstract("my-service".into()));
/// assert_eq!(a.to_string(), "@my-service");
/// let t: Address = "127.0.0.1:6000".parse().unwrap();
/// assert!(matches!(t, Address::Tcp(_)));
/// let p: Address = "/run/app.sock".parse().unwrap();
/// assert_eq!(p, Address::Path("/run/app.sock".into()));
/// assert!("".parse::<Address>().is_err());
/// ```
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
            Address::Abstract(n) => write!(f, "@{n}"),
            Address::Path(p) => write!(f, "{}", p.display()),
            Address::Tcp(a) => write!(f, "{a}"),
        }
    }
}

/// Text that is not an [`Address`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an address: {0:?} (expected @name, host:port or a path)")]
pub struct AddressParseError(String);

impl std::str::FromStr for Address {
    type Err = AddressParseError;

    fn from_str(s: &str) -> Result<Address, AddressParseError> {
        if let Some(name) = s.strip_prefix('@').or_else(|| s.strip_prefix('\0')) {
            if name.is_empty() {
                return Err(AddressParseError(s.to_owned()));
            }
            return Ok(Address::Abstract(name.to_owned()));
        }
        if s.is_empty() {
            return Err(AddressParseError(s.to_owned()));
        }
        if let Ok(a) = s.parse::<SocketAddr>() {
            return Ok(Address::Tcp(a));
        }
        if !s.contains('/')
            && s.rsplit_once(':')
                .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            // A host name and port: resolved now (std's `ToSocketAddrs`), first address wins.
            use std::net::ToSocketAddrs;
            return s
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .map(Address::Tcp)
                .ok_or_else(|| AddressParseError(s.to_owned()));
        }
        Ok(Address::Path(PathBuf::from(s)))
    }
}

impl serde::Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Address, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(crate::wire::de_error)
    }
}

/// An OS error while binding or connecting, with the address it was about.
fn at(address: &Address, op: &'static str) -> impl FnOnce(std::io::Error) -> ConnectionError {
    let address = address.to_string();
    move |source| ConnectionError::Address {
        op,
        address,
        source,
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

/// Receives one handshake message, giving up at `deadline` (each read waits at most what is
/// left of it).
fn recv_until(conn: &mut Connection, deadline: Instant) -> Result<Vec<u8>, ConnectionError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(auth_error("handshake timed out"));
    }
    if let Some(s) = conn.stream() {
        s.set_read_timeout(Some(left))?;
        s.set_write_timeout(Some(left))?;
    }
    conn.recv_bytes()
}

fn deliver_challenge(
    conn: &mut Connection,
    authkey: &[u8],
    deadline: Instant,
) -> Result<(), ConnectionError> {
    let mut nonce = [0u8; NONCE_LEN];
    crate::sys::io::random(&mut nonce)?;
    let mut message = DIGEST_PREFIX.to_vec();
    message.extend_from_slice(&nonce);
    let mut challenge = CHALLENGE.to_vec();
    challenge.extend_from_slice(&message);
    conn.send_bytes(&challenge)?;
    let response = recv_until(conn, deadline)?;
    if verify(authkey, &message, &response) {
        conn.send_bytes(WELCOME)
    } else {
        let _ = conn.send_bytes(FAILURE);
        Err(auth_error("digest received was wrong"))
    }
}

fn answer_challenge(
    conn: &mut Connection,
    authkey: &[u8],
    deadline: Instant,
) -> Result<(), ConnectionError> {
    let challenge = recv_until(conn, deadline)?;
    let message = challenge
        .strip_prefix(CHALLENGE)
        .ok_or_else(|| auth_error("protocol error: expected a challenge"))?;
    conn.send_bytes(&digest(authkey, message))?;
    if recv_until(conn, deadline)? == WELCOME {
        Ok(())
    } else {
        Err(auth_error("digest sent was rejected"))
    }
}

/// Runs the handshake with bounded reads and a deadline for the whole of it, then restores
/// normal settings.
fn handshake(
    mut conn: Connection,
    authkey: Option<&[u8]>,
    server: bool,
) -> Result<Connection, ConnectionError> {
    let Some(key) = authkey else { return Ok(conn) };
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    conn.set_max_message(HANDSHAKE_MAX);
    let r = if server {
        deliver_challenge(&mut conn, key, deadline)
            .and_then(|()| answer_challenge(&mut conn, key, deadline))
    } else {
        answer_challenge(&mut conn, key, deadline)
            .and_then(|()| deliver_challenge(&mut conn, key, deadline))
    };
    r.map_err(|e| match e {
        ConnectionError::BadMessageLength { .. }
        | ConnectionError::Io(_)
        | ConnectionError::Eof => auth_error(&format!("handshake failed: {e}")),
        other => other,
    })?;
    if let Some(s) = conn.stream() {
        s.set_read_timeout(None)?;
        s.set_write_timeout(None)?;
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
    handshakes: Handshakes,
}

type Outcome = (u64, Result<Connection, ConnectionError>);

/// The handshakes under way: each runs on its own thread and reports on `results`, writing a
/// byte to `wake_w` so an `accept` blocked in `poll` looks.
struct Handshakes {
    results_tx: mpsc::Sender<Outcome>,
    state: Mutex<HandshakeState>,
    wake_r: UnixStream,
    wake_w: UnixStream,
}

struct HandshakeState {
    results: mpsc::Receiver<Outcome>,
    /// Id → (deadline, a clone of its socket to shut down when the deadline passes).
    pending: HashMap<u64, (Instant, Stream)>,
    next_id: u64,
}

impl Handshakes {
    fn new() -> std::io::Result<Handshakes> {
        let (results_tx, results) = mpsc::channel();
        let (wake_r, wake_w) = UnixStream::pair()?;
        wake_r.set_nonblocking(true)?;
        Ok(Handshakes {
            results_tx,
            state: Mutex::new(HandshakeState {
                results,
                pending: HashMap::new(),
                next_id: 0,
            }),
            wake_r,
            wake_w,
        })
    }
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
            let _ = crate::sys::io::random(&mut r);
            Address::Abstract(format!(
                "multiproc-{}-{}",
                std::process::id(),
                u64::from_le_bytes(r)
            ))
        });
        let err = at(&address, "bind");
        let bound = (|| -> std::io::Result<(Socket, Address)> {
            Ok(match &address {
                Address::Abstract(name) => {
                    let addr = UnixAddr::from_abstract_name(name.as_bytes())?;
                    (
                        Socket::Unix(UnixListener::bind_addr(&addr)?),
                        address.clone(),
                    )
                }
                Address::Path(p) => (Socket::Unix(UnixListener::bind(p)?), address.clone()),
                Address::Tcp(a) => {
                    let l = TcpListener::bind(a)?;
                    let bound = l.local_addr()?;
                    (Socket::Tcp(l), Address::Tcp(bound))
                }
            })
        })();
        let (socket, address) = bound.map_err(err)?;
        match &socket {
            Socket::Unix(l) => l.set_nonblocking(true)?,
            Socket::Tcp(l) => l.set_nonblocking(true)?,
        }
        Ok(Listener {
            socket: Some(socket),
            address,
            authkey: authkey.map(<[u8]>::to_vec),
            handshakes: Handshakes::new()?,
        })
    }

    /// The address it listens on (a TCP port 0 resolved to the real one).
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Waits for a client and runs the handshake. A client that fails it (wrong key, garbage,
    /// silence) is an error for this call only: the listener keeps serving.
    ///
    /// Handshakes run side by side (up to 64), so a slow client delays nobody: `accept`
    /// returns the first client to finish its handshake, or the first failure.
    pub fn accept(&self) -> Result<Connection, ConnectionError> {
        let socket = self.socket.as_ref().ok_or(ConnectionError::Closed)?;
        let hs = &self.handshakes;
        loop {
            let mut st = hs.state.lock().unwrap_or_else(|p| p.into_inner());
            if let Ok((id, result)) = st.results.try_recv() {
                st.pending.remove(&id);
                let _ = (&hs.wake_r).read(&mut [0u8; 1]);
                return result;
            }
            let now = Instant::now();
            for (deadline, stream) in st.pending.values() {
                if *deadline <= now {
                    // Its thread's read fails now; it reports the failure like any other.
                    stream.shutdown();
                }
            }
            let next = st.pending.values().map(|(d, _)| *d).min();
            let room = st.pending.len() < MAX_HANDSHAKES;
            drop(st);
            let listener = match socket {
                Socket::Unix(l) => l.as_fd(),
                Socket::Tcp(l) => l.as_fd(),
            };
            let ready = if room {
                crate::sys::process::poll_any(&[hs.wake_r.as_fd(), listener], next)?
            } else {
                crate::sys::process::poll_any(&[hs.wake_r.as_fd()], next)?
            };
            if !ready.contains(&1) {
                continue;
            }
            let stream = match socket {
                Socket::Unix(l) => match l.accept() {
                    Ok((s, _)) => Stream::Unix(s),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e.into()),
                },
                Socket::Tcp(l) => match l.accept() {
                    Ok((s, _)) => {
                        s.set_nodelay(true)?;
                        Stream::Tcp(s)
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e.into()),
                },
            };
            let Some(key) = self.authkey.clone() else {
                return Ok(Connection::new(stream, true, true));
            };
            self.start_handshake(stream, key)?;
        }
    }

    fn start_handshake(&self, stream: Stream, key: Vec<u8>) -> Result<(), ConnectionError> {
        let hs = &self.handshakes;
        let watch = stream.try_clone()?;
        let tx = hs.results_tx.clone();
        let mut wake = hs.wake_w.try_clone()?;
        let id = {
            let mut st = hs.state.lock().unwrap_or_else(|p| p.into_inner());
            let id = st.next_id;
            st.next_id += 1;
            st.pending
                .insert(id, (Instant::now() + HANDSHAKE_TIMEOUT, watch));
            id
        };
        let spawned = std::thread::Builder::new()
            .name("multiproc-handshake".into())
            .spawn(move || {
                let result = handshake(Connection::new(stream, true, true), Some(&key), true);
                let _ = tx.send((id, result));
                let _ = wake.write_all(&[1]);
            });
        if let Err(e) = spawned {
            hs.state
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pending
                .remove(&id);
            return Err(e.into());
        }
        Ok(())
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
    let stream = (|| -> std::io::Result<Stream> {
        Ok(match address {
            Address::Abstract(name) => Stream::Unix(UnixStream::connect_addr(
                &UnixAddr::from_abstract_name(name.as_bytes())?,
            )?),
            Address::Path(p) => Stream::Unix(UnixStream::connect(p)?),
            Address::Tcp(a) => {
                let s = TcpStream::connect(a)?;
                s.set_nodelay(true)?;
                Stream::Tcp(s)
            }
        })
    })()
    .map_err(at(address, "connect to"))?;
    handshake(Connection::new(stream, true, true), authkey, false)
}
