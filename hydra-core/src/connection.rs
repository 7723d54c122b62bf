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

    /// A new connection for subscribing. Its socket is read as fast as Redis writes, whatever
    /// the messages cost to handle: a burst waits in this process (up to 128 MiB), not in Redis's
    /// output buffer for the subscriber, where more than 32 MiB (`client-output-buffer-limit
    /// pubsub`) makes Redis close the connection and the messages in it are lost.
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
        match tokio::time::timeout(CONNECT_ATTEMPT, pump::pubsub(&client)).await {
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

/// The subscriber's socket, read by a task of its own into a local queue.
///
/// redis-rs parses pub/sub messages on the task that reads the socket. A publisher outruns that
/// (a pipelined burst in Redis reaches several hundred thousand messages a second): the rest
/// waits in Redis's output buffer for the client, and at 32 MiB Redis closes the connection.
/// Copying bytes keeps up with Redis writing them; the parser then works through the queue.
mod pump {
    use std::io;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, OnceLock};
    use std::task::{ready, Context, Poll};

    use bytes::{Bytes, BytesMut};
    use redis::aio::PubSub;
    use redis::{Client, ConnectionAddr, RedisResult};
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf, WriteHalf};
    use tokio::sync::{mpsc, Notify};

    /// Unread bytes a subscriber holds before it stops reading (and Redis, past its own limit,
    /// closes the connection: the subscriber then reconnects and says so).
    const BACKLOG_LIMIT: usize = 128 << 20;
    /// What one read of the socket takes at most.
    const READ_CHUNK: usize = 64 << 10;

    /// A subscriber connection to `client`'s server, its socket read by a pump.
    ///
    /// TLS with client certificates or without verification is left to redis-rs as it is (no
    /// pump): hydra's URLs make neither.
    pub(super) async fn pubsub(client: &Client) -> RedisResult<PubSub> {
        let info = client.get_connection_info();
        let addr = info.addr().clone();
        let nodelay = info.tcp_settings().nodelay();
        // Connected on the pumps' runtime, whose thread the socket's readiness wakes at once
        // however busy the caller's runtime is.
        let made = pump_runtime()
            .spawn(async move { connect(addr, nodelay).await })
            .await
            .map_err(io::Error::other)??;
        match made {
            Some(stream) => PubSub::new(info.redis_settings(), pumped(stream, BACKLOG_LIMIT)).await,
            None => client.get_async_pubsub().await,
        }
    }

    /// One thread for the pumps of every subscriber of the process: they read, nothing else.
    fn pump_runtime() -> &'static tokio::runtime::Runtime {
        static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
        RUNTIME.get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("hydra-subscriber")
                .enable_all()
                .build()
                .expect("the subscriber thread starts")
        })
    }

    /// A socket or stream that can be read and written.
    trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
    impl<S: AsyncRead + AsyncWrite + Send + Unpin> Stream for S {}

    /// The connection to `addr`; `None` for what only redis-rs makes.
    async fn connect(addr: ConnectionAddr, nodelay: bool) -> io::Result<Option<Box<dyn Stream>>> {
        Ok(Some(match addr {
            ConnectionAddr::Tcp(host, port) => Box::new(tcp(&host, port, nodelay).await?),
            ConnectionAddr::TcpTls {
                host,
                port,
                insecure: false,
                tls_params: None,
            } => {
                let tcp = tcp(&host, port, nodelay).await?;
                let name = rustls::pki_types::ServerName::try_from(host)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                let tls = tokio_rustls::TlsConnector::from(Arc::new(tls_config()?))
                    .connect(name, tcp)
                    .await?;
                Box::new(tls)
            }
            #[cfg(unix)]
            ConnectionAddr::Unix(path) => Box::new(tokio::net::UnixStream::connect(path).await?),
            _ => return Ok(None),
        }))
    }

    async fn tcp(host: &str, port: u16, nodelay: bool) -> io::Result<tokio::net::TcpStream> {
        let tcp = tokio::net::TcpStream::connect((host, port)).await?;
        tcp.set_nodelay(nodelay)?;
        Ok(tcp)
    }

    /// What redis-rs builds for a `rediss://` URL: the system's trusted certificates, no client
    /// certificate.
    fn tls_config() -> io::Result<rustls::ClientConfig> {
        let mut found = rustls_native_certs::load_native_certs();
        if let Some(e) = found.errors.pop() {
            return Err(io::Error::other(e));
        }
        let mut roots = rustls::RootCertStore::empty();
        for cert in found.certs {
            roots.add(cert).map_err(io::Error::other)?;
        }
        Ok(rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth())
    }

    /// Bytes read and not yet parsed.
    #[derive(Default)]
    struct Backlog {
        bytes: AtomicUsize,
        /// Told each time the parser takes some.
        taken: Notify,
    }

    /// `stream` with its reading done by a task that queues up to `limit` bytes.
    pub(super) fn pumped<S>(stream: S, limit: usize) -> Pumped<S>
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (read, write) = tokio::io::split(stream);
        let (tx, rx) = mpsc::unbounded_channel();
        let backlog = Arc::new(Backlog::default());
        pump_runtime().spawn(pump(read, tx, backlog.clone(), limit));
        Pumped {
            rx,
            current: Bytes::new(),
            backlog,
            write,
        }
    }

    /// Reads `read` into `tx` until the end, an error, or the reader going away.
    async fn pump<R: AsyncRead + Unpin>(
        mut read: R,
        tx: mpsc::UnboundedSender<io::Result<Bytes>>,
        backlog: Arc<Backlog>,
        limit: usize,
    ) {
        let mut buf = BytesMut::new();
        let mut full = false;
        loop {
            while backlog.bytes.load(Ordering::Acquire) >= limit {
                if !std::mem::replace(&mut full, true) {
                    tracing::warn!(
                        unread_bytes = limit,
                        "subscriber backlog full: reading paused, Redis buffers the rest"
                    );
                }
                tokio::select! {
                    () = backlog.taken.notified() => {}
                    () = tx.closed() => return,
                }
            }
            full = false;
            buf.reserve(READ_CHUNK);
            let read = tokio::select! {
                r = read.read_buf(&mut buf) => r,
                () = tx.closed() => return,
            };
            match read {
                // The end: the reader sees it once the queue is empty.
                Ok(0) => return,
                Ok(n) => {
                    backlog.bytes.fetch_add(n, Ordering::AcqRel);
                    if tx.send(Ok(buf.split().freeze())).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
    }

    /// A stream whose reads come from the pump's queue and whose writes go to the socket.
    pub(super) struct Pumped<S> {
        rx: mpsc::UnboundedReceiver<io::Result<Bytes>>,
        /// The chunk being read.
        current: Bytes,
        backlog: Arc<Backlog>,
        write: WriteHalf<S>,
    }

    impl<S: AsyncRead + AsyncWrite> AsyncRead for Pumped<S> {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            out: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let this = &mut *self;
            if out.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            while this.current.is_empty() {
                match ready!(this.rx.poll_recv(cx)) {
                    Some(Ok(chunk)) => this.current = chunk,
                    Some(Err(e)) => return Poll::Ready(Err(e)),
                    None => return Poll::Ready(Ok(())),
                }
            }
            let n = this.current.len().min(out.remaining());
            out.put_slice(&this.current.split_to(n));
            this.backlog.bytes.fetch_sub(n, Ordering::AcqRel);
            this.backlog.taken.notify_one();
            Poll::Ready(Ok(()))
        }
    }

    impl<S: AsyncRead + AsyncWrite> AsyncWrite for Pumped<S> {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.write).poll_write(cx, buf)
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.write).poll_flush(cx)
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.write).poll_shutdown(cx)
        }
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
    async fn the_pump_stops_reading_at_its_limit_and_goes_on_once_read() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut far, near) = tokio::io::duplex(1024);
        let mut pumped = pump::pumped(near, 4096);
        let sent: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
        let expected = sent.clone();
        let writer = tokio::spawn(async move {
            far.write_all(&sent).await.expect("write");
            far
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !writer.is_finished(),
            "4 KiB queued and 1 KiB in the pipe: the rest waits for the reader"
        );
        let mut got = vec![0u8; expected.len()];
        pumped.read_exact(&mut got).await.expect("read");
        assert!(got == expected, "every byte, in order");
        drop(writer.await.expect("writer"));
        let mut end = [0u8; 1];
        assert_eq!(pumped.read(&mut end).await.expect("end"), 0, "then the end");
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
