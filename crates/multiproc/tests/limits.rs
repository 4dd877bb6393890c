//! Resource limits and lying input give typed errors, never a panic, an abort or a SIGBUS: a
//! frame header announcing gigabytes costs what was actually sent, ranges that overflow are
//! `BadRange`, a block larger than `/dev/shm` is refused at creation, an array too large for
//! memory is an error. (CPython: `send_bytes(b, 1, sys.maxsize)` is a `ValueError`;
//! `SharedMemory(create=True, size=2**40)` succeeds and the process dies of SIGBUS on touch.)

mod common;

use std::os::fd::AsFd;
use std::time::Duration;

use common::watchdog;
use multiproc::connection::Pipe;
use multiproc::error::{ConnectionError, ShmError};
use multiproc::process::{Process, StartMethod};
use multiproc::shared::{Array, SharedMemory};

#[test]
fn send_bytes_range_that_overflows_is_bad_range_and_the_connection_goes_on() {
    let (mut a, mut b) = Pipe(true).unwrap();
    let buf = [1u8, 2, 3, 4];
    assert!(matches!(
        a.send_bytes_range(&buf, 1, Some(usize::MAX)),
        Err(ConnectionError::BadRange(_))
    ));
    assert!(matches!(
        a.send_bytes_range(&buf, usize::MAX, None),
        Err(ConnectionError::BadRange(_))
    ));
    assert!(matches!(
        a.send_bytes_range(&buf, 2, Some(3)),
        Err(ConnectionError::BadRange(_))
    ));
    a.send_bytes_range(&buf, 1, Some(2)).unwrap();
    assert_eq!(b.recv_bytes().unwrap(), [2, 3]);
}

/// Lowers this process's address-space limit to what it uses now plus `extra` bytes.
fn limit_address_space(extra: u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap();
    let lim = libc::rlimit {
        rlim_cur: kib * 1024 + extra,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit with a valid struct.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) }, 0);
}

/// In a child with 256 MiB of address space to spare: a peer announces a message just under
/// the 2 GiB default limit, sends ten bytes and hangs up.
fn receive_a_lying_header(_: ()) -> String {
    let (a, mut b) = Pipe(true).unwrap();
    limit_address_space(256 << 20);
    let mut frame = 0x7fff_fff0i32.to_be_bytes().to_vec();
    frame.extend_from_slice(&[9u8; 10]);
    rustix::io::write(a.as_fd(), &frame).unwrap();
    drop(a);
    match b.recv_bytes() {
        Err(ConnectionError::Eof) => "eof".into(),
        other => format!("{other:?}"),
    }
}

#[test]
fn a_header_announcing_gigabytes_costs_only_what_was_sent() {
    watchdog(60, || {
        let mut p = Process::builder()
            .start_method(StartMethod::Fork)
            .target(receive_a_lying_header, ());
        p.start().unwrap();
        // Before the fix the child aborted allocating 2 GiB up front.
        assert_eq!(p.join_timeout(Duration::from_secs(30)).unwrap(), "eof");
    });
}

#[test]
fn a_block_larger_than_dev_shm_is_refused_at_creation() {
    let name = format!("mp_limits_huge_{}", std::process::id());
    match SharedMemory::create_named(&name, 1 << 40) {
        Err(ShmError::NoSpace { size }) => assert_eq!(size, 1 << 40),
        other => panic!("1 TiB in /dev/shm: {other:?}"),
    }
    assert!(
        !std::path::Path::new("/dev/shm").join(&name).exists(),
        "the refused block's name was left behind"
    );
    assert!(matches!(
        SharedMemory::create(1 << 40),
        Err(ShmError::NoSpace { .. })
    ));
    // An ordinary one still works.
    let m = SharedMemory::create_named(&name, 4096).unwrap();
    m.write_at(4095, &[1]).unwrap();
    m.unlink().unwrap();
}

#[test]
fn an_array_too_large_for_memory_is_an_error_not_a_panic() {
    let e = Array::<u64>::zeroed(usize::MAX / 4).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}");
    let e = Array::<u8>::zeroed(1 << 50).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::OutOfMemory, "{e}");
    // Large but possible: no private copy is built, the segment starts zeroed.
    let a = Array::<u64>::zeroed(1 << 20).unwrap();
    assert_eq!(a.len(), 1 << 20);
    assert_eq!(a.get(12345), Some(0));
}

#[test]
fn a_shareable_list_with_a_lying_header_is_not_a_list() {
    use multiproc::shared::ShareableList;
    // A block that claims 4 billion items (which would size a 32 GiB table), and one whose
    // first slot offset is near `usize::MAX` (which would overflow).
    let m = SharedMemory::create(4096).unwrap();
    m.write_at(0, b"MPSL").unwrap();
    m.write_at(4, &u32::MAX.to_le_bytes()).unwrap();
    assert!(matches!(
        ShareableList::attach(m.name()),
        Err(ShmError::NotAList)
    ));
    m.write_at(4, &1u32.to_le_bytes()).unwrap();
    m.write_at(16, &(u64::MAX - 4).to_le_bytes()).unwrap();
    assert!(matches!(
        ShareableList::attach(m.name()),
        Err(ShmError::NotAList)
    ));
    m.unlink().unwrap();
}
