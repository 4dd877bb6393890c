//! [`Redis`]: the [`Backend`] on a Redis server (the `redis` crate's synchronous client).
//!
//! # Connections
//!
//! A small pool of idle connections per backend: a call takes one (or opens one), and gives
//! it back after a clean answer. A blocking command (a queue's `get`, a worker's claim)
//! holds only its own. A connection that timed out or failed is dropped, never reused (its
//! late answer would be read as the next call's), so the next call reconnects by itself. A
//! forked child never uses its parent's connections: the pool sees that it changed process
//! and starts afresh.
//!
//! Every read has a socket timeout equal to what is left of the call's deadline, so a
//! server that stops answering (SIGSTOP, a network partition) gives
//! [`RemoteError::Timeout`] in time, never a hang. Blocking commands block on the server
//! for at most a second at a time, below the socket timeout.
//!
//! # The epoch
//!
//! Connecting sets `mp:{ns}:epoch` to a random value if it is absent, and remembers it.
//! Each new connection (after a reconnect) and each step of a long wait reads it again:
//! absent or different means the server lost the namespace's data (restarted without
//! persistence, flushed), and every call from then on is [`RemoteError::BackendLost`]
//! rather than a wait on a queue that no longer exists. With AOF the epoch survives a
//! restart and the clients carry on.
//!
//! # Why not a multi-thread runtime
//!
//! The `redis` crate's async client on a multi-thread tokio runtime hands each reply from
//! the reactor to the caller's thread: sequential `INCR` measured 53–68 µs here against
//! redis-benchmark's 25 µs. The synchronous client reads the reply on the calling thread.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use redis::{Connection, RedisError, RedisResult, Script, Value};

use super::address::{Address, MIGRATING_PAUSE};
use super::backend::{Ack, Acked, Backend, Granted, Lease, Reaped, Result, Slot, Wait};
use super::scripts;
use crate::error::RemoteError;

#[cfg(feature = "test-hooks")]
thread_local! {
    /// Test hook (feature `test-hooks`): this thread's next successful `take` reports its
    /// answer lost. Per thread, so tests running side by side do not take each other's.
    // after-fork: kept (a test's switch)
    pub(crate) static LOSE_NEXT_TAKE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Idle connections kept.
const MAX_IDLE: usize = 32;
/// How often waiting calls read the epoch again (see `Redis::check_now_and_then`).
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// How long a blocking command blocks on the server at a time.
const SLICE: Duration = Duration::from_secs(1);
/// What a blocking command's socket timeout allows beyond its server-side block, waiting
/// as long as it takes.
const MARGIN: Duration = Duration::from_millis(500);
/// The same for a wait with a deadline: a stopped server makes such a wait return
/// [`RemoteError::Timeout`] at most this long after its deadline.
const GRACE: Duration = Duration::from_millis(100);

/// The compiled scripts (their SHA1 computed once).
struct Scripts {
    push: Script,
    remove_each: Script,
    claim_more: Script,
    ack: Script,
    nack: Script,
    reap_fail: Script,
    forget: Script,
    promote: Script,
    cas: Script,
    acquire: Script,
    release: Script,
    renew: Script,
    fenced_set: Script,
}

impl Scripts {
    fn new() -> Scripts {
        Scripts {
            push: Script::new(scripts::PUSH),
            remove_each: Script::new(scripts::REMOVE_EACH),
            claim_more: Script::new(scripts::CLAIM_MORE),
            ack: Script::new(scripts::ACK),
            nack: Script::new(scripts::NACK),
            reap_fail: Script::new(scripts::REAP_FAIL),
            forget: Script::new(scripts::FORGET),
            promote: Script::new(scripts::PROMOTE),
            cas: Script::new(scripts::CAS),
            acquire: Script::new(scripts::ACQUIRE),
            release: Script::new(scripts::RELEASE),
            renew: Script::new(scripts::RENEW),
            fenced_set: Script::new(scripts::FENCED_SET),
        }
    }
}

/// A Redis server as a [`Backend`] (see the module docs).
pub struct Redis {
    address: Address,
    url: String,
    shown: String,
    op_timeout: Duration,
    epoch_key: String,
    epoch: String,
    lost: AtomicBool,
    /// When the epoch was last found as it should be (ms since `started`), for the checks
    /// of waiting calls.
    checked_ms: AtomicU64,
    started: Instant,
    /// The node calls go to: the server, or the cluster node serving the namespace's slot.
    node: RwLock<Node>,
    /// The process the idle connections belong to.
    owner: AtomicU32,
    /// Idle connections, each with the generation of the node it reaches.
    idle: Mutex<Vec<(u64, Connection)>>,
    scripts: Scripts,
}

/// Where calls go now; `generation` counts the moves (a `MOVED` answer).
struct Node {
    host: String,
    client: redis::Client,
    generation: u64,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("server", &self.shown)
            .finish_non_exhaustive()
    }
}

fn millis(d: Duration) -> u64 {
    d.as_millis().clamp(1, u64::MAX as u128) as u64
}

/// Whether the server refused the credentials (or their absence), at `AUTH` or at a
/// command (a pipeline's errors carry the code in their text).
fn is_auth_error(e: &RedisError) -> bool {
    e.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(e.code(), Some("NOAUTH" | "WRONGPASS"))
        || e.to_string().contains("NOAUTH")
}

