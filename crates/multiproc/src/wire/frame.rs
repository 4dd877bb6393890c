//! The one frame format for every byte stream between processes here: a `Connection`'s
//! messages, a child's `Start` and `Outcome`, the forkserver's requests and answers, the
//! segment tracker's registrations, and the listener's handshake (which speaks through a
//! `Connection`).
//!
//! A frame is CPython's `Connection` framing, so a multiproc `Connection` keeps message
//! boundaries exactly as Python's does:
//!
//! | header | body |
//! |---|---|
//! | big-endian `i32` length, `0..=0x7fff_ffff` | that many bytes |
//! | `-1` (`ff ff ff ff`), then a big-endian `u64` length | that many bytes |
//!
//! One rule for size: a reader names the largest frame it accepts, and a header announcing
//! more (or a negative length other than `-1`) is [`FrameError::TooLong`] before a byte of
//! the body is read. One rule for memory: the body's buffer grows as bytes arrive
//! ([`read_body`]), never sized up front by a length a peer wrote. One error type,
//! [`FrameError`], which the callers turn into their own (`ConnectionError`, `io::Error`).
//!
//! File descriptors travel beside a frame (`SCM_RIGHTS`, attached to its header's first
//! bytes): [`write_with_fds`] / [`read_with_fds`]. A small frame is written with one system
//! call, header and body together, so a reader woken by its first bytes usually finds all of
//! it.
//!
//! ```text
//! let mut out = Vec::new();
//! frame::write(&mut out, b"hello")?;           // 00 00 00 05 68 65 6c 6c 6f
//! let body = frame::read(&mut &out[..], 1024)?; // b"hello"
//! ```

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::sys::fdpass;

/// The largest frame the crate's own channels accept (a child's `Start` and `Outcome`, the
/// forkserver's and the tracker's messages). A `Connection` has its own, settable limit.
pub(crate) const MAX_INTERNAL: u64 = 1 << 30;

/// Frames up to this size go out in one system call, header and body together.
const SMALL: usize = 64 * 1024;

/// The first allocation for a frame body; later ones double it.
const FIRST_CHUNK: usize = 64 * 1024;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameError {
    /// The stream ended (or was reset) at a frame boundary.
    #[error("end of stream")]
    Eof,
    /// The header announced more than the reader accepts; the stream is out of step and must
    /// not be read again.
    #[error("a frame of {len} bytes, over the limit of {max}")]
    TooLong { len: u64, max: u64 },
    /// The body's buffer could not grow; the stream must not be read again.
    #[error("no memory for a frame of {len} bytes")]
    OutOfMemory { len: u64 },
    /// The stream ended inside a frame, or another I/O error.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl From<FrameError> for io::Error {
    fn from(e: FrameError) -> io::Error {
        match e {
            FrameError::Eof => io::ErrorKind::UnexpectedEof.into(),
            FrameError::Io(e) => e,
            FrameError::OutOfMemory { .. } => io::Error::new(io::ErrorKind::OutOfMemory, e),
            FrameError::TooLong { .. } => io::Error::new(io::ErrorKind::InvalidData, e),
        }
    }
}

/// A frame header: 4 bytes, or 12 past 2 GiB.
pub(crate) struct Header {
    bytes: [u8; 12],
    len: usize,
}

