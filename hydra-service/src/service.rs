//! [`HydraService`]: an axum router that is also a Hydra service.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Extension, Router};
use hydra_core::{address, Config, Hydra, HydraError};

use crate::response::{ApiError, Envelope};
use crate::settings::{ServiceSettings, SettingError};
pub use crate::settings::{DEFAULT_BODY_LIMIT, DEFAULT_DRAIN_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT};

/// The body limit in force, for extractors that report it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimit(pub usize);

/// The header that carries a request's trace id through routers and services.
pub const TRACER_HEADER: &str = "x-hydra-tracer";

/// An axum router whose routes register themselves with Hydra.
///
/// Add routes with [`get`](Self::get), [`post`](Self::post), … (the method is recorded as the
/// route is added, since axum cannot list routes afterwards); handlers reach the Hydra handle with
/// the `Extension<Hydra>` extractor. [`run`](Self::run) binds `servicePort`, registers, serves,
/// and on SIGTERM or Ctrl-C withdraws presence first, drains in-flight requests and exits.
///
/// ```no_run
/// use axum::Extension;
/// use hydra_core::{ConfigLoader, Hydra};
/// use hydra_service::{Envelope, HydraService};
///
/// async fn hello(Extension(hydra): Extension<Hydra>) -> Envelope {
///     Envelope::ok(serde_json::json!({"msg": format!("hello from {}", hydra.instance_id())}))
/// }
///
/// # async fn f() -> Result<(), hydra_core::HydraError> {
/// let config = ConfigLoader::new(serde_json::json!({"hydra": {"serviceName": "hello"}})).load().await?;
/// HydraService::new(config).get("/v1/hello", hello).run().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct HydraService {
    config: Config,
    router: Router,
    routes: Vec<String>,
    settings: ServiceSettings,
    /// A setting of `config` that could not be used: [`HydraService::bind`] reports it.
    invalid: Option<SettingError>,
    /// The app-wide layers, in the order given; applied to every route when serving.
    layers: Vec<RouteLayer>,
}

/// A layer added with [`HydraService::layer`], kept until the routes are all known.
struct RouteLayer(Box<dyn FnOnce(Router) -> Router + Send>);

impl std::fmt::Debug for RouteLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RouteLayer")
    }
}

