//! The [`Hydra`] handle: one process's connection to the Hydra world.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::AsyncCommands;
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{HydraConfig, ServicePort};
use crate::connection::Redis;
use crate::error::HydraError;
use crate::messaging::Inbox;
use crate::records::{HealthEntry, NodeEntry, PortValue, ServiceEntry};
use crate::umf::{new_instance_id, timestamp, Umf};
use crate::{address, health, keys};

/// Default timeout of an HTTP API request to an instance.
pub const DEFAULT_API_TIMEOUT: Duration = Duration::from_secs(30);
/// How long registration waits for its subscriptions to be in place.
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(10);

/// Shared state of a [`Hydra`]; the background tasks hold this, never the handle itself.
pub(crate) struct Core {
    pub(crate) config: HydraConfig,
    pub(crate) service: String,
    pub(crate) instance_id: String,
    pub(crate) ip: String,
    pub(crate) port: PortValue,
    pub(crate) host_name: String,
    pub(crate) redis: Redis,
    pub(crate) presence_cache: Mutex<HashMap<String, crate::discovery::CachedPresence>>,
    pub(crate) inbox: Inbox,
    pub(crate) routes: Mutex<Option<Vec<String>>>,
    pub(crate) registered: AtomicBool,
    /// Serialises register and withdraw, and holds what a registration started.
    registration: tokio::sync::Mutex<Registration>,
    pub(crate) http: reqwest::Client,
    pub(crate) api_timeout: Duration,
    /// Cancelled to stop everything.
    pub(crate) stop: CancellationToken,
}

/// What a registration started: the subscriptions (kept until shutdown, so a withdrawn
/// instance still receives replies while it drains) and the heartbeats (one set at a time).
#[derive(Default)]
struct Registration {
    subscribed: bool,
    /// Cancelled to stop this registration's heartbeats.
    heartbeat: Option<CancellationToken>,
}

/// Owns the background tasks: when the last [`Hydra`] clone is dropped they are stopped.
struct TaskGuard {
    stop: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Ok(tasks) = self.tasks.get_mut() {
            for t in tasks.drain(..) {
                t.abort();
            }
        }
    }
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
    pub(crate) core: Arc<Core>,
    guard: Arc<TaskGuard>,
}

impl std::fmt::Debug for Hydra {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hydra")
            .field("service", &self.core.service)
            .field("instance_id", &self.core.instance_id)
            .field("redis", &self.core.redis)
            .finish()
    }
}

/// Builds a [`Hydra`].
#[derive(Debug)]
pub struct HydraBuilder {
    config: HydraConfig,
    port: Option<u16>,
    api_timeout: Duration,
}

impl HydraBuilder {
    /// The port this instance really listens on (e.g. of a listener bound with
    /// [`address::bind`]); advertised instead of one picked from `servicePort`.
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Timeout of API requests whose message has no `timeout` (default 30 s).
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
    /// Invalid config, an address that cannot be determined, Redis unreachable.
    pub async fn connect(self) -> Result<Hydra, HydraError> {
        health::mark_start();
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
        let http = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| HydraError::Http {
                service: String::new(),
                reason: e.to_string(),
            })?;
        let stop = CancellationToken::new();
        let core = Core {
            service: config.service_name.clone(),
            instance_id: new_instance_id(),
            ip,
            port,
            host_name: health::host_name(),
            redis,
            presence_cache: Mutex::new(HashMap::new()),
            inbox: Inbox::new(
                config
                    .force_message_signature
                    .then(|| config.signature_shared_secret.clone().into_bytes()),
            ),
            routes: Mutex::new(None),
            registered: AtomicBool::new(false),
            registration: tokio::sync::Mutex::new(Registration::default()),
            http,
            api_timeout: self.api_timeout,
            stop: stop.clone(),
            config,
        };
        tracing::debug!(service = %core.service, instance = %core.instance_id, redis = %core.redis.display_url(), "connected");
        Ok(Hydra {
            core: Arc::new(core),
            guard: Arc::new(TaskGuard {
                stop,
                tasks: Mutex::new(Vec::new()),
            }),
        })
    }
}

