//! The bootstrap wire format between a parent and a child process: length-prefixed postcard
//! frames over a Unix socket. One `Start` frame goes to a spawned child; one `Outcome` frame
//! comes back from every child.

use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

use serde::{Deserialize, Serialize};

use crate::error::Panic;
use crate::sys::fdpass;

/// Largest frame a reader accepts (a larger length prefix is corrupt input, not a message).
pub(crate) const MAX_FRAME: usize = 1 << 30;

/// What a spawned child needs to run its target.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Start {
    /// The trampoline, as an offset from the base symbol.
    pub offset: i64,
    /// The target function, as an offset from the base symbol.
    pub target: i64,
    /// The target's arguments (postcard).
    pub args: Vec<u8>,
    /// The child's `Process` name.
    pub name: String,
    /// Whether the child is a daemon.
    pub daemon: bool,
    /// The parent's pid and name, for `parent_process()`.
    pub parent_pid: u32,
    pub parent_name: String,
    /// The start method (`context::code`): the child's own default.
    pub method: u8,
}

/// How a child's target ended, sent back before the child exits.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Outcome {
    /// The target returned; its value (postcard).
    Returned(Vec<u8>),
    /// The target panicked.
    Panicked(Panic),
    /// The arguments did not decode as the target's argument type.
    BadArgs(String),
    /// The return value did not encode.
    BadResult(String),
}

impl Outcome {
    /// The exit status the child uses after sending this (Python: an exception exits with 1).
    pub(crate) fn exit_code(&self) -> i32 {
        match self {
            Outcome::Returned(_) => 0,
            _ => 1,
        }
    }
}

pub(crate) fn encode<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_stdvec(v)
}

pub(crate) fn write_frame(s: &mut UnixStream, bytes: &[u8]) -> io::Result<()> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame over 4 GiB"))?;
    s.write_all(&len.to_le_bytes())?;
    s.write_all(bytes)?;
    s.flush()
}

/// Writes one frame with `fds` attached to its first bytes (`SCM_RIGHTS`).
pub(crate) fn write_frame_with_fds(
    s: &mut UnixStream,
    bytes: &[u8],
    fds: &[OwnedFd],
) -> io::Result<()> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame over 4 GiB"))?;
    let borrowed: Vec<BorrowedFd<'_>> = fds.iter().map(|f| f.as_fd()).collect();
    fdpass::send_fds(&*s, &len.to_le_bytes(), &borrowed)?;
    s.write_all(bytes)?;
    s.flush()
}

/// Reads one frame and the fds that came with it.
pub(crate) fn read_frame_with_fds(s: &mut UnixStream) -> io::Result<(Vec<u8>, Vec<OwnedFd>)> {
    let mut len = [0u8; 4];
    let mut got = 0;
    let mut fds = Vec::new();
    while got < 4 {
        let (n, more) = fdpass::recv_fds(&*s, &mut len[got..])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        fds.extend(more);
        got += n;
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes"),
        ));
    }
    let buf = crate::wire::read_body(s, len)?;
    Ok((buf, fds))
}

/// Splits a complete frame off the front of `buf`, if there is one.
pub(crate) fn take_frame(buf: &mut Vec<u8>) -> io::Result<Option<Vec<u8>>> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes"),
        ));
    }
    if buf.len() < 4 + len {
        return Ok(None);
    }
    let frame = buf[4..4 + len].to_vec();
    buf.drain(..4 + len);
    Ok(Some(frame))
}
