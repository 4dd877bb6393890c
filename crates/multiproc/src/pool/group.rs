//! Groups: several small chunks of one process-pool `map` sent as one message, under one
//! ticket, so that a `map` at `chunksize` 1 does not pay the pool's whole per-task way
//! (a ticket, an entry, a message each way, a wake-up) for every item.
//!
//! # What stays as in Python
//!
//! Each chunk is still a task of its own: the worker runs a group's chunks one after
//! another, sends each one's result as soon as it has it, and moves the ticket's word on to
//! the next chunk (`ticket.rs`, `advance`), so the word always names the chunk running now.
//! Hence, when the worker dies:
//!
//! - the chunk it was running fails with `WorkerLost`, as a single task does;
//! - the chunks whose results it sent are kept (the handler reads every result a worker
//!   sent before it reads of its death);
//! - the chunks it had not started go back to the front of the pending queue, whole: the
//!   parent keeps a group's bytes until its last chunk has ended, and sends the rest again
//!   as a new group.
//!
//! Cancelling a `map` fails its chunks not yet started with `Cancelled`, whether or not
//! their group has reached a worker; with `running`, the chunk running is stopped as a
//! single task is.
//!
//! # When chunks are grouped
//!
//! Only where grouping cannot change what the user sees:
//!
//! - chunks of fewer than [`GROUP_ITEMS`] items (larger chunks are worth a message each);
//! - no per-task timeout (a timeout is for long tasks, which gain nothing) and no
//!   `maxtasksperchild` (which counts tasks);
//! - a group is kept short in time, so the load stays balanced over the workers: the
//!   [`Sizer`] measures how fast this `map`'s chunks end and groups only as many as run in
//!   about [`GROUP_NS`] (`PoolBuilder::group_time` changes that time; zero turns groups
//!   off); until the first chunk has ended, and for slow chunks, every chunk goes alone,
//!   exactly as before. It also leaves a quarter of what is left to each worker near the
//!   end.
//!
//! # The message
//!
//! A task message of kind `GROUP` (`worker.rs`) whose payload is the number of chunks
//! (`u32`, little-endian), then each chunk's encoded items preceded by their length (`u32`).
//!
//! ```text
//! [count][len₀][chunk₀ …][len₁][chunk₁ …] …
//! ```

use std::sync::Arc;
use std::time::Instant;

/// Chunks this long or longer are never grouped; a group holds at most this many items.
pub(crate) const GROUP_ITEMS: usize = 256;
/// The time a group should take to run, at most (measured, see [`Sizer`]).
pub(crate) const GROUP_NS: u64 = 100_000;
/// A group's encoded chunks stop growing past this many bytes (a message this size goes
/// into the task ring whole).
pub(crate) const GROUP_BYTES: usize = 32 << 10;

/// A group's encoded chunks, kept by the parent until the group has ended (to send the
/// chunks a dead worker did not start again).
pub(crate) struct Group {
    /// The trampoline and function every chunk is called through.
    pub tramp: i64,
    pub target: i64,
    /// Each chunk's frame: its length (`u32`), then its bytes.
    bytes: Vec<u8>,
    /// Where each chunk's frame starts in `bytes`.
    starts: Vec<u32>,
}

impl Group {
    /// The chunks in the group.
    pub(crate) fn len(&self) -> u32 {
        self.starts.len() as u32
    }

    /// The message payload for chunks `from..`: the count, then their frames (two slices,
    /// written one after the other).
    pub(crate) fn payload(&self, from: u32) -> ([u8; 4], &[u8]) {
        let count = self.len().saturating_sub(from);
        let start = self
            .starts
            .get(from as usize)
            .map_or(self.bytes.len(), |&s| s as usize);
        (count.to_le_bytes(), &self.bytes[start..])
    }
}

/// Builds a [`Group`], one chunk at a time.
pub(crate) struct Builder {
    bytes: Vec<u8>,
    starts: Vec<u32>,
}

impl Builder {
    pub(crate) fn new() -> Builder {
        Builder {
            bytes: Vec::with_capacity(1024),
            starts: Vec::new(),
        }
    }

    /// Chunks added so far.
    pub(crate) fn len(&self) -> u32 {
        self.starts.len() as u32
    }

    /// Whether the group is as large in bytes as a group gets.
    pub(crate) fn full(&self) -> bool {
        self.bytes.len() >= GROUP_BYTES
    }

