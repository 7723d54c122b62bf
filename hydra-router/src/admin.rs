//! The router's own endpoints (`/v1/router/*`), the dashboard and `/metrics`.
//!
//! Access: with `routerToken` set, the token is required (header `x-router-token`,
//! `Authorization: Bearer …`, or `?token=`), compared in constant time. Without a token, only
//! clients on the loopback interface are served (a `Host: localhost` header proves nothing).
//! `/v1/router/health` and `/v1/router/version` are public, for load balancers and health checks.
//! `disableRouterEndpoint` turns everything but those two off.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hydra_core::{response, ErrorKind, Umf};
use redis::AsyncCommands;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use crate::config::RouterConfig;
use crate::error::Refusal;
use crate::history;
use crate::reply::{json_response, ok};
use crate::state::RouterState;

const DASHBOARD: &str = include_str!("../assets/dashboard.html");

/// The routes the router registers for itself, as the Node router does.
pub const ROUTER_ROUTES: [&str; 13] = [
    "[get]/",
    "[get]/v1/router/health",
    "[get]/v1/router/list/:thing",
    "[get]/v1/router/version",
    "[get]/v1/router/clear",
    "[get]/v1/router/refresh",
    "[get]/v1/router/refresh/:service",
    "[get]/v1/router/log",
    "[get]/v1/router/stats",
    "[post]/v1/router/message",
    "[post]/v1/router/send",
    "[post]/v1/router/queue",
    "[post]/v1/router/stream/:name",
];

/// Whether a path is the router's own.
pub fn is_router_path(path: &str) -> bool {
    path == "/" || path == "/metrics" || path.starts_with("/v1/router/") || path == "/v1/router"
}

fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then_some(v)
    })
}

/// Whether the caller may use the admin endpoints.
pub fn authorized(
    config: &RouterConfig,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
    query: Option<&str>,
) -> bool {
    if config.disable_router_endpoint {
        return false;
    }
    let token = config.router_token.as_bytes();
    if token.is_empty() {
        return peer.is_some_and(|p| p.ip().is_loopback());
    }
    let given = headers
        .get("x-router-token")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
        })
        .or_else(|| query_param(query, "token"));
    given.is_some_and(|g| g.as_bytes().ct_eq(token).into())
}

fn not_found() -> Response<Body> {
    Refusal::NotFound.into_response(None)
}

/// Whether `req` may be served: `/v1/router/health` and `/v1/router/version` are public, the
/// rest needs [`authorized`]. (As Node, a caller turned away sees a plain 404.)
pub fn allowed(config: &RouterConfig, req: &Request<Body>, peer: Option<SocketAddr>) -> bool {
    let public = req.method() == Method::GET
        && matches!(req.uri().path(), "/v1/router/health" | "/v1/router/version");
    public || authorized(config, peer, req.headers(), req.uri().query())
}

/// `/metrics`: the Prometheus text of [`crate::metrics::Metrics`].
pub fn metrics(state: &RouterState) -> Response<Body> {
    let mut resp = Response::new(Body::from(state.metrics.render()));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    resp
}

/// What `hydra.metricsPort` serves: `GET /metrics` to anyone, nothing else.
pub fn metrics_app(state: Arc<RouterState>) -> axum::Router {
    axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(
                |State(state): State<Arc<RouterState>>| async move { metrics(&state) },
            ),
        )
        .with_state(state)
}

