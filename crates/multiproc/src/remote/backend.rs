//! [`Backend`]: the small set of operations every remote object stands on, so a store other
//! than Redis can follow without touching the user-facing types.
//!
//! Every object of [`remote`](super) is written against this trait only; [`Redis`](super::Redis)
//! is its one implementation today. Keys are strings the objects build (every key of a
//! namespace carries the same `{namespace}` hash tag); values are bytes (serde + postcard).
//!
//! | group | operations | what uses them |
//! |---|---|---|
//! | sequences | [`push`](Backend::push), [`pop`](Backend::pop), [`len`](Backend::len), [`range`](Backend::range), [`index`](Backend::index), [`set_index`](Backend::set_index), [`remove`](Backend::remove) | queues, lists |
//! | tasks | [`claim`](Backend::claim) → [`Lease`], [`ack`](Backend::ack), [`nack`](Backend::nack), [`extend`](Backend::extend), [`reap`](Backend::reap) | pools, workers |
//! | values | [`get`](Backend::get), [`set`](Backend::set), [`compare_and_set`](Backend::compare_and_set), [`incr`](Backend::incr), [`fields`](Backend::fields), [`delete`](Backend::delete) | dict, `Value`, `Namespace`, events, counters |
//! | leases | [`acquire`](Backend::acquire), [`release`](Backend::release), [`renew`](Backend::renew), [`fenced_set`](Backend::fenced_set) | `Lock`, `RLock`, `Semaphore` |
//! | wake-ups | [`notify`](Backend::notify), [`wait`](Backend::wait) | every blocking wait but a queue's `get` |
//!
//! # What another backend would need
//!
//! - **RabbitMQ**: tasks map well (a queue per namespace, `basic.get`/consume with manual
//!   acks is claim → lease; a lost channel requeues, `x-delivery-limit` gives attempts;
//!   `nack` with delay needs a delayed-exchange plugin or a dead-letter queue with a TTL).
//!   It has no values, leases or indexable sequences: those need a second store, or a
//!   single-active-consumer queue per lock.
//! - **NATS JetStream**: a work-queue stream with explicit acks is claim/ack/nack
//!   (`Nak` with delay), `InProgress` is `extend`; its key-value buckets give get/set and
//!   compare-and-set by revision (`Update`), `incr` by a CAS loop, notify/wait by a watch;
//!   leases as a KV entry with a TTL and a revision as the fencing token.
//! - **memcache**: get/set, compare-and-set (`gets`/`cas`) and `incr`, nothing else: no
//!   blocking pop, no notification, no lists. Queues and pools would poll, so it suits
//!   dicts, values and counters only.
//!
//! Each would implement this trait; `remote::connect` picks the backend from the URL's scheme.

use std::fmt;
use std::time::{Duration, Instant};

use crate::error::RemoteError;

/// What a backend call returns.
pub type Result<T> = std::result::Result<T, RemoteError>;

/// A task claimed by a worker: its bytes, until [`ack`](Backend::ack)ed,
/// [`nack`](Backend::nack)ed, or taken back by [`reap`](Backend::reap) when the worker's
/// lease lapses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The worker holding it.
    pub worker: String,
    /// The task as it was pushed.
    pub payload: Vec<u8>,
}

/// What [`ack`](Backend::ack) did with a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acked {
    /// The result is the task's result.
    Accepted,
    /// Another run of the task was accepted first (at-least-once delivery ran it twice):
    /// this result was dropped.
    Duplicate,
    /// The worker's lease had lapsed (it stalled past its heartbeat's TTL) and the task
    /// was taken back (to run elsewhere, or to fail with `WorkerLost`): this result is
    /// refused.
    Refused,
}

/// How long a call that can wait ([`pop`](Backend::pop), [`claim`](Backend::claim)) waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Not at all.
    No,
    /// Until this instant ([`RemoteError::Timeout`] is not an error here: an empty answer).
    Until(Instant),
    /// As long as it takes.
    Forever,
}

impl Wait {
    /// `Until(now + t)`, or `Forever` for `None`.
    pub fn timeout(t: Option<Duration>) -> Wait {
        match t.and_then(|t| Instant::now().checked_add(t)) {
            Some(d) => Wait::Until(d),
            None => Wait::Forever,
        }
    }
}

/// One result for [`ack`](Backend::ack).
#[derive(Debug, Clone, Copy)]
pub struct Ack<'a> {
    /// The lease it ends.
    pub lease: &'a Lease,
    /// The task's id (a task is answered once).
    pub id: &'a str,
    /// The list the result goes to.
    pub reply: &'a str,
    /// The result, encoded.
    pub result: &'a [u8],
}

/// A value's new state in [`compare_and_set`](Backend::compare_and_set): `None` deletes.
pub type Slot<'a> = Option<&'a [u8]>;

