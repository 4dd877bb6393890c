//! How shared objects travel, in one of two ways (≈ CPython's `reduction.py` and the
//! managers' `Token`):
//!
//! - **beside the bytes**: while a child's arguments or a `Connection` message are encoded,
//!   a thread-local *sink* collects the fd of every shared object met (its serialized form is
//!   [`Carried::Fd`], the index); the fds then cross with `SCM_RIGHTS` in the same message.
//!   While they are decoded, a thread-local *source* hands each object its fd back by index.
//! - **by reference**: while encoding under an [`Exporter`] (a manager server, a Redis
//!   namespace: whoever will keep the object reachable), each shared object is handed to it
//!   and serialized as the [`Token`] it returns ([`Carried::Ref`]: where it is served and its
//!   id there), so the bytes alone name it and may be stored or sent over any channel;
//!   decoding under a [`Resolver`] turns each token back into the object's fd.
//!
//! Outside those moments a shared object refuses to serialize, with a message saying how to
//! pass it.

use std::cell::RefCell;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::rc::Rc;

use serde::{Deserialize, Serialize};

/// A shared object named by reference (≈ `multiprocessing.managers.Token`): what it is, where
/// it is served, and its id there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Token {
    /// The kind of object (`"SharedMemory"`, `"SharedHeap"`, `"Connection"`).
    pub(crate) typeid: String,
    /// Where it is served: a manager's address, a Redis URL and namespace.
    pub(crate) address: String,
    /// Its id there.
    pub(crate) id: u64,
}

/// Keeps shared objects reachable while their tokens are in use, and names them.
pub(crate) trait Exporter {
    /// Takes (a duplicate of) the object's fd into its keeping; returns the token naming it.
    fn export(&self, typeid: &str, fd: BorrowedFd<'_>) -> Result<Token, String>;
}

/// Turns tokens back into the objects' fds.
pub(crate) trait Resolver {
    fn resolve(&self, token: &Token) -> Result<OwnedFd, String>;
}

/// The serialized form of a handle.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Carried {
    /// Beside the bytes: the index of its fd in the message.
    Fd(u32),
    /// By reference.
    Ref(Token),
}

thread_local! {
    // after-fork: kept (set only during one serialization call on this thread)
    static EXPORTER: RefCell<Option<Rc<dyn Exporter>>> = const { RefCell::new(None) };
    // after-fork: kept (set only during one deserialization call on this thread)
    static RESOLVER: RefCell<Option<Rc<dyn Resolver>>> = const { RefCell::new(None) };
}

/// Runs `encode` with the shared objects it meets exported to `exporter` (serialized as
/// tokens). Its callers are the manager and the remote backend (issues 15 and 16); until they
/// land only this module's tests call it.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn by_reference<R>(exporter: Rc<dyn Exporter>, encode: impl FnOnce() -> R) -> R {
    let previous = EXPORTER.with(|e| e.replace(Some(exporter)));
    let r = encode();
    EXPORTER.with(|e| e.replace(previous));
    r
}

/// Runs `decode` with tokens resolved by `resolver`.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn resolving<R>(resolver: Rc<dyn Resolver>, decode: impl FnOnce() -> R) -> R {
    let previous = RESOLVER.with(|r| r.replace(Some(resolver)));
    let out = decode();
    RESOLVER.with(|r| r.replace(previous));
    out
}

/// Called by a shared object's `Serialize`: its serialized form, by reference under an
/// exporter, else beside the bytes (see [`push_fd`]).
pub(crate) fn carry(typeid: &str, fd: BorrowedFd<'_>) -> Result<Carried, String> {
    let exporter = EXPORTER.with(|e| e.borrow().clone());
    match exporter {
        Some(x) => x.export(typeid, fd).map(Carried::Ref),
        None => push_fd(fd).map(Carried::Fd),
    }
}

/// Called by a shared object's `Deserialize`: its fd, from the message or from the resolver.
pub(crate) fn receive(carried: Carried) -> Result<OwnedFd, String> {
    match carried {
        Carried::Fd(index) => take_fd(index),
        Carried::Ref(token) => {
            let resolver = RESOLVER.with(|r| r.borrow().clone());
            match resolver {
                Some(r) => r.resolve(&token),
                None => Err(format!(
                    "a {} by reference ({} #{}) needs its resolver to decode",
                    token.typeid, token.address, token.id
                )),
            }
        }
    }
}

/// A file's identity (device, inode), to send each file once per message.
type FileKey = (u64, u64);

thread_local! {
    // after-fork: kept (set only during one serialization call on this thread)
    static SINK: RefCell<Option<Vec<(FileKey, OwnedFd)>>> = const { RefCell::new(None) };
    // after-fork: kept (set only during one deserialization call on this thread)
    static SOURCE: RefCell<Option<Vec<OwnedFd>>> = const { RefCell::new(None) };
}

/// Whether the value being encoded stays on this machine, in a process this one trusts: a
/// child's start arguments or a `Connection` message (they carry fds, so they cannot leave
/// the machine). A manager proxy carries its own authkey only then.
pub(crate) fn local_transfer() -> bool {
    SINK.with(|s| s.borrow().is_some())
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
fn push_fd(fd: BorrowedFd<'_>) -> Result<u32, String> {
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
fn take_fd(index: u32) -> Result<OwnedFd, String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::Value;
    use std::cell::RefCell;

    /// A toy server: keeps each exported fd in a table, hands duplicates back by id.
    #[derive(Default)]
    struct Table(RefCell<Vec<OwnedFd>>);

    impl Exporter for Table {
        fn export(&self, typeid: &str, fd: BorrowedFd<'_>) -> Result<Token, String> {
            let mut t = self.0.borrow_mut();
            t.push(fd.try_clone_to_owned().map_err(|e| e.to_string())?);
            Ok(Token {
                typeid: typeid.into(),
                address: "table".into(),
                id: t.len() as u64 - 1,
            })
        }
    }

    impl Resolver for Table {
        fn resolve(&self, token: &Token) -> Result<OwnedFd, String> {
            let t = self.0.borrow();
            let fd = t.get(token.id as usize).ok_or("no such id")?;
            fd.try_clone().map_err(|e| e.to_string())
        }
    }

    #[test]
    fn a_shared_object_travels_by_reference_and_comes_back_as_itself() {
        let table = Rc::new(Table::default());
        let v = Value::new(7u64).unwrap();
        let bytes = by_reference(table.clone(), || postcard::to_stdvec(&v)).unwrap();
        // The bytes carry the token (its kind and address in them), and the table the fd.
        assert_eq!(table.0.borrow().len(), 1);
        let has = |w: &[u8]| bytes.windows(w.len()).any(|x| x == w);
        assert!(has(b"SharedMemory") && has(b"table"), "{bytes:?}");
        // Without a resolver: a typed refusal, naming the token.
        let err = postcard::from_bytes::<Value<u64>>(&bytes).map(|_| ());
        assert!(err.is_err());
        let back: Value<u64> = resolving(table.clone(), || postcard::from_bytes(&bytes)).unwrap();
        assert_eq!(back.get(), 7);
        back.set(9);
        assert_eq!(v.get(), 9, "the same memory");
        // Outside both moments a shared object still refuses to serialize.
        assert!(postcard::to_stdvec(&v).is_err());
        assert_eq!(take_refusal(), Some(REFUSAL));
    }
}