impl Header {
    pub(crate) fn new(body_len: usize) -> Header {
        let mut bytes = [0u8; 12];
        if body_len <= 0x7fff_ffff {
            bytes[..4].copy_from_slice(&(body_len as i32).to_be_bytes());
            Header { bytes, len: 4 }
        } else {
            bytes[..4].copy_from_slice(&(-1i32).to_be_bytes());
            bytes[4..].copy_from_slice(&(body_len as u64).to_be_bytes());
            Header { bytes, len: 12 }
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Reads a header's body length from its first 4 bytes, and (if they are `-1`) the next 8
/// from `more`; checks it against `max`.
fn body_len(
    first: [u8; 4],
    more: impl FnOnce() -> io::Result<[u8; 8]>,
    max: u64,
) -> Result<u64, FrameError> {
    let len = match i32::from_be_bytes(first) {
        -1 => u64::from_be_bytes(more()?),
        n if n < 0 => u64::MAX,
        n => n as u64,
    };
    if len > max {
        return Err(FrameError::TooLong { len, max });
    }
    Ok(len)
}

/// Writes one frame.
pub(crate) fn write(w: &mut impl Write, body: &[u8]) -> io::Result<()> {
    let header = Header::new(body.len());
    if body.len() <= SMALL {
        let mut buf = Vec::with_capacity(header.len + body.len());
        buf.extend_from_slice(header.as_bytes());
        buf.extend_from_slice(body);
        w.write_all(&buf)?;
    } else {
        w.write_all(header.as_bytes())?;
        w.write_all(body)?;
    }
    w.flush()
}

/// Writes one frame with `fds` attached to its first bytes (`SCM_RIGHTS`; a Unix socket).
pub(crate) fn write_with_fds<S: AsFd + Write>(
    s: &mut S,
    body: &[u8],
    fds: &[BorrowedFd<'_>],
) -> io::Result<()> {
    if fds.is_empty() {
        return write(s, body);
    }
    let header = Header::new(body.len());
    if body.len() <= SMALL {
        let mut buf = Vec::with_capacity(header.len + body.len());
        buf.extend_from_slice(header.as_bytes());
        buf.extend_from_slice(body);
        let sent = fdpass::send_fds(&*s, &buf, fds)?;
        s.write_all(&buf[sent..])?;
    } else {
        let sent = fdpass::send_fds(&*s, header.as_bytes(), fds)?;
        s.write_all(&header.as_bytes()[sent..])?;
        s.write_all(body)?;
    }
    s.flush()
}

/// Reads one frame of at most `max` bytes.
pub(crate) fn read(r: &mut impl Read, max: u64) -> Result<Vec<u8>, FrameError> {
    let mut first = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut first[got..]) {
            Ok(0) if got == 0 => return Err(FrameError::Eof),
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset && got == 0 => {
                return Err(FrameError::Eof);
            }
            Err(e) => return Err(e.into()),
        }
    }
    finish(r, first, max)
}

/// Reads one frame of at most `max` bytes and the fds that came with it.
pub(crate) fn read_with_fds<S: AsFd + Read>(
    s: &mut S,
    max: u64,
) -> Result<(Vec<u8>, Vec<OwnedFd>), FrameError> {
    let mut first = [0u8; 4];
    let mut got = 0;
    let mut fds = Vec::new();
    while got < 4 {
        let (n, more) = match fdpass::recv_fds(&*s, &mut first[got..]) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset && got == 0 => {
                return Err(FrameError::Eof);
            }
            Err(e) => return Err(e.into()),
        };
        fds.extend(more);
        if n == 0 {
            return Err(if got == 0 {
                FrameError::Eof
            } else {
                io::Error::from(io::ErrorKind::UnexpectedEof).into()
            });
        }
        got += n;
    }
    Ok((finish(s, first, max)?, fds))
}

fn finish(r: &mut impl Read, first: [u8; 4], max: u64) -> Result<Vec<u8>, FrameError> {
    let len = body_len(
        first,
        || {
            let mut more = [0u8; 8];
            r.read_exact(&mut more)?;
            Ok(more)
        },
        max,
    )?;
    read_body(r, len as usize).map_err(|e| match e.kind() {
        io::ErrorKind::OutOfMemory => FrameError::OutOfMemory { len },
        _ => FrameError::Io(e),
    })
}

/// Splits a complete frame of at most `max` bytes off the front of `buf` (bytes read so far
/// from a non-blocking stream), if there is one.
pub(crate) fn take(buf: &mut Vec<u8>, max: u64) -> Result<Option<Vec<u8>>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let first = [buf[0], buf[1], buf[2], buf[3]];
    let long = i32::from_be_bytes(first) == -1;
    let header = if long { 12 } else { 4 };
    if buf.len() < header {
        return Ok(None);
    }
    let len = body_len(first, || Ok(buf[4..12].try_into().expect("8 bytes")), max)? as usize;
    if buf.len() - header < len {
        return Ok(None);
    }
    let frame = buf[header..header + len].to_vec();
    buf.drain(..header + len);
    Ok(Some(frame))
}

