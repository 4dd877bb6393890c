//! A client's side of a manager: the connections to one server ([`Endpoint`]), and the
//! untyped [`Proxy`] every typed proxy wraps (≈ `BaseProxy` and its `Token`).
//!
//! # Connections
//!
//! Each endpoint keeps a small pool of idle connections: a call takes one (or makes one),
//! sends its request, reads the answer, and gives it back. So threads call at once without
//! waiting for each other, and a call that blocks on the server (a queue `get`, a lock
//! `acquire`) holds only its own connection. A forked child never uses its parent's
//! connections (their bytes would interleave): an endpoint sees that it changed process and
//! starts afresh.
//!
//! # Proxies travel by reference
//!
//! A proxy serializes as its token: the object's kind, the server's address and the object's
//! id. It can go as a `Process` or `Pool` argument, inside a `Queue` message, or into another
//! manager object (a nested container), and comes back as a proxy to the same object.
//!
//! The authkey does not go with it. The receiver uses the key it knows for that address (a
//! `Manager` started or connected in the process, or inherited from the parent), or else the
//! process's own [`authkey`](crate::process::authkey), which children inherit, and which a
//! `Manager` uses by default: as in Python, where the key is written into the bytes only
//! when a child is being started. Here too, the one exception: a manager with a key of its
//! own, passed to a child as an argument (or in a `Connection` message, which carries file
//! descriptors and so stays on this machine), carries it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use serde::{Deserialize, Serialize};

use super::channel::{Link, Rings, Transport, wants_rings};
use super::protocol::{Fault, Op, Owner, Reply, Request};
use crate::connection::{Address, Client, Connection};
use crate::error::{ConnectionError, ManagerError};
use crate::sync::ResetAfterFork;

/// Idle connections kept per endpoint.
const MAX_IDLE: usize = 64;

/// The connections of this process to one server.
pub(crate) struct Endpoint {
    address: Address,
    authkey: Vec<u8>,
    transport: Transport,
    /// The process the idle connections belong to.
    owner: std::sync::atomic::AtomicU32,
    idle: Mutex<Vec<Link>>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

type Registry = HashMap<(String, Vec<u8>, u8), Weak<Endpoint>>;

// after-fork: reset by manager::client (the endpoints themselves notice the new process)
static ENDPOINTS: crate::sync::Mutex<Option<Registry>> =
    crate::sync::Mutex::const_new(crate::sync::RawLock::new(), None);
/// Per address: the key and transport proxies arriving without a key use.
type Keys = HashMap<String, (Vec<u8>, Transport)>;

// after-fork: reset by manager::client (the keys are kept: a child inherits them)
static KEYS: crate::sync::Mutex<Option<Keys>> =
    crate::sync::Mutex::const_new(crate::sync::RawLock::new(), None);

// after-fork: kept (the handler itself)
static AT_FORK: crate::sys::at_fork::Handler =
    crate::sys::at_fork::Handler::child("manager::client", || {
        ENDPOINTS.force_unlock_after_fork();
        KEYS.force_unlock_after_fork();
        super::channel::LOOKING.store(0, std::sync::atomic::Ordering::Relaxed);
    });

/// Remembers `authkey` (and the transport asked for) for proxies of `address` that arrive
/// without one.
pub(crate) fn remember_key(address: &Address, authkey: &[u8], transport: Transport) {
    AT_FORK.register();
    KEYS.lock()
        .get_or_insert_with(HashMap::new)
        .insert(address.to_string(), (authkey.to_vec(), transport));
}

fn key_for(address: &Address) -> (Vec<u8>, Transport) {
    AT_FORK.register();
    let known = KEYS
        .lock()
        .as_ref()
        .and_then(|k| k.get(&address.to_string()).cloned());
    known.unwrap_or_else(|| (crate::process::authkey(), Transport::Auto))
}

impl Endpoint {
    /// The endpoint for `address` with `authkey`, shared by every proxy of this process.
    pub(crate) fn get(address: &Address, authkey: &[u8], transport: Transport) -> Arc<Endpoint> {
        AT_FORK.register();
        let mut reg = ENDPOINTS.lock();
        let reg = reg.get_or_insert_with(HashMap::new);
        let key = (address.to_string(), authkey.to_vec(), transport as u8);
        if let Some(e) = reg.get(&key).and_then(Weak::upgrade) {
            return e;
        }
        reg.retain(|_, w| w.strong_count() > 0);
        let e = Arc::new(Endpoint {
            address: address.clone(),
            authkey: authkey.to_vec(),
            transport,
            owner: crate::sys::pid().into(),
            idle: Mutex::new(Vec::new()),
        });
        reg.insert(key, Arc::downgrade(&e));
        e
    }