/// Sorts a `redis` error into ours: whether the connection may be used again.
fn classify(e: RedisError) -> (RemoteError, bool) {
    if is_auth_error(&e) {
        (RemoteError::Authentication(e.to_string()), false)
    } else if e.is_timeout() {
        (RemoteError::Timeout, false)
    } else if e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
    {
        (RemoteError::Unreachable(e.to_string()), false)
    } else {
        (RemoteError::Backend(e.to_string()), true)
    }
}

impl Redis {
    /// Connects to `url` (see [`address`](super::address) for its forms), for the
    /// namespace whose epoch key is `epoch_key`.
    pub(crate) fn open(url: &str, epoch_key: String, op_timeout: Duration) -> Result<Redis> {
        let address = Address::parse(url)?;
        let deadline = Instant::now() + op_timeout;
        let host = if address.cluster {
            address.slot_owner(&epoch_key, deadline)?
        } else {
            address.first_host().to_string()
        };
        let client = address.client(&host)?;
        let mut r = Redis {
            shown: address.shown(),
            address,
            url: url.to_string(),
            op_timeout,
            epoch_key,
            epoch: String::new(),
            lost: AtomicBool::new(false),
            checked_ms: AtomicU64::new(0),
            started: Instant::now(),
            node: RwLock::new(Node {
                host,
                client,
                generation: 0,
            }),
            owner: AtomicU32::new(crate::sys::pid()),
            idle: Mutex::new(Vec::new()),
            scripts: Scripts::new(),
        };
        let fresh = format!("{:032x}", random_u128());
        let epoch_key = r.epoch_key.clone();
        r.epoch = r.call(Some(deadline), |c| {
            redis::pipe()
                .cmd("SET")
                .arg(&epoch_key)
                .arg(&fresh)
                .arg("NX")
                .ignore()
                .cmd("GET")
                .arg(&epoch_key)
                .query::<(String,)>(c)
                .map(|(e,)| e)
        })?;
        Ok(r)
    }

