//! What a manager stores: any serde value, as a self-describing [`Value`] the server can
//! compare, order, hash and do arithmetic on without knowing the Rust type (Python's manager
//! holds Python objects; this one holds data, never code).
//!
//! A proxy turns a `T` into a [`Value`] with `serde-value` (a small, well-kept crate that
//! keeps every number's width and gives the values a total order, so `sort`, `index`,
//! `count` and dict keys work on the server); on the wire a value travels as [`Data`], the
//! same tree in a form postcard can encode (postcard is not self-describing, so
//! `serde_value::Value`'s own `Deserialize`, which asks the format what comes next, cannot
//! read it).
//!
//! ```ignore
//! let v = to_value(&("a", 1u32)).unwrap();        // Seq([String("a"), U32(1)])
//! let back: (String, u32) = from_value(v).unwrap();
//! ```

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
pub(crate) use serde_value::Value;

use crate::error::ManagerError;

/// A [`Value`] as it crosses the wire. Decoding refuses values nested deeper than
/// [`MAX_DEPTH`]: a peer's few bytes (`Newtype(Newtype(...))` is one byte a level) must not
/// recurse a server thread off its stack.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Data {
    Bool(bool),
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    I8(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Char(char),
    String(String),
    Unit,
    Option(#[serde(deserialize_with = "nested")] Option<Box<Data>>),
    Newtype(#[serde(deserialize_with = "nested")] Box<Data>),
    Seq(#[serde(deserialize_with = "nested")] Vec<Data>),
    Map(#[serde(deserialize_with = "nested")] Vec<(Data, Data)>),
    Bytes(Vec<u8>),
}

/// How deep a value may nest on the wire (a serde struct in a list in a map is 3 or 4).
pub(crate) const MAX_DEPTH: u32 = 128;

thread_local! {
    // after-fork: kept (nonzero only within one decode call on this thread)
    static DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Decodes one nested value (every recursive field of [`Data`] goes through here), counting
/// the depth on this thread and refusing past [`MAX_DEPTH`].
fn nested<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Level;
    impl Drop for Level {
        fn drop(&mut self) {
            DEPTH.with(|c| c.set(c.get().saturating_sub(1)));
        }
    }
    let depth = DEPTH.with(|c| {
        c.set(c.get() + 1);
        c.get()
    });
    let _level = Level;
    if depth > MAX_DEPTH {
        return Err(crate::wire::de_error(format!(
            "a value nested more than {MAX_DEPTH} levels deep"
        )));
    }
    T::deserialize(d)
}

impl From<Value> for Data {
    fn from(v: Value) -> Data {
        match v {
            Value::Bool(x) => Data::Bool(x),
            Value::U8(x) => Data::U8(x),
            Value::U16(x) => Data::U16(x),
            Value::U32(x) => Data::U32(x),
            Value::U64(x) => Data::U64(x),
            Value::I8(x) => Data::I8(x),
            Value::I16(x) => Data::I16(x),
            Value::I32(x) => Data::I32(x),
            Value::I64(x) => Data::I64(x),
            Value::F32(x) => Data::F32(x),
            Value::F64(x) => Data::F64(x),
            Value::Char(x) => Data::Char(x),
            Value::String(x) => Data::String(x),
            Value::Unit => Data::Unit,
            Value::Option(x) => Data::Option(x.map(|b| Box::new(Data::from(*b)))),
            Value::Newtype(x) => Data::Newtype(Box::new(Data::from(*x))),
            Value::Seq(x) => Data::Seq(x.into_iter().map(Data::from).collect()),
            Value::Map(x) => Data::Map(
                x.into_iter()
                    .map(|(k, v)| (Data::from(k), Data::from(v)))
                    .collect(),
            ),
            Value::Bytes(x) => Data::Bytes(x),
        }
    }
}

impl From<Data> for Value {
    fn from(d: Data) -> Value {
        match d {
            Data::Bool(x) => Value::Bool(x),
            Data::U8(x) => Value::U8(x),
            Data::U16(x) => Value::U16(x),
            Data::U32(x) => Value::U32(x),
            Data::U64(x) => Value::U64(x),
            Data::I8(x) => Value::I8(x),
            Data::I16(x) => Value::I16(x),
            Data::I32(x) => Value::I32(x),
            Data::I64(x) => Value::I64(x),
            Data::F32(x) => Value::F32(x),
            Data::F64(x) => Value::F64(x),
            Data::Char(x) => Value::Char(x),
            Data::String(x) => Value::String(x),
            Data::Unit => Value::Unit,
            Data::Option(x) => Value::Option(x.map(|b| Box::new(Value::from(*b)))),
            Data::Newtype(x) => Value::Newtype(Box::new(Value::from(*x))),
            Data::Seq(x) => Value::Seq(x.into_iter().map(Value::from).collect()),
            Data::Map(x) => Value::Map(
                x.into_iter()
                    .map(|(k, v)| (Value::from(k), Value::from(v)))
                    .collect::<BTreeMap<_, _>>(),
            ),
            Data::Bytes(x) => Value::Bytes(x),
        }
    }
}

/// `t` as wire data.
pub(crate) fn to_data<T: Serialize + ?Sized>(t: &T) -> Result<Data, ManagerError> {
    serde_value::to_value(t)
        .map(Data::from)
        .map_err(|e| ManagerError::Data(format!("value does not encode: {e}")))
}

/// Wire data as a `T`.
pub(crate) fn from_data<T: DeserializeOwned>(d: Data) -> Result<T, ManagerError> {
    T::deserialize(Value::from(d)).map_err(|e| {
        ManagerError::Data(format!(
            "value does not decode as {}: {e}",
            std::any::type_name::<T>()
        ))
    })
}

/// A value as Python would show it in an error message (`KeyError: 'name'`).
pub(crate) fn repr(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Bool(b) => b.to_string(),
        Value::U8(x) => x.to_string(),
        Value::U16(x) => x.to_string(),
        Value::U32(x) => x.to_string(),
        Value::U64(x) => x.to_string(),
        Value::I8(x) => x.to_string(),
        Value::I16(x) => x.to_string(),
        Value::I32(x) => x.to_string(),
        Value::I64(x) => x.to_string(),
        Value::F32(x) => x.to_string(),
        Value::F64(x) => x.to_string(),
        Value::Char(c) => format!("{c:?}"),
        Value::Unit => "()".into(),
        Value::Option(None) => "None".into(),
        Value::Option(Some(x)) | Value::Newtype(x) => repr(x),
        Value::Seq(xs) => format!("[{}]", xs.iter().map(repr).collect::<Vec<_>>().join(", ")),
        Value::Map(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", repr(k), repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Bytes(b) => format!("b{:?}", String::from_utf8_lossy(b)),
    }
}

/// `a + b` for numbers of any width, kept in `a`'s type (Python's `+=` on a served number).
/// Overflow, or adding to a non-number, is a typed error; nothing is changed then.
pub(crate) fn add(a: &Value, b: &Value) -> Result<Value, ManagerError> {
    fn int(v: &Value) -> Option<i128> {
        Some(match *v {
            Value::U8(x) => x.into(),
            Value::U16(x) => x.into(),
            Value::U32(x) => x.into(),
            Value::U64(x) => x.into(),
            Value::I8(x) => x.into(),
            Value::I16(x) => x.into(),
            Value::I32(x) => x.into(),
            Value::I64(x) => x.into(),
            _ => return None,
        })
    }
    fn float(v: &Value) -> Option<f64> {
        match *v {
            Value::F32(x) => Some(x.into()),
            Value::F64(x) => Some(x),
            _ => int(v).map(|i| i as f64),
        }
    }
    let overflow = || ManagerError::ValueError(format!("{} + {} overflows", repr(a), repr(b)));
    match a {
        Value::F32(x) => float(b)
            .map(|y| Value::F32((f64::from(*x) + y) as f32))
            .ok_or_else(|| not_a_number(b)),
        Value::F64(x) => float(b)
            .map(|y| Value::F64(x + y))
            .ok_or_else(|| not_a_number(b)),
        _ => {
            let x = int(a).ok_or_else(|| not_a_number(a))?;
            let y = int(b).ok_or_else(|| not_a_number(b))?;
            let s = x.checked_add(y).ok_or_else(overflow)?;
            Ok(match a {
                Value::U8(_) => Value::U8(s.try_into().map_err(|_| overflow())?),
                Value::U16(_) => Value::U16(s.try_into().map_err(|_| overflow())?),
                Value::U32(_) => Value::U32(s.try_into().map_err(|_| overflow())?),
                Value::U64(_) => Value::U64(s.try_into().map_err(|_| overflow())?),
                Value::I8(_) => Value::I8(s.try_into().map_err(|_| overflow())?),
                Value::I16(_) => Value::I16(s.try_into().map_err(|_| overflow())?),
                Value::I32(_) => Value::I32(s.try_into().map_err(|_| overflow())?),
                _ => Value::I64(s.try_into().map_err(|_| overflow())?),
            })
        }
    }
}

fn not_a_number(v: &Value) -> ManagerError {
    ManagerError::TypeError(format!("{} is not a number", repr(v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_the_wire_form() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        enum E {
            A,
            B(u8),
            C { x: i32 },
        }
        let v = (
            "s".to_string(),
            vec![1u32, 2],
            Some(2.5f64),
            [E::A, E::B(3), E::C { x: -1 }],
        );
        let d = to_data(&v).unwrap();
        let bytes = postcard::to_stdvec(&d).unwrap();
        let d: Data = postcard::from_bytes(&bytes).unwrap();
        let back: (String, Vec<u32>, Option<f64>, [E; 3]) = from_data(d).unwrap();
        assert_eq!(back, v);
    }

    /// A million levels of `Newtype` is a million bytes: decoding it used to recurse a
    /// million frames deep and overflow the thread's stack (the whole server process dies of
    /// that); now it is a typed error at level 129.
    #[test]
    fn deeply_nested_data_is_refused_not_recursed_into() {
        let mut bytes = vec![15u8; 1_000_000]; // Newtype, Newtype, ...
        bytes.push(13); // Unit
        let err = crate::wire::decode::<Data>(&bytes).unwrap_err();
        assert!(err.contains("nested more than 128"), "{err}");
        // The counter is back to zero: an ordinary value still decodes.
        let ok = postcard::to_stdvec(&to_data(&vec![vec![1u8]]).unwrap()).unwrap();
        assert!(crate::wire::decode::<Data>(&ok).is_ok());
        // 128 levels are fine.
        let mut deep = vec![15u8; 127];
        deep.push(13);
        assert!(crate::wire::decode::<Data>(&deep).is_ok());
    }

    #[test]
    fn add_keeps_the_type_and_refuses_overflow_and_non_numbers() {
        assert!(matches!(
            add(&Value::U8(250), &Value::I64(5)),
            Ok(Value::U8(255))
        ));
        assert!(matches!(
            add(&Value::U8(250), &Value::I64(6)),
            Err(ManagerError::ValueError(_))
        ));
        assert!(matches!(
            add(&Value::I64(-1), &Value::U8(3)),
            Ok(Value::I64(2))
        ));
        assert!(matches!(add(&Value::F64(0.5), &Value::U8(1)), Ok(Value::F64(x)) if x == 1.5));
        assert!(matches!(
            add(&Value::String("a".into()), &Value::U8(1)),
            Err(ManagerError::TypeError(_))
        ));
    }
}