/// An axum path (`/v1/items/{id}`, `/files/{*rest}`) in Node's form (`/v1/items/:id`).
///
/// # Examples
///
/// ```
/// use hydra_service::node_path;
/// assert_eq!(node_path("/v1/items/{id}"), "/v1/items/:id");
/// assert_eq!(node_path("/v1/files/{*rest}"), "/v1/files/:rest");
/// ```
pub fn node_path(path: &str) -> String {
    path.split('/')
        .map(
            |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => format!(":{}", name.trim_start_matches('*')),
                None => seg.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

macro_rules! method_fn {
    ($name:ident, $filter:ident, $node:literal) => {
        #[doc = concat!("Adds a `", $node, "` route, registered as `[", $node, "]` and the path in Node's form.")]
        ///
        /// # Examples
        ///
        /// ```
        /// # let config = hydra_core::Config::from_value(
        /// #     serde_json::json!({"hydra": {"serviceName": "items"}})).unwrap();
        /// use hydra_service::HydraService;
        #[doc = concat!("let service = HydraService::new(config).", stringify!($name), "(\"/v1/items/{id}\", || async { \"done\" });")]
        #[doc = concat!("assert_eq!(service.registered_routes(), [\"[", $node, "]/v1/items/:id\"]);")]
        /// ```
        #[must_use]
        pub fn $name<H, T>(self, path: &str, handler: H) -> Self
        where
            H: axum::handler::Handler<T, ()>,
            T: 'static,
        {
            self.route(path, &[$node], on(MethodFilter::$filter, handler))
        }
    };
}

impl HydraService {
    /// A service for `config`, its [`ServiceSettings`] read from the `hydra` branch:
    /// `bodyLimit` (bytes), `requestTimeout` (seconds, none by default), `concurrencyLimit`,
    /// `drainTimeout` (seconds), `metricsPort`, `headerReadTimeout` (seconds). A setting that
    /// cannot be used is reported by [`bind`](Self::bind); binaries use
    /// [`try_new`](Self::try_new) to report it at start.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_core::Config;
    /// use hydra_service::HydraService;
    /// let config = Config::from_value(serde_json::json!({
    ///     "hydra": {"serviceName": "items", "servicePort": 0, "bodyLimit": 65536}
    /// }))
    /// .unwrap();
    /// let service = HydraService::new(config).get("/v1/items", || async { "[]" });
    /// ```
    pub fn new(config: Config) -> Self {
        match ServiceSettings::from_config(&config) {
            Ok(settings) => Self::with_settings(config, settings),
            Err(e) => Self {
                invalid: Some(e),
                ..Self::with_settings(config, ServiceSettings::default())
            },
        }
    }

    /// A service for `config`, its settings checked now.
    ///
    /// # Errors
    /// [`SettingError`] naming the setting and its value.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_core::Config;
    /// use hydra_service::HydraService;
    /// let config = Config::from_value(serde_json::json!({
    ///     "hydra": {"serviceName": "items", "drainTimeout": "soon"}
    /// }))
    /// .unwrap();
    /// let err = HydraService::try_new(config).unwrap_err();
    /// assert_eq!(err.key, "hydra.drainTimeout");
    /// ```
    pub fn try_new(config: Config) -> Result<Self, SettingError> {
        let settings = ServiceSettings::from_config(&config)?;
        Ok(Self::with_settings(config, settings))
    }

    /// A service for `config` with `settings` (the `hydra` branch's are not read).
    ///
    /// # Examples
    ///
    /// ```
    /// # let config = hydra_core::Config::from_value(
    /// #     serde_json::json!({"hydra": {"serviceName": "items"}})).unwrap();
    /// use hydra_service::{HydraService, ServiceSettings};
    /// let settings = ServiceSettings {
    ///     metrics_port: None, // no /metrics listener
    ///     ..ServiceSettings::default()
    /// };
    /// let service = HydraService::with_settings(config, settings);
    /// ```
    pub fn with_settings(config: Config, settings: ServiceSettings) -> Self {
        Self {
            config,
            router: Router::new(),
            routes: Vec::new(),
            settings,
            invalid: None,
            layers: Vec::new(),
        }
    }

    method_fn!(get, GET, "get");
    method_fn!(post, POST, "post");
    method_fn!(put, PUT, "put");
    method_fn!(patch, PATCH, "patch");
    method_fn!(delete, DELETE, "delete");

    /// Adds `router` at `path`, registered for each of `methods` (`"get"`, `"post"`, …).
    ///
    /// # Examples
    ///
    /// ```
    /// # let config = hydra_core::Config::from_value(
    /// #     serde_json::json!({"hydra": {"serviceName": "items"}})).unwrap();
    /// use axum::routing::{get, MethodRouter};
    /// use hydra_service::HydraService;
    /// let both: MethodRouter = get(|| async { "item" }).put(|| async { "saved" });
    /// let service = HydraService::new(config).route("/v1/items/{id}", &["get", "put"], both);
    /// assert_eq!(
    ///     service.registered_routes(),
    ///     ["[get]/v1/items/:id", "[put]/v1/items/:id"]
    /// );
    /// ```
    #[must_use]
    pub fn route(mut self, path: &str, methods: &[&str], router: MethodRouter) -> Self {
        let node = node_path(path);
        for m in methods {
            self.routes.push(format!("[{}]{node}", m.to_lowercase()));
        }
        self.router = self.router.route(path, router);
        self
    }

    /// Wraps every route of the service in `layer` (a tower layer: `axum::middleware::from_fn`,
    /// tower-http's, your own), routes added after this call included: what hydra-express's
    /// `registerMiddlewareCallback` is to an Express app. A layer given later wraps the earlier
    /// ones. Hydra's own `/_health` and the 404 answer for unknown paths are not wrapped, so an
    /// authentication layer does not fail health checks; the `Extension<Hydra>` handle is
    /// already in the request when the layer sees it, and body limit, timeout and metrics apply
    /// outside it.
    ///
    /// # Examples
    ///
    /// ```
    /// # let config = hydra_core::Config::from_value(
    /// #     serde_json::json!({"hydra": {"serviceName": "items"}})).unwrap();
    /// use axum::extract::Request;
    /// use axum::http::StatusCode;
    /// use axum::middleware::{self, Next};
    /// use axum::response::Response;
    /// use hydra_service::HydraService;
    ///
    /// async fn needs_key(req: Request, next: Next) -> Result<Response, StatusCode> {
    ///     match req.headers().get("x-api-key") {
    ///         Some(key) if key == "k3y" => Ok(next.run(req).await),
    ///         _ => Err(StatusCode::UNAUTHORIZED),
    ///     }
    /// }
    ///
    /// let service = HydraService::new(config)
    ///     .layer(middleware::from_fn(needs_key))
    ///     .get("/v1/items", || async { "items" }); // wrapped too
    /// ```
    #[must_use]
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: tower::Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
        L::Service: tower::Service<Request> + Clone + Send + Sync + 'static,
        <L::Service as tower::Service<Request>>::Response: IntoResponse + 'static,
        <L::Service as tower::Service<Request>>::Error: Into<std::convert::Infallible> + 'static,
        <L::Service as tower::Service<Request>>::Future: Send + 'static,
    {
        self.layers.push(RouteLayer(Box::new(move |router: Router| {
            router.layer(layer)
        })));
        self
    }

    /// The routes as they will be registered (`[get]/v1/hello/test`, …), without the three Hydra
    /// adds itself.
    ///
    /// # Examples
    ///
    /// ```
    /// # let config = hydra_core::Config::from_value(
    /// #     serde_json::json!({"hydra": {"serviceName": "hello"}})).unwrap();
    /// use hydra_service::HydraService;
    /// let service = HydraService::new(config)
    ///     .get("/v1/hello/test", || async { "hello" })
    ///     .post("/v1/hello/echo", |body: String| async move { body });
    /// assert_eq!(
    ///     service.registered_routes(),
    ///     ["[get]/v1/hello/test", "[post]/v1/hello/echo"]
    /// );
    /// ```
    pub fn registered_routes(&self) -> &[String] {
        &self.routes
    }

    /// Largest request body; larger ones get 413.
    ///
    /// # Examples
    ///
    /// ```
    /// # let config = hydra_core::Config::from_value(
    /// #     serde_json::json!({"hydra": {"serviceName": "uploads"}})).unwrap();
    /// let service = hydra_service::HydraService::new(config).body_limit(16 * 1024 * 1024);
    /// ```
    #[must_use]
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.settings.body_limit = bytes;
        self
    }

    /// Requests running longer get a 504 envelope.
    ///
    /// # Examples
    ///
    /// ```
    /// # let config = hydra_core::Config::from_value(
    /// #     serde_json::json!({"hydra": {"serviceName": "reports"}})).unwrap();
    /// use std::time::Duration;
    /// let service = hydra_service::HydraService::new(config).request_timeout(Duration::from_secs(30));
    /// ```
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.settings.request_timeout = Some(timeout);
        self
    }

    /// At most this many requests are handled at once; the rest wait.
    ///
    /// # Examples
    ///
    /// ```
    /// # let config = hydra_core::Config::from_value(
    /// #     serde_json::json!({"hydra": {"serviceName": "thumbnails"}})).unwrap();
    /// let service = hydra_service::HydraService::new(config).concurrency_limit(8);
    /// ```
    #[must_use]
    pub fn concurrency_limit(mut self, limit: usize) -> Self {
        self.settings.concurrency_limit = Some(limit);
        self
    }

    /// How long in-flight requests may take to finish after a shutdown signal.
    ///
    /// # Examples
    ///
    /// ```
    /// # let config = hydra_core::Config::from_value(
    /// #     serde_json::json!({"hydra": {"serviceName": "reports"}})).unwrap();
    /// use std::time::Duration;
    /// let service = hydra_service::HydraService::new(config).drain_timeout(Duration::from_secs(60));
    /// ```
    #[must_use]
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.settings.drain_timeout = timeout;
        self
    }

    /// How long a client may take to send a request head, on the service port and the metrics
    /// port, before its connection is closed (default 10 s, `headerReadTimeout` in the config).
    ///
    /// # Examples
    ///
    /// ```
    /// # let config = hydra_core::Config::from_value(
    /// #     serde_json::json!({"hydra": {"serviceName": "reports"}})).unwrap();
    /// use std::time::Duration;
    /// let service = hydra_service::HydraService::new(config).header_read_timeout(Duration::from_secs(5));
    /// ```
    #[must_use]
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.settings.header_read_timeout = timeout;
        self
    }

    /// Binds `servicePort` (a free one for `0` or a range) and connects to Redis, advertising the
    /// port actually bound. Nothing is registered yet.
    ///
    /// # Errors
    /// [`HydraError::Config`] for a setting that cannot be used, an address that cannot be
    /// determined or no free port in `servicePort`; [`HydraError::RedisUrl`] or
    /// [`HydraError::RedisUnreachable`] when Redis cannot be reached within
    /// `redis.connectTimeoutSeconds`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(config: hydra_core::Config) -> Result<(), hydra_core::HydraError> {
    /// use hydra_service::{shutdown_signal, HydraService};
    /// let bound = HydraService::new(config).get("/v1/hello", || async { "hello" }).bind().await?;
    /// println!("listening on {}", bound.local_addr()?);
    /// bound.serve(shutdown_signal()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn bind(mut self) -> Result<BoundService, HydraError> {
        if let Some(e) = self.invalid.take() {
            return Err(e.into());
        }
        let ip = address::advertised_ip(&self.config.hydra).await?;
        let listener = address::bind("0.0.0.0", &self.config.hydra.service_port).await?;
        let local = listener.local_addr()?;
        // The recorder first, so the series hydra-core registers on connecting land in it.
        let recorder = self
            .settings
            .metrics_port
            .and_then(|_| crate::metrics::install());
        let metrics = match (recorder, self.settings.metrics_port) {
            (Some(handle), Some(port)) => crate::metrics::bind(port)
                .await
                .map(|listener| MetricsListener { listener, handle }),
            _ => None,
        };
        let hydra = Hydra::builder(self.config.hydra.clone())
            .port(local.port())
            .connect()
            .await?;
        tracing::debug!(%ip, port = local.port(), "bound");
        Ok(BoundService {
            service: self,
            listener,
            hydra,
            recording: recorder.is_some(),
            metrics,
        })
    }

    /// Binds, registers and serves until SIGTERM or Ctrl-C, then leaves cleanly.
    ///
    /// # Errors
    /// As [`bind`](Self::bind) and [`BoundService::serve`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(config: hydra_core::Config) -> Result<(), hydra_core::HydraError> {
    /// use hydra_service::HydraService;
    /// HydraService::new(config)
    ///     .get("/v1/hello", || async { "hello" })
    ///     .run()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn run(self) -> Result<(), HydraError> {
        self.bind().await?.serve(shutdown_signal()).await
    }
}