impl Hydra {
    /// A builder for `config`.
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
    pub async fn connect(config: HydraConfig) -> Result<Self, HydraError> {
        Self::builder(config).connect().await
    }

    /// The service name (lower-cased).
    pub fn service_name(&self) -> &str {
        &self.core.service
    }

    /// This instance's id (32 hex characters).
    pub fn instance_id(&self) -> &str {
        &self.core.instance_id
    }

    /// The advertised address.
    pub fn ip(&self) -> &str {
        &self.core.ip
    }

    /// The advertised port (a string when it was configured, a number when picked, as Node).
    pub fn port(&self) -> &PortValue {
        &self.core.port
    }

    /// The config this instance runs with.
    pub fn config(&self) -> &HydraConfig {
        &self.core.config
    }

    /// This process's health record, sampled now (what the health key holds).
    pub fn health_entry(&self) -> HealthEntry {
        self.core.health_entry()
    }

    /// The shared Redis command connection, for what the library does not cover.
    pub fn redis(&self) -> redis::aio::ConnectionManager {
        self.core.redis.conn()
    }

    /// Whether [`register_service`](Self::register_service) has run and shutdown has not.
    pub fn is_registered(&self) -> bool {
        self.core.registered.load(Ordering::SeqCst)
    }

    /// This instance's own address for replies: `{id}@{service}:/`.
    pub fn own_route(&self) -> String {
        format!("{}@{}:/", self.core.instance_id, self.core.service)
    }

    pub(crate) fn spawn(&self, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(fut);
        if let Ok(mut tasks) = self.guard.tasks.lock() {
            tasks.retain(|t| !t.is_finished());
            tasks.push(handle);
        }
    }

    /// Registers this process as an instance of its service: writes the service record, presence
    /// and nodes entry, subscribes to its channels, and keeps presence (every 1 s, TTL 3 s) and
    /// health (every 5 s, TTL 10 s) fresh until shutdown. Registering again is a no-op; after
    /// [`withdraw`](Self::withdraw) it registers anew. After a Redis outage it re-registers by itself.
    ///
    /// # Errors
    /// Redis errors, or [`HydraError::Timeout`] when the subscriptions cannot be made.
    pub async fn register_service(&self) -> Result<(), HydraError> {
        let core = &self.core;
        let mut registration = core.registration.lock().await;
        if registration.heartbeat.is_some() {
            // Registered already: one set of heartbeats is enough.
            return Ok(());
        }
        core.write_service_entry().await?;
        core.write_presence().await?;
        core.write_health().await?;
        if !registration.subscribed {
            let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
            self.spawn(crate::messaging::subscriber(core.clone(), ready_tx));
            match tokio::time::timeout(SUBSCRIBE_WAIT, ready_rx).await {
                Ok(Ok(())) => registration.subscribed = true,
                _ => return Err(HydraError::Timeout),
            }
        }
        let beat = core.stop.child_token();
        self.spawn(presence_loop(core.clone(), beat.clone()));
        self.spawn(health_loop(core.clone(), beat.clone()));
        registration.heartbeat = Some(beat);
        core.registered.store(true, Ordering::SeqCst);
        tracing::info!(service = %core.service, instance = %core.instance_id, ip = %core.ip, port = %core.port, "registered");
        Ok(())
    }

    /// Registers the service's HTTP routes (`[get]/v1/hello/test`, …) plus the three Node adds
    /// (`[get]/{svc}`, `[get]/{svc}/`, `[get]/{svc}/:rest`), then tells the routers to reload.
    ///
    /// # Errors
    /// Redis errors.
    pub async fn register_routes<S: AsRef<str>>(&self, routes: &[S]) -> Result<(), HydraError> {
        let svc = &self.core.service;
        let mut all: Vec<String> = routes.iter().map(|r| r.as_ref().to_string()).collect();
        all.extend([
            format!("[get]/{svc}"),
            format!("[get]/{svc}/"),
            format!("[get]/{svc}/:rest"),
        ]);
        *self.core.routes.lock().expect("routes lock") = Some(all);
        self.core.write_routes().await?;
        self.core.announce_routes().await;
        Ok(())
    }

