//! App-wide layers (`HydraService::layer`) on a real service: every route of the service is
//! wrapped, whenever it was added; Hydra's own `/_health` and the 404 answer are not.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use hydra_core::Hydra;
use hydra_service::{HydraService, RunningService};
use hydra_testkit::{service_document, RedisServer};
use serde_json::json;

/// Refuses requests without `x-api-key: k3y`; names the instance that let one through.
async fn needs_key(req: Request, next: Next) -> Result<Response, StatusCode> {
    if req.headers().get("x-api-key").is_none_or(|k| k != "k3y") {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let instance = req
        .extensions()
        .get::<Hydra>()
        .map(|h| h.instance_id().to_string())
        .unwrap_or_default();
    let mut resp = next.run(req).await;
    resp.headers_mut()
        .insert("x-checked-by", HeaderValue::from_str(&instance).unwrap());
    Ok(resp)
}

/// Marks the answer: `x-order` lists the layers it went back through, innermost first.
async fn mark(name: &'static str, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let before = resp
        .headers()
        .get("x-order")
        .and_then(|v| v.to_str().ok())
        .map(|v| format!("{v},"))
        .unwrap_or_default();
    resp.headers_mut().insert(
        "x-order",
        HeaderValue::from_str(&format!("{before}{name}")).unwrap(),
    );
    resp
}

/// The service `name` on `redis` as `build` makes it, serving in the background.
async fn serve(
    redis: &RedisServer,
    name: &str,
    build: impl FnOnce(HydraService) -> HydraService,
) -> RunningService {
    let config = service_document(
        redis,
        json!({"hydra": {"serviceName": name, "servicePort": 0}}),
        &json!({}),
    );
    build(HydraService::new(config))
        .bind()
        .await
        .unwrap()
        .spawn()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_layer_wraps_every_route_of_the_service_and_not_hydras_own() {
    let redis = RedisServer::start();
    let svc = serve(&redis, "guarded", |s| {
        s.get("/v1/guarded/before", || async { "before" })
            .layer(middleware::from_fn(needs_key))
            .layer(middleware::from_fn(|req, next| mark("outer", req, next)))
            .get("/v1/guarded/after", || async { "after" })
    })
    .await;
    let base = svc.base_url();
    let http = reqwest::Client::new();

    for path in ["/v1/guarded/before", "/v1/guarded/after"] {
        let refused = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(refused.status(), 401, "{path} without the key");
        assert_eq!(refused.headers()["x-order"], "outer", "{path}");
        let resp = http
            .get(format!("{base}{path}"))
            .header("x-api-key", "k3y")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path} with the key");
        // The layer saw the Hydra handle.
        assert_eq!(resp.headers()["x-checked-by"], svc.instance_id(), "{path}");
        assert_eq!(resp.headers()["x-order"], "outer", "{path}");
        // Hydra's own headers still go on the answer.
        assert!(resp.headers().contains_key("x-powered-by"), "{path}");
    }
    // Health checks and unknown paths are Hydra's: not wrapped.
    let health = http.get(format!("{base}/_health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(!health.headers().contains_key("x-order"));
    let unknown = http.get(format!("{base}/v1/nothing")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn layers_wrap_in_the_order_given() {
    let redis = RedisServer::start();
    let svc = serve(&redis, "layered", |s| {
        s.layer(middleware::from_fn(|req, next| mark("first", req, next)))
            .layer(middleware::from_fn(|req, next| mark("second", req, next)))
            .get("/v1/layered", || async { "ok" })
    })
    .await;
    let resp = reqwest::get(format!("{}/v1/layered", svc.base_url()))
        .await
        .unwrap();
    // The later layer is the outer one: the answer leaves the first layer before the second.
    assert_eq!(resp.headers()["x-order"], "first,second");
    svc.stop().await.unwrap();
}
