#![allow(missing_docs)]
use multiproc::process::{self, Fork, StartMethod};
fn triple(x: u32) -> u32 {
    x * 3
}
fn main() {
    for i in 0..200 {
        match unsafe { process::fork() }.unwrap() {
            Fork::Child => {
                let filler = std::thread::spawn(|| {
                    postcard::to_stdvec(&process::Callable::new(triple)).is_ok()
                });
                let ok = multiproc::pool::Pool::builder()
                    .processes(1)
                    .start_method(StartMethod::Fork)
                    .build()
                    .is_ok_and(|p| p.apply(triple, 5) == Ok(15));
                let ok = ok && filler.join().unwrap_or(false);
                unsafe { libc::_exit(if ok { 0 } else { 1 }) }
            }
            Fork::Parent(pid) => {
                let t = std::time::Instant::now();
                loop {
                    if std::fs::read_to_string(format!("/proc/{pid}/stat"))
                        .map(|s| s.contains(") Z"))
                        .unwrap_or(true)
                    {
                        break;
                    }
                    if t.elapsed().as_secs() > 5 {
                        eprintln!("attempt {i}: child {pid} hung");
                        std::thread::sleep(std::time::Duration::from_secs(600));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                process::waitpid(pid).unwrap();
            }
        }
    }
    eprintln!("no hang");
}