/// A service bound to its port and connected to Redis, ready to [`serve`](Self::serve).
///
/// Made by [`HydraService::bind`] (see its example); [`spawn`](Self::spawn) serves it in the
/// background instead.
#[derive(Debug)]
pub struct BoundService {
    service: HydraService,
    listener: tokio::net::TcpListener,
    hydra: Hydra,
    /// Whether requests are recorded (a Prometheus recorder is installed).
    recording: bool,
    metrics: Option<MetricsListener>,
}

/// The bound `/metrics` port and the recorder it shows.
#[derive(Debug)]
struct MetricsListener {
    listener: tokio::net::TcpListener,
    handle: &'static metrics_exporter_prometheus::PrometheusHandle,
}

/// A task aborted when this is dropped.
#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl BoundService {
    /// The Hydra handle (registered once serving).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(bound: hydra_service::BoundService) {
    /// println!("instance {}", bound.hydra().instance_id());
    /// # }
    /// ```
    pub fn hydra(&self) -> &Hydra {
        &self.hydra
    }

    /// The bound address.
    ///
    /// # Errors
    /// The operating system's error when the listener's address cannot be read.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(bound: hydra_service::BoundService) -> std::io::Result<()> {
    /// let port = bound.local_addr()?.port();
    /// # Ok(()) }
    /// ```
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Where `GET /metrics` is served: `None` when `metricsPort` is `0` or could not be bound.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(bound: hydra_service::BoundService) {
    /// match bound.metrics_addr() {
    ///     Some(addr) => println!("metrics at http://{addr}/metrics"),
    ///     None => println!("no metrics served"),
    /// }
    /// # }
    /// ```
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics
            .as_ref()
            .and_then(|m| m.listener.local_addr().ok())
    }

    /// Serves in the background: registers, then returns a handle to stop it (for tests and for
    /// embedding a service in a larger program).
    ///
    /// # Errors
    /// The errors of [`serve`](Self::serve) when it ends before the instance is registered:
    /// Redis errors, or [`HydraError::Timeout`] when the subscriptions cannot be made.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(config: hydra_core::Config) -> Result<(), hydra_core::HydraError> {
    /// use hydra_service::HydraService;
    /// let running = HydraService::new(config)
    ///     .get("/v1/hello", || async { "hello" })
    ///     .bind()
    ///     .await?
    ///     .spawn()
    ///     .await?;
    /// println!("serving {} at {}", running.instance_id(), running.base_url());
    /// running.stop().await?;
    /// # Ok(()) }
    /// ```
    pub async fn spawn(self) -> Result<RunningService, HydraError> {
        let addr = self.local_addr()?;
        let metrics_addr = self.metrics_addr();
        let hydra = self.hydra.clone();
        let running = RunningService::start(addr, hydra, |stop| self.serve(stop)).await?;
        Ok(running.with_metrics_addr(metrics_addr))
    }

    /// Registers the instance and its routes, serves until `shutdown` completes, then withdraws
    /// presence (first, so routers stop sending), stops accepting, lets in-flight requests finish
    /// within the drain timeout, and shuts Hydra down.
    ///
    /// # Errors
    /// Redis errors (or [`HydraError::Timeout`]) while registering the instance and its routes;
    /// [`HydraError::Io`] when the server stops by itself (its task panicked); Redis errors while
    /// shutting Hydra down at the end.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(bound: hydra_service::BoundService) -> Result<(), hydra_core::HydraError> {
    /// use std::time::Duration;
    /// // Serve for an hour, then leave as on SIGTERM.
    /// bound.serve(tokio::time::sleep(Duration::from_secs(3600))).await?;
    /// # Ok(()) }
    /// ```
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), HydraError> {
        let BoundService {
            service,
            listener,
            hydra,
            recording,
            metrics,
        } = self;
        hydra.register_service().await?;
        hydra.register_routes(&service.routes).await?;
        let local_port = listener.local_addr()?.port();
        let drain = service.settings.drain_timeout;
        let header_read_timeout = service.settings.header_read_timeout;
        // Served until this function returns, however it returns.
        let _metrics = metrics.map(|m| {
            AbortOnDrop(tokio::spawn(crate::metrics::serve(
                m.listener,
                m.handle,
                header_read_timeout,
            )))
        });
        let app = build_app(service, hydra.clone(), recording);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let mut server = tokio::spawn(crate::serve::serve(
            listener,
            app,
            header_read_timeout,
            async move {
                let _ = stop_rx.await;
            },
        ));
        tracing::info!(service = hydra.service_name(), instance = hydra.instance_id(), port = %hydra.port(), "serving");
        crate::healthcheck::announce(local_port, "/_health");
        tokio::select! {
            () = shutdown => {}
            r = &mut server => {
                // The server stopped by itself: leave and report.
                crate::healthcheck::withdraw();
                hydra.shutdown().await.ok();
                return r.map_err(|e| HydraError::Io(std::io::Error::other(e)));
            }
        }
        tracing::info!("shutting down: withdrawing presence, draining requests");
        crate::healthcheck::withdraw();
        if let Err(e) = hydra.withdraw().await {
            tracing::warn!(error = %e, "could not withdraw presence");
        }
        let _ = stop_tx.send(());
        match tokio::time::timeout(drain, &mut server).await {
            Ok(_) => {}
            Err(_) => {
                tracing::warn!(?drain, "in-flight requests did not finish in time");
                server.abort();
            }
        }
        hydra.shutdown().await
    }
}

