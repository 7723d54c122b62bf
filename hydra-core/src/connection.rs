//! The Redis connection: connect with retries at start, reconnect by itself later. With a
//! `redis+sentinel://` URL the master is the one the Sentinels name: asked at start, then twice a
//! second, and when they name another (a failover), the connection moves to it and everything
//! that watches [`Redis::moved`] (the subscriber, the registration) follows.

use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

pub use hydra_protocol::config::redact;
use hydra_protocol::config::{host_port, SentinelTarget};
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection, PubSub};
use redis::Client;
use tokio::sync::watch;

use crate::error::HydraError;

/// How long one connection attempt may take.
const CONNECT_ATTEMPT: Duration = Duration::from_secs(2);
/// The longest pause between two connection attempts at start.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);
/// How long one command may wait for its answer before it fails (Redis gone, not just slow).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);

/// How often the Sentinels are asked which server is the master.
const SENTINEL_POLL: Duration = Duration::from_millis(500);

/// A Redis client and its shared, self-reconnecting command connection.
///
/// Commands and publishes share one multiplexed connection; each subscriber opens its own.
/// Cheap to clone; every clone follows the master when it moves.
///
/// Made by [`Redis::connect`] (see its example); a [`Hydra`](crate::Hydra) hands out its command
/// connection with [`Hydra::redis`](crate::Hydra::redis).
#[derive(Clone)]
pub struct Redis {
    current: Arc<RwLock<Current>>,
    display: Arc<str>,
    moved: watch::Receiver<u64>,
    /// Without Sentinels nothing moves: the sender is kept so [`Redis::moved`] never fires.
    _still: Option<Arc<watch::Sender<u64>>>,
}

/// The server commands go to now.
struct Current {
    client: Client,
    conn: ConnectionManager,
    /// `host:port` of the master, when found through Sentinels.
    master: Option<String>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis").field("url", &self.display).finish()
    }
}

fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_ATTEMPT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_secs(1))
        .set_number_of_retries(2)
}

/// Asks the Sentinels which server is the master: the one that answered last, over the
/// connection it answered on; when that fails, each in order, and the first that answers decides.
struct SentinelAsker {
    target: SentinelTarget,
    /// The connection to the Sentinel that answered last.
    kept: Option<MultiplexedConnection>,
}

impl SentinelAsker {
    fn new(target: SentinelTarget) -> Self {
        Self { target, kept: None }
    }

    async fn ask(&mut self) -> Result<(String, u16), String> {
        let master = self.target.master.as_str();
        if let Some(conn) = self.kept.as_mut() {
            if let Ok(Ok(found)) =
                tokio::time::timeout(CONNECT_ATTEMPT, master_of(conn, master)).await
            {
                return Ok(found);
            }
            self.kept = None;
        }
        let mut last = String::from("no Sentinel given");
        for (host, port) in &self.target.sentinels {
            let asked = async {
                let client = Client::open(self.target.sentinel_url(host, *port))
                    .map_err(|e| e.to_string())?;
                let mut conn = client
                    .get_multiplexed_async_connection()
                    .await
                    .map_err(|e| e.to_string())?;
                let found = master_of(&mut conn, master).await?;
                Ok::<_, String>((found, conn))
            };
            match tokio::time::timeout(CONNECT_ATTEMPT, asked).await {
                Ok(Ok((found, conn))) => {
                    self.kept = Some(conn);
                    return Ok(found);
                }
                Ok(Err(e)) => last = format!("Sentinel {}: {e}", host_port(host, *port)),
                Err(_) => last = format!("Sentinel {}: no answer", host_port(host, *port)),
            }
        }
        Err(last)
    }
}

/// The address a Sentinel gives for `master`.
async fn master_of(
    conn: &mut MultiplexedConnection,
    master: &str,
) -> Result<(String, u16), String> {
    let addr: Option<(String, String)> = redis::cmd("SENTINEL")
        .arg("get-master-addr-by-name")
        .arg(master)
        .query_async(conn)
        .await
        .map_err(|e| e.to_string())?;
    let (h, p) = addr.ok_or_else(|| format!("no master named {master}"))?;
    let p = p.parse::<u16>().map_err(|_| format!("bad port {p}"))?;
    Ok((h, p))
}

/// A client and its connection for `url`, the master the Sentinels name when through them.
async fn open(
    url: &str,
    shown: &str,
    sentinels: Option<&mut SentinelAsker>,
) -> Result<Current, String> {
    match sentinels {
        Some(asker) => {
            let (h, p) = asker.ask().await?;
            let master_url = asker.target.master_url(&h, p);
            connect_to(&master_url, shown, Some(host_port(&h, p))).await
        }
        None => connect_to(url, shown, None).await,
    }
}