    /// Adds a chunk, which `encode` appends to the buffer it is given; a chunk that fails to
    /// encode leaves no trace.
    pub(crate) fn push<E>(
        &mut self,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(&[0; 4]);
        if let Err(e) = encode(&mut self.bytes) {
            self.bytes.truncate(start);
            return Err(e);
        }
        let len = (self.bytes.len() - start - 4) as u32;
        self.bytes[start..start + 4].copy_from_slice(&len.to_le_bytes());
        self.starts.push(start as u32);
        Ok(())
    }

    pub(crate) fn finish(self, tramp: i64, target: i64) -> Arc<Group> {
        Arc::new(Group {
            tramp,
            target,
            bytes: self.bytes,
            starts: self.starts,
        })
    }
}

/// Reads a group message's payload, chunk by chunk (in the worker). The payload comes from
/// the parent, but is checked all the same: a chunk whose frame does not fit is an `Err`,
/// and so is every chunk after it (the count says how many to expect).
pub(crate) struct Chunks<'a> {
    rest: &'a [u8],
    left: u32,
    broken: bool,
}

impl<'a> Chunks<'a> {
    pub(crate) fn new(payload: &'a [u8]) -> Chunks<'a> {
        match payload.split_first_chunk::<4>() {
            Some((count, rest)) => Chunks {
                rest,
                left: u32::from_le_bytes(*count),
                broken: false,
            },
            // Too short even for the count: one broken chunk, so that the task claimed
            // with the message still ends.
            None => Chunks {
                rest: &[],
                left: 1,
                broken: true,
            },
        }
    }
}

impl<'a> Iterator for Chunks<'a> {
    type Item = Result<&'a [u8], &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        if self.broken {
            return Some(Err("a group message's frames do not add up"));
        }
        let frame = self.rest.split_first_chunk::<4>().and_then(|(len, rest)| {
            let len = u32::from_le_bytes(*len) as usize;
            (len <= rest.len()).then(|| rest.split_at(len))
        });
        match frame {
            Some((chunk, rest)) => {
                self.rest = rest;
                Some(Ok(chunk))
            }
            None => {
                self.broken = true;
                Some(Err("a group message's frames do not add up"))
            }
        }
    }
}

/// Decides how many chunks go into the next group of one `map` (see the [module docs](self)).
pub(crate) struct Sizer {
    started: Instant,
    /// How long a group should run ([`GROUP_NS`] unless the pool's builder said otherwise).
    group_ns: u64,
    workers: u64,
    /// Chunks of at most this many items; how many chunks the input's length foretells.
    size: usize,
    parts: u64,
}

impl Sizer {
    /// `None` when this map's chunks are never grouped (see the [module docs](self)); a
    /// group should run in about `group_ns` (0: never grouped).
    pub(crate) fn new(
        size: usize,
        len: usize,
        workers: usize,
        allowed: bool,
        group_ns: u64,
    ) -> Option<Sizer> {
        (allowed && size < GROUP_ITEMS && group_ns > 0).then(|| Sizer {
            started: Instant::now(),
            group_ns,
            workers: workers.max(1) as u64,
            size,
            parts: len.div_ceil(size.max(1)) as u64,
        })
    }

