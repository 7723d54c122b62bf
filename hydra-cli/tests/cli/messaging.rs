//! `message create|send|queue`, `queue depth` and `rest`.

use std::time::Duration;

use axum::routing::{get, post};
use axum::{Json, Router};
use hydra_core::{Hydra, Umf};
use hydra_testkit::{registered_service, service_config, RedisServer};
use serde_json::{json, Value};

use crate::common::{closed_port_url, Cli};

#[tokio::test]
async fn message_create_prints_a_template_without_redis() {
    let cli = Cli::bare();
    let run = cli
        .run(&["--redis-url", &closed_port_url(), "message", "create"])
        .await;
    let v = run.json();
    assert_eq!(v["to"], "{serviceName here}:/");
    assert_eq!(v["from"], "hydra-cli:/");
    assert_eq!(v["version"], "UMF/1.4.6");
    assert_eq!(v["body"], json!({}));
    assert_eq!(v["mid"].as_str().unwrap().len(), 36);
    // The template, once edited, is a message `message send` accepts.
    let msg = Umf::from_value(&v).unwrap();
    assert!(msg.validate().is_ok());
}

async fn next_body(inbox: &mut hydra_core::Messages) -> Umf {
    tokio::time::timeout(Duration::from_secs(3), inbox.recv())
        .await
        .expect("message in time")
        .expect("inbox open")
}

#[tokio::test]
async fn message_send_reaches_an_instance() {
    let redis = RedisServer::start();
    let svc = Hydra::connect(service_config(&redis, "inbox-svc"))
        .await
        .unwrap();
    let mut inbox = svc.messages();
    svc.register_service().await.unwrap();
    let cli = Cli::new(&redis);

    // Short field names, no `from`: a random (the only) instance gets it from hydra-cli.
    let file = cli.write(
        "msg.json",
        r#"{"to": "inbox-svc:/", "typ": "note", "bdy": {"n": 1}}"#,
    );
    let run = cli.run(&["message", "send", file.to_str().unwrap()]).await;
    assert!(run.ok().starts_with("Sent message "), "{run:#?}");
    let got = next_body(&mut inbox).await;
    assert_eq!(got.body, json!({"n": 1}));
    assert_eq!(got.from, "hydra-cli:/");
    assert_eq!(got.typ.as_deref(), Some("note"));

    // Long names, to a named instance, JSON output.
    let to = format!("{}@inbox-svc:/", svc.instance_id());
    let file = cli.write(
        "direct.json",
        &json!({"to": to, "from": "tester:/", "body": {"n": 2}}).to_string(),
    );
    let v = cli
        .run(&["--json", "message", "send", file.to_str().unwrap()])
        .await
        .json();
    assert_eq!(v["sent"], true);
    let got = next_body(&mut inbox).await;
    assert_eq!(got.body, json!({"n": 2}));
    assert_eq!(got.mid, v["mid"].as_str().unwrap());

    let run = cli
        .run(&["message", "send", "--broadcast", file.to_str().unwrap()])
        .await;
    assert!(run.ok().starts_with("Broadcast message"), "{run:#?}");
    assert_eq!(next_body(&mut inbox).await.body, json!({"n": 2}));

    // Nobody there.
    let file = cli.write("nobody.json", r#"{"to": "ghost-svc:/", "body": {}}"#);
    cli.run(&["message", "send", file.to_str().unwrap()])
        .await
        .fails(1, "Unavailable ghost-svc instances");
    let file = cli.write(
        "gone.json",
        r#"{"to": "00000000000000000000000000000000@inbox-svc:/", "body": {}}"#,
    );
    cli.run(&["message", "send", file.to_str().unwrap()])
        .await
        .fails(
            1,
            "Unavailable inbox-svc instance named 00000000000000000000000000000000",
        );
    let file = cli.write("nobody.json", r#"{"to": "inbox-svc:/"}"#);
    cli.run(&["message", "send", file.to_str().unwrap()])
        .await
        .fails(1, "no \"body\"");
    svc.shutdown().await.unwrap();
}

#[tokio::test]
async fn queued_messages_show_in_queue_depth() {
    let redis = RedisServer::start();
    let cli = Cli::new(&redis);
    let file = cli.write(
        "job.json",
        r#"{"to": "worker-svc:/", "from": "me:/", "body": {"job": 1}}"#,
    );
    for _ in 0..2 {
        let run = cli.run(&["message", "queue", file.to_str().unwrap()]).await;
        assert!(run.ok().starts_with("Queued message"), "{run:#?}");
    }
    let run = cli.run(&["queue", "depth", "worker-svc"]).await;
    let text = run.ok();
    assert!(text.starts_with("SERVICE"), "{text}");
    let row: Vec<&str> = text.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row, ["worker-svc", "2", "0", "0"]);

    // A worker takes one: it moves to in progress.
    let worker = Hydra::connect(service_config(&redis, "worker-svc"))
        .await
        .unwrap();
    let taken = worker
        .take_queued_message("worker-svc")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.message.body, json!({"job": 1}));
    let v = cli
        .run(&["--json", "queue", "depth", "worker-svc"])
        .await
        .json();
    assert_eq!(
        v,
        json!({"service": "worker-svc", "received": 1, "inProgress": 1, "incomplete": 0})
    );
    let bad = cli.write("bad.json", "{");
    cli.run(&["message", "queue", bad.to_str().unwrap()])
        .await
        .fails(1, "is not valid JSON");
}

