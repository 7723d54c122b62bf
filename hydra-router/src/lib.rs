//! # hydra-router
//!
//! The service-aware HTTP and WebSocket gateway of a Hydra swarm, a drop-in for the Node
//! hydra-router: it registers as the Hydra service `hydra-router`, keeps every service's routes and
//! present instances in memory, and forwards requests to them.
//!
//! - [`config`]: Node's router config keys (`routerToken`, `requestTimeout`, `cors`, …) and ours,
//!   read once; a value of the wrong type is an error naming the key (the binary exits with 64).
//! - [`table`]: the routing table, method-aware, most specific match first; routes of services
//!   without a live instance never shadow live ones.
//! - [`resolve`]: choosing the service for a request (table, referer, first path segment).
//! - [`gateway`]: what the HTTP application ([`app`]) reads and calls, as a trait, implemented by
//!   [`RouterState`]; tests drive the application with plain data, no socket and no Redis.
//! - [`pool`]: present instances, refreshed in the background (no Redis on the hot path), with
//!   outlier ejection.
//! - [`proxy`]: forwarding, retries on another instance, Node's JSON envelope rewrite and gzip.
//! - [`h1`]: HTTP/1.1 by one set of rules for both sides: heads and bodies parsed and framed
//!   without I/O, the public side's plain requests read and answered (any other connection
//!   handed, with what was read of it, to hyper: upgrades, chunked or slow bodies, HTTP/1.0, bad
//!   input and its 400s), and the connections to instances, kept open, one idle list per server
//!   thread (no lock and no wake-up of another thread on the way).
//! - [`server`]: the listeners and their threads.
//! - [`error`]: every error answer the router makes itself, its status chosen in one place; 5xx
//!   answers never carry internal error text.
//! - [`reply`]: the router's JSON answers, built by hydra-service's one JSON response builder
//!   (`application/json; charset=utf-8`).
//! - [`admin`]: `/v1/router/*`, the dashboard, `/metrics`; token or loopback only.
//! - [`history`]: each service's request rate, 5xx share and p99 over the last minutes (charts).
//! - [`ws`]: the WebSocket gateway, one file per concept: [`ws::hub`] (clients here, queues of
//!   absent ones), [`ws::directory`] (which router holds which client),
//!   [`ws::session`](mod@ws::session) (one client), [`ws::channel`] (the routers' pub/sub
//!   messages).
//! - [`state`]: the shared state; it holds the WebSocket hub but knows nothing of sessions.
//! - `trace_context`: with trace export on, a forwarded request is a span continuing the
//!   client's `traceparent`, and the service gets the span's.
//! - [`tracer`]: tracer ids (at the bottom: imports nothing of the router). No module of the
//!   router imports one that imports it back.
//! - [`Router`]: everything together ([`Router::bind`], then [`Router::serve`]), with graceful
//!   shutdown owned one way: one cancellation token and one task tracker per router
//!   ([`RouterState::shutdown`], [`RouterState::tasks`]); every task of the router is spawned on
//!   the tracker and waited for, WebSocket clients get a Close frame (1001 "going away").

pub mod admin;
pub mod app;
pub mod config;
pub mod error;
pub mod gateway;
pub mod h1;
pub mod history;
pub mod metrics;
pub mod pool;
pub mod proxy;
pub mod reply;
pub mod resolve;
pub mod server;
pub mod state;
pub mod table;
mod trace_context;
pub mod tracer;
pub mod ws;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hydra_core::{Config, Hydra, HydraError, RedisConfig};

pub use config::{RouterConfig, RouterConfigError};

/// How long shutdown waits for connections and the router's tasks to finish.
pub const DRAIN: Duration = Duration::from_secs(10);
pub use state::RouterState;

/// A router bound to its port(s) and connected to Redis.
#[derive(Debug)]
pub struct Router {
    listener: tokio::net::TcpListener,
    admin: Option<tokio::net::TcpListener>,
    metrics: Option<tokio::net::TcpListener>,
    state: Arc<RouterState>,
}

impl Router {
    /// Binds `servicePort` (and `adminListen`), connects to Redis and prepares the state.
    ///
    /// # Errors
    /// No port, address or Redis problems.
    pub async fn bind(config: Config) -> Result<Self, HydraError> {
        let settings = RouterConfig::from_config(&config).map_err(|e| {
            HydraError::Config(hydra_core::config::ConfigError::Parse {
                path: None,
                reason: e.to_string(),
            })
        })?;
        Self::bind_with(config, settings).await
    }

