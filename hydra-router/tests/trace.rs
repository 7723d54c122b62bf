//! W3C trace context and OTLP export end to end, with the real binaries (the `OTEL_*` variables
//! are process-wide, so every traced party is a process of its own) and a receiver that decodes
//! the exports (protobuf and JSON).

mod common;

use std::time::Duration;

use common::{until_status, workspace_binary};
use hydra_testkit::{wait_for, OtlpReceiver, ReceivedSpan, RedisServer};
use serde_json::{json, Value};

/// Starts `bin` on `redis` with `hydra` merged into its config (`HYDRA_SERVICE`) and `env`.
fn spawn(
    bin: &std::path::Path,
    redis: &RedisServer,
    hydra: Value,
    env: &[(&str, String)],
) -> tokio::process::Child {
    let mut cmd = tokio::process::Command::new(bin);
    cmd.env("HYDRA_REDIS_URL", redis.url())
        .env("HYDRA_SERVICE", hydra.to_string())
        .env("RUST_LOG", "info")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env_remove("OTEL_SERVICE_NAME")
        .current_dir(std::env::temp_dir())
        .stdout(std::process::Stdio::null())
        .stderr(if std::env::var_os("TRACE_TEST_LOGS").is_some() {
            std::process::Stdio::inherit()
        } else {
            std::process::Stdio::null()
        })
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

fn export_env(receiver: &OtlpReceiver, protocol: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_string()),
        ("OTEL_BSP_SCHEDULE_DELAY", "50".to_string()),
    ]
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

fn router_settings() -> Value {
    json!({"serviceName": "hydra-router", "serviceIP": "127.0.0.1", "servicePort": hydra_testkit::free_port()})
}

fn base_url(settings: &Value) -> String {
    format!("http://127.0.0.1:{}", settings["servicePort"])
}

/// hello-service (with `hello_env`) behind the router (with `router_env`), both processes of
/// their own; the URL of `/v1/hello/test` through the router, once it answers.
async fn hello_behind_router(
    redis: &RedisServer,
    hello_env: &[(&str, String)],
    router_env: &[(&str, String)],
) -> (Vec<tokio::process::Child>, String) {
    let hello = spawn(
        &workspace_binary("hello-service", "hello-service"),
        redis,
        json!({"serviceIP": "127.0.0.1", "servicePort": 0, "metricsPort": 0}),
        hello_env,
    );
    let settings = router_settings();
    let router = spawn(
        std::path::Path::new(env!("CARGO_BIN_EXE_hydra-router")),
        redis,
        settings.clone(),
        router_env,
    );
    let url = format!("{}/v1/hello/test", base_url(&settings));
    until_status(&reqwest::Client::new(), &url, 200).await;
    (vec![hello, router], url)
}

/// The span of `trace` sent by `service` named `name`, once it arrived.
async fn span_of(receiver: &OtlpReceiver, trace: &str, service: &str, name: &str) -> ReceivedSpan {
    wait_for(
        Duration::from_secs(10),
        &format!("{service}'s span {name:?} in trace {trace}"),
        || async {
            receiver
                .trace(trace)
                .into_iter()
                .find(|s| s.service == service && s.name == name)
        },
    )
    .await
}