/// A tiny HTTP service registered as `name`, advertising its real port.
async fn http_service(redis: &RedisServer, name: &str) -> Hydra {
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
            "/v1/hello",
            get(move |headers: axum::http::HeaderMap| async move {
                let trace = headers
                    .get("x-trace")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                Json(json!({"result": {"msg": format!("hello from {id}"), "trace": trace}}))
            }),
        )
        .route(
            "/v1/echo",
            post(|Json(v): Json<Value>| async move { Json(json!({"result": {"got": v}})) }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    h.register_service().await.unwrap();
    h.register_routes(&["[get]/v1/hello", "[post]/v1/echo"])
        .await
        .unwrap();
    h
}

#[tokio::test]
async fn rest_calls_a_registered_http_service() {
    let redis = RedisServer::start();
    let web = http_service(&redis, "web-svc").await;
    let cli = Cli::new(&redis);

    let v = cli
        .run(&["rest", "web-svc:[get]/v1/hello", "-H", "x-trace: abc"])
        .await
        .json();
    assert_eq!(v["statusCode"], 200);
    assert_eq!(v["statusMessage"], "OK");
    assert_eq!(
        v["result"],
        json!({"msg": format!("hello from {}", web.instance_id()), "trace": "abc"})
    );

    let body = cli.write("body.json", r#"{"a": [1, 2], "b": "x"}"#);
    let v = cli
        .run(&["rest", "web-svc:[post]/v1/echo", body.to_str().unwrap()])
        .await
        .json();
    assert_eq!(v["result"]["got"], json!({"a": [1, 2], "b": "x"}));

    // A named instance.
    let path = format!("{}@web-svc:[get]/v1/hello", web.instance_id());
    assert_eq!(cli.run(&["rest", &path]).await.json()["statusCode"], 200);

    // An error status: the envelope on stdout, exit 1.
    let run = cli.run(&["rest", "web-svc:[get]/v1/missing"]).await;
    run.fails(1, "answered HTTP 404");
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["statusCode"], 404);

    let run = cli.run(&["rest", "ghost-svc:[get]/v1/x"]).await;
    run.fails(1, "Unavailable ghost-svc instances");
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["statusCode"], 503);

    cli.run(&["rest", "web-svc:/v1/hello"])
        .await
        .fails(1, "has no HTTP method");
    cli.run(&["rest", "web-svc:[get]/v1/hello", body.to_str().unwrap()])
        .await
        .fails(1, "only sent with post, put and patch");
    cli.run(&["rest", "web-svc:[post]/v1/echo", "missing.json"])
        .await
        .fails(1, "cannot read missing.json");
    web.shutdown().await.unwrap();
}

#[tokio::test]
async fn services_of_a_rust_process_are_found_by_name_only_once_registered() {
    // A connected but unregistered client (like hydra-cli itself) is not a service.
    let redis = RedisServer::start();
    let _client = Hydra::connect(service_config(&redis, "quiet-svc"))
        .await
        .unwrap();
    let cli = Cli::new(&redis);
    cli.run(&["services", "quiet-svc"])
        .await
        .fails(1, "unknown service quiet-svc");
    let _svc = registered_service(&redis, "quiet-svc").await;
    cli.run(&["services", "quiet-svc"]).await.ok();
}
