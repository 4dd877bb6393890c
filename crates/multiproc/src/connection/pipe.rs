//! `Pipe()` and `Connection` (≈ `multiprocessing.Pipe` / `multiprocessing.connection.Connection`).
//!
//! A connection is one end of a Unix stream socket pair. Messages are framed as Python frames
//! them (a big-endian `i32` length, or `-1` then a `u64` length past 2 GiB; the crate's one
//! frame codec, `wire/frame.rs`), so boundaries are kept and `poll` never consumes part of a
//! message. Values are postcard-encoded by `send`;
//! shared objects and other connections inside a message travel as file descriptors beside
//! it, like `Process` arguments.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ConnectionError;
use crate::sys::process as sp;
use crate::wire::frame::{self, FrameError};
use crate::wire::handle::{collect_fds, provide_fds};

/// The largest message a connection accepts unless told otherwise (2 GiB).
pub const DEFAULT_MAX_MESSAGE: u64 = 1 << 31;

/// A pair of connected [`Connection`]s (≈ `Pipe(duplex=True)`); with `duplex = false` the
/// first can only receive and the second only send (`(reader, writer)`).
///
/// ```
/// use multiproc::connection::Pipe;
///
/// let (mut a, mut b) = Pipe(true).unwrap();
/// a.send(&vec!["Hello".to_string(), "World".to_string()]).unwrap();
/// assert_eq!(b.recv::<Vec<String>>().unwrap(), ["Hello", "World"]);
/// b.send_bytes(b"raw").unwrap();
/// assert!(a.poll());
/// assert_eq!(a.recv_bytes().unwrap(), b"raw");
/// ```
#[allow(non_snake_case)]
pub fn Pipe(duplex: bool) -> io::Result<(Connection, Connection)> {
    let (a, b) = UnixStream::pair()?;
    Ok((
        Connection::new(Stream::Unix(a), true, duplex),
        Connection::new(Stream::Unix(b), duplex, true),
    ))
}

/// The socket under a connection: a Unix socket (pipes, local listeners; can carry fds) or TCP.
#[derive(Debug)]
pub(crate) enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    pub(crate) fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
        })
    }

    pub(crate) fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_read_timeout(t),
            Stream::Tcp(s) => s.set_read_timeout(t),
        }
    }

    pub(crate) fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_write_timeout(t),
            Stream::Tcp(s) => s.set_write_timeout(t),
        }
    }

    /// Ends both directions: a read blocked in another thread returns at once.
    pub(crate) fn shutdown(&self) {
        let _ = match self {
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Both),
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
        };
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Unix(s) => s.as_fd(),
            Stream::Tcp(s) => s.as_fd(),
        }
    }
}

/// One end of a [`Pipe`] (≈ `Connection`). Not for concurrent use from several threads at
/// once: `send`/`recv` take `&mut self`.
pub struct Connection {
    stream: Option<Stream>,
    readable: bool,
    writable: bool,
    max_message: u64,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("readable", &self.readable)
            .field("writable", &self.writable)
            .field("closed", &self.closed())
            .finish()
    }
}

impl Connection {
    pub(crate) fn new(stream: Stream, readable: bool, writable: bool) -> Connection {
        Connection {
            stream: Some(stream),
            readable,
            writable,
            max_message: DEFAULT_MAX_MESSAGE,
        }
    }

    /// A second handle on the same end (the socket duplicated), as a child gets when this end
    /// is passed to it: the other side sees end of file only when every handle is closed.
    pub fn try_clone(&self) -> Result<Connection, ConnectionError> {
        let stream = self
            .stream
            .as_ref()
            .ok_or(ConnectionError::Closed)?
            .try_clone()?;
        Ok(Connection {
            stream: Some(stream),
            ..*self
        })
    }

    /// Whether this end can receive.
    pub fn readable(&self) -> bool {
        self.readable
    }

    /// Whether this end can send.
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// Whether [`close`](Connection::close) was called.
    pub fn closed(&self) -> bool {
        self.stream.is_none()
    }

    /// Sets the largest message `recv*` accepts (Python's `maxlength`); a longer one is
    /// [`ConnectionError::BadMessageLength`] and leaves the connection unusable.
    pub fn set_max_message(&mut self, bytes: u64) {
        self.max_message = bytes;
    }

    /// Closes this end. Idempotent.
    pub fn close(&mut self) {
        self.stream = None;
    }

    pub(crate) fn stream(&self) -> Option<&Stream> {
        self.stream.as_ref()
    }

