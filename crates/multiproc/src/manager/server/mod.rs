//! The manager's server (≈ `multiprocessing.managers.Server`): a table of objects and a thread
//! per client connection that reads requests, runs them on the objects, and answers.
//!
//! - **Who gets in**: the [`Listener`]'s authkey handshake, before any request is read (each
//!   handshake with its own deadline, 64 at once, so slow or silent clients stall nobody).
//! - **What they can send**: requests are postcard frames of [`Request`], at most
//!   [`ServerOptions::max_message`] bytes each (the length header is checked before anything
//!   is allocated, and bodies grow as bytes arrive). A frame that does not decode, or is too
//!   long, closes that connection; the others go on.
//! - **How long they may take**: between requests a client may be idle for ever (a proxy
//!   kept for later); once a request's first byte is in, each further read must come within
//!   [`ServerOptions::request_timeout`].
//! - **How many**: at most [`ServerOptions::max_connections`] at once; more are closed at
//!   accept.
//!
//! A thread per connection is the simple choice that makes a blocking call (a queue `get`, a
//! lock `acquire`) cost only its own client; the objects each have their own lock.

pub(crate) mod blocking;
pub(crate) mod objects;
mod pool;
mod rings;
mod spin;

use std::collections::{HashMap, HashSet};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use self::blocking::Caller;
use self::objects::Object;
use super::protocol::{Envelope, Fault, Op, Owner, Reply, Request};
use crate::connection::{Address, Client, Connection, Listener};
use crate::error::{ConnectionError, ManagerError};
use crate::manager::register::{Registration, Served};

/// Limits a server applies to its clients.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The longest request accepted, in bytes (default 64 MiB).
    pub max_message: u64,
    /// Once a request has begun to arrive, the longest wait for each further part of it
    /// (default 10 s).
    pub request_timeout: Duration,
    /// Clients served at once (default 1024).
    pub max_connections: usize,
    /// Whether a client's `shutdown` stops the server (default `true`, as in Python; a
    /// long-lived service may refuse it, and is then stopped by its owner).
    pub allow_shutdown: bool,
    /// Whether clients may create pools, which run functions they name (by name in this
    /// executable, never as code; see [`crate::manager::pool`]). Default `false`; a
    /// manager started by `Manager::start` (a child of the program its clients run) does.
    pub serve_pools: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_message: 64 << 20,
            request_timeout: Duration::from_secs(10),
            max_connections: 1024,
            allow_shutdown: true,
            serve_pools: false,
        }
    }
}

/// What all connection threads share.
struct State {
    objects: RwLock<HashMap<u64, Arc<Object>>>,
    next_id: AtomicU64,
    connections: AtomicUsize,
    /// Ring threads looking for their client's next request (see `rings.rs`).
    spinning: AtomicUsize,
    /// Per client process: its open connections, and the locks it holds.
    clients: Mutex<HashMap<u64, Client>>,
    /// The types clients may create, by typeid (`register.rs`).
    registry: RwLock<HashMap<String, Registration>>,
    stopping: AtomicBool,
    options: ServerOptions,
}

/// A client process, as the server knows it.
struct Client {
    connections: usize,
    held: Arc<Mutex<HashSet<u64>>>,
}

/// A manager server bound to an address (≈ `BaseManager(address, authkey).get_server()`).
///
/// ```no_run
/// use multiproc::manager::Server;
///
/// let server = Server::bind(Some("127.0.0.1:50000".parse().unwrap()), b"secret").unwrap();
/// server.serve_forever().unwrap(); // until a client asks it to shut down
/// ```
pub struct Server {
    listener: Listener,
    authkey: Vec<u8>,
    state: Arc<State>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("address", self.listener.address())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Listens at `address` (`None`: a fresh abstract Unix name), requiring `authkey`.
    /// A path socket is made readable and writable by its owner only.
    pub fn bind(address: Option<Address>, authkey: &[u8]) -> Result<Server, ManagerError> {
        Server::bind_with(address, authkey, ServerOptions::default())
    }

