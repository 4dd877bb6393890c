//! [`Collector`]: a `Vec` that several threads fill at once, each its own [`Part`], so that a
//! thread pool's `map` writes every result straight where it belongs in the list it returns,
//! as rayon's `collect_into_vec` does, instead of returning a vector per chunk to be copied
//! into the whole afterwards (a full extra pass over the results).
//!
//! The collector owns the allocation. Parts are claimed one after another, each the next
//! `len` slots ([`Collector::part`]); a part is written front to back ([`Part::push`]) and,
//! once full, [`finish`](Part::finish)ed. When every claimed part has finished,
//! [`take`](Collector::take) hands the filled prefix over as a `Vec`. Nothing here trusts its
//! callers' counts:
//!
//! - a claim past the capacity is refused (and every claim after it, so the parts that do
//!   land stay one contiguous prefix): the caller keeps that chunk's results itself;
//! - a part dropped before it is full (its task panicked, or was dropped unrun) drops what it
//!   wrote, and the collector can no longer be taken;
//! - the collector dropped untaken drops exactly the finished parts' values;
//! - a part keeps the collector alive, so a thread that outlives the `map` (a thread pool's
//!   `terminate` abandons a running task) writes into memory that is still allocated.
//!
//! Why hand-written: rayon's collect consumer is internal to its own fork-join and cannot run
//! on another pool's threads; `Vec::spare_capacity_mut` lends the whole spare room as one
//! borrow, which cannot be split among tasks that may outlive the caller's stack frame.
//!
//! ```ignore
//! let c = Collector::with_capacity(4);
//! let (mut a, mut b) = (c.part(2).unwrap(), c.part(2).unwrap());
//! b.push(3).unwrap(); b.push(4).unwrap();     // any order, any thread
//! a.push(1).unwrap(); a.push(2).unwrap();
//! b.finish().ok(); a.finish().ok();
//! assert_eq!(c.take(), Some(vec![1, 2, 3, 4]));
//! ```

use std::mem::ManuallyDrop;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// A `Vec` filled by parts (see the [module docs](self)).
pub(crate) struct Collector<T> {
    ptr: *mut T,
    cap: usize,
    state: Mutex<State>,
}

struct State {
    /// The end of the claimed prefix.
    claimed: usize,
    /// A claim was refused: no more are granted.
    closed: bool,
    /// The finished parts, (start, len).
    done: Vec<(usize, usize)>,
    /// The sum of the finished parts' lengths.
    filled: usize,
    /// The values were handed over by [`Collector::take`].
    taken: bool,
}

// SAFETY: the collector owns `T`s (moved in by parts, possibly on other threads, and out by
// `take` or its drop on whichever thread ends it), so it is `Send` and `Sync` exactly when
// `T` may move between threads. All shared bookkeeping is under the mutex; each slot is
// written by the one part that claimed it.
unsafe impl<T: Send> Send for Collector<T> {}
// SAFETY: as above; `&Collector` gives no access to a `T` except through `take`, which moves
// the values out once.
unsafe impl<T: Send> Sync for Collector<T> {}

