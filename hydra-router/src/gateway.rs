//! What the HTTP application needs from the router, as a trait: the routing data it reads (the
//! table, which services have instances), the settings, and the work that talks to services and
//! Redis (forwarding, the admin endpoints, WebSocket sessions). The router implements it on
//! [`RouterState`]; tests can implement it with plain data and drive the application with
//! `tower::ServiceExt::oneshot`, no socket and no Redis.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::WebSocket;
use axum::http::{Request, Response};

use crate::config::RouterConfig;
use crate::resolve::{resolve, Target};
use crate::state::RouterState;
use crate::{admin, proxy, ws};

/// The router as the HTTP application sees it.
pub trait Gateway: Send + Sync + 'static {
    /// The settings.
    fn config(&self) -> &RouterConfig;

    /// The router's own service name (`hydra-router`): routes of it are its admin endpoints.
    fn service_name(&self) -> &str;

    /// The service a request goes to and the path and query to send it (`None`: 404).
    fn route(&self, target: &Target<'_>) -> Option<(String, String)>;

    /// Whether `service` has an instance to forward to.
    fn has_instances(&self, service: &str) -> bool;

    /// Counts an answer the router gave itself for `service`.
    fn count(&self, service: &str, status: u16, took: Duration);

    /// Serves one of the router's own endpoints; the caller was allowed in
    /// ([`admin::allowed`]).
    fn admin(
        &self,
        req: Request<Body>,
        peer: Option<SocketAddr>,
    ) -> impl Future<Output = Response<Body>> + Send;

    /// Forwards `req` to `service` at `path_and_query`.
    fn forward(
        &self,
        req: Request<Body>,
        peer: Option<SocketAddr>,
        service: &str,
        path_and_query: &str,
        tracer: &str,
    ) -> impl Future<Output = Response<Body>> + Send;

    /// Runs a WebSocket client connection until it ends.
    fn websocket(
        self: Arc<Self>,
        socket: WebSocket,
        peer: Option<SocketAddr>,
        forwarded_for: Option<String>,
    ) -> impl Future<Output = ()> + Send + 'static;
}

impl Gateway for RouterState {
    fn config(&self) -> &RouterConfig {
        &self.config
    }

    fn service_name(&self) -> &str {
        self.hydra.service_name()
    }

    fn route(&self, target: &Target<'_>) -> Option<(String, String)> {
        let table = self.table.read().expect("table lock");
        resolve(
            &table,
            target,
            |s| self.pool.is_live(s),
            |s| self.pool.has_instances(s),
        )
    }

    fn has_instances(&self, service: &str) -> bool {
        self.pool.has_instances(service)
    }

    fn count(&self, service: &str, status: u16, took: Duration) {
        self.metrics.request(service, status, took);
    }

    fn admin(
        &self,
        req: Request<Body>,
        _peer: Option<SocketAddr>,
    ) -> impl Future<Output = Response<Body>> + Send {
        admin::handle(self, req)
    }

    fn forward(
        &self,
        req: Request<Body>,
        peer: Option<SocketAddr>,
        service: &str,
        path_and_query: &str,
        tracer: &str,
    ) -> impl Future<Output = Response<Body>> + Send {
        proxy::forward(self, req, peer, service, path_and_query, tracer)
    }

    fn websocket(
        self: Arc<Self>,
        socket: WebSocket,
        peer: Option<SocketAddr>,
        forwarded_for: Option<String>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let tasks = self.tasks.clone();
        tasks.track_future(ws::session(self, socket, peer, forwarded_for))
    }
}
