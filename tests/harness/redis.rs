//! Real Redis for the session, cache and registry store tests: a standalone `redis-server`
//! ([`RedisServer`]) and a three-master Redis Cluster ([`RedisCluster`]), each on free
//! 127.0.0.1 ports, without persistence, in a temporary directory removed on drop.
//!
//! Why real ones: the Redis stores must be proven against the server's real behaviour
//! (MOVED redirections, connection loss, TTLs), which a fake would only imitate. The handles
//! can also take Redis away mid-test ([`RedisServer::stop`]) to check that the gateway
//! degrades as designed. A tiny RESP client ([`command`]) lets tests look inside without
//! adding a Redis crate to the harness.
//!
//! `redis-server` and `redis-cli` come from `tests/setup.sh`.

use crate::scratch::{free_port, tail, temp_dir};
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to answer `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a new cluster may take to report `cluster_state:ok`.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(30);
/// How many times a start is retried when the chosen port was taken meanwhile.
const PORT_ATTEMPTS: usize = 5;

/// A RESP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`
    Simple(String),
    /// `-ERR ...`
    Error(String),
    /// `:42`
    Integer(i64),
    /// `$n` bulk string; `None` for the null bulk string.
    Bulk(Option<Vec<u8>>),
    /// `*n` array; `None` for the null array.
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The reply as text: simple and bulk strings (lossy UTF-8), integers; `None` otherwise.
    pub fn text(&self) -> Option<String> {
        match self {
            Reply::Simple(s) => Some(s.clone()),
            Reply::Integer(i) => Some(i.to_string()),
            Reply::Bulk(Some(bytes)) => Some(String::from_utf8_lossy(bytes).into_owned()),
            _ => None,
        }
    }
}

/// Sends one command to the Redis at `addr` on a fresh connection and reads its reply.
pub fn command(addr: SocketAddr, args: &[&str]) -> io::Result<Reply> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut request = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        request.extend_from_slice(arg.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    stream.write_all(&request)?;
    read_reply(&mut BufReader::new(stream))
}

