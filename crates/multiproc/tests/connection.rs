//! `Pipe`/`Connection`, after CPython's `_TestConnection`: framing, boundaries, errors, EOF,
//! and the seed's lesson that `recv` sees EOF only once every copy of the other end is closed.

mod common;

use std::os::fd::AsFd;
use std::time::Duration;

use common::{each_method, watchdog};
use multiproc::ConnectionError;
use multiproc::connection::{Connection, Pipe, wait};
use multiproc::process::{Process, StartMethod};

#[test]
fn values_and_bytes_keep_their_boundaries() {
    let (mut a, mut b) = Pipe(true).unwrap();
    for i in 0..100u32 {
        a.send(&i).unwrap();
    }
    a.send_bytes(b"").unwrap();
    a.send(&"tail").unwrap();
    for i in 0..100u32 {
        assert_eq!(b.recv::<u32>().unwrap(), i, "messages are never merged");
    }
    assert!(b.poll(), "a zero-length message makes poll() true");
    assert_eq!(b.recv_bytes().unwrap(), b"");
    assert_eq!(b.recv::<String>().unwrap(), "tail");
    assert!(!b.poll());
    // duplex: the other way too
    b.send(&(1u8, 2u16)).unwrap();
    assert_eq!(a.recv::<(u8, u16)>().unwrap(), (1, 2));
}

#[test]
fn send_bytes_range_checks_as_python() {
    let (mut a, mut b) = Pipe(true).unwrap();
    let msg = b"abcdefghijklmnopqrstuvwxyz";
    assert!(matches!(
        a.send_bytes_range(msg, 27, None),
        Err(ConnectionError::BadRange(_))
    ));
    assert!(matches!(
        a.send_bytes_range(msg, 22, Some(5)),
        Err(ConnectionError::BadRange(_))
    ));
    assert!(matches!(
        a.send_bytes_range(msg, 26, Some(1)),
        Err(ConnectionError::BadRange(_))
    ));
    a.send_bytes_range(msg, 26, None).unwrap();
    a.send_bytes_range(msg, 4, Some(3)).unwrap();
    assert_eq!(b.recv_bytes().unwrap(), b"");
    assert_eq!(b.recv_bytes().unwrap(), b"efg");
}

#[test]
fn recv_bytes_into_too_short_buffer_returns_the_message() {
    let (mut a, mut b) = Pipe(true).unwrap();
    a.send_bytes(b"0123456789").unwrap();
    let mut small = [0u8; 4];
    match b.recv_bytes_into(&mut small) {
        Err(ConnectionError::BufferTooShort(m)) => assert_eq!(m, b"0123456789"),
        other => panic!("{other:?}"),
    }
    a.send_bytes(b"ok").unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(b.recv_bytes_into(&mut buf).unwrap(), 2);
    assert_eq!(&buf[..2], b"ok");
}

#[test]
fn eof_closed_and_direction_errors() {
    let (mut a, mut b) = Pipe(true).unwrap();
    a.send(&5u8).unwrap();
    drop(a);
    assert_eq!(b.recv::<u8>().unwrap(), 5, "buffered data comes before EOF");
    assert!(b.poll(), "poll is true at EOF");
    assert!(matches!(b.recv::<u8>(), Err(ConnectionError::Eof)));
    b.close();
    b.close();
    assert!(b.closed());
    assert!(matches!(b.send(&1u8), Err(ConnectionError::Closed)));
    assert_eq!(ConnectionError::Closed.to_string(), "handle is closed");

    let (mut r, mut w) = Pipe(false).unwrap();
    assert!(r.readable() && !r.writable() && w.writable() && !w.readable());
    assert!(matches!(r.send(&1u8), Err(ConnectionError::ReadOnly)));
    assert!(matches!(w.recv::<u8>(), Err(ConnectionError::WriteOnly)));
    assert!(matches!(
        w.poll_timeout(Duration::ZERO),
        Err(ConnectionError::WriteOnly)
    ));
    w.send(&9u8).unwrap();
    assert_eq!(r.recv::<u8>().unwrap(), 9);
}

