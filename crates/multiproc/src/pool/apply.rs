//! [`Apply`]: the methods every pool has, whatever runs its tasks (worker processes, worker
//! threads, and later remote workers), for code written once for all of them.

use std::time::Duration;

use super::imap::IMapIterator;
use super::map::MapResult;
use super::options::{MapOptions, TaskOptions};
use super::result::AsyncResult;
use super::stats::Stats;
use crate::error::PoolError;
use crate::process::Portable;

/// One pool API over every kind of worker (≈ Python's duck typing between `Pool` and
/// `ThreadPool`). Functions are `fn(A) -> R` and values [`Portable`], what every kind can
/// carry; a [`ThreadPool`](super::ThreadPool)'s own methods also take capturing closures.
///
/// ```
/// use multiproc::pool::{Apply, Pool, ThreadPool};
///
/// fn total<P: Apply>(pool: &P) -> u64 {
///     pool.map(|x: u64| x * x, 0..10).unwrap().into_iter().sum()
/// }
/// assert_eq!(total(&ThreadPool::new(2).unwrap()), 285);
/// assert_eq!(total(&Pool::new(2).unwrap()), 285);
/// ```
pub trait Apply {
    /// `apply`.
    fn apply<A: Portable + Send, R: Portable + Send>(
        &self,
        f: fn(A) -> R,
        args: A,
    ) -> Result<R, PoolError>;
    /// `apply_async`.
    fn apply_async<A: Portable + Send, R: Portable + Send>(
        &self,
        f: fn(A) -> R,
        args: A,
    ) -> Result<AsyncResult<R>, PoolError>;
    /// `apply_async` with callbacks and a timeout.
    fn apply_async_with<A: Portable + Send, R: Portable + Send>(
        &self,
        f: fn(A) -> R,
        args: A,
        opts: TaskOptions<R>,
    ) -> Result<AsyncResult<R>, PoolError>;
    /// `apply_async` without waiting for room in a bounded pool.
    fn try_apply_async<A: Portable + Send, R: Portable + Send>(
        &self,
        f: fn(A) -> R,
        args: A,
    ) -> Result<AsyncResult<R>, PoolError>;
    /// `map`.
    fn map<A: Portable + Send, R: Portable + Send, I: IntoIterator<Item = A>>(
        &self,
        f: fn(A) -> R,
        items: I,
    ) -> Result<Vec<R>, PoolError>;
    /// `map` with options.
    fn map_with<A: Portable + Send, R: Portable + Send, I: IntoIterator<Item = A>>(
        &self,
        f: fn(A) -> R,
        items: I,
        opts: MapOptions<R>,
    ) -> Result<Vec<R>, PoolError>;
    /// `map_async` with options.
    fn map_async_with<A: Portable + Send, R: Portable + Send, I: IntoIterator<Item = A>>(
        &self,
        f: fn(A) -> R,
        items: I,
        opts: MapOptions<R>,
    ) -> Result<MapResult<R>, PoolError>;
    /// `imap`.
    fn imap<A, R, I>(&self, f: fn(A) -> R, items: I) -> IMapIterator<'_, R>
    where
        A: Portable + Send,
        R: Portable + Send,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'static;
    /// `imap_unordered`.
    fn imap_unordered<A, R, I>(&self, f: fn(A) -> R, items: I) -> IMapIterator<'_, R>
    where
        A: Portable + Send,
        R: Portable + Send,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'static;
    /// `close`.
    fn close(&self);
    /// `terminate`.
    fn terminate(&self);
    /// `join`.
    fn join(&self) -> Result<(), PoolError>;
    /// `join` for at most `timeout`.
    fn join_timeout(&self, timeout: Duration) -> Result<(), PoolError>;
    /// Workers running a task now.
    fn busy(&self) -> usize;
    /// Workers waiting for a task now.
    fn idle(&self) -> usize;
    /// The number of workers.
    fn processes(&self) -> usize;
    /// Statistics.
    fn stats(&self) -> Stats;
}

macro_rules! impl_apply {
    ($t:ty) => {
        impl Apply for $t {
            fn apply<A: Portable + Send, R: Portable + Send>(
                &self,
                f: fn(A) -> R,
                args: A,
            ) -> Result<R, PoolError> {
                <$t>::apply(self, f, args)
            }
            fn apply_async<A: Portable + Send, R: Portable + Send>(
                &self,
                f: fn(A) -> R,
                args: A,
            ) -> Result<AsyncResult<R>, PoolError> {
                <$t>::apply_async(self, f, args)
            }
            fn apply_async_with<A: Portable + Send, R: Portable + Send>(
                &self,
                f: fn(A) -> R,
                args: A,
                opts: TaskOptions<R>,
            ) -> Result<AsyncResult<R>, PoolError> {
                <$t>::apply_async_with(self, f, args, opts)
            }
            fn try_apply_async<A: Portable + Send, R: Portable + Send>(
                &self,
                f: fn(A) -> R,
                args: A,
            ) -> Result<AsyncResult<R>, PoolError> {
                <$t>::try_apply_async(self, f, args)
            }
            fn map<A: Portable + Send, R: Portable + Send, I: IntoIterator<Item = A>>(
                &self,
                f: fn(A) -> R,
                items: I,
            ) -> Result<Vec<R>, PoolError> {
                <$t>::map(self, f, items)
            }
            fn map_with<A: Portable + Send, R: Portable + Send, I: IntoIterator<Item = A>>(
                &self,
                f: fn(A) -> R,
                items: I,
                opts: MapOptions<R>,
            ) -> Result<Vec<R>, PoolError> {
                <$t>::map_with(self, f, items, opts)
            }
            fn map_async_with<A: Portable + Send, R: Portable + Send, I: IntoIterator<Item = A>>(
                &self,
                f: fn(A) -> R,
                items: I,
                opts: MapOptions<R>,
            ) -> Result<MapResult<R>, PoolError> {
                <$t>::map_async_with(self, f, items, opts)
            }
            fn imap<A, R, I>(&self, f: fn(A) -> R, items: I) -> IMapIterator<'_, R>
            where
                A: Portable + Send,
                R: Portable + Send,
                I: IntoIterator<Item = A>,
                I::IntoIter: 'static,
            {
                <$t>::imap(self, f, items)
            }
            fn imap_unordered<A, R, I>(&self, f: fn(A) -> R, items: I) -> IMapIterator<'_, R>
            where
                A: Portable + Send,
                R: Portable + Send,
                I: IntoIterator<Item = A>,
                I::IntoIter: 'static,
            {
                <$t>::imap_unordered(self, f, items)
            }
            fn close(&self) {
                <$t>::close(self)
            }
            fn terminate(&self) {
                <$t>::terminate(self)
            }
            fn join(&self) -> Result<(), PoolError> {
                <$t>::join(self)
            }
            fn join_timeout(&self, timeout: Duration) -> Result<(), PoolError> {
                <$t>::join_timeout(self, timeout)
            }
            fn busy(&self) -> usize {
                <$t>::busy(self)
            }
            fn idle(&self) -> usize {
                <$t>::idle(self)
            }
            fn processes(&self) -> usize {
                <$t>::processes(self)
            }
            fn stats(&self) -> Stats {
                <$t>::stats(self)
            }
        }
    };
}

impl_apply!(super::Pool);
impl_apply!(super::ThreadPool);
