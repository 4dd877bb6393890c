//! The children this process started: `active_children()`, and Python's exit rule for
//! processes (daemon children are terminated, the others joined, when the program exits).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

use super::popen::Child;
use crate::sync::{Mutex, RawLock, ResetAfterFork};

// after-fork: reset by process::registry
static CHILDREN: Mutex<Vec<Arc<Child>>> = Mutex::const_new(RawLock::new(), Vec::new());

// after-fork: kept (the handler itself)
static AT_FORK: crate::sys::at_fork::Handler =
    crate::sys::at_fork::Handler::child("process::registry", after_fork_in_child);

/// The process the registered children belong to. A process forked by other means than ours
/// (a raw `fork()`, a C library) copies `CHILDREN`; its exit handler must leave them alone,
/// or it would signal its parent's children and read their results.
// after-fork: kept (compared with the pid)
static OWNER: AtomicU32 = AtomicU32::new(0);

/// Installs the exit handler, once per process (and before any fork: see
/// `bootstrap::settle_before_fork`, so a child never inherits this `Once` half-run).
pub(crate) fn install_at_exit() {
    // after-fork: kept (the atexit registration is inherited; `OWNER` tells whose it is)
    static AT_EXIT: Once = Once::new();
    AT_EXIT.call_once(|| {
        crate::sys::process::at_exit(at_exit);
    });
}

/// Records a started child (and, once, installs the exit handler).
pub(crate) fn add(child: Arc<Child>) {
    AT_FORK.register();
    install_at_exit();
    let mut g = CHILDREN.lock();
    OWNER.store(crate::sys::pid(), Ordering::Relaxed);
    g.push(child);
}

/// Reaps every child that has exited; returns the live ones.
pub(crate) fn reap() -> Vec<Arc<Child>> {
    let mut g = CHILDREN.lock();
    g.retain(|c| !matches!(c.poll(), Ok(Some(_)) | Err(_)));
    g.clone()
}

/// Python's `util._exit_function`: terminate daemonic children, then join every child.
extern "C" fn at_exit() {
    if OWNER.load(Ordering::Relaxed) != crate::sys::pid() {
        return;
    }
    let children = std::mem::take(&mut *CHILDREN.lock());
    let first = |c: &Child| c.daemon || c.stop_at_exit.load(Ordering::Relaxed);
    for c in children.iter().filter(|c| first(c)) {
        let _ = c.signal(crate::sys::process::SIGTERM);
    }
    for c in &children {
        // A daemon child that ignores SIGTERM gets SIGKILL after a grace period.
        if first(c)
            && matches!(
                c.wait(crate::sync::deadline(Duration::from_secs(1))),
                Ok(None)
            )
        {
            let _ = c.signal(crate::sys::process::SIGKILL);
        }
        let _ = c.wait(None);
    }
}

/// In a forked child: the parent's children are not ours. Forgotten, not dropped: dropping
/// one would close fds the parent still uses for it (harmless here, but pointless work).
fn after_fork_in_child() {
    CHILDREN.force_unlock_after_fork();
    std::mem::forget(std::mem::take(&mut *CHILDREN.lock()));
}
