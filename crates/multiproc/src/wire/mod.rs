//! The wire layer (≈ CPython's `reduction.py` plus `connection`'s framing): what every byte
//! format between processes here shares, low in the tree so that `connection/`, `process/`,
//! `queue/` and the shared objects all stand on it without reaching into each other.
//!
//! - [`frame`]: the one frame format of every byte stream between processes (`Connection`,
//!   the child bootstrap and its result, the forkserver, the tracker, the handshake), with
//!   one size rule, one error type, and bodies grown as bytes arrive;
//! - [`handle`]: how a shared object travels, its file descriptors beside the serialized
//!   bytes (`SCM_RIGHTS`), or by reference (an address or key plus an id);
//! - [`type_tag`], [`decode`], [`de_error`]: the type check of typed messages and channels,
//!   and decode errors in words.

use std::cell::RefCell;

pub(crate) mod frame;
pub(crate) mod handle;
pub(crate) mod seq;

thread_local! {
    // after-fork: kept (set and taken within one decode call on this thread)
    static DETAIL: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// `a` as a `B` if `A` and `B` are the same type (safe specialisation through `Any`): the
/// process queues' `Vec<u8>` path and `seq`'s numbers.
pub(crate) fn cast<A: 'static, B: 'static>(a: A) -> Result<B, A> {
    let mut slot = Some(a);
    match (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<B>>() {
        Some(b) => Ok(b.take().expect("just filled")),
        None => Err(slot.expect("untouched")),
    }
}

/// A serde error whose message survives postcard (which keeps only "Serde Deserialization
/// Error" of a custom message): use in `Deserialize` impls, read back by [`decode`].
pub(crate) fn de_error<E: serde::de::Error>(msg: impl std::fmt::Display) -> E {
    let msg = msg.to_string();
    let _ = DETAIL.try_with(|d| *d.borrow_mut() = Some(msg.clone()));
    E::custom(msg)
}

/// The same for `Serialize` impls (a shared object that cannot be sent here says why), read
/// back by [`encode`].
pub(crate) fn ser_error<E: serde::ser::Error>(msg: impl std::fmt::Display) -> E {
    let msg = msg.to_string();
    let _ = DETAIL.try_with(|d| *d.borrow_mut() = Some(msg.clone()));
    E::custom(msg)
}

/// Encodes `v` with postcard; the error is in words, including the message of a
/// `Serialize` impl that used [`ser_error`].
pub(crate) fn encode<T: serde::Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, String> {
    let _ = DETAIL.try_with(|d| d.borrow_mut().take());
    postcard::to_stdvec(v).map_err(|e| {
        DETAIL
            .try_with(|d| d.borrow_mut().take())
            .ok()
            .flatten()
            .unwrap_or_else(|| e.to_string())
    })
}

/// As [`encode`], appending to `out` (left as it was on error).
pub(crate) fn encode_into<T: serde::Serialize + ?Sized>(
    v: &T,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let _ = DETAIL.try_with(|d| d.borrow_mut().take());
    let len = out.len();
    postcard::to_io(v, &mut *out).map(|_| ()).map_err(|e| {
        out.truncate(len);
        DETAIL
            .try_with(|d| d.borrow_mut().take())
            .ok()
            .flatten()
            .unwrap_or_else(|| e.to_string())
    })
}

/// Decodes a `T` from postcard bytes; the error is in words, including a custom message from
/// a `Deserialize` impl that used [`de_error`].
pub(crate) fn decode<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, String> {
    let _ = DETAIL.try_with(|d| d.borrow_mut().take());
    postcard::from_bytes(bytes).map_err(|e| {
        DETAIL
            .try_with(|d| d.borrow_mut().take())
            .ok()
            .flatten()
            .unwrap_or_else(|| e.to_string())
    })
}

/// The name a typed message or channel is checked by: std's [`type_name`](std::any::type_name)
/// of `T` with every module path removed (`alloc::string::String` → `String`,
/// `my_app::jobs::Job` → `Job`), references dropped, and the spellings serde encodes alike
/// made one: `str` is `String`, a slice `[T]` is `Vec<T>`, `Box<T>` is `T`. At most 255 bytes.
///
/// postcard, the encoding here, is not self-describing: bytes of a `String` decode as a
/// `u64` without complaint. Sending this tag with each message (connections) or storing it
/// with the channel (queues) turns such a mix-up into a `Decode` error naming both types.
/// Paths are left out so that two programs defining the same type in different modules
/// still talk; the price is that two different types with the same name in one program are
/// not told apart (nor are types whose names differ but whose encodings agree, nor the
/// shape of a type whose name is the same in two programs).
///
/// Computed once per type and thread (a cache keyed by the address of the `type_name`
/// string, which is one static per type): a message pays a hash lookup, not the parsing.
pub(crate) fn type_tag<T: ?Sized>() -> std::rc::Rc<str> {
    let name = std::any::type_name::<T>();
    let key = (name.as_ptr() as usize, name.len());
    let cached = TAGS
        .try_with(|t| t.borrow().get(&key).cloned())
        .ok()
        .flatten();
    if let Some(tag) = cached {
        return tag;
    }
    let tag: std::rc::Rc<str> = tag_of(name).into();
    let _ = TAGS.try_with(|t| {
        let mut t = t.borrow_mut();
        if t.len() < 4096 {
            t.insert(key, tag.clone());
        }
    });
    tag
}

thread_local! {
    // after-fork: kept (a cache of pure functions of the type)
    static TAGS: RefCell<std::collections::HashMap<(usize, usize), std::rc::Rc<str>>> =
        RefCell::new(std::collections::HashMap::new());
}

fn tag_of(name: &str) -> String {
    let mut tag = normalize(name);
    if tag.len() > 255 {
        let mut end = 255;
        while !tag.is_char_boundary(end) {
            end -= 1;
        }
        tag.truncate(end);
    }
    tag
}

fn normalize(name: &str) -> String {
    // Pass 1: drop paths and references.
    let chars: Vec<char> = name.chars().collect();
    let mut flat = String::with_capacity(name.len());
    let mut ident = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if c.is_alphanumeric() || c == '_' {
            ident.push(c);
        } else if c == ':' && chars.get(i) == Some(&':') {
            i += 1;
            ident.clear(); // a path segment
        } else {
            flush(&mut flat, &mut ident);
            if c == '&' {
                // `&mut T` / `&T`: the value is the same.
                if chars[i..].starts_with(&['m', 'u', 't', ' ']) {
                    i += 4;
                }
            } else {
                flat.push(c);
            }
        }
    }
    flush(&mut flat, &mut ident);
    // Pass 2: `[T]` (no `;` at its depth) is `Vec<T>`; `Box<T>` is `T`.
    let mut out = String::with_capacity(flat.len() + 8);
    // For each open bracket: where it starts in `out`, whether a `;` was seen at its depth.
    let mut open: Vec<(usize, bool)> = Vec::new();
    // For each open `<`: whether it belongs to a `Box` that was dropped.
    let mut angle: Vec<bool> = Vec::new();
    for c in flat.chars() {
        match c {
            '[' => {
                open.push((out.len(), false));
                out.push('[');
            }
            ';' => {
                if let Some(top) = open.last_mut() {
                    top.1 = true;
                }
                out.push(';');
            }
            ']' => match open.pop() {
                Some((at, false)) => {
                    out.replace_range(at..at + 1, "Vec<");
                    out.push('>');
                }
                _ => out.push(']'),
            },
            '<' => {
                let boxed = out.ends_with("Box")
                    && !out[..out.len() - 3].ends_with(|c: char| c.is_alphanumeric() || c == '_');
                if boxed {
                    out.truncate(out.len() - 3);
                } else {
                    out.push('<');
                }
                angle.push(boxed);
            }
            '>' => {
                if !angle.pop().unwrap_or(false) {
                    out.push('>');
                }
            }
            c => out.push(c),
        }
    }
    out
}

fn flush(out: &mut String, ident: &mut String) {
    if ident == "str" {
        out.push_str("String");
    } else {
        out.push_str(ident);
    }
    ident.clear();
}

#[cfg(test)]
mod type_tag_tests {
    use super::*;

    struct Point;
    mod other {
        pub struct Point;
    }

    #[test]
    fn names_without_paths_and_with_serde_equivalents_merged() {
        assert_eq!(&*type_tag::<String>(), "String");
        assert_eq!(&*type_tag::<&str>(), "String");
        assert_eq!(&*type_tag::<str>(), "String");
        assert_eq!(&*type_tag::<Box<str>>(), "String");
        assert_eq!(&*type_tag::<u64>(), "u64");
        assert_eq!(&*type_tag::<Vec<u8>>(), "Vec<u8>");
        assert_eq!(&*type_tag::<[u8]>(), "Vec<u8>");
        assert_eq!(&*type_tag::<&[u8]>(), "Vec<u8>");
        assert_eq!(&*type_tag::<[u8; 4]>(), "[u8; 4]");
        assert_eq!(type_tag::<Point>(), type_tag::<other::Point>());
        assert_eq!(&*type_tag::<Point>(), "Point");
        assert_eq!(
            &*type_tag::<(String, Option<Vec<Point>>)>(),
            "(String, Option<Vec<Point>>)"
        );
        assert_eq!(
            &*type_tag::<&mut std::collections::HashMap<String, Box<[u32]>>>(),
            "HashMap<String, Vec<u32>>"
        );
        assert_eq!(&*type_tag::<Vec<Box<Point>>>(), "Vec<Point>");
        assert_ne!(type_tag::<u64>(), type_tag::<String>());
    }
}