/// A service serving in the background, from [`BoundService::spawn`].
///
/// See the examples on [`BoundService::spawn`] and [`RunningService::start`].
#[derive(Debug)]
pub struct RunningService {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    hydra: Hydra,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), HydraError>>,
}

/// The signal [`RunningService::start`] hands to the serve function.
pub type StopSignal = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

impl RunningService {
    /// Runs `serve` in the background with a signal that completes on [`stop`](Self::stop), and
    /// returns once `hydra` is registered (for services with their own serve function).
    ///
    /// # Errors
    /// The serve function's error when it ends before `hydra` is registered
    /// ([`HydraError::NotRegistered`] when it ends without one, [`HydraError::Io`] when it
    /// panicked).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra, addr: std::net::SocketAddr) -> Result<(), hydra_core::HydraError> {
    /// use hydra_service::{RunningService, StopSignal};
    /// let serve_hydra = hydra.clone();
    /// let running = RunningService::start(addr, hydra, |stop: StopSignal| async move {
    ///     serve_hydra.register_service().await?;
    ///     stop.await; // until RunningService::stop
    ///     serve_hydra.shutdown().await
    /// })
    /// .await?;
    /// running.stop().await?;
    /// # Ok(()) }
    /// ```
    pub async fn start<F, Fut>(addr: SocketAddr, hydra: Hydra, serve: F) -> Result<Self, HydraError>
    where
        F: FnOnce(StopSignal) -> Fut,
        Fut: Future<Output = Result<(), HydraError>> + Send + 'static,
    {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let mut task = tokio::spawn(serve(Box::pin(async move {
            let _ = stopped.await;
        })));
        while !hydra.is_registered() {
            tokio::select! {
                r = &mut task => {
                    let r = r.map_err(|e| HydraError::Io(std::io::Error::other(e)))?;
                    return Err(r.err().unwrap_or(HydraError::NotRegistered));
                }
                () = tokio::time::sleep(Duration::from_millis(10)) => {}
            }
        }
        Ok(Self {
            addr,
            metrics_addr: None,
            hydra,
            stop: Some(stop),
            task,
        })
    }

