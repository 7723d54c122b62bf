//! A throwaway `redis-server`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` process of this test's own. Killed (and its directory removed) on drop.
#[derive(Debug)]
/// # Examples
///
/// ```no_run
/// use hydra_testkit::RedisServer;
///
/// let redis = RedisServer::start();
/// assert!(redis.ping());
/// // What a service under test is given: `redis://127.0.0.1:{port}/15`.
/// let url = redis.url();
/// assert!(url.ends_with("/15"));
/// ```
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    extra_args: Vec<String>,
}

/// The `redis-server` binary: `$REDIS_SERVER`, else the one on `PATH`.
pub(crate) fn binary() -> PathBuf {
    std::env::var_os("REDIS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("redis-server"))
}

/// A port on 127.0.0.1 that was free a moment ago (for a server a test starts).
///
/// # Panics
/// When no port can be bound.
///
/// # Examples
///
/// ```
/// let port = hydra_testkit::free_port();
/// assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
/// ```
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers `PING`.
    ///
    /// # Panics
    /// When `redis-server` cannot be started (with the install command in the message).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let redis = hydra_testkit::RedisServer::start();
    /// let config = hydra_testkit::service_config(&redis, "my-service");
    /// # let _ = config;
    /// ```
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with extra command-line arguments (e.g. TLS settings).
    ///
    /// # Panics
    /// As [`RedisServer::start`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// // A server that needs a password.
    /// let redis = hydra_testkit::RedisServer::start_with(&["--requirepass", "s3cret"]);
    /// # let _ = redis;
    /// ```
    pub fn start_with(extra_args: &[&str]) -> Self {
        // Another test may take the port between our probe and redis binding it: try again.
        for _ in 0..5 {
            let mut server = Self {
                port: free_port(),
                dir: tempfile::Builder::new()
                    .prefix("hydra-redis-")
                    .tempdir()
                    .expect("temp dir"),
                child: None,
                extra_args: extra_args.iter().map(|s| (*s).to_string()).collect(),
            };
            if server.spawn().is_ok() {
                return server;
            }
        }
        panic!("could not start redis-server on a free port");
    }

    /// Starts a server that replicates `master` (a replica, for Sentinel tests).
    ///
    /// # Panics
    /// As [`RedisServer::start`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use hydra_testkit::RedisServer;
    ///
    /// let master = RedisServer::start();
    /// let replica = RedisServer::replica_of(&master);
    /// assert!(replica.raw_command(&["ROLE"]).contains("slave"));
    /// ```
    pub fn replica_of(master: &RedisServer) -> Self {
        let port = master.port().to_string();
        Self::start_with(&["--replicaof", "127.0.0.1", &port])
    }

    fn spawn(&mut self) -> Result<(), String> {
        let child = Command::new(binary())
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(&self.extra_args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run redis-server ({e}); install it (apt-get install redis-server) \
                     or set REDIS_SERVER"
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(format!("redis-server exited: {status}"));
                }
            }
            if self.ping() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        Err("redis-server did not answer PING".into())
    }

    /// Whether the server answers `PING` right now.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let mut redis = hydra_testkit::RedisServer::start();
    /// redis.kill();
    /// assert!(!redis.ping());
    /// ```
    pub fn ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        if s.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut buf = [0u8; 16];
        // A server that requires a password is up too.
        matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG") || buf[..n].starts_with(b"-NOAUTH"))
    }

    /// The port.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let redis = hydra_testkit::RedisServer::start();
    /// assert_eq!(redis.url(), format!("redis://127.0.0.1:{}/15", redis.port()));
    /// ```
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:{port}/15` (database 15, as Hydra's default).
    pub fn url(&self) -> String {
        self.url_db(15)
    }

    /// The URL of database `db`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let redis = hydra_testkit::RedisServer::start();
    /// assert!(redis.url_db(3).ends_with("/3"));
    /// ```
    pub fn url_db(&self, db: u32) -> String {
        format!("redis://127.0.0.1:{}/{db}", self.port)
    }

    /// Kills the server (as a crash would), keeping the port for [`RedisServer::restart`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn test() {
    /// // A service keeps serving through a Redis outage, and registers again after it.
    /// let mut redis = hydra_testkit::RedisServer::start();
    /// redis.kill();
    /// tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    /// redis.restart();
    /// # }
    /// ```
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, empty.
    ///
    /// # Panics
    /// When it does not come up.
    ///
    /// # Examples
    ///
    /// See [`RedisServer::kill`].
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.spawn() {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => panic!("redis restart failed: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// A plain redis-rs connection, to look at (or plant) data directly.
    ///
    /// # Panics
    /// When it cannot connect.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn test() {
    /// use redis::AsyncCommands;
    ///
    /// let redis = hydra_testkit::RedisServer::start();
    /// let mut conn = redis.connection().await;
    /// let _: () = conn.set("planted", "value").await.unwrap();
    /// # }
    /// ```
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("redis url")
            .get_multiplexed_async_connection()
            .await
            .expect("redis connection")
    }

    /// One figure of `INFO commandstats` for `cmd` (`calls`, `usec`, `rejected_calls`, …); 0
    /// when the command was not run since the start or the last `CONFIG RESETSTAT`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let redis = hydra_testkit::RedisServer::start();
    /// redis.raw_command(&["CONFIG", "RESETSTAT"]);
    /// // … run the code under test …
    /// assert_eq!(redis.command_stat("scan", "calls"), 0, "no keyspace walk");
    /// ```
    pub fn command_stat(&self, cmd: &str, field: &str) -> u64 {
        let info = self.raw_command(&["INFO", "commandstats"]);
        let prefix = format!("cmdstat_{cmd}:");
        info.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|stats| {
                stats
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(&format!("{field}=")))
            })
            .map_or(0, |v| v.trim().parse().unwrap_or(0))
    }

    /// Runs one command with `redis-cli`-free plain RESP and returns the raw reply (for tests that
    /// look at Redis directly without a client library).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let redis = hydra_testkit::RedisServer::start();
    /// assert!(redis.raw_command(&["PING"]).starts_with("+PONG"));
    /// ```
    pub fn raw_command(&self, args: &[&str]) -> String {
        raw_command_at(self.port, args)
    }

    /// Closes every subscriber's connection (`CLIENT KILL TYPE pubsub`), as a network blip
    /// would, and returns how many there were. Pub/sub keeps nothing for a subscriber that is
    /// away: this is how a test shows what a service does about messages it missed.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn test(hydra: hydra_core::Hydra) {
    /// let redis = hydra_testkit::RedisServer::start();
    /// // … an instance registered on `redis` …
    /// let mut restored = hydra.subscriptions_restored();
    /// assert!(redis.kill_subscribers() >= 1);
    /// restored.changed().await.unwrap();
    /// # }
    /// ```
    pub fn kill_subscribers(&self) -> u64 {
        let reply = self.raw_command(&["CLIENT", "KILL", "TYPE", "pubsub"]);
        reply
            .strip_prefix(':')
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }

    /// The ids of the connected subscribers (`CLIENT LIST TYPE pubsub`), in Redis's order. A
    /// subscriber that Redis disconnected and that connected again has a new id.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn test(hydra: hydra_core::Hydra) {
    /// let redis = hydra_testkit::RedisServer::start();
    /// // … an instance registered on `redis` …
    /// let before = redis.subscriber_ids();
    /// // … load …
    /// assert_eq!(redis.subscriber_ids(), before, "the subscription held");
    /// # }
    /// ```
    pub fn subscriber_ids(&self) -> Vec<u64> {
        self.raw_command(&["CLIENT", "LIST", "TYPE", "pubsub"])
            .split_whitespace()
            .filter_map(|field| field.strip_prefix("id="))
            .filter_map(|id| id.parse().ok())
            .collect()
    }
}

/// Runs one command on the server (or Sentinel) at 127.0.0.1:`port` in plain RESP and returns
/// the raw reply; empty when it does not answer.
///
/// # Examples
///
/// ```no_run
/// let sentinels = hydra_testkit::SentinelSet::start();
/// let port = sentinels.sentinel_ports()[0];
/// let master = hydra_testkit::raw_command_at(port, &["SENTINEL", "get-master-addr-by-name", "hydra"]);
/// assert!(master.contains("127.0.0.1"));
/// ```
pub fn raw_command_at(port: u16, args: &[&str]) -> String {
    raw_command_with_auth(port, None, args)
}

/// [`raw_command_at`] after `AUTH password` on the same connection, when a password is given.
pub(crate) fn raw_command_with_auth(port: u16, password: Option<&str>, args: &[&str]) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut exchange = |args: &[&str]| {
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        if s.write_all(req.as_bytes()).is_err() {
            return String::new();
        }
        let mut buf = vec![0u8; 65536];
        let n = s.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    if let Some(password) = password {
        let reply = exchange(&["AUTH", password]);
        if !reply.starts_with("+OK") {
            return reply;
        }
    }
    exchange(args)
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
