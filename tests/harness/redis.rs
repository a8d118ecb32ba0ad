//! Real Redis for the session, cache and registry store tests: a standalone `redis-server`
//! ([`RedisServer`]) and a three-master Redis Cluster ([`RedisCluster`]), each on free
//! 127.0.0.1 ports, without persistence, in a temporary directory removed on drop.
//!
//! Why real ones: the Redis stores must be proven against the server's real behaviour
//! (MOVED redirections, connection loss, TTLs), which a fake would only imitate. The handles
//! can also take Redis away mid-test ([`RedisServer::stop`]) to check that the gateway
//! degrades as designed. [`command`] looks inside with the `redis` crate the gateway uses.
//!
//! `redis-server` and `redis-cli` come from `tests/setup.sh`.

use crate::scratch::{spawn_on, spawn_on_free_ports, SpawnError, Spawned};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// How long a server may take to answer `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a new cluster may take to report `cluster_state:ok`.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(30);

/// `used_memory` of the server at `addr` (`INFO memory`): what a test fills toward a
/// `maxmemory`.
pub fn used_memory(addr: SocketAddr) -> u64 {
    let info: String = command(addr, &["INFO", "memory"])
        .ok()
        .and_then(|v| redis::from_redis_value(v).ok())
        .unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("INFO memory names used_memory")
}

/// Sends `args` as one command to the Redis at `addr` on a fresh connection (2 s to connect,
/// 5 s to answer). A cluster node's `MOVED` is an `Err` whose `redirect_node()` is set.
pub fn command(addr: SocketAddr, args: &[&str]) -> redis::RedisResult<redis::Value> {
    let client = redis::Client::open(format!("redis://{addr}"))?;
    let mut connection = client.get_connection_with_timeout(Duration::from_secs(2))?;
    connection.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut cmd = redis::cmd(args.first().copied().unwrap_or("PING"));
    for arg in args.iter().skip(1) {
        cmd.arg(*arg);
    }
    cmd.query(&mut connection)
}