    /// A new connection to the current node, and that node's generation.
    fn connect(&self, deadline: Instant) -> Result<(Connection, u64)> {
        let (client, generation) = {
            let n = self.node.read().unwrap_or_else(|p| p.into_inner());
            (n.client.clone(), n.generation)
        };
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or(RemoteError::Timeout)?;
        let mut got = client.get_connection_with_timeout(left);
        // Interrupted (this process was stopped and continued mid-connect): once more.
        if got.as_ref().is_err_and(interrupted) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RemoteError::Timeout);
            }
            got = client.get_connection_with_timeout(left);
        }
        got.map(|c| (c, generation)).map_err(|e| {
            if is_auth_error(&e) {
                return RemoteError::Authentication(format!("{}: {e}", self.shown));
            }
            match classify(e) {
                (RemoteError::Backend(m), _) => RemoteError::Backend(m),
                (RemoteError::Timeout, _) => RemoteError::Timeout,
                (e, _) => RemoteError::Unreachable(format!("{}: {e}", self.shown)),
            }
        })
    }

    /// [`check`](Backend::check) for waiting calls, at most once per [`CHECK_EVERY`] for
    /// the whole backend: every slot of an idle worker ends a slice four times a second,
    /// and reading the epoch after each (16 `GET`s a second for four slots) was most of an
    /// idle worker's traffic. A lost epoch is still seen within a second.
    fn check_now_and_then(&self) -> Result<()> {
        let now = self.started.elapsed().as_millis() as u64;
        let last = self.checked_ms.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < CHECK_EVERY.as_millis() as u64 {
            return if self.lost.load(Ordering::Relaxed) {
                Err(RemoteError::BackendLost)
            } else {
                Ok(())
            };
        }
        self.check()?;
        self.checked_ms.store(now.max(1), Ordering::Relaxed);
        Ok(())
    }

    /// Turns to `host`, the node a `MOVED` answer (or the seeds) named: the namespace's
    /// slot is served there now. Connections to the old node are dropped as they come back.
    fn moved_to(&self, host: &str, seen: u64) -> Result<()> {
        let client = self.address.client(host)?;
        let mut n = self.node.write().unwrap_or_else(|p| p.into_inner());
        // Another thread may have moved already (and further).
        if n.generation == seen {
            *n = Node {
                host: host.to_string(),
                client,
                generation: seen + 1,
            };
        }
        Ok(())
    }

    /// A connection (an idle one, or a new one whose epoch is checked), its node's
    /// generation, and whether it is new.
    fn take(
        &self,
        deadline: Instant,
    ) -> std::result::Result<(Connection, u64, bool), NoConnection> {
        if self.lost.load(Ordering::Relaxed) {
            return Err(RemoteError::BackendLost.into());
        }
        let me = crate::sys::pid();
        if self.owner.load(Ordering::Relaxed) != me {
            // A forked child: the parent's connections are not ours. If a parent thread
            // held the lock at the fork, it stays held here; then this process keeps none.
            if let Ok(mut idle) = self.idle.try_lock() {
                // Closing our copies sends nothing: the parent's stay open.
                idle.clear();
                self.owner.store(me, Ordering::Relaxed);
            }
        } else if let Some((g, c)) = self.idle.lock().ok().and_then(|mut i| i.pop()) {
            return Ok((c, g, false));
        }
        let (mut conn, generation) = match self.connect(deadline) {
            Ok(c) => c,
            // A cluster node that is gone (killed, a failover under way): the seeds say
            // who serves the slot now, a promoted replica once the cluster has elected it.
            Err(RemoteError::Unreachable(m)) if self.address.cluster => {
                let (host, generation) = {
                    let n = self.node.read().unwrap_or_else(|p| p.into_inner());
                    (n.host.clone(), n.generation)
                };
                match self.address.slot_owner(&self.epoch_key, deadline) {
                    Ok(owner) if owner != host => {
                        self.moved_to(&owner, generation)?;
                        self.connect(deadline)?
                    }
                    _ => return Err(RemoteError::Unreachable(m).into()),
                }
            }
            Err(e) => return Err(e.into()),
        };
        if !self.epoch.is_empty() {
            set_timeouts(&conn, deadline)?;
            let now: Option<String> = match redis::cmd("GET").arg(&self.epoch_key).query(&mut conn)
            {
                Ok(v) => v,
                // The slot moved or is moving: the caller follows, and comes back.
                Err(e) if is_moved(&e).is_some() || is_migrating(&e) => {
                    return Err(NoConnection::Redirected(e));
                }
                Err(e) => return Err(classify(e).0.into()),
            };
            if now.as_deref() != Some(self.epoch.as_str()) {
                self.lost.store(true, Ordering::Relaxed);
                return Err(RemoteError::BackendLost.into());
            }
        }
        Ok((conn, generation, true))
    }

    fn give_back(&self, conn: Connection, generation: u64) {
        if self.owner.load(Ordering::Relaxed) != crate::sys::pid()
            || self
                .node
                .read()
                .map_or(true, |n| n.generation != generation)
        {
            return;
        }
        if let Ok(mut idle) = self.idle.try_lock()
            && idle.len() < MAX_IDLE
        {
            idle.push((generation, conn));
        }
    }

    fn deadline(&self, d: Option<Instant>) -> Instant {
        d.unwrap_or_else(|| Instant::now() + self.op_timeout)
    }

    /// Runs `f` on a connection whose reads end by `deadline` (the operation timeout when
    /// `None`).
    fn call<T>(
        &self,
        deadline: Option<Instant>,
        mut f: impl FnMut(&mut Connection) -> RedisResult<T>,
    ) -> Result<T> {
        let deadline = self.deadline(deadline);
        let mut redirects = 0;
        loop {
            let (mut conn, generation, fresh) = match self.take(deadline) {
                Ok(got) => got,
                Err(NoConnection::Failed(e)) => return Err(e),
                Err(NoConnection::Redirected(e)) => {
                    let generation = self.node.read().map_or(0, |n| n.generation);
                    redirects += 1;
                    self.redirected(&e, generation, deadline, redirects)?;
                    continue;
                }
            };
            set_timeouts(&conn, deadline)?;
            let e = match f(&mut conn) {
                Ok(v) => {
                    self.give_back(conn, generation);
                    return Ok(v);
                }
                Err(e) => e,
            };
            // An idle connection the server closed while it waited (a restart, an idle
            // timeout): the command never reached a live server. Once more, on a new
            // connection, which also checks the epoch.
            if !fresh && is_stale(&e) {
                continue;
            }
            if is_moved(&e).is_some() || is_migrating(&e) {
                self.give_back(conn, generation);
                redirects += 1;
                self.redirected(&e, generation, deadline, redirects)?;
                continue;
            }
            let (err, reusable) = classify(e);
            if reusable {
                self.give_back(conn, generation);
            }
            return Err(err);
        }
    }

    /// Follows a redirection (the node refused the call: nothing ran). `MOVED`: the
    /// namespace's slot is served by another node now; turn to it. A migration (`ASK`,
    /// `TRYAGAIN`) or an election (`CLUSTERDOWN`, `MASTERDOWN`): wait a moment and ask
    /// again. `Timeout` once `deadline` passes. The `nth` redirection of one call past the
    /// third also waits a moment: nodes that disagree for a while (a failover under way)
    /// are not asked in a tight loop.
    fn redirected(
        &self,
        e: &RedisError,
        generation: u64,
        deadline: Instant,
        nth: u32,
    ) -> Result<()> {
        if Instant::now() + MIGRATING_PAUSE >= deadline {
            return Err(RemoteError::Timeout);
        }
        if nth > 3 && is_moved(e).is_some() {
            std::thread::sleep(MIGRATING_PAUSE);
        }
        match is_moved(e) {
            Some(host) if host.is_empty() => {
                let host = self.address.slot_owner(&self.epoch_key, deadline)?;
                self.moved_to(&host, generation)
            }
            Some(host) => self.moved_to(&host, generation),
            None => {
                std::thread::sleep(MIGRATING_PAUSE);
                Ok(())
            }
        }
    }

    /// Runs a blocking command in slices of at most [`SLICE`] until it gives `Some` or
    /// `deadline` passes (`None`: waits as long as it takes); `f` gets the seconds to block.
    fn blocking<T>(
        &self,
        deadline: Option<Instant>,
        mut f: impl FnMut(&mut Connection, f64) -> RedisResult<Option<T>>,
    ) -> Result<Option<T>> {
        loop {
            let now = Instant::now();
            let left = match deadline {
                Some(d) => d.saturating_duration_since(now),
                None => SLICE,
            };
            // The server blocks for the rest of the wait (a slice at a time): Redis ends a
            // blocking command at its timeout to the millisecond. Below 2 ms a timeout
            // would round to 0, which means "for ever": the wait is over.
            let block = left.min(SLICE);
            if block < Duration::from_millis(2) {
                return Ok(None);
            }
            // The socket allows a little beyond: a server that does not answer by then is
            // stopped or cut off.
            let socket_deadline = now + block + if deadline.is_some() { GRACE } else { MARGIN };
            let got = self.call(Some(socket_deadline), |c| f(c, block.as_secs_f64()));
            match got {
                Ok(Some(v)) => return Ok(Some(v)),
                // A slice passed: has the server lost the data since (a `FLUSHALL` keeps
                // connections open, so no reconnect would notice)?
                Ok(None) => self.check_now_and_then()?,
                // The server did not answer within the slice and margin: stopped or slow.
                Err(RemoteError::Timeout) if deadline.is_none() => {}
                Err(RemoteError::Unreachable(m)) => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Err(RemoteError::Unreachable(m));
                    }
                    // Reconnecting (a new connection checks the epoch): wait a little
                    // first, the pace of retries against a server that is down.
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Whether `e` is an interrupted read (EINTR), which a socket read with a timeout gives
/// after its process was stopped and continued.
fn interrupted(e: &RedisError) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::Interrupted;
        }
        source = s.source();
    }
    e.is_io_error() && e.to_string().contains("(os error 4)")
}

