//! The get side: the holder of the get lock, reading one message (decoded in place when it
//! is whole, copied out chunk by chunk when it streams), skipping what a consumer that died
//! mid-message left, and ending the message of a producer that died mid-stream.

use std::time::Instant;

use super::handle::{ReadError, Ring, Sink};
use super::layout::{FIRST, HEADER, Header, LAST, MID, PAD, align8, pack_read, unpack};
use super::wake::{LAST_READ, LAST_WRITTEN, store_then_look};
use super::writer::Writer;
use crate::primitive::atomic::Ordering;
use crate::sync::biased::Held;

pub(super) struct Reader<'a> {
    pub(super) ring: &'a Ring,
    pub(super) held: Held,
}

/// One record, as read at the head.
struct Record {
    len: usize,
    flags: u32,
    size: u32,
}

impl Reader<'_> {
    #[inline]
    fn h(&self) -> &Header {
        self.ring.h()
    }

    #[inline]
    fn store(&self, head: u32, consumed: u32) {
        LAST_READ.set(self.ring.base);
        let h = self.h();
        store_then_look(&h.get.word, pack_read(head, consumed));
        h.space.notify();
    }

    /// Waits until the write word satisfies `ready`. While `mid_message`, checks every slice
    /// whether the writer's process died, and if so takes its lock and ends the message.
    #[inline]
    fn wait_write(
        &self,
        ready: impl Fn(u64) -> bool,
        deadline: Option<Instant>,
        mid_message: bool,
    ) -> bool {
        let h = self.h();
        if ready(h.get.seen.load(Ordering::Relaxed)) {
            return true;
        }
        let us = LAST_WRITTEN.get() == self.ring.base;
        h.data
            .wait(&h.put.word, &h.get.seen, ready, deadline, us, || {
                if mid_message {
                    self.check_writer();
                }
            })
    }

    /// The writer has been silent mid-message for a while: if it died, end its message.
    #[cold]
    fn check_writer(&self) {
        // Never block on the put lock while holding the get lock: a live writer may be
        // waiting for us to free space.
        if let Some(got) = self.h().put.lock.try_lock_checked() {
            // Dropping the writer (after its repair, if the producer died) releases the lock.
            drop(Writer::enter(self.ring, got));
        }
    }

    #[inline]
    fn record(&self, head: u32, tail: u32) -> Result<Record, ReadError> {
        let cap = self.ring.capacity();
        // SAFETY: `head` is 8-aligned and below `tail`: a published record starts here.
        let v = unsafe { self.ring.ring_ptr(head).cast::<u64>().read() };
        let (len, flags) = (v as u32 as usize, (v >> 32) as u32);
        let size = HEADER + align8(len);
        let to_end = cap - (head as usize & (cap - 1));
        if size > to_end
            || size > tail.wrapping_sub(head) as usize
            || flags & !(FIRST | LAST | PAD) != 0
        {
            return Err(ReadError::Corrupt(format!(
                "bad record at {head}: length {len}, flags {flags:#x}"
            )));
        }
        Ok(Record {
            len,
            flags,
            size: size as u32,
        })
    }

    #[inline]
    fn payload(&self, head: u32, len: usize) -> &[u8] {
        // SAFETY: the record `[head, head + 8 + len)` is published, lies before the ring's
        // end (checked by `record`), and no writer touches it until we store a head past it.
        unsafe {
            std::slice::from_raw_parts(self.ring.ring_ptr(head.wrapping_add(HEADER as u32)), len)
        }
    }

    pub(super) fn read<S: Sink>(
        &mut self,
        sink: &mut S,
        deadline: Option<Instant>,
    ) -> Result<S::Out, ReadError> {
        let h = self.h();
        let (mut head, mut consumed) = unpack(h.get.word.load(Ordering::Relaxed));
        let max = self.ring.max_message();
        'message: loop {
            // At a message boundary.
            let ready = |w: u64| unpack(w).0 != head;
            if !self.wait_write(ready, deadline, false) {
                return Err(ReadError::Empty);
            }
            let (tail, _) = unpack(h.get.seen.load(Ordering::Relaxed));
            let rec = self
                .record(head, tail)
                .inspect_err(|_| self.store(tail, consumed))?;
            if rec.flags & PAD != 0 || rec.flags & FIRST == 0 {
                // Filler, or the rest of a message whose reader died: skip.
                if rec.flags & (PAD | LAST) == LAST {
                    consumed = consumed.wrapping_add(1);
                }
                head = head.wrapping_add(rec.size);
                self.store(head, consumed);
                continue;
            }
            if rec.flags & LAST != 0 {
                // A whole message: decode in place, then free it (also if decoding panics).
                let next = head.wrapping_add(rec.size);
                // Dropped where it stands at the end of the block (an explicit `drop` would
                // move it, and reloading the just-written struct stalls store forwarding).
                let out = {
                    let release = Release {
                        reader: self,
                        head: next,
                        consumed: consumed.wrapping_add(1),
                    };
                    sink.whole(release.reader.payload(head, rec.len))
                };
                return Ok(out);
            }
            // A streamed message.
            let p = self.payload(head, rec.len);
            if rec.len < 8 {
                self.store(tail, consumed);
                return Err(ReadError::Corrupt(
                    "streamed message without its length".into(),
                ));
            }
            let total = u64::from_ne_bytes(p[..8].try_into().expect("8 bytes"));
            let too_large = total > max;
            if !too_large {
                sink.begin(total as usize);
                sink.extend(&p[8..]);
            }
            let mut got = rec.len - 8;
            head = head.wrapping_add(rec.size);
            self.store(head, consumed);
            loop {
                let ready = |w: u64| unpack(w).0 != head || w & MID == 0;
                self.wait_write(ready, None, true);
                let w = h.get.seen.load(Ordering::Relaxed);
                let (tail, _) = unpack(w);
                if tail == head {
                    // The stream ended without its last record: the writer gave up or died.
                    continue 'message;
                }
                let rec = self
                    .record(head, tail)
                    .inspect_err(|_| self.store(tail, consumed))?;
                if rec.flags & FIRST != 0 {
                    // A new message began: this one was abandoned.
                    continue 'message;
                }
                head = head.wrapping_add(rec.size);
                if rec.flags & PAD != 0 {
                    self.store(head, consumed);
                    continue;
                }
                got += rec.len;
                if got as u64 > total {
                    self.store(tail, consumed);
                    return Err(ReadError::Corrupt(format!(
                        "streamed message longer than its announced {total} bytes"
                    )));
                }
                if !too_large {
                    let bytes = self.payload(head.wrapping_sub(rec.size), rec.len);
                    sink.extend(bytes);
                }
                if rec.flags & LAST != 0 {
                    consumed = consumed.wrapping_add(1);
                    self.store(head, consumed);
                    if too_large {
                        return Err(ReadError::TooLarge { len: total, max });
                    }
                    return Ok(sink.finish());
                }
                self.store(head, consumed);
            }
        }
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        self.h().get.lock.unlock(self.held);
    }
}

/// Frees a whole message once decoded, even if decoding panicked.
struct Release<'r, 'a> {
    reader: &'r Reader<'a>,
    head: u32,
    consumed: u32,
}

impl Drop for Release<'_, '_> {
    fn drop(&mut self) {
        self.reader.store(self.head, self.consumed);
    }
}
