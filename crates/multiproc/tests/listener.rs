//! `Listener`/`Client`, after CPython's `_TestListener`/`_TestListenerClient` and the
//! authentication tests: every address family, wrong keys on both sides, and bad peers that
//! must not stop the listener.

mod common;

use std::io::Write;
use std::time::Duration;

use common::watchdog;
use multiproc::ConnectionError;
use multiproc::connection::{Address, Client, Listener};
use multiproc::process::{Process, StartMethod};

fn echo_once(listener: &Listener) {
    let mut c = listener.accept().unwrap();
    let v: String = c.recv().unwrap();
    c.send(&format!("echo {v}")).unwrap();
}

fn round_trip(address: Option<Address>, key: Option<&'static [u8]>) {
    let listener = Listener::bind(address, key).unwrap();
    let addr = listener.address().clone();
    let t = std::thread::spawn(move || {
        let mut c = Client(&addr, key).unwrap();
        c.send(&"hi").unwrap();
        c.recv::<String>().unwrap()
    });
    echo_once(&listener);
    assert_eq!(t.join().unwrap(), "echo hi");
}

#[test]
fn every_address_family_with_and_without_a_key() {
    watchdog(30, || {
        round_trip(None, Some(b"secret"));
        round_trip(None, None);
        let path = std::env::temp_dir().join(format!("mp-listener-{}", std::process::id()));
        round_trip(Some(Address::Path(path.clone())), Some(b"k"));
        assert!(
            !path.exists(),
            "the socket file is removed when the listener closes"
        );
        round_trip(
            Some(Address::Tcp("127.0.0.1:0".parse().unwrap())),
            Some(b"tcp key"),
        );
    })
}

#[test]
fn wrong_authkey_fails_on_both_sides_and_nothing_is_served() {
    watchdog(30, || {
        let listener = Listener::bind(None, Some(b"right")).unwrap();
        let addr = listener.address().clone();
        let t = std::thread::spawn(move || match Client(&addr, Some(b"wrong")) {
            Err(ConnectionError::Authentication(m)) => m,
            other => panic!("{other:?}"),
        });
        match listener.accept() {
            Err(ConnectionError::Authentication(m)) => assert_eq!(m, "digest received was wrong"),
            other => panic!("{other:?}"),
        }
        assert_eq!(t.join().unwrap(), "digest sent was rejected");
        // The listener still serves a good client.
        let addr = listener.address().clone();
        let t = std::thread::spawn(move || {
            let mut c = Client(&addr, Some(b"right")).unwrap();
            c.send(&"after").unwrap();
            c.recv::<String>().unwrap()
        });
        echo_once(&listener);
        assert_eq!(t.join().unwrap(), "echo after");
    })
}

#[test]
fn garbage_and_silent_peers_cost_one_accept_each() {
    watchdog(60, || {
        let listener = Listener::bind(
            Some(Address::Tcp("127.0.0.1:0".parse().unwrap())),
            Some(b"key"),
        )
        .unwrap();
        let Address::Tcp(sa) = listener.address().clone() else {
            unreachable!()
        };
        // Garbage: a huge length prefix, then noise.
        let g = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(sa).unwrap();
            let _ = s.write_all(&[0x7f, 0xff, 0xff, 0xff, 1, 2, 3]);
            std::thread::sleep(Duration::from_millis(100));
        });
        assert!(matches!(
            listener.accept(),
            Err(ConnectionError::Authentication(_))
        ));
        g.join().unwrap();
        // No key at all from a peer that just connects and closes.
        drop(std::net::TcpStream::connect(sa).unwrap());
        assert!(listener.accept().is_err());
        // A real client is still served.
        let addr = listener.address().clone();
        let t = std::thread::spawn(move || {
            let mut c = Client(&addr, Some(b"key")).unwrap();
            c.send(&"ok").unwrap();
            c.recv::<String>().unwrap()
        });
        echo_once(&listener);
        assert_eq!(t.join().unwrap(), "echo ok");
    })
}

#[test]
fn closed_listener_and_address_in_use() {
    let mut l = Listener::bind(None, None).unwrap();
    assert!(
        Listener::bind(Some(l.address().clone()), None).is_err(),
        "binding an address twice fails"
    );
    l.close();
    assert!(matches!(l.accept(), Err(ConnectionError::Closed)));
}

/// An unrelated process (spawned, given only the address) connects with the key.
#[test]
fn a_child_process_connects_by_address() {
    for m in [StartMethod::Spawn, StartMethod::Forkserver] {
        watchdog(60, move || {
            let listener = Listener::bind(None, Some(b"family")).unwrap();
            let Address::Abstract(name) = listener.address().clone() else {
                unreachable!()
            };
            let mut p = Process::builder().start_method(m).target(
                |name: String| {
                    let mut c = Client(&Address::Abstract(name), Some(b"family")).unwrap();
                    c.send(&std::process::id().to_string()).unwrap();
                    c.recv::<String>().unwrap()
                },
                name,
            );
            p.start().unwrap();
            echo_once(&listener);
            let got = p.join().unwrap();
            assert_eq!(got, format!("echo {}", p.pid().unwrap()));
        });
    }
}