    /// Appends an entry to this instance's health log (kept: 64 entries, one week).
    ///
    /// # Errors
    /// Redis errors. Nothing is written when the instance is not registered.
    pub async fn log(&self, level: &str, msg: &str) -> Result<(), HydraError> {
        if !self.is_registered() {
            return Ok(());
        }
        self.core.write_log(level, msg).await
    }

    /// The first step of leaving: stops the heartbeats and deletes presence, so no peer picks
    /// this instance any more, while messaging and API calls keep working (for draining
    /// in-flight work). [`shutdown`](Self::shutdown) does this too; calling both is fine.
    ///
    /// # Errors
    /// Redis errors.
    pub async fn withdraw(&self) -> Result<(), HydraError> {
        let core = &self.core;
        let mut registration = core.registration.lock().await;
        if let Some(beat) = registration.heartbeat.take() {
            beat.cancel();
        }
        if core.registered.swap(false, Ordering::SeqCst) {
            core.leave().await
        } else {
            Ok(())
        }
    }

    /// Leaves cleanly: stops the heartbeats, deletes presence (so no peer picks this instance
    /// any more), lets health expire, closes the subscriptions and stops every task.
    ///
    /// # Errors
    /// Redis errors while cleaning up (the tasks are stopped regardless).
    pub async fn shutdown(&self) -> Result<(), HydraError> {
        let core = &self.core;
        let result = self.withdraw().await;
        core.stop.cancel();
        let tasks: Vec<JoinHandle<()>> = self
            .guard
            .tasks
            .lock()
            .map(|mut t| t.drain(..).collect())
            .unwrap_or_default();
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
        }
        tracing::info!(service = %core.service, instance = %core.instance_id, "shut down");
        result
    }
}

impl Core {
    pub(crate) fn node_entry(&self) -> NodeEntry {
        NodeEntry {
            service_name: self.service.clone(),
            service_description: non_empty_or(&self.config.service_description, "not specified"),
            version: non_empty_or(&self.config.service_version, "unspecified"),
            instance_id: self.instance_id.clone(),
            updated_on: timestamp(),
            process_id: u64::from(std::process::id()),
            ip: self.ip.clone(),
            port: self.port.clone(),
            host_name: self.host_name.clone(),
            elapsed: None,
            extra: serde_json::Map::new(),
        }
    }

    async fn write_service_entry(&self) -> Result<(), HydraError> {
        let entry = ServiceEntry {
            service_name: self.service.clone(),
            service_type: self.config.service_type.clone(),
            registered_on: timestamp(),
        };
        let text = serde_json::to_string(&entry).expect("service entry serialises");
        let () = self
            .redis
            .conn()
            .set(keys::service(&self.service), text)
            .await?;
        Ok(())
    }

    /// One presence beat. Returns whether the service record still exists.
    async fn write_presence(&self) -> Result<bool, HydraError> {
        let entry = serde_json::to_string(&self.node_entry()).expect("node entry serialises");
        let (exists,): (bool,) = redis::pipe()
            .set_ex(
                keys::presence(&self.service, &self.instance_id),
                &self.instance_id,
                keys::KEY_TTL_SECS,
            )
            .ignore()
            .hset(keys::NODES, &self.instance_id, entry)
            .ignore()
            .exists(keys::service(&self.service))
            .query_async(&mut self.redis.conn())
            .await?;
        Ok(exists)
    }

    pub(crate) fn health_entry(&self) -> HealthEntry {
        let now = timestamp();
        HealthEntry {
            updated_on: now.clone(),
            service_name: self.service.clone(),
            instance_id: self.instance_id.clone(),
            host_name: self.host_name.clone(),
            sampled_on: now,
            process_id: u64::from(std::process::id()),
            architecture: health::architecture().into(),
            platform: health::platform().into(),
            node_version: health::runtime_version(),
            memory: health::memory(),
            uptime_seconds: health::uptime_seconds(),
        }
    }

    async fn write_health(&self) -> Result<(), HydraError> {
        let entry = self.health_entry();
        let text = serde_json::to_string(&entry).expect("health entry serialises");
        let () = redis::pipe()
            .set_ex(
                keys::health(&self.service, &self.instance_id),
                text,
                keys::HEALTH_TTL_SECS,
            )
            .ignore()
            .expire(
                keys::health_log(&self.service, &self.instance_id),
                keys::HEALTH_LOG_TTL_SECS,
            )
            .ignore()
            .query_async(&mut self.redis.conn())
            .await?;
        Ok(())
    }

