//! `multiproc manager serve`: a manager server for other programs, on this machine or others
//! (≈ `BaseManager(address=..., authkey=...).get_server().serve_forever()`).
//!
//! ```text
//! head -c 32 /dev/urandom > key && chmod 600 key
//! multiproc manager serve --address 0.0.0.0:50000 --authkey-file key
//! # elsewhere: Manager::connect(&"host:50000".parse()?, &std::fs::read("key")?)
//! ```
//!
//! The key is read from a file (never from the command line, where `ps` shows it to every
//! user); a file that others may read is refused. The server stops when a client calls
//! `shutdown` (`Manager::connect(..)?.shutdown()`), or when killed (a path socket's file is
//! then left behind: remove it before serving there again).

use std::path::Path;

use multiproc::connection::Address;
use multiproc::manager::{Server, ServerOptions};

/// Why serving could not start.
#[derive(Debug)]
pub enum ServeError {
    /// The key file: unreadable, empty, or readable by others.
    Key(String),
    /// Binding or serving.
    Server(multiproc::ManagerError),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::Key(e) => write!(f, "authkey file: {e}"),
            ServeError::Server(e) => write!(f, "{e}"),
        }
    }
}

/// Reads an authkey file: it must exist, hold at least one byte, and be private to its owner.
pub fn read_key(path: &Path) -> Result<Vec<u8>, ServeError> {
    use std::os::unix::fs::PermissionsExt;
    let meta =
        std::fs::metadata(path).map_err(|e| ServeError::Key(format!("{}: {e}", path.display())))?;
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(ServeError::Key(format!(
            "{} is readable by others (mode {:o}): chmod 600 it",
            path.display(),
            mode & 0o777
        )));
    }
    let key =
        std::fs::read(path).map_err(|e| ServeError::Key(format!("{}: {e}", path.display())))?;
    // A trailing newline from `echo secret > key` is not part of the key.
    let key = key.strip_suffix(b"\n").map(<[u8]>::to_vec).unwrap_or(key);
    if key.is_empty() {
        return Err(ServeError::Key(format!("{} is empty", path.display())));
    }
    Ok(key)
}

/// Binds and serves until a client asks the server to stop. Prints the address it listens
/// on (a TCP port 0 resolved) on stdout first, for scripts.
pub fn serve(address: Address, key_file: &Path, allow_shutdown: bool) -> Result<(), ServeError> {
    let key = read_key(key_file)?;
    let options = ServerOptions {
        allow_shutdown,
        ..Default::default()
    };
    let server = Server::bind_with(Some(address), &key, options).map_err(ServeError::Server)?;
    println!("{}", server.address());
    server.serve_forever().map_err(ServeError::Server)
}
