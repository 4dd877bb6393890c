//! The put side: the holder of the put lock, writing one message as a whole record or as a
//! stream of records, publishing the write word after each, and repairing what a producer
//! that died holding the lock left behind.

use std::time::Instant;

use super::handle::Ring;
use super::handle::WriteError;
use super::layout::{FIRST, HEADER, Header, JOINABLE, LAST, MID, PAD, align8, pack_write, unpack};
use super::wake::{LAST_READ, LAST_WRITTEN, store_then_look};
use crate::primitive::atomic::Ordering;
use crate::sync::biased::{Entered, Held};

/// The put-lock holder. Releases the lock on drop, first abandoning a half-written message
/// (a panic or a timeout mid-stream), so readers drop it.
pub(super) struct Writer<'a> {
    ring: &'a Ring,
    held: Held,
    mid: bool,
}

impl<'a> Writer<'a> {
    /// Holding the put lock as `got` says; first repairs what a producer that died holding it
    /// left behind.
    #[inline]
    pub(super) fn enter(ring: &'a Ring, got: Entered) -> Writer<'a> {
        let mut w = Writer {
            ring,
            held: got.held,
            mid: false,
        };
        if got.died {
            w.recover();
        }
        w
    }

    #[inline]
    fn h(&self) -> &Header {
        self.ring.h()
    }

    /// The put lock came from a dead producer: end its half message and undo a task count it
    /// added without publishing the message.
    fn recover(&mut self) {
        let h = self.h();
        h.space.sleeping.store(0, Ordering::Relaxed);
        let w = h.put.word.load(Ordering::Relaxed);
        if w & MID != 0 {
            self.publish(w & !MID);
        }
        if h.kind != JOINABLE {
            return;
        }
        // Killed between adding the task and publishing its message: take the task back.
        h.tasks.take_back_unpublished(unpack(w).1);
    }

    #[inline]
    fn publish(&self, w: u64) {
        LAST_WRITTEN.set(self.ring.base);
        let h = self.h();
        store_then_look(&h.put.word, w);
        h.data.notify();
        h.pollers.notify();
    }

    /// Waits on the read word (space, maxsize).
    #[inline]
    pub(super) fn wait_read(&self, ready: impl Fn(u64) -> bool, deadline: Option<Instant>) -> bool {
        let h = self.h();
        if ready(h.put.seen.load(Ordering::Relaxed)) {
            return true;
        }
        let us = LAST_READ.get() == self.ring.base;
        h.space
            .wait(&h.get.word, &h.put.seen, ready, deadline, us, || {})
    }

    /// Waits for `need` free bytes.
    #[inline]
    fn wait_free(&self, tail: u32, need: usize, deadline: Option<Instant>) -> bool {
        let cap = self.ring.capacity();
        self.wait_read(
            |read| cap - tail.wrapping_sub(unpack(read).0) as usize >= need,
            deadline,
        )
    }

    #[inline]
    fn write_header(&self, pos: u32, len: usize, flags: u32) {
        let v = len as u64 | (flags as u64) << 32;
        // SAFETY: `pos` is 8-aligned and the record fits before the ring's end (callers
        // check), in bytes no reader looks at until the next publish.
        unsafe { self.ring.ring_ptr(pos).cast::<u64>().write(v) };
    }

    #[inline]
    pub(super) fn write_whole(
        &mut self,
        parts: &[&[u8]],
        total: usize,
        deadline: Option<Instant>,
        task: bool,
    ) -> Result<(), WriteError> {
        let cap = self.ring.capacity();
        let (mut tail, committed) = unpack(self.h().put.word.load(Ordering::Relaxed));
        let rec = HEADER + align8(total);
        let to_end = cap - (tail as usize & (cap - 1));
        let need = if to_end < rec { to_end + rec } else { rec };
        if !self.wait_free(tail, need, deadline) {
            return Err(WriteError::Full);
        }
        if to_end < rec {
            self.write_header(tail, to_end - HEADER, PAD);
            tail = tail.wrapping_add(to_end as u32);
        }
        self.write_header(tail, total, FIRST | LAST);
        copy_parts(
            parts,
            0,
            total,
            self.ring.ring_ptr(tail.wrapping_add(HEADER as u32)),
        );
        if task {
            self.h().tasks.add();
        }
        self.publish(pack_write(
            tail.wrapping_add(rec as u32),
            committed.wrapping_add(1),
            false,
        ));
        self.mid = false;
        Ok(())
    }

    pub(super) fn write_streamed(
        &mut self,
        parts: &[&[u8]],
        total: usize,
        deadline: Option<Instant>,
        task: bool,
    ) -> Result<(), WriteError> {
        let cap = self.ring.capacity();
        let chunk_max = self.ring.whole_max();
        // Wake the reader in steps of at least this much, not for every few bytes.
        let step = cap / 16;
        let (mut tail, committed) = unpack(self.h().put.word.load(Ordering::Relaxed));
        let mut done = 0;
        loop {
            let first = done == 0;
            let extra = if first { 8 } else { 0 };
            let remaining = total - done;
            let want = HEADER + extra + align8(remaining.min(step));
            if !self.wait_free(tail, want, deadline) {
                // Abandon the half message (Drop clears MID); readers drop what they have.
                return Err(WriteError::Full);
            }
            let (head, _) = unpack(self.h().put.seen.load(Ordering::Relaxed));
            let free = cap - tail.wrapping_sub(head) as usize;
            let to_end = cap - (tail as usize & (cap - 1));
            if to_end < want {
                self.write_header(tail, to_end - HEADER, PAD);
                tail = tail.wrapping_add(to_end as u32);
                continue;
            }
            let room = free.min(to_end).min(HEADER + extra + chunk_max);
            let len = remaining.min(room - HEADER - extra);
            let last = len == remaining;
            let flags = if first { FIRST } else { 0 } | if last { LAST } else { 0 };
            self.write_header(tail, extra + len, flags);
            let mut at = tail.wrapping_add(HEADER as u32);
            if first {
                // SAFETY: 8-aligned, inside the record just sized.
                unsafe { self.ring.ring_ptr(at).cast::<u64>().write(total as u64) };
                at = at.wrapping_add(8);
            }
            copy_parts(parts, done, len, self.ring.ring_ptr(at));
            done += len;
            tail = tail.wrapping_add((HEADER + align8(extra + len)) as u32);
            if last {
                if task {
                    self.h().tasks.add();
                }
                self.publish(pack_write(tail, committed.wrapping_add(1), false));
                self.mid = false;
                return Ok(());
            }
            self.mid = true;
            self.publish(pack_write(tail, committed, true));
        }
    }
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        let h = self.h();
        if self.mid {
            let w = h.put.word.load(Ordering::Relaxed);
            self.publish(w & !MID);
        }
        h.put.lock.unlock(self.held);
    }
}

/// Copies `len` bytes starting at offset `from` of the concatenation of `parts` to `dst`.
#[inline]
fn copy_parts(parts: &[&[u8]], mut from: usize, mut len: usize, mut dst: *mut u8) {
    for p in parts {
        if len == 0 {
            break;
        }
        if from >= p.len() {
            from -= p.len();
            continue;
        }
        let n = (p.len() - from).min(len);
        // SAFETY: `dst` has `len` writable bytes in the ring (the caller sized the record),
        // reserved by the put lock and not yet published; `p[from..from + n]` is in bounds.
        unsafe {
            std::ptr::copy_nonoverlapping(p.as_ptr().add(from), dst, n);
            dst = dst.add(n);
        }
        len -= n;
        from = 0;
    }
}