    /// The same, telling [`metrics_addr`](Self::metrics_addr) where `/metrics` is served (for
    /// services with their own serve function: [`BoundService::metrics_addr`]).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(bound: hydra_service::BoundService, running: hydra_service::RunningService) {
    /// let metrics = bound.metrics_addr();
    /// let running = running.with_metrics_addr(metrics);
    /// # }
    /// ```
    #[must_use]
    pub fn with_metrics_addr(mut self, addr: Option<SocketAddr>) -> Self {
        self.metrics_addr = addr;
        self
    }

    /// Where `GET /metrics` is served, when it is.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(running: hydra_service::RunningService) {
    /// if let Some(addr) = running.metrics_addr() {
    ///     println!("scrape http://{addr}/metrics");
    /// }
    /// # }
    /// ```
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The instance id.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(running: hydra_service::RunningService) {
    /// assert_eq!(running.instance_id(), running.hydra().instance_id());
    /// # }
    /// ```
    pub fn instance_id(&self) -> &str {
        self.hydra.instance_id()
    }

    /// `http://127.0.0.1:{port}`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(running: hydra_service::RunningService) {
    /// let health = format!("{}/_health", running.base_url());
    /// # }
    /// ```
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    /// The bound address.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(running: hydra_service::RunningService) {
    /// let port = running.local_addr().port();
    /// # }
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The registered Hydra handle.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(running: hydra_service::RunningService) -> Result<(), hydra_core::HydraError> {
    /// let routes = running.hydra().get_service_routes("hello").await?;
    /// # Ok(()) }
    /// ```
    pub fn hydra(&self) -> &Hydra {
        &self.hydra
    }

    /// Leaves as on SIGTERM (presence first, then drain) and waits until it has.
    ///
    /// # Errors
    /// The serve function's errors while leaving (for a [`BoundService`], Redis errors while
    /// shutting Hydra down); [`HydraError::Io`] when it panicked.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(running: hydra_service::RunningService) -> Result<(), hydra_core::HydraError> {
    /// running.stop().await?; // presence gone, requests drained, Hydra shut down
    /// # Ok(()) }
    /// ```
    pub async fn stop(mut self) -> Result<(), HydraError> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        (&mut self.task)
            .await
            .map_err(|e| HydraError::Io(std::io::Error::other(e)))?
    }
}

fn build_app(service: HydraService, hydra: Hydra, recording: bool) -> Router {
    let powered_by = HeaderValue::from_str(&format!(
        "{}/{}",
        hydra.service_name(),
        if hydra.config().service_version.is_empty() {
            "unspecified"
        } else {
            &hydra.config().service_version
        }
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("hydra-rs"));
    let limit = service.settings.body_limit;
    let mut routes = service.router;
    for layer in service.layers {
        routes = (layer.0)(routes);
    }
    let mut app = routes
        .route("/_health", axum::routing::get(health))
        .fallback(not_found);
    if let Some(timeout) = service.settings.request_timeout {
        app = app.layer(middleware::from_fn_with_state(timeout, timeout_layer));
    }
    if let Some(n) = service.settings.concurrency_limit {
        app = app.layer(tower::limit::ConcurrencyLimitLayer::new(n));
    }
    app = app
        .layer(middleware::from_fn_with_state(limit, body_limit_layer))
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(powered_by, common_headers))
        .layer(Extension(hydra));
    if recording {
        // Outermost, so the time and status are what the client sees; a router layer runs
        // after routing, so the matched route template is known.
        app = app.layer(middleware::from_fn(crate::metrics::track));
    }
    app
}

async fn health(Extension(hydra): Extension<Hydra>) -> Envelope {
    Envelope::ok(hydra.health_entry())
}

async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {method} {}", uri.path()))
}

