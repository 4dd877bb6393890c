//! The system-wide monotonic clock in nanoseconds (`CLOCK_MONOTONIC`), comparable between
//! processes on one machine: a pool worker stamps when it started a task, and the parent's
//! watcher compares that stamp with its own clock to enforce per-task timeouts. (std's
//! `Instant` reads the same clock but cannot cross a process boundary.) And [`ticks`], a
//! cheaper count for splitting a span the clock measured into parts.

/// Nanoseconds of `CLOCK_MONOTONIC` (a vDSO read, no system call).
#[inline]
pub(crate) fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (t.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(t.tv_nsec as u64)
}

/// A tick count for splitting a measured span into parts (a pool worker's group of tasks:
/// how much of it went to the functions, how much to sending results): the CPU's
/// time-stamp counter (about 10 ns a read where the vDSO clock takes 22) when the kernel
/// itself keeps time with it (so it is constant-rate and the same on every CPU), else
/// [`monotonic_ns`]. Only differences and ratios of ticks mean anything; the unit is unknown.
#[inline]
pub(crate) fn ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    if tsc_is_the_clock() {
        // SAFETY: `rdtsc` exists on every x86-64 CPU and only reads the counter.
        #[allow(unused_unsafe)]
        return unsafe { core::arch::x86_64::_rdtsc() };
    }
    monotonic_ns()
}

/// Whether [`ticks`] are [`monotonic_ns`] itself (the kernel keeps time otherwise than
/// with the TSC, or this is not an x86-64).
pub(crate) fn ticks_are_ns() -> bool {
    #[cfg(target_arch = "x86_64")]
    if tsc_is_the_clock() {
        return false;
    }
    true
}

/// Whether the kernel's clock source is the TSC (read once per process).
#[cfg(target_arch = "x86_64")]
fn tsc_is_the_clock() -> bool {
    // after-fork: kept (a property of the machine, the same in a child)
    static TSC: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TSC.get_or_init(|| {
        std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .is_ok_and(|s| s.trim() == "tsc")
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn ticks_move_forward_in_step_with_the_clock() {
        let (t0, n0) = (super::ticks(), super::monotonic_ns());
        std::thread::sleep(std::time::Duration::from_millis(20));
        let (t1, n1) = (super::ticks(), super::monotonic_ns());
        assert!(t1 > t0, "ticks went back");
        std::thread::sleep(std::time::Duration::from_millis(20));
        let (t2, n2) = (super::ticks(), super::monotonic_ns());
        // Two spans of time: their ticks stand in the same ratio as their nanoseconds
        // (loosely: the machine is shared, and the reads are not taken at one instant).
        let by_ticks = (t2 - t1) as f64 / (t1 - t0) as f64;
        let by_ns = (n2 - n1) as f64 / (n1 - n0) as f64;
        assert!(
            (by_ticks / by_ns - 1.0).abs() < 0.25,
            "{by_ticks} vs {by_ns}"
        );
    }

    #[test]
    fn monotonic_ns_moves_forward_with_instant() {
        let a = super::monotonic_ns();
        let i = std::time::Instant::now();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let b = super::monotonic_ns();
        assert!(b > a);
        let elapsed = i.elapsed().as_nanos() as u64;
        assert!(b - a + 1_000_000 >= elapsed, "{} vs {elapsed}", b - a);
    }
}