    pub(crate) fn address(&self) -> &Address {
        &self.address
    }

    /// Opens a connection now (to report a wrong address or key at once).
    pub(crate) fn check(&self) -> Result<(), ManagerError> {
        let conn = self.connect()?;
        self.give_back(conn);
        Ok(())
    }

    /// Whether a new link gets rings (see [`super::channel`]).
    pub(crate) fn uses_rings(&self) -> Result<bool, ManagerError> {
        wants_rings(self.transport, &self.address)
    }

    fn connect(&self) -> Result<Link, ManagerError> {
        let mut conn = Client(&self.address, Some(&self.authkey))?;
        let rings = if self.uses_rings()? {
            match open_rings(&mut conn) {
                Ok(r) => Some(r),
                Err(e) if self.transport == Transport::SharedMemory => return Err(e),
                // Auto: the socket will do.
                Err(_) => None,
            }
        } else {
            None
        };
        Ok(Link { conn, rings })
    }

    /// An idle connection of this process, if there is one.
    fn take(&self) -> Option<Link> {
        use std::sync::atomic::Ordering;
        let me = crate::sys::pid();
        if self.owner.load(Ordering::Relaxed) != me {
            // A forked child: the parent's connections are not ours. If a parent thread held
            // the lock at the fork it stays held here; then this process keeps no pool.
            let mut idle = self.idle.try_lock().ok()?;
            idle.clear();
            self.owner.store(me, Ordering::Relaxed);
            return None;
        }
        self.idle.lock().ok()?.pop()
    }

    fn give_back(&self, conn: Link) {
        if self.owner.load(std::sync::atomic::Ordering::Relaxed) != crate::sys::pid() {
            return;
        }
        if let Ok(mut idle) = self.idle.try_lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(conn);
        }
    }

    /// Sends `request`, returns the server's answer.
    pub(crate) fn request(&self, request: &Request) -> Result<Reply, ManagerError> {
        /// `protocol::Envelope`, borrowing the request (the same bytes).
        #[derive(Serialize)]
        struct EnvelopeRef<'a> {
            from: Owner,
            request: &'a Request,
        }
        let bytes = crate::wire::encode(&EnvelopeRef {
            from: me(),
            request,
        })
        .map_err(ManagerError::Data)?;
        let mut link = match self.take() {
            Some(c) => c,
            None => self.connect()?,
        };
        let looking =
            super::channel::Looking::try_start().filter(|_| !super::channel::may_wait(request));
        let answer = match &looking {
            Some(l) if link.by_rings(request) => link.call_rings(bytes, l)?,
            _ => {
                link.conn.send_bytes(&bytes)?;
                if let Some(l) = &looking {
                    l.look(|| link.conn.poll());
                }
                link.conn.recv_bytes()?
            }
        };
        drop(looking);
        let reply = decode_reply(&answer)?;
        self.give_back(link);
        reply.map_err(ManagerError::from)
    }
}

fn decode_reply(answer: &[u8]) -> Result<Result<Reply, Fault>, ManagerError> {
    crate::wire::decode(answer).map_err(|e| {
        ManagerError::Connection(ConnectionError::Decode {
            type_name: "manager reply",
            reason: e,
        })
    })
}

/// Asks the server for a shared-memory channel on `conn` (see [`super::channel`]).
fn open_rings(conn: &mut Connection) -> Result<Rings, ManagerError> {
    let bytes = crate::wire::encode(&(me(), Request::OpenChannel)).map_err(ManagerError::Data)?;
    conn.send_bytes(&bytes)?;
    decode_reply(&conn.recv_bytes()?)??.unit()?;
    Ok(conn.recv::<Rings>()?)
}