/// How a lease was granted by [`acquire`](Backend::acquire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Granted {
    /// A number larger than any granted before for this key: writes carrying an older one
    /// are refused ([`fenced_set`](Backend::fenced_set)).
    pub fence: u64,
    /// The previous holder's lease expired without a release.
    pub previous_died: bool,
}

/// The operations remote objects are built from (see the module docs).
///
/// Every call takes or has a deadline: one that passes gives [`RemoteError::Timeout`], and
/// a call without one uses the backend's operation timeout. A backend that lost its data
/// gives [`RemoteError::BackendLost`].
pub trait Backend: Send + Sync + fmt::Debug + 'static {
    /// The address, without credentials (for messages and `Debug`).
    fn describe(&self) -> String;
    /// The URL to reach it again from another process, credentials included.
    fn url(&self) -> String;
    /// How long a call without a deadline may take.
    fn op_timeout(&self) -> Duration;
    /// Fails with [`RemoteError::BackendLost`] if the data this handle saw is gone.
    fn check(&self) -> Result<()>;

    // --- sequences -------------------------------------------------------------------------

    /// Appends `items` at the back (at the front with `front`), all or none: with `cap`,
    /// only if the sequence then holds at most `cap` items (false: it would not fit).
    /// `counter`, if given, is incremented by the number pushed (a joinable queue's
    /// unfinished tasks) in the same step.
    fn push(
        &self,
        key: &str,
        items: &[Vec<u8>],
        front: bool,
        cap: Option<u64>,
        counter: Option<&str>,
    ) -> Result<bool>;
    /// Takes up to `max` items from the front (from the back with `back`), waiting as
    /// `wait` says for the first; empty if none came.
    fn pop(&self, key: &str, max: usize, back: bool, wait: Wait) -> Result<Vec<Vec<u8>>>;
    /// The first `max` items, left in place, waiting as `wait` says for one: a reader that
    /// loses the answer (a timeout, a dropped connection) reads them again, where a pop's
    /// lost answer loses them. [`trim_front`](Self::trim_front) drops them once handled.
    fn peek(&self, key: &str, max: usize, wait: Wait) -> Result<Vec<Vec<u8>>>;
    /// Drops the first `n` items.
    fn trim_front(&self, key: &str, n: usize) -> Result<()>;
    /// Takes the first item of `key`, waiting as `wait` says, by moving it to the holding
    /// list `held` (one per consumer), so that a take whose answer is lost (a timeout, a
    /// dropped connection) loses nothing: with `recover`, the item `held` keeps is returned
    /// first. Without it `held` is emptied first (its item was delivered).
    fn take(&self, key: &str, held: &str, recover: bool, wait: Wait) -> Result<Option<Vec<u8>>>;
    /// The number of items.
    fn len(&self, key: &str) -> Result<u64>;
    /// Items `start..=stop` (negative counts from the back, as Python's and Redis's).
    fn range(&self, key: &str, start: i64, stop: i64) -> Result<Vec<Vec<u8>>>;
    /// Item `i` (negative from the back), `None` out of range.
    fn index(&self, key: &str, i: i64) -> Result<Option<Vec<u8>>>;
    /// Replaces item `i`; false out of range.
    fn set_index(&self, key: &str, i: i64, item: &[u8]) -> Result<bool>;
    /// Removes up to `count` items equal to `item` from the front (0: all); how many.
    fn remove(&self, key: &str, item: &[u8], count: u64) -> Result<u64>;
    /// Removes one occurrence of each of `items` (in one pass over the list, atomically);
    /// how many were found.
    fn remove_each(&self, key: &str, items: &[Vec<u8>]) -> Result<u64>;

    // --- tasks -----------------------------------------------------------------------------

    /// Moves up to `max` tasks from `queue` to `worker`'s leases, waiting as `wait` says
    /// for the first. The worker must hold a live lease ([`extend`](Self::extend)).
    fn claim(&self, queue: &str, worker: &str, max: usize, wait: Wait) -> Result<Vec<Lease>>;
    /// Ends each lease with its result, in one round trip: appended to its `reply` list
    /// (which expires `keep` after its last write) unless the task was taken back from the
    /// worker ([`Acked::Refused`]: its lease lapsed and [`reap`](Self::reap) took it) or
    /// answered already ([`Acked::Duplicate`]).
    fn ack(&self, acks: &[Ack<'_>], keep: Duration) -> Result<Vec<Acked>>;
    /// Every task `worker` holds a lease on now (a worker that lost a claim's answer, to a
    /// timeout or an interrupted read, finds the task here).
    fn leases(&self, worker: &str) -> Result<Vec<Lease>>;
    /// Gives `lease` back to `queue`, to be claimed again after `delay`.
    fn nack(&self, lease: &Lease, queue: &str, delay: Duration) -> Result<bool>;
    /// Starts or extends `worker`'s lease on everything it claimed, for `ttl`. With `fresh`
    /// the lease must not exist (a new worker, or one that renews after being cut off);
    /// otherwise false means it had lapsed.
    fn extend(&self, workers: &str, worker: &str, ttl: Duration, fresh: bool) -> Result<bool>;
    /// Takes back the tasks of workers in `workers` whose lease lapsed and stayed lapsed
    /// for `grace` more (a worker only cut off from the backend renews by then); each goes
    /// to `decide`, which says where it goes (see [`Reaped`]); how many were taken. Only
    /// one caller per namespace reaps per period `every` (an election); the others do
    /// nothing.
    fn reap(
        &self,
        workers: &str,
        election: &str,
        every: Duration,
        grace: Duration,
        decide: &mut dyn FnMut(&Lease) -> Reaped,
    ) -> Result<usize>;
    /// Moves tasks of `queue` whose delay (from [`nack`](Self::nack)) has passed back to it.
    fn promote(&self, queue: &str) -> Result<usize>;

    // --- values ----------------------------------------------------------------------------

    /// Field `field` of map `key` (`None`: the key itself is the value).
    fn get(&self, key: &str, field: Option<&[u8]>) -> Result<Option<Vec<u8>>>;
    /// Several fields of map `key`, in order.
    fn get_many(&self, key: &str, fields: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>>;
    /// Sets field `field` of `key` (or the key), keeping it for `ttl` if given.
    fn set(
        &self,
        key: &str,
        field: Option<&[u8]>,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<()>;
    /// Sets several fields of map `key` at once.
    fn set_many(&self, key: &str, pairs: &[(Vec<u8>, Vec<u8>)]) -> Result<()>;
    /// Sets field `field` of `key` (or the key) to `new` only if it is `expected` now
    /// (`None`: absent); whether it did, and the value it found.
    fn compare_and_set(
        &self,
        key: &str,
        field: Option<&[u8]>,
        expected: Slot<'_>,
        new: Slot<'_>,
    ) -> Result<(bool, Option<Vec<u8>>)>;
    /// Adds `by` to the integer counter `field` of `key` (or the key); the new value.
    fn incr(&self, key: &str, field: Option<&[u8]>, by: i64) -> Result<i64>;
    /// Every (field, value) of map `key`.
    fn fields(&self, key: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;
    /// The number of fields of map `key`.
    fn count(&self, key: &str) -> Result<u64>;
    /// Deletes `field` of `key` (or the key); whether it existed.
    fn delete(&self, key: &str, field: Option<&[u8]>) -> Result<bool>;

    // --- leases (locks) --------------------------------------------------------------------

    /// Grants `holder` one of `capacity` leases on `key` for `ttl`, if one is free (leases
    /// whose holder did not renew in time are freed first). `None`: none free. A holder
    /// that already has one gets `Some` with its fence unchanged.
    fn acquire(
        &self,
        key: &str,
        holder: &str,
        capacity: u64,
        ttl: Duration,
    ) -> Result<Option<Granted>>;
    /// Ends `holder`'s lease; false if it had none (never held, or lapsed).
    fn release(&self, key: &str, holder: &str) -> Result<bool>;
    /// Extends `holder`'s lease by `ttl`; false if it had lapsed.
    fn renew(&self, key: &str, holder: &str, ttl: Duration) -> Result<bool>;
    /// Sets `target` to `value` only while the lease on `lock` with fence `fence` is held;
    /// [`RemoteError::Fenced`] otherwise.
    fn fenced_set(&self, lock: &str, fence: u64, target: &str, value: &[u8]) -> Result<()>;

    // --- wake-ups --------------------------------------------------------------------------

    /// Wakes every [`wait`](Self::wait)er on `channel`; how many there were.
    fn notify(&self, channel: &str, message: &[u8]) -> Result<u64>;
    /// Waits on `channel` until `ready` says true (it is asked first, and after each
    /// message or at most every `poll`, so a lost message costs a delay, never a hang),
    /// or `deadline` passes ([`RemoteError::Timeout`]).
    fn wait(
        &self,
        channel: &str,
        deadline: Option<Instant>,
        poll: Duration,
        ready: &mut dyn FnMut() -> Result<bool>,
    ) -> Result<()>;
}

/// What [`Backend::reap`] does with a lapsed lease's task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reaped {
    /// Back to `queue` after `delay` (at-least-once delivery: another attempt).
    Requeue {
        /// The queue.
        queue: String,
        /// The back-off before it may be claimed again.
        delay: Duration,
    },
    /// Answered with `result` on `reply` as task `id` (at-most-once: `WorkerLost`).
    Fail {
        /// The task's id.
        id: String,
        /// Its reply list.
        reply: String,
        /// The failure, encoded.
        result: Vec<u8>,
        /// How long the reply list is kept.
        keep: Duration,
    },
}
