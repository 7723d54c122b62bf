//! The [`Hydra`] handle: one process's connection to the Hydra world.
//!
//! The handle holds the engine's components and is their public face: its identity and
//! lifecycle are here; discovery, messaging, queues, stored configs and API requests each have
//! a file of methods that hand the work to their component.

mod api;
mod configs;
mod discovery;
mod messaging;
mod queues;

use std::sync::Arc;
use std::time::Duration;

use hydra_protocol::config::{HydraConfig, ServicePort};

use crate::api::ApiClient;
use crate::config_store::ConfigStore;
use crate::connection::Redis;
use crate::discovery::Discovery;
use crate::error::HydraError;
use crate::instance::Instance;
use crate::messaging::Messaging;
use crate::queue::Queues;
use crate::records::{HealthEntry, PortValue};
use crate::registration::Registration;
use crate::tasks::Tasks;
use crate::umf::new_instance_id;
use crate::{address, health};

/// Default timeout of an HTTP API request to an instance.
pub const DEFAULT_API_TIMEOUT: Duration = Duration::from_secs(30);

/// The components of one connected process; each owns its state.
struct Engine {
    instance: Arc<Instance>,
    redis: Redis,
    discovery: Arc<Discovery>,
    messaging: Arc<Messaging>,
    registration: Arc<Registration>,
    queues: Queues,
    configs: ConfigStore,
    api: ApiClient,
}

/// A connection to the Hydra world: discovery, messaging, queues, configs, API requests, and,
/// once [`registered`](Hydra::register_service), presence as a service instance.
///
/// Cheap to clone; every clone is the same instance. Background tasks stop when
/// [`shutdown`](Hydra::shutdown) is called or the last clone is dropped (the latter is what a
/// crash looks like to peers: presence simply expires).
///
/// ```no_run
/// # async fn f() -> Result<(), hydra_core::HydraError> {
/// use hydra_core::{Hydra, HydraConfig};
/// let mut config = HydraConfig::named("echo-service");
/// config.redis.url = Some("redis://127.0.0.1:6379/15".into());
/// let hydra = Hydra::connect(config).await?;
/// hydra.register_service().await?;
/// let mut inbox = hydra.messages();
/// while let Some(msg) = inbox.recv().await {
///     hydra.reply(&msg, serde_json::json!({"echo": msg.body})).await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Hydra {
    engine: Arc<Engine>,
    /// The background tasks; stopped when the last clone is dropped.
    tasks: Arc<Tasks>,
}

impl std::fmt::Debug for Hydra {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hydra")
            .field("service", &self.engine.instance.service)
            .field("instance_id", &self.engine.instance.id)
            .field("redis", &self.engine.redis)
            .finish()
    }
}

/// Builds a [`Hydra`].
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> Result<(), hydra_core::HydraError> {
/// use std::time::Duration;
/// use hydra_core::{Hydra, HydraConfig};
/// let hydra = Hydra::builder(HydraConfig::named("hello-service"))
///     .port(8080)
///     .api_timeout(Duration::from_secs(10))
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct HydraBuilder {
    config: HydraConfig,
    port: Option<u16>,
    api_timeout: Duration,
}

impl HydraBuilder {
    /// The port this instance really listens on (e.g. of a listener bound with
    /// [`address::bind`]); advertised instead of one picked from `servicePort`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), hydra_core::HydraError> {
    /// use hydra_core::{address, Hydra, HydraConfig};
    /// let config = HydraConfig::named("hello-service");
    /// // Bind first, then advertise the port the listener really got.
    /// let listener = address::bind("0.0.0.0", &config.service_port).await?;
    /// let hydra = Hydra::builder(config)
    ///     .port(listener.local_addr()?.port())
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Timeout of API requests whose message has no `timeout` (default 30 s).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), hydra_core::HydraError> {
    /// use std::time::Duration;
    /// use hydra_core::{Hydra, HydraConfig};
    /// let hydra = Hydra::builder(HydraConfig::named("gateway"))
    ///     .api_timeout(Duration::from_secs(5))
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn api_timeout(mut self, timeout: Duration) -> Self {
        self.api_timeout = timeout;
        self
    }

    /// Resolves the address, connects to Redis (retrying up to `redis.connectTimeoutSeconds`),
    /// and returns the handle. Nothing is written to Redis until
    /// [`Hydra::register_service`].
    ///
    /// # Errors
    /// [`HydraError::Config`] for an invalid service name or setting, an address that cannot be
    /// determined, or no free port in `servicePort`; [`HydraError::RedisUrl`] for a Redis URL that
    /// does not parse; [`HydraError::RedisUnreachable`] when Redis does not answer within
    /// `redis.connectTimeoutSeconds`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), hydra_core::HydraError> {
    /// use hydra_core::{Hydra, HydraConfig, RedisConfig};
    /// let mut config = HydraConfig::named("hello-service");
    /// config.redis = RedisConfig::from_url("redis://127.0.0.1:6379/15");
    /// let hydra = Hydra::builder(config).connect().await?;
    /// // Connected, not yet an instance: nothing was written to Redis.
    /// assert!(!hydra.is_registered());
    /// # Ok(()) }
    /// ```
    pub async fn connect(self) -> Result<Hydra, HydraError> {
        health::mark_start();
        crate::metrics::register();
        let mut config = self.config;
        config.validate()?;
        let ip = address::advertised_ip(&config).await?;
        let port = match (self.port, &config.service_port) {
            (Some(p), ServicePort::Fixed(f)) if p == *f => PortValue::Text(p.to_string()),
            (Some(p), _) => PortValue::Number(u64::from(p)),
            (None, ServicePort::Fixed(f)) => PortValue::Text(f.to_string()),
            (None, spec) => {
                // As Node: find a free port by binding it, and let it go again.
                let l = address::bind(&ip, spec).await?;
                PortValue::Number(u64::from(l.local_addr()?.port()))
            }
        };
        let redis = Redis::connect(&config.redis.url(), config.redis.connect_timeout()).await?;
        // Idle connections to instances are let go before the instances close them (Node's
        // server after 5 s, hydra-service's after its `headerReadTimeout`), so that a request is
        // not written into a connection closing at that moment.
        let http = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(4))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| HydraError::Http {
                service: String::new(),
                reason: e.to_string(),
            })?;
        let instance = Arc::new(Instance {
            service: config.service_name.clone(),
            id: new_instance_id(),
            ip,
            port,
            host_name: health::host_name(),
            config,
        });
        let discovery = Arc::new(Discovery::new(redis.clone()));
        let messaging = Arc::new(Messaging::new(
            instance.clone(),
            redis.clone(),
            discovery.clone(),
        ));
        let engine = Engine {
            registration: Arc::new(Registration::new(
                instance.clone(),
                redis.clone(),
                messaging.clone(),
            )),
            queues: Queues::new(redis.clone(), instance.clone()),
            configs: ConfigStore::new(redis.clone()),
            api: ApiClient::new(http, self.api_timeout, discovery.clone()),
            instance,
            redis,
            discovery,
            messaging,
        };
        tracing::debug!(service = %engine.instance.service, instance = %engine.instance.id, redis = %engine.redis.display_url(), "connected");
        Ok(Hydra {
            engine: Arc::new(engine),
            tasks: Arc::new(Tasks::new()),
        })
    }
}

