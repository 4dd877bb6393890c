//! How shared objects travel: their file descriptors go beside the serialized bytes.
//!
//! While a child's arguments are encoded, a thread-local *sink* collects the fd of every
//! shared object met (its serialized form is just the index); the fds then cross with
//! `SCM_RIGHTS` in the same message. While they are decoded in the child, a thread-local
//! *source* hands each object its fd back by index. Outside those two moments a shared object
//! refuses to serialize, with a message saying how to pass it.

use std::cell::RefCell;
use std::os::fd::{BorrowedFd, OwnedFd};

/// A file's identity (device, inode), to send each file once per message.
type FileKey = (u64, u64);

thread_local! {
    // after-fork: kept (set only during one serialization call on this thread)
    static SINK: RefCell<Option<Vec<(FileKey, OwnedFd)>>> = const { RefCell::new(None) };
    // after-fork: kept (set only during one deserialization call on this thread)
    static SOURCE: RefCell<Option<Vec<OwnedFd>>> = const { RefCell::new(None) };
}

/// Runs `encode` with an fd sink; returns its result and the fds collected.
pub(crate) fn collect_fds<R>(encode: impl FnOnce() -> R) -> (R, Vec<OwnedFd>) {
    let previous = SINK.with(|s| s.replace(Some(Vec::new())));
    let r = encode();
    let fds = SINK.with(|s| s.replace(previous)).unwrap_or_default();
    (r, fds.into_iter().map(|(_, fd)| fd).collect())
}

/// Runs `decode` with `fds` available to the shared objects being decoded.
pub(crate) fn provide_fds<R>(fds: Vec<OwnedFd>, decode: impl FnOnce() -> R) -> R {
    let previous = SOURCE.with(|s| s.replace(Some(fds)));
    let r = decode();
    SOURCE.with(|s| s.replace(previous));
    r
}

/// Called by a shared object's `Serialize`: records a duplicate of `fd`, returns its index.
/// The same file (many objects in one heap, or clones of one object) is sent once.
pub(crate) fn push_fd(fd: BorrowedFd<'_>) -> Result<u32, String> {
    let key =
        crate::sys::io::file_key(fd).map_err(|e| format!("cannot inspect a shared fd: {e}"))?;
    SINK.with(|s| match s.borrow_mut().as_mut() {
        Some(v) => {
            if let Some(i) = v.iter().position(|(k, _)| *k == key) {
                return Ok(i as u32);
            }
            let dup = fd
                .try_clone_to_owned()
                .map_err(|e| format!("cannot duplicate a shared fd: {e}"))?;
            v.push((key, dup));
            Ok((v.len() - 1) as u32)
        }
        None => {
            REFUSED.with(|r| r.set(true));
            Err(REFUSAL.to_owned())
        }
    })
}

const REFUSAL: &str = "a shared object can only travel as a Process argument or in a Connection \
     message (its memory goes as a file descriptor); it cannot be put on a Queue";

thread_local! {
    // after-fork: kept (set only during one serialization call on this thread)
    static REFUSED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// After an encoding error: if a shared object refused to serialize (outside a sink), the
/// reason, which encoders such as postcard replace by a generic message.
pub(crate) fn take_refusal() -> Option<&'static str> {
    REFUSED.with(|r| r.replace(false)).then_some(REFUSAL)
}

/// Called by a shared object's `Deserialize`: a duplicate of the fd at `index` (several
/// objects may name the same one).
pub(crate) fn take_fd(index: u32) -> Result<OwnedFd, String> {
    SOURCE.with(|s| {
        let s = s.borrow();
        let fds = s
            .as_ref()
            .ok_or("a shared object can only be deserialized in a child process")?;
        fds.get(index as usize)
            .ok_or_else(|| format!("no file descriptor {index} came with this message"))?
            .try_clone()
            .map_err(|e| format!("cannot duplicate a received fd: {e}"))
    })
}
