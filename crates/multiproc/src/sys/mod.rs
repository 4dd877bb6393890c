//! The only place with raw OS calls.
//!
//! Everything above this module is written against three small facilities:
//!
//! - [`futex`]: wait on / wake a 32-bit word (`FUTEX_WAIT` / `FUTEX_WAKE`, never the
//!   `PRIVATE` flag, so the same word works when it lives in memory shared between processes),
//!   and wait on many at once (`futex_waitv`, for the async waker thread);
//! - [`tid`]: the kernel thread id of the calling thread, cached per thread (and reset in the
//!   child after `fork`), used as the owner mark in lock words;
//! - [`pid`]: the process id;
//! - [`liveness`]: whether the holder of a lock, queue side or cache is definitely dead
//!   (identity = id + start time; a probe that cannot answer means alive);
//! - [`clock`]: the monotonic clock in nanoseconds, comparable between processes;
//! - [`at_fork`]: the one after-fork registry, where every module's fork-time reset lives;
//! - [`membarrier`]: the heavy half of an asymmetric fence, so the queues' fast paths need no
//!   locked instruction.
//!
//! Linux is the supported OS. Other platforms fail to compile with a clear message (see
//! `lib.rs`).

pub(crate) mod at_fork;
pub(crate) mod clock;
pub(crate) mod fdpass;
pub(crate) mod futex;
pub(crate) mod io;
pub(crate) mod liveness;
pub(crate) mod membarrier;
pub(crate) mod mm;
pub(crate) mod process;
pub(crate) mod shm;
pub(crate) mod tid;

pub(crate) use tid::pid;

#[cfg(test)]
mod tests {
    /// "The only place with raw OS calls", checked: no `libc::` or `rustix::` path outside
    /// `sys/` (comments and unit-test modules aside).
    #[test]
    fn no_system_call_outside_sys() {
        fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let path = e.unwrap().path();
                if path.is_dir() {
                    if path.file_name().is_some_and(|n| n != "sys") {
                        walk(&path, out);
                    }
                } else if path.extension().is_some_and(|x| x == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    let text = match text.find("\n#[cfg(test)]\nmod tests") {
                        Some(end) => &text[..end],
                        None => &text[..],
                    };
                    for (i, line) in text.lines().enumerate() {
                        let code = line.split("//").next().unwrap_or("");
                        if code.contains("libc::") || code.contains("rustix::") {
                            out.push(format!("{}:{}: {}", path.display(), i + 1, line.trim()));
                        }
                    }
                }
            }
        }
        let mut found = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut found,
        );
        assert!(
            found.is_empty(),
            "system calls outside sys/:\n{}",
            found.join("\n")
        );
    }
}