    /// As [`bind`](Server::bind), with limits.
    pub fn bind_with(
        address: Option<Address>,
        authkey: &[u8],
        options: ServerOptions,
    ) -> Result<Server, ManagerError> {
        let listener = Listener::bind(address, Some(authkey))?;
        if let Address::Path(p) = listener.address() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600))
                .map_err(ConnectionError::from)?;
        }
        let mut r = [0u8; 8];
        let _ = crate::sys::io::random(&mut r);
        let instance = u64::from_le_bytes(r);
        Ok(Server {
            listener,
            authkey: authkey.to_vec(),
            state: Arc::new(State {
                objects: RwLock::new(HashMap::new()),
                // Ids start at a random point, so a proxy of an earlier server at the same
                // address finds no object here rather than another one.
                next_id: AtomicU64::new((instance & 0x7fff_ffff) << 32 | 1),
                connections: AtomicUsize::new(0),
                spinning: AtomicUsize::new(0),
                clients: Mutex::new(HashMap::new()),
                registry: RwLock::new(HashMap::new()),
                stopping: AtomicBool::new(false),
                options,
            }),
        })
    }

    /// Lets clients create `T`s, each made by `make` from the arguments a client gives
    /// [`Manager::create`](crate::manager::Manager::create) (≈ `BaseManager.register`).
    pub fn register<A, T>(&self, make: fn(A) -> T) -> Result<(), ManagerError>
    where
        A: serde::de::DeserializeOwned + 'static,
        T: Served,
    {
        self.add_registration(Registration::new(make)?);
        Ok(())
    }

    pub(crate) fn add_registration(&self, r: Registration) {
        self.state
            .registry
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(r.typeid.clone(), r);
    }

    /// Where it listens (a TCP port 0 resolved).
    pub fn address(&self) -> &Address {
        self.listener.address()
    }

    /// Serves until a client sends `shutdown` (≈ `serve_forever()`). A client that fails the
    /// handshake is turned away and serving goes on.
    pub fn serve_forever(&self) -> Result<(), ManagerError> {
        loop {
            if self.state.stopping.load(Ordering::SeqCst) {
                return Ok(());
            }
            let conn = match self.listener.accept() {
                Ok(c) => c,
                Err(ConnectionError::Closed) => return Ok(()),
                // A failed handshake, a client gone before it: that client's problem only.
                Err(_) => continue,
            };
            if self.state.stopping.load(Ordering::SeqCst) {
                return Ok(());
            }
            let st = &self.state;
            if st.connections.fetch_add(1, Ordering::SeqCst) >= st.options.max_connections {
                st.connections.fetch_sub(1, Ordering::SeqCst);
                continue; // dropped: closed
            }
            let state = self.state.clone();
            let address = self.address().clone();
            let authkey = self.authkey.clone();
            let spawned = std::thread::Builder::new()
                .name("multiproc-manager-conn".into())
                .spawn(move || {
                    let stop = serve_connection(&state, conn);
                    state.connections.fetch_sub(1, Ordering::SeqCst);
                    if stop {
                        // Wake the accept loop: a connection of our own, which it sees after
                        // the flag.
                        let _ = Client(&address, Some(&authkey));
                    }
                });
            if spawned.is_err() {
                self.state.connections.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
}

/// Serves one client until it goes; returns whether it asked the server to stop.
fn serve_connection(state: &Arc<State>, mut conn: Connection) -> bool {
    conn.set_max_message(state.options.max_message);
    // The client process this connection belongs to (known from its first request).
    let mut process: Option<(u64, Arc<Mutex<HashSet<u64>>>)> = None;
    let mut out = Vec::with_capacity(256);
    let stop = loop {
        // Idle for as long as the client likes; then the request must arrive promptly.
        match conn.poll_timeout(Duration::from_secs(3600)) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(_) => break false,
        }
        if let Some(s) = conn.stream() {
            let _ = s.set_read_timeout(Some(state.options.request_timeout));
        }
        let Ok(bytes) = conn.recv_bytes() else {
            break false;
        };
        let Ok(Envelope { from, request }) = postcard::from_bytes::<Envelope>(&bytes) else {
            let _ = send(
                &mut conn,
                &mut out,
                &Err(Fault::Refused("bad request".into())),
            );
            break false; // garbage: this connection is done
        };
        let held = match &process {
            Some((p, held)) if *p == from.process => held.clone(),
            Some(_) => {
                let refusal = Fault::Refused("one connection, one client process".into());
                let _ = send(&mut conn, &mut out, &Err(refusal));
                break false;
            }
            None => {
                let held = join_client(state, from.process);
                process = Some((from.process, held.clone()));
                held
            }
        };
        let Some(peer) = conn.stream().map(|s| s.as_fd()) else {
            break false;
        };
        if let Request::OpenChannel = request {
            if let Err(e) = rings::open(state, &mut conn, from.process) {
                let _ = send(&mut conn, &mut out, &Err(Fault::Refused(e)));
            }
            continue;
        }
        if let Request::Shutdown = request
            && !state.options.allow_shutdown
        {
            let refusal = Fault::Refused("this server does not stop on a client's request".into());
            if send(&mut conn, &mut out, &Err(refusal)).is_err() {
                break false;
            }
            continue;
        }
        let shutdown = matches!(request, Request::Shutdown);
        let take_from = match &request {
            Request::Call(id, Op::Take(_)) => Some(*id),
            _ => None,
        };
        let reply = handle(state, request, from, peer, &held);
        if shutdown {
            state.stopping.store(true, Ordering::SeqCst);
        }
        if send(&mut conn, &mut out, &reply).is_err() {
            if let (Some(id), Ok(Reply::Data(item))) = (take_from, reply) {
                requeue(state, id, item);
            }
            break shutdown;
        }
        if shutdown {
            break true;
        }
        // The client is likely back at once (see `spin.rs`).
        spin::look_awhile(state, false, || conn.poll());
    };
    if let Some((p, _)) = process {
        leave_client(state, p);
    }
    stop
}

/// Adds an object to the table; its id.
fn add_object(state: &State, obj: Object) -> u64 {
    let id = state.next_id.fetch_add(1, Ordering::Relaxed);
    state
        .objects
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id, Arc::new(obj));
    id
}