async fn timeout_layer(State(timeout): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => {
            ApiError::Timeout(format!("request took longer than {timeout:?}")).into_response()
        }
    }
}

async fn body_limit_layer(State(limit): State<usize>, mut req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return ApiError::PayloadTooLarge { limit }.into_response();
    }
    req.extensions_mut().insert(BodyLimit(limit));
    next.run(req).await
}

/// Makes a request's span continue the caller's `traceparent` (a new trace when it sent none or
/// an invalid one), named as OpenTelemetry names server spans.
fn continue_request_trace(span: &tracing::Span, req: &Request) {
    if !hydra_core::trace::enabled() {
        return;
    }
    span.record(
        "otel.name",
        tracing::field::display(format_args!("{} {}", req.method(), req.uri().path())),
    );
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let caller = hydra_core::trace::TraceContext::from_values(
        header(hydra_core::trace::TRACEPARENT),
        header(hydra_core::trace::TRACESTATE),
    );
    if let Some(ctx) = caller {
        hydra_core::trace::continue_trace(span, &ctx);
    }
}

async fn common_headers(
    State(powered_by): State<HeaderValue>,
    req: Request,
    next: Next,
) -> Response {
    let tracer = req.headers().get(TRACER_HEADER).cloned();
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        tracer = tracer.as_ref().and_then(|t| t.to_str().ok()).unwrap_or(""),
        otel.name = tracing::field::Empty,
        otel.kind = "server",
    );
    continue_request_trace(&span, &req);
    let mut resp = {
        let _enter = span.enter();
        tracing::debug!("request");
        drop(_enter);
        tracing::Instrument::instrument(next.run(req), span).await
    };
    let h = resp.headers_mut();
    h.insert("x-process-id", HeaderValue::from(std::process::id()));
    h.insert("x-powered-by", powered_by);
    if let Some(t) = tracer {
        h.insert(TRACER_HEADER, t);
    }
    resp
}

/// Completes on SIGTERM or Ctrl-C.
///
/// # Examples
///
/// ```no_run
/// # async fn demo(bound: hydra_service::BoundService) -> Result<(), hydra_core::HydraError> {
/// bound.serve(hydra_service::shutdown_signal()).await?;
/// # Ok(()) }
/// ```
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::node_path;

    #[test]
    fn paths_in_node_form() {
        assert_eq!(node_path("/v1/hello/test"), "/v1/hello/test");
        assert_eq!(node_path("/v1/items/{id}"), "/v1/items/:id");
        assert_eq!(node_path("/v1/files/{*rest}"), "/v1/files/:rest");
        assert_eq!(node_path("/v1/hello/"), "/v1/hello/");
    }
}
