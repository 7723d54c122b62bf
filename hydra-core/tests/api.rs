//! HTTP API requests to instances, with a real HTTP server behind a registered instance.

mod common;

use std::time::Duration;

use axum::routing::{get, post};
use axum::{Json, Router};
use common::*;
use hydra_core::{Hydra, HydraError, Umf};
use hydra_testkit::{service_config, RedisServer};
use serde_json::{json, Value};

/// Starts a tiny HTTP service and registers it as `name`, advertising its real port.
async fn http_instance(redis: &RedisServer, name: &str) -> Hydra {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let h = Hydra::builder(service_config(redis, name))
        .port(port)
        .connect()
        .await
        .unwrap();
    let id = h.instance_id().to_string();
    let app = Router::new()
        .route(
            "/v1/hi",
            get(move |headers: axum::http::HeaderMap| async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let trace = headers
                    .get("x-trace")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                Json(json!({"statusCode": 200, "result": {"id": id, "auth": auth, "trace": trace}}))
            }),
        )
        .route(
            "/v1/echo",
            post(|Json(v): Json<Value>| async move { Json(json!({"result": v})) }),
        )
        .route("/v1/text", get(|| async { "plain text" }))
        .route(
            "/v1/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "late"
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    h.register_service().await.unwrap();
    h
}

#[tokio::test]
async fn api_requests_reach_instances_with_headers_and_bodies() {
    let redis = RedisServer::start();
    let svc = http_instance(&redis, "web").await;
    let caller = client(&redis, "caller").await;

    let mut msg = Umf::new("web:[GET]/v1/hi", "caller:/", json!({}));
    msg.headers = Some(json!({"x-trace": "t-1"}));
    msg.authorization = Some(json!("Bearer abc"));
    let resp = caller.api_request(&msg).await.unwrap();
    assert_eq!(resp.status, 200);
    let body = resp.json().unwrap();
    assert_eq!(body["result"]["id"], svc.instance_id());
    assert_eq!(body["result"]["auth"], "Bearer abc");
    assert_eq!(body["result"]["trace"], "t-1");
    let env = resp.envelope();
    assert_eq!(env["statusMessage"], "OK");
    assert_eq!(env["result"]["id"], svc.instance_id());

    let resp = caller
        .api_request(&Umf::new(
            "web:[post]/v1/echo",
            "caller:/",
            json!({"a": 1, "b": [2]}),
        ))
        .await
        .unwrap();
    assert_eq!(resp.json().unwrap()["result"], json!({"a": 1, "b": [2]}));

    let resp = caller
        .api_request(&Umf::new("web:[get]/v1/text", "caller:/", json!({})))
        .await
        .unwrap();
    assert!(!resp.is_json());
    assert_eq!(&resp.body[..], b"plain text");
    assert_eq!(resp.envelope()["payLoad"], "plain text");

    let resp = caller
        .api_request(&Umf::new("web:[get]/v1/missing", "caller:/", json!({})))
        .await
        .unwrap();
    assert_eq!(resp.status, 404);

    let mut slow = Umf::new("web:[get]/v1/slow", "caller:/", json!({}));
    slow.timeout = Some(json!(0.3));
    assert!(matches!(
        caller.api_request(&slow).await,
        Err(HydraError::Timeout)
    ));
    svc.shutdown().await.unwrap();
}

/// A client may put any number in `timeout` (the router passes WebSocket messages on as they
/// came): one that no wait can be made of is the default wait, not a panic.
#[tokio::test]
async fn a_timeout_too_long_or_below_zero_is_the_default_wait() {
    let redis = RedisServer::start();
    let svc = http_instance(&redis, "web").await;
    let caller = client(&redis, "caller").await;
    for timeout in [
        json!(1e300),
        json!(1e20),
        json!(-1),
        json!(0),
        json!(1e-300),
        json!("x"),
    ] {
        let mut msg = Umf::new("web:[get]/v1/hi", "caller:/", json!({}));
        msg.timeout = Some(timeout.clone());
        let resp = caller.api_request(&msg).await;
        assert_eq!(resp.map(|r| r.status).ok(), Some(200), "timeout {timeout}");
    }
    svc.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_requests_and_unavailable_services_use_nodes_reasons() {
    let redis = RedisServer::start();
    let caller = client(&redis, "caller").await;
    let cases = [
        (
            Umf::new("web:/v1/hi", "caller:/", json!({})),
            "HTTP method not specified in `to` field",
        ),
        (
            Umf::new("web:[get]", "caller:/", json!({})),
            "message `to` field does not specify a valid route",
        ),
        (
            Umf::new("web:[get]/x", "caller:/", json!(null)),
            "UMF message requires \"to\", \"from\" and \"body\" fields",
        ),
        (
            Umf::new("nowhere", "caller:/", json!({})),
            "route field has invalid number of routable segments",
        ),
    ];
    for (msg, reason) in cases {
        let err = caller.api_request(&msg).await.unwrap_err();
        assert_eq!(err.to_string(), reason);
        assert_eq!(err.node_status(), 400);
    }
    let err = caller
        .api_request(&Umf::new("web:[get]/v1/hi", "caller:/", json!({})))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "Unavailable web instances");
    assert_eq!(err.node_status(), 503);
}

#[tokio::test]
async fn a_dead_instance_is_skipped_and_all_dead_is_503() {
    let redis = RedisServer::start();
    let live = http_instance(&redis, "web").await;
    // An instance that is present but whose port refuses connections.
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = Hydra::builder(service_config(&redis, "web"))
        .port(dead_port)
        .connect()
        .await
        .unwrap();
    dead.register_service().await.unwrap();
    let caller = client(&redis, "caller").await;
    for _ in 0..10 {
        let resp = caller
            .api_request(&Umf::new("web:[get]/v1/hi", "caller:/", json!({})))
            .await
            .unwrap();
        assert_eq!(resp.instance_id, live.instance_id());
    }
    // Named instance is tried first.
    let named = format!("{}@web:[get]/v1/hi", live.instance_id());
    let resp = caller
        .api_request(&Umf::new(named, "caller:/", json!({})))
        .await
        .unwrap();
    assert_eq!(resp.instance_id, live.instance_id());

    let only_dead = client(&redis, "caller2").await;
    live.shutdown().await.unwrap();
    let err = only_dead
        .api_request(&Umf::new("web:[get]/v1/hi", "caller2:/", json!({})))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "An instance of web is unavailable");
    dead.shutdown().await.unwrap();
}