/// Connects to a TCP listener and drips one byte of a plausible frame header every 500 ms,
/// never finishing (slowloris). Returns how long the listener took to hang up on it.
fn slow_client(addr: std::net::SocketAddr, stop_after: Duration) -> Option<Duration> {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let t0 = std::time::Instant::now();
    // A frame header announcing 200 bytes, then its body, a byte at a time.
    let bytes: Vec<u8> = 200i32
        .to_be_bytes()
        .into_iter()
        .chain([b'x'; 200])
        .collect();
    for b in bytes {
        if s.write_all(&[b]).is_err() {
            return Some(t0.elapsed());
        }
        if t0.elapsed() > stop_after {
            return None;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    None
}

#[test]
fn slow_clients_delay_nobody_and_are_cut_off_at_the_handshake_deadline() {
    watchdog(120, || {
        let key: &'static [u8] = b"k";
        let listener = std::sync::Arc::new(
            Listener::bind(
                Some(Address::Tcp("127.0.0.1:0".parse().unwrap())),
                Some(key),
            )
            .unwrap(),
        );
        let Address::Tcp(addr) = *listener.address() else {
            unreachable!()
        };
        let server = std::thread::spawn({
            let listener = listener.clone();
            move || {
                let mut served = 0;
                let mut failed = 0;
                loop {
                    match listener.accept() {
                        Ok(mut c) => match c.recv::<String>() {
                            Ok(v) if v == "stop" => return (served, failed),
                            Ok(v) => {
                                c.send(&v).unwrap();
                                served += 1;
                            }
                            Err(e) => panic!("{e}"),
                        },
                        Err(_) => failed += 1,
                    }
                }
            }
        });
        let slow: Vec<_> = (0..8)
            .map(|_| std::thread::spawn(move || slow_client(addr, Duration::from_secs(40))))
            .collect();
        // A good client, again and again for 30 s: each one served within 1 s.
        let start = std::time::Instant::now();
        let mut rounds = 0;
        while start.elapsed() < Duration::from_secs(30) {
            let t0 = std::time::Instant::now();
            let mut c = Client(&Address::Tcp(addr), Some(key)).unwrap();
            c.send(&format!("ping {rounds}")).unwrap();
            assert_eq!(c.recv::<String>().unwrap(), format!("ping {rounds}"));
            let took = t0.elapsed();
            assert!(
                took < Duration::from_secs(1),
                "round {rounds} at {:?}: a good client waited {took:?} behind slow ones",
                start.elapsed()
            );
            rounds += 1;
            std::thread::sleep(Duration::from_millis(250));
        }
        for t in slow {
            let cut = t.join().unwrap().expect("a slow client was never cut off");
            assert!(cut >= Duration::from_secs(9), "cut off early: {cut:?}");
            assert!(cut < Duration::from_secs(25), "cut off late: {cut:?}");
        }
        let mut c = Client(&Address::Tcp(addr), Some(key)).unwrap();
        c.send(&"stop").unwrap();
        let (served, failed) = server.join().unwrap();
        assert_eq!(served, rounds);
        assert_eq!(failed, 8, "each slow client is one failed handshake");
    });
}

#[test]
fn connect_and_bind_errors_name_the_address() {
    let missing = Address::Abstract(format!("multiproc-nobody-{}", std::process::id()));
    let e = Client(&missing, None).unwrap_err();
    let text = e.to_string();
    assert!(text.contains(&missing.to_string()), "{text}");
    assert!(matches!(e, ConnectionError::Address { .. }), "{e:?}");
    let path = Address::Path("/nonexistent-dir/for/sure.sock".into());
    let text = Client(&path, None).unwrap_err().to_string();
    assert!(text.contains("/nonexistent-dir/for/sure.sock"), "{text}");
    let l = Listener::bind(Some(Address::Tcp("127.0.0.1:0".parse().unwrap())), None).unwrap();
    let taken = l.address().clone();
    let text = Listener::bind(Some(taken.clone()), None)
        .unwrap_err()
        .to_string();
    assert!(
        text.contains(&taken.to_string()) && text.contains("bind"),
        "{text}"
    );
}

#[test]
fn addresses_round_trip_through_text_and_serde() {
    for a in [
        Address::Abstract("svc-1".into()),
        Address::Path("/tmp/x.sock".into()),
        Address::Tcp("127.0.0.1:6000".parse().unwrap()),
        Address::Tcp("[::1]:7".parse().unwrap()),
    ] {
        let text = a.to_string();
        assert_eq!(text.parse::<Address>().unwrap(), a, "{text}");
        let bytes = postcard::to_stdvec(&a).unwrap();
        assert_eq!(postcard::from_bytes::<Address>(&bytes).unwrap(), a);
    }
    assert_eq!(
        "\0legacy".parse::<Address>().unwrap(),
        Address::Abstract("legacy".into())
    );
    assert!(matches!(
        "localhost:80".parse::<Address>().unwrap(),
        Address::Tcp(_)
    ));
    for bad in ["", "@", "\0"] {
        assert!(bad.parse::<Address>().is_err(), "{bad:?}");
    }
    let bad = postcard::to_stdvec("").unwrap();
    assert!(postcard::from_bytes::<Address>(&bad).is_err());
}
