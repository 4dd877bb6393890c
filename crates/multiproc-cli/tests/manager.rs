//! `multiproc manager serve`: another program serves, this one connects with the address it
//! printed and the key from the file, uses the proxies, and shuts it down.

mod common;

use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use multiproc::connection::Address;
use multiproc::manager::Manager;

fn key_file(name: &str, mode: u32) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("multiproc-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("key");
    std::fs::write(&path, b"a shared secret\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// `multiproc manager serve` on a free TCP port with `key`.
fn serve(key: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_multiproc"));
    c.args([
        "manager",
        "serve",
        "--address",
        "127.0.0.1:0",
        "--authkey-file",
    ])
    .arg(key);
    c
}

#[test]
fn serve_then_connect_use_and_shut_down() {
    common::watchdog(60, || {
        let key = key_file("serve", 0o600);
        let mut server = serve(&key).stdout(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(server.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address: Address = line.trim().parse().unwrap();
        // The key as the file holds it, less the newline `echo` adds.
        let mut m = Manager::connect(&address, b"a shared secret").unwrap();
        let d = m.dict::<String, u32>().unwrap();
        d.insert("x".into(), 1).unwrap();
        assert_eq!(d.add("x".into(), 2).unwrap(), 3);
        let q = m.queue::<String>(0).unwrap();
        q.put("hello".into()).unwrap();
        assert_eq!(q.get().unwrap(), "hello");
        assert!(Manager::connect(&address, b"wrong").is_err());
        m.shutdown().unwrap();
        let t = Instant::now();
        loop {
            if let Some(status) = server.try_wait().unwrap() {
                assert!(status.success(), "{status}");
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "server still running"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = std::fs::remove_dir_all(key.parent().unwrap());
    });
}

#[test]
fn a_key_file_others_can_read_is_refused() {
    common::watchdog(60, || {
        let key = key_file("open", 0o644);
        let out = serve(&key).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("readable by others"), "{err}");
        let _ = std::fs::remove_dir_all(key.parent().unwrap());
    });
}
