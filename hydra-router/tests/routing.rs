//! The router with real Redis, real Rust and Node services and a real HTTP client.

mod common;

use std::collections::HashSet;
use std::io::Read;
use std::time::{Duration, Instant};

use common::*;
use hydra_testkit::{NodeProcess, RedisServer};
use serde_json::{json, Value};

#[tokio::test]
async fn routes_to_rust_and_node_services_as_the_node_router() {
    let redis = RedisServer::start();
    let router = router(&redis, json!({})).await;
    let svc = hello(&redis).await;
    let node = NodeProcess::start(
        "express-service.js",
        &[
            ("HYDRA_REDIS_URL", &redis.url()),
            ("PEER_NAME", "node-express"),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    until_status(&http, &format!("{}/v1/node/hello", router.base), 200).await;

    let resp = http
        .get(format!("{}/v1/hello/test", router.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let tracer = resp.headers()["x-hydra-tracer"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(!tracer.is_empty());
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["statusMessage"], "OK");
    assert_eq!(
        v["result"]["msg"],
        format!("hello from hello-service - {}", svc.hydra().instance_id())
    );

    let v = get_json(&http, format!("{}/v1/node/hello", router.base)).await;
    assert_eq!(v["statusCode"], 200);
    assert_eq!(
        v["result"]["msg"],
        format!("hello from node-express - {}", node.instance_id())
    );
    let v: Value = http
        .post(format!("{}/v1/node/echo", router.base))
        .json(&json!({"k": [1, 2]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["result"]["body"], json!({"k": [1, 2]}));
    let v: Value = http
        .post(format!("{}/v1/hello/post", router.base))
        .json(&json!({"a": 1, "b": 2}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["result"], json!({"msg": "Post recieved", "a": 1, "b": 2}));

    // Non-JSON passes through byte for byte.
    let png = http
        .get(format!("{}/v1/hello/image", router.base))
        .send()
        .await
        .unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    assert_eq!(
        &png.bytes().await.unwrap()[..],
        include_bytes!("../../services/hello-service/assets/hello.png")
    );
    let html = get_text(&http, format!("{}/v1/hello/html", router.base)).await;
    assert!(html.contains(svc.hydra().instance_id()));

    // A service name as the first segment: routed with the segment stripped.
    let v = get_json(
        &http,
        format!("{}/hello-service/v1/hello/test", router.base),
    )
    .await;
    assert_eq!(v["statusCode"], 200);
    // Unknown: Node's 404 envelope.
    let resp = http
        .get(format!("{}/v9/nothing/here", router.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        v,
        json!({"statusCode": 404, "statusMessage": "Not Found", "statusDescription": "The requested resource was not found on the server", "result": {}})
    );
    // OPTIONS: 204.
    let resp = http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/v1/hello/test", router.base),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);

    // gzip when the client asks, for the rewritten JSON.
    let raw = reqwest::Client::builder().no_gzip().build().unwrap();
    let resp = raw
        .get(format!("{}/v1/hello/test", router.base))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let bytes = resp.bytes().await.unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .unwrap();
    assert!(text.contains("hello from hello-service"));
    svc.stop().await.unwrap();
    router.stop().await;
}

#[tokio::test]
async fn spreads_over_instances_and_finds_new_services_without_restart() {
    let redis = RedisServer::start();
    let router = router(&redis, json!({})).await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/hello/test", router.base);
    assert_eq!(http.get(&url).send().await.unwrap().status(), 404);
    // Started after the router: its refresh broadcast makes it routable.
    let a = hello(&redis).await;
    until_status(&http, &url, 200).await;
    let b = hello(&redis).await;
    let t = Instant::now();
    let mut seen = HashSet::new();
    while seen.len() < 2 {
        assert!(
            t.elapsed() < Duration::from_secs(8),
            "both instances answer"
        );
        let v: Value = http.get(&url).send().await.unwrap().json().await.unwrap();
        seen.insert(v["result"]["msg"].as_str().unwrap().to_string());
    }
    assert!(seen.contains(&format!(
        "hello from hello-service - {}",
        b.hydra().instance_id()
    )));
    a.stop().await.unwrap();
    b.stop().await.unwrap();
    router.stop().await;
}

#[tokio::test]
async fn slow_service_gets_504_and_big_body_413() {
    let redis = RedisServer::start();
    let router = router(&redis, json!({"requestTimeout": 1, "bodyLimit": 2048})).await;
    let _svc = hello(&redis).await;
    let http = reqwest::Client::new();
    until_status(&http, &format!("{}/v1/hello/test", router.base), 200).await;
    let t = Instant::now();
    let resp = http
        .get(format!("{}/v1/hello/slow?ms=3000", router.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 504);
    assert!(t.elapsed() < Duration::from_millis(2500));
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["statusCode"], 504);
    assert!(v["result"]["reason"]
        .as_str()
        .unwrap()
        .contains("hello-service"));
    assert!(v["tracer"].is_string());
    let resp = http
        .post(format!("{}/v1/hello/post", router.base))
        .json(&json!({"a": "x".repeat(5000)}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let resp = http
        .post(format!("{}/v1/hello/post", router.base))
        .header("content-encoding", "gzip")
        .body("not gzip at all")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    // The router's own answers are counted too.
    let metrics = get_text(&http, format!("{}/metrics", router.base)).await;
    for status in [504, 413, 400] {
        let line = format!(
            "hydra_router_requests_total{{service=\"hello-service\",status=\"{status}\"}} 1"
        );
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }
    // Others are unaffected.
    assert_eq!(
        http.get(format!("{}/v1/hello/test", router.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn sigkilled_instance_causes_no_failed_gets() {
    let redis = RedisServer::start();
    let router = router(&redis, json!({})).await;
    let mut victim = hello_process(&redis);
    let _survivor = hello_process(&redis);
    let http = reqwest::Client::new();
    let url = format!("{}/v1/hello/test", router.base);
    // Both are routable.
    let t = Instant::now();
    let mut seen = HashSet::new();
    while seen.len() < 2 {
        assert!(t.elapsed() < Duration::from_secs(10), "both instances up");
        if let Ok(r) = http.get(&url).send().await {
            if r.status() == 200 {
                let v: Value = r.json().await.unwrap();
                seen.insert(v["result"]["msg"].as_str().unwrap().to_string());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    victim.start_kill().unwrap();
    let _ = victim.wait().await;
    let mut failed = 0;
    let mut sent = 0;
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(4) {
        sent += 1;
        let ok = http.get(&url).send().await.is_ok_and(|r| r.status() == 200);
        if !ok {
            failed += 1;
        }
    }
    assert!(sent > 50, "sent {sent}");
    assert_eq!(
        failed, 0,
        "{failed} of {sent} GETs failed after the SIGKILL"
    );
    // /metrics shows what happened: the killed instance was ejected (it refused a connection,
    // or dropped one it had kept), requests went on to the other one, and both have answered.
    let metrics = get_text(&http, format!("{}/metrics", router.base)).await;
    let counted = |prefix: &str, also: &str| {
        metrics
            .lines()
            .filter(|l| l.starts_with(prefix) && l.contains(also) && !l.ends_with(" 0"))
            .count()
    };
    let service = "{service=\"hello-service\"";
    let ejected: HashSet<&str> = metrics
        .lines()
        .filter(|l| l.starts_with(&format!("hydra_router_ejections_total{service}")))
        .filter(|l| !l.ends_with(" 0"))
        .filter_map(|l| l.split("instance_id=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(ejected.len(), 1, "one instance ejected: {metrics}");
    assert!(
        counted(&format!("hydra_router_retries_total{service}"), "") >= 1,
        "requests sent again to the other instance: {metrics}"
    );
    assert_eq!(
        counted(
            &format!("hydra_router_instance_request_duration_seconds_count{service}"),
            ""
        ),
        2,
        "both instances' latency: {metrics}"
    );
    router.stop().await;
}

#[tokio::test]
async fn admin_endpoints_need_the_token_not_a_host_header() {
    let redis = RedisServer::start();
    let router = router(&redis, json!({"routerToken": "s3cret"})).await;
    let _svc = hello(&redis).await;
    let http = reqwest::Client::new();
    until_status(&http, &format!("{}/v1/hello/test", router.base), 200).await;
    let list = format!("{}/v1/router/list/routes", router.base);
    // Node's hole: Host: localhost was enough. Not here.
    let resp = http
        .get(&list)
        .header("host", "localhost")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(
        http.get(format!("{list}?token=wrong"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let v = get_json(&http, format!("{list}?token=s3cret")).await;
    let services: Vec<&str> = v["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["serviceName"].as_str().unwrap())
        .collect();
    assert!(services.contains(&"hello-service"), "{v}");
    let resp = http
        .get(format!("{}/v1/router/stats", router.base))
        .header("x-router-token", "s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = http
        .get(format!("{}/v1/router/list/nodes", router.base))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["instanceID"], router.hydra.instance_id());
    // Node's list/services: one entry per present instance, presence and health merged, with
    // its newest log entries.
    let v = get_json(
        &http,
        format!("{}/v1/router/list/services?token=s3cret", router.base),
    )
    .await;
    let hello: Vec<&Value> = v["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["serviceName"] == "hello-service")
        .collect();
    assert_eq!(hello.len(), 1, "{v}");
    assert!(
        hello[0]["instanceID"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{v}"
    );
    assert!(hello[0]["port"].as_u64().is_some_and(|p| p > 0), "{v}");
    assert!(hello[0]["log"].is_array(), "{v}");
    // Health and version stay public.
    let v = get_json(&http, format!("{}/v1/router/health", router.base)).await;
    assert_eq!(v["result"]["serviceName"], "hydra-router");
    assert!(v["result"]["memory"]["rss"].as_u64().unwrap() > 0);
    let v = get_json(&http, format!("{}/v1/router/version", router.base)).await;
    assert_eq!(v["result"]["version"], env!("CARGO_PKG_VERSION"));
    // Dashboard and metrics behind the token too.
    assert_eq!(
        http.get(format!("{}/", router.base))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let page = get_text(&http, format!("{}/?token=s3cret", router.base)).await;
    assert!(page.contains("hydra-router"));
    let metrics = get_text(&http, format!("{}/metrics?token=s3cret", router.base)).await;
    assert!(
        metrics.contains("hydra_router_requests_total{service=\"hello-service\",status=\"200\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn message_send_queue_and_stream_endpoints() {
    let redis = RedisServer::start();
    let router = router(&redis, json!({})).await;
    let svc = hello(&redis).await;
    let mut inbox = svc.hydra().messages();
    let http = reqwest::Client::new();
    until_status(&http, &format!("{}/v1/hello/test", router.base), 200).await;
    let umf = json!({"to": "hello-service:/", "frm": "tester:/", "bdy": {"hi": 1}});
    let v: Value = http
        .post(format!("{}/v1/router/send", router.base))
        .json(&umf)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mid = v["result"]["mid"].as_str().unwrap().to_string();
    let got = tokio::time::timeout(Duration::from_secs(3), inbox.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.mid, mid);
    let v: Value = http
        .post(format!("{}/v1/router/queue", router.base))
        .json(&umf)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v["result"]["mid"].is_string());
    assert_eq!(
        svc.hydra()
            .queue_depth("hello-service")
            .await
            .unwrap()
            .received,
        1
    );
    let v: Value = http
        .post(format!("{}/v1/router/stream/events", router.base))
        .json(&umf)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v["result"]["id"].as_str().unwrap().contains('-'));
    let v: Value = http
        .post(format!("{}/v1/router/message", router.base))
        .json(&json!({"to": "hydra-router:/", "frm": "tester:/", "fwd": "hello-service:[get]/v1/hello/test", "bdy": {}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v["result"]["msg"]
        .as_str()
        .unwrap()
        .starts_with("hello from hello-service"));
    let resp = http
        .post(format!("{}/v1/router/send", router.base))
        .body("not umf")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = http
        .get(format!("{}/v1/router/clear", router.base))
        .send()
        .await;
    assert!(resp.is_ok());
}

#[tokio::test]
async fn steady_state_refresh_never_walks_the_keyspace() {
    let redis = RedisServer::start();
    let router = router(&redis, json!({"routeRefreshSeconds": 1})).await;
    let _svc = hello(&redis).await;
    let http = reqwest::Client::new();
    until_status(&http, &format!("{}/v1/hello/test", router.base), 200).await;
    let stat = |cmd: &str| redis.command_stat(cmd, "calls");
    assert!(redis
        .raw_command(&["CONFIG", "RESETSTAT"])
        .starts_with("+OK"));
    // A window of refreshes: presence every second, routes every second here.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(
        stat("hgetall") >= 3,
        "the refreshes ran: {}",
        stat("hgetall")
    );
    assert!(stat("smembers") >= 2, "routes were reloaded");
    assert_eq!(stat("scan"), 0, "SCAN in steady state");
    assert_eq!(stat("keys"), 0, "KEYS in steady state");
    router.stop().await;
}

/// A service instance answered by hand, on `port` of 127.0.0.1: every request gets a small JSON
/// answer; with `close_after_answer` the connection is then closed without a word (no
/// `Connection: close`), as by a service with a very short keep-alive. Counts the connections
/// it accepts.
async fn hand_made_instance(
    listener: tokio::net::TcpListener,
    close_after_answer: bool,
) -> std::sync::Arc<std::sync::atomic::AtomicUsize> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        let body = r#"{"result":{"ok":true}}"#;
                        let answer = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if sock.write_all(answer.as_bytes()).await.is_err() || close_after_answer {
                            return;
                        }
                    }
                }
            });
        }
    });
    accepted
}

/// Registers `name` at `port` with one route, `[get]/v1/{name}/x`.
async fn register_at(redis: &RedisServer, name: &str, port: u16) -> hydra_core::Hydra {
    let mut config = hydra_testkit::service_config(redis, name);
    config.service_port = hydra_core::ServicePort::Fixed(port);
    let h = hydra_core::Hydra::connect(config).await.unwrap();
    h.register_service().await.unwrap();
    h.register_routes(&[format!("[get]/v1/{name}/x")])
        .await
        .unwrap();
    h
}

#[tokio::test]
async fn connections_to_instances_are_kept_and_a_closed_one_fails_no_request() {
    let redis = RedisServer::start();
    let router = router(&redis, json!({})).await;
    let http = reqwest::Client::new();

    // Kept: a hundred requests one after another open a connection per server thread at most.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = hand_made_instance(listener, false).await;
    let _kept = register_at(&redis, "kept", port).await;
    let url = format!("{}/v1/kept/x", router.base);
    until_status(&http, &url, 200).await;
    for _ in 0..100 {
        assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    }
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let opened = accepted.load(std::sync::atomic::Ordering::SeqCst);
    assert!(opened <= threads, "{opened} connections for 100 requests");

    // Closed after every answer: each request finds its idle connection gone and opens another;
    // none fails and the instance is never left out.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = hand_made_instance(listener, true).await;
    let closing = register_at(&redis, "closing", port).await;
    let url = format!("{}/v1/closing/x", router.base);
    until_status(&http, &url, 200).await;
    let before = accepted.load(std::sync::atomic::Ordering::SeqCst);
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    }
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst) - before,
        30
    );
    assert!(pool_ids(&router, "closing").contains(closing.instance_id()));
    router.stop().await;
}
