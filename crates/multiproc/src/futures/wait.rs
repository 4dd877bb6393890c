//! [`wait`] (≈ `concurrent.futures.wait`): block until some or all of a set of futures end.

use std::fmt;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::future::Future;

/// When [`wait`] returns (`return_when=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReturnWhen {
    /// `FIRST_COMPLETED`: as soon as any future finishes or is cancelled.
    FirstCompleted,
    /// `FIRST_EXCEPTION`: as soon as any future ends with an error (cancelling is not one);
    /// if none does, when all have ended.
    FirstException,
    /// `ALL_COMPLETED` (the default): when all have ended.
    #[default]
    AllCompleted,
}

pub use ReturnWhen::{
    AllCompleted as ALL_COMPLETED, FirstCompleted as FIRST_COMPLETED,
    FirstException as FIRST_EXCEPTION,
};

/// What [`wait`] found (`DoneAndNotDoneFutures`): each future given, once, in the order
/// given.
pub struct DoneAndNotDone<R: Send + 'static> {
    /// Futures that had finished or been cancelled.
    pub done: Vec<Future<R>>,
    /// The others.
    pub not_done: Vec<Future<R>>,
}

impl<R: Send + 'static> fmt::Debug for DoneAndNotDone<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DoneAndNotDone")
            .field("done", &self.done)
            .field("not_done", &self.not_done)
            .finish()
    }
}

/// Each future once (Python's `set(fs)`), in the order first given.
pub(crate) fn distinct<R: Send + 'static>(fs: &[Future<R>]) -> Vec<Future<R>> {
    let mut seen = std::collections::HashSet::with_capacity(fs.len());
    fs.iter()
        .filter(|f| seen.insert(f.key()))
        .cloned()
        .collect()
}

/// A count of futures that ended, and the condition `wait` sleeps on.
#[derive(Default)]
pub(crate) struct Ended {
    count: Mutex<u64>,
    changed: Condvar,
}

impl Ended {
    pub(crate) fn bump(&self) {
        *self.count.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.changed.notify_all();
    }
}

/// Waits until the futures in `fs` meet `return_when`, or `timeout` passes (`None`: no
/// limit); splits them into done and not done (`concurrent.futures.wait`). A future given
/// twice appears once.
///
/// ```
/// use multiproc::futures::{ThreadPoolExecutor, wait, FIRST_COMPLETED, ALL_COMPLETED};
/// use std::time::Duration;
///
/// let ex = ThreadPoolExecutor::new(2).unwrap();
/// let quick = ex.submit(|x: u32| x, 1).unwrap();
/// let gate = std::sync::Arc::new(multiproc::sync::Event::new());
/// let g = gate.clone();
/// let slow = ex.submit(move |_: u32| { g.wait(); 2 }, 0).unwrap();
/// let r = wait(&[quick.clone(), slow.clone()], None, FIRST_COMPLETED);
/// assert_eq!((r.done.len(), r.not_done.len()), (1, 1));
/// gate.set();
/// let r = wait(&[quick, slow], Some(Duration::from_secs(10)), ALL_COMPLETED);
/// assert_eq!((r.done.len(), r.not_done.len()), (2, 0));
/// ```
pub fn wait<R: Send + 'static>(
    fs: &[Future<R>],
    timeout: Option<Duration>,
    return_when: ReturnWhen,
) -> DoneAndNotDone<R> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let fs = distinct(fs);
    let ended = Arc::new(Ended::default());
    let mut ids = Vec::new();
    let mut listening = false;
    loop {
        let seen = *ended.count.lock().unwrap_or_else(PoisonError::into_inner);
        let (done, not_done): (Vec<_>, Vec<_>) = fs.iter().cloned().partition(|f| f.done());
        let met = not_done.is_empty()
            || match return_when {
                ReturnWhen::FirstCompleted => !done.is_empty(),
                ReturnWhen::FirstException => done.iter().any(|f| f.raised()),
                ReturnWhen::AllCompleted => false,
            };
        let timed_out = deadline.is_some_and(|d| Instant::now() >= d);
        if met || timed_out {
            for (f, id) in ids {
                Future::unlisten(&f, id);
            }
            return DoneAndNotDone { done, not_done };
        }
        if !listening {
            listening = true;
            for f in &not_done {
                let e = ended.clone();
                if let Some(id) = f.listen(Box::new(move || e.bump())) {
                    ids.push((f.clone(), id));
                }
            }
            continue;
        }
        let count = ended.count.lock().unwrap_or_else(PoisonError::into_inner);
        if *count == seen {
            match deadline {
                None => drop(ended.changed.wait(count)),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    drop(ended.changed.wait_timeout(count, left));
                }
            }
        }
    }
}
