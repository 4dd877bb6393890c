//! `multiproc::remote` on a real Redis Cluster: three `redis-server` nodes with
//! `cluster-enabled`, their slots assigned and joined by the test itself. A namespace lives
//! in the slot of its hash tag, on one node; while a producer and a blocked consumer use
//! it, the test migrates that slot to another node (`SETSLOT MIGRATING`/`IMPORTING`,
//! `MIGRATE`, `SETSLOT NODE`): the clients follow the `ASK`/`TRYAGAIN`/`MOVED` answers by
//! themselves, and every item and every increment arrives exactly once.
#![cfg(feature = "remote")]

mod common;

use std::time::{Duration, Instant};

use multiproc::remote::{self, RedisServer};
use redis::{Connection, Value};

/// A node's connection and its cluster id.
struct Node {
    server: RedisServer,
    conn: Connection,
    id: String,
}

fn cmd<T: redis::FromRedisValue>(c: &mut Connection, args: &[&str]) -> T {
    let mut k = redis::cmd(args[0]);
    for a in &args[1..] {
        k.arg(*a);
    }
    k.query(c).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// A node with `cluster-enabled`, not yet in any cluster.
fn start_node(node_timeout_ms: u32) -> Node {
    let timeout = node_timeout_ms.to_string();
    let server = RedisServer::start_with_args(
        false,
        &[
            "--cluster-enabled",
            "yes",
            "--cluster-node-timeout",
            &timeout,
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut conn = redis::Client::open(server.url())
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(10))
        .unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let id: String = cmd(&mut conn, &["CLUSTER", "MYID"]);
    Node { server, conn, id }
}

/// Three nodes sharing the 16384 slots, joined and agreeing that the cluster is up.
fn start_cluster(node_timeout_ms: u32) -> Vec<Node> {
    let mut nodes: Vec<Node> = (0..3).map(|_| start_node(node_timeout_ms)).collect();
    for (n, (a, b)) in nodes
        .iter_mut()
        .zip([(0, 5460), (5461, 10922), (10923, 16383)])
    {
        let _: () = cmd(
            &mut n.conn,
            &["CLUSTER", "ADDSLOTSRANGE", &a.to_string(), &b.to_string()],
        );
    }
    let ports: Vec<String> = nodes.iter().map(|n| n.server.port().to_string()).collect();
    for p in &ports[1..] {
        let _: () = cmd(&mut nodes[0].conn, &["CLUSTER", "MEET", "127.0.0.1", p]);
    }
    wait_until("the cluster is up on every node", || {
        nodes.iter_mut().all(|n| {
            let info: String = cmd(&mut n.conn, &["CLUSTER", "INFO"]);
            let slots: Value = cmd(&mut n.conn, &["CLUSTER", "SLOTS"]);
            info.contains("cluster_state:ok")
                && matches!(slots, Value::Array(ref r) if r.len() == 3)
        })
    });
    nodes
}

/// `redis+cluster://` with `seeds` as its seed nodes.
fn cluster_url(seeds: &[Node]) -> String {
    let hosts: Vec<String> = seeds
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.server.port()))
        .collect();
    format!("redis+cluster://{}", hosts.join(","))
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Adds a node as the replica of `nodes[master]`, once it is in sync; its index.
fn add_replica(nodes: &mut Vec<Node>, master: usize, node_timeout_ms: u32) -> usize {
    let mut r = start_node(node_timeout_ms);
    let port = r.server.port().to_string();
    let _: () = cmd(&mut nodes[0].conn, &["CLUSTER", "MEET", "127.0.0.1", &port]);
    let master_id = nodes[master].id.clone();
    wait_until("the new node knows the master", || {
        let known: String = cmd(&mut r.conn, &["CLUSTER", "NODES"]);
        known.contains(&master_id)
    });
    let _: () = cmd(&mut r.conn, &["CLUSTER", "REPLICATE", &master_id]);
    wait_until("the replica is in sync", || {
        let info: String = cmd(&mut r.conn, &["INFO", "replication"]);
        info.contains("master_link_status:up")
    });
    nodes.push(r);
    nodes.len() - 1
}

/// A field of `INFO replication`.
fn replication(n: &mut Node, field: &str) -> String {
    let info: String = cmd(&mut n.conn, &["INFO", "replication"]);
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or("")
        .trim()
        .to_string()
}

/// Which of `nodes` serves `slot`.
fn owner(nodes: &mut [Node], slot: u16) -> usize {
    owner_as_seen_by(nodes, 0, slot)
}

/// Which of `nodes` serves `slot`, as `nodes[by]` sees it.
fn owner_as_seen_by(nodes: &mut [Node], by: usize, slot: u16) -> usize {
    let slots: Value = cmd(&mut nodes[by].conn, &["CLUSTER", "SLOTS"]);
    let Value::Array(ranges) = slots else {
        panic!("CLUSTER SLOTS: {slots:?}")
    };
    for r in ranges {
        let Value::Array(r) = r else { continue };
        let (Value::Int(a), Value::Int(b), Value::Array(m)) = (&r[0], &r[1], &r[2]) else {
            continue;
        };
        if (*a..=*b).contains(&i64::from(slot)) {
            let Value::Int(port) = m[1] else { panic!() };
            return nodes
                .iter()
                .position(|n| i64::from(n.server.port()) == port)
                .unwrap();
        }
    }
    panic!("no node serves slot {slot}")
}

/// Moves `slot` and its keys from node `from` to node `to`, as `redis-cli --cluster
/// reshard` does, with a pause between key batches so that clients meet the migration.
fn migrate(nodes: &mut [Node], slot: u16, from: usize, to: usize) {
    let s = slot.to_string();
    let (from_id, to_id) = (nodes[from].id.clone(), nodes[to].id.clone());
    let to_port = nodes[to].server.port().to_string();
    let _: () = cmd(
        &mut nodes[to].conn,
        &["CLUSTER", "SETSLOT", &s, "IMPORTING", &from_id],
    );
    let _: () = cmd(
        &mut nodes[from].conn,
        &["CLUSTER", "SETSLOT", &s, "MIGRATING", &to_id],
    );
    loop {
        let keys: Vec<String> = cmd(
            &mut nodes[from].conn,
            &["CLUSTER", "GETKEYSINSLOT", &s, "2"],
        );
        if keys.is_empty() {
            break;
        }
        let mut m = redis::cmd("MIGRATE");
        m.arg("127.0.0.1")
            .arg(&to_port)
            .arg("")
            .arg(0)
            .arg(5000)
            .arg("KEYS");
        for k in &keys {
            m.arg(k);
        }
        let _: () = m.query(&mut nodes[from].conn).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    for n in nodes.iter_mut() {
        let _: () = cmd(&mut n.conn, &["CLUSTER", "SETSLOT", &s, "NODE", &to_id]);
    }
}

#[test]
fn a_namespace_lives_on_its_slots_node_and_follows_the_slot_when_it_moves() {
    common::watchdog(180, || {
        let mut nodes = start_cluster(5000);
        let url = cluster_url(&nodes[..2]);
        let r = remote::Remote::builder(&url, "clu")
            .op_timeout(Duration::from_secs(20))
            .connect()
            .unwrap();
        let slot: u16 = cmd(
            &mut nodes[0].conn,
            &["CLUSTER", "KEYSLOT", "mp:{clu}:epoch"],
        );
        let home = owner(&mut nodes, slot);
        let home_port = nodes[home].server.port();
        assert!(
            r.server().ends_with(&format!("127.0.0.1:{home_port})")),
            "{} should name the node serving slot {slot}",
            r.server()
        );
        // Every key of the namespace is on that node.
        let d = r.dict::<String, i64>("counts").unwrap();
        d.insert("n".into(), 0).unwrap();
        let keys: Vec<String> = cmd(&mut nodes[home].conn, &["KEYS", "mp:{clu}:*"]);
        assert!(keys.len() >= 2, "{keys:?}");

        // A producer and a blocked consumer, while the slot moves to another node.
        const N: u64 = 400;
        let q = r.queue::<u64>("items", 0).unwrap();
        let consumer = {
            let q = q.clone();
            std::thread::spawn(move || {
                (0..N)
                    .map(|_| q.get_timeout(Duration::from_secs(60)).unwrap())
                    .collect::<Vec<u64>>()
            })
        };
        let producer = {
            let (q, d) = (q.clone(), d.clone());
            std::thread::spawn(move || {
                for i in 0..N {
                    q.put(i).unwrap();
                    d.add("n".into(), 1).unwrap();
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        };
        std::thread::sleep(Duration::from_millis(200));
        let to = (home + 1) % 3;
        migrate(&mut nodes, slot, home, to);
        producer.join().unwrap();
        let mut got = consumer.join().unwrap();
        got.sort_unstable();
        assert_eq!(got, (0..N).collect::<Vec<_>>(), "every item exactly once");
        assert_eq!(
            d.get(&"n".into()).unwrap(),
            Some(N as i64),
            "every increment once"
        );
        assert!(
            r.server()
                .ends_with(&format!("127.0.0.1:{})", nodes[to].server.port())),
            "after the move: {}",
            r.server()
        );
        // A new client from the same seeds finds the new node too.
        let r2 = remote::connect(&url, "clu").unwrap();
        assert_eq!(
            r2.dict::<String, i64>("counts")
                .unwrap()
                .get(&"n".into())
                .unwrap(),
            Some(N as i64)
        );
        let old: Vec<String> = cmd(&mut nodes[home].conn, &["KEYS", "mp:{clu}:*"]);
        assert!(old.is_empty(), "left on the old node: {old:?}");
    });
}

#[test]
fn a_cluster_url_is_checked_and_a_dead_seed_is_skipped() {
    common::watchdog(120, || {
        let nodes = start_cluster(5000);
        // The first seed is not listening: the second answers.
        let dead = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!(
            "redis+cluster://127.0.0.1:{dead},127.0.0.1:{}",
            nodes[1].server.port()
        );
        let r = remote::connect(&url, "seeds").unwrap();
        let v = r.value::<u32>("v", 1).unwrap();
        v.set(5).unwrap();
        assert_eq!(v.get().unwrap(), 5);
        // A database number other than 0 does not exist on a cluster.
        let bad = remote::connect(
            &format!("redis+cluster://127.0.0.1:{}/2", nodes[0].server.port()),
            "seeds",
        );
        assert!(
            matches!(bad, Err(multiproc::RemoteError::Invalid(_))),
            "{bad:?}"
        );
    });
}

#[test]
fn a_killed_master_is_replaced_by_its_replica_and_clients_carry_on() {
    common::watchdog(180, || {
        const TIMEOUT_MS: u32 = 1000;
        let mut nodes = start_cluster(TIMEOUT_MS);
        let slot: u16 = cmd(&mut nodes[0].conn, &["CLUSTER", "KEYSLOT", "mp:{fo}:epoch"]);
        let home = owner(&mut nodes, slot);
        let replica = add_replica(&mut nodes, home, TIMEOUT_MS);
        // Every node is a seed, the doomed master too: the others answer for it.
        let url = cluster_url(&nodes);
        let r = remote::Remote::builder(&url, "fo")
            .op_timeout(Duration::from_secs(30))
            .connect()
            .unwrap();
        const N: u64 = 100;
        let q = r.queue::<u64>("items", 0).unwrap();
        q.put_many((0..N).collect()).unwrap();
        let d = r.dict::<String, i64>("counts").unwrap();
        d.insert("n".into(), N as i64).unwrap();
        // Redis replicates asynchronously: kill the master once the replica has it all.
        wait_until("the replica has every write", || {
            let m = replication(&mut nodes[home], "master_repl_offset");
            let s = replication(&mut nodes[replica], "slave_repl_offset");
            !m.is_empty() && m == s
        });

        nodes[home].server.kill(); // SIGKILL, and reaped
        let killed = Instant::now();
        // Calls fail as unavailable until the replica is promoted; then they go on.
        let mut got = Vec::new();
        while got.len() < N as usize {
            match q.get_timeout(Duration::from_secs(30)) {
                Ok(v) => got.push(v),
                Err(multiproc::GetError::Unavailable(_)) => {
                    assert!(killed.elapsed() < Duration::from_secs(60), "no failover");
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("{e:?}"),
            }
        }
        let recovered = killed.elapsed();
        got.sort_unstable();
        assert_eq!(got, (0..N).collect::<Vec<_>>(), "every item exactly once");
        assert_eq!(d.get(&"n".into()).unwrap(), Some(N as i64));
        let promoted = format!("127.0.0.1:{})", nodes[replica].server.port());
        assert!(
            r.server().ends_with(&promoted),
            "{} after the failover",
            r.server()
        );
        assert_eq!(owner_as_seen_by(&mut nodes, replica, slot), replica);
        q.put(N).unwrap();
        assert_eq!(q.get_timeout(Duration::from_secs(10)).unwrap(), N);
        // Within the node timeout, the election, and our retries; generous on this host.
        assert!(recovered < Duration::from_secs(30), "{recovered:?}");
        eprintln!("failover: clients carried on {recovered:?} after the SIGKILL");
    });
}

fn square(x: u64) -> u64 {
    x * x
}

/// The pool (its claim, ack and reaper scripts) and every synchronisation object (their
/// lease and fencing scripts, their notifications) on a cluster, where Redis checks that a
/// script's keys are the node's.
#[test]
fn the_pool_and_the_synchronisation_objects_work_on_a_cluster() {
    common::watchdog(120, || {
        let nodes = start_cluster(5000);
        let r = remote::connect(&cluster_url(&nodes[1..]), "sync").unwrap();
        let w = remote::Worker::new(&r).concurrency(2).prefetch(4);
        let stop = w.stopper();
        let worker = std::thread::spawn(move || w.run());
        let pool = r.pool().unwrap();
        assert_eq!(
            pool.map(square, 0..300u64).unwrap(),
            (0..300u64).map(square).collect::<Vec<_>>()
        );
        assert_eq!(pool.apply(square, 9).unwrap(), 81);

        let lock = r.lock("l").unwrap();
        lock.acquire().unwrap();
        assert!(!lock.acquire_timeout(Duration::from_millis(50)).unwrap());
        lock.release().unwrap();
        let sem = r.semaphore("s", 2).unwrap();
        assert!(sem.try_acquire().unwrap() && sem.try_acquire().unwrap());
        assert!(!sem.try_acquire().unwrap());
        sem.release().unwrap();
        let ev = r.event("e").unwrap();
        let setter = {
            let ev = ev.clone();
            std::thread::spawn(move || ev.set())
        };
        assert!(ev.wait_timeout(Duration::from_secs(20)).unwrap());
        setter.join().unwrap().unwrap();
        let barrier = r.barrier("b", 2).unwrap();
        let other = {
            let b = barrier.clone();
            std::thread::spawn(move || b.wait_timeout(Duration::from_secs(20)))
        };
        let mine = barrier.wait_timeout(Duration::from_secs(20)).unwrap();
        let theirs = other.join().unwrap().unwrap();
        assert_eq!(mine + theirs, 1, "arrival indices 0 and 1");
        let cond = r.condition("c").unwrap();
        let flag = r.value::<bool>("flag", false).unwrap();
        let notifier = {
            let (cond, flag) = (cond.clone(), flag.clone());
            std::thread::spawn(move || {
                cond.acquire().unwrap();
                flag.set(true).unwrap();
                cond.notify_all().unwrap();
                cond.release().unwrap();
            })
        };
        cond.acquire().unwrap();
        assert!(
            cond.wait_for(|| flag.get().unwrap(), Some(Duration::from_secs(20)))
                .unwrap()
        );
        cond.release().unwrap();
        notifier.join().unwrap();

        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        worker.join().unwrap().unwrap();
    });
}