/// An item a queue gave to a caller whose answer could not be sent goes back.
fn requeue(state: &State, id: u64, item: super::data::Data) {
    let objects = state.objects.read().unwrap_or_else(|e| e.into_inner());
    if let Some(Object::Queue(q)) = objects.get(&id).map(|o| &**o) {
        q.requeue(item.into());
    }
}

/// A connection of client process `p` opened: its held-locks set.
fn join_client(state: &State, p: u64) -> Arc<Mutex<HashSet<u64>>> {
    let mut clients = state.clients.lock().unwrap_or_else(|e| e.into_inner());
    let c = clients.entry(p).or_insert_with(|| Client {
        connections: 0,
        held: Arc::default(),
    });
    c.connections += 1;
    c.held.clone()
}

/// A connection of client process `p` closed: when it was the last, the process is gone, and
/// what it held is handed on.
fn leave_client(state: &State, p: u64) {
    let gone = {
        let mut clients = state.clients.lock().unwrap_or_else(|e| e.into_inner());
        let Some(c) = clients.get_mut(&p) else { return };
        c.connections -= 1;
        if c.connections > 0 {
            return;
        }
        clients.remove(&p).map(|c| c.held)
    };
    let Some(held) = gone else { return };
    let ids: Vec<u64> = held
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .copied()
        .collect();
    let objects = state.objects.read().unwrap_or_else(|e| e.into_inner());
    for id in ids {
        match objects.get(&id).map(|o| &**o) {
            Some(Object::Acquirer(a)) => a.abandon(p),
            Some(Object::Condition(c)) => c.abandon(p),
            _ => {}
        }
    }
}

fn send(
    conn: &mut Connection,
    out: &mut Vec<u8>,
    reply: &Result<Reply, Fault>,
) -> Result<(), ConnectionError> {
    out.clear();
    let r = crate::wire::encode_into(reply, out);
    if r.is_err() {
        out.clear();
        crate::wire::encode_into(
            &Err::<Reply, _>(Fault::Refused("reply does not encode".into())),
            out,
        )
        .map_err(ConnectionError::Encode)?;
    }
    conn.send_bytes(out)
}

/// Runs one request.
fn handle(
    state: &State,
    request: Request,
    owner: Owner,
    peer: std::os::fd::BorrowedFd<'_>,
    held: &Mutex<HashSet<u64>>,
) -> Result<Reply, Fault> {
    let call = |id: u64, op: Op| {
        let obj = state
            .objects
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
            .ok_or(Fault::NoSuchObject(id))?;
        let caller = Caller {
            owner,
            object: id,
            peer,
            held,
        };
        match &*obj {
            Object::Pool(_) | Object::PoolResult(_) => pool::call(state, &obj, op, &caller),
            _ => obj.call(op, &caller),
        }
    };
    match request {
        Request::Create(kind) => {
            let obj = match kind {
                super::protocol::Kind::Custom { typeid, args } => {
                    let registry = state.registry.read().unwrap_or_else(|p| p.into_inner());
                    let r = registry.get(&typeid).ok_or_else(|| {
                        Fault::Refused(format!("no type '{typeid}' is registered on this manager"))
                    })?;
                    Object::Served(std::sync::Mutex::new(r.construct(args)?), typeid)
                }
                super::protocol::Kind::Pool { processes } => pool::create(state, processes)?,
                kind => Object::new(kind),
            };
            Ok(Reply::Created(add_object(state, obj)))
        }
        Request::Call(id, op) => call(id, op),
        Request::Batch(calls) => Ok(Reply::Batch(
            calls.into_iter().map(|(id, op)| call(id, op)).collect(),
        )),
        Request::Shutdown => Ok(Reply::Unit),
        Request::OpenChannel => Err(Fault::Refused("a channel is opened on a socket".into())),
    }
}