/// This process and thread, as a manager knows them: a random number made once (kept by
/// forked children, as everything is) mixed with the pid, so each process differs, here and
/// on other machines.
fn me() -> Owner {
    use std::sync::atomic::{AtomicU64, Ordering};
    // after-fork: kept (a child's pid makes its identity differ)
    static BASE: AtomicU64 = AtomicU64::new(0);
    let mut base = BASE.load(Ordering::Relaxed);
    if base == 0 {
        let mut r = [0u8; 8];
        let _ = crate::sys::io::random(&mut r);
        let fresh = u64::from_le_bytes(r) | 1 << 63;
        base = match BASE.compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => fresh,
            Err(won) => won,
        };
    }
    Owner {
        process: base ^ u64::from(crate::sys::pid()),
        thread: crate::sys::tid::current().into(),
    }
}

/// A proxy's serialized form (≈ `Token`, plus a key in the one case described above).
#[derive(Serialize, Deserialize)]
struct TokenWire {
    typeid: String,
    address: Address,
    id: u64,
    authkey: Option<Vec<u8>>,
}

/// A reference to one object on one server; every typed proxy wraps one.
#[derive(Clone)]
pub(crate) struct Proxy {
    pub(crate) id: u64,
    pub(crate) typeid: String,
    pub(crate) endpoint: Arc<Endpoint>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "<{} proxy #{} at {}>",
            self.typeid, self.id, self.endpoint.address
        )
    }
}

impl Proxy {
    pub(crate) fn call(&self, op: Op) -> Result<Reply, ManagerError> {
        self.endpoint.request(&Request::Call(self.id, op))
    }

    /// Whether both name the same object.
    pub(crate) fn same(&self, other: &Proxy) -> bool {
        self.id == other.id && self.endpoint.address == other.endpoint.address
    }
}

impl Serialize for Proxy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let own_key = self.endpoint.authkey != crate::process::authkey();
        TokenWire {
            typeid: self.typeid.clone(),
            address: self.endpoint.address.clone(),
            id: self.id,
            authkey: (own_key && crate::wire::handle::local_transfer())
                .then(|| self.endpoint.authkey.clone()),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Proxy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Proxy, D::Error> {
        let t = TokenWire::deserialize(d)?;
        let (key, transport) = match t.authkey {
            Some(k) => {
                remember_key(&t.address, &k, Transport::Auto);
                (k, Transport::Auto)
            }
            None => key_for(&t.address),
        };
        Ok(Proxy {
            id: t.id,
            typeid: t.typeid,
            endpoint: Endpoint::get(&t.address, &key, transport),
        })
    }
}

/// The common part of every typed proxy: a [`Proxy`] and the types it speaks, `Clone`,
/// `Debug` (`<dict proxy #3 at @name>`), and serde by reference.
macro_rules! typed_proxy {
    ($(#[$m:meta])* $name:ident < $($t:ident),* >) => {
        $(#[$m])*
        pub struct $name<$($t),*> {
            pub(crate) inner: $crate::manager::client::Proxy,
            _types: std::marker::PhantomData<fn() -> ($($t,)*)>,
        }

        impl<$($t),*> $name<$($t),*> {
            pub(crate) fn wrap(inner: $crate::manager::client::Proxy) -> Self {
                $name { inner, _types: std::marker::PhantomData }
            }

            /// The object's id on its manager.
            pub fn id(&self) -> u64 {
                self.inner.id
            }

            /// Whether both proxies name the same object.
            pub fn same_object(&self, other: &Self) -> bool {
                self.inner.same(&other.inner)
            }
        }

        impl<$($t),*> Clone for $name<$($t),*> {
            fn clone(&self) -> Self {
                Self::wrap(self.inner.clone())
            }
        }

        impl<$($t),*> std::fmt::Debug for $name<$($t),*> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.inner.fmt(f)
            }
        }

        impl<$($t),*> serde::Serialize for $name<$($t),*> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.inner.serialize(s)
            }
        }

        impl<'de, $($t),*> serde::Deserialize<'de> for $name<$($t),*> {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $crate::manager::client::Proxy::deserialize(d).map(Self::wrap)
            }
        }
    };
}
pub(crate) use typed_proxy;
