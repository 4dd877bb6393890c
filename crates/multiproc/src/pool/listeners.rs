//! What waits on a result besides `get`: `Future.add_done_callback` callables, the wakers of
//! tasks `.await`ing it, and the waiters of `futures::wait` / `as_completed`. They are
//! added any time and run once, by the thread that makes the result ready, right after it
//! does (or at once by the thread adding one to a result already ready).
//!
//! A result with no listener pays one load when it completes: the adder announces itself
//! (`any`) before it looks at the result's readiness, and the completer marks the result
//! ready before it looks at `any`, both sequentially consistent, so at least one of them
//! sees the other (Dekker's rule) and no listener is left behind.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::Waker;

/// One thing to run once the result is ready.
pub(crate) enum Listener {
    /// A callable (a done-callback, a `wait` waiter): it catches its own panics.
    Call(Box<dyn FnOnce() + Send>),
    /// A task awaiting the result.
    Wake(Waker),
}

impl Listener {
    fn run(self) {
        match self {
            Listener::Call(f) => f(),
            Listener::Wake(w) => w.wake(),
        }
    }
}

#[derive(Default)]
struct List {
    fired: bool,
    next_id: u64,
    list: Vec<(u64, Listener)>,
}

/// The listeners of one result. Most results never have one: the list is allocated by
/// the first, so a result carries 24 bytes for them.
#[derive(Default)]
pub(crate) struct Listeners {
    any: AtomicBool,
    list: Mutex<Option<Box<List>>>,
}

impl Listeners {
    fn lock(&self) -> MutexGuard<'_, Option<Box<List>>> {
        self.list.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `l`, to run once `ready()` holds; returns its id, or gives `l` back when the
    /// result is ready already (the caller runs it).
    pub(crate) fn add(&self, l: Listener, ready: impl Fn() -> bool) -> Result<u64, Listener> {
        self.any.swap(true, Ordering::SeqCst);
        let mut guard = self.lock();
        let st = guard.get_or_insert_with(Box::default);
        if st.fired || ready() {
            return Err(l);
        }
        st.next_id += 1;
        let id = st.next_id;
        st.list.push((id, l));
        Ok(id)
    }

    /// Registers `waker` for an awaiting task, or refreshes the one it registered before
    /// (`id`). False when the result is ready already: poll it instead.
    pub(crate) fn set_waker(
        &self,
        id: &mut Option<u64>,
        waker: &Waker,
        ready: impl Fn() -> bool,
    ) -> bool {
        if let Some(old) = *id {
            let mut st = self.lock();
            if let Some((_, Listener::Wake(w))) = st
                .as_mut()
                .and_then(|st| st.list.iter_mut().find(|(i, _)| *i == old))
            {
                if !w.will_wake(waker) {
                    *w = waker.clone();
                }
                return true;
            }
            drop(st);
            *id = None;
            if ready() {
                return false;
            }
        }
        match self.add(Listener::Wake(waker.clone()), ready) {
            Ok(new) => {
                *id = Some(new);
                true
            }
            Err(_) => false,
        }
    }

    /// Removes listener `id` if it has not run.
    pub(crate) fn remove(&self, id: u64) {
        if let Some(st) = self.lock().as_mut()
            && let Some(i) = st.list.iter().position(|(x, _)| *x == id)
        {
            st.list.remove(i);
        }
    }

    /// The result was just made ready (with a sequentially consistent store): runs every
    /// listener, in the order they were added.
    #[inline]
    pub(crate) fn fire(&self) {
        if self.any.load(Ordering::SeqCst) {
            self.fire_slow();
        }
    }

    #[cold]
    fn fire_slow(&self) {
        let list = {
            let mut guard = self.lock();
            let st = guard.get_or_insert_with(Box::default);
            st.fired = true;
            std::mem::take(&mut st.list)
        };
        for (_, l) in list {
            l.run();
        }
    }
}