/// A client and its connection for `url`; `master` is its `host:port` when through Sentinels.
async fn connect_to(url: &str, shown: &str, master: Option<String>) -> Result<Current, String> {
    let client = Client::open(url).map_err(|e| format!("{shown}: {e}"))?;
    match tokio::time::timeout(
        CONNECT_ATTEMPT * 2,
        ConnectionManager::new_with_config(client.clone(), manager_config()),
    )
    .await
    {
        Ok(Ok(conn)) => Ok(Current {
            client,
            conn,
            master,
        }),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("connection attempt timed out".to_string()),
    }
}

/// Follows the master the Sentinels name, as long as a handle to `current` is left.
async fn follow_master(
    current: Weak<RwLock<Current>>,
    mut sentinels: SentinelAsker,
    shown: String,
    moved: watch::Sender<u64>,
) {
    loop {
        tokio::time::sleep(SENTINEL_POLL).await;
        let Some(now) = current.upgrade() else { return };
        let Ok((h, p)) = sentinels.ask().await else {
            continue;
        };
        let addr = host_port(&h, p);
        let known = now.read().expect("redis lock").master.clone();
        if known.as_deref() == Some(addr.as_str()) {
            continue;
        }
        match connect_to(
            &sentinels.target.master_url(&h, p),
            &shown,
            Some(addr.clone()),
        )
        .await
        {
            Ok(next) => {
                tracing::warn!(url = %shown, from = ?known, to = ?next.master, "Redis master moved");
                *now.write().expect("redis lock") = next;
                moved.send_modify(|n| *n += 1);
            }
            Err(e) => {
                tracing::warn!(url = %shown, master = %addr, error = %e, "new Redis master not reachable yet")
            }
        }
    }
}