    fn writer(&mut self) -> Result<&mut Stream, ConnectionError> {
        if !self.writable {
            return Err(ConnectionError::ReadOnly);
        }
        self.stream.as_mut().ok_or(ConnectionError::Closed)
    }

    fn reader(&mut self) -> Result<&mut Stream, ConnectionError> {
        if !self.readable {
            return Err(ConnectionError::WriteOnly);
        }
        self.stream.as_mut().ok_or(ConnectionError::Closed)
    }

    /// Sends a value (≈ `send(obj)`); shared objects and connections inside it go along as
    /// file descriptors.
    pub fn send<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ConnectionError> {
        // The message starts with the value's type tag (see `wire::type_tag`): one length
        // byte and the name.
        let tag = crate::wire::type_tag::<T>();
        let mut head = Vec::with_capacity(1 + tag.len() + 16);
        head.push(tag.len() as u8);
        head.extend_from_slice(tag.as_bytes());
        let (bytes, fds) = collect_fds(|| postcard::to_extend(value, head));
        let bytes = bytes.map_err(|e| ConnectionError::Encode(e.to_string()))?;
        self.send_frame(&bytes, &fds)
    }

    /// Sends raw bytes as one message (≈ `send_bytes(buf)`).
    pub fn send_bytes(&mut self, buf: &[u8]) -> Result<(), ConnectionError> {
        self.send_frame(buf, &[])
    }

    /// Sends `buf[offset..offset + size]` (≈ `send_bytes(buf, offset, size)`), with Python's
    /// checks: an offset past the end or a size past the end is [`ConnectionError::BadRange`].
    pub fn send_bytes_range(
        &mut self,
        buf: &[u8],
        offset: usize,
        size: Option<usize>,
    ) -> Result<(), ConnectionError> {
        if offset > buf.len() {
            return Err(ConnectionError::BadRange("buffer length < offset"));
        }
        let size = size.unwrap_or(buf.len() - offset);
        match offset.checked_add(size) {
            Some(end) if end <= buf.len() => self.send_bytes(&buf[offset..end]),
            _ => Err(ConnectionError::BadRange("buffer length < offset + size")),
        }
    }

    fn send_frame(&mut self, bytes: &[u8], fds: &[OwnedFd]) -> Result<(), ConnectionError> {
        let stream = self.writer()?;
        if !fds.is_empty() && matches!(stream, Stream::Tcp(_)) {
            return Err(ConnectionError::Encode(
                "shared objects and connections cannot travel over TCP (they are file descriptors)"
                    .into(),
            ));
        }
        let borrowed: Vec<BorrowedFd<'_>> = fds.iter().map(|f| f.as_fd()).collect();
        frame::write_with_fds(stream, bytes, &borrowed)?;
        Ok(())
    }

    /// Receives one message's bytes and any fds that came with it.
    fn recv_frame(&mut self) -> Result<(Vec<u8>, Vec<OwnedFd>), ConnectionError> {
        let max = self.max_message;
        let stream = self.reader()?;
        match frame::read_with_fds(stream, max) {
            Ok(got) => Ok(got),
            Err(FrameError::Eof) => Err(ConnectionError::Eof),
            // The rest of the message is still in the stream: it cannot be used again.
            Err(FrameError::TooLong { len, max }) => {
                self.stream = None;
                Err(ConnectionError::BadMessageLength { len, max })
            }
            Err(FrameError::OutOfMemory { len }) => {
                self.stream = None;
                Err(ConnectionError::OutOfMemory { len })
            }
            Err(FrameError::Io(e)) => Err(eof(e)),
        }
    }

    /// Receives a value (≈ `recv()`). [`ConnectionError::Eof`] once the other end is closed and
    /// nothing is left; a message that does not decode as `T` is
    /// [`ConnectionError::Decode`], and the connection stays usable.
    pub fn recv<T: DeserializeOwned>(&mut self) -> Result<T, ConnectionError> {
        let (bytes, fds) = self.recv_frame()?;
        let decode_error = |reason: String| ConnectionError::Decode {
            type_name: std::any::type_name::<T>(),
            reason,
        };
        let n = usize::from(*bytes.first().ok_or_else(|| {
            decode_error("an empty message (sent with send_bytes?) holds no typed value".into())
        })?);
        let Some(found) = bytes.get(1..1 + n) else {
            return Err(decode_error(
                "the message is shorter than its type tag".into(),
            ));
        };
        let expected = crate::wire::type_tag::<T>();
        if found != expected.as_bytes() {
            return Err(decode_error(format!(
                "the message holds a `{}`, not a `{expected}`",
                String::from_utf8_lossy(found)
            )));
        }
        provide_fds(fds, || crate::wire::decode(&bytes[1 + n..])).map_err(decode_error)
    }

