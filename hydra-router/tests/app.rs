//! The HTTP application with a gateway of plain data: routing decisions, admin access and the
//! router's own envelopes, with no socket and no Redis.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::WebSocket;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode};
use hydra_core::Config;
use hydra_router::app::{app, resolve, Target};
use hydra_router::gateway::Gateway;
use hydra_router::table::RouteTable;
use hydra_router::RouterConfig;
use serde_json::{json, Value};
use tower::ServiceExt;

/// Routes and instances as data; forwarding and the admin endpoints answer what they were asked.
struct Fake {
    config: RouterConfig,
    table: RouteTable,
    instances: HashSet<String>,
    counted: Mutex<Vec<(String, u16)>>,
}

fn fake(settings: Value, instances: &[&str]) -> Arc<Fake> {
    let mut doc = hydra_router::config::defaults();
    if let Value::Object(m) = settings {
        for (k, v) in m {
            doc[k] = v;
        }
    }
    let config = RouterConfig::from_config(&Config::from_value(doc).unwrap()).unwrap();
    let mut table = RouteTable::default();
    table.replace_all(&BTreeMap::from([
        (
            "hello-service".to_string(),
            vec!["[get]/v1/hello/test".to_string()],
        ),
        (
            "gone-service".to_string(),
            vec!["[get]/v1/gone".to_string()],
        ),
    ]));
    Arc::new(Fake {
        config,
        table,
        instances: instances.iter().map(|s| s.to_string()).collect(),
        counted: Mutex::new(Vec::new()),
    })
}

fn text(status: u16, body: String) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap();
    r
}

impl Gateway for Fake {
    fn config(&self) -> &RouterConfig {
        &self.config
    }

    fn service_name(&self) -> &str {
        "hydra-router"
    }

    fn route(&self, target: &Target<'_>) -> Option<(String, String)> {
        resolve(
            &self.table,
            target,
            |s| self.instances.contains(s),
            |s| self.instances.contains(s),
        )
    }

    fn has_instances(&self, service: &str) -> bool {
        self.instances.contains(service)
    }

    fn count(&self, service: &str, status: u16, _took: Duration) {
        self.counted
            .lock()
            .unwrap()
            .push((service.to_string(), status));
    }

    fn admin(
        &self,
        req: Request<Body>,
        _peer: Option<SocketAddr>,
    ) -> impl Future<Output = Response<Body>> + Send {
        let path = req.uri().path().to_string();
        async move { text(200, format!("admin {path}")) }
    }

    fn forward(
        &self,
        _req: Request<Body>,
        _peer: Option<SocketAddr>,
        service: &str,
        path_and_query: &str,
        _tracer: &str,
    ) -> impl Future<Output = Response<Body>> + Send {
        let said = format!("forwarded {service} {path_and_query}");
        async move { text(200, said) }
    }

    async fn websocket(
        self: Arc<Self>,
        _socket: WebSocket,
        _peer: Option<SocketAddr>,
        _forwarded_for: Option<String>,
    ) {
    }
}

/// `GET path` from `peer`, with extra headers; the status, the headers and the body.
async fn get(
    gateway: &Arc<Fake>,
    path: &str,
    peer: &str,
    headers: &[(&str, &str)],
) -> (u16, axum::http::HeaderMap, String) {
    let mut req = Request::get(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(Body::empty()).unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
    let resp = app(gateway.clone()).oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

const OUTSIDE: &str = "203.0.113.9:40000";
const LOOPBACK: &str = "127.0.0.1:40000";

#[tokio::test]
async fn a_matched_route_is_forwarded_with_its_path() {
    let g = fake(json!({}), &["hello-service"]);
    let (status, _, body) = get(&g, "/v1/hello/test?a=1", OUTSIDE, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body, "forwarded hello-service /v1/hello/test?a=1");
}

#[tokio::test]
async fn an_unknown_route_gets_nodes_404_envelope_with_a_tracer() {
    let g = fake(json!({}), &["hello-service"]);
    let (status, headers, body) = get(&g, "/v9/nothing/here", OUTSIDE, &[]).await;
    assert_eq!(status, 404);
    assert_eq!(headers["content-type"], "application/json; charset=utf-8");
    assert!(headers.contains_key("x-hydra-tracer"));
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v,
        json!({"statusCode": 404, "statusMessage": "Not Found", "statusDescription": "The requested resource was not found on the server", "result": {}})
    );
}

#[tokio::test]
async fn a_matched_route_without_instances_gets_a_counted_503_envelope() {
    let g = fake(json!({}), &["hello-service"]);
    let (status, headers, body) = get(&g, "/v1/gone", OUTSIDE, &[]).await;
    assert_eq!(status, 503);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["statusCode"], 503);
    assert_eq!(v["result"]["reason"], "Unavailable gone-service instances");
    assert_eq!(v["tracer"], headers["x-hydra-tracer"].to_str().unwrap());
    assert_eq!(
        *g.counted.lock().unwrap(),
        [("gone-service".to_string(), 503)]
    );
}

#[tokio::test]
async fn admin_endpoints_need_the_token() {
    let g = fake(json!({"routerToken": "tok"}), &[]);
    for path in ["/v1/router/list/routes", "/metrics", "/"] {
        // Without the token (from loopback too): a plain 404.
        for peer in [OUTSIDE, LOOPBACK] {
            let (status, _, body) = get(&g, path, peer, &[]).await;
            assert_eq!(status, 404, "{path} from {peer}: {body}");
        }
        let (status, _, _) = get(&g, path, OUTSIDE, &[("x-router-token", "nope")]).await;
        assert_eq!(status, 404, "{path} with a wrong token");
        let (status, _, body) = get(&g, path, OUTSIDE, &[("x-router-token", "tok")]).await;
        assert_eq!((status, body), (200, format!("admin {path}")));
        let (status, _, _) = get(&g, path, OUTSIDE, &[("authorization", "Bearer tok")]).await;
        assert_eq!(status, 200, "{path} with a bearer token");
    }
    let (status, _, _) = get(&g, "/v1/router/list/routes?token=tok", OUTSIDE, &[]).await;
    assert_eq!(status, 200);
    // Health and version are public.
    for path in ["/v1/router/health", "/v1/router/version"] {
        assert_eq!(get(&g, path, OUTSIDE, &[]).await.0, 200, "{path}");
    }
}

#[tokio::test]
async fn without_a_token_only_loopback_gets_the_admin_endpoints() {
    let g = fake(json!({}), &[]);
    assert_eq!(
        get(&g, "/v1/router/list/routes", LOOPBACK, &[]).await.0,
        200
    );
    assert_eq!(get(&g, "/v1/router/list/routes", OUTSIDE, &[]).await.0, 404);
}

#[tokio::test]
async fn disable_router_endpoint_turns_the_admin_endpoints_off() {
    let g = fake(
        json!({"routerToken": "tok", "disableRouterEndpoint": true}),
        &[],
    );
    for path in ["/v1/router/list/routes", "/metrics", "/v1/router/refresh"] {
        let (status, headers, body) = get(&g, path, LOOPBACK, &[("x-router-token", "tok")]).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(headers["content-type"], "application/json; charset=utf-8");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["statusCode"], 404);
    }
    assert_eq!(get(&g, "/v1/router/health", OUTSIDE, &[]).await.0, 200);
}
