//! Seed: "threadpool 线程池" — the `threadpool` package: `pool = ThreadPool(poolsize)`,
//! `requests = makeRequests(some_callable, list_of_args, callback)`,
//! `[pool.putRequest(req) for req in requests]`, `pool.wait()`; with a three-argument
//! `hello(m, n, o)` given its arguments as a list or as keywords.
//!
//! `cargo run --example threadpool_package`

use multiproc::pool::threadpool::{ThreadPool, make_requests};
use std::cell::RefCell;
use std::rc::Rc;

/// The seed's `hello(m, n, o)`; Rust has no keyword arguments: a struct names them.
pub fn hello(args: Hello) -> String {
    format!("m = {}, n = {}, o = {}", args.m, args.n, args.o)
}

/// `{'m': ..., 'n': ..., 'o': ...}`.
#[derive(Debug, Clone)]
pub struct Hello {
    /// `m`.
    pub m: String,
    /// `n`.
    pub n: String,
    /// `o`.
    pub o: String,
}

/// Runs the seed's two requests on a pool of three; returns the lines the callback got.
pub fn run(print: bool) -> Vec<String> {
    let vars = [("1", "2", "3"), ("4", "5", "6")].map(|(m, n, o)| Hello {
        m: m.into(),
        n: n.into(),
        o: o.into(),
    });
    let lines = Rc::new(RefCell::new(Vec::new()));
    let l = lines.clone();
    let mut pool = ThreadPool::new(3).expect("ThreadPool(3)");
    let requests = make_requests(hello, vars, move |_id, line: String| {
        if print {
            println!("{line}");
        }
        l.borrow_mut().push(line);
    });
    for req in requests {
        pool.put_request(req).expect("putRequest");
    }
    pool.wait();
    let mut out = lines.borrow().clone();
    out.sort();
    out
}

#[allow(dead_code)]
fn main() {
    run(true);
}
