//! `Callable`: a function that crosses processes by its place in this executable, checked on
//! arrival against its type; a `fn` pointer passed through a generic helper starts with every
//! start method.

mod common;

use std::time::Duration;

use common::watchdog;
use multiproc::process::{Callable, Process, StartMethod};

fn double(x: u64) -> u64 {
    x * 2
}

fn shout(s: String) -> String {
    s.to_uppercase()
}

fn run_with<A, R>(m: StartMethod, f: fn(A) -> R, a: A) -> R
where
    A: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    R: serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    let mut p = Process::builder().start_method(m).call(Callable::new(f), a);
    p.start().unwrap();
    p.join_timeout(Duration::from_secs(30)).unwrap()
}

#[test]
fn fn_pointers_through_generic_helpers_run_with_every_start_method() {
    watchdog(60, || {
        for m in [
            StartMethod::Fork,
            StartMethod::Spawn,
            StartMethod::Forkserver,
        ] {
            assert_eq!(run_with(m, double, 21), 42, "{m}");
            assert_eq!(run_with(m, shout, "hi".to_string()), "HI", "{m}");
            assert_eq!(run_with(m, |v: Vec<u8>| v.len(), vec![1, 2, 3]), 3, "{m}");
        }
    });
}

#[test]
fn a_callable_received_as_another_type_is_refused() {
    let bytes = postcard::to_stdvec(&Callable::new(double)).unwrap();
    let back: Callable<u64, u64> = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(back.call(5), 10);
    assert!(postcard::from_bytes::<Callable<String, String>>(&bytes).is_err());
    // An offset outside this executable is refused too.
    let mut forged = bytes.clone();
    forged[0] = 0xff; // a varint offset far from any function
    forged.insert(1, 0xff);
    assert!(postcard::from_bytes::<Callable<u64, u64>>(&forged).is_err());
}
