//! Request dispatch: OPTIONS, WebSocket upgrades, the router's own endpoints, then service routes.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, State, WebSocketUpgrade};
use axum::http::{header, HeaderValue, Method, Request, Response, StatusCode};
use axum::Router;
use hydra_core::response;

use crate::proxy::{forward, json_response, tracer_id};
use crate::state::RouterState;
use crate::{admin, ws};

/// The router's HTTP application (every path goes through [`dispatch`]).
pub fn app(state: Arc<RouterState>) -> Router {
    Router::new().fallback(dispatch).with_state(state)
}

/// The admin-only application, for a separate (e.g. loopback) listener.
pub fn admin_app(state: Arc<RouterState>) -> Router {
    Router::new().fallback(admin_only).with_state(state)
}

fn peer_of(req: &Request<Body>) -> Option<SocketAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

async fn admin_only(State(state): State<Arc<RouterState>>, req: Request<Body>) -> Response<Body> {
    let peer = peer_of(&req);
    admin::handle(&state, req, peer).await
}

/// Routes one request.
pub async fn dispatch(State(state): State<Arc<RouterState>>, req: Request<Body>) -> Response<Body> {
    let peer = peer_of(&req);
    if req.method() == Method::OPTIONS {
        return options(&state);
    }
    if is_upgrade(&req) {
        return upgrade(state, req, peer).await;
    }
    let path = req.uri().path().to_string();
    if admin::is_router_path(&path) {
        return admin::handle(&state, req, peer).await;
    }
    let tracer = tracer_id();
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let method = req.method().as_str().to_lowercase();
    let found = {
        let table = state.table.read().expect("table lock");
        table
            .find(&method, &path, |s| state.pool.is_live(s))
            .or_else(|| table.find(&method, &path, |s| state.pool.has_instances(s)))
            .or_else(|| table.find(&method, &path, |_| true))
            .map(|e| e.service.clone())
            .or_else(|| {
                // Unmatched: a service's own assets, asked for by its pages (Node's referer rule).
                let referer = req.headers().get(header::REFERER)?.to_str().ok()?;
                table
                    .services()
                    .find(|s| referer.contains(&format!("/{s}")))
                    .cloned()
            })
            .map(|s| (s, format!("{path}{query}")))
            .or_else(|| {
                // First segment names a service: that service, the segment stripped.
                let first = path.trim_start_matches('/').split('/').next()?;
                if table.has_service(first) || state.pool.has_instances(first) {
                    let rest = &path[1 + first.len()..];
                    let rest = if rest.is_empty() { "/" } else { rest };
                    Some((first.to_string(), format!("{rest}{query}")))
                } else {
                    None
                }
            })
    };
    let Some((service, target)) = found else {
        let mut resp = json_response(
            404,
            &response::envelope(404, serde_json::Value::Null),
            Some(&tracer),
        );
        resp.headers_mut().insert(
            "x-hydra-tracer",
            HeaderValue::from_str(&tracer).unwrap_or(HeaderValue::from_static("0")),
        );
        return resp;
    };
    if service == state.hydra.service_name() {
        return admin::handle(&state, req, peer).await;
    }
    forward(&state, req, peer, &service, &target, &tracer).await
}

fn options(state: &RouterState) -> Response<Body> {
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
    for (k, v) in &state.config.cors {
        if let (Ok(k), Ok(v)) = (
            header::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.insert(k, v);
        }
    }
    resp
}

fn is_upgrade(req: &Request<Body>) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

async fn upgrade(
    state: Arc<RouterState>,
    req: Request<Body>,
    peer: Option<SocketAddr>,
) -> Response<Body> {
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let (mut parts, _) = req.into_parts();
    match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(upgrade) => upgrade
            .max_message_size(ws::MAX_WS_MESSAGE)
            .on_upgrade(move |socket| ws::session(state, socket, peer, forwarded)),
        Err(rejection) => {
            let resp = axum::response::IntoResponse::into_response(rejection);
            resp.map(Body::new)
        }
    }
}