/// `command(addr, args)` as text (simple or bulk string, integer); `None` on error or nil.
fn text(addr: SocketAddr, args: &[&str]) -> Option<String> {
    command(addr, args)
        .ok()
        .and_then(|v| redis::from_redis_value::<Option<String>>(v).ok().flatten())
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The `redis-server` command line: `ports[0]` to listen on, `ports[1]` (if any) as the
/// cluster bus, files in `dir`, log on stdout.
fn server_command(ports: &[u16], dir: &Path) -> Command {
    let mut command = Command::new("redis-server");
    command
        .args(["--port", &ports[0].to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .arg("--dir")
        .arg(dir);
    if let Some(bus) = ports.get(1) {
        command
            .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"])
            .args(["--cluster-config-file", "nodes.conf"])
            // The bus port, explicitly: the default port+10000 may be taken or > 65535.
            .args(["--cluster-port", &bus.to_string()]);
    }
    command
}

/// Whether the node answers `PING`.
fn answers_ping(node: &Spawned) -> bool {
    text(loopback(node.ports[0]), &["PING"]).as_deref() == Some("PONG")
}

/// A node on free ports (a second one for the cluster bus when `cluster`).
fn start_node(cluster: bool) -> Spawned {
    let ports = if cluster { 2 } else { 1 };
    spawn_on_free_ports(
        "redis",
        ports,
        START_TIMEOUT,
        &server_command,
        &answers_ping,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// A standalone Redis on a free 127.0.0.1 port, killed (and its directory removed) on drop.
pub struct RedisServer {
    node: Spawned,
}

impl RedisServer {
    /// Starts `redis-server` (no persistence) and waits until it answers `PING`.
    ///
    /// Panics with redis-server's log if it does not come up.
    pub fn start() -> RedisServer {
        RedisServer {
            node: start_node(false),
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        loopback(self.node.ports[0])
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr())
    }

    /// Sends one command (see [`command`]).
    pub fn command(&self, args: &[&str]) -> redis::RedisResult<redis::Value> {
        command(self.addr(), args)
    }

    /// Every key and what it holds (a string's value, a set's members joined by spaces),
    /// as text: what anyone who can read this Redis (a backup, a replica) would read.
    pub fn contents(&self) -> Vec<(String, String)> {
        let text = |v: redis::RedisResult<redis::Value>| -> Vec<String> {
            v.ok()
                .and_then(|v| redis::from_redis_value::<Vec<Vec<u8>>>(v).ok())
                .unwrap_or_default()
                .iter()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect()
        };
        let keys = text(self.command(&["KEYS", "*"]));
        keys.into_iter()
            .map(|key| {
                let kind = self
                    .command(&["TYPE", &key])
                    .ok()
                    .and_then(|v| redis::from_redis_value::<String>(v).ok())
                    .unwrap_or_default();
                let held = match kind.as_str() {
                    "string" => self
                        .command(&["GET", &key])
                        .ok()
                        .and_then(|v| redis::from_redis_value::<Vec<u8>>(v).ok())
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default(),
                    "set" => text(self.command(&["SMEMBERS", &key])).join(" "),
                    _ => String::new(),
                };
                (key, held)
            })
            .collect()
    }

    /// The keys of `kinds` (`s`, `o`, `kids`...) under the default prefix `egov:`, and what
    /// each holds ([`Self::contents`]).
    pub fn records_of(&self, kinds: &[&str]) -> Vec<(String, String)> {
        self.contents()
            .into_iter()
            .filter(|(key, _)| {
                kinds.iter().any(|k| {
                    key.strip_prefix("egov:")
                        .is_some_and(|rest| rest.starts_with(&format!("{k}:")))
                })
            })
            .collect()
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        self.node.is_running()
    }

    /// Kills the server (as if Redis went down); its port then refuses connections.
    pub fn stop(&mut self) {
        self.node.kill();
    }

    /// Starts the server again on the same port, empty (nothing is persisted). Panics if the
    /// port was taken in the meantime.
    pub fn restart(&mut self) {
        self.node.kill();
        let ports = self.node.ports.clone();
        self.node = spawn_on(
            "redis",
            &ports,
            START_TIMEOUT,
            &server_command,
            &answers_ping,
        )
        .unwrap_or_else(|e| match e {
            SpawnError::PortTaken(log) | SpawnError::Failed(log) => panic!("{log}"),
        });
    }
}

/// A Redis Cluster of three masters (and, with [`RedisCluster::start_with_replicas`], one
/// replica each) on free 127.0.0.1 ports, all killed (and their directories removed) on drop.
pub struct RedisCluster {
    nodes: Vec<Spawned>,
    replicas: usize,
}

impl RedisCluster {
    /// Starts three `--cluster-enabled` servers, joins them with `redis-cli --cluster create`
    /// and waits until every node reports `cluster_state:ok`.
    pub fn start() -> RedisCluster {
        let cluster = RedisCluster {
            nodes: (0..3).map(|_| start_node(true)).collect(),
            replicas: 0,
        };
        cluster.create();
        cluster.wait_ok();
        cluster
    }

    /// Three masters and three replicas (`--cluster-replicas 1`), what production runs: when
    /// a master dies its replica takes over after the node timeout (2 s). Waits until every
    /// replica is attached and in sync.
    pub fn start_with_replicas() -> RedisCluster {
        let cluster = RedisCluster {
            nodes: (0..6).map(|_| start_node(true)).collect(),
            replicas: 1,
        };
        cluster.create();
        cluster.wait_ok();
        let deadline = Instant::now() + CLUSTER_TIMEOUT;
        loop {
            let synced = cluster
                .addrs()
                .into_iter()
                .filter(|a| {
                    text(*a, &["INFO", "replication"]).is_some_and(|i| {
                        i.contains("role:slave") && i.contains("master_link_status:up")
                    })
                })
                .count();
            if synced == 3 {
                return cluster;
            }
            if Instant::now() > deadline {
                panic!("only {synced} of 3 replicas in sync after {CLUSTER_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The index of a node that is a master now and holds slots.
    pub fn a_master(&self) -> usize {
        self.addrs()
            .iter()
            .position(|a| {
                text(*a, &["INFO", "replication"]).is_some_and(|i| i.contains("role:master"))
            })
            .expect("a master")
    }

    /// The index of the master that holds `key` (the only node that answers for it without
    /// a `MOVED` redirection), if the key exists.
    pub fn owner_of(&self, key: &str) -> Option<usize> {
        self.addrs()
            .iter()
            .position(|a| matches!(command(*a, &["EXISTS", key]), Ok(redis::Value::Int(1))))
    }

    /// Waits until the live nodes report `cluster_state:ok` again (after a failover).
    pub fn wait_recovered(&mut self, within: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let mut live = Vec::new();
            for n in self.nodes.iter_mut() {
                if n.is_running() {
                    live.push(loopback(n.ports[0]));
                }
            }
            let ok = live.iter().all(|a| {
                text(*a, &["CLUSTER", "INFO"]).is_some_and(|i| i.contains("cluster_state:ok"))
            });
            if ok && !live.is_empty() {
                return started.elapsed();
            }
            if started.elapsed() > within {
                panic!("the cluster did not recover within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn create(&self) {
        let output = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(self.addrs().iter().map(SocketAddr::to_string))
            .args([
                "--cluster-replicas",
                &self.replicas.to_string(),
                "--cluster-yes",
            ])
            .output()
            .unwrap_or_else(|e| panic!("cannot run redis-cli ({e}); run tests/setup.sh"));
        if !output.status.success() {
            panic!(
                "redis-cli --cluster create failed ({}):\n{}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }

    fn wait_ok(&self) {
        let deadline = Instant::now() + CLUSTER_TIMEOUT;
        let info = |addr| text(addr, &["CLUSTER", "INFO"]).unwrap_or_default();
        while !self
            .addrs()
            .into_iter()
            .all(|a| info(a).contains("cluster_state:ok"))
        {
            if Instant::now() > deadline {
                let first = info(self.addrs()[0]);
                panic!("the Redis cluster is not ok after {CLUSTER_TIMEOUT:?}: {first}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every node's address (the masters', and the replicas' when there are some).
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(|n| loopback(n.ports[0])).collect()
    }

    /// `redis://127.0.0.1:<port>` for each node (any one is enough to discover the rest).
    pub fn urls(&self) -> Vec<String> {
        self.addrs()
            .iter()
            .map(|a| format!("redis://{a}"))
            .collect()
    }

    /// Kills master `index` (0-2), as if one shard went down. With no replicas, the cluster
    /// then reports `cluster_state:fail` after the node timeout (2 s).
    pub fn stop_node(&mut self, index: usize) {
        if let Some(node) = self.nodes.get_mut(index) {
            node.kill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::Value;

    #[test]
    fn standalone_redis_starts_answers_stops_and_restarts() {
        let mut redis = RedisServer::start();
        assert!(redis.url().starts_with("redis://127.0.0.1:"));
        assert_eq!(redis.command(&["SET", "k", "v"]).ok(), Some(Value::Okay));
        assert_eq!(text(redis.addr(), &["GET", "k"]).as_deref(), Some("v"));
        assert_eq!(redis.command(&["GET", "missing"]).ok(), Some(Value::Nil));
        redis.stop();
        assert!(!redis.is_running());
        assert!(redis.command(&["PING"]).is_err(), "down means down");
        redis.restart();
        assert_eq!(
            redis.command(&["GET", "k"]).ok(),
            Some(Value::Nil),
            "nothing is persisted"
        );
    }

    #[test]
    fn a_three_master_cluster_starts_and_serves_every_slot() {
        let cluster = RedisCluster::start();
        assert_eq!(cluster.urls().len(), 3);
        let info = text(cluster.addrs()[0], &["CLUSTER", "INFO"]).unwrap_or_default();
        assert!(info.contains("cluster_slots_assigned:16384"), "{info}");
        assert!(info.contains("cluster_known_nodes:3"), "{info}");
        // A key lives on exactly one master; the others answer MOVED.
        let replies: Vec<_> = cluster
            .addrs()
            .iter()
            .map(|a| command(*a, &["SET", "session:abc", "1"]))
            .collect();
        let ok = replies
            .iter()
            .filter(|r| matches!(r, Ok(Value::Okay)))
            .count();
        let moved = replies
            .iter()
            .filter(|r| matches!(r, Err(e) if e.redirect_node().is_some()))
            .count();
        assert_eq!((ok, moved), (1, 2), "{replies:?}");
    }
}
