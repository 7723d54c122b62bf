//! A Redis master, a replica and three Sentinels watching them, all of this test's own.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::redis_server::{binary, free_port, raw_command_with_auth, RedisServer};

/// The master's name at the Sentinels.
pub const MASTER_NAME: &str = "hydra";

/// One `redis-server --sentinel` process.
#[derive(Debug)]
struct Sentinel {
    port: u16,
    _dir: tempfile::TempDir,
    child: Child,
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A master, a replica of it and three Sentinels (quorum 2) that fail over one second after the
/// master stops answering. Everything is killed when dropped.
#[derive(Debug)]
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use hydra_testkit::SentinelSet;
///
/// let mut set = SentinelSet::start();
/// // What a service is given: `redis+sentinel://…/hydra/15`.
/// let url = set.url();
/// let old = set.kill_master();
/// let took = set.wait_failover(old, Duration::from_secs(20));
/// assert_ne!(set.master_port(), Some(old));
/// # let _ = (url, took);
/// ```
pub struct SentinelSet {
    servers: Vec<RedisServer>,
    sentinels: Vec<Sentinel>,
    /// What the Sentinels ask clients (and each other) for, when anything.
    password: Option<String>,
}

impl SentinelSet {
    /// Starts the master and the replica, waits until the replica has synced, then starts the
    /// Sentinels and waits until each knows the replica and the two other Sentinels.
    ///
    /// # Panics
    /// When a server does not come up or the set does not settle within 20 s.
    ///
    /// # Examples
    ///
    /// See [`SentinelSet`].
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// [`start`](Self::start), with Sentinels that ask for `password` (`requirepass`, and
    /// `sentinel sentinel-pass` among themselves); [`url`](Self::url) carries it.
    ///
    /// # Panics
    /// As [`start`](Self::start).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use hydra_testkit::SentinelSet;
    ///
    /// let set = SentinelSet::start_guarded("watch");
    /// assert!(set.url().ends_with("/hydra/15?sentinelPassword=watch"));
    /// ```
    pub fn start_guarded(password: &str) -> Self {
        Self::start_with(Some(password.to_string()))
    }

    fn start_with(password: Option<String>) -> Self {
        let master = RedisServer::start();
        let replica = RedisServer::replica_of(&master);
        wait(Duration::from_secs(20), "the replica to sync", || {
            replica
                .raw_command(&["INFO", "replication"])
                .contains("master_link_status:up")
        });
        let sentinels = (0..3)
            .map(|_| start_sentinel(master.port(), password.as_deref()))
            .collect();
        let set = Self {
            servers: vec![master, replica],
            sentinels,
            password,
        };
        wait(
            Duration::from_secs(20),
            "the Sentinels to know each other",
            || {
                set.sentinels.iter().all(|s| {
                    let info = set.command(s.port, &["SENTINEL", "MASTER", MASTER_NAME]);
                    field(&info, "num-other-sentinels") == Some(2)
                        && field(&info, "num-slaves") == Some(1)
                })
            },
        );
        set
    }

    /// A command to the Sentinel on `port`, with the set's password.
    fn command(&self, port: u16, args: &[&str]) -> String {
        raw_command_with_auth(port, self.password.as_deref(), args)
    }

    /// `redis+sentinel://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3/hydra/15`, and
    /// `?sentinelPassword=…` when the Sentinels ask for one.
    ///
    /// # Examples
    ///
    /// See [`SentinelSet`].
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        let query = self
            .password
            .as_ref()
            .map(|p| format!("?sentinelPassword={p}"))
            .unwrap_or_default();
        format!(
            "redis+sentinel://{}/{MASTER_NAME}/15{query}",
            hosts.join(",")
        )
    }

    /// The Sentinels' ports.
    ///
    /// # Examples
    ///
    /// See [`SentinelSet`].
    pub fn sentinel_ports(&self) -> Vec<u16> {
        self.sentinels.iter().map(|s| s.port).collect()
    }

