//! The system-wide monotonic clock in nanoseconds (`CLOCK_MONOTONIC`), comparable between
//! processes on one machine: a pool worker stamps when it started a task, and the parent's
//! watcher compares that stamp with its own clock to enforce per-task timeouts. (std's
//! `Instant` reads the same clock but cannot cross a process boundary.)

/// Nanoseconds of `CLOCK_MONOTONIC` (a vDSO read, no system call).
#[inline]
pub(crate) fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (t.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(t.tv_nsec as u64)
}

#[cfg(test)]
mod tests {
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