/// Reads exactly `len` bytes (the length a frame header announced) from `r`. Fails with
/// `UnexpectedEof` if the stream ends first and `OutOfMemory` if the buffer cannot grow.
///
/// A length prefix comes from a peer, and a peer may lie: a header that says "2 GiB follow"
/// followed by ten bytes must not cost 2 GiB. So the buffer grows as bytes arrive (doubling
/// from 64 KiB, never past the announced length): memory follows what the peer actually
/// sent, and a growth the allocator refuses is an error instead of an abort.
pub(crate) fn read_body(r: &mut impl Read, len: usize) -> io::Result<Vec<u8>> {
    let mut buf: Vec<u8> = Vec::new();
    while buf.len() < len {
        if buf.len() == buf.capacity() {
            let want = (buf.capacity().max(FIRST_CHUNK / 2) * 2).min(len);
            buf.try_reserve_exact(want - buf.len()).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    format!("no memory for a message of {len} bytes"),
                )
            })?;
        }
        let start = buf.len();
        let end = buf.capacity().min(len);
        buf.resize(end, 0);
        match r.read(&mut buf[start..end]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => buf.truncate(start + n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => buf.truncate(start),
            Err(e) => return Err(e),
        }
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lying_header_costs_what_was_sent() {
        let sent = [7u8; 10];
        let err = read_body(&mut &sent[..], 1 << 31).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let big: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
        assert_eq!(read_body(&mut &big[..], big.len()).unwrap(), big);
        assert_eq!(read_body(&mut &big[..], 5).unwrap(), &big[..5]);
        assert!(read_body(&mut &big[..0], 0).unwrap().is_empty());
    }

    #[test]
    fn python_connection_framing_both_ways() {
        let mut out = Vec::new();
        write(&mut out, b"hello").unwrap();
        assert_eq!(out, b"\0\0\0\x05hello");
        assert_eq!(read(&mut &out[..], 1024).unwrap(), b"hello");
        // The long form, as CPython writes past 2 GiB (read here with a small body).
        let long = [&[0xffu8; 4][..], &3u64.to_be_bytes(), b"abc"].concat();
        assert_eq!(read(&mut &long[..], 1024).unwrap(), b"abc");
        let mut buf = long.clone();
        buf.extend_from_slice(&out);
        assert_eq!(take(&mut buf, 1024).unwrap().unwrap(), b"abc");
        assert_eq!(take(&mut buf, 1024).unwrap().unwrap(), b"hello");
        assert!(buf.is_empty());
        assert_eq!(Header::new(3 << 30).as_bytes().len(), 12);
    }

    #[test]
    fn limits_and_ends_are_typed() {
        let mut out = Vec::new();
        write(&mut out, &[0u8; 100]).unwrap();
        assert!(matches!(
            read(&mut &out[..], 99),
            Err(FrameError::TooLong { len: 100, max: 99 })
        ));
        let mut partial = out[..50].to_vec();
        assert!(matches!(
            take(&mut partial, 99),
            Err(FrameError::TooLong { .. })
        ));
        assert!(take(&mut partial, 1000).unwrap().is_none(), "incomplete");
        assert!(matches!(read(&mut &[][..], 10), Err(FrameError::Eof)));
        assert!(matches!(read(&mut &out[..2], 1000), Err(FrameError::Io(_))));
        assert!(matches!(
            read(&mut &out[..50], 1000),
            Err(FrameError::Io(_))
        ));
        let negative = (-5i32).to_be_bytes();
        assert!(matches!(
            read(&mut &negative[..], u64::MAX - 1),
            Err(FrameError::TooLong { .. })
        ));
    }
}
