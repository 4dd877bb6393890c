//! `multiproc::remote` over TLS, against a real `redis-server` that requires TLS and a client
//! certificate (mutual TLS) on its TLS port: a CA, a server and a client certificate are
//! made for the test (rcgen), and the URL names them (`rediss://…?ssl_ca_certs=…`), so a
//! handle sent to another process connects with them too.
#![cfg(feature = "remote")]

mod common;

use std::path::Path;
use std::time::Duration;

use multiproc::RemoteError;
use multiproc::process::Process;
use multiproc::remote::{self, RedisServer};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// Writes `ca.pem`, `server.pem`/`server.key` (for 127.0.0.1 and localhost) and
/// `client.pem`/`client.key` into `dir`, the last two signed by the CA.
fn make_certificates(dir: &Path) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "multiproc test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    for (name, sans) in [
        (
            "server",
            vec!["127.0.0.1".to_string(), "localhost".to_string()],
        ),
        ("client", vec!["client".to_string()]),
    ] {
        let key = KeyPair::generate().unwrap();
        // A subject of its own: one equal to the issuer's reads as self-signed.
        let mut params = CertificateParams::new(sans).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.signed_by(&key, &issuer).unwrap();
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server with a TLS port that requires a client certificate; the TLS port.
fn start_tls(dir: &Path) -> (RedisServer, u16) {
    make_certificates(dir);
    let tls_port = free_port().to_string();
    let p = |f: &str| dir.join(f).to_str().unwrap().to_string();
    let (cert, key, ca) = (p("server.pem"), p("server.key"), p("ca.pem"));
    let s = RedisServer::start_with_args(
        false,
        &[
            "--tls-port",
            &tls_port,
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &ca,
            "--tls-auth-clients",
            "yes",
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    (s, tls_port.parse().unwrap())
}

/// `scheme://127.0.0.1:port/0?key=dir/file&…`: the TLS files by path, as a user names them.
fn url(scheme: &str, dir: &Path, port: u16, files: &[(&str, &str)]) -> String {
    let params: Vec<String> = files
        .iter()
        .map(|(k, f)| format!("{k}={}", dir.join(f).display()))
        .collect();
    format!("{scheme}://127.0.0.1:{port}/0?{}", params.join("&"))
}

/// The URL that works: the test's CA, and the client's certificate and key.
fn mutual_tls_url(dir: &Path, port: u16) -> String {
    url(
        "rediss",
        dir,
        port,
        &[
            ("ssl_ca_certs", "ca.pem"),
            ("ssl_certfile", "client.pem"),
            ("ssl_keyfile", "client.key"),
        ],
    )
}

/// In a child process: connects from the handle's URL alone and answers.
fn echo_over_tls((inq, outq): (remote::Queue<String>, remote::Queue<String>)) {
    let got = inq.get_timeout(Duration::from_secs(20)).unwrap();
    outq.put(format!("{got}, over TLS")).unwrap();
}

#[test]
fn queues_dicts_and_locks_work_over_mutual_tls_and_handles_carry_the_certificates() {
    common::watchdog(120, || {
        let dir = tempdir("tls");
        let (_s, port) = start_tls(&dir);
        let url = mutual_tls_url(&dir, port);
        let r = remote::connect(&url, "tls").unwrap();
        // What is shown names the server, and no file contents.
        assert!(
            r.server().starts_with("rediss://127.0.0.1:"),
            "{}",
            r.server()
        );

        let d = r.dict::<String, u64>("d").unwrap();
        d.insert("a".into(), 1).unwrap();
        assert_eq!(d.add("a".into(), 41).unwrap(), 42);
        let lock = r.lock("l").unwrap();
        lock.acquire().unwrap();
        assert!(!lock.acquire_timeout(Duration::from_millis(50)).unwrap());
        lock.release().unwrap();
        assert!(lock.acquire_timeout(Duration::from_secs(5)).unwrap());
        lock.release().unwrap();

        // A child process connects from the handles: the URL carries the TLS files.
        let (inq, outq) = (
            r.queue::<String>("in", 0).unwrap(),
            r.queue::<String>("out", 0).unwrap(),
        );
        let mut p = Process::new(echo_over_tls, (inq.clone(), outq.clone()));
        p.start().unwrap();
        inq.put("hello".into()).unwrap();
        assert_eq!(
            outq.get_timeout(Duration::from_secs(30)).unwrap(),
            "hello, over TLS"
        );
        p.join().unwrap();
    });
}

#[test]
fn a_server_whose_certificate_is_not_trusted_or_a_missing_client_certificate_is_a_typed_error() {
    common::watchdog(120, || {
        let dir = tempdir("tls-bad");
        let (_s, port) = start_tls(&dir);
        let connect = |url: String| {
            remote::Remote::builder(&url, "tls")
                .op_timeout(Duration::from_secs(5))
                .connect()
        };
        // The system's roots do not know the test's CA.
        let untrusted = connect(url(
            "rediss",
            &dir,
            port,
            &[
                ("ssl_certfile", "client.pem"),
                ("ssl_keyfile", "client.key"),
            ],
        ));
        assert!(
            matches!(
                untrusted,
                Err(RemoteError::Unreachable(_) | RemoteError::Backend(_))
            ),
            "{untrusted:?}"
        );
        // The server requires a client certificate.
        let anonymous = connect(url("rediss", &dir, port, &[("ssl_ca_certs", "ca.pem")]));
        assert!(
            matches!(
                anonymous,
                Err(RemoteError::Unreachable(_) | RemoteError::Backend(_) | RemoteError::Timeout)
            ),
            "{anonymous:?}"
        );
        // A file that is not there, and TLS files on a plain URL, are refused before any
        // connection.
        let missing = connect(url(
            "rediss",
            &dir,
            port,
            &[("ssl_ca_certs", "nowhere.pem")],
        ));
        assert!(
            matches!(missing, Err(RemoteError::Invalid(_))),
            "{missing:?}"
        );
        let plain = connect(url("redis", &dir, port, &[("ssl_ca_certs", "ca.pem")]));
        assert!(matches!(plain, Err(RemoteError::Invalid(_))), "{plain:?}");
        // And the right URL still works on the same server.
        let good = connect(mutual_tls_url(&dir, port)).unwrap();
        let v = good.value::<u32>("v", 0).unwrap();
        v.set(7).unwrap();
        assert_eq!(v.get().unwrap(), 7);
    });
}

/// A fresh directory for a test's certificates and keys, removed when dropped.
struct TempDir(std::path::PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir(name: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!("multiproc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    TempDir(d)
}
