//! Where a [`Redis`](super::Redis) backend connects: the URL's forms, TLS files, and the
//! node of a Redis Cluster that serves a namespace.
//!
//! | URL | what it reaches |
//! |---|---|
//! | `redis://[user[:password]@]host:port[/db]` | one server |
//! | `rediss://…` | one server over TLS, checked against the system's roots |
//! | `rediss://…?ssl_ca_certs=ca.pem` | … against this CA instead (redis-py's parameter names) |
//! | `rediss://…?ssl_certfile=c.pem&ssl_keyfile=k.pem` | … and with a client certificate (mutual TLS) |
//! | `rediss://…/#insecure` | … without checking the server's certificate (tests only) |
//! | `redis+unix:///path/to.sock` | one server on a Unix socket |
//! | `redis+cluster://[user:password@]host:port[,host:port…]` | a Redis Cluster, from these seed nodes |
//! | `rediss+cluster://…` | a Redis Cluster over TLS (the same `ssl_*` parameters) |
//!
//! The URL is the whole address: a handle sent to another process or machine carries it,
//! so TLS files are named by path (present on every machine that connects) rather than
//! passed as bytes to one process.
//!
//! # A Redis Cluster
//!
//! Every key of a namespace carries the `{namespace}` hash tag, so the whole namespace is
//! one slot, served by one node at a time. So the backend asks a seed which node serves the
//! slot (`CLUSTER KEYSLOT`, `CLUSTER SLOTS`) and talks to that node as to a single server:
//! its blocking commands, scripts and pipelines need nothing more. A cluster spreads many
//! namespaces over its nodes; one namespace is as fast as one server.
//!
//! When the slot moves (resharding), the node answers `MOVED slot host:port`: the backend
//! turns to that node and sends the call again (the node refused it, so nothing ran). When
//! the node is gone (killed; the cluster then promotes one of its replicas), a new
//! connection to it fails, and the backend asks the seeds again who serves the slot: until
//! the promotion, calls fail as `Unreachable` (and waits go on waiting), then they go to the
//! promoted replica. Name several seeds, so that one of them answers while a node is down.
//! Redis replicates asynchronously: what the old master acknowledged in its last moments may
//! be missing on the replica (Redis Cluster's own limit; its `WAIT` is not used here). While the slot is being migrated, `ASK` and `TRYAGAIN`
//! answers are waited out (a few milliseconds at a time, within the call's deadline) until
//! the migration ends with a `MOVED`.
//!
//! Why not the `redis` crate's `ClusterConnection`: it retries a command after an I/O
//! error or a timeout on its own, so a push whose answer was lost would be pushed twice;
//! the backend's guarantees (a task at most once, a lock's fence) rest on a failed call
//! being reported, never silently repeated. One namespace needs only one node anyway.

use std::time::{Duration, Instant};

use redis::{Client, Value};

use crate::error::RemoteError;

type Result<T> = std::result::Result<T, RemoteError>;

/// A parsed URL (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct Address {
    /// `redis`, `rediss`, `redis+unix` or `unix`.
    scheme: String,
    /// `user[:password]@`, or empty.
    userinfo: String,
    /// `host:port` of the server, or the cluster's seeds; the path for a Unix socket.
    hosts: Vec<String>,
    /// What follows the hosts (`/db`, `#insecure`), without our `ssl_*` parameters.
    rest: String,
    pub(crate) cluster: bool,
    tls_files: TlsFiles,
}

/// The `ssl_*` parameters' paths.
#[derive(Debug, Clone, Default)]
struct TlsFiles {
    ca: Option<String>,
    cert: Option<String>,
    key: Option<String>,
}

impl TlsFiles {
    fn any(&self) -> bool {
        self.ca.is_some() || self.cert.is_some() || self.key.is_some()
    }
}

