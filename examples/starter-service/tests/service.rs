//! The starter service against a real `redis-server` (one per test, on a free port), through its
//! HTTP routes and over UMF, as another service would use it.

use std::collections::HashMap;
use std::time::Duration;

use hydra_core::{Config, ConfigLoader, Umf};
use hydra_service::RunningService;
use hydra_testkit::{
    assert_config_refused, node_dir, registered_service, service_document, wait_for, NodePeer,
    RedisServer,
};
use serde_json::{json, Value};

/// The service's config on `redis` (advertised on 127.0.0.1, no `/metrics` port).
fn config(redis: &RedisServer) -> Config {
    service_document(redis, starter_service::defaults(), &json!({}))
}

/// An instance serving in the background, registered.
async fn start(config: Config) -> RunningService {
    let service = starter_service::bind(config).await.expect("bind");
    service.spawn().await.expect("serve")
}

/// `GET {base}{path}`: the envelope's `result`.
async fn get(svc: &RunningService, path: &str) -> Value {
    let url = format!("{}{path}", svc.base_url());
    let resp = reqwest::get(url).await.expect("GET");
    assert_eq!(resp.status(), 200, "GET {path}");
    resp.json::<Value>().await.expect("JSON")["result"].clone()
}

/// `POST {base}{path}` with a JSON body: the status.
async fn post(svc: &RunningService, path: &str, body: Value) -> u16 {
    let url = format!("{}{path}", svc.base_url());
    let resp = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("POST");
    resp.status().as_u16()
}

#[tokio::test]
async fn hello_answers_in_the_node_envelope() {
    let redis = RedisServer::start();
    let svc = start(config(&redis)).await;
    let resp = reqwest::get(format!("{}/v1/starter/hello", svc.base_url()))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["statusCode"], 200);
    let expected = format!("hello from starter-service - {}", svc.instance_id());
    assert_eq!(body["result"]["msg"], expected);
    // The routes are registered for the routers, in Node's form.
    let routes = svc
        .hydra()
        .get_service_routes("starter-service")
        .await
        .unwrap();
    assert!(
        routes.contains(&"[get]/v1/starter/ask/:service".to_string()),
        "{routes:?}"
    );
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn a_ping_is_answered_over_umf() {
    let redis = RedisServer::start();
    let svc = start(config(&redis)).await;
    // Another service on the same Redis asks.
    let client = registered_service(&redis, "test-client").await;
    let ping = Umf::new("starter-service:/", client.own_route(), json!({})).with_type("ping");
    let reply = client.request(ping, Duration::from_secs(5)).await.unwrap();
    assert_eq!(reply.body, json!({ "pong": svc.instance_id() }));
    // And the service asks through its HTTP route (here: itself).
    let result = get(&svc, "/v1/starter/ask/starter-service").await;
    assert_eq!(result["reply"]["pong"], svc.instance_id());
    client.shutdown().await.unwrap();
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn a_node_hydra_instance_is_answered_too() {
    // A real Node hydra 1.9.3 next to the service: needs Node and the npm packages
    // (HYDRA_NODE_DIR); skipped without them.
    if node_dir().is_none() {
        eprintln!("skipped: no Node hydra packages (set HYDRA_NODE_DIR)");
        return;
    }
    let redis = RedisServer::start();
    let svc = start(config(&redis)).await;
    let mut peer = NodePeer::start(&redis.url(), "node-peer").await;
    let from = format!("{}@node-peer:/", peer.instance_id());
    let ping = Umf::new("starter-service:/", from, json!({})).with_type("ping");
    // Node's hydra.sendMessage(ping); the reply comes to its own channel.
    peer.call("sendMessage", json!([ping.to_short()]))
        .await
        .unwrap();
    let reply = peer
        .next_message(Duration::from_secs(5))
        .await
        .expect("a reply");
    assert_eq!(reply["rmid"], ping.mid.as_str());
    assert_eq!(reply["bdy"]["pong"], svc.instance_id());
    peer.shutdown().await;
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn a_note_reaches_every_instance() {
    let redis = RedisServer::start();
    let (a, b) = (start(config(&redis)).await, start(config(&redis)).await);
    assert_eq!(
        post(&a, "/v1/starter/notes", json!({"text": "hi all"})).await,
        202
    );
    for svc in [&a, &b] {
        wait_for(Duration::from_secs(5), "the note heard", || async {
            let notes = get(svc, "/v1/starter/notes").await;
            (notes == json!([{"text": "hi all"}])).then_some(())
        })
        .await;
    }
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}

#[tokio::test]
async fn a_queued_job_is_done_once() {
    let redis = RedisServer::start();
    let svc = start(config(&redis)).await;
    assert_eq!(post(&svc, "/v1/starter/jobs", json!({"job": 7})).await, 202);
    wait_for(Duration::from_secs(5), "the job done", || async {
        let jobs = get(&svc, "/v1/starter/jobs").await;
        (jobs == json!([{"job": 7}])).then_some(())
    })
    .await;
    let depth = svc.hydra().queue_depth("starter-service").await.unwrap();
    assert_eq!((depth.received, depth.in_progress), (0, 0));
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn a_config_pushed_to_redis_is_pulled_at_start() {
    let redis = RedisServer::start();
    // What `hydra-cli cfg push starter-service:0.1.0 FILE` stores.
    let mut stored = config(&redis).document;
    stored["greeting"] = json!("howdy");
    let pusher = registered_service(&redis, "test-client").await;
    pusher
        .put_config("starter-service:0.1.0", &stored)
        .await
        .unwrap();
    // A process started with HYDRA_SERVICE=starter-service:0.1.0 runs on it.
    let env = HashMap::from([
        (
            "HYDRA_SERVICE".to_string(),
            "starter-service:0.1.0".to_string(),
        ),
        ("HYDRA_REDIS_URL".to_string(), redis.url()),
    ]);
    let loader = ConfigLoader::new(starter_service::defaults())
        .no_default_file()
        .env(env);
    let svc = start(loader.load().await.unwrap()).await;
    let result = get(&svc, "/v1/starter/hello").await;
    assert!(
        result["msg"].as_str().unwrap().starts_with("howdy from"),
        "{result}"
    );
    pusher.shutdown().await.unwrap();
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn the_binary_refuses_a_greeting_that_is_not_text() {
    let redis = RedisServer::start();
    let doc = json!({"hydra": {"serviceName": "starter-service"}, "greeting": 42});
    let binary = env!("CARGO_BIN_EXE_starter-service");
    // Exit code 64, naming the setting and the value.
    assert_config_refused(binary, &doc, Some(&redis), &["greeting", "42"]).await;
}