/// Why [`Redis::take`] gave no connection: a failure, or a new connection's epoch check
/// answered by a redirection (the call follows it as it follows one of its own).
enum NoConnection {
    Failed(RemoteError),
    Redirected(RedisError),
}

impl From<RemoteError> for NoConnection {
    fn from(e: RemoteError) -> NoConnection {
        NoConnection::Failed(e)
    }
}

/// The node a `MOVED` answer names (`host:port`), or an empty string if the answer came
/// inside a pipeline's errors without a readable node (then the seeds are asked again).
fn is_moved(e: &RedisError) -> Option<String> {
    if e.kind() != redis::ErrorKind::Server(redis::ServerErrorKind::Moved) {
        return None;
    }
    if let Some((host, _)) = e.redirect_node() {
        return Some(host.to_string());
    }
    // A pipeline's failures show as "(Index 1, error: Moved: 8782 127.0.0.1:7001)".
    let text = e.to_string();
    let node = text
        .split_once("Moved: ")
        .and_then(|(_, rest)| rest.split_whitespace().nth(1))
        .map(|n| n.trim_end_matches([')', ',', ']']).to_string());
    Some(node.unwrap_or_default())
}

/// Whether the namespace's slot is being migrated or the cluster is electing a new master
/// (`ASK`, `TRYAGAIN`, `CLUSTERDOWN`, `MASTERDOWN`): nothing ran; ask again shortly.
fn is_migrating(e: &RedisError) -> bool {
    use redis::ServerErrorKind as K;
    matches!(
        e.kind(),
        redis::ErrorKind::Server(K::Ask | K::TryAgain | K::ClusterDown | K::MasterDown)
    )
}

/// Whether `e` says the connection was closed by the other end (end of file, reset,
/// broken pipe) rather than timed out or refused an answer.
fn is_stale(e: &RedisError) -> bool {
    e.is_connection_dropped() || (e.is_io_error() && !e.is_timeout() && !e.is_connection_refusal())
}

fn set_timeouts(conn: &Connection, deadline: Instant) -> Result<()> {
    let left = deadline
        .checked_duration_since(Instant::now())
        .filter(|d| *d >= Duration::from_millis(1))
        .ok_or(RemoteError::Timeout)?;
    conn.set_read_timeout(Some(left))
        .and_then(|_| conn.set_write_timeout(Some(left)))
        .map_err(|e| classify(e).0)
}

/// 128 random bits (an epoch, a worker's or holder's name).
pub(crate) fn random_u128() -> u128 {
    let mut b = [0u8; 16];
    let _ = crate::sys::io::random(&mut b);
    u128::from_le_bytes(b)
}

fn bytes_list(v: Value) -> Vec<Vec<u8>> {
    match v {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|i| match i {
                Value::BulkString(b) => Some(b),
                _ => None,
            })
            .collect(),
        Value::BulkString(b) => vec![b],
        _ => Vec::new(),
    }
}

/// A worker's keys: its leased tasks, and its liveness key.
fn worker_keys(worker: &str) -> (String, String) {
    (format!("{worker}:tasks"), format!("{worker}:alive"))
}

impl Backend for Redis {
    fn describe(&self) -> String {
        if self.address.cluster {
            let node = self.node.read().map(|n| n.host.clone()).unwrap_or_default();
            format!("{} (the namespace's slot on {node})", self.shown)
        } else {
            self.shown.clone()
        }
    }

    fn url(&self) -> String {
        self.url.clone()
    }

    fn op_timeout(&self) -> Duration {
        self.op_timeout
    }

    fn check(&self) -> Result<()> {
        if self.lost.load(Ordering::Relaxed) {
            return Err(RemoteError::BackendLost);
        }
        let now: Option<String> =
            self.call(None, |c| redis::cmd("GET").arg(&self.epoch_key).query(c))?;
        if now.as_deref() != Some(self.epoch.as_str()) {
            self.lost.store(true, Ordering::Relaxed);
            return Err(RemoteError::BackendLost);
        }
        Ok(())
    }

    fn push(
        &self,
        key: &str,
        items: &[Vec<u8>],
        front: bool,
        cap: Option<u64>,
        counter: Option<&str>,
    ) -> Result<bool> {
        if items.is_empty() {
            return Ok(true);
        }
        if cap.is_none() && counter.is_none() {
            let cmd = if front { "LPUSH" } else { "RPUSH" };
            return self.call(None, |c| {
                redis::cmd(cmd)
                    .arg(key)
                    .arg(items)
                    .query::<u64>(c)
                    .map(|_| true)
            });
        }
        self.call(None, |c| {
            let mut inv = self.scripts.push.key(key);
            if let Some(k) = counter {
                inv.key(k);
            }
            inv.arg(if front { "1" } else { "0" })
                .arg(cap.map_or(-1, |c| c as i64));
            for i in items {
                inv.arg(i.as_slice());
            }
            inv.invoke::<i64>(c).map(|r| r == 1)
        })
    }

