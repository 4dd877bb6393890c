//! Sequences of values between processes, with a fast path for plain numbers.
//!
//! A pool's `map` sends its input in chunks (`Vec<A>`) and gets `Vec<R>` back. postcard
//! writes each number as a varint, about 8 ns a value here (a million `u64`s: 8 ms each way),
//! which would cap a `map` over numbers far below what the ring carries. When the element
//! type is one of Rust's primitive numbers, both sides know it (the same executable, the same
//! monomorphised code), so the values cross as their native bytes, copied whole; any other
//! type goes through serde as before. The choice is made on the type alone, by `TypeId`,
//! and the casts are safe (`Any` to pick the type, `bytemuck` for the bytes).

use std::any::TypeId;

use super::cast;
use crate::collect::Part;

use serde::Serialize;
use serde::de::DeserializeOwned;

macro_rules! each_number {
    ($m:ident) => {
        $m!(u8);
        $m!(u16);
        $m!(u32);
        $m!(u64);
        $m!(u128);
        $m!(usize);
        $m!(i8);
        $m!(i16);
        $m!(i32);
        $m!(i64);
        $m!(i128);
        $m!(isize);
        $m!(f32);
        $m!(f64);
    };
}

/// Whether `T` is a primitive number (the fast path).
pub(crate) fn is_number<T: 'static>() -> bool {
    let id = TypeId::of::<T>();
    macro_rules! check {
        ($t:ty) => {
            if id == TypeId::of::<$t>() {
                return true;
            }
        };
    }
    each_number!(check);
    false
}

/// A vector of primitive numbers seen as its native bytes, in place: what [`encode_vec`]
/// writes for it, without copying it (a process pool's `map` chunk leaves as it was read),
/// so any run of whole numbers in it is that run's encoding.
pub(crate) trait NumberBytes: Send + Sync {
    /// The numbers' native bytes.
    fn bytes(&self) -> &[u8];
}

impl<N: bytemuck::Pod + Send + Sync> NumberBytes for Vec<N> {
    fn bytes(&self) -> &[u8] {
        bytemuck::cast_slice(self)
    }
}

/// `v` as its bytes in place (see [`NumberBytes`]) if `T` is a primitive number; `v` back
/// otherwise.
pub(crate) fn number_vec<T: 'static>(v: Vec<T>) -> Result<Box<dyn NumberBytes>, Vec<T>> {
    let mut v = v;
    macro_rules! boxed {
        ($t:ty) => {
            v = match cast::<Vec<T>, Vec<$t>>(v) {
                Ok(n) => return Ok(Box::new(n)),
                Err(v) => v,
            };
        };
    }
    each_number!(boxed);
    Err(v)
}

/// Appends `items` to `out`: their native bytes if `T` is a primitive number, else postcard's
/// encoding of a `Vec<T>`.
pub(crate) fn encode_vec<T, I>(items: I, out: &mut Vec<u8>) -> Result<(), String>
where
    T: Serialize + 'static,
    I: ExactSizeIterator<Item = T>,
{
    if is_number::<T>() {
        let Ok(numbers) = number_vec(items.collect::<Vec<T>>()) else {
            unreachable!("is_number said it was one of these")
        };
        out.extend_from_slice(numbers.bytes());
        return Ok(());
    }
    super::encode_into(&Iter(std::cell::RefCell::new(Some(items))), out)
}

/// Serializes an exact-size iterator as the `Vec` it would collect into.
struct Iter<I>(std::cell::RefCell<Option<I>>);

impl<T: Serialize, I: ExactSizeIterator<Item = T>> Serialize for Iter<I> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.borrow_mut().take() {
            Some(items) => s.collect_seq(items),
            None => s.collect_seq(std::iter::empty::<T>()),
        }
    }
}

