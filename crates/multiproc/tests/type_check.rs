//! postcard is not self-describing, so a value of one type decodes "fine" as another (a
//! `String`'s bytes as a `u64`). Connections tag each typed message and queues their item
//! type, and a mix-up is a `Decode` error naming both types; the connection stays usable.

mod common;

use std::time::Duration;

use common::watchdog;
use multiproc::connection::Pipe;
use multiproc::process::{Process, Queue, StartMethod};
use multiproc::{ConnectionError, ProcessError};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Point {
    x: u32,
    y: u32,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Span {
    start: u32,
    end: u32,
}

#[test]
fn a_message_of_another_type_is_a_decode_error_naming_both() {
    let (mut a, mut b) = Pipe(true).unwrap();
    a.send(&"hello".to_string()).unwrap();
    match b.recv::<u64>() {
        Err(ConnectionError::Decode { type_name, reason }) => {
            assert_eq!(type_name, "u64");
            assert!(
                reason.contains("`String`") && reason.contains("`u64`"),
                "{reason}"
            );
        }
        other => panic!("a String received as u64: {other:?}"),
    }
    a.send(&Point { x: 1, y: 2 }).unwrap();
    let e = b.recv::<Span>().unwrap_err();
    assert!(e.to_string().contains("`Point`"), "{e}");
    // The connection goes on, and the right type still decodes.
    a.send(&Point { x: 3, y: 4 }).unwrap();
    assert_eq!(b.recv::<Point>().unwrap(), Point { x: 3, y: 4 });
    // Spellings that encode alike are one type.
    a.send("borrowed").unwrap();
    assert_eq!(b.recv::<String>().unwrap(), "borrowed");
    a.send(&[1u8, 2, 3][..]).unwrap();
    assert_eq!(b.recv::<Vec<u8>>().unwrap(), [1, 2, 3]);
    // Raw bytes carry no tag: received as a typed value they are an error, not garbage.
    a.send_bytes(&[5]).unwrap();
    assert!(matches!(
        b.recv::<u64>(),
        Err(ConnectionError::Decode { .. })
    ));
}

fn count(q: Queue<u64>) -> u64 {
    q.get().unwrap()
}

#[test]
fn a_queue_opened_as_a_queue_of_another_type_is_refused() {
    watchdog(60, || {
        let q: Queue<String> = Queue::new(0).unwrap();
        q.put("hello".into()).unwrap();
        // The child's argument type says `Queue<u64>`: the same handle, another type.
        let disguised: Queue<u64> = retype(&q);
        let mut p = Process::builder()
            .start_method(StartMethod::Fork)
            .target(count, disguised);
        match p
            .start()
            .and_then(|()| p.join_timeout(Duration::from_secs(30)))
        {
            Err(ProcessError::BadArgs(why)) => {
                assert!(why.contains("`String`") && why.contains("`u64`"), "{why}");
            }
            other => panic!("a Queue<String> opened as Queue<u64>: {other:?}"),
        }
        assert_eq!(q.get().unwrap(), "hello", "the item is still there");
    });
}

/// A handle of `Queue<String>` as a `Queue<u64>`, the way a mistaken program would get one:
/// unchecked here, checked when the child opens it.
fn retype(q: &Queue<String>) -> Queue<u64> {
    // SAFETY: `Queue<T>` holds no `T`; only its type parameter differs.
    unsafe { std::mem::transmute::<Queue<String>, Queue<u64>>(q.clone()) }
}
