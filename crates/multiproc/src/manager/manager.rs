//! [`Manager`]: starts a manager server in a process of its own, or connects to one, and
//! creates the shared objects (≈ `multiprocessing.Manager()`, `SyncManager`, `BaseManager`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::batch::Batch;
use super::channel::Transport;
use super::client::{Endpoint, Proxy, remember_key};
use super::data::to_data;
use super::dict::DictProxy;
use super::list::{ArrayProxy, ListProxy};
use super::namespace::Namespace;
use super::pool::PoolProxy;
use super::protocol::{Kind, Reply, Request, micros};
use super::queue::{JoinableQueueProxy, QueueProxy};
use super::register::{Registration, Served, ServedProxy};
use super::server::{Server, ServerOptions};
use super::sync::{AcquirerProxy, BarrierProxy, ConditionProxy, EventProxy};
use super::value::ValueProxy;
use crate::connection::{Address, Connection, Pipe};
use crate::error::ManagerError;
use crate::process::{Context, Process};

/// How long a new manager process may take to say it listens.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `shutdown` waits for the manager process to exit before it kills it.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// A manager: a server of shared objects and the way to create them (≈ `SyncManager`).
///
/// [`Manager::start`] runs the server in a child process, which dies with this one;
/// [`shutdown`](Manager::shutdown), or dropping the `Manager`, stops it (≈ `with Manager()
/// as m:`). [`Manager::connect`] reaches a server started elsewhere ([`Server`], or
/// `multiproc manager serve`), which it does not stop.
///
/// The proxies it returns are `Send + Sync + Clone + Serialize`: pass them to processes,
/// pool tasks, other threads, or put them inside messages and other manager objects.
///
/// Objects live as long as the server (Python counts proxies and frees an object when the
/// last goes; counting references held by messages in flight and by other processes is
/// racy there, and not done here).
///
/// ```
/// use multiproc::manager::Manager;
/// use multiproc::process::Process;
///
/// let manager = Manager::start().unwrap();
/// let d = manager.dict::<u32, u32>().unwrap();
/// let mut p = Process::new(|d: multiproc::manager::DictProxy<u32, u32>| d.insert(1, 2).unwrap(), d.clone());
/// p.start().unwrap();
/// p.join().unwrap();
/// assert_eq!(d.get(&1).unwrap(), Some(2));
/// ```
pub struct Manager {
    endpoint: Arc<Endpoint>,
    process: Option<Process<()>>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("address", self.endpoint.address())
            .field("pid", &self.process.as_ref().and_then(Process::pid))
            .finish()
    }
}

/// Options for [`Manager::builder`].
#[derive(Debug, Default)]
pub struct ManagerBuilder {
    address: Option<Address>,
    authkey: Option<Vec<u8>>,
    context: Option<Context>,
    options: ServerOptions,
    transport: Transport,
    registrations: Vec<Registration>,
    /// A registration that could not be made, reported by `start`.
    failed: Option<String>,
}

impl ManagerBuilder {
    /// Where the server listens (default: a fresh abstract Unix name).
    pub fn address(mut self, address: Address) -> Self {
        self.address = Some(address);
        self
    }

    /// The key clients must prove they hold (default: this process's
    /// [`authkey`](crate::process::authkey), which children inherit).
    pub fn authkey(mut self, key: &[u8]) -> Self {
        self.authkey = Some(key.to_vec());
        self
    }

    /// The start method of the server process (default: the current default).
    pub fn context(mut self, ctx: Context) -> Self {
        self.context = Some(ctx);
        self
    }

    /// Limits the server applies to its clients.
    pub fn server_options(mut self, options: ServerOptions) -> Self {
        self.options = options;
        self
    }

    /// Lets clients create `T`s on this manager, each made by `make` from the arguments
    /// given to [`Manager::create`] (≈ `BaseManager.register(typeid, callable)`). `make` is a
    /// `fn` (or a closure capturing nothing): it is named to the server process, which runs
    /// this same program, never sent as code. A registration that cannot be named (a
    /// function from a `dlopen`ed library) makes [`start`](ManagerBuilder::start) fail.
    pub fn register<A, T>(mut self, make: fn(A) -> T) -> Self
    where
        A: serde::de::DeserializeOwned + 'static,
        T: Served,
    {
        match Registration::new(make) {
            Ok(r) => self.registrations.push(r),
            Err(e) => {
                self.failed.get_or_insert(e.to_string());
            }
        }
        self
    }

