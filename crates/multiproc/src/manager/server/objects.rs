//! The objects a manager serves, and what each operation does to them: Python's `dict`,
//! `list`, `Namespace`, `Value` and `Array` semantics (their error messages included) over
//! [`Value`]s, plus the atomic read-modify-write operations Python's manager lacks.
//!
//! Each object has its own lock, so calls on different objects never wait for each other;
//! an operation runs whole under its object's lock, which is what makes `Add`, `AppendTo`,
//! `CompareAndSet` and `SetDefault` atomic for every client.

use std::sync::Mutex;

use indexmap::IndexMap;

use super::blocking::{Acquirer, Barrier, Caller, Condition, Event, Queue};
use crate::manager::data::{Data, Value, add, repr};
use crate::manager::protocol::{Fault, Kind, Op, Reply};
use crate::manager::register::ServedDyn;

/// One served object.
pub(crate) enum Object {
    /// A dict, or a Namespace (string keys; the proxy tells them apart).
    Map(Mutex<IndexMap<Value, Value>>, &'static str),
    /// A list, or an Array (`fixed`: its length never changes).
    Seq(Mutex<Vec<Value>>, bool),
    Value(Mutex<Value>),
    Queue(Queue),
    Acquirer(Acquirer),
    Condition(Condition),
    Event(Event),
    Barrier(Barrier),
    /// A registered type's value, and its typeid.
    Served(Mutex<Box<dyn ServedDyn>>, String),
    /// A process pool (`pool.rs`), and a result of one waiting to be taken.
    Pool(crate::pool::Pool),
    PoolResult(super::pool::Pending),
}

impl Object {
    pub(crate) fn new(kind: Kind) -> Object {
        let values = |v: Vec<Data>| v.into_iter().map(Value::from).collect();
        match kind {
            Kind::Dict => Object::Map(Mutex::new(IndexMap::new()), "dict"),
            Kind::Namespace => Object::Map(Mutex::new(IndexMap::new()), "Namespace"),
            Kind::List(items) => Object::Seq(Mutex::new(values(items)), false),
            Kind::Array(items) => Object::Seq(Mutex::new(values(items)), true),
            Kind::Value(v) => Object::Value(Mutex::new(v.into())),
            Kind::Queue { maxsize, joinable } => Object::Queue(Queue::new(maxsize, joinable)),
            Kind::Lock => Object::Acquirer(Acquirer::lock(false)),
            Kind::RLock => Object::Acquirer(Acquirer::lock(true)),
            Kind::Semaphore { value, bounded } => {
                Object::Acquirer(Acquirer::semaphore(value, bounded))
            }
            Kind::Condition => Object::Condition(Condition::default()),
            Kind::Event => Object::Event(Event::default()),
            Kind::Barrier { parties, timeout } => Object::Barrier(Barrier::new(parties, timeout)),
            Kind::Custom { .. } | Kind::Pool { .. } => {
                unreachable!("made by the server itself (register.rs, pool.rs)")
            }
        }
    }

    /// Python's name for its kind.
    pub(crate) fn typeid(&self) -> &str {
        match self {
            Object::Map(_, t) => t,
            Object::Seq(_, false) => "list",
            Object::Seq(_, true) => "Array",
            Object::Value(_) => "Value",
            Object::Queue(q) => q.typeid(),
            Object::Acquirer(a) => a.typeid(),
            Object::Condition(_) => "Condition",
            Object::Event(_) => "Event",
            Object::Barrier(_) => "Barrier",
            Object::Served(_, t) => t,
            Object::Pool(_) => "Pool",
            Object::PoolResult(_) => "AsyncResult",
        }
    }