fn install_tls_provider() {
    // rustls needs one process-wide crypto provider; a second install is a harmless no-op error.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Redis {
    /// Connects to `url`, retrying with backoff (up to 5 s between attempts) for up to `budget`,
    /// or until it answers when `budget` is `None`. Each failed attempt is logged with its error
    /// and how long we have waited, so an instance started before its Redis says what it waits for.
    ///
    /// # Errors
    /// [`HydraError::RedisUrl`] for a URL that does not parse, [`HydraError::RedisUnreachable`]
    /// when no connection could be made within `budget`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), hydra_core::HydraError> {
    /// use std::time::Duration;
    /// use redis::AsyncCommands;
    /// use hydra_core::connection::Redis;
    /// let redis = Redis::connect("redis://:s3cret@127.0.0.1:6379/15", Some(Duration::from_secs(5))).await?;
    /// println!("connected to {}", redis.display_url()); // the password masked
    /// let _: () = redis.conn().set("greeting", "hello").await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str, budget: Option<Duration>) -> Result<Self, HydraError> {
        install_tls_provider();
        let shown = redact(url);
        let mut sentinels = match SentinelTarget::parse(url) {
            Some(Ok(t)) => Some(SentinelAsker::new(t)),
            Some(Err(reason)) => return Err(HydraError::RedisUrl { url: shown, reason }),
            None => {
                Client::open(url).map_err(|e| HydraError::RedisUrl {
                    url: shown.clone(),
                    reason: e.to_string(),
                })?;
                None
            }
        };
        let started = Instant::now();
        let mut delay = Duration::from_millis(100);
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let error = match open(url, &shown, sentinels.as_mut()).await {
                Ok(current) => {
                    if attempts > 1 {
                        tracing::info!(url = %shown, waited = ?started.elapsed(), "Redis reachable");
                    }
                    if let Some(master) = &current.master {
                        tracing::info!(url = %shown, %master, "Redis master found through Sentinel");
                    }
                    let current = Arc::new(RwLock::new(current));
                    let (tx, moved) = watch::channel(0);
                    let still = match sentinels {
                        Some(sentinels) => {
                            tokio::spawn(follow_master(
                                Arc::downgrade(&current),
                                sentinels,
                                shown.clone(),
                                tx,
                            ));
                            None
                        }
                        None => Some(Arc::new(tx)),
                    };
                    return Ok(Self {
                        current,
                        display: shown.into(),
                        moved,
                        _still: still,
                    });
                }
                Err(e) => e,
            };
            if budget.is_some_and(|b| started.elapsed() + delay > b) {
                return Err(HydraError::RedisUnreachable {
                    url: shown,
                    waited: started.elapsed(),
                    reason: error,
                });
            }
            let waited = started.elapsed().as_secs();
            match budget {
                None => tracing::warn!(
                    url = %shown, %error, attempt = attempts, waited_s = waited,
                    "waiting for Redis (no limit; set hydra.redis.connectTimeoutSeconds to give up)"
                ),
                Some(b) => tracing::warn!(
                    url = %shown, %error, attempt = attempts, waited_s = waited,
                    limit_s = b.as_secs(), "waiting for Redis"
                ),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(MAX_RETRY_DELAY);
        }
    }

    /// The shared command connection (cheap to clone) to the server commands go to now: take
    /// it for each use rather than keep it, so commands follow the master when it moves.
    ///
    /// # Panics
    /// When a thread panicked while switching to a new master, leaving the connection's lock poisoned.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(redis: hydra_core::connection::Redis) -> Result<(), hydra_core::HydraError> {
    /// use redis::AsyncCommands;
    /// let size: u64 = redis.conn().hlen("hydra:service:nodes").await?;
    /// # Ok(()) }
    /// ```
    pub fn conn(&self) -> ConnectionManager {
        self.current.read().expect("redis lock").conn.clone()
    }

    /// `host:port` of the master, when found through Sentinels.
    ///
    /// # Panics
    /// As [`conn`](Self::conn), on a poisoned lock.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(redis: hydra_core::connection::Redis) {
    /// let master = redis.master().unwrap_or_else(|| redis.display_url().to_string());
    /// # }
    /// ```
    pub fn master(&self) -> Option<String> {
        self.current.read().expect("redis lock").master.clone()
    }

    /// Changes each time the master moves (a Sentinel failover); never without Sentinels.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(redis: hydra_core::connection::Redis) {
    /// let mut moved = redis.moved();
    /// while moved.changed().await.is_ok() {
    ///     println!("Redis master is now {:?}", redis.master());
    /// }
    /// # }
    /// ```
    pub fn moved(&self) -> watch::Receiver<u64> {
        self.moved.clone()
    }

    /// A new connection for subscribing.
    ///
    /// # Errors
    /// [`HydraError::Redis`] when the server refuses or drops the connection,
    /// [`HydraError::Timeout`] when it is not made within 2 s.
    ///
    /// # Panics
    /// As [`conn`](Self::conn), on a poisoned lock.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(redis: hydra_core::connection::Redis) -> Result<(), hydra_core::HydraError> {
    /// use futures_util::StreamExt;
    /// let mut pubsub = redis.pubsub().await?;
    /// pubsub.subscribe(hydra_core::keys::broadcast_channel("hello-service")).await?;
    /// let mut stream = pubsub.into_on_message();
    /// while let Some(msg) = stream.next().await {
    ///     println!("{}", msg.get_channel_name());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn pubsub(&self) -> Result<PubSub, HydraError> {
        let client = self.current.read().expect("redis lock").client.clone();
        match tokio::time::timeout(CONNECT_ATTEMPT, client.get_async_pubsub()).await {
            Ok(r) => r.map_err(HydraError::from),
            Err(_) => Err(HydraError::Timeout),
        }
    }

    /// The URL, password masked.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(redis: hydra_core::connection::Redis) {
    /// assert!(!redis.display_url().contains("s3cret"));
    /// # }
    /// ```
    pub fn display_url(&self) -> &str {
        &self.display
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Mutex;

    use super::*;

    /// What the log printed, kept for a test to read.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log buffer").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
        }
    }

    #[tokio::test]
    async fn passwords_reach_neither_the_waiting_log_nor_the_errors() {
        let log = Captured::default();
        let writer = log.clone();
        let _log = tracing::subscriber::set_default(
            tracing_subscriber::fmt()
                .with_writer(move || writer.clone())
                .with_ansi(false)
                .finish(),
        );
        // Nothing listens there.
        let closed = hydra_testkit::free_port();
        let socket = std::env::temp_dir().join(format!("hydra-none-{closed}.sock"));
        let budget = Some(Duration::from_millis(400));
        for (url, waits) in [
            (
                format!(
                    "redis+sentinel://127.0.0.1:{closed}/m?sentinelPassword=a&sentinelPassword=PW"
                ),
                true,
            ),
            (
                format!("redis+unix://{}?db=1&pass=PW", socket.display()),
                true,
            ),
            (
                format!("redis+sentinel://127.0.0.1:{closed}/m?sentinelpassword=PW"),
                false,
            ),
            (format!("redis://:a?PW@127.0.0.1:{closed}/0"), false),
            (
                format!("redis+sentinel://:a?PW@127.0.0.1:{closed}/m"),
                false,
            ),
            (
                format!("redis+sentinel://:a/PW@127.0.0.1:{closed}/m"),
                false,
            ),
        ] {
            let before = log.text().len();
            let e = Redis::connect(&url, budget).await.unwrap_err().to_string();
            let logged = &log.text()[before..];
            assert!(!e.contains("PW"), "{url}: {e}");
            assert!(!logged.contains("PW"), "{url}: {logged}");
            assert_eq!(
                logged.contains("waiting for Redis"),
                waits,
                "{url}: {logged}"
            );
        }
    }
}