    /// [`Router::bind`] with settings already read from `config` (so a bad value can be told
    /// apart from a start-up failure).
    ///
    /// # Errors
    /// No port, address or Redis problems.
    pub async fn bind_with(config: Config, settings: RouterConfig) -> Result<Self, HydraError> {
        let listener = hydra_core::address::bind("0.0.0.0", &config.hydra.service_port).await?;
        let port = listener.local_addr()?.port();
        let admin = match &settings.admin_listen {
            Some(addr) => Some(tokio::net::TcpListener::bind(addr).await?),
            None => None,
        };
        let metrics = metrics_listener(settings.metrics_port).await;
        let hydra = Hydra::builder(config.hydra.clone())
            .port(port)
            .api_timeout(settings.request_timeout)
            .connect()
            .await?;
        let queuer_url = RedisConfig {
            url: Some(config.hydra.redis.url()),
            db: Some(settings.queuer_db),
            ..RedisConfig::default()
        }
        .url();
        let queuer =
            match hydra_core::connection::Redis::connect(&queuer_url, Some(Duration::from_secs(5)))
                .await
            {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::warn!(error = %e, "no WebSocket message queue");
                    None
                }
            };
        Ok(Self {
            listener,
            admin,
            metrics,
            state: RouterState::new(hydra, settings, queuer),
        })
    }

    /// The shared state (tests look inside).
    pub fn state(&self) -> &Arc<RouterState> {
        &self.state
    }

    /// The public address.
    ///
    /// # Errors
    /// When the socket has none.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The admin listener's address, when there is one.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The address `/metrics` is served on without a token (`hydra.metricsPort`), when there
    /// is one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Registers, loads the table, serves until `shutdown`, then withdraws presence, tells the
    /// other routers, cancels the router's shutdown token (listeners stop, WebSocket clients get
    /// a Close frame 1001 "going away"), waits for every task of the router ([`DRAIN`] at most)
    /// and leaves.
    ///
    /// # Errors
    /// Redis errors at registration.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), HydraError> {
        let Router {
            listener,
            admin,
            metrics,
            state,
        } = self;
        let port = listener.local_addr()?.port();
        let hydra = state.hydra.clone();
        let mut inbox = hydra.messages();
        hydra.register_service().await?;
        hydra.register_routes(&admin::ROUTER_ROUTES).await?;
        state.reload_routes().await;
        state.refresh_pool().await;
        ws::announce_start(&state).await;

        let shutdown_token = state.shutdown.clone();
        let tasks = state.tasks.clone();
        tasks.spawn(state::background(state.clone()));
        let inbox_state = state.clone();
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    () = inbox_state.shutdown.cancelled() => return,
                    m = inbox.recv() => match m {
                        Some(msg) => {
                            let s = inbox_state.clone();
                            inbox_state
                                .tasks
                                .spawn(async move { ws::channel_message(&s, msg).await });
                        }
                        None => return,
                    }
                }
            }
        });
        let hrt = state.config.header_read_timeout;
        let threads = state.config.threads().max(1);
        tasks.spawn(server::serve(
            listener,
            app::Dispatch(state.clone()),
            shutdown_token.clone(),
            DRAIN,
            hrt,
            threads,
            {
                let state = state.clone();
                Arc::new(move || state.ws.local_count() == 0)
            },
        ));
        // The admin and metrics listeners: axum apps on the caller's runtime.
        let side = [
            admin.map(|l| (l, app::admin_app(state.clone()))),
            metrics.map(|l| (l, admin::metrics_app(state.clone()))),
        ];
        for (l, app) in side.into_iter().flatten() {
            tasks.spawn(server::serve(
                l,
                server::handler_of(app),
                shutdown_token.clone(),
                DRAIN,
                hrt,
                0,
                Arc::new(|| true),
            ));
        }
        tracing::info!(instance = hydra.instance_id(), port = %hydra.port(), "hydra-router serving");
        hydra_service::healthcheck::announce(port, "/v1/router/health");
        shutdown.await;
        tracing::info!("hydra-router shutting down");
        hydra_service::healthcheck::withdraw();
        let _ = hydra.withdraw().await;
        ws::announce_stop(&state).await;
        // Listeners stop, connections finish their requests, WebSocket clients are told the
        // router is going away, background work ends; every task is waited for (the drain time
        // at most).
        shutdown_token.cancel();
        tasks.close();
        if tokio::time::timeout(DRAIN, tasks.wait()).await.is_err() {
            tracing::warn!(
                ?DRAIN,
                open = tasks.len(),
                "router tasks still running after the drain time"
            );
        }
        hydra.shutdown().await
    }
}

/// The listener of `hydra.metricsPort` (none for 0). A port that is taken leaves the router
/// serving without it, with a warning, as a service on hydra-service does.
async fn metrics_listener(port: u16) -> Option<tokio::net::TcpListener> {
    if port == 0 {
        return None;
    }
    match tokio::net::TcpListener::bind(("0.0.0.0", port)).await {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::warn!(port, error = %e, "cannot serve /metrics on hydra.metricsPort; going on without it");
            None
        }
    }
}