/// A request with a client `traceparent` through the router to hello-service: the router's span
/// is the client span's child, hello-service's the router span's child, all in one trace.
async fn router_and_service_share_the_trace(protocol: &str, content_type: &str, rust_log: &str) {
    let redis = RedisServer::start();
    let receiver = OtlpReceiver::start().await;
    let mut env = export_env(&receiver, protocol);
    env.push(("RUST_LOG", rust_log.to_string()));
    let mut router_env = env.clone();
    router_env.push(("OTEL_SERVICE_NAME", "edge".to_string()));
    let (_children, url) = hello_behind_router(&redis, &env, &router_env).await;
    let http = reqwest::Client::new();

    let (trace, client_span) = (random_hex(16), random_hex(8));
    let resp = http
        .get(&url)
        .header("traceparent", format!("00-{trace}-{client_span}-01"))
        .header("tracestate", "vendor=opaque")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let router = span_of(&receiver, &trace, "edge", "GET hello-service").await;
    assert_eq!(router.parent_span_id, client_span);
    let service = span_of(&receiver, &trace, "hello-service", "GET /v1/hello/test").await;
    assert_eq!(service.parent_span_id, router.span_id);
    assert!(router.content_type.starts_with(content_type), "{router:?}");
    assert!(
        service.content_type.starts_with(content_type),
        "{service:?}"
    );
    assert!(receiver.errors().is_empty(), "{:?}", receiver.errors());

    // A request with an invalid traceparent starts a trace of its own at the router.
    let before = receiver.spans().len();
    let resp = http
        .get(&url)
        .header("traceparent", format!("00-{trace}-{}-01", "0".repeat(16)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let fresh = wait_for(Duration::from_secs(10), "a new trace", || async {
        receiver.spans()[before..]
            .iter()
            .find(|s| s.service == "edge")
            .cloned()
    })
    .await;
    assert_ne!(fresh.trace_id, trace);
    assert_eq!(fresh.parent_span_id, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_trace_over_http_protobuf() {
    router_and_service_share_the_trace("http/protobuf", "application/x-protobuf", "info").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_trace_over_http_json_whatever_rust_log_says() {
    // RUST_LOG quiets the logs, not the traces.
    router_and_service_share_the_trace("http/json", "application/json", "warn").await;
}

/// A hot potato game started through the router with a `traceparent`: the router, the player
/// that started the game and every player's turn with the potato (UMF messages between
/// processes) are in that one trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_potato_game_is_one_trace() {
    let redis = RedisServer::start();
    let receiver = OtlpReceiver::start().await;
    let env = export_env(&receiver, "http/protobuf");
    let hpp = workspace_binary("hpp-service", "hpp-service");
    let players: Vec<_> = (0..3)
        .map(|_| {
            spawn(
                &hpp,
                &redis,
                json!({"serviceIP": "127.0.0.1", "servicePort": 0, "metricsPort": 0,
                    "countdownMs": 200, "gameLengthMs": 1500, "passDelayMinMs": 100,
                    "passDelayMaxMs": 200, "lostTimeoutMs": 3000}),
                &env,
            )
        })
        .collect();
    let settings = router_settings();
    let _router = spawn(
        std::path::Path::new(env!("CARGO_BIN_EXE_hydra-router")),
        &redis,
        settings.clone(),
        &env,
    );
    let http = reqwest::Client::new();
    let mut conn = redis.connection().await;
    wait_for(Duration::from_secs(10), "3 players present", || {
        let mut conn = conn.clone();
        async move {
            let keys: Vec<String> = redis::AsyncCommands::keys(&mut conn, "*hpp-service*presence")
                .await
                .ok()?;
            (keys.len() == 3).then_some(())
        }
    })
    .await;
    let _ = &mut conn;
    // Until the router routes to the players: each attempt a trace of its own.
    let url = format!("{}/v1/hpp/startgame", base_url(&settings));
    let (trace, client_span, resp) = wait_for(Duration::from_secs(20), "a game", || async {
        let (trace, client_span) = (random_hex(16), random_hex(8));
        let resp = http
            .get(&url)
            .header("traceparent", format!("00-{trace}-{client_span}-01"))
            .timeout(Duration::from_secs(15))
            .send()
            .await
            .ok()?;
        (resp.status() == 200).then_some((trace, client_span, resp))
    })
    .await;
    let envelope: Value = resp.json().await.unwrap();
    let log = envelope["result"].to_string();
    let turns = log.matches("received hot potato").count();
    assert!(turns >= 1, "{log}");

    let router = span_of(&receiver, &trace, "hydra-router", "GET hpp-service").await;
    assert_eq!(router.parent_span_id, client_span);
    let request = span_of(&receiver, &trace, "hpp-service", "GET /v1/hpp/startgame").await;
    assert_eq!(request.parent_span_id, router.span_id);
    let game = span_of(&receiver, &trace, "hpp-service", "game").await;
    assert_eq!(game.parent_span_id, request.span_id);
    let potatoes = wait_for(Duration::from_secs(10), "every turn's span", || async {
        let spans: Vec<ReceivedSpan> = receiver
            .trace(&trace)
            .into_iter()
            .filter(|s| s.name == "potato")
            .collect();
        (spans.len() >= turns).then_some(spans)
    })
    .await;
    // Each turn continues the span that sent the potato: the game, or the previous turn.
    let ids: Vec<&str> = potatoes.iter().map(|s| s.span_id.as_str()).collect();
    for turn in &potatoes {
        assert!(
            turn.parent_span_id == game.span_id || ids.contains(&turn.parent_span_id.as_str()),
            "{turn:?} in {potatoes:?}"
        );
    }
    drop(players);
}

/// Without an endpoint (or with `OTEL_SDK_DISABLED=true`) nothing is exported: a receiver on
/// the standard OTLP/HTTP port (where an SDK sends by default) and one named by a disabled
/// setup hear nothing while traced requests pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_exported_without_an_endpoint() {
    let redis = RedisServer::start();
    let default_port = OtlpReceiver::start_on(4318).await;
    let named = OtlpReceiver::start().await;
    let other = vec![
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json".to_string()),
        ("OTEL_SERVICE_NAME", "quiet".to_string()),
        ("OTEL_BSP_SCHEDULE_DELAY", "50".to_string()),
    ];
    let mut disabled = export_env(&named, "http/protobuf");
    disabled.push(("OTEL_SDK_DISABLED", "true".to_string()));
    let (_children, url) = hello_behind_router(&redis, &disabled, &other).await;
    let http = reqwest::Client::new();
    for _ in 0..20 {
        let resp = http
            .get(&url)
            .header(
                "traceparent",
                format!("00-{}-{}-01", random_hex(16), random_hex(8)),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(named.requests(), 0);
    if let Some(default_port) = default_port {
        assert_eq!(default_port.requests(), 0);
    }
}