    /// Runs `op`. A panic cannot happen here on any input (every index is checked), and a
    /// poisoned lock is taken over: each operation leaves its object whole before it can fail.
    pub(crate) fn call(&self, op: Op, caller: &Caller<'_>) -> Result<Reply, Fault> {
        match self {
            Object::Map(m, _) => map_op(&mut m.lock().unwrap_or_else(|p| p.into_inner()), op),
            Object::Seq(s, fixed) => {
                seq_op(&mut s.lock().unwrap_or_else(|p| p.into_inner()), *fixed, op)
            }
            Object::Value(v) => value_op(&mut v.lock().unwrap_or_else(|p| p.into_inner()), op),
            Object::Queue(q) => q.call(op, caller),
            Object::Acquirer(a) => a.call(op, caller),
            Object::Condition(c) => c.call(op, caller),
            Object::Event(e) => e.call(op, caller),
            Object::Barrier(b) => b.call(op, caller),
            Object::Served(obj, typeid) => served_op(obj, typeid, op),
            Object::Pool(_) | Object::PoolResult(_) => {
                unreachable!("pool operations go through server::pool::call")
            }
        }
    }
}

/// A method of a registered type; a panic in it is the caller's typed error, and the object
/// and the server go on.
fn served_op(obj: &Mutex<Box<dyn ServedDyn>>, typeid: &str, op: Op) -> Result<Reply, Fault> {
    let Op::Method(name, args) = op else {
        return Err(unsupported(&op, typeid));
    };
    let mut g = obj.lock().unwrap_or_else(|p| p.into_inner());
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| g.dispatch(&name, &args)));
    match r {
        Ok(Ok(bytes)) => Ok(Reply::Bytes(bytes)),
        Ok(Err(e)) => Err(e.into()),
        Err(p) => {
            let p = crate::thread::to_panic("manager", &*p);
            let at = p.location.map(|l| format!(" at {l}")).unwrap_or_default();
            Err(Fault::Panicked(format!(
                "{typeid}.{name}{at}: {}",
                p.message
            )))
        }
    }
}

fn unsupported(op: &Op, typeid: &str) -> Fault {
    let name = format!("{op:?}");
    let name = name.split(['(', ' ', '{']).next().unwrap_or("?");
    Fault::TypeError(format!("a {typeid} has no operation {name}"))
}

fn data(v: &Value) -> Data {
    v.clone().into()
}

fn key_error(k: &Value) -> Fault {
    Fault::KeyError(repr(k))
}

fn map_op(m: &mut IndexMap<Value, Value>, op: Op) -> Result<Reply, Fault> {
    Ok(match op {
        Op::GetItem(k) => {
            let k = Value::from(k);
            Reply::Data(data(m.get(&k).ok_or_else(|| key_error(&k))?))
        }
        Op::Get(k) => Reply::MaybeData(m.get(&Value::from(k)).map(data)),
        Op::SetItem(k, v) => {
            m.insert(k.into(), v.into());
            Reply::Unit
        }
        Op::DelItem(k) => {
            let k = Value::from(k);
            m.shift_remove(&k).ok_or_else(|| key_error(&k))?;
            Reply::Unit
        }
        Op::Contains(k) => Reply::Bool(m.contains_key(&Value::from(k))),
        Op::Len => Reply::Int(m.len() as i64),
        Op::Keys => Reply::Many(m.keys().map(data).collect()),
        Op::Values => Reply::Many(m.values().map(data).collect()),
        Op::Items => Reply::Pairs(m.iter().map(|(k, v)| (data(k), data(v))).collect()),
        Op::Update(pairs) => {
            for (k, v) in pairs {
                m.insert(k.into(), v.into());
            }
            Reply::Unit
        }
        Op::Pop(k, default) => {
            let k = Value::from(k);
            match (m.shift_remove(&k), default) {
                (Some(v), _) => Reply::Data(v.into()),
                (None, Some(d)) => Reply::Data(d),
                (None, None) => return Err(key_error(&k)),
            }
        }
        Op::PopItem => {
            let (k, v) = m
                .pop()
                .ok_or_else(|| Fault::KeyError("'popitem(): dictionary is empty'".into()))?;
            Reply::Pairs(vec![(k.into(), v.into())])
        }
        Op::SetDefault(k, d) => Reply::Data(data(m.entry(k.into()).or_insert_with(|| d.into()))),
        Op::Clear => {
            m.clear();
            Reply::Unit
        }
        Op::GetMany(keys) => Reply::Many(
            keys.into_iter()
                .map(|k| Data::Option(m.get(&Value::from(k)).map(|v| Box::new(data(v)))))
                .collect(),
        ),
        Op::Add(k, delta) => {
            let delta = Value::from(delta);
            let slot = m.entry(k.into());
            let new = match &slot {
                indexmap::map::Entry::Occupied(o) => add(o.get(), &delta)?,
                indexmap::map::Entry::Vacant(_) => delta,
            };
            let out = data(&new);
            slot.insert_entry(new);
            Reply::Data(out)
        }
        Op::AppendTo(k, x) => match m.entry(k.into()).or_insert_with(|| Value::Seq(Vec::new())) {
            Value::Seq(items) => {
                items.push(x.into());
                Reply::Int(items.len() as i64)
            }
            other => {
                return Err(Fault::TypeError(format!(
                    "cannot append to {} (not a list)",
                    repr(other)
                )));
            }
        },
        Op::CompareAndSet(k, expected, new) => {
            let k = Value::from(k);
            let now = m.get(&k);
            let matches = match (now, expected) {
                (None, None) => true,
                (Some(v), Some(e)) => *v == Value::from(e),
                _ => false,
            };
            if matches {
                m.insert(k, new.into());
            }
            Reply::Bool(matches)
        }
        other => return Err(unsupported(&other, "dict")),
    })
}