/// `bytes` are a whole number of `N`s, or why not.
fn whole<N>(bytes: &[u8]) -> Result<(), String> {
    if bytes.len().is_multiple_of(size_of::<N>()) {
        return Ok(());
    }
    Err(format!(
        "{} bytes are not a whole number of {}",
        bytes.len(),
        std::any::type_name::<N>()
    ))
}

/// Decodes what [`encode_vec`] wrote.
pub(crate) fn decode_vec<T: DeserializeOwned + 'static>(bytes: &[u8]) -> Result<Vec<T>, String> {
    if is_number::<T>() {
        macro_rules! raw {
            ($t:ty) => {
                if TypeId::of::<T>() == TypeId::of::<$t>() {
                    whole::<$t>(bytes)?;
                    let n: Vec<$t> = bytes
                        .chunks_exact(size_of::<$t>())
                        .map(bytemuck::pod_read_unaligned::<$t>)
                        .collect();
                    return Ok(cast::<Vec<$t>, Vec<T>>(n).unwrap_or_else(|_| unreachable!()));
                }
            };
        }
        each_number!(raw);
    }
    super::decode::<Vec<T>>(bytes)
}

/// Decodes what [`encode_vec`] wrote and maps `f` over the values in the same pass (a pool
/// worker's `map` chunk: numbers go from their bytes to `f`, no vector of arguments in
/// between). `Err` if the bytes do not decode, before `f` is called; `f`'s panics go on.
pub(crate) fn decode_map<A: DeserializeOwned + 'static, R: 'static>(
    bytes: &[u8],
    f: fn(A) -> R,
) -> Result<Vec<R>, String> {
    if is_number::<A>() {
        macro_rules! raw {
            ($t:ty) => {
                if let Ok(g) = cast::<fn(A) -> R, fn($t) -> R>(f) {
                    whole::<$t>(bytes)?;
                    return Ok(bytes
                        .chunks_exact(size_of::<$t>())
                        .map(bytemuck::pod_read_unaligned::<$t>)
                        .map(g)
                        .collect());
                }
            };
        }
        each_number!(raw);
    }
    Ok(super::decode::<Vec<A>>(bytes)?.into_iter().map(f).collect())
}

/// A `map` chunk from numbers to numbers, decoded, mapped and encoded straight into `out`
/// in one pass (no vector of values in between): what [`decode_map`] then [`encode_vec`]
/// would write. `None` when `A` or `R` is not a primitive number. A decoding error comes
/// before any call; if `f` panics, `out` holds part of the values (the caller clears it).
pub(crate) fn map_numbers_into<A: 'static, R: 'static>(
    bytes: &[u8],
    f: fn(A) -> R,
    out: &mut Vec<u8>,
) -> Option<Result<(), String>> {
    if !is_number::<A>() || !is_number::<R>() {
        return None;
    }
    macro_rules! arg {
        ($t:ty) => {
            if let Ok(g) = cast::<fn(A) -> R, fn($t) -> R>(f) {
                if let Err(e) = whole::<$t>(bytes) {
                    return Some(Err(e));
                }
                return map_to::<$t, R>(bytes, g, out).then_some(Ok(()));
            }
        };
    }
    each_number!(arg);
    None
}

/// [`map_numbers_into`] once the argument type is known: `false` if `R` is no number.
fn map_to<T: bytemuck::Pod, R: 'static>(bytes: &[u8], g: fn(T) -> R, out: &mut Vec<u8>) -> bool {
    macro_rules! ret {
        ($u:ty) => {
            if let Ok(h) = cast::<fn(T) -> R, fn(T) -> $u>(g) {
                out.reserve(bytes.len() / size_of::<T>() * size_of::<$u>());
                for x in bytes.chunks_exact(size_of::<T>()) {
                    let v = h(bytemuck::pod_read_unaligned::<T>(x));
                    out.extend_from_slice(bytemuck::bytes_of(&v));
                }
                return true;
            }
        };
    }
    each_number!(ret);
    false
}

