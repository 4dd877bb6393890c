//! [`Callable`]: a function that crosses processes (see its docs).

use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::bootstrap;
use crate::error::ProcessError;

/// A function that crosses processes (≈ how `pickle` sends a module-level
/// function: by name, never its code).
///
/// A `Callable<A, R>` is a plain `fn(A) -> R` (a `fn` item, or a closure that captures
/// nothing, which coerces to one). It travels as the function's offset in this executable,
/// with the executable's identity and the function's type, so a process running the same
/// executable finds the same function; its arguments and results cross by serde. That is
/// what [`Builder::target`](super::Builder::target) takes, and what a worker that runs many
/// calls (a pool) receives once per task.
///
/// A closure that captures something has no `fn` type, so `cargo check` refuses it:
/// "closures can only be coerced to `fn` types if they do not capture any variables". Such
/// a closure can still run in a child with [`Builder::fork_target`](super::Builder::fork_target)
/// and the `Fork` start method (the child is a copy of this process).
///
/// ```
/// use multiproc::process::{Callable, Process};
///
/// fn square(x: u64) -> u64 { x * x }
///
/// // A helper generic over the function works: it is an ordinary `fn` pointer.
/// fn in_child(f: fn(u64) -> u64, x: u64) -> u64 {
///     let mut p = Process::builder().target(f, x);
///     p.start().unwrap();
///     p.join().unwrap()
/// }
/// assert_eq!(in_child(square, 12), 144);
/// assert_eq!(in_child(|x| x + 1, 41), 42);
///
/// let c = Callable::new(square);
/// assert_eq!(c.call(3), 9);
/// let bytes = postcard::to_stdvec(&c).unwrap(); // what a pool sends its workers
/// let back: Callable<u64, u64> = postcard::from_bytes(&bytes).unwrap();
/// assert_eq!(back.call(4), 16);
/// ```
pub struct Callable<A, R> {
    f: fn(A) -> R,
    _t: PhantomData<fn(A) -> R>,
}

impl<A, R> Callable<A, R> {
    /// Wraps `f` (a `fn` item or a closure that captures nothing).
    pub fn new(f: fn(A) -> R) -> Callable<A, R> {
        Callable { f, _t: PhantomData }
    }

    /// Calls it here.
    pub fn call(&self, args: A) -> R {
        (self.f)(args)
    }

    /// The function.
    pub fn get(&self) -> fn(A) -> R {
        self.f
    }

    /// Its offset in this executable and its type tag: what names it to a process of the
    /// same build on another machine (a remote worker checks the build id itself).
    pub(crate) fn to_parts(self) -> Result<(i64, String), ProcessError> {
        Ok((
            self.offset()?,
            crate::wire::type_tag::<fn(A) -> R>().to_string(),
        ))
    }

    /// The other half of [`to_parts`](Self::to_parts), for a caller that checked the
    /// executable's build id: the tag and the offset are checked here.
    pub(crate) fn from_parts(offset: i64, tag: &str) -> Result<Self, String> {
        let expected = crate::wire::type_tag::<fn(A) -> R>();
        if *tag != *expected {
            return Err(format!(
                "a function of `{tag}` received as one of `{expected}`"
            ));
        }
        bootstrap::offset_check(offset)?;
        // SAFETY: the offset lies in this executable's text (checked), was sent by a process
        // running an executable with the same build id (checked by the caller), from a `fn`
        // of this type (checked by its tag).
        Ok(Callable::new(unsafe { bootstrap::fn_at::<A, R>(offset) }))
    }

    /// Its offset in this executable ([`ProcessError::ForeignTarget`] for code from another
    /// object, such as a `dlopen`ed library).
    pub(crate) fn offset(&self) -> Result<i64, ProcessError> {
        bootstrap::code_offset(self.f as usize)
    }
}

impl<A, R> Clone for Callable<A, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A, R> Copy for Callable<A, R> {}

impl<A, R> fmt::Debug for Callable<A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Callable<fn({}) -> {}>",
            std::any::type_name::<A>(),
            std::any::type_name::<R>()
        )
    }
}

/// The running executable's identity: (device, inode) of `/proc/self/exe`.
fn executable() -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/exe").map_or((0, 0), |m| (m.dev(), m.ino()))
}

impl<A, R> Serialize for Callable<A, R> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let offset = self.offset().map_err(crate::wire::ser_error)?;
        let tag = crate::wire::type_tag::<fn(A) -> R>();
        (offset, executable(), &*tag).serialize(s)
    }
}

impl<'de, A, R> Deserialize<'de> for Callable<A, R> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (offset, exe, tag): (i64, (u64, u64), String) = Deserialize::deserialize(d)?;
        if exe != executable() {
            return Err(crate::wire::de_error(
                "a Callable from another executable (functions cross only between processes of one program)",
            ));
        }
        let expected = crate::wire::type_tag::<fn(A) -> R>();
        if tag != *expected {
            return Err(crate::wire::de_error(format!(
                "a Callable of `{tag}` received as one of `{expected}`"
            )));
        }
        bootstrap::offset_check(offset).map_err(crate::wire::de_error)?;
        // SAFETY: the offset lies in this executable's text (checked), was sent by a process
        // running the same executable (checked by identity), from a `fn` of this type
        // (checked by its tag).
        Ok(Callable::new(unsafe { bootstrap::fn_at::<A, R>(offset) }))
    }
}