    async fn write_routes(&self) -> Result<(), HydraError> {
        let routes = self.routes.lock().expect("routes lock").clone();
        let Some(routes) = routes else {
            return Ok(());
        };
        let key = keys::routes(&self.service);
        let () = self.redis.conn().del(&key).await?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        for r in &routes {
            pipe.sadd(&key, r).ignore();
        }
        let () = pipe.query_async(&mut self.redis.conn()).await?;
        Ok(())
    }

    /// Tells the routers this service's routes changed (not sent by a router itself).
    async fn announce_routes(&self) {
        if self.service == keys::ROUTER_SERVICE {
            return;
        }
        let msg = Umf::new(
            format!("{}:/refresh", keys::ROUTER_SERVICE),
            format!("{}:/", self.service),
            json!({"action": "refresh", "serviceName": self.service}),
        );
        if let Err(e) = crate::messaging::broadcast_core(self, &msg).await {
            tracing::warn!(error = %e, "could not announce routes to the routers");
        }
    }

    pub(crate) async fn write_log(&self, level: &str, msg: &str) -> Result<(), HydraError> {
        let entry = crate::records::HealthLogEntry {
            ts: timestamp(),
            service_name: self.service.clone(),
            level: level.to_string(),
            process_id: u64::from(std::process::id()),
            msg: msg.to_string(),
        };
        let key = keys::health_log(&self.service, &self.instance_id);
        let text = serde_json::to_string(&entry).expect("log entry serialises");
        let () = redis::pipe()
            .atomic()
            .lpush(&key, text)
            .ignore()
            .ltrim(&key, 0, keys::HEALTH_LOG_MAX - 1)
            .ignore()
            .query_async(&mut self.redis.conn())
            .await?;
        Ok(())
    }

    /// Everything a registration wrote that an emptied Redis has lost.
    async fn reregister(&self) -> Result<(), HydraError> {
        self.write_service_entry().await?;
        self.write_presence().await?;
        self.write_routes().await?;
        if self.routes.lock().expect("routes lock").is_some() {
            self.announce_routes().await;
        }
        self.write_health().await
    }

    async fn leave(&self) -> Result<(), HydraError> {
        let mut conn = self.redis.conn();
        let () = conn
            .del(keys::presence(&self.service, &self.instance_id))
            .await?;
        let _ = self.write_log("error", "Service is shutting down.").await;
        let () = redis::pipe()
            .expire(
                keys::health(&self.service, &self.instance_id),
                keys::KEY_TTL_SECS as i64,
            )
            .ignore()
            .expire(
                keys::health_log(&self.service, &self.instance_id),
                keys::HEALTH_LOG_TTL_SECS,
            )
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok(())
    }
}

fn non_empty_or(s: &str, default: &str) -> String {
    if s.is_empty() {
        default.to_string()
    } else {
        s.to_string()
    }
}

async fn presence_loop(core: Arc<Core>, beat: CancellationToken) {
    let mut tick = tokio::time::interval(keys::PRESENCE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first beat was written by register_service
    let mut lost = false;
    loop {
        tokio::select! {
            () = beat.cancelled() => return,
            _ = tick.tick() => {}
        }
        match core.write_presence().await {
            Ok(exists) => {
                if lost || !exists {
                    // Redis came back (maybe empty): put back what registration wrote.
                    match core.reregister().await {
                        Ok(()) => {
                            tracing::info!(service = %core.service, "Redis is back, registration restored");
                            lost = false;
                        }
                        Err(e) => tracing::warn!(error = %e, "re-registration failed, retrying"),
                    }
                }
            }
            Err(e) => {
                if !lost {
                    tracing::warn!(error = %e, "presence update failed; will keep trying");
                }
                lost = true;
            }
        }
    }
}

async fn health_loop(core: Arc<Core>, beat: CancellationToken) {
    let mut tick = tokio::time::interval(keys::HEALTH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            () = beat.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = core.write_health().await {
            tracing::debug!(error = %e, "health update failed");
        }
    }
}
