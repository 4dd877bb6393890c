//! [`as_completed`] (≈ `concurrent.futures.as_completed`): futures in the order they end.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::future::Future;
use super::wait::distinct;
use crate::error::PoolError;

/// Yields each future given (once, even if given twice) as it finishes or is cancelled;
/// those already done first (`concurrent.futures.as_completed(fs, timeout)`). If `timeout`
/// passes first, the next item is `Err(`[`PoolError::Unfinished`]`)` ("2 (of 4) futures
/// unfinished") and the iteration ends.
///
/// ```
/// use multiproc::futures::{ThreadPoolExecutor, as_completed};
///
/// let ex = ThreadPoolExecutor::new(2).unwrap();
/// let fs: Vec<_> = (0..4u64).map(|i| ex.submit(|x: u64| x * x, i).unwrap()).collect();
/// let mut squares: Vec<u64> = as_completed(&fs, None)
///     .map(|f| f.unwrap().result().unwrap())
///     .collect();
/// squares.sort();
/// assert_eq!(squares, [0, 1, 4, 9]);
/// ```
pub fn as_completed<R: Send + 'static>(
    fs: &[Future<R>],
    timeout: Option<Duration>,
) -> AsCompleted<R> {
    let fs = distinct(fs);
    let total = fs.len();
    let (tx, rx) = crossbeam_channel::unbounded();
    let mut finished = VecDeque::new();
    let mut pending = Vec::new();
    let mut listening = Vec::new();
    for (i, f) in fs.iter().enumerate() {
        if f.done() {
            finished.push_back(f.clone());
            continue;
        }
        let tx = tx.clone();
        if let Some(id) = f.listen(Box::new(move || {
            let _ = tx.send(i);
        })) {
            listening.push((i, id));
        }
        pending.push(i);
    }
    AsCompleted {
        fs,
        total,
        finished,
        pending: pending.len(),
        listening,
        rx,
        deadline: timeout.map(|t| Instant::now() + t),
        over: false,
    }
}

/// The iterator of [`as_completed`].
pub struct AsCompleted<R: Send + 'static> {
    fs: Vec<Future<R>>,
    total: usize,
    finished: VecDeque<Future<R>>,
    pending: usize,
    listening: Vec<(usize, u64)>,
    rx: Receiver<usize>,
    deadline: Option<Instant>,
    over: bool,
}

impl<R: Send + 'static> Iterator for AsCompleted<R> {
    type Item = Result<Future<R>, PoolError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(f) = self.finished.pop_front() {
            return Some(Ok(f));
        }
        if self.over || self.pending == 0 {
            return None;
        }
        let got = match self.deadline {
            None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(d) => self.rx.recv_deadline(d),
        };
        match got {
            Ok(i) => {
                self.pending -= 1;
                Some(Ok(self.fs[i].clone()))
            }
            Err(_) => {
                self.over = true;
                Some(Err(PoolError::Unfinished {
                    unfinished: self.pending,
                    total: self.total,
                }))
            }
        }
    }
}

impl<R: Send + 'static> Drop for AsCompleted<R> {
    fn drop(&mut self) {
        for &(i, id) in &self.listening {
            self.fs[i].unlisten(id);
        }
    }
}

impl<R: Send + 'static> fmt::Debug for AsCompleted<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("total", &self.total)
            .field("pending", &self.pending)
            .finish()
    }
}
