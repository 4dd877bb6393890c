//! Fuzz target bodies for multiproc's untrusted inputs: bytes arriving on a `Connection`
//! (framing, fds, decoding), bytes sent to a `Listener` before the authkey handshake, and
//! bytes in a process queue's messages. Each body must never panic, hang or grow memory
//! without bound, and must leave the object usable for well-formed traffic afterwards.
//!
//! `cargo fuzz run connection_frames` (from this directory) runs one under libFuzzer.

use std::io::Write;
use std::os::fd::AsFd;
use std::os::linux::net::SocketAddrExt;
use std::time::Duration;

use multiproc::connection::{Address, Client, Listener, Pipe};
use multiproc::process::Queue;
use multiproc::{ConnectionError, GetError};

/// A value with a bit of structure, for decode attempts.
type Shape = (u8, String, Vec<u32>, Option<(i64, bool)>);

fn write_all_raw(fd: std::os::fd::BorrowedFd<'_>, mut data: &[u8]) {
    while !data.is_empty() {
        match rustix_write(fd, data) {
            Some(n) if n > 0 => data = &data[n..],
            _ => return,
        }
    }
}

fn rustix_write(fd: std::os::fd::BorrowedFd<'_>, data: &[u8]) -> Option<usize> {
    use std::os::fd::AsRawFd;
    // SAFETY: writes from a valid slice to an fd we own for the duration of the call.
    let n = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
    (n >= 0).then_some(n as usize)
}

/// Arbitrary bytes as the stream of a `Connection`: every `recv` either yields a message or
/// a typed error; at end of input, `Eof`.
pub fn connection_frames(data: &[u8]) {
    let (mut reader, writer) = Pipe(true).expect("pipe");
    reader.set_max_message(1 << 20);
    // Larger inputs would block the socket buffer before we read; the fuzzer's are small.
    let data = &data[..data.len().min(64 << 10)];
    write_all_raw(writer.as_fd(), data);
    drop(writer);
    for round in 0.. {
        let r = if round % 2 == 0 {
            reader.recv::<Shape>().map(|_| ())
        } else {
            reader.recv_bytes().map(|_| ())
        };
        match r {
            Ok(()) | Err(ConnectionError::Decode { .. }) => {}
            Err(_) => break,
        }
        assert!(round < 1 << 16, "more messages than bytes");
    }
}

/// Arbitrary bytes sent to a `Listener` instead of the handshake: the accept fails (or the
/// peer is dropped), and a genuine `Client` is served afterwards.
pub fn listener_handshake(data: &[u8]) {
    let key = b"fuzz key".to_vec();
    let listener =
        Listener::bind(Some(Address::Abstract(unique_name())), Some(&key)).expect("bind");
    let address = listener.address().clone();
    let garbage = data.to_vec();
    let raw_peer = std::thread::spawn({
        let address = address.clone();
        move || {
            let Address::Abstract(name) = address else {
                unreachable!()
            };
            let addr =
                std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).expect("name");
            let mut s = std::os::unix::net::UnixStream::connect_addr(&addr).expect("connect");
            s.set_write_timeout(Some(Duration::from_secs(5))).ok();
            let _ = s.write_all(&garbage);
            // Closing ends the listener's handshake read at once.
        }
    });
    let first = listener.accept();
    raw_peer.join().expect("raw peer");
    if let Ok(mut c) = first {
        // Only possible if the garbage was a valid handshake answer: it cannot be.
        let _ = c.recv_bytes();
        panic!("garbage passed the authkey handshake");
    }
    let good = std::thread::spawn(move || {
        let mut c = Client(&address, Some(&key)).expect("genuine client");
        c.send_bytes(b"hello").expect("send");
    });
    let mut served = listener.accept().expect("the listener keeps serving");
    assert_eq!(served.recv_bytes().expect("recv"), b"hello");
    good.join().expect("client");
}

/// Two definitions of one item type, as two programs could disagree: the queue's type check
/// compares names, so the fuzzer's bytes reach the other definition's decoder.
mod raw {
    /// Encoded as a length prefix, then the fuzzer's bytes.
    #[derive(serde::Serialize, serde::Deserialize)]
    pub struct Item(pub Vec<u8>);
}

mod typed {
    #[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
    pub struct Item(pub super::Shape);
}

/// Arbitrary bytes as a process queue message, read back as a structured type: the result
/// is a value or `Decode`, and the queue stays usable.
pub fn queue_message(data: &[u8]) {
    let bytes: Queue<raw::Item> = Queue::new(0).expect("queue");
    let (mut a, mut b) = Pipe(true).expect("pipe");
    a.send(&bytes).expect("send handle");
    let typed: Queue<typed::Item> = b.recv().expect("recv handle");
    let data = data[..data.len().min(128 << 10)].to_vec();
    bytes.put(raw::Item(data)).expect("put");
    match typed.get_nowait() {
        Ok(_) | Err(GetError::Decode { .. }) => {}
        Err(e) => panic!("unexpected {e}"),
    }
    assert!(typed.empty());
    let v = typed::Item((1, "ok".into(), vec![1, 2], None));
    typed.put(v.clone()).expect("put");
    assert_eq!(typed.get_nowait().expect("get"), v);
}

fn unique_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "multiproc-fuzz-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// One manager server for the whole fuzzing run, on a thread of this process.
fn manager_server() -> &'static (Address, Vec<u8>) {
    static SERVER: std::sync::OnceLock<(Address, Vec<u8>)> = std::sync::OnceLock::new();
    SERVER.get_or_init(|| {
        let key = b"fuzz manager key".to_vec();
        // A client's `shutdown` is a valid request (the fuzzer finds it): refused here, so
        // the server outlives every input.
        let options = multiproc::manager::ServerOptions {
            allow_shutdown: false,
            ..Default::default()
        };
        let server = multiproc::manager::Server::bind_with(
            Some(Address::Abstract(unique_name())),
            &key,
            options,
        )
        .expect("bind");
        let address = server.address().clone();
        std::thread::spawn(move || server.serve_forever());
        (address, key)
    })
}

/// Arbitrary bytes from an authenticated client of a manager: as the raw stream (first byte
/// even) or as the body of one well-framed request (odd). The server answers or closes that
/// connection, never panics or hangs, and a genuine client is served afterwards.
pub fn manager_protocol(data: &[u8]) {
    let (address, key) = manager_server();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let rest = &rest[..rest.len().min(64 << 10)];
    let mut c = Client(address, Some(key)).expect("handshake");
    if mode % 2 == 0 {
        write_all_raw(c.as_fd(), rest);
    } else {
        c.send_bytes(rest).expect("send");
        // An answer (typed refusal or a reply) or the connection closed: either is fine.
        let _ = c.recv_bytes();
    }
    drop(c);
    let m = multiproc::manager::Manager::connect_with(
        address,
        key,
        multiproc::manager::Transport::Socket,
    )
    .expect("a genuine client connects");
    let d = m.dict::<u8, u8>().expect("the server still serves");
    d.insert(1, mode).expect("insert");
    assert_eq!(d.get(&1).expect("get"), Some(mode));
}
