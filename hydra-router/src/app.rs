//! Request dispatch: OPTIONS, WebSocket upgrades, the router's own endpoints, then service routes.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, State, WebSocketUpgrade};
use axum::http::{header, HeaderValue, Method, Request, Response, StatusCode};
use axum::Router;

use crate::error::Refusal;
use crate::proxy::forward;
use crate::state::RouterState;
use crate::table::RouteTable;
use crate::tracer::tracer_id;
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
    let path = req.uri().path().to_string();
    // The WebSocket gateway is at `/` and any service path; the router's own endpoints (and
    // `/metrics`) are plain HTTP behind the token, whatever the request asks to upgrade to.
    if is_upgrade(&req) && (path == "/" || !admin::is_router_path(&path)) {
        return upgrade(state, req, peer).await;
    }
    if !path.starts_with('/') {
        // `*` or an authority: nothing here is addressed that way.
        return Refusal::BadRequest("the request target is not a path".into()).into_response(None);
    }
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
        let referer = req
            .headers()
            .get(header::REFERER)
            .and_then(|v| v.to_str().ok());
        resolve(
            &table,
            &Target {
                method: &method,
                path: &path,
                query: &query,
                referer,
            },
            |s| state.pool.is_live(s),
            |s| state.pool.has_instances(s),
        )
    };
    let Some((service, target)) = found else {
        return Refusal::NotFound.into_response(Some(&tracer));
    };
    if service == state.hydra.service_name() {
        return admin::handle(&state, req, peer).await;
    }
    forward(&state, req, peer, &service, &target, &tracer).await
}

/// What a request asks for, as far as choosing a service goes.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// Lower-case method.
    pub method: &'a str,
    /// The path, as sent.
    pub path: &'a str,
    /// `?query` or empty.
    pub query: &'a str,
    /// The `Referer` header, when it is text.
    pub referer: Option<&'a str>,
}

/// The service for a request and the path and query to send it: the best route among live
/// services, then among services with any instance, then among all; else a service whose name
/// the referer contains (its pages asking for their assets, as in Node); else a first path
/// segment naming a service, stripped. `None`: nothing matches (404).
pub fn resolve(
    table: &RouteTable,
    t: &Target<'_>,
    is_live: impl Fn(&str) -> bool,
    has_instances: impl Fn(&str) -> bool,
) -> Option<(String, String)> {
    let Target {
        method,
        path,
        query,
        referer,
    } = *t;
    if !path.starts_with('/') {
        return None;
    }
    table
        .find(method, path, &is_live)
        .or_else(|| table.find(method, path, &has_instances))
        .or_else(|| table.find(method, path, |_| true))
        .map(|e| e.service.clone())
        .or_else(|| {
            let referer = referer?;
            table
                .services()
                .find(|s| referer.contains(&format!("/{s}")))
                .cloned()
        })
        .map(|s| (s, format!("{path}{query}")))
        .or_else(|| {
            let trimmed = path.trim_start_matches('/');
            let first = trimmed.split('/').next()?;
            if first.is_empty() || !(table.has_service(first) || has_instances(first)) {
                return None;
            }
            let rest = &trimmed[first.len()..];
            let rest = if rest.is_empty() { "/" } else { rest };
            Some((first.to_string(), format!("{rest}{query}")))
        })
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
            .read_buffer_size(ws::READ_BUFFER)
            .on_upgrade(move |socket| {
                let tasks = state.tasks.clone();
                tasks.track_future(ws::session(state, socket, peer, forwarded))
            }),
        Err(rejection) => {
            let resp = axum::response::IntoResponse::into_response(rejection);
            resp.map(Body::new)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn table() -> RouteTable {
        let mut t = RouteTable::default();
        t.replace_all(&BTreeMap::from([
            (
                "hello-service".to_string(),
                vec![
                    "[get]/v1/hello/test".to_string(),
                    "/v1/hello/:id".to_string(),
                ],
            ),
            ("files".to_string(), vec!["[get]/static/*".to_string()]),
            ("é".to_string(), vec!["[get]/v1/é/x".to_string()]),
        ]));
        t
    }

    fn go(
        method: &str,
        path: &str,
        query: &str,
        referer: Option<&str>,
    ) -> Option<(String, String)> {
        let t = Target {
            method,
            path,
            query,
            referer,
        };
        resolve(&table(), &t, |_| true, |s| s == "bare")
    }

    #[test]
    fn routes_referers_and_service_prefixes() {
        let hit = |s: &str, p: &str| Some((s.to_string(), p.to_string()));
        assert_eq!(
            go("get", "/v1/hello/test", "?a=1", None),
            hit("hello-service", "/v1/hello/test?a=1")
        );
        assert_eq!(
            go("get", "/static/a/b.css", "", None),
            hit("files", "/static/a/b.css")
        );
        assert_eq!(
            go("get", "/app.js", "", Some("http://h/files/index.html")),
            hit("files", "/app.js")
        );
        assert_eq!(go("get", "/files/x/y", "?q", None), hit("files", "/x/y?q"));
        assert_eq!(go("get", "/bare", "", None), hit("bare", "/"));
        assert_eq!(go("get", "//files//x", "", None), hit("files", "//x"));
        assert_eq!(go("get", "//é", "", None), hit("é", "/"));
        assert_eq!(go("get", "/nothing/here", "", None), None);
        assert_eq!(go("get", "/", "", None), None);
        assert_eq!(go("get", "", "", None), None);
        assert_eq!(go("get", "*", "", Some("http://h/files/")), None);
    }

    proptest! {
        #[test]
        fn any_path_resolves_without_panicking(
            method in "[a-z]{0,8}",
            path in "(/|//|[a-zé%.:*])*",
            query in proptest::option::of("[ -~]{0,12}"),
            referer in proptest::option::of(".{0,24}"),
        ) {
            let query = query.map(|q| format!("?{q}")).unwrap_or_default();
            if let Some((service, target)) = go(&method, &path, &query, referer.as_deref()) {
                prop_assert!(!service.is_empty());
                prop_assert!(target.ends_with(&query));
            }
        }
    }
}