/// Python's index rule: negative counts from the end; out of range is `None`.
fn index(i: i64, len: usize) -> Option<usize> {
    let i = if i < 0 { i + len as i64 } else { i };
    (0..len as i64).contains(&i).then_some(i as usize)
}

/// Python's slice bounds, clamped to `0..=len`.
fn bounds(start: Option<i64>, stop: Option<i64>, len: usize) -> (usize, usize) {
    let clamp = |i: i64| {
        let i = if i < 0 { i + len as i64 } else { i };
        i.clamp(0, len as i64) as usize
    };
    let a = start.map_or(0, clamp);
    let b = stop.map_or(len, clamp);
    (a, b.max(a))
}

fn seq_op(s: &mut Vec<Value>, fixed: bool, op: Op) -> Result<Reply, Fault> {
    let len = s.len();
    let out_of_range = |what: &str| Fault::IndexError(format!("{what} index out of range"));
    let typeid = if fixed { "Array" } else { "list" };
    Ok(match op {
        Op::Len => Reply::Int(len as i64),
        Op::At(i) => Reply::Data(data(&s[index(i, len).ok_or_else(|| out_of_range(typeid))?])),
        Op::SetAt(i, v) => {
            let i = index(i, len).ok_or_else(|| out_of_range(&format!("{typeid} assignment")))?;
            s[i] = v.into();
            Reply::Unit
        }
        Op::AddAt(i, delta) => {
            let i = index(i, len).ok_or_else(|| out_of_range(typeid))?;
            let new = add(&s[i], &Value::from(delta))?;
            let out = data(&new);
            s[i] = new;
            Reply::Data(out)
        }
        Op::Slice(a, b) => {
            let (a, b) = bounds(a, b, len);
            Reply::Many(s[a..b].iter().map(data).collect())
        }
        Op::SetSlice(a, b, items) => {
            let (a, b) = bounds(a, b, len);
            if fixed && items.len() != b - a {
                return Err(Fault::ValueError(
                    "can only assign a sequence of the same size to an Array slice".into(),
                ));
            }
            s.splice(a..b, items.into_iter().map(Value::from));
            Reply::Unit
        }
        Op::Index(x, start, stop) => {
            let x = Value::from(x);
            let (a, b) = bounds(Some(start), Some(stop), len);
            let i = s[a..b]
                .iter()
                .position(|v| *v == x)
                .ok_or_else(|| Fault::ValueError(format!("{} is not in list", repr(&x))))?;
            Reply::Int((a + i) as i64)
        }
        Op::Count(x) => {
            let x = Value::from(x);
            Reply::Int(s.iter().filter(|v| **v == x).count() as i64)
        }
        Op::Sort { reverse } => {
            s.sort();
            if reverse {
                s.reverse();
            }
            Reply::Unit
        }
        Op::Reverse => {
            s.reverse();
            Reply::Unit
        }
        op if fixed => return Err(unsupported(&op, "Array (its length is fixed)")),
        Op::Append(x) => {
            s.push(x.into());
            Reply::Unit
        }
        Op::Extend(xs) => {
            s.extend(xs.into_iter().map(Value::from));
            Reply::Unit
        }
        Op::Insert(i, x) => {
            // Python clamps an insertion index instead of failing.
            let (at, _) = bounds(Some(i), None, len);
            s.insert(at, x.into());
            Reply::Unit
        }
        Op::PopAt(i) => {
            if s.is_empty() {
                return Err(Fault::IndexError("pop from empty list".into()));
            }
            let i = index(i.unwrap_or(-1), len).ok_or_else(|| out_of_range("pop"))?;
            Reply::Data(s.remove(i).into())
        }
        Op::Remove(x) => {
            let x = Value::from(x);
            let i = s
                .iter()
                .position(|v| *v == x)
                .ok_or_else(|| Fault::ValueError("list.remove(x): x not in list".into()))?;
            s.remove(i);
            Reply::Unit
        }
        Op::DelAt(i) => {
            let i = index(i, len).ok_or_else(|| out_of_range("list assignment"))?;
            s.remove(i);
            Reply::Unit
        }
        Op::Clear => {
            s.clear();
            Reply::Unit
        }
        other => return Err(unsupported(&other, "list")),
    })
}