impl Address {
    pub(crate) fn parse(url: &str) -> Result<Address> {
        let invalid = |why: &str| RemoteError::Invalid(format!("{}: {why}", without_password(url)));
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| invalid("not a URL (redis://host:port)"))?;
        let (scheme, cluster) = match scheme {
            "redis" | "rediss" | "redis+unix" | "unix" => (scheme, false),
            "redis+cluster" => ("redis", true),
            "rediss+cluster" => ("rediss", true),
            other => {
                return Err(RemoteError::Invalid(format!(
                    "no backend for URL scheme `{other}` (redis://, rediss://, redis+unix://, \
                     redis+cluster://, rediss+cluster://)"
                )));
            }
        };
        // Our query parameters come out; the rest goes to the `redis` crate as it was.
        let (before_fragment, fragment) = match rest.split_once('#') {
            Some((a, f)) => (a, format!("#{f}")),
            None => (rest, String::new()),
        };
        let (base, query) = match before_fragment.split_once('?') {
            Some((b, q)) => (b, q),
            None => (before_fragment, ""),
        };
        let mut tls_files = TlsFiles::default();
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "ssl_ca_certs" => tls_files.ca = Some(v.to_string()),
                "ssl_certfile" => tls_files.cert = Some(v.to_string()),
                "ssl_keyfile" => tls_files.key = Some(v.to_string()),
                _ => kept.push(pair),
            }
        }
        if tls_files.any() && scheme != "rediss" {
            return Err(invalid("ssl_* parameters need rediss:// (TLS)"));
        }
        if tls_files.cert.is_some() != tls_files.key.is_some() {
            return Err(invalid(
                "a client certificate needs both ssl_certfile and ssl_keyfile",
            ));
        }
        let query = if kept.is_empty() {
            String::new()
        } else {
            format!("?{}", kept.join("&"))
        };
        if scheme == "redis+unix" || scheme == "unix" {
            return Ok(Address {
                scheme: scheme.into(),
                userinfo: String::new(),
                hosts: vec![base.to_string()],
                rest: format!("{query}{fragment}"),
                cluster,
                tls_files,
            });
        }
        let (authority, path) = match base.find('/') {
            Some(i) => base.split_at(i),
            None => (base, ""),
        };
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((u, h)) => (format!("{u}@"), h),
            None => (String::new(), authority),
        };
        let hosts: Vec<String> = hosts
            .split(',')
            .filter(|h| !h.is_empty())
            .map(str::to_string)
            .collect();
        if hosts.is_empty() {
            return Err(invalid("no host"));
        }
        if hosts.len() > 1 && !cluster {
            return Err(invalid(
                "several hosts are for a cluster (redis+cluster://)",
            ));
        }
        if cluster && !matches!(path, "" | "/" | "/0") {
            return Err(invalid("a Redis Cluster has database 0 only"));
        }
        Ok(Address {
            scheme: scheme.into(),
            userinfo,
            hosts,
            rest: format!("{path}{query}{fragment}"),
            cluster,
            tls_files,
        })
    }

    /// The URL of one node (`host:port`), for the `redis` crate.
    fn node_url(&self, host: &str) -> String {
        format!("{}://{}{host}{}", self.scheme, self.userinfo, self.rest)
    }

    /// A client for one node, with the TLS files read.
    pub(crate) fn client(&self, host: &str) -> Result<Client> {
        let url = self.node_url(host);
        let shown = without_password(&url);
        if !self.tls_files.any() {
            return Client::open(url).map_err(|e| RemoteError::Invalid(format!("{shown}: {e}")));
        }
        let read = |p: &str| {
            std::fs::read(p).map_err(|e| RemoteError::Invalid(format!("{shown}: {p}: {e}")))
        };
        let certs = redis::TlsCertificates {
            client_tls: match (&self.tls_files.cert, &self.tls_files.key) {
                (Some(c), Some(k)) => Some(redis::ClientTlsConfig {
                    client_cert: read(c)?,
                    client_key: read(k)?,
                }),
                _ => None,
            },
            root_cert: self.tls_files.ca.as_deref().map(read).transpose()?,
        };
        Client::build_with_tls(url.as_str(), certs)
            .map_err(|e| RemoteError::Invalid(format!("{shown}: {e}")))
    }

    /// The single server's `host:port` (the first seed of a cluster).
    pub(crate) fn first_host(&self) -> &str {
        &self.hosts[0]
    }

    /// How the address is shown: without the password.
    pub(crate) fn shown(&self) -> String {
        let scheme = if self.cluster {
            format!("{}+cluster", self.scheme)
        } else {
            self.scheme.clone()
        };
        without_password(&format!(
            "{scheme}://{}{}{}",
            self.userinfo,
            self.hosts.join(","),
            self.rest
        ))
    }

    /// The node (`host:port`) that serves `key`'s slot, asked of each seed in turn.
    pub(crate) fn slot_owner(&self, key: &str, deadline: Instant) -> Result<String> {
        let mut last = RemoteError::Unreachable(format!("{}: no seed answered", self.shown()));
        for seed in &self.hosts {
            // A seed that does not answer (a dead host) leaves time for the next.
            let left = deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
                .ok_or(RemoteError::Timeout)?
                .min(SEED_TIMEOUT);
            let asked = self.client(seed).and_then(|c| {
                let mut conn = c
                    .get_connection_with_timeout(left)
                    .map_err(|e| RemoteError::Unreachable(format!("{seed}: {e}")))?;
                let _ = conn.set_read_timeout(Some(left));
                let slot: i64 = redis::cmd("CLUSTER")
                    .arg("KEYSLOT")
                    .arg(key)
                    .query(&mut conn)
                    .map_err(|e| RemoteError::Backend(format!("{seed}: {e}")))?;
                let slots: Value = redis::cmd("CLUSTER")
                    .arg("SLOTS")
                    .query(&mut conn)
                    .map_err(|e| RemoteError::Backend(format!("{seed}: {e}")))?;
                owner_of(&slots, slot, seed).ok_or_else(|| {
                    RemoteError::Backend(format!(
                        "{seed}: no node serves slot {slot} (CLUSTERDOWN)"
                    ))
                })
            });
            match asked {
                Ok(node) => return Ok(node),
                Err(e @ RemoteError::Invalid(_)) => return Err(e),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

/// The master of `slot` in a `CLUSTER SLOTS` answer, as `host:port` (an empty host is the
/// node that answered, `seed`).
fn owner_of(slots: &Value, slot: i64, seed: &str) -> Option<String> {
    let int = |v: &Value| match v {
        Value::Int(i) => Some(*i),
        _ => None,
    };
    let text = |v: &Value| match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    };
    let Value::Array(ranges) = slots else {
        return None;
    };
    ranges.iter().find_map(|r| {
        let Value::Array(r) = r else { return None };
        let (start, end) = (int(r.first()?)?, int(r.get(1)?)?);
        if !(start..=end).contains(&slot) {
            return None;
        }
        let Value::Array(master) = r.get(2)? else {
            return None;
        };
        let host = text(master.first()?)?;
        let port = int(master.get(1)?)?;
        let host = if host.is_empty() || host == "?" {
            seed.rsplit_once(':').map_or(seed, |(h, _)| h).to_string()
        } else {
            host
        };
        Some(format!("{host}:{port}"))
    })
}

/// `url` without its password (`redis://user:secret@h:1/0` → `redis://user@h:1/0`).
pub(crate) fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split(':').next().unwrap_or("");
            if user.is_empty() {
                format!("{scheme}://{host}{path}")
            } else {
                format!("{scheme}://{user}@{host}{path}")
            }
        }
        None => url.to_string(),
    }
}

