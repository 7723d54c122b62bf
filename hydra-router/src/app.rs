//! Request dispatch: OPTIONS, WebSocket upgrades, the router's own endpoints, then service routes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, State, WebSocketUpgrade};
use axum::http::{header, HeaderValue, Method, Request, Response, StatusCode};
use axum::Router;

use crate::config::RouterConfig;
use crate::error::Refusal;
use crate::gateway::Gateway;
pub use crate::resolve::{resolve, Target};
use crate::server::{Handler, Serve};
use crate::tracer::tracer_id;
use crate::{admin, ws};

/// The router's HTTP application (every path goes through [`dispatch`]).
pub fn app<G: Gateway>(gateway: Arc<G>) -> Router {
    Router::new()
        .fallback(dispatch_app::<G>)
        .with_state(gateway)
}

async fn dispatch_app<G: Gateway>(g: State<Arc<G>>, req: Request<Body>) -> Response<Body> {
    let peer = peer_of(&req);
    dispatch(g, req, peer).await
}

/// [`dispatch`] as a boxed [`Handler`], with no application framework between (the router's
/// own listener takes [`Dispatch`], which boxes nothing).
pub fn handler<G: Gateway>(gateway: Arc<G>) -> Handler {
    Arc::new(move |req, peer| Box::pin(dispatch(State(gateway.clone()), req, Some(peer))))
}

/// [`dispatch`] as the server calls it, its future kept in the connection's own (what
/// [`handler`] gives boxes each request's).
pub struct Dispatch<G>(pub Arc<G>);

impl<G> std::fmt::Debug for Dispatch<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dispatch")
    }
}

impl<G> Clone for Dispatch<G> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<G: Gateway> Serve for Dispatch<G> {
    fn call(
        &self,
        req: Request<Body>,
        peer: SocketAddr,
    ) -> impl std::future::Future<Output = Response<Body>> + Send + 'static {
        dispatch(State(self.0.clone()), req, Some(peer))
    }
}

/// The admin-only application, for a separate (e.g. loopback) listener.
pub fn admin_app<G: Gateway>(gateway: Arc<G>) -> Router {
    Router::new().fallback(admin_only::<G>).with_state(gateway)
}

fn peer_of(req: &Request<Body>) -> Option<SocketAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

async fn admin_only<G: Gateway>(State(g): State<Arc<G>>, req: Request<Body>) -> Response<Body> {
    let peer = peer_of(&req);
    admin(&*g, req, peer).await
}

/// The router's own endpoints, for callers allowed in; a plain 404 for others.
async fn admin<G: Gateway>(g: &G, req: Request<Body>, peer: Option<SocketAddr>) -> Response<Body> {
    if !admin::allowed(g.config(), &req, peer) {
        return Refusal::NotFound.into_response(None);
    }
    g.admin(req, peer).await
}

/// Routes one request.
pub async fn dispatch<G: Gateway>(
    State(g): State<Arc<G>>,
    req: Request<Body>,
    peer: Option<SocketAddr>,
) -> Response<Body> {
    let started = Instant::now();
    if req.method() == Method::OPTIONS {
        return options(g.config());
    }
    let path = req.uri().path();
    // The WebSocket gateway is at `/` and any service path; the router's own endpoints (and
    // `/metrics`) are plain HTTP behind the token, whatever the request asks to upgrade to.
    // The router's own endpoints and upgrades are boxed: their futures are larger than a
    // forwarded request's, and every request's future would otherwise be as large (it is
    // moved, whole, onto the heap per request).
    if is_upgrade(&req) && (path == "/" || !admin::is_router_path(path)) {
        return Box::pin(upgrade(g, req, peer)).await;
    }
    if !path.starts_with('/') {
        // `*` or an authority: nothing here is addressed that way.
        return Refusal::BadRequest("the request target is not a path".into()).into_response(None);
    }
    if admin::is_router_path(path) {
        return Box::pin(admin(&*g, req, peer)).await;
    }
    let tracer = tracer_id();
    let found = g.route(&Target {
        method: req.method().as_str(),
        path,
        query: req.uri().query(),
        referer: req
            .headers()
            .get(header::REFERER)
            .and_then(|v| v.to_str().ok()),
    });
    let Some((service, target)) = found else {
        return Refusal::NotFound.into_response(Some(&tracer));
    };
    if service == g.service_name() {
        return Box::pin(admin(&*g, req, peer)).await;
    }
    if !g.has_instances(&service) {
        let refusal = Refusal::no_instances(&service);
        g.count(&service, refusal.status(), started.elapsed());
        return refusal.into_response(Some(&tracer));
    }
    g.forward(req, peer, &service, &target, &tracer).await
}

fn options(config: &RouterConfig) -> Response<Body> {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("Content-Length, Content-Range"),
    );
    for (k, v) in &config.cors {
        h.insert(k, v.clone());
    }
    resp
}

fn is_upgrade(req: &Request<Body>) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

async fn upgrade<G: Gateway>(
    g: Arc<G>,
    req: Request<Body>,
    peer: Option<SocketAddr>,
) -> Response<Body> {
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let (mut parts, _) = req.into_parts();
    match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade
            .max_message_size(ws::MAX_WS_MESSAGE)
            .read_buffer_size(ws::READ_BUFFER)
            .on_upgrade(move |socket| g.websocket(socket, peer, forwarded)),
        Err(rejection) => {
            let resp = axum::response::IntoResponse::into_response(rejection);
            resp.map(Body::new)
        }
    }
}
