//! [`scope`]: jobs that borrow from the caller's stack, run by threads that live longer (a
//! thread pool's workers), as `std::thread::scope` does for threads it starts itself.
//!
//! A pool's job must be `'static`: it is queued, and may be run or dropped on another thread
//! at any later time (or abandoned mid-run by a thread pool's `terminate`). [`Scope::job`]
//! turns a closure that borrows into such a job, and [`scope`] does not return (nor unwind)
//! until every job made in it has been dropped: run to its end, or discarded unrun. That is
//! what makes the borrows sound, and it is the same rule, and the same lifetime trick
//! (`'scope` chosen by `scope` itself, invariant, so nothing created inside the body can be
//! borrowed for it), as the standard library's scoped threads.
//!
//! The cost of the rule: a job stuck forever keeps [`scope`] waiting forever, even after the
//! pool was terminated (a terminated thread pool can only abandon its threads).
//!
//! Why hand-written: `std::thread::scope` and crossbeam's scope start their own threads;
//! rayon's `scope` runs on rayon's pool. None can hand a borrowing job to another pool.
//!
//! ```ignore
//! let data = vec![1, 2, 3];
//! let sum = scope::scope(|s| {
//!     let job = s.job(|_finish| data.iter().sum::<i32>());  // borrows `data`
//!     std::thread::spawn(move || job(&|| true)).join().unwrap()
//! });
//! ```

use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

/// What a pool's worker passes its job (a thread pool's `finish`: may this worker deliver).
pub(crate) type Finish<'a> = &'a dyn Fn() -> bool;

/// A job as a pool queues it.
pub(crate) type Job<O> = Box<dyn for<'a> FnOnce(Finish<'a>) -> O + Send + 'static>;

/// The jobs made in one [`scope`] and not yet dropped.
#[derive(Default)]
struct Live {
    count: Mutex<usize>,
    zero: Condvar,
}

impl Live {
    fn add(&self) {
        *self.count.lock().unwrap_or_else(PoisonError::into_inner) += 1;
    }

    fn done(&self) {
        let mut n = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        *n -= 1;
        if *n == 0 {
            self.zero.notify_all();
        }
    }

    fn wait(&self) {
        let mut n = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        while *n > 0 {
            n = self.zero.wait(n).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Held by a job; dropped with it, whether it ran or not.
struct Token(Arc<Live>);

impl Drop for Token {
    fn drop(&mut self) {
        self.0.done();
    }
}

/// Makes jobs that may borrow anything that outlives the [`scope`] call (`'env`).
pub(crate) struct Scope<'scope, 'env: 'scope> {
    live: Arc<Live>,
    /// Invariant in `'scope`, as `std::thread::Scope`: the body cannot shrink it to fit a
    /// borrow of its own locals.
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

/// Runs `body` with a [`Scope`], then waits until every job made in it has been dropped,
/// also when `body` panics (the panic then goes on).
pub(crate) fn scope<'env, T>(body: impl for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T) -> T {
    let s = Scope {
        live: Arc::new(Live::default()),
        scope: PhantomData,
        env: PhantomData,
    };
    let r = catch_unwind(AssertUnwindSafe(|| body(&s)));
    s.live.wait();
    match r {
        Ok(v) => v,
        Err(p) => resume_unwind(p),
    }
}

impl<'scope> Scope<'scope, '_> {
    /// `f` as a `'static` job; [`scope`] waits for it to be dropped.
    pub(crate) fn job<O: 'static>(
        &'scope self,
        f: impl for<'a> FnOnce(Finish<'a>) -> O + Send + 'scope,
    ) -> Job<O> {
        self.live.add();
        let token = Token(self.live.clone());
        let job: Box<dyn for<'a> FnOnce(Finish<'a>) -> O + Send + 'scope> =
            Box::new(move |finish| {
                let _token = token;
                f(finish)
            });
        // SAFETY: only the lifetime changes (`'scope` to `'static`; the layout of a boxed
        // trait object does not depend on it). Everything `f` borrows outlives `'scope`,
        // and `scope` does not return or unwind before `live` is back to zero, which
        // happens only once this box has been dropped (its `token` is dropped with it,
        // after `f` returned if it was called). So no borrow is used after it ends.
        unsafe {
            std::mem::transmute::<
                Box<dyn for<'a> FnOnce(Finish<'a>) -> O + Send + 'scope>,
                Box<dyn for<'a> FnOnce(Finish<'a>) -> O + Send + 'static>,
            >(job)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    #[test]
    fn waits_for_jobs_run_on_other_threads_and_for_dropped_ones() {
        let data: Vec<u64> = (1..=100).collect();
        let ran = AtomicBool::new(false);
        let sum = scope(|s| {
            let job = s.job(|finish| {
                assert!(finish());
                std::thread::sleep(Duration::from_millis(50)); // a slow job: scope waits
                ran.store(true, Ordering::Relaxed);
                data.iter().sum::<u64>()
            });
            let unrun = s.job(|_| data.len());
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                drop(unrun);
                tx.send(job(&|| true)).unwrap();
            });
            rx
        })
        .recv_timeout(Duration::from_secs(10))
        .unwrap();
        assert_eq!(sum, 5050);
        assert!(ran.load(Ordering::Relaxed));
    }

    #[test]
    fn a_panicking_body_still_waits() {
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        let r = catch_unwind(AssertUnwindSafe(|| {
            scope(|s| {
                let job = s.job(move |_| {
                    std::thread::sleep(Duration::from_millis(50));
                    d.store(true, Ordering::Relaxed);
                });
                std::thread::spawn(move || job(&|| true));
                panic!("body");
            })
        }));
        assert!(r.is_err());
        assert!(
            done.load(Ordering::Relaxed),
            "the job ended before scope unwound"
        );
    }
}
