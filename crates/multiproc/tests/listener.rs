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