impl Hydra {
    /// A builder for `config`.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_core::{Hydra, HydraConfig};
    /// let builder = Hydra::builder(HydraConfig::named("hello-service"));
    /// ```
    pub fn builder(config: HydraConfig) -> HydraBuilder {
        HydraBuilder {
            config,
            port: None,
            api_timeout: DEFAULT_API_TIMEOUT,
        }
    }

    /// Shorthand for `Hydra::builder(config).connect()`.
    ///
    /// # Errors
    /// As [`HydraBuilder::connect`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), hydra_core::HydraError> {
    /// use hydra_core::{Hydra, HydraConfig};
    /// let hydra = Hydra::connect(HydraConfig::named("hello-service")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(config: HydraConfig) -> Result<Self, HydraError> {
        Self::builder(config).connect().await
    }

    /// The service name (lower-cased).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(hydra: hydra_core::Hydra) {
    /// // Who this process is, as peers see it.
    /// println!(
    ///     "{} instance {} at {}:{} (replies to {})",
    ///     hydra.service_name(),
    ///     hydra.instance_id(),
    ///     hydra.ip(),
    ///     hydra.port(),
    ///     hydra.own_route(),
    /// );
    /// # }
    /// ```
    pub fn service_name(&self) -> &str {
        &self.engine.instance.service
    }

    /// This instance's id (32 hex characters).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(hydra: hydra_core::Hydra) {
    /// assert_eq!(hydra.instance_id().len(), 32);
    /// # }
    /// ```
    pub fn instance_id(&self) -> &str {
        &self.engine.instance.id
    }

    /// The advertised address.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(hydra: hydra_core::Hydra) {
    /// let url = format!("http://{}:{}/_health", hydra.ip(), hydra.port());
    /// # }
    /// ```
    pub fn ip(&self) -> &str {
        &self.engine.instance.ip
    }

    /// The advertised port (a string when it was configured, a number when picked, as Node).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(hydra: hydra_core::Hydra) {
    /// let port: Option<u16> = hydra.port().as_u16();
    /// # }
    /// ```
    pub fn port(&self) -> &PortValue {
        &self.engine.instance.port
    }

    /// The config this instance runs with.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(hydra: hydra_core::Hydra) {
    /// let signs = !hydra.config().signature_shared_secret.is_empty();
    /// # }
    /// ```
    pub fn config(&self) -> &HydraConfig {
        &self.engine.instance.config
    }

    /// This process's health record, sampled now (what the health key holds).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(hydra: hydra_core::Hydra) {
    /// let health = hydra.health_entry();
    /// println!("rss {} bytes, up {:.0} s", health.memory.rss, health.uptime_seconds);
    /// # }
    /// ```
    pub fn health_entry(&self) -> HealthEntry {
        self.engine.instance.health_entry()
    }

    /// The shared Redis command connection, for what the library does not cover. Take it for
    /// each use rather than keep it: behind Sentinels it is the current master's.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// use redis::AsyncCommands;
    /// let mut conn = hydra.redis();
    /// let visits: u64 = conn.incr("hello-service:visits", 1).await?;
    /// # Ok(()) }
    /// ```
    pub fn redis(&self) -> redis::aio::ConnectionManager {
        self.engine.redis.conn()
    }

    /// `host:port` of the Redis master, when it was found through Sentinels (it may move).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(hydra: hydra_core::Hydra) {
    /// if let Some(master) = hydra.redis_master() {
    ///     println!("Redis master (through Sentinels): {master}");
    /// }
    /// # }
    /// ```
    pub fn redis_master(&self) -> Option<String> {
        self.engine.redis.master()
    }

    /// Whether [`register_service`](Self::register_service) has run and shutdown has not.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// if !hydra.is_registered() {
    ///     hydra.register_service().await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn is_registered(&self) -> bool {
        self.engine.registration.is_registered()
    }

    /// This instance's own address for replies: `{id}@{service}:/`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(hydra: hydra_core::Hydra) {
    /// use hydra_core::Umf;
    /// // Replies to this message come back to this very instance.
    /// let msg = Umf::new("hello-service:/", hydra.own_route(), serde_json::json!({"ping": 1}));
    /// assert!(hydra.own_route().starts_with(hydra.instance_id()));
    /// # }
    /// ```
    pub fn own_route(&self) -> String {
        self.engine.instance.own_route()
    }

    /// Registers this process as an instance of its service: writes the service record, presence
    /// and nodes entry, subscribes to its channels, and keeps presence (every 1 s, TTL 3 s) and
    /// health (every 5 s, TTL 10 s) fresh until shutdown. Registering again is a no-op; after
    /// [`withdraw`](Self::withdraw) it registers anew. After a Redis outage it re-registers by itself.
    ///
    /// # Errors
    /// [`HydraError::Redis`] when a record cannot be written, or [`HydraError::Timeout`] when the
    /// subscriptions are not in place within 10 s.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// // Take the reader first, so no message sent right after registering is missed.
    /// let mut inbox = hydra.messages();
    /// hydra.register_service().await?;
    /// assert!(hydra.is_registered());
    /// # Ok(()) }
    /// ```
    pub async fn register_service(&self) -> Result<(), HydraError> {
        self.engine.registration.register(&self.tasks).await
    }

    /// Registers the service's HTTP routes (`[get]/v1/hello/test`, …) plus the three Node adds
    /// (`[get]/{svc}`, `[get]/{svc}/`, `[get]/{svc}/:rest`), then tells the routers to reload.
    ///
    /// # Errors
    /// [`HydraError::Redis`] when Redis cannot be reached or a command fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// hydra.register_service().await?;
    /// hydra
    ///     .register_routes(&["[get]/v1/hello/test", "[post]/v1/hello/echo"])
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn register_routes<S: AsRef<str>>(&self, routes: &[S]) -> Result<(), HydraError> {
        let routes = routes.iter().map(|r| r.as_ref().to_string()).collect();
        self.engine.registration.register_routes(routes).await
    }

    /// Appends an entry to this instance's health log (kept: 64 entries, one week).
    ///
    /// # Errors
    /// [`HydraError::Redis`] when Redis cannot be reached or a command fails. Nothing is written (and nothing fails) when the
    /// instance is not registered.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// hydra.log("info", "cache warmed").await?;
    /// # Ok(()) }
    /// ```
    pub async fn log(&self, level: &str, msg: &str) -> Result<(), HydraError> {
        self.engine.registration.log(level, msg).await
    }

    /// The first step of leaving: stops the heartbeats and deletes presence, so no peer picks
    /// this instance any more, while messaging and API calls keep working (for draining
    /// in-flight work). [`shutdown`](Self::shutdown) does this too; calling both is fine.
    ///
    /// # Errors
    /// [`HydraError::Redis`] when Redis cannot be reached or a command fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// hydra.withdraw().await?; // peers stop picking this instance
    /// // … let in-flight work finish, replies still arrive …
    /// hydra.shutdown().await?;
    /// # Ok(()) }
    /// ```
    pub async fn withdraw(&self) -> Result<(), HydraError> {
        self.engine.registration.withdraw().await
    }

    /// Leaves cleanly: stops the heartbeats, deletes presence (so no peer picks this instance
    /// any more), lets health expire, closes the subscriptions and stops every task.
    ///
    /// # Errors
    /// [`HydraError::Redis`] when presence cannot be deleted or the health keys' expiry set while
    /// cleaning up (the tasks are stopped regardless).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// tokio::signal::ctrl_c().await?;
    /// hydra.shutdown().await?;
    /// # Ok(()) }
    /// ```
    pub async fn shutdown(&self) -> Result<(), HydraError> {
        let result = self.withdraw().await;
        self.tasks.stop(Duration::from_secs(2)).await;
        let i = &self.engine.instance;
        tracing::info!(service = %i.service, instance = %i.id, "shut down");
        result
    }
}
