//! HTTP between Rust and Node services: Node's makeAPIRequest reaches the Rust hello-service,
//! the Rust library's API request reaches a Node hydra-express service.

use std::collections::HashMap;

use hydra_core::{Hydra, Umf};
use hydra_testkit::{service_config, service_document, NodePeer, NodeProcess, RedisServer};
use serde_json::{json, Value};

async fn hello(redis: &RedisServer) -> hydra_service::RunningService {
    let svc = hello_service::service(service_document(
        redis,
        hello_service::defaults(),
        &json!({}),
    ));
    svc.bind().await.unwrap().spawn().await.unwrap()
}

#[tokio::test]
async fn node_api_request_reaches_rust_hello_service() {
    let redis = RedisServer::start();
    let svc = hello(&redis).await;
    let mut node =
        NodePeer::start_with(&redis.url(), "node-caller", &[("PEER_REGISTER", "0")]).await;
    let resp = node
        .call("makeAPIRequest", json!([{"to": "hello-service:[get]/v1/hello/test", "from": "node-caller:/", "body": {}}]))
        .await
        .unwrap();
    assert_eq!(resp["statusCode"], 200);
    assert_eq!(resp["statusMessage"], "OK");
    assert_eq!(
        resp["result"]["msg"],
        format!("hello from hello-service - {}", svc.hydra().instance_id())
    );

    let resp = node
        .call("makeAPIRequest", json!([{"to": "hello-service:[post]/v1/hello/post", "from": "node-caller:/", "body": {"a": 1, "b": 2}}]))
        .await
        .unwrap();
    assert_eq!(
        resp["result"],
        json!({"msg": "Post recieved", "a": 1, "b": 2})
    );
    node.shutdown().await;
}

#[tokio::test]
async fn rust_api_request_reaches_node_express_service() {
    let redis = RedisServer::start();
    let express = NodeProcess::start(
        "express-service.js",
        &[
            ("HYDRA_REDIS_URL", &redis.url()),
            ("PEER_NAME", "node-express"),
        ],
    )
    .await;
    let rust = Hydra::connect(service_config(&redis, "rust-caller"))
        .await
        .unwrap();
    let resp = rust
        .api_request(&Umf::new(
            "node-express:[get]/v1/node/hello",
            "rust-caller:/",
            json!({}),
        ))
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.instance_id, express.instance_id());
    let env = resp.envelope();
    assert_eq!(
        env["result"]["msg"],
        format!("hello from node-express - {}", express.instance_id())
    );
    let resp = rust
        .api_request(&Umf::new(
            "node-express:[post]/v1/node/echo",
            "rust-caller:/",
            json!({"x": [1, 2]}),
        ))
        .await
        .unwrap();
    assert_eq!(resp.json().unwrap()["result"]["body"], json!({"x": [1, 2]}));
}

#[tokio::test]
async fn api_requests_spread_over_two_rust_instances() {
    let redis = RedisServer::start();
    let a = hello(&redis).await;
    let b = hello(&redis).await;
    let mut node =
        NodePeer::start_with(&redis.url(), "node-caller", &[("PEER_REGISTER", "0")]).await;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for _ in 0..40 {
        let resp = node
            .call("makeAPIRequest", json!([{"to": "hello-service:[get]/v1/hello/test", "from": "node-caller:/", "body": {}}]))
            .await
            .unwrap();
        let msg = resp["result"]["msg"].as_str().unwrap().to_string();
        *seen.entry(msg).or_default() += 1;
    }
    let expect = |h: &hydra_service::RunningService| {
        format!("hello from hello-service - {}", h.hydra().instance_id())
    };
    assert_eq!(seen.len(), 2, "both instances answered: {seen:?}");
    assert!(seen[&expect(&a)] >= 5 && seen[&expect(&b)] >= 5, "{seen:?}");

    // The Rust library spreads too.
    let rust = Hydra::connect(service_config(&redis, "rust-caller"))
        .await
        .unwrap();
    let mut ids: HashMap<String, usize> = HashMap::new();
    for _ in 0..40 {
        let r = rust
            .api_request(&Umf::new(
                "hello-service:[get]/v1/hello/test",
                "rust-caller:/",
                json!({}),
            ))
            .await
            .unwrap();
        let v: Value = r.json().unwrap();
        assert_eq!(v["statusCode"], 200);
        *ids.entry(r.instance_id).or_default() += 1;
    }
    assert_eq!(ids.len(), 2, "{ids:?}");
    node.shutdown().await;
}
