//! Is the owner of a lock, a queue side or a cache dead? Only a definite answer says yes.
//!
//! A robust lock records who holds it as an *identity*: a task id (pid or tid) and that task's
//! start time (field 22 of `/proc/<id>/stat`, clock ticks since boot). A pid alone is not an
//! identity: once its process is reaped, the kernel hands the number to the next process, and
//! a lock that only asked "is pid 1234 alive?" would stay wedged until that stranger exits.
//!
//! [`is_dead`] says `true` only when the kernel says so:
//!
//! - `/proc/<id>` does not exist (`ENOENT`, `ESRCH`): nothing has that id;
//! - the task is a zombie or dead (state `Z`, `X`): it has exited, nobody reaped it yet;
//! - the task's start time differs from the recorded one: the id now names someone else.
//!
//! Any other outcome means "alive, look again later": a full fd table (`EMFILE`, `ENFILE`),
//! no memory, a permission problem, a line that does not parse. With no fd to spare the probe
//! falls back to `kill(id, 0)`, which needs none: `ESRCH` is still a definite death, anything
//! else is "alive". The probe allocates nothing (a stack buffer), so it may run anywhere.
//!
//! Why hand-written: neither rustix nor procfs-style crates give a non-allocating "is this
//! identity dead" with this error discipline.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

/// What `/proc/<id>/stat` said.
enum Stat {
    /// Definitely no such live task.
    Gone,
    /// A live task with this start time.
    Running(u64),
    /// No definite answer.
    Unknown,
}

fn stat(id: u32) -> Stat {
    // "/proc/" + 10 digits + "/stat" fits easily.
    let mut path = [0u8; 32];
    let mut n = 0;
    for b in b"/proc/" {
        path[n] = *b;
        n += 1;
    }
    let mut digits = [0u8; 10];
    let mut d = 0;
    let mut v = id;
    loop {
        digits[d] = b'0' + (v % 10) as u8;
        d += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    while d > 0 {
        d -= 1;
        path[n] = digits[d];
        n += 1;
    }
    for b in b"/stat" {
        path[n] = *b;
        n += 1;
    }
    let path = &path[..n];
    let fd: OwnedFd = match rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
    {
        Ok(fd) => fd,
        Err(Errno::NOENT | Errno::SRCH) => return Stat::Gone,
        Err(Errno::MFILE | Errno::NFILE | Errno::NOMEM) => return signal_probe(id),
        Err(_) => return Stat::Unknown,
    };
    // The fields up to the start time (22) fit in 512 bytes whatever the command name (at most
    // 16 bytes) holds; the kernel writes the line in one read.
    let mut buf = [0u8; 512];
    let len = match rustix::io::read(&fd, &mut buf) {
        Ok(len) => len,
        Err(Errno::SRCH) => return Stat::Gone,
        Err(_) => return Stat::Unknown,
    };
    parse(&buf[..len])
}

/// `kill(id, 0)`: exists or not, no fd needed. Cannot see zombies or start times.
fn signal_probe(id: u32) -> Stat {
    let Some(pid) = rustix::process::Pid::from_raw(id as i32) else {
        return Stat::Unknown;
    };
    match rustix::process::test_kill_process(pid) {
        Err(Errno::SRCH) => Stat::Gone,
        _ => Stat::Unknown,
    }
}

/// Parses a `/proc/<id>/stat` line: the state (field 3) and the start time (field 22).
fn parse(line: &[u8]) -> Stat {
    // The command (field 2) is in parentheses and may itself hold ')' or spaces: the fields
    // start after the last ')'.
    let Some(close) = line.iter().rposition(|&b| b == b')') else {
        return Stat::Unknown;
    };
    let mut fields = line[close + 1..]
        .split(|&b| b == b' ')
        .filter(|f| !f.is_empty());
    match fields.next() {
        Some(b"Z" | b"X" | b"x") => return Stat::Gone,
        Some(_) => {}
        None => return Stat::Unknown,
    }
    // Fields 4..=21 come next; the 19th after the state is field 22.
    let Some(start) = fields.nth(22 - 4) else {
        return Stat::Unknown;
    };
    match std::str::from_utf8(start).ok().and_then(|s| s.parse().ok()) {
        Some(t) => Stat::Running(t),
        None => Stat::Unknown,
    }
}

/// The start time of task `id`, if it is alive and the probe can tell.
pub(crate) fn start_time(id: u32) -> Option<u64> {
    match stat(id) {
        Stat::Running(t) => Some(t),
        _ => None,
    }
}

/// Whether the task `id` that started at `start` is definitely dead: gone, a zombie, or
/// replaced by a task with another start time. `start == 0` means "not recorded": then only
/// the first two count. Compares the low 32 bits of the start time when `start` fits in 32
/// bits (what the locks record): 2³² ticks is 497 days at 100 Hz.
pub(crate) fn is_dead(id: u32, start: u64) -> bool {
    if id == 0 {
        return false;
    }
    match stat(id) {
        Stat::Gone => true,
        Stat::Running(t) => {
            if start == 0 {
                false
            } else if start <= u32::MAX as u64 {
                t as u32 != start as u32
            } else {
                t != start
            }
        }
        Stat::Unknown => false,
    }
}

/// The calling process's identity, `pid << 32 | start time (low 32 bits)`, cached. The start
/// half is 0 while the probe cannot tell (then it is tried again next time).
#[inline]
pub(crate) fn process_identity() -> u64 {
    let pid = super::pid();
    let cached = PROCESS.load(Ordering::Relaxed);
    if (cached >> 32) as u32 == pid {
        return cached;
    }
    process_identity_slow(pid)
}

// after-fork: kept (keyed by pid: a child's differs, so it reads its own)
static PROCESS: AtomicU64 = AtomicU64::new(0);

#[cold]
fn process_identity_slow(pid: u32) -> u64 {
    match start_time(pid) {
        Some(t) => {
            let id = (pid as u64) << 32 | (t as u32) as u64;
            PROCESS.store(id, Ordering::Relaxed);
            id
        }
        None => (pid as u64) << 32,
    }
}

thread_local! {
    // after-fork: kept (keyed by tid: the forking thread's tid differs in the child)
    static THREAD: Cell<(u32, u64)> = const { Cell::new((0, 0)) };
}

/// The calling thread's start time (0 if the probe cannot tell), cached per thread.
pub(crate) fn thread_start_time() -> u64 {
    let tid = super::tid::current();
    let (t, start) = THREAD.with(Cell::get);
    if t == tid {
        return start;
    }
    let start = start_time(tid).unwrap_or(0);
    if start != 0 {
        THREAD.with(|c| c.set((tid, start)));
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_state_and_start_time() {
        let line = b"123 (a) b) c) S 1 123 123 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1 2\n";
        assert!(matches!(parse(line), Stat::Running(98765)));
        let zombie = b"123 (x) Z 1 123 123 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1 2";
        assert!(matches!(parse(zombie), Stat::Gone));
        assert!(matches!(parse(b"garbage"), Stat::Unknown));
        assert!(matches!(parse(b"1 (a) S 1 2"), Stat::Unknown));
    }

    #[test]
    fn own_identity_is_alive_and_a_wrong_start_time_is_dead() {
        let pid = crate::sys::pid();
        let start = start_time(pid).unwrap();
        assert!(!is_dead(pid, start));
        assert!(!is_dead(pid, 0));
        assert!(is_dead(pid, start + 1));
        assert_eq!(process_identity(), (pid as u64) << 32 | start as u32 as u64);
        assert!(thread_start_time() >= start);
    }
}