impl<T> Collector<T> {
    /// Room for `n` values, or none at all when that much memory cannot be had (every claim
    /// is then refused, and the caller keeps its parts' results itself).
    pub(crate) fn with_capacity(n: usize) -> Arc<Self> {
        let mut v: Vec<T> = Vec::new();
        let _ = v.try_reserve_exact(n);
        let mut v = ManuallyDrop::new(v);
        Arc::new(Collector {
            ptr: v.as_mut_ptr(),
            cap: v.capacity(),
            state: Mutex::new(State {
                claimed: 0,
                closed: false,
                done: Vec::new(),
                filled: 0,
                taken: false,
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next `len` slots, or `None` when they are past the capacity (then no later claim
    /// is granted either) or the values were already taken.
    pub(crate) fn part(self: &Arc<Self>, len: usize) -> Option<Part<T>> {
        let mut s = self.state();
        if s.closed || s.taken || len > self.cap - s.claimed {
            s.closed = true;
            return None;
        }
        let start = s.claimed;
        s.claimed += len;
        Some(Part {
            owner: self.clone(),
            start,
            len,
            written: 0,
        })
    }

    /// The values of every claimed part, in order, once each has finished; `None` while one
    /// has not (or one was dropped unfinished), or when already taken.
    pub(crate) fn take(&self) -> Option<Vec<T>> {
        let mut s = self.state();
        if s.taken || s.filled != s.claimed {
            return None;
        }
        s.taken = true;
        // SAFETY: `ptr` and `cap` come from a `Vec<T>` this collector owns and has not
        // released (`taken` was false). Parts are disjoint ranges of `[0, claimed)` and the
        // finished ones sum to `claimed`, so every slot there holds a value written by a part
        // that has finished and writes no more. `taken` now stops the drop below from
        // freeing the buffer or dropping the values.
        Some(unsafe { Vec::from_raw_parts(self.ptr, s.claimed, self.cap) })
    }
}

impl<T> Drop for Collector<T> {
    fn drop(&mut self) {
        let s = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        if s.taken {
            return;
        }
        for &(start, len) in &s.done {
            // SAFETY: a finished part's slots all hold values written by it, dropped only
            // here (the collector was not taken); nothing else refers to them any more (we
            // hold the last reference: parts keep the collector alive).
            unsafe {
                std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(
                    self.ptr.add(start),
                    len,
                ))
            };
        }
        // SAFETY: the allocation of the `Vec<T>` made in `with_capacity`, with its capacity;
        // length 0, so only the memory is freed (the values were dropped above).
        drop(unsafe { Vec::from_raw_parts(self.ptr, 0, self.cap) });
    }
}

/// `len` consecutive slots of a [`Collector`], written front to back by one owner.
pub(crate) struct Part<T> {
    owner: Arc<Collector<T>>,
    start: usize,
    len: usize,
    written: usize,
}

impl<T> Part<T> {
    /// Writes the next slot, or gives `value` back when the part is full (tests; the pool
    /// writes with [`fill`](Part::fill)).
    #[cfg(test)]
    pub(crate) fn push(&mut self, value: T) -> Result<(), T> {
        if self.written == self.len {
            return Err(value);
        }
        // SAFETY: `start + written < start + len <= cap`, so the slot is inside the
        // allocation; the range `[start, start + len)` was claimed by this part alone (under
        // the collector's lock), and slots are written once, front to back, so this one holds
        // no value yet. The collector outlives this part (`owner`).
        unsafe { self.owner.ptr.add(self.start + self.written).write(value) };
        self.written += 1;
        Ok(())
    }

    /// Slots not yet written.
    pub(crate) fn room(&self) -> usize {
        self.len - self.written
    }

    /// Writes the next slots from `values`, as many as there is room for (a tight loop
    /// where [`push`](Part::push) checks each slot).
    pub(crate) fn fill(&mut self, values: impl Iterator<Item = T>) {
        /// Counts the slots written, into the part, even when `values` panics.
        struct Written<'a>(&'a mut usize, usize);
        impl Drop for Written<'_> {
            fn drop(&mut self) {
                *self.0 += self.1;
            }
        }
        let room = self.len - self.written;
        // SAFETY: `start + written <= start + len <= cap`: inside (or one past the end of)
        // the allocation, which the collector keeps alive.
        let next = unsafe { self.owner.ptr.add(self.start + self.written) };
        let mut written = Written(&mut self.written, 0);
        for v in values.take(room) {
            // SAFETY: `written.1 < room`, so the slot is inside this part's unwritten rest,
            // claimed by this part alone; the count is recorded before the part is used again
            // (on return or unwinding), so the value is dropped once.
            unsafe { next.add(written.1).write(v) };
            written.1 += 1;
        }
    }

    /// Marks a full part finished: its values now belong to the collector. Gives the part
    /// back when it is not full.
    pub(crate) fn finish(self) -> Result<usize, Self> {
        if self.written != self.len {
            return Err(self);
        }
        let me = ManuallyDrop::new(self);
        {
            let mut s = me.owner.state();
            s.done.push((me.start, me.len));
            s.filled += me.len;
        }
        // SAFETY: `me` is never used or dropped again (ManuallyDrop), so the `Arc` is moved
        // out of it exactly once and dropped here; the part's own drop (which would drop the
        // values now owned by the collector) does not run.
        drop(unsafe { std::ptr::read(&me.owner) });
        Ok(me.len)
    }
}

impl<T> Drop for Part<T> {
    fn drop(&mut self) {
        // SAFETY: the first `written` slots of this part hold values it wrote and still owns
        // (it did not finish); dropping them here leaves them unwritten for the collector,
        // which never drops or hands over an unfinished part's slots.
        unsafe {
            std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(
                self.owner.ptr.add(self.start),
                self.written,
            ))
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn parts_filled_from_threads_in_any_order() {
        let c = Collector::<String>::with_capacity(1000);
        let parts: Vec<_> = (0..10).map(|_| c.part(100).unwrap()).collect();
        assert!(c.take().is_none(), "nothing finished yet");
        let threads: Vec<_> = parts
            .into_iter()
            .enumerate()
            .rev()
            .map(|(i, mut p)| {
                std::thread::spawn(move || {
                    for j in 0..100 {
                        p.push(format!("{}", i * 100 + j)).unwrap();
                    }
                    assert!(p.push("one too many".into()).is_err());
                    p.finish().ok().unwrap()
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), 100);
        }
        let v = c.take().unwrap();
        assert_eq!(v, (0..1000).map(|i| i.to_string()).collect::<Vec<_>>());
        assert!(c.take().is_none(), "taken once");
        assert!(c.part(1).is_none(), "no claim after take");
    }

    #[test]
    fn fill_stops_at_the_room_and_counts_through_a_panic() {
        let c = Collector::with_capacity(6);
        let mut a = c.part(3).unwrap();
        a.fill((0..10).map(|i| i.to_string()));
        assert!(a.push("x".into()).is_err(), "full after three");
        a.finish().ok().unwrap();
        let mut b = c.part(3).unwrap();
        let drops = AtomicUsize::new(0);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            b.fill((3..6).map(|i| {
                assert!(i < 5, "boom");
                i.to_string()
            }))
        }));
        assert!(r.is_err());
        b.push("5".into()).unwrap();
        b.finish().ok().unwrap();
        assert_eq!(c.take().unwrap(), ["0", "1", "2", "3", "4", "5"]);
        assert_eq!(drops.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn claims_past_capacity_refused_and_closed() {
        let c = Collector::<u8>::with_capacity(10);
        let _a = c.part(4).unwrap();
        let _b = c.part(4).unwrap();
        assert!(c.part(4).is_none());
        assert!(c.part(2).is_none(), "a refused claim closes the collector");
    }

    struct Counted<'a>(&'a AtomicUsize);
    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn every_value_dropped_exactly_once_whatever_ends_first() {
        let drops = AtomicUsize::new(0);
        {
            let c = Collector::with_capacity(9);
            let mut full = c.part(3).unwrap();
            let mut half = c.part(3).unwrap();
            let _never = c.part(3).unwrap();
            for _ in 0..3 {
                full.push(Counted(&drops)).ok().unwrap();
            }
            full.finish().ok().unwrap();
            half.push(Counted(&drops)).ok().unwrap();
            let half = half.finish().expect_err("not full");
            drop(half);
            assert_eq!(
                drops.load(Ordering::Relaxed),
                1,
                "the unfinished part's value"
            );
            assert!(c.take().is_none(), "a hole: cannot be taken");
        }
        assert_eq!(
            drops.load(Ordering::Relaxed),
            4,
            "the finished part's three"
        );

        let drops = AtomicUsize::new(0);
        let c = Collector::with_capacity(2);
        let mut p = c.part(2).unwrap();
        p.push(Counted(&drops)).ok().unwrap();
        p.push(Counted(&drops)).ok().unwrap();
        p.finish().ok().unwrap();
        let v = c.take().unwrap();
        drop(c);
        assert_eq!(
            drops.load(Ordering::Relaxed),
            0,
            "taken values are the Vec's"
        );
        drop(v);
        assert_eq!(drops.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_part_outliving_its_collector_handle_keeps_the_memory() {
        let c = Collector::with_capacity(3);
        let mut p = c.part(3).unwrap();
        drop(c);
        let t = std::thread::spawn(move || {
            for i in 0..3 {
                p.push(vec![i; 100]).unwrap();
            }
            p.finish().ok().unwrap()
        });
        assert_eq!(t.join().unwrap(), 3);
    }

    #[test]
    fn zero_sized_values_and_impossible_capacity() {
        let c = Collector::<()>::with_capacity(5);
        let mut p = c.part(5).unwrap();
        for _ in 0..5 {
            p.push(()).unwrap();
        }
        p.finish().ok().unwrap();
        assert_eq!(c.take().unwrap().len(), 5);

        let c = Collector::<u64>::with_capacity(usize::MAX / 4);
        assert!(
            c.part(1).is_none(),
            "no memory: every claim refused, no abort"
        );
    }
}