/// Decodes what [`encode_vec`] wrote straight into `into` (a `map`'s place for the chunk in
/// its result: no vector in between), which must have room for exactly that many values
/// when `whole` (a chunk's own place), or for at least that many (a group's place, which its
/// chunks fill one after another).
pub(crate) fn decode_into<T: DeserializeOwned + 'static>(
    bytes: &[u8],
    into: &mut Part<T>,
    whole: bool,
) -> Result<(), String> {
    let room = into.room();
    let fits = |n: usize| if whole { n == room } else { n <= room };
    let wrong = |n: usize| format!("{n} values for a chunk of {room}");
    if is_number::<T>() {
        macro_rules! raw {
            ($t:ty) => {
                if let Some(into) =
                    (&mut *into as &mut dyn std::any::Any).downcast_mut::<Part<$t>>()
                {
                    let w = size_of::<$t>();
                    if bytes.len() % w != 0 || !fits(bytes.len() / w) {
                        return Err(wrong(bytes.len() / w));
                    }
                    into.fill(
                        bytes
                            .chunks_exact(w)
                            .map(bytemuck::pod_read_unaligned::<$t>),
                    );
                    return Ok(());
                }
            };
        }
        each_number!(raw);
    }
    let v = super::decode::<Vec<T>>(bytes)?;
    if !fits(v.len()) {
        return Err(wrong(v.len()));
    }
    into.fill(v.into_iter());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug + Clone + 'static>(
        v: Vec<T>,
    ) {
        let mut out = Vec::new();
        encode_vec(v.clone().into_iter(), &mut out).unwrap();
        assert_eq!(decode_vec::<T>(&out).unwrap(), v);
    }

    /// What the two-pass path writes for `args` (as `map_numbers_into` must).
    fn two_pass<A, R>(args: &[u8], f: fn(A) -> R) -> Vec<u8>
    where
        A: DeserializeOwned + 'static,
        R: Serialize + 'static,
    {
        let mut out = Vec::new();
        encode_vec(decode_map(args, f).unwrap().into_iter(), &mut out).unwrap();
        out
    }

    #[test]
    fn numbers_map_into_the_bytes_the_two_passes_write() {
        fn sqr(x: u64) -> u64 {
            x.wrapping_mul(x)
        }
        fn half(x: i32) -> f64 {
            f64::from(x) / 2.0
        }
        fn label(x: u16) -> String {
            x.to_string()
        }
        let mut args = Vec::new();
        encode_vec((0..1000u32).map(|x| u64::from(x) * 7_919), &mut args).unwrap();
        let mut out = Vec::new();
        assert_eq!(map_numbers_into(&args, sqr, &mut out), Some(Ok(())));
        assert_eq!(out, two_pass(&args, sqr));
        assert_eq!(decode_vec::<u64>(&out).unwrap()[3], (3 * 7_919u64).pow(2));

        let mut args = Vec::new();
        encode_vec([-3i32, 0, 5].into_iter(), &mut args).unwrap();
        let mut out = Vec::new();
        assert_eq!(map_numbers_into(&args, half, &mut out), Some(Ok(())));
        assert_eq!(decode_vec::<f64>(&out).unwrap(), [-1.5, 0.0, 2.5]);
        assert_eq!(out, two_pass(&args, half));

        // Not numbers both ways: the caller takes the general path.
        let mut out = Vec::new();
        assert_eq!(map_numbers_into(&[0u8; 4], label, &mut out), None);
        // Bytes that are not a whole number of arguments: an error before any call.
        fn never(_: u32) -> u32 {
            panic!("called on bad input")
        }
        assert!(matches!(
            map_numbers_into(&[0u8; 5], never, &mut out),
            Some(Err(_))
        ));
        assert!(out.is_empty());
    }

    #[test]
    fn numbers_and_other_types_round_trip() {
        round::<u64>((0..1000).map(|x| x * x * 77_777).collect());
        round::<i8>(vec![-1, 0, 127]);
        round::<f64>(vec![1.5, -0.0, f64::MAX]);
        round::<u128>(vec![u128::MAX, 3]);
        round::<String>(vec!["a".into(), "".into()]);
        round::<(u32, String)>(vec![(1, "x".into())]);
        round::<u32>(Vec::new());
    }

    fn into_place<
        T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug + Clone + 'static,
    >(
        v: Vec<T>,
    ) {
        let mut out = Vec::new();
        encode_vec(v.clone().into_iter(), &mut out).unwrap();
        let c = crate::collect::Collector::<T>::with_capacity(v.len() + 1);
        let mut short = c.part(v.len() + 1).unwrap();
        assert!(
            decode_into(&out, &mut short, true).is_err(),
            "one value short"
        );
        drop(short);
        let c = crate::collect::Collector::<T>::with_capacity(v.len());
        let mut p = c.part(v.len()).unwrap();
        decode_into(&out, &mut p, true).unwrap();
        p.finish().ok().unwrap();
        assert_eq!(c.take().unwrap(), v);
        // A group's place: filled chunk after chunk, never past its room.
        if !v.is_empty() {
            let c = crate::collect::Collector::<T>::with_capacity(2 * v.len());
            let mut p = c.part(2 * v.len() - 1).unwrap();
            decode_into(&out, &mut p, false).unwrap();
            assert_eq!(p.room(), v.len() - 1);
            assert!(decode_into(&out, &mut p, false).is_err(), "past the room");
            let mut tail = Vec::new();
            encode_vec(v[1..].iter().cloned(), &mut tail).unwrap();
            decode_into(&tail, &mut p, false).unwrap();
            p.finish().ok().unwrap();
            let mut both = v.clone();
            both.extend_from_slice(&v[1..]);
            assert_eq!(c.take().unwrap(), both);
        }
    }

    #[test]
    fn numbers_as_bytes_are_runs_of_their_encoding() {
        let v: Vec<u32> = (0..10).collect();
        let numbers = number_vec(v.clone()).ok().unwrap();
        let bytes = numbers.bytes();
        let mut want = Vec::new();
        encode_vec(v[3..7].iter().copied(), &mut want).unwrap();
        assert_eq!(&bytes[3 * 4..7 * 4], &want[..]);
        assert_eq!(decode_vec::<u32>(bytes).unwrap(), v);
        let s = vec!["a".to_string()];
        assert_eq!(number_vec(s.clone()).err(), Some(s), "not a number");
    }

    #[test]
    fn decoded_and_mapped_in_one_pass() {
        fn double(x: u32) -> u64 {
            x as u64 * 2
        }
        fn len(s: String) -> usize {
            s.len()
        }
        let mut out = Vec::new();
        encode_vec([1u32, 2, 3].into_iter(), &mut out).unwrap();
        assert_eq!(decode_map(&out, double).unwrap(), [2, 4, 6]);
        assert!(decode_map(&out[..5], double).is_err(), "ragged");
        let mut out = Vec::new();
        encode_vec(["ab".to_string(), "c".into()].into_iter(), &mut out).unwrap();
        assert_eq!(decode_map(&out, len).unwrap(), [2, 1]);
        assert!(decode_map(&out[..2], len).is_err());
    }

    #[test]
    fn decoded_into_place_numbers_and_other_types() {
        into_place::<u64>((0..1000).map(|x| x * 31).collect());
        into_place::<f32>(vec![1.5, -2.0]);
        into_place::<String>(vec!["a".into(), "bc".into()]);
        into_place::<u8>(Vec::new());
    }

    #[test]
    fn numbers_cross_as_their_bytes_and_ragged_input_is_an_error() {
        let mut out = Vec::new();
        encode_vec([1u32, 2].into_iter(), &mut out).unwrap();
        assert_eq!(out.len(), 8);
        assert!(decode_vec::<u32>(&out[..7]).is_err());
    }
}