    fn pop(&self, key: &str, max: usize, back: bool, wait: Wait) -> Result<Vec<Vec<u8>>> {
        let (pop, bpop) = if back {
            ("RPOP", "BRPOP")
        } else {
            ("LPOP", "BLPOP")
        };
        let max = max.max(1);
        let deadline = match wait {
            Wait::No => {
                return self.call(None, |c| {
                    redis::cmd(pop)
                        .arg(key)
                        .arg(max)
                        .query::<Value>(c)
                        .map(bytes_list)
                });
            }
            Wait::Until(d) => Some(d),
            Wait::Forever => None,
        };
        let first = self.blocking(deadline, |c, secs| {
            let r: Option<(String, Vec<u8>)> = redis::cmd(bpop).arg(key).arg(secs).query(c)?;
            Ok(r.map(|(_, v)| v))
        })?;
        let Some(first) = first else {
            return Ok(Vec::new());
        };
        let mut out = vec![first];
        if max > 1 {
            // More, if they are there now; the first is kept whatever happens here.
            if let Ok(more) = self.call(None, |c| {
                redis::cmd(pop)
                    .arg(key)
                    .arg(max - 1)
                    .query::<Value>(c)
                    .map(bytes_list)
            }) {
                out.extend(more);
            }
        }
        Ok(out)
    }

    fn peek(&self, key: &str, max: usize, wait: Wait) -> Result<Vec<Vec<u8>>> {
        let max = max.max(1) as i64;
        let deadline = match wait {
            Wait::No => {
                return self.call(None, |c| {
                    redis::cmd("LRANGE").arg(key).arg(0).arg(max - 1).query(c)
                });
            }
            Wait::Until(d) => Some(d),
            Wait::Forever => None,
        };
        // One round trip: `BLMOVE` from the back to the back of the same list leaves it as
        // it is, returns at once when it holds an item and blocks while it is empty; the
        // `LRANGE` pipelined behind it runs on the server as soon as the `BLMOVE` returns
        // (a blocked client's next commands wait for it), so a reply is read in the same
        // round trip that waited for it.
        let got = self.blocking(deadline, |c, secs| {
            let (some, items): (Option<Vec<u8>>, Vec<Vec<u8>>) = redis::pipe()
                .cmd("BLMOVE")
                .arg(key)
                .arg(key)
                .arg("RIGHT")
                .arg("RIGHT")
                .arg(secs)
                .cmd("LRANGE")
                .arg(key)
                .arg(0)
                .arg(max - 1)
                .query(c)?;
            Ok((some.is_some() || !items.is_empty()).then_some(items))
        })?;
        Ok(got.unwrap_or_default())
    }

    fn trim_front(&self, key: &str, n: usize) -> Result<()> {
        self.call(None, |c| {
            redis::cmd("LTRIM").arg(key).arg(n).arg(-1).query(c)
        })
    }

    fn take(&self, key: &str, held: &str, recover: bool, wait: Wait) -> Result<Option<Vec<u8>>> {
        const KEEP_MS: u64 = 3_600_000;
        if recover {
            let kept: Option<Vec<u8>> =
                self.call(None, |c| redis::cmd("LPOP").arg(held).query(c))?;
            if kept.is_some() {
                return Ok(kept);
            }
        }
        let deadline = match wait {
            Wait::No => Some(Instant::now()),
            Wait::Until(d) => Some(d),
            Wait::Forever => None,
        };
        // `held` is emptied once, before the first try: a later try (after a slice, or a
        // reconnection) may follow a move whose answer was lost, whose item is there.
        let mut first = true;
        let mut step = |c: &mut Connection, secs: Option<f64>| -> RedisResult<Option<Vec<u8>>> {
            let mut p = redis::pipe();
            if std::mem::take(&mut first) {
                p.cmd("DEL").arg(held).ignore();
            }
            match secs {
                Some(secs) => p
                    .cmd("BLMOVE")
                    .arg(key)
                    .arg(held)
                    .arg("LEFT")
                    .arg("RIGHT")
                    .arg(secs),
                None => p.cmd("LMOVE").arg(key).arg(held).arg("LEFT").arg("RIGHT"),
            };
            p.cmd("PEXPIRE").arg(held).arg(KEEP_MS).ignore();
            let (item,): (Option<Vec<u8>>,) = p.query(c)?;
            Ok(item)
        };
        let got = if wait == Wait::No {
            self.call(None, |c| step(c, None))?
        } else {
            self.blocking(deadline, |c, secs| step(c, Some(secs)))?
        };
        #[cfg(feature = "test-hooks")]
        if got.is_some() && LOSE_NEXT_TAKE.replace(false) {
            return Err(RemoteError::Unreachable(
                "test hook: the answer was lost".into(),
            ));
        }
        Ok(got)
    }

    fn len(&self, key: &str) -> Result<u64> {
        self.call(None, |c| redis::cmd("LLEN").arg(key).query(c))
    }

    fn range(&self, key: &str, start: i64, stop: i64) -> Result<Vec<Vec<u8>>> {
        self.call(None, |c| {
            redis::cmd("LRANGE").arg(key).arg(start).arg(stop).query(c)
        })
    }

    fn index(&self, key: &str, i: i64) -> Result<Option<Vec<u8>>> {
        self.call(None, |c| redis::cmd("LINDEX").arg(key).arg(i).query(c))
    }

