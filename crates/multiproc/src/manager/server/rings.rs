//! The server's side of a shared-memory channel (see [`crate::manager::channel`]): a thread
//! that takes requests from one client's ring and puts the answers on the other.

use std::collections::HashSet;
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::spin::look_awhile;
use super::{State, handle, join_client, leave_client};
use crate::connection::Connection;
use crate::error::GetError;
use crate::manager::channel::{RING_CAPACITY, Rings};
use crate::manager::protocol::{Envelope, Fault, Reply, Request};

/// How often an idle ring thread looks whether its client is still there.
const LOOK: Duration = Duration::from_secs(1);

/// The first part of a ring thread's wait for its client's next request: the ring's own
/// wait, shorter than its own spin (so it never naps); then [`look_awhile`].
const QUICK: Duration = Duration::from_micros(5);

/// Makes the rings for a client, sends them on `conn`, and serves them on a new thread.
pub(super) fn open(state: &Arc<State>, conn: &mut Connection, process: u64) -> Result<(), String> {
    let builder = crate::queue::process::Builder::new()
        .capacity(RING_CAPACITY)
        .max_message(state.options.max_message);
    let req = builder.queue::<Vec<u8>>().map_err(|e| e.to_string())?;
    let resp = builder.queue::<Vec<u8>>().map_err(|e| e.to_string())?;
    let watch = conn.try_clone().map_err(|e| e.to_string())?;
    let rings: Rings = (req.clone(), resp.clone());
    let held = join_client(state, process);
    let state2 = state.clone();
    let spawned = std::thread::Builder::new()
        .name("multiproc-manager-ring".into())
        .spawn(move || {
            serve(&state2, &watch, process, &held, req, resp);
            leave_client(&state2, process);
        });
    if let Err(e) = spawned {
        leave_client(state, process);
        return Err(e.to_string());
    }
    // The answer (`Unit`), then the rings with their fds.
    let ok = crate::wire::encode(&Ok::<Reply, Fault>(Reply::Unit)).map_err(|e| e.to_string())?;
    conn.send_bytes(&ok).map_err(|e| e.to_string())?;
    conn.send(&rings).map_err(|e| e.to_string())
}

fn serve(
    state: &State,
    watch: &Connection,
    process: u64,
    held: &Mutex<HashSet<u64>>,
    req: crate::process::Queue<Vec<u8>>,
    resp: crate::process::Queue<Vec<u8>>,
) {
    let mut out = Vec::with_capacity(256);
    let mut served = false;
    loop {
        // Right after an answer: the ring's own wait briefly (the usual quick next request),
        // then a look around (see `look_awhile`); then the ring's sleeping wait.
        let quick = if served {
            req.get_timeout(QUICK)
        } else {
            Err(GetError::Empty)
        };
        let next = match quick {
            Err(GetError::Empty) => {
                if served {
                    look_awhile(state, true, || !req.empty());
                }
                req.get_timeout(LOOK)
            }
            other => other,
        };
        served = true;
        let bytes = match next {
            Ok(b) => b,
            Err(GetError::Empty) => {
                if crate::sys::io::peer_hung_up(watch.as_fd()) {
                    return;
                }
                served = false;
                continue;
            }
            Err(_) => return,
        };
        let reply = match postcard::from_bytes::<Envelope>(&bytes) {
            Ok(Envelope { from, request }) if from.process == process => match request {
                // These belong on the socket (see `channel.rs`); a client that sends them
                // here is told so.
                Request::Shutdown | Request::OpenChannel => {
                    Err(Fault::Refused("not on a shared-memory channel".into()))
                }
                request => handle(state, request, from, watch.as_fd(), held),
            },
            Ok(_) => Err(Fault::Refused("one channel, one client process".into())),
            Err(_) => Err(Fault::Refused("bad request".into())),
        };
        out.clear();
        if crate::wire::encode_into(&reply, &mut out).is_err() {
            out.clear();
            let _ = crate::wire::encode_into(
                &Err::<Reply, _>(Fault::Refused("reply does not encode".into())),
                &mut out,
            );
        }
        if resp.put(std::mem::take(&mut out)).is_err() {
            return;
        }
    }
}