    /// The port of the master, as the first Sentinel that answers names it.
    ///
    /// # Examples
    ///
    /// See [`SentinelSet`].
    pub fn master_port(&self) -> Option<u16> {
        self.sentinels.iter().find_map(|s| {
            let reply = self.command(
                s.port,
                &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME],
            );
            let values: Vec<&str> = reply
                .split("\r\n")
                .filter(|l| !l.is_empty() && !l.starts_with(['*', '$']))
                .collect();
            values.get(1).and_then(|p| p.parse().ok())
        })
    }

    /// The server that is master now.
    ///
    /// # Panics
    /// When no Sentinel names one of the set's servers.
    ///
    /// # Examples
    ///
    /// See [`SentinelSet`].
    pub fn master(&self) -> &RedisServer {
        let port = self.master_port().expect("a Sentinel names the master");
        self.servers
            .iter()
            .find(|s| s.port() == port)
            .expect("the master is one of the set's servers")
    }

    /// Kills the master as a crash would (SIGKILL) and returns its port.
    ///
    /// # Panics
    /// When no Sentinel names the master.
    ///
    /// # Examples
    ///
    /// See [`SentinelSet`].
    pub fn kill_master(&mut self) -> u16 {
        let port = self.master_port().expect("a Sentinel names the master");
        if let Some(s) = self.servers.iter_mut().find(|s| s.port() == port) {
            s.kill();
        }
        port
    }

    /// Kills the master ([`kill_master`](Self::kill_master)) and waits, off the async runtime,
    /// until the Sentinels promote the replica ([`wait_failover`](Self::wait_failover)): the
    /// set, now shared, the old master's port, and how long the promotion took.
    ///
    /// # Panics
    /// As [`kill_master`](Self::kill_master) and [`wait_failover`](Self::wait_failover).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() {
    /// use std::time::Duration;
    /// use hydra_testkit::SentinelSet;
    ///
    /// let set = tokio::task::spawn_blocking(SentinelSet::start).await.unwrap();
    /// let (set, old, took) = set.fail_over(Duration::from_secs(30)).await;
    /// assert_ne!(set.master().port(), old);
    /// # let _ = took;
    /// # }
    /// ```
    pub async fn fail_over(mut self, within: Duration) -> (std::sync::Arc<Self>, u16, Duration) {
        let old = self.kill_master();
        let set = std::sync::Arc::new(self);
        let watching = set.clone();
        let took = tokio::task::spawn_blocking(move || watching.wait_failover(old, within))
            .await
            .expect("waiting for the failover");
        (set, old, took)
    }

    /// Kills the Sentinel the URL names first (SIGKILL); the other two still make a quorum.
    /// [`url`](Self::url) and [`sentinel_ports`](Self::sentinel_ports) leave it out from then on.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use hydra_testkit::SentinelSet;
    ///
    /// let mut set = SentinelSet::start();
    /// set.kill_first_sentinel();
    /// assert!(set.master_port().is_some()); // the others answer
    /// ```
    pub fn kill_first_sentinel(&mut self) {
        drop(self.sentinels.remove(0));
    }

    /// Waits until the Sentinels name a master other than `old` and returns how long that took.
    ///
    /// # Panics
    /// When no failover happens within `within`.
    ///
    /// # Examples
    ///
    /// See [`SentinelSet`].
    pub fn wait_failover(&self, old: u16, within: Duration) -> Duration {
        let started = Instant::now();
        wait(within, "the Sentinels to promote the replica", || {
            self.master_port().is_some_and(|p| p != old)
        });
        started.elapsed()
    }
}

/// A number field of a `SENTINEL MASTER` reply (a flat list of names and values).
fn field(reply: &str, name: &str) -> Option<u64> {
    let lines: Vec<&str> = reply
        .split("\r\n")
        .filter(|l| !l.starts_with(['*', '$']))
        .collect();
    let at = lines.iter().position(|l| *l == name)?;
    lines.get(at + 1)?.parse().ok()
}

fn wait(within: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < within, "waited {within:?} for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start_sentinel(master_port: u16, password: Option<&str>) -> Sentinel {
    let guard = password
        .map(|p| format!("requirepass {p}\nsentinel sentinel-pass {p}\n"))
        .unwrap_or_default();
    let dir = tempfile::Builder::new()
        .prefix("hydra-sentinel-")
        .tempdir()
        .expect("temp dir");
    for _ in 0..5 {
        let port = free_port();
        let conf = dir.path().join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {}\n\
                 sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2\n\
                 sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
                 sentinel failover-timeout {MASTER_NAME} 5000\n\
                 sentinel parallel-syncs {MASTER_NAME} 1\n{guard}",
                dir.path().display()
            ),
        )
        .expect("sentinel config");
        let mut child = Command::new(binary())
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server --sentinel");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                break;
            }
            if raw_command_with_auth(port, password, &["PING"]).starts_with("+PONG") {
                return Sentinel {
                    port,
                    _dir: dir,
                    child,
                };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("could not start a Sentinel");
}