    /// How this process talks to the server (default [`Transport::Auto`]: shared memory,
    /// since the server is on this machine). Proxies passed to other processes use `Auto`
    /// there.
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// Starts the server process and connects to it.
    pub fn start(self) -> Result<Manager, ManagerError> {
        if let Some(e) = self.failed {
            return Err(ManagerError::Start(format!("a registration failed: {e}")));
        }
        let authkey = self.authkey.unwrap_or_else(crate::process::authkey);
        let (mine, theirs) =
            Pipe(true).map_err(|e| ManagerError::Start(format!("no pipe: {e}")))?;
        let builder = match self.context {
            Some(ctx) => ctx.process(),
            None => Process::builder(),
        };
        let mut process = builder.name("SyncManager").target(
            serve_child,
            ServeArgs {
                address: self.address,
                authkey: authkey.clone(),
                max_message: self.options.max_message,
                request_timeout: self.options.request_timeout,
                max_connections: self.options.max_connections,
                allow_shutdown: self.options.allow_shutdown,
                // Its clients run this program (see `manager::pool`).
                serve_pools: true,
                registrations: self.registrations,
                ready: theirs,
            },
        );
        process
            .start()
            .map_err(|e| ManagerError::Start(e.to_string()))?;
        // At exit it is stopped, not waited for (as Python finalizes its manager); it is not
        // a daemon, so that its pools may start workers.
        process.stop_at_exit();
        let address = wait_ready(mine, &process)?;
        remember_key(&address, &authkey, self.transport);
        let endpoint = Endpoint::get(&address, &authkey, self.transport);
        endpoint.check()?;
        Ok(Manager {
            endpoint,
            process: Some(process),
        })
    }
}

/// Waits for the server process to report its address, or to die.
fn wait_ready(mut conn: Connection, process: &Process<()>) -> Result<Address, ManagerError> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if conn
            .poll_timeout(Duration::from_millis(50))
            .map_err(|e| ManagerError::Start(e.to_string()))?
        {
            return match conn.recv::<Result<Address, String>>() {
                Ok(Ok(a)) => Ok(a),
                Ok(Err(e)) => Err(ManagerError::Start(e)),
                Err(e) => Err(ManagerError::Start(format!(
                    "the manager process ended before it listened ({e})"
                ))),
            };
        }
        if !process.is_alive() {
            return Err(ManagerError::Start(format!(
                "the manager process exited before it listened (exit code {:?})",
                process.exitcode()
            )));
        }
        if Instant::now() > deadline {
            let _ = process.kill();
            return Err(ManagerError::Start(format!(
                "the manager process did not listen within {START_TIMEOUT:?}"
            )));
        }
    }
}

#[derive(Serialize, serde::Deserialize)]
struct ServeArgs {
    address: Option<Address>,
    authkey: Vec<u8>,
    max_message: u64,
    request_timeout: Duration,
    max_connections: usize,
    allow_shutdown: bool,
    serve_pools: bool,
    registrations: Vec<Registration>,
    ready: Connection,
}

/// The manager process's target.
fn serve_child(args: ServeArgs) {
    let ServeArgs {
        address,
        authkey,
        max_message,
        request_timeout,
        max_connections,
        allow_shutdown,
        serve_pools,
        registrations,
        mut ready,
    } = args;
    let options = ServerOptions {
        max_message,
        request_timeout,
        max_connections,
        allow_shutdown,
        serve_pools,
    };
    match Server::bind_with(address, &authkey, options) {
        Ok(server) => {
            for r in registrations {
                server.add_registration(r);
            }
            let _ = ready.send(&Ok::<Address, String>(server.address().clone()));
            drop(ready);
            let _ = server.serve_forever();
        }
        Err(e) => {
            let _ = ready.send(&Err::<Address, String>(e.to_string()));
        }
    }
}

