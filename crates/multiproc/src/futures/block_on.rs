//! [`block_on`]: runs one future to its end on this thread (≈ `asyncio.run` for one
//! coroutine). For tests, examples and programs that await a single thing; a program with
//! many tasks brings its own executor (tokio, smol, async-std), and multiproc's futures
//! work under any of them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

/// Yields a parked-to-be thread makes, looking for a wake-up, before it sleeps: a result
/// from a running worker usually arrives within them, and a sleep and wake-up costs a few
/// microseconds (the same reasoning as `Event::wait`'s spin).
const YIELDS: u32 = 40;

struct Unpark {
    thread: Thread,
    woken: AtomicBool,
}

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// Polls `f` on this thread, parking it between wake-ups, and returns its output.
///
/// ```
/// use multiproc::futures::{ThreadPoolExecutor, block_on};
///
/// let ex = ThreadPoolExecutor::new(2).unwrap();
/// let f = ex.submit(|x: u32| x * 3, 14).unwrap();
/// assert_eq!(block_on(f), Ok(42));
/// ```
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let unpark = Arc::new(Unpark {
        thread: std::thread::current(),
        woken: AtomicBool::new(false),
    });
    let waker = Waker::from(unpark.clone());
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        let mut yields = 0;
        while !unpark.woken.swap(false, Ordering::Acquire) {
            if yields < YIELDS {
                yields += 1;
                std::thread::yield_now();
            } else {
                std::thread::park();
            }
        }
    }
}
