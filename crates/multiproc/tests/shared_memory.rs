//! Named shared memory, after CPython's `_TestSharedMemory`: create/attach/unlink, errors,
//! `ShareableList`, and the fix for gh-82300 (an attaching process never unlinks; the
//! creator's end does, even by SIGKILL).

mod common;

use std::path::Path;
use std::time::Duration;

use common::{eventually, watchdog};
use multiproc::ShmError;
use multiproc::process::{Process, StartMethod};
use multiproc::shared::{Item, ShareableList, Shared, SharedMemory, Value};
use multiproc::sync::Event;

fn exists(name: &str) -> bool {
    Path::new("/dev/shm").join(name).exists()
}

#[test]
fn create_attach_read_write_unlink() {
    let shm = SharedMemory::create(100).unwrap();
    assert!(shm.name().starts_with("psm_"));
    assert!(shm.size() >= 100);
    assert!(shm.is_creator());
    shm.write_at(10, b"multiproc").unwrap();
    let other = SharedMemory::attach(shm.name()).unwrap();
    assert!(!other.is_creator());
    let mut buf = [0u8; 9];
    other.read_at(10, &mut buf).unwrap();
    assert_eq!(&buf, b"multiproc");
    assert!(matches!(
        other.write_at(95, &[0; 10]),
        Err(ShmError::OutOfBounds { .. })
    ));
    shm.unlink().unwrap();
    assert!(!exists(shm.name()));
    assert!(
        matches!(shm.unlink(), Err(ShmError::NotFound(_))),
        "a second unlink is FileNotFoundError"
    );
    // The mapping outlives the name.
    other.read_at(10, &mut buf).unwrap();
    assert_eq!(&buf, b"multiproc");
}

#[test]
fn creation_and_attach_errors() {
    assert!(matches!(
        SharedMemory::create(0),
        Err(ShmError::InvalidSize)
    ));
    assert!(matches!(
        SharedMemory::attach("psm_does_not_exist_42"),
        Err(ShmError::NotFound(_))
    ));
    let name = format!("mp_test_{}", std::process::id());
    let a = SharedMemory::create_named(&name, 8).unwrap();
    assert!(matches!(
        SharedMemory::create_named(&name, 8),
        Err(ShmError::Exists(_))
    ));
    a.unlink().unwrap();
}

/// gh-82300: a process that only attached must not unlink the block when it exits.
#[test]
fn a_child_that_attaches_does_not_unlink() {
    for m in [
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::Forkserver,
    ] {
        watchdog(60, move || {
            let shm = SharedMemory::create(16).unwrap();
            let mut p = Process::builder().start_method(m).target(
                |s: SharedMemory| {
                    s.write_at(0, b"from child").unwrap();
                    s.is_creator()
                },
                SharedMemory::attach(shm.name()).unwrap(),
            );
            p.start().unwrap();
            assert!(!p.join().unwrap(), "the child attached, it did not create");
            assert!(
                exists(shm.name()),
                "{m}: the attaching child's exit unlinked the block"
            );
            let mut buf = [0u8; 10];
            SharedMemory::attach(shm.name())
                .unwrap()
                .read_at(0, &mut buf)
                .unwrap();
            assert_eq!(&buf, b"from child");
            shm.unlink().unwrap();
        });
    }
}

/// The creator killed by SIGKILL: its tracker unlinks the block.
#[test]
fn a_killed_creator_leaves_nothing_in_dev_shm() {
    for m in [StartMethod::Spawn, StartMethod::Forkserver] {
        watchdog(60, move || {
            let name_out = Value::new([0u8; 32]).unwrap();
            let ready = Shared::new(Event::new()).unwrap();
            let mut p = Process::builder().start_method(m).target(
                |(out, ready): (Value<[u8; 32]>, Shared<Event>)| {
                    let shm = SharedMemory::create(4096).unwrap();
                    out.with(|b| b[..shm.name().len()].copy_from_slice(shm.name().as_bytes()));
                    ready.set();
                    std::thread::sleep(Duration::from_secs(600));
                },
                (name_out.clone(), ready.clone()),
            );
            p.start().unwrap();
            assert!(ready.wait_timeout(Duration::from_secs(30)));
            let raw = name_out.get();
            let name = String::from_utf8_lossy(&raw)
                .trim_end_matches('\0')
                .to_string();
            assert!(exists(&name), "{m}: {name} was created");
            p.kill().unwrap();
            let _ = p.join();
            assert!(
                eventually(20, || !exists(&name)),
                "{m}: {name} leaked in /dev/shm"
            );
        });
    }
}

#[test]
fn shareable_list_round_trip_and_errors() {
    let items = [
        Item::Str("howdy".into()),
        Item::Bytes(b"HoWdY\0\0".to_vec()),
        Item::Float(-273.154),
        Item::Int(100),
        Item::None,
        Item::Bool(true),
        Item::Int(42),
    ];
    let list = ShareableList::new(&items).unwrap();
    assert_eq!(list.len(), 7);
    assert_eq!(
        list.to_vec().unwrap(),
        items,
        "trailing NUL bytes survive (CPython 3.11 strips them)"
    );
    assert!(matches!(list.get(7), Err(ShmError::IndexOutOfRange)));
    assert!(matches!(
        list.set(7, Item::None),
        Err(ShmError::IndexOutOfRange)
    ));
    // A type change that fits is allowed; one that does not is refused whole.
    list.set(3, Item::Str("8 bytes!".into())).unwrap();
    assert_eq!(list.get(3).unwrap(), Item::Str("8 bytes!".into()));
    match list.set(0, Item::Str("far longer than the slot".into())) {
        Err(ShmError::ExceedsStorage {
            len: 24,
            capacity: 8,
        }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(list.get(0).unwrap(), Item::Str("howdy".into()));
    assert_eq!(list.count(&Item::Int(42)), 1);
    assert_eq!(list.index(&Item::Bool(true)).unwrap(), 5);
    assert!(matches!(
        list.index(&Item::Int(7)),
        Err(ShmError::NotInList)
    ));
    list.shm().unlink().unwrap();
}

#[test]
fn shareable_list_shared_with_a_child() {
    for m in [
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::Forkserver,
    ] {
        watchdog(60, move || {
            let list = ShareableList::new(&[Item::Int(1), Item::Int(2), Item::Int(3)]).unwrap();
            let mut p = Process::builder().start_method(m).target(
                |l: ShareableList| {
                    for i in 0..l.len() {
                        if let Item::Int(v) = l.get(i).unwrap() {
                            l.set(i, Item::Int(v * 10)).unwrap();
                        }
                    }
                },
                ShareableList::attach(list.shm().name()).unwrap(),
            );
            p.start().unwrap();
            p.join().unwrap();
            assert_eq!(
                list.to_vec().unwrap(),
                [Item::Int(10), Item::Int(20), Item::Int(30)]
            );
            list.shm().unlink().unwrap();
        });
    }
}