impl Manager {
    /// Starts a manager server in a new process, with this process's authkey, at a fresh
    /// abstract Unix address (≈ `multiprocessing.Manager()`).
    pub fn start() -> Result<Manager, ManagerError> {
        ManagerBuilder::default().start()
    }

    /// A builder: address, authkey, start method, limits.
    pub fn builder() -> ManagerBuilder {
        ManagerBuilder::default()
    }

    /// Connects to a manager server at `address` (≈ `BaseManager(address, authkey).connect()`).
    /// A wrong key is [`ManagerError::Connection`] holding
    /// [`ConnectionError::Authentication`](crate::ConnectionError::Authentication).
    pub fn connect(address: &Address, authkey: &[u8]) -> Result<Manager, ManagerError> {
        Manager::connect_with(address, authkey, Transport::Auto)
    }

    /// As [`connect`](Manager::connect), choosing the [`Transport`].
    pub fn connect_with(
        address: &Address,
        authkey: &[u8],
        transport: Transport,
    ) -> Result<Manager, ManagerError> {
        super::channel::wants_rings(transport, address)?;
        remember_key(address, authkey, transport);
        let endpoint = Endpoint::get(address, authkey, transport);
        endpoint.check()?;
        Ok(Manager {
            endpoint,
            process: None,
        })
    }

    /// Where the server listens.
    pub fn address(&self) -> &Address {
        self.endpoint.address()
    }

