//! [`block_on`]: runs one future to its end on this thread (≈ `asyncio.run` for one
//! coroutine). For tests, examples and programs that await a single thing; a program with
//! many tasks brings its own executor (tokio, smol, async-std), and multiproc's futures
//! work under any of them.

use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
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
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        match f.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park(),
        }
    }
}