    fn set_index(&self, key: &str, i: i64, item: &[u8]) -> Result<bool> {
        match self.call(None, |c| {
            redis::cmd("LSET").arg(key).arg(i).arg(item).query::<()>(c)
        }) {
            Ok(()) => Ok(true),
            Err(RemoteError::Backend(m))
                if m.contains("index out of range") || m.contains("no such key") =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    fn remove(&self, key: &str, item: &[u8], count: u64) -> Result<u64> {
        self.call(None, |c| {
            redis::cmd("LREM").arg(key).arg(count).arg(item).query(c)
        })
    }

    fn remove_each(&self, key: &str, items: &[Vec<u8>]) -> Result<u64> {
        // In batches, so one script's arguments stay small.
        items.chunks(1000).try_fold(0, |n, batch| {
            let removed: u64 = self.call(None, |c| {
                let mut inv = self.scripts.remove_each.key(key);
                for i in batch {
                    inv.arg(i.as_slice());
                }
                inv.invoke(c)
            })?;
            Ok(n + removed)
        })
    }

    fn claim(&self, queue: &str, worker: &str, max: usize, wait: Wait) -> Result<Vec<Lease>> {
        let (tasks, _) = worker_keys(worker);
        let deadline = match wait {
            Wait::No => {
                let got: Vec<Vec<u8>> = self.call(None, |c| {
                    self.scripts
                        .claim_more
                        .key(queue)
                        .key(&tasks)
                        .arg(max)
                        .invoke::<Value>(c)
                        .map(bytes_list)
                })?;
                return Ok(got
                    .into_iter()
                    .map(|payload| Lease {
                        worker: worker.to_string(),
                        payload,
                    })
                    .collect());
            }
            Wait::Until(d) => Some(d),
            Wait::Forever => None,
        };
        let first = self.blocking(deadline, |c, secs| {
            redis::cmd("BLMOVE")
                .arg(queue)
                .arg(&tasks)
                .arg("LEFT")
                .arg("RIGHT")
                .arg(secs)
                .query::<Option<Vec<u8>>>(c)
        })?;
        let Some(first) = first else {
            return Ok(Vec::new());
        };
        let mut out = vec![first];
        if max > 1 {
            let more: Vec<Vec<u8>> = self.call(None, |c| {
                self.scripts
                    .claim_more
                    .key(queue)
                    .key(&tasks)
                    .arg(max - 1)
                    .invoke::<Value>(c)
                    .map(bytes_list)
            })?;
            out.extend(more);
        }
        Ok(out
            .into_iter()
            .map(|payload| Lease {
                worker: worker.to_string(),
                payload,
            })
            .collect())
    }

    fn ack(&self, acks: &[Ack<'_>], keep: Duration) -> Result<Vec<Acked>> {
        if acks.is_empty() {
            return Ok(Vec::new());
        }
        let keep = millis(keep);
        let run = |c: &mut Connection| -> RedisResult<Vec<i64>> {
            let mut p = redis::pipe();
            for a in acks {
                let (tasks, _) = worker_keys(&a.lease.worker);
                p.cmd("EVALSHA")
                    .arg(self.scripts.ack.get_hash())
                    .arg(3)
                    .arg(&tasks)
                    .arg(format!("{}:done:{}", a.reply, a.id))
                    .arg(a.reply)
                    .arg(a.lease.payload.as_slice())
                    .arg(a.result)
                    .arg(keep);
            }
            p.query(c)
        };
        let codes = self.call(None, |c| match run(c) {
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                self.scripts.ack.load(c)?;
                run(c)
            }
            r => r,
        })?;
        Ok(codes
            .into_iter()
            .map(|r| match r {
                1 => Acked::Accepted,
                2 => Acked::Duplicate,
                _ => Acked::Refused,
            })
            .collect())
    }

    fn leases(&self, worker: &str) -> Result<Vec<Lease>> {
        let (tasks, _) = worker_keys(worker);
        let all: Vec<Vec<u8>> = self.call(None, |c| {
            redis::cmd("LRANGE").arg(&tasks).arg(0).arg(-1).query(c)
        })?;
        Ok(all
            .into_iter()
            .map(|payload| Lease {
                worker: worker.to_string(),
                payload,
            })
            .collect())
    }

    fn nack(&self, lease: &Lease, queue: &str, delay: Duration) -> Result<bool> {
        let (tasks, _) = worker_keys(&lease.worker);
        self.call(None, |c| {
            self.scripts
                .nack
                .key(&tasks)
                .key(queue)
                .key(format!("{queue}:delayed"))
                .arg(lease.payload.as_slice())
                .arg(delay.as_millis() as u64)
                .invoke::<i64>(c)
                .map(|r| r == 1)
        })
    }

    fn extend(&self, workers: &str, worker: &str, ttl: Duration, fresh: bool) -> Result<bool> {
        let (_, alive) = worker_keys(worker);
        let ttl = millis(ttl);
        self.call(None, |c| {
            let set: Option<String> = redis::cmd("SET")
                .arg(&alive)
                .arg("1")
                .arg(if fresh { "NX" } else { "XX" })
                .arg("PX")
                .arg(ttl)
                .query(c)?;
            if set.is_some() && fresh {
                redis::cmd("SADD").arg(workers).arg(worker).query::<()>(c)?;
            }
            Ok(set.is_some())
        })
    }

    fn reap(
        &self,
        workers: &str,
        election: &str,
        every: Duration,
        grace: Duration,
        decide: &mut dyn FnMut(&Lease) -> Reaped,
    ) -> Result<usize> {
        let won: Option<String> = self.call(None, |c| {
            redis::cmd("SET")
                .arg(election)
                .arg(crate::sys::pid())
                .arg("NX")
                .arg("PX")
                .arg(millis(every))
                .query(c)
        })?;
        if won.is_none() {
            return Ok(0);
        }
        let members: Vec<String> =
            self.call(None, |c| redis::cmd("SMEMBERS").arg(workers).query(c))?;
        let mut reaped = 0;
        // A lapsed lease is watched for `grace` before its tasks are taken: a worker that
        // was only cut off from the server (the server stalled, the network dropped)
        // renews as soon as it gets through again, and keeps its tasks.
        let watch = millis(grace * 8 + Duration::from_secs(60));
        for w in members {
            let (tasks, alive) = worker_keys(&w);
            let suspect = format!("{w}:suspect");
            let (live, fresh, left): (bool, Option<String>, i64) = self.call(None, |c| {
                redis::pipe()
                    .cmd("EXISTS")
                    .arg(&alive)
                    .cmd("SET")
                    .arg(&suspect)
                    .arg("1")
                    .arg("NX")
                    .arg("PX")
                    .arg(watch)
                    .cmd("PTTL")
                    .arg(&suspect)
                    .query(c)
            })?;
            if live {
                self.call(None, |c| redis::cmd("DEL").arg(&suspect).query::<()>(c))?;
                continue;
            }
            let watched = Duration::from_millis((watch as i64 - left).max(0) as u64);
            if fresh.is_some() || watched < grace {
                continue;
            }
            let leased: Vec<Vec<u8>> = self.call(None, |c| {
                redis::cmd("LRANGE").arg(&tasks).arg(0).arg(-1).query(c)
            })?;
            for payload in leased {
                let lease = Lease {
                    worker: w.clone(),
                    payload,
                };
                let moved = match decide(&lease) {
                    Reaped::Requeue { queue, delay } => self.nack(&lease, &queue, delay)?,
                    Reaped::Fail {
                        id,
                        reply,
                        result,
                        keep,
                    } => self.call(None, |c| {
                        self.scripts
                            .reap_fail
                            .key(&tasks)
                            .key(format!("{reply}:done:{id}"))
                            .key(&reply)
                            .arg(lease.payload.as_slice())
                            .arg(result.as_slice())
                            .arg(millis(keep))
                            .invoke::<i64>(c)
                            .map(|r| r == 1)
                    })?,
                };
                reaped += usize::from(moved);
            }
            // Forgotten only if it is still lapsed and holds nothing (it may have come back).
            self.call(None, |c| {
                self.scripts
                    .forget
                    .key(workers)
                    .key(&alive)
                    .key(&tasks)
                    .key(&suspect)
                    .arg(&w)
                    .invoke::<i64>(c)
            })?;
        }
        Ok(reaped)
    }

    fn promote(&self, queue: &str) -> Result<usize> {
        self.call(None, |c| {
            self.scripts
                .promote
                .key(format!("{queue}:delayed"))
                .key(queue)
                .invoke::<usize>(c)
        })
    }

    fn get(&self, key: &str, field: Option<&[u8]>) -> Result<Option<Vec<u8>>> {
        self.call(None, |c| match field {
            Some(f) => redis::cmd("HGET").arg(key).arg(f).query(c),
            None => redis::cmd("GET").arg(key).query(c),
        })
    }

    fn get_many(&self, key: &str, fields: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>> {
        if fields.is_empty() {
            return Ok(Vec::new());
        }
        self.call(None, |c| redis::cmd("HMGET").arg(key).arg(fields).query(c))
    }

    fn set(
        &self,
        key: &str,
        field: Option<&[u8]>,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<()> {
        self.call(None, |c| match field {
            Some(f) => {
                let mut p = redis::pipe();
                p.cmd("HSET").arg(key).arg(f).arg(value).ignore();
                if let Some(t) = ttl {
                    p.cmd("PEXPIRE").arg(key).arg(millis(t)).ignore();
                }
                p.query::<()>(c)
            }
            None => {
                let mut cmd = redis::cmd("SET");
                cmd.arg(key).arg(value);
                if let Some(t) = ttl {
                    cmd.arg("PX").arg(millis(t));
                }
                cmd.query::<()>(c)
            }
        })
    }

    fn set_many(&self, key: &str, pairs: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
        if pairs.is_empty() {
            return Ok(());
        }
        self.call(None, |c| {
            let mut cmd = redis::cmd("HSET");
            cmd.arg(key);
            for (f, v) in pairs {
                cmd.arg(f.as_slice()).arg(v.as_slice());
            }
            cmd.query::<()>(c)
        })
    }

    fn compare_and_set(
        &self,
        key: &str,
        field: Option<&[u8]>,
        expected: Slot<'_>,
        new: Slot<'_>,
    ) -> Result<(bool, Option<Vec<u8>>)> {
        self.call(None, |c| {
            let (ok, cur): (i64, Option<Vec<u8>>) = self
                .scripts
                .cas
                .key(key)
                .arg(field.unwrap_or(b""))
                .arg(if field.is_some() { "1" } else { "0" })
                .arg(if expected.is_some() { "1" } else { "0" })
                .arg(expected.unwrap_or(b""))
                .arg(if new.is_some() { "1" } else { "0" })
                .arg(new.unwrap_or(b""))
                .invoke(c)?;
            Ok((ok == 1, cur))
        })
    }

    fn incr(&self, key: &str, field: Option<&[u8]>, by: i64) -> Result<i64> {
        self.call(None, |c| match field {
            Some(f) => redis::cmd("HINCRBY").arg(key).arg(f).arg(by).query(c),
            None => redis::cmd("INCRBY").arg(key).arg(by).query(c),
        })
    }

    fn fields(&self, key: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.call(None, |c| redis::cmd("HGETALL").arg(key).query(c))
    }

    fn count(&self, key: &str) -> Result<u64> {
        self.call(None, |c| redis::cmd("HLEN").arg(key).query(c))
    }

    fn delete(&self, key: &str, field: Option<&[u8]>) -> Result<bool> {
        self.call(None, |c| match field {
            Some(f) => redis::cmd("HDEL").arg(key).arg(f).query::<u64>(c),
            None => redis::cmd("DEL").arg(key).query::<u64>(c),
        })
        .map(|n| n > 0)
    }

    fn acquire(
        &self,
        key: &str,
        holder: &str,
        capacity: u64,
        ttl: Duration,
    ) -> Result<Option<Granted>> {
        let r: Option<(u64, i64)> = self.call(None, |c| {
            self.scripts
                .acquire
                .key(key)
                .key(format!("{key}:fence"))
                .key(format!("{key}:died"))
                .key(format!("{key}:fences"))
                .arg(holder)
                .arg(capacity)
                .arg(millis(ttl))
                .invoke(c)
        })?;
        Ok(r.map(|(fence, died)| Granted {
            fence,
            previous_died: died == 1,
        }))
    }

    fn release(&self, key: &str, holder: &str) -> Result<bool> {
        self.call(None, |c| {
            self.scripts
                .release
                .key(key)
                .key(format!("{key}:fences"))
                .arg(holder)
                .invoke::<i64>(c)
                .map(|r| r == 1)
        })
    }

    fn renew(&self, key: &str, holder: &str, ttl: Duration) -> Result<bool> {
        self.call(None, |c| {
            self.scripts
                .renew
                .key(key)
                .arg(holder)
                .arg(millis(ttl))
                .invoke::<i64>(c)
                .map(|r| r == 1)
        })
    }

    fn fenced_set(&self, lock: &str, fence: u64, target: &str, value: &[u8]) -> Result<()> {
        let ok = self.call(None, |c| {
            self.scripts
                .fenced_set
                .key(lock)
                .key(format!("{lock}:fence"))
                .key(format!("{lock}:fences"))
                .key(target)
                .arg(fence)
                .arg(value)
                .invoke::<i64>(c)
        })?;
        if ok == 1 {
            Ok(())
        } else {
            Err(RemoteError::Fenced(fence))
        }
    }

    fn notify(&self, channel: &str, message: &[u8]) -> Result<u64> {
        self.call(None, |c| {
            redis::cmd("PUBLISH").arg(channel).arg(message).query(c)
        })
    }

    fn wait(
        &self,
        channel: &str,
        deadline: Option<Instant>,
        poll: Duration,
        ready: &mut dyn FnMut() -> Result<bool>,
    ) -> Result<()> {
        // The server being away for a moment (restarting, stalled, this process stopped and
        // continued) is not the end of a wait: it looks again until its deadline.
        let passed = || deadline.is_some_and(|d| Instant::now() >= d);
        let transient =
            |e: &RemoteError| matches!(e, RemoteError::Unreachable(_) | RemoteError::Timeout);
        let pause = || std::thread::sleep(Duration::from_millis(50));
        loop {
            match ready() {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) if transient(&e) && !passed() => {
                    pause();
                    continue;
                }
                Err(e) if transient(&e) => return Err(RemoteError::Timeout),
                Err(e) => return Err(e),
            }
            if passed() {
                return Err(RemoteError::Timeout);
            }
            // A connection of its own: once subscribed it reads only messages.
            let by = deadline
                .unwrap_or_else(|| Instant::now() + self.op_timeout)
                .max(Instant::now() + Duration::from_millis(50));
            let mut conn = match self.connect(by) {
                Ok((c, _)) => c,
                Err(e) if transient(&e) => {
                    pause();
                    continue;
                }
                Err(e) => return Err(e),
            };
            if set_timeouts(&conn, by).is_err() {
                continue;
            }
            let mut ps = conn.as_pubsub();
            if ps.subscribe(channel).is_err() {
                pause();
                continue;
            }
            loop {
                // Asked after subscribing, so a notification sent in between is not lost.
                match ready() {
                    Ok(true) => return Ok(()),
                    Ok(false) => {}
                    Err(e) if transient(&e) && !passed() => pause(),
                    Err(e) if transient(&e) => return Err(RemoteError::Timeout),
                    Err(e) => return Err(e),
                }
                let now = Instant::now();
                let left = match deadline {
                    Some(d) if d <= now => return Err(RemoteError::Timeout),
                    Some(d) => (d - now).min(poll),
                    None => poll,
                };
                if ps
                    .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                    .is_err()
                {
                    break;
                }
                match ps.get_message() {
                    Ok(_) => {}
                    Err(e) if e.is_timeout() => {
                        if let Err(RemoteError::BackendLost) = self.check_now_and_then() {
                            return Err(RemoteError::BackendLost);
                        }
                    }
                    // A read with a timeout fails with EINTR after this process was stopped
                    // and continued (signal(7)), with nothing read: look again.
                    Err(e) if interrupted(&e) => {}
                    // The subscription's connection failed: subscribe again.
                    Err(_) => break,
                }
            }
        }
    }
}
