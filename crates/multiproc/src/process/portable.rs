//! [`Portable`]: what may cross into another process (≈ Python's "picklable").

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A value that can cross into another process (≈ Python's "picklable"), implemented for
/// every type that is `Serialize + DeserializeOwned + 'static` (a target's arguments are also
/// `Send`: they move to the thread that starts the child).
///
/// A `Process` target's arguments and result, and the items of the process queues, cross by
/// serde. That bound is spelled once, here,
/// as a trait of the crate's own, so that a value that cannot cross gets a message in this
/// crate's words instead of a bare "`Serialize` is not implemented". The common mistake it
/// names is a thread queue (or an `Arc`, a `Mutex`) handed to a child process, which in
/// Python fails only at run time, with a pickling error:
///
/// ```compile_fail
/// use multiproc::process::Process;
/// use multiproc::queue::Queue; // a thread queue: it lives in this process
///
/// fn worker(q: Queue<u32>) { q.put(1); }
/// let p = Process::new(worker, Queue::new(0)); // error: `Queue<u32>` cannot cross into another process
/// ```
///
/// The process queue works:
///
/// ```
/// use multiproc::process::{Process, Queue};
///
/// fn worker(q: Queue<u32>) { q.put(1).unwrap(); }
/// let q = Queue::new(0).unwrap();
/// let mut p = Process::new(worker, q.clone());
/// p.start().unwrap();
/// assert_eq!(q.get().unwrap(), 1);
/// p.join().unwrap();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot cross into another process",
    label = "process arguments and results cross by serde (Serialize + Deserialize)",
    note = "a thread queue (`multiproc::queue::Queue`), an `Arc` or a `Mutex` lives in one process only",
    note = "between processes use `multiproc::process::Queue` (or `JoinableQueue`, `SimpleQueue`), `multiproc::shared::Value`/`Array`, or a `Connection`"
)]
pub trait Portable: Serialize + DeserializeOwned + 'static {}

impl<T: Serialize + DeserializeOwned + 'static> Portable for T {}