/// How long a seed may take to answer before the next is asked.
const SEED_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a call waits before it asks again while the namespace's slot is migrating.
pub(crate) const MIGRATING_PAUSE: Duration = Duration::from_millis(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_into_nodes_and_keep_what_the_redis_crate_reads() {
        let a = Address::parse("redis+cluster://u:pw@h1:7000,h2:7001").unwrap();
        assert!(a.cluster);
        assert_eq!(a.hosts, ["h1:7000", "h2:7001"]);
        assert_eq!(a.node_url("h2:7001"), "redis://u:pw@h2:7001");
        assert_eq!(a.shown(), "redis+cluster://u@h1:7000,h2:7001");

        let a = Address::parse("rediss://h:6380/2?ssl_ca_certs=/x/ca.pem&protocol=resp3#insecure")
            .unwrap();
        assert!(!a.cluster);
        assert_eq!(a.tls_files.ca.as_deref(), Some("/x/ca.pem"));
        assert_eq!(
            a.node_url("h:6380"),
            "rediss://h:6380/2?protocol=resp3#insecure"
        );

        for bad in [
            "http://h:1",
            "redis://h1:1,h2:2",
            "redis://h:1/?ssl_ca_certs=/ca.pem",
            "rediss://h:1/?ssl_certfile=/c.pem",
            "redis+cluster://h:1/3",
            "redis://",
        ] {
            assert!(
                matches!(Address::parse(bad), Err(RemoteError::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_slot_owner_is_read_from_cluster_slots() {
        let node = |h: &str, p: i64| Value::Array(vec![Value::BulkString(h.into()), Value::Int(p)]);
        let slots = Value::Array(vec![
            Value::Array(vec![
                Value::Int(0),
                Value::Int(5460),
                node("10.0.0.1", 7000),
            ]),
            Value::Array(vec![Value::Int(5461), Value::Int(16383), node("", 7001)]),
        ]);
        assert_eq!(
            owner_of(&slots, 42, "seed:1").as_deref(),
            Some("10.0.0.1:7000")
        );
        assert_eq!(
            owner_of(&slots, 9000, "seed:1").as_deref(),
            Some("seed:7001")
        );
        assert_eq!(owner_of(&Value::Array(vec![]), 1, "s:1"), None);
    }
}