    /// Chunks for the group starting at chunk `made`, when `ended` of this map's chunks have
    /// ended so far: as many as run in about [`GROUP_NS`] at the pace measured (all the
    /// workers together), no more than [`GROUP_ITEMS`] items, and no more than a quarter of
    /// each worker's share of what is left. 1 until a chunk has ended.
    pub(crate) fn next(&self, made: u64, ended: u64) -> u32 {
        if ended == 0 {
            return 1;
        }
        let elapsed = self.started.elapsed().as_nanos().max(1) as u64;
        // ns per chunk on one worker (an overestimate while the workers were not all busy,
        // which only makes groups smaller).
        let per_chunk = (elapsed.saturating_mul(self.workers) / ended).max(1);
        let by_time = self.group_ns / per_chunk;
        let by_items = (GROUP_ITEMS / self.size.max(1)) as u64;
        let by_share = self.parts.saturating_sub(made) / (4 * self.workers);
        by_time
            .min(by_items)
            .min(by_share)
            .clamp(1, u64::from(u32::MAX)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(chunks: &[&[u8]]) -> Arc<Group> {
        let mut b = Builder::new();
        for c in chunks {
            b.push(|out: &mut Vec<u8>| {
                out.extend_from_slice(c);
                Ok::<(), ()>(())
            })
            .unwrap();
        }
        b.finish(1, 2)
    }

    fn read(count: [u8; 4], frames: &[u8]) -> Vec<Result<Vec<u8>, &'static str>> {
        let mut payload = count.to_vec();
        payload.extend_from_slice(frames);
        Chunks::new(&payload)
            .map(|c| c.map(<[u8]>::to_vec))
            .collect()
    }

    #[test]
    fn a_group_reads_back_chunk_by_chunk_from_any_chunk() {
        let g = group(&[b"ab", b"", b"cde"]);
        assert_eq!(g.len(), 3);
        let (c, f) = g.payload(0);
        assert_eq!(
            read(c, f),
            [Ok(b"ab".to_vec()), Ok(vec![]), Ok(b"cde".to_vec())]
        );
        let (c, f) = g.payload(2);
        assert_eq!(read(c, f), [Ok(b"cde".to_vec())]);
        let (c, f) = g.payload(3);
        assert_eq!(read(c, f), []);
    }

    #[test]
    fn a_chunk_that_fails_to_encode_leaves_no_trace() {
        let mut b = Builder::new();
        b.push(|o: &mut Vec<u8>| {
            o.push(7);
            Ok::<(), ()>(())
        })
        .unwrap();
        assert!(
            b.push(|o: &mut Vec<u8>| {
                o.extend_from_slice(b"half");
                Err(())
            })
            .is_err()
        );
        assert_eq!(b.len(), 1);
        let g = b.finish(0, 0);
        let (c, f) = g.payload(0);
        assert_eq!(read(c, f), [Ok(vec![7])]);
    }

    #[test]
    fn a_garbled_payload_fails_every_chunk_it_announced_and_allocates_nothing_from_it() {
        // A length past the end: that chunk and the rest are errors, never a panic.
        let mut frames = 2u32.to_le_bytes().to_vec();
        frames.extend_from_slice(b"ok");
        frames.extend_from_slice(&u32::MAX.to_le_bytes());
        frames.push(1);
        let got = read(3u32.to_le_bytes(), &frames);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], Ok(b"ok".to_vec()));
        assert!(got[1].is_err() && got[2].is_err());
        // Too short for a count: one broken chunk (the claimed task still ends).
        let short: Vec<_> = Chunks::new(&[1, 2]).collect();
        assert!(short.len() == 1 && short[0].is_err());
        // A count larger than the frames.
        let got = read(2u32.to_le_bytes(), &[]);
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(Result::is_err));
    }

    #[test]
    fn the_sizer_groups_only_fast_chunks_and_never_before_one_has_ended() {
        assert!(Sizer::new(GROUP_ITEMS, 1 << 20, 2, true, GROUP_NS).is_none());
        assert!(Sizer::new(1, 1 << 20, 2, false, GROUP_NS).is_none());
        let s = Sizer::new(1, 1 << 20, 2, true, GROUP_NS).unwrap();
        assert_eq!(s.next(0, 0), 1, "nothing measured yet");
        // A million chunks ended at once: as fast as can be; the items bound it.
        assert_eq!(s.next(1000, 1_000_000), GROUP_ITEMS as u32);
        let s4 = Sizer::new(4, 1 << 20, 2, true, GROUP_NS).unwrap();
        assert_eq!(s4.next(1000, 1_000_000), (GROUP_ITEMS / 4) as u32);
        // Near the end, a quarter of each worker's share of what is left.
        assert_eq!(s.next((1 << 20) - 80, 1_000_000), 10);
        assert_eq!(s.next(1 << 20, 1_000_000), 1);
        // Slow chunks (one ended after this long): alone.
        let slow = Sizer {
            started: Instant::now() - std::time::Duration::from_millis(10),
            ..Sizer::new(1, 1 << 20, 2, true, GROUP_NS).unwrap()
        };
        assert_eq!(slow.next(10, 1), 1);
        // 100 chunks in 10 ms on two workers (200 µs each): alone by default, grouped when
        // a group may take a second.
        let ago = Instant::now() - std::time::Duration::from_millis(10);
        let default = Sizer {
            started: ago,
            ..Sizer::new(1, 1 << 20, 2, true, GROUP_NS).unwrap()
        };
        assert_eq!(default.next(10, 100), 1);
        let patient = Sizer {
            started: ago,
            ..Sizer::new(1, 1 << 20, 2, true, 10_000 * GROUP_NS).unwrap()
        };
        assert!(patient.next(10, 100) > 1, "{}", patient.next(10, 100));
        // No group time: never grouped.
        assert!(Sizer::new(1, 1 << 20, 2, true, 0).is_none());
    }
}