/// Serves one of the router's own endpoints; the caller was [`allowed`] in.
pub async fn handle(state: &RouterState, req: Request<Body>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.clone(), segs.as_slice()) {
        (Method::GET, [""]) => {
            let mut resp = Response::new(Body::from(DASHBOARD));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            resp
        }
        (Method::GET, ["metrics"]) => metrics(state),
        (Method::GET, ["v1", "router", "health"]) => ok(health(state)),
        (Method::GET, ["v1", "router", "version"]) => {
            ok(json!({"version": env!("CARGO_PKG_VERSION")}))
        }
        (Method::GET, ["v1", "router", "list", thing]) => list(state, thing).await,
        (Method::GET, ["v1", "router", "clear"]) => {
            clear(state).await;
            let mut resp = Response::new(Body::empty());
            *resp.status_mut() = StatusCode::FOUND;
            resp.headers_mut()
                .insert(header::LOCATION, HeaderValue::from_static("/"));
            resp
        }
        (Method::GET, ["v1", "router", "refresh"]) => {
            state.reload_routes().await;
            state.refresh_pool().await;
            ok(json!({}))
        }
        (Method::GET, ["v1", "router", "refresh", service]) => {
            state.reload_service(service).await;
            state.refresh_pool().await;
            ok(json!({}))
        }
        (Method::GET, ["v1", "router", "log"]) => {
            let logs: Vec<Value> = state
                .issues
                .lock()
                .expect("issue log lock")
                .iter()
                .cloned()
                .collect();
            ok(json!({ "logs": logs }))
        }
        (Method::GET, ["v1", "router", "stats"]) => ok(state.metrics.stats()),
        (Method::GET, ["v1", "router", "history"]) => ok(traffic(state)),
        (Method::POST, ["v1", "router", action])
            if ["message", "send", "queue"].contains(action) =>
        {
            let action = action.to_string();
            match read_umf(state, req).await {
                Ok(umf) => post_action(state, &action, umf).await,
                Err(resp) => resp,
            }
        }
        (Method::POST, ["v1", "router", "stream", name]) => {
            let name = name.to_string();
            match read_umf(state, req).await {
                Ok(umf) => {
                    let mut conn = state.hydra.redis();
                    let id: Result<String, _> = conn
                        .xadd(
                            hydra_core::keys::stream(&name),
                            "*",
                            &[("message", umf.to_wire())],
                        )
                        .await;
                    match id {
                        Ok(id) => ok(json!({ "id": id })),
                        Err(e) => Refusal::hidden(ErrorKind::Unavailable, "the stream", &e)
                            .into_response(None),
                    }
                }
                Err(resp) => resp,
            }
        }
        _ => not_found(),
    }
}

/// Node's `getHealth()`: the health record without `updatedOn`.
fn health(state: &RouterState) -> Value {
    let mut v = serde_json::to_value(state.hydra.health_entry()).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.shift_remove("updatedOn");
    }
    v
}

/// What the dashboard charts: for every service the router counted requests for or has
/// instances of, its last minutes ([`crate::history`]: one point per slot, oldest first) and its
/// instances with their health and requests under way.
fn traffic(state: &RouterState) -> Value {
    let now = std::time::Instant::now();
    let mut history = state.metrics.history(now);
    let mut instances = state.pool.health_by_service();
    let names: BTreeSet<String> = history.keys().chain(instances.keys()).cloned().collect();
    let services: Vec<Value> = names
        .into_iter()
        .map(|name| {
            let points = history
                .remove(&name)
                .unwrap_or_else(|| state.metrics.quiet(now));
            let list = instances.remove(&name).unwrap_or_default();
            let count = |h: &str| list.iter().filter(|(_, s)| *s == h).count();
            let (healthy, stale, ejected) = (count("healthy"), count("stale"), count("ejected"));
            let list: Vec<Value> = list
                .into_iter()
                .map(|(i, health)| {
                    json!({
                        "id": i.id,
                        "address": i.authority,
                        "health": health,
                        "inFlight": i.in_flight(),
                    })
                })
                .collect();
            json!({
                "service": name,
                "points": points,
                "instances": list,
                "healthy": healthy,
                "stale": stale,
                "ejected": ejected,
            })
        })
        .collect();
    json!({
        "slotSeconds": history::SLOT.as_secs(),
        "windowSeconds": history::WINDOW.as_secs(),
        "p99": "upper edge of its latency bucket, at most 25 % above the true value",
        "services": services,
    })
}