    /// The server process's pid, if this `Manager` started it.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(Process::pid)
    }

    /// Stops the server (≈ `shutdown()`): every proxy's next call fails with
    /// [`ManagerError::Connection`]. For a started manager, waits for its process to exit (it
    /// is killed if it has not within 5 s). Also stops a server this `Manager` connected to.
    pub fn shutdown(&mut self) -> Result<(), ManagerError> {
        let asked = self.endpoint.request(&Request::Shutdown);
        if let Some(mut p) = self.process.take() {
            if matches!(asked, Err(ManagerError::Refused(_))) {
                // A server that refuses clients' shutdown is stopped by its owner.
                let _ = p.terminate();
                let _ = p.join_timeout(STOP_TIMEOUT);
                return Ok(());
            }
            if p.join_timeout(STOP_TIMEOUT).is_err() {
                let _ = p.kill();
                let _ = p.join_timeout(STOP_TIMEOUT);
            }
        }
        asked.map(|_| ())
    }

    fn make(&self, kind: Kind) -> Result<Proxy, ManagerError> {
        let typeid = kind.typeid();
        match self.endpoint.request(&Request::Create(kind))? {
            Reply::Created(id) => Ok(Proxy {
                id,
                typeid: typeid.into(),
                endpoint: self.endpoint.clone(),
            }),
            other => Err(ManagerError::Data(format!("unexpected reply: {other:?}"))),
        }
    }

    /// `manager.dict()`.
    pub fn dict<K, V>(&self) -> Result<DictProxy<K, V>, ManagerError> {
        self.make(Kind::Dict).map(DictProxy::wrap)
    }

    /// `manager.list()`.
    pub fn list<T>(&self) -> Result<ListProxy<T>, ManagerError> {
        self.make(Kind::List(Vec::new())).map(ListProxy::wrap)
    }

    /// `manager.list(items)`.
    pub fn list_from<T: Serialize>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Result<ListProxy<T>, ManagerError> {
        let items = items
            .into_iter()
            .map(|x| to_data(&x))
            .collect::<Result<_, _>>()?;
        self.make(Kind::List(items)).map(ListProxy::wrap)
    }

    /// `manager.Namespace()`.
    pub fn namespace(&self) -> Result<Namespace, ManagerError> {
        self.make(Kind::Namespace).map(Namespace::wrap)
    }

    /// `manager.Value(typecode, value)` (any serde type here).
    pub fn value<T: Serialize + DeserializeOwned>(
        &self,
        value: T,
    ) -> Result<ValueProxy<T>, ManagerError> {
        self.make(Kind::Value(to_data(&value)?))
            .map(ValueProxy::wrap)
    }

    /// `manager.Array(typecode, items)`: a fixed-length sequence.
    pub fn array<T: Serialize>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Result<ArrayProxy<T>, ManagerError> {
        let items = items
            .into_iter()
            .map(|x| to_data(&x))
            .collect::<Result<_, _>>()?;
        self.make(Kind::Array(items)).map(ArrayProxy::wrap)
    }

    /// `manager.Queue(maxsize)` (0: unbounded).
    pub fn queue<T>(&self, maxsize: usize) -> Result<QueueProxy<T>, ManagerError> {
        self.make(Kind::Queue {
            maxsize: maxsize as u64,
            joinable: false,
        })
        .map(QueueProxy::wrap)
    }

    /// `manager.JoinableQueue(maxsize)`.
    pub fn joinable_queue<T>(&self, maxsize: usize) -> Result<JoinableQueueProxy<T>, ManagerError> {
        self.make(Kind::Queue {
            maxsize: maxsize as u64,
            joinable: true,
        })
        .map(JoinableQueueProxy::wrap)
    }

    /// `manager.Pool(processes)`: a process pool in the server (see [`PoolProxy`]).
    pub fn pool(&self, processes: usize) -> Result<PoolProxy, ManagerError> {
        self.make(Kind::Pool {
            processes: processes as u64,
        })
        .map(PoolProxy::wrap)
    }

    /// `manager.Lock()`.
    pub fn lock(&self) -> Result<AcquirerProxy, ManagerError> {
        self.make(Kind::Lock).map(AcquirerProxy::wrap)
    }

    /// `manager.RLock()`: reentrant for the thread that holds it.
    pub fn rlock(&self) -> Result<AcquirerProxy, ManagerError> {
        self.make(Kind::RLock).map(AcquirerProxy::wrap)
    }

    /// `manager.Semaphore(value)`.
    pub fn semaphore(&self, value: usize) -> Result<AcquirerProxy, ManagerError> {
        self.make(Kind::Semaphore {
            value: value as u64,
            bounded: false,
        })
        .map(AcquirerProxy::wrap)
    }

    /// `manager.BoundedSemaphore(value)`.
    pub fn bounded_semaphore(&self, value: usize) -> Result<AcquirerProxy, ManagerError> {
        self.make(Kind::Semaphore {
            value: value as u64,
            bounded: true,
        })
        .map(AcquirerProxy::wrap)
    }

    /// `manager.Condition()`.
    pub fn condition(&self) -> Result<ConditionProxy, ManagerError> {
        self.make(Kind::Condition).map(ConditionProxy::wrap)
    }

    /// `manager.Event()`.
    pub fn event(&self) -> Result<EventProxy, ManagerError> {
        self.make(Kind::Event).map(EventProxy::wrap)
    }

    /// `manager.Barrier(parties)`.
    pub fn barrier(&self, parties: usize) -> Result<BarrierProxy, ManagerError> {
        self.barrier_with(parties, None)
    }

    /// `manager.Barrier(parties, timeout=t)`: the default timeout of each `wait`.
    pub fn barrier_with(
        &self,
        parties: usize,
        timeout: Option<Duration>,
    ) -> Result<BarrierProxy, ManagerError> {
        self.make(Kind::Barrier {
            parties: parties as u64,
            timeout: micros(timeout),
        })
        .map(BarrierProxy::wrap)
    }

    /// A new object of a registered type, made on the server from `args` (see
    /// [`register`](super::register)); [`ManagerError::Refused`] if the server has no such
    /// type.
    pub fn create<P: ServedProxy, A: Serialize>(&self, args: A) -> Result<P, ManagerError> {
        let typeid = <P::Target as Served>::TYPEID;
        let args = crate::wire::encode(&args).map_err(ManagerError::Data)?;
        let kind = Kind::Custom {
            typeid: typeid.to_owned(),
            args,
        };
        match self.endpoint.request(&Request::Create(kind))? {
            Reply::Created(id) => Ok(P::from_raw(super::register::RawProxy(Proxy {
                id,
                typeid: typeid.into(),
                endpoint: self.endpoint.clone(),
            }))),
            other => Err(ManagerError::Data(format!("unexpected reply: {other:?}"))),
        }
    }

    /// Many operations on this manager's objects in one round trip (see [`Batch`]).
    pub fn batch(&self) -> Batch {
        Batch::new(self.endpoint.clone())
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        if self.process.is_some() {
            let _ = self.shutdown();
        }
    }
}
