//! hello-service against a real Redis and a real HTTP client.

use std::process::Stdio;
use std::time::{Duration, Instant};

use hydra_core::{keys, Config, Hydra};
use hydra_service::RunningService;
use hydra_testkit::{
    assert_config_refused, service_config, service_document, wait_until, RedisServer,
};
use redis::AsyncCommands;
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;

fn config(redis: &RedisServer, extra: Value) -> Config {
    service_document(redis, hello_service::defaults(), &extra)
}

async fn start(redis: &RedisServer, extra: Value) -> RunningService {
    hello_service::service(config(redis, extra))
        .bind()
        .await
        .unwrap()
        .spawn()
        .await
        .unwrap()
}

#[tokio::test]
async fn routes_are_registered_in_node_form_and_announced() {
    let redis = RedisServer::start();
    let router = Hydra::connect(service_config(&redis, "hydra-router"))
        .await
        .unwrap();
    let mut inbox = router.messages();
    router.register_service().await.unwrap();

    let svc = start(&redis, json!({})).await;
    let mut r = redis.connection().await;
    let mut routes: Vec<String> = r.smembers(keys::routes("hello-service")).await.unwrap();
    routes.sort();
    assert_eq!(
        routes,
        [
            "[get]/hello-service",
            "[get]/hello-service/",
            "[get]/hello-service/:rest",
            "[get]/v1/hello/",
            "[get]/v1/hello/html",
            "[get]/v1/hello/image",
            "[get]/v1/hello/slow",
            "[get]/v1/hello/test",
            "[get]/v1/hello/test2",
            "[post]/v1/hello/post",
        ]
    );
    let refresh = tokio::time::timeout(Duration::from_secs(3), inbox.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(refresh.to, "hydra-router:/refresh");
    assert_eq!(refresh.body["serviceName"], "hello-service");
    // The advertised port is the one bound.
    let node: String = r
        .hget(keys::NODES, svc.hydra().instance_id())
        .await
        .unwrap();
    let node: Value = serde_json::from_str(&node).unwrap();
    assert_eq!(format!("http://127.0.0.1:{}", node["port"]), svc.base_url());
    svc.stop().await.unwrap();
    router.shutdown().await.unwrap();
}

#[tokio::test]
async fn answers_as_the_node_hello_service() {
    let redis = RedisServer::start();
    let svc = start(&redis, json!({})).await;
    let http = reqwest::Client::new();
    let id = svc.hydra().instance_id().to_string();
    for path in ["/v1/hello/", "/v1/hello/test", "/v1/hello/test2"] {
        let resp = http
            .get(format!("{}{path}", svc.base_url()))
            .header("x-hydra-tracer", "t123")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-hydra-tracer"], "t123");
        assert!(resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        assert_eq!(
            resp.headers()["x-powered-by"],
            format!("hello-service/{}", env!("CARGO_PKG_VERSION")).as_str()
        );
        let text = resp.text().await.unwrap();
        assert_eq!(
            text,
            format!(
                r#"{{"statusCode":200,"statusMessage":"OK","statusDescription":"Request succeeded without error","result":{{"msg":"hello from hello-service - {id}"}}}}"#
            )
        );
    }
    let resp = http
        .get(format!("{}/v1/hello/html", svc.base_url()))
        .send()
        .await
        .unwrap();
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(resp.text().await.unwrap().contains(&id));
    let resp = http
        .get(format!("{}/v1/hello/image", svc.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "image/png");
    let png = resp.bytes().await.unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&png[..], include_bytes!("../assets/hello.png"));

    let resp = http
        .post(format!("{}/v1/hello/post", svc.base_url()))
        .json(&json!({"a": 1, "b": "two"}))
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        v["result"],
        json!({"msg": "Post recieved", "a": 1, "b": "two"})
    );

    let t = Instant::now();
    let v: Value = http
        .get(format!("{}/v1/hello/slow?ms=200", svc.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(t.elapsed() >= Duration::from_millis(200));
    assert_eq!(v["result"]["delayMs"], 200);

    let health: Value = http
        .get(format!("{}/_health", svc.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(health["result"]["memory"]["rss"].as_u64().unwrap() > 0);
    assert_eq!(health["result"]["instanceID"], id.as_str());
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn bad_input_gets_node_shaped_errors() {
    let redis = RedisServer::start();
    let svc = start(&redis, json!({"bodyLimit": 1024})).await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/hello/post", svc.base_url());

    let resp = http
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"a\": 1,")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["statusMessage"], "Bad Request");
    assert!(
        v["result"]["reason"]
            .as_str()
            .unwrap()
            .contains("invalid JSON"),
        "{v}"
    );

    let big = json!({"a": "x".repeat(4096)});
    let resp = http.post(&url).json(&big).send().await.unwrap();
    assert_eq!(resp.status(), 413);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["statusMessage"], "Request Entity Too Large");

    // Chunked (no content-length) over the limit: 413 too.
    assert_eq!(
        chunked_post_status(&svc.base_url(), "/v1/hello/post", 4096).await,
        413
    );

    let resp = http.post(&url).body("a=1").send().await.unwrap();
    assert_eq!(resp.status(), 400);

    let resp = http
        .get(format!("{}/v1/nope", svc.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["statusCode"], 404);
    assert_eq!(v["result"]["reason"], "no route for GET /v1/nope");
    // The service keeps serving.
    assert_eq!(
        http.get(format!("{}/v1/hello/test", svc.base_url()))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    svc.stop().await.unwrap();
}

/// POSTs a JSON body of about `n` bytes with chunked transfer encoding; returns the status.
async fn chunked_post_status(base: &str, path: &str, n: usize) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!("POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    let body = format!("{{\"a\":\"{}\"}}", "x".repeat(n));
    for chunk in body.as_bytes().chunks(512) {
        let _ = s
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await;
        let _ = s.write_all(chunk).await;
        let _ = s.write_all(b"\r\n").await;
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    let text = String::from_utf8_lossy(&buf);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn sigterm_during_a_slow_request_drains_it_after_presence_is_gone() {
    let redis = RedisServer::start();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hello-service"))
        .env("HYDRA_REDIS_URL", redis.url())
        .env(
            "HYDRA_SERVICE",
            format!("serviceIP=127.0.0.1|servicePort={port}"),
        )
        // Each request is logged as it starts: the test sees when the slow one is in flight.
        .env("RUST_LOG", "hydra_service=debug")
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut log = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let (line_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(line)) = log.next_line().await {
            let _ = line_tx.send(line);
        }
    });
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_until(Duration::from_secs(10), "hello-service answers", || async {
        http.get(format!("{base}/v1/hello/test"))
            .send()
            .await
            .is_ok()
    })
    .await;
    let mut r = redis.connection().await;
    let ids: Vec<String> = r.keys("*:hello-service:*:presence").await.unwrap();
    assert_eq!(ids.len(), 1);
    let presence_key = ids[0].clone();
    // The port is advertised as configured: a string, as Node does.
    let id = presence_key.split(':').nth(3).unwrap().to_string();
    let node: String = r.hget(keys::NODES, &id).await.unwrap();
    assert!(node.contains(&format!(r#""port":"{port}""#)), "{node}");

    let slow = tokio::spawn({
        let http = http.clone();
        let url = format!("{base}/v1/hello/slow?ms=1500");
        async move { http.get(url).send().await.map(|r| r.status().as_u16()) }
    });
    tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(line) = lines.recv().await {
            if line.contains("/v1/hello/slow") {
                return;
            }
        }
    })
    .await
    .expect("the slow request reaches the service");
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());

    // Presence goes at once, while the slow request is still in flight.
    wait_until(
        Duration::from_millis(800),
        "presence withdrawn promptly",
        || {
            let mut r = r.clone();
            let key = presence_key.clone();
            async move { !r.exists::<_, bool>(&key).await.unwrap() }
        },
    )
    .await;
    assert!(
        !slow.is_finished(),
        "presence is gone before the in-flight request ends"
    );
    assert_eq!(
        slow.await.unwrap().unwrap(),
        200,
        "the in-flight request completes"
    );
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit 0 after draining: {status}");
}

#[tokio::test]
async fn config_file_and_bad_config() {
    let redis = RedisServer::start();
    let dir = std::env::temp_dir().join(format!("hello-cfg-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("config")).unwrap();
    std::fs::write(dir.join("config/config.json"), "{ not json").unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hello-service"))
        .env("HYDRA_REDIS_URL", redis.url())
        .current_dir(&dir)
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "bad config exits 64");
    assert!(String::from_utf8_lossy(&out.stderr).contains("config/config.json"));
    for bad in ["not a valid|thing", "=|="] {
        // An accepted value would start serving: the timeout turns that into a failure.
        let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_hello-service"))
            .env("HYDRA_SERVICE", bad)
            .env("HYDRA_REDIS_URL", redis.url())
            .current_dir(std::env::temp_dir())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(std::time::Duration::from_secs(10), run)
            .await
            .unwrap_or_else(|_| panic!("HYDRA_SERVICE={bad} was accepted"))
            .unwrap();
        assert_eq!(out.status.code(), Some(64), "HYDRA_SERVICE={bad}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("HYDRA_SERVICE"));
    }
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_bad_setting_exits_64_naming_it() {
    let redis = RedisServer::start();
    for (key, value) in [
        ("slowDelayMs", json!("3s")),
        ("responseDelayMs", json!(-1)),
        ("hydra.metricsPort", json!(70000)),
    ] {
        let mut doc = hello_service::defaults();
        match key.split_once('.') {
            Some((branch, name)) => doc[branch][name] = value.clone(),
            None => doc[key] = value.clone(),
        }
        let named = [key, &value.to_string()];
        assert_config_refused(
            env!("CARGO_BIN_EXE_hello-service"),
            &doc,
            Some(&redis),
            &named,
        )
        .await;
    }
}

#[tokio::test]
async fn response_delay_slows_the_hello_answers_only() {
    let redis = RedisServer::start();
    let mut config = config(&redis, json!({}));
    config.document["responseDelayMs"] = json!(400);
    let svc = hello_service::service(config)
        .bind()
        .await
        .unwrap()
        .spawn()
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let t = Instant::now();
    let resp = http
        .get(format!("{}/v1/hello/test", svc.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "the answer waits"
    );
    let v: Value = resp.json().await.unwrap();
    assert!(v["result"]["msg"]
        .as_str()
        .unwrap()
        .ends_with(svc.hydra().instance_id()));
    let t = Instant::now();
    let resp = http
        .get(format!("{}/v1/hello/html", svc.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        t.elapsed() < Duration::from_millis(400),
        "other routes do not"
    );
    svc.stop().await.unwrap();
}