fn value_op(v: &mut Value, op: Op) -> Result<Reply, Fault> {
    Ok(match op {
        Op::Load => Reply::Data(data(v)),
        Op::Store(x) => {
            *v = x.into();
            Reply::Unit
        }
        Op::AddValue(delta) => {
            *v = add(v, &Value::from(delta))?;
            Reply::Data(data(v))
        }
        Op::Swap(expected, new) => {
            let hit = *v == Value::from(expected);
            if hit {
                *v = new.into();
            }
            Reply::Bool(hit)
        }
        other => return Err(unsupported(&other, "Value")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Data {
        Data::String(s.into())
    }

    #[test]
    fn python_list_errors() {
        let mut s = vec![];
        assert_eq!(
            seq_op(&mut s, false, Op::PopAt(None)).unwrap_err(),
            Fault::IndexError("pop from empty list".into())
        );
        seq_op(&mut s, false, Op::Extend(vec![d("a"), d("b"), d("c")])).unwrap();
        assert!(
            matches!(seq_op(&mut s, false, Op::At(-1)), Ok(Reply::Data(Data::String(x))) if x == "c")
        );
        assert_eq!(
            seq_op(&mut s, false, Op::At(3)).unwrap_err(),
            Fault::IndexError("list index out of range".into())
        );
        assert_eq!(
            seq_op(&mut s, false, Op::Remove(d("z"))).unwrap_err(),
            Fault::ValueError("list.remove(x): x not in list".into())
        );
        assert_eq!(
            seq_op(&mut s, false, Op::Index(d("z"), 0, i64::MAX)).unwrap_err(),
            Fault::ValueError("\"z\" is not in list".into())
        );
        // insert clamps, as Python's does.
        seq_op(&mut s, false, Op::Insert(100, d("end"))).unwrap();
        seq_op(&mut s, false, Op::Insert(-100, d("start"))).unwrap();
        assert!(
            matches!(seq_op(&mut s, false, Op::Slice(Some(-2), None)), Ok(Reply::Many(v)) if v.len() == 2)
        );
        assert_eq!(s.first(), Some(&Value::String("start".into())));
        assert_eq!(s.last(), Some(&Value::String("end".into())));
        // An Array keeps its length.
        assert!(matches!(
            seq_op(&mut s, true, Op::Append(d("x"))),
            Err(Fault::TypeError(_))
        ));
    }

    #[test]
    fn python_dict_errors_and_atomic_updates() {
        let mut m = IndexMap::new();
        assert_eq!(
            map_op(&mut m, Op::GetItem(d("k"))).unwrap_err(),
            Fault::KeyError("\"k\"".into())
        );
        assert_eq!(
            map_op(&mut m, Op::PopItem).unwrap_err(),
            Fault::KeyError("'popitem(): dictionary is empty'".into())
        );
        map_op(&mut m, Op::Add(d("n"), Data::I64(2))).unwrap();
        map_op(&mut m, Op::Add(d("n"), Data::I64(3))).unwrap();
        assert_eq!(m[&Value::String("n".into())], Value::I64(5));
        assert!(matches!(
            map_op(&mut m, Op::AppendTo(d("n"), Data::U8(1))),
            Err(Fault::TypeError(_))
        ));
        assert!(matches!(
            map_op(
                &mut m,
                Op::CompareAndSet(d("n"), Some(Data::I64(4)), Data::I64(0))
            ),
            Ok(Reply::Bool(false))
        ));
        assert!(matches!(
            map_op(
                &mut m,
                Op::CompareAndSet(d("n"), Some(Data::I64(5)), Data::I64(0))
            ),
            Ok(Reply::Bool(true))
        ));
        assert!(matches!(
            map_op(&mut m, Op::CompareAndSet(d("new"), None, Data::I64(1))),
            Ok(Reply::Bool(true))
        ));
        // Insertion order is kept, as in Python 3.7+.
        let keys: Vec<_> = m.keys().cloned().collect();
        assert_eq!(
            keys,
            [Value::String("n".into()), Value::String("new".into())]
        );
    }
}
