//! Spin-then-sleep for the server's threads: right after answering, a thread looks for its
//! client's next request for a while before it goes to sleep, because a client in a loop
//! comes straight back, and waking a sleeping thread costs more than the call (a futex or
//! socket wake-up reaches an idle CPU of a virtual machine in 20 to 40 µs). An idle client
//! costs nothing: a thread looks only right after an answer, for at most [`SPIN`].

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::State;

/// How long a thread looks after an answer.
pub(super) const SPIN: Duration = Duration::from_micros(200);

/// Looks until `ready()` for up to [`SPIN`], if few other threads are looking; whether it
/// became ready. With `cheap`, `ready` costs no system call, and the first looks only spin;
/// otherwise the thread yields between looks.
pub(crate) fn look_awhile(state: &State, cheap: bool, mut ready: impl FnMut() -> bool) -> bool {
    // As many at once as a client process lets look (one fewer than the CPUs): many
    // clients do not crowd the CPUs with looking.
    if state.spinning.fetch_add(1, Ordering::Relaxed) >= crate::manager::channel::lookers() {
        state.spinning.fetch_sub(1, Ordering::Relaxed);
        return false;
    }
    let start = Instant::now();
    let mut found = false;
    let mut looks = 0u32;
    let spins = if cheap { 256 } else { 0 };
    loop {
        if ready() {
            found = true;
            break;
        }
        looks += 1;
        if looks < spins {
            std::hint::spin_loop();
        } else if start.elapsed() < SPIN {
            std::thread::yield_now();
        } else {
            break;
        }
    }
    state.spinning.fetch_sub(1, Ordering::Relaxed);
    found
}
