//! A [`Condition`](super::Condition)'s waiters grouped by process, so that the waiters of a
//! process that died can be dropped.
//!
//! The wait queue counts its waiters (see [`condition`](super::condition)): it cannot tell
//! whose they are. Between threads of one process that is all it needs, but a condition in
//! shared memory may have waiters in several processes, and a process killed inside `wait`
//! would stay counted forever: `waiting()` would say 1, a `notify_one()` would be granted to
//! nobody, and the grant would later let two waiters return for one notify.
//!
//! So a condition in shared memory keeps up to [`SLOTS`] *groups*, one per process with
//! waiters. A group has its own counts and its own futex word, and a waiter takes wake-ups
//! only from its own group. `notify(n)` grants to groups in turn (starting where the last one
//! stopped), and before granting to another process's group it asks whether that process is
//! definitely dead ([`sys::liveness`](crate::sys::liveness)); a dead group is emptied, its
//! waiters no longer counted. A grant made to a process that dies before its waiter wakes is
//! lost with it, and never duplicated: no other group can take it. A group whose process has
//! no waiter left is free for another process.
//!
//! Every field changes only with the condition's lock held. More processes waiting at once
//! than there are groups fall back to the plain counting queue (their deaths go unseen).

use std::time::Instant;

use super::condition::{Relock, grant, wait_counted};
use crate::primitive::atomic::{AtomicU32, AtomicU64, Ordering};
use crate::primitive::{is_dead, process_identity};

/// Processes that can wait on one shared condition at once with their deaths detected.
pub(crate) const SLOTS: usize = 8;

#[derive(Debug, Default)]
#[repr(C)]
struct Group {
    /// The process (`pid << 32 | start time`), 0 when free.
    owner: AtomicU64,
    /// Its waiters not yet granted a wake-up.
    waiting: AtomicU32,
    /// Wake-ups granted to its waiters and not yet taken.
    granted: AtomicU32,
    /// Bumped by every grant to this group; the futex its waiters sleep on.
    seq: AtomicU32,
    _pad: u32,
}

/// The groups of one condition. See the [module docs](self).
#[derive(Debug)]
#[repr(C)]
pub(crate) struct ProcessWaiters {
    /// Non-zero once the condition lives in shared memory; before that nothing here is used.
    robust: AtomicU32,
    /// Where the next notify starts granting, so no group is always served last.
    next: AtomicU32,
    groups: [Group; SLOTS],
}

impl Default for ProcessWaiters {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcessWaiters {
    #[cfg(not(multiproc_loom))]
    pub(crate) const fn new() -> ProcessWaiters {
        ProcessWaiters {
            robust: AtomicU32::new(0),
            next: AtomicU32::new(0),
            groups: [const {
                Group {
                    owner: AtomicU64::new(0),
                    waiting: AtomicU32::new(0),
                    granted: AtomicU32::new(0),
                    seq: AtomicU32::new(0),
                    _pad: 0,
                }
            }; SLOTS],
        }
    }

    #[cfg(multiproc_loom)]
    pub(crate) fn new() -> ProcessWaiters {
        ProcessWaiters {
            robust: AtomicU32::new(0),
            next: AtomicU32::new(0),
            groups: std::array::from_fn(|_| Group::default()),
        }
    }

    pub(crate) fn make_robust(&self) {
        self.robust.store(1, Ordering::Relaxed);
    }

    fn is_robust(&self) -> bool {
        self.robust.load(Ordering::Relaxed) != 0
    }

    /// Empties group `g` if its process is definitely dead (not this process's).
    fn drop_if_dead(&self, g: &Group, me: u64) -> bool {
        let owner = g.owner.load(Ordering::Relaxed);
        if owner == 0 || owner == me || !is_dead((owner >> 32) as u32, owner & 0xffff_ffff) {
            return false;
        }
        g.waiting.store(0, Ordering::Relaxed);
        g.granted.store(0, Ordering::Relaxed);
        g.owner.store(0, Ordering::Relaxed);
        true
    }

    /// This process's group, claiming a free one (or a dead process's) if it has none.
    /// `None` when not robust, or every group belongs to a live process with waiters.
    fn join(&self) -> Option<&Group> {
        if !self.is_robust() {
            return None;
        }
        let me = process_identity();
        if let Some(g) = self
            .groups
            .iter()
            .find(|g| g.owner.load(Ordering::Relaxed) == me)
        {
            return Some(g);
        }
        let free = |g: &&Group| {
            g.owner.load(Ordering::Relaxed) == 0
                || (g.waiting.load(Ordering::Relaxed) == 0
                    && g.granted.load(Ordering::Relaxed) == 0)
        };
        let g = match self.groups.iter().find(free) {
            Some(g) => g,
            None => self.groups.iter().find(|g| self.drop_if_dead(g, me))?,
        };
        g.owner.store(me, Ordering::Relaxed);
        g.waiting.store(0, Ordering::Relaxed);
        g.granted.store(0, Ordering::Relaxed);
        Some(g)
    }

    /// Waits in this process's group; `None` if it has none (the caller uses the plain
    /// queue). Same rules as the plain queue: the caller holds the lock behind `relock`.
    pub(crate) fn wait_until(
        &self,
        relock: &mut impl Relock,
        deadline: Option<Instant>,
    ) -> Option<bool> {
        let g = self.join()?;
        Some(wait_counted(
            &g.seq, &g.waiting, &g.granted, relock, deadline,
        ))
    }

    /// Grants up to `n` wake-ups to live groups; returns how many.
    pub(crate) fn notify(&self, n: usize) -> usize {
        if n == 0 || !self.is_robust() {
            return 0;
        }
        let me = process_identity();
        let start = self.next.load(Ordering::Relaxed) as usize;
        let mut k = 0;
        for i in 0..SLOTS {
            if k == n {
                break;
            }
            let g = &self.groups[(start + i) % SLOTS];
            if g.waiting.load(Ordering::Relaxed) == 0 || self.drop_if_dead(g, me) {
                continue;
            }
            k += grant(&g.seq, &g.waiting, &g.granted, n - k);
        }
        self.next
            .store(((start + 1) % SLOTS) as u32, Ordering::Relaxed);
        k
    }

    /// Waiters of live processes not yet granted a wake-up.
    pub(crate) fn waiting(&self) -> usize {
        if !self.is_robust() {
            return 0;
        }
        let me = process_identity();
        self.groups
            .iter()
            .filter(|g| g.waiting.load(Ordering::Relaxed) > 0 && !self.drop_if_dead(g, me))
            .map(|g| g.waiting.load(Ordering::Relaxed) as usize)
            .sum()
    }
}