async fn list(state: &RouterState, thing: &str) -> Response<Body> {
    match thing {
        "routes" => {
            let list: Vec<Value> = state
                .route_list()
                .into_iter()
                .map(|(s, routes)| json!({"serviceName": s, "routes": routes}))
                .collect();
            ok(Value::Array(list))
        }
        "services" => match services(state).await {
            Ok(v) => ok(v),
            Err(e) => Refusal::from_hydra("listing services", &e).into_response(None),
        },
        "nodes" => match state.hydra.get_service_nodes().await {
            Ok(nodes) => json_response(
                200,
                &response::envelope(
                    200,
                    json!({
                        "instanceID": state.hydra.instance_id(),
                        "hostname": hydra_core::health::host_name(),
                        "version": env!("CARGO_PKG_VERSION"),
                        "result": nodes,
                    }),
                ),
                None,
            ),
            Err(e) => Refusal::from_hydra("listing nodes", &e).into_response(None),
        },
        "wsdir" => ok(state.ws.directory_json()),
        _ => not_found(),
    }
}

/// Node's `list/services`: one entry per present instance, its presence, health and last logs.
async fn services(state: &RouterState) -> Result<Value, hydra_core::HydraError> {
    let mut out = Vec::new();
    for svc in state.hydra.get_service_health_all().await? {
        let (health, log) = (&svc.health, &svc.log);
        for p in &svc.presence {
            let mut item = serde_json::to_value(p).unwrap_or(Value::Null);
            if let Some(h) = health.iter().find(|h| h.instance_id == p.instance_id) {
                if let (Value::Object(dst), Ok(Value::Object(src))) =
                    (&mut item, serde_json::to_value(h))
                {
                    dst.extend(src);
                }
            }
            item["log"] =
                serde_json::to_value(log.iter().take(3).collect::<Vec<_>>()).unwrap_or(Value::Null);
            out.push(item);
        }
    }
    Ok(Value::Array(out))
}

/// Removes nodes entries not updated for more than 5 s whose instance is gone (Node's
/// `/v1/router/clear`).
pub async fn clear(state: &RouterState) -> usize {
    match state
        .hydra
        .clear_stale_nodes(std::time::Duration::from_secs(5))
        .await
    {
        Ok(removed) => removed.len(),
        Err(e) => {
            tracing::warn!(error = %e, "could not clear stale nodes");
            0
        }
    }
}

async fn read_umf(state: &RouterState, req: Request<Body>) -> Result<Umf, Response<Body>> {
    let bytes = match Limited::new(req.into_body(), state.config.body_limit)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Err(Refusal::TooLarge("request body too large".into()).into_response(None))
        }
    };
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Refusal::BadRequest("body is not UTF-8".into()).into_response(None))?;
    Umf::parse_valid(text).map_err(|e| Refusal::BadRequest(e.to_string()).into_response(None))
}

async fn post_action(state: &RouterState, action: &str, umf: Umf) -> Response<Body> {
    match action {
        "message" => {
            // Node: an API request to `forward` with the message's body.
            let Some(to) = umf.forward.as_ref().and_then(Value::as_str) else {
                return Refusal::BadRequest("message needs a `fwd` route".into())
                    .into_response(None);
            };
            let msg = Umf::new(to, state.hydra.own_route(), umf.body.clone());
            match state.hydra.api_request(&msg).await {
                Ok(r) => {
                    let env = r.envelope();
                    json_response(
                        r.status,
                        &response::envelope(r.status, json!({"result": env["result"].clone()})),
                        None,
                    )
                }
                Err(e) => Refusal::from_hydra("the message", &e).into_response(None),
            }
        }
        "send" => match state.hydra.send(&umf).await {
            Ok(()) => ok(json!({"mid": umf.mid})),
            Err(e) => Refusal::from_hydra("sending the message", &e).into_response(None),
        },
        _ => match state.hydra.queue_message(&umf).await {
            Ok(()) => ok(json!({"mid": umf.mid})),
            Err(e) => Refusal::from_hydra("queueing the message", &e).into_response(None),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params() {
        assert_eq!(query_param(Some("a=1&token=xyz"), "token"), Some("xyz"));
        assert_eq!(query_param(Some("token"), "token"), Some(""));
        assert_eq!(query_param(None, "token"), None);
    }

    #[test]
    fn router_paths() {
        assert!(is_router_path("/"));
        assert!(is_router_path("/v1/router/health"));
        assert!(!is_router_path("/v1/hello/test"));
    }
}