#[test]
fn undecodable_message_is_typed_and_the_connection_survives() {
    let (mut a, mut b) = Pipe(true).unwrap();
    a.send_bytes(&[0x02, 0xff, 0xfe]).unwrap(); // a 2-byte "string" that is not UTF-8
    a.send(&"next").unwrap();
    match b.recv::<String>() {
        Err(ConnectionError::Decode { type_name, .. }) => assert!(type_name.contains("String")),
        other => panic!("{other:?}"),
    }
    assert_eq!(b.recv::<String>().unwrap(), "next");
}

#[test]
fn message_over_the_maximum_is_refused_and_ends_the_connection() {
    let (mut a, mut b) = Pipe(true).unwrap();
    b.set_max_message(10);
    a.send_bytes(&[0u8; 11]).unwrap();
    assert!(matches!(
        b.recv_bytes(),
        Err(ConnectionError::BadMessageLength { len: 11, max: 10 })
    ));
    assert!(matches!(b.recv_bytes(), Err(ConnectionError::Closed)));
}

#[test]
fn large_messages_between_threads() {
    watchdog(60, || {
        let (mut a, mut b) = Pipe(true).unwrap();
        let t = std::thread::spawn(move || {
            let big: Vec<u8> = (0..64 << 20).map(|i: u32| i as u8).collect();
            a.send_bytes(&big).unwrap();
            big.iter().map(|&x| x as u64).sum::<u64>()
        });
        let got = b.recv_bytes().unwrap();
        assert_eq!(got.len(), 64 << 20);
        assert_eq!(
            got.iter().map(|&x| x as u64).sum::<u64>(),
            t.join().unwrap()
        );
    })
}

#[test]
fn a_connection_travels_inside_a_message() {
    watchdog(30, || {
        let (mut a, mut b) = Pipe(true).unwrap();
        let (mut x, y) = Pipe(true).unwrap();
        a.send(&y).unwrap();
        drop(y);
        let mut y2: Connection = b.recv().unwrap();
        x.send(&"through the passed end").unwrap();
        assert_eq!(y2.recv::<String>().unwrap(), "through the passed end");
    })
}

#[test]
fn wait_reports_ready_connections() {
    watchdog(30, || {
        let (mut a, b) = Pipe(true).unwrap();
        let (_c, d) = Pipe(true).unwrap();
        assert!(
            wait(&[b.as_fd(), d.as_fd()], Some(Duration::from_millis(20)))
                .unwrap()
                .is_empty()
        );
        a.send(&1u8).unwrap();
        assert_eq!(
            wait(&[b.as_fd(), d.as_fd()], Some(Duration::from_secs(5))).unwrap(),
            [0]
        );
    })
}

/// The seed's Pipe example: a child sends a list, the parent receives it.
#[test]
fn pipe_between_parent_and_child() {
    each_method(|m| {
        let (mut parent_conn, child_conn) = Pipe(true).unwrap();
        let mut p = Process::builder().start_method(m).target(
            |mut conn: Connection| {
                conn.send(&("Hello", Option::<u8>::None, "World")).unwrap();
                conn.close();
            },
            child_conn,
        );
        p.start().unwrap();
        let got: (String, Option<u8>, String) = parent_conn.recv().unwrap();
        assert_eq!(got, ("Hello".into(), None, "World".into()));
        p.join().unwrap();
    });
}

/// The seed's lesson: "close the ends you do not use, or recv never sees EOF". While the
/// parent still holds its copy of the child's end, the child's exit is no EOF.
#[test]
fn recv_sees_eof_only_when_every_copy_of_the_other_end_is_closed() {
    for m in [
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::Forkserver,
    ] {
        watchdog(60, move || {
            let (mut parent_conn, child_conn) = Pipe(true).unwrap();
            let mut p = Process::builder().start_method(m).target(
                |mut conn: Connection| {
                    conn.send(&1u8).unwrap();
                    conn.close();
                },
                // The child gets its own copy; `child_conn` stays open here.
                child_conn.try_clone().unwrap(),
            );
            p.start().unwrap();
            p.join().unwrap();
            assert_eq!(parent_conn.recv::<u8>().unwrap(), 1);
            assert!(
                !parent_conn
                    .poll_timeout(Duration::from_millis(200))
                    .unwrap(),
                "{m}: EOF although this process still holds the other end"
            );
            drop(child_conn); // close the end we do not use
            assert!(matches!(
                parent_conn.recv::<u8>(),
                Err(ConnectionError::Eof)
            ));
        });
    }
}
