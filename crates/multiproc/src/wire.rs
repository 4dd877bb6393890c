//! Pieces of the frame layer that every length-prefixed format here shares.
//!
//! A length prefix comes from a peer, and a peer may lie: a header that says "2 GiB follow"
//! followed by ten bytes must not cost 2 GiB. [`read_body`] therefore never sizes a buffer by
//! the header alone. It grows the buffer as bytes arrive (doubling from 64 KiB, never past
//! the announced length), so memory follows what the peer actually sent, and a growth the
//! allocator refuses is an [`io::ErrorKind::OutOfMemory`] error instead of an abort.

use std::io::{self, Read};

/// The first allocation for a frame body; later ones double it.
const FIRST_CHUNK: usize = 64 * 1024;

/// Reads exactly `len` bytes (the length a frame header announced) from `r`. Fails with
/// `UnexpectedEof` if the stream ends first and `OutOfMemory` if the buffer cannot grow.
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
}