fn read_reply(reader: &mut impl BufRead) -> io::Result<Reply> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    let line = line.trim_end_matches("\r\n");
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("{what}: {line:?}"));
    let (kind, rest) = line.split_at_checked(1).ok_or_else(|| bad("empty reply"))?;
    let length = || rest.parse::<i64>().map_err(|_| bad("bad length"));
    match kind {
        "+" => Ok(Reply::Simple(rest.to_string())),
        "-" => Ok(Reply::Error(rest.to_string())),
        ":" => Ok(Reply::Integer(length()?)),
        "$" => match usize::try_from(length()?) {
            Err(_) => Ok(Reply::Bulk(None)),
            Ok(n) => {
                let mut bytes = vec![0; n + 2];
                reader.read_exact(&mut bytes)?;
                bytes.truncate(n);
                Ok(Reply::Bulk(Some(bytes)))
            }
        },
        "*" => match usize::try_from(length()?) {
            Err(_) => Ok(Reply::Array(None)),
            Ok(n) => (0..n)
                .map(|_| read_reply(reader))
                .collect::<io::Result<Vec<_>>>()
                .map(|items| Reply::Array(Some(items))),
        },
        _ => Err(bad("unknown reply type")),
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// One `redis-server` process.
struct Node {
    port: u16,
    child: Option<Child>,
    log: PathBuf,
}

impl Node {
    /// Starts `redis-server` on `port` with `extra` options and waits for `PING`.
    fn spawn(port: u16, dir: &Path, extra: &[String]) -> Result<Node, String> {
        let log = dir.join(format!("redis-{port}.log"));
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            &dir.display().to_string(),
            "--logfile",
            &log.display().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend_from_slice(extra);
        let child = Command::new("redis-server")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run redis-server ({e}); run tests/setup.sh"))?;
        let mut node = Node {
            port,
            child: Some(child),
            log,
        };
        node.wait_ready()?;
        Ok(node)
    }

    fn addr(&self) -> SocketAddr {
        loopback(self.port)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Reply::Simple(pong)) = command(self.addr(), &["PING"]) {
                if pong == "PONG" {
                    return Ok(());
                }
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                self.child = None;
                return Err(format!(
                    "redis-server on port {} exited ({status}):\n{}",
                    self.port,
                    tail(&self.log, 20)
                ));
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(format!(
                    "redis-server on port {} did not answer PING within {START_TIMEOUT:?}:\n{}",
                    self.port,
                    tail(&self.log, 20)
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts a node on a free port, retrying with another port if it was taken meanwhile.
fn spawn_on_free_port(dir: &Path, extra: impl Fn(u16) -> Vec<String>) -> Node {
    let mut last = String::new();
    for _ in 0..PORT_ATTEMPTS {
        let port = free_port();
        match Node::spawn(port, dir, &extra(port)) {
            Ok(node) => return node,
            Err(error) if error.contains("Address already in use") => last = error,
            Err(error) => panic!("{error}"),
        }
    }
    panic!("redis-server found no free port: {last}");
}

/// A standalone Redis on a free 127.0.0.1 port, killed (and its directory removed) on drop.
pub struct RedisServer {
    node: Node,
    dir: PathBuf,
}

impl RedisServer {
    /// Starts `redis-server` (no persistence) and waits until it answers `PING`.
    ///
    /// Panics with redis-server's log if it does not come up.
    pub fn start() -> RedisServer {
        let dir = temp_dir("redis");
        let node = spawn_on_free_port(&dir, |_| Vec::new());
        RedisServer { node, dir }
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        self.node.addr()
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr())
    }

    /// Sends one command (see [`command`]).
    pub fn command(&self, args: &[&str]) -> io::Result<Reply> {
        command(self.addr(), args)
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        self.node
            .child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Kills the server (as if Redis went down); its port then refuses connections.
    pub fn stop(&mut self) {
        self.node.kill();
    }

    /// Starts the server again on the same port, empty (nothing is persisted). Panics if the
    /// port was taken in the meantime.
    pub fn restart(&mut self) {
        self.node.kill();
        let port = self.node.port;
        self.node = Node::spawn(port, &self.dir, &[]).unwrap_or_else(|e| panic!("{e}"));
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.node.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Cluster of three masters (no replicas) on free 127.0.0.1 ports, all killed (and
/// the directory removed) on drop.
pub struct RedisCluster {
    nodes: Vec<Node>,
    dir: PathBuf,
}

impl RedisCluster {
    /// Starts three `--cluster-enabled` servers, joins them with `redis-cli --cluster create`
    /// and waits until every node reports `cluster_state:ok`.
    pub fn start() -> RedisCluster {
        let dir = temp_dir("redis-cluster");
        let mut nodes = Vec::new();
        for _ in 0..3 {
            nodes.push(spawn_on_free_port(&dir, |port| {
                let bus = loop {
                    let p = free_port();
                    if p != port {
                        break p;
                    }
                };
                [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    &format!("nodes-{port}.conf"),
                    "--cluster-node-timeout",
                    "2000",
                    // The bus port, explicitly: the default port+10000 may be taken or > 65535.
                    "--cluster-port",
                    &bus.to_string(),
                ]
                .iter()
                .map(|s| s.to_string())
                .collect()
            }));
        }
        let cluster = RedisCluster { nodes, dir };
        cluster.create();
        cluster.wait_ok();
        cluster
    }

    fn create(&self) {
        let mut args = vec!["--cluster".to_string(), "create".to_string()];
        args.extend(self.nodes.iter().map(|n| n.addr().to_string()));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"].map(String::from));
        let output = Command::new("redis-cli")
            .args(&args)
            .stdin(Stdio::null())
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
        loop {
            let ok = self.nodes.iter().all(|n| {
                command(n.addr(), &["CLUSTER", "INFO"])
                    .ok()
                    .and_then(|r| r.text())
                    .is_some_and(|info| info.contains("cluster_state:ok"))
            });
            if ok {
                return;
            }
            if Instant::now() > deadline {
                let info = command(self.nodes[0].addr(), &["CLUSTER", "INFO"]);
                panic!("the Redis cluster is not ok after {CLUSTER_TIMEOUT:?}: {info:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The three masters' addresses.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(Node::addr).collect()
    }

    /// `redis://127.0.0.1:<port>` for each master (any one is enough to discover the rest).
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

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standalone_redis_starts_answers_stops_and_restarts() {
        let started = Instant::now();
        let mut redis = RedisServer::start();
        eprintln!("redis-server ready in {:?}", started.elapsed());
        assert!(redis.url().starts_with("redis://127.0.0.1:"));
        assert_eq!(
            redis.command(&["SET", "k", "v"]).expect("SET"),
            Reply::Simple("OK".into())
        );
        assert_eq!(
            redis.command(&["GET", "k"]).expect("GET").text().as_deref(),
            Some("v")
        );
        assert_eq!(
            redis.command(&["GET", "missing"]).expect("GET"),
            Reply::Bulk(None)
        );
        redis.stop();
        assert!(!redis.is_running());
        assert!(redis.command(&["PING"]).is_err(), "down means down");
        redis.restart();
        assert_eq!(
            redis.command(&["GET", "k"]).expect("GET"),
            Reply::Bulk(None),
            "nothing is persisted"
        );
    }

    #[test]
    fn a_three_master_cluster_starts_and_serves_every_slot() {
        let started = Instant::now();
        let cluster = RedisCluster::start();
        eprintln!("redis cluster ok in {:?}", started.elapsed());
        assert_eq!(cluster.urls().len(), 3);
        let info = command(cluster.addrs()[0], &["CLUSTER", "INFO"])
            .expect("CLUSTER INFO")
            .text()
            .expect("text");
        assert!(info.contains("cluster_slots_assigned:16384"), "{info}");
        assert!(info.contains("cluster_known_nodes:3"), "{info}");
        // A key lives on exactly one master; the others answer MOVED.
        let replies: Vec<Reply> = cluster
            .addrs()
            .iter()
            .map(|a| command(*a, &["SET", "session:abc", "1"]).expect("SET"))
            .collect();
        let ok = replies
            .iter()
            .filter(|r| **r == Reply::Simple("OK".into()))
            .count();
        let moved = replies
            .iter()
            .filter(|r| matches!(r, Reply::Error(e) if e.starts_with("MOVED")))
            .count();
        assert_eq!((ok, moved), (1, 2), "{replies:?}");
    }
}
