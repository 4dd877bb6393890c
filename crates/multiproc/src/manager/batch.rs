//! [`Batch`]: many operations on one manager's objects in one round trip (one frame each
//! way), for when a round trip costs more than the work: over a network, or many small reads
//! and writes. Each operation is answered on its own, in order; one failing stops nothing.
//!
//! ```
//! use multiproc::manager::Manager;
//!
//! let manager = Manager::start().unwrap();
//! let d = manager.dict::<String, u64>().unwrap();
//! let log = manager.list::<String>().unwrap();
//! let mut b = manager.batch();
//! let set = b.insert(&d, "a".into(), 1).unwrap();
//! let hits = b.add(&d, "hits".into(), 1).unwrap();
//! let missing = b.get(&d, &"zzz".into()).unwrap();
//! b.append(&log, "ran".into()).unwrap();
//! let mut out = b.run().unwrap();
//! out.take(set).unwrap();
//! assert_eq!(out.take(hits).unwrap(), 1);
//! assert_eq!(out.take(missing).unwrap(), None);
//! assert_eq!(log.to_vec().unwrap(), ["ran"]);
//! ```

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::client::{Endpoint, Proxy};
use super::data::to_data;
use super::dict::DictProxy;
use super::list::ListProxy;
use super::protocol::{Fault, Op, Reply, Request};
use super::value::ValueProxy;
use crate::error::ManagerError;

/// Operations gathered to be sent together ([`Manager::batch`](super::Manager::batch)).
#[derive(Debug)]
pub struct Batch {
    endpoint: Arc<Endpoint>,
    calls: Vec<(u64, Op)>,
}

/// The answer to come for one operation of a [`Batch`]: read it with
/// [`BatchResults::take`].
#[must_use = "take the result from the BatchResults"]
pub struct Pending<R> {
    index: usize,
    read: fn(Reply) -> Result<R, ManagerError>,
}

impl<R> std::fmt::Debug for Pending<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pending(#{})", self.index)
    }
}

/// The answers of a [`Batch`] that ran.
#[derive(Debug)]
pub struct BatchResults {
    replies: Vec<Option<Result<Reply, Fault>>>,
}

impl Batch {
    pub(crate) fn new(endpoint: Arc<Endpoint>) -> Batch {
        Batch {
            endpoint,
            calls: Vec::new(),
        }
    }

    fn push<R>(
        &mut self,
        proxy: &Proxy,
        op: Op,
        read: fn(Reply) -> Result<R, ManagerError>,
    ) -> Result<Pending<R>, ManagerError> {
        if proxy.endpoint.address() != self.endpoint.address() {
            return Err(ManagerError::Misuse(format!(
                "a batch of {} cannot hold an object of {}",
                self.endpoint.address(),
                proxy.endpoint.address()
            )));
        }
        self.calls.push((proxy.id, op));
        Ok(Pending {
            index: self.calls.len() - 1,
            read,
        })
    }

    /// `d.get(k)`.
    pub fn get<K: Serialize, V: DeserializeOwned>(
        &mut self,
        d: &DictProxy<K, V>,
        key: &K,
    ) -> Result<Pending<Option<V>>, ManagerError> {
        self.push(&d.inner, Op::Get(to_data(key)?), Reply::maybe::<V>)
    }

    /// `d[k] = v`.
    pub fn insert<K: Serialize, V: Serialize>(
        &mut self,
        d: &DictProxy<K, V>,
        key: K,
        value: V,
    ) -> Result<Pending<()>, ManagerError> {
        let op = Op::SetItem(to_data(&key)?, to_data(&value)?);
        self.push(&d.inner, op, Reply::unit)
    }

    /// `d[k] += delta` (see [`DictProxy::add`]).
    pub fn add<K: Serialize, V: Serialize + DeserializeOwned>(
        &mut self,
        d: &DictProxy<K, V>,
        key: K,
        delta: V,
    ) -> Result<Pending<V>, ManagerError> {
        let op = Op::Add(to_data(&key)?, to_data(&delta)?);
        self.push(&d.inner, op, Reply::value::<V>)
    }

    /// `l.append(x)`.
    pub fn append<T: Serialize>(
        &mut self,
        l: &ListProxy<T>,
        item: T,
    ) -> Result<Pending<()>, ManagerError> {
        self.push(&l.inner, Op::Append(to_data(&item)?), Reply::unit)
    }

    /// `v.value`.
    pub fn load<T: DeserializeOwned>(
        &mut self,
        v: &ValueProxy<T>,
    ) -> Result<Pending<T>, ManagerError> {
        self.push(&v.inner, Op::Load, Reply::value::<T>)
    }

    /// `v.value = x`.
    pub fn store<T: Serialize>(
        &mut self,
        v: &ValueProxy<T>,
        value: T,
    ) -> Result<Pending<()>, ManagerError> {
        self.push(&v.inner, Op::Store(to_data(&value)?), Reply::unit)
    }

    /// Operations gathered so far.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// Whether nothing was gathered.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Sends them all in one frame, and reads all the answers from one.
    pub fn run(self) -> Result<BatchResults, ManagerError> {
        let n = self.calls.len();
        match self.endpoint.request(&Request::Batch(self.calls))? {
            Reply::Batch(replies) if replies.len() == n => Ok(BatchResults {
                replies: replies.into_iter().map(Some).collect(),
            }),
            other => Err(ManagerError::Data(format!(
                "unexpected reply to a batch of {n}: {other:?}"
            ))),
        }
    }
}

impl BatchResults {
    /// The answer of one operation: its value, or its own error.
    pub fn take<R>(&mut self, pending: Pending<R>) -> Result<R, ManagerError> {
        let reply = self
            .replies
            .get_mut(pending.index)
            .and_then(Option::take)
            .ok_or_else(|| ManagerError::Misuse("no such answer in this batch".into()))?;
        (pending.read)(reply.map_err(ManagerError::from)?)
    }
}