    /// Receives one message's bytes (≈ `recv_bytes()`).
    pub fn recv_bytes(&mut self) -> Result<Vec<u8>, ConnectionError> {
        Ok(self.recv_frame()?.0)
    }

    /// Receives one message into `buf` (≈ `recv_bytes_into(buf)`); returns its length. A
    /// message longer than `buf` is [`ConnectionError::BufferTooShort`] holding the message.
    pub fn recv_bytes_into(&mut self, buf: &mut [u8]) -> Result<usize, ConnectionError> {
        let (bytes, _) = self.recv_frame()?;
        if bytes.len() > buf.len() {
            return Err(ConnectionError::BufferTooShort(bytes));
        }
        buf[..bytes.len()].copy_from_slice(&bytes);
        Ok(bytes.len())
    }

    /// Whether a message (or the end of file) is waiting (≈ `poll()`, timeout 0).
    pub fn poll(&self) -> bool {
        self.poll_timeout(Duration::ZERO).unwrap_or(false)
    }

    /// Waits at most `timeout` for a message or the end of file (≈ `poll(timeout)`).
    pub fn poll_timeout(&self, timeout: Duration) -> Result<bool, ConnectionError> {
        if !self.readable {
            return Err(ConnectionError::WriteOnly);
        }
        let stream = self.stream.as_ref().ok_or(ConnectionError::Closed)?;
        Ok(sp::wait_readable(
            stream.as_fd(),
            crate::sync::deadline(timeout),
        )?)
    }
}

/// Awaitable receiving: the socket is watched by a waker thread (see [`crate::futures`]), so
/// awaiting never blocks the runtime's thread while nothing has arrived. Once the first byte
/// of a message is there, the message is read as `recv` reads it: a peer that sends half a
/// message and stalls holds the task's thread until it sends the rest or closes.
impl Connection {
    /// Waits until a message (or the end of file) is waiting (`poll(None)` as a future).
    pub async fn poll_async(&self) -> Result<(), ConnectionError> {
        if !self.readable {
            return Err(ConnectionError::WriteOnly);
        }
        let stream = self.stream.as_ref().ok_or(ConnectionError::Closed)?;
        let mut reg = None;
        std::future::poll_fn(|cx| {
            if self.poll() {
                return std::task::Poll::Ready(());
            }
            if crate::sync::reactor::wait_readable(stream.as_fd(), cx.waker(), &mut reg).is_err() {
                cx.waker().wake_by_ref(); // no waker thread (threads exhausted): poll
            }
            std::task::Poll::Pending
        })
        .await;
        Ok(())
    }

    /// [`recv`](Connection::recv) as a future.
    ///
    /// ```
    /// use multiproc::connection::Pipe;
    ///
    /// let (mut a, mut b) = Pipe(true).unwrap();
    /// a.send(&"hello".to_string()).unwrap();
    /// let got: String = multiproc::futures::block_on(b.recv_async()).unwrap();
    /// assert_eq!(got, "hello");
    /// ```
    pub async fn recv_async<T: DeserializeOwned>(&mut self) -> Result<T, ConnectionError> {
        self.poll_async().await?;
        self.recv()
    }

    /// [`recv_bytes`](Connection::recv_bytes) as a future.
    pub async fn recv_bytes_async(&mut self) -> Result<Vec<u8>, ConnectionError> {
        self.poll_async().await?;
        self.recv_bytes()
    }
}

fn eof(e: io::Error) -> ConnectionError {
    match e.kind() {
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset => ConnectionError::Eof,
        _ => ConnectionError::Io(e),
    }
}

impl AsFd for Connection {
    /// The socket, for `poll`/[`wait`](super::wait) (≈ `fileno()`).
    ///
    /// # Panics
    /// On a closed connection.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_ref().expect("connection is closed").as_fd()
    }
}

impl Serialize for Connection {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let stream = self
            .stream
            .as_ref()
            .ok_or_else(|| crate::wire::ser_error("handle is closed"))?;
        let carried = crate::wire::handle::carry("Connection", stream.as_fd())
            .map_err(crate::wire::ser_error)?;
        (carried, self.readable, self.writable).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Connection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (carried, readable, writable) =
            <(crate::wire::handle::Carried, bool, bool)>::deserialize(d)?;
        let fd = crate::wire::handle::receive(carried).map_err(crate::wire::de_error)?;
        Ok(Connection::new(
            Stream::Unix(UnixStream::from(fd)),
            readable,
            writable,
        ))
    }
}
