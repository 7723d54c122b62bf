//! Hostile input: slow and oversized request heads, odd paths, WebSocket floods, garbage in Redis.
//! Each is refused or skipped and the router keeps serving.

mod common;

use std::time::{Duration, Instant};

use common::*;
use hydra_core::keys;
use hydra_testkit::RedisServer;
use redis::AsyncCommands;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The router binary on a free port with `extra` config keys and `RUST_LOG=level`, its output
/// in files of a directory of its own (`name`): the child, its base URL and that directory.
fn router_process(
    redis: &RedisServer,
    name: &str,
    level: &str,
    extra: Value,
) -> (tokio::process::Child, String, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("hydra-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = hydra_testkit::free_port();
    let mut config = json!({
        "hydra": {"serviceName": "hydra-router", "serviceIP": "127.0.0.1", "servicePort": port}
    });
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    let path = dir.join("router.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hydra-router"))
        .arg("--config")
        .arg(&path)
        .env("HYDRA_REDIS_URL", redis.url())
        .env("RUST_LOG", level)
        .current_dir(&dir)
        .stdout(std::fs::File::create(dir.join("router.log")).unwrap())
        .stderr(std::fs::File::create(dir.join("router.err")).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    (child, format!("http://127.0.0.1:{port}"), dir)
}

/// Everything a [`router_process`] wrote.
fn router_output(dir: &std::path::Path) -> String {
    std::fs::read_to_string(dir.join("router.log")).unwrap_or_default()
        + &std::fs::read_to_string(dir.join("router.err")).unwrap_or_default()
}

async fn raw_request(base: &str, bytes: &[u8]) -> String {
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(bytes).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test]
async fn slow_and_oversized_heads_and_odd_paths() {
    let redis = RedisServer::start();
    let router = router(&redis, json!({"headerReadTimeout": 1})).await;
    let _svc = hello(&redis).await;
    let http = reqwest::Client::new();
    let ok = format!("{}/v1/hello/test", router.base);
    until_status(&http, &ok, 200).await;

    // Slowloris: half a request head, then silence. The router hangs up.
    let addr = router.base.trim_start_matches("http://").to_string();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /v1/hello/test HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let t = Instant::now();
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(5), slow.read(&mut buf))
        .await
        .expect("closed in time")
        .unwrap_or(0);
    let _ = n;
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "slow client dropped after the header timeout"
    );

    // A 200 KB header: refused (431) without harm.
    let big = format!(
        "GET /v1/hello/test HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(200 * 1024)
    );
    let answer = raw_request(&router.base, big.as_bytes()).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{}",
        &answer[..answer.len().min(80)]
    );

    // Odd paths: not found, never a file, never a crash.
    for path in [
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/%ff%fe%00",
        "/v1/router/../../etc/passwd",
        "//hello-service//x",
    ] {
        let resp = http
            .get(format!("{}{path}", router.base))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_client_error(), "{path}: {}", resp.status());
        let text = resp.text().await.unwrap();
        assert!(!text.contains("root:"), "{path}");
    }
    // Raw bytes that are not a valid request line.
    let answer = raw_request(&router.base, b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );
    // Request targets that are not paths (found by fuzzing: `*` with a referer naming a
    // service was forwarded, an authority-form target reached the dashboard).
    for target in ["*", "hello-service", "localhost:80"] {
        let head = format!(
            "GET {target} HTTP/1.1\r\nHost: x\r\nReferer: http://h/hello-service/\r\nConnection: close\r\n\r\n"
        );
        let answer = raw_request(&router.base, head.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{target}: {answer}");
    }
    let answer = raw_request(&router.base, b"\x16\x03\x01garbage\r\n\r\n").await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );

    assert_eq!(
        http.get(&ok).send().await.unwrap().status(),
        200,
        "still serving"
    );
}

#[tokio::test]
async fn garbage_in_redis_is_skipped() {
    let redis = RedisServer::start();
    let router = router(&redis, json!({})).await;
    let _svc = hello(&redis).await;
    let http = reqwest::Client::new();
    let ok = format!("{}/v1/hello/test", router.base);
    until_status(&http, &ok, 200).await;
    let mut r = redis_conn(&redis).await;
    // A present instance whose nodes entry is not JSON; routes that are not paths; junk messages.
    let _: () = r.hset(keys::NODES, "junkid", "{not json").await.unwrap();
    let _: () = r
        .set_ex(keys::presence("hello-service", "junkid"), "junkid", 60)
        .await
        .unwrap();
    let _: () = r
        .sadd(
            keys::routes("junk-service"),
            &["no-slash", "[get", "[post]", "[get]/ok/:id"],
        )
        .await
        .unwrap();
    for junk in [
        "",
        "not json",
        "[]",
        "{\"bdy\":{\"action\":\"refresh\"}}",
        &"x".repeat(1 << 20),
    ] {
        let _: i64 = r
            .publish(keys::broadcast_channel("hydra-router"), junk)
            .await
            .unwrap();
    }
    // The refresh message is read after a megabyte of junk: wait for it to be handled. Pub/sub
    // keeps nothing for a subscriber that is reconnecting, so it is sent again while waiting (a
    // subscription that Redis closed at its output-buffer limit once lost it here; the
    // subscriber now reads its socket into a queue of its own, `subscription_load.rs` holds one
    // through a burst, and this test is about the junk, not the subscription).
    let refresh_junk = r#"{"to":"hydra-router:/","frm":"x:/","bdy":{"action":"refresh","serviceName":"junk-service"}}"#;
    let junk = hydra_testkit::wait_for(Duration::from_secs(10), "junk-service listed", || async {
        let _: i64 = redis_conn(&redis)
            .await
            .publish(keys::broadcast_channel("hydra-router"), refresh_junk)
            .await
            .unwrap();
        let v = refresh_and_list_routes(&http, &router.base, &ok, 20).await;
        v["result"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["serviceName"] == "junk-service")
            .cloned()
    })
    .await;
    assert_eq!(
        junk["routes"],
        json!(["[get]/ok/:id"]),
        "only the usable pattern is kept"
    );
}

#[tokio::test]
async fn a_routes_key_of_the_wrong_type_spoils_only_its_own_service() {
    // Any Redis writer can leave a string where a service's route set belongs. The full reload
    // must skip that key, not fail: the router starts and serves the others, routes of services
    // registered afterwards arrive, and a refresh keeps them.
    let redis = RedisServer::start();
    let mut r = redis_conn(&redis).await;
    // A service that registered (its nodes entry is there) and whose route set was overwritten.
    nodes_entry(&mut r, "poison", "poisonid", "127.0.0.1:1").await;
    let _: () = r.set(keys::routes("poison"), "not a set").await.unwrap();
    let router = router(&redis, json!({})).await;
    let _svc = hello(&redis).await;
    let http = reqwest::Client::new();
    let ok = format!("{}/v1/hello/test", router.base);
    until_status(&http, &ok, 200).await;
    // Routes that only a full reload picks up (no refresh message named them) of a service that
    // has a nodes entry: the reload reads the route sets of the services in the nodes hash.
    nodes_entry(&mut r, "later-service", "laterid", "127.0.0.1:1").await;
    let _: () = r
        .sadd(keys::routes("later-service"), "[get]/v1/later/test")
        .await
        .unwrap();
    let v = refresh_and_list_routes(&http, &router.base, &ok, 5).await;
    let services: Vec<&str> = v["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["serviceName"].as_str())
        .collect();
    assert!(services.contains(&"hello-service"), "{services:?}");
    assert!(
        services.contains(&"later-service"),
        "the full reload read the other keys: {services:?}"
    );
    assert!(!services.contains(&"poison"), "{services:?}");
}

#[tokio::test]
async fn bad_data_in_redis_is_logged_once_per_change_not_every_scan() {
    let redis = RedisServer::start();
    let _svc = hello(&redis).await;
    let mut r = redis_conn(&redis).await;
    let _: () = r.hset(keys::NODES, "junkid", "{not json").await.unwrap();
    let _: () = r
        .set_ex(keys::presence("hello-service", "junkid"), "junkid", 60)
        .await
        .unwrap();
    nodes_entry(&mut r, "poison", "poisonid", "127.0.0.1:1").await;
    let _: () = r.set(keys::routes("poison"), "not a set").await.unwrap();
    // Presence is scanned every second; routes reloaded every second here too.
    let (mut child, base, dir) = router_process(
        &redis,
        "bad-data-log",
        "info",
        json!({"routeRefreshSeconds": 1}),
    );
    let http = reqwest::Client::new();
    until_status(&http, &format!("{base}/v1/hello/test"), 200).await;
    let logged = |needles: &'static [&'static str]| {
        let out = router_output(&dir);
        let found = needles.iter().all(|n| out.contains(n));
        async move { found }
    };
    wait_for("both problems logged", Duration::from_secs(10), || {
        logged(&[
            "unreadable nodes entry: skipped",
            "unreadable route key: skipped",
        ])
    })
    .await;
    // Several more scans (one a second) that must not log them again.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    // Mended: logged once more, as readable again.
    let _: () = r.del(keys::routes("poison")).await.unwrap();
    wait_for(
        "the route key logged as readable again",
        Duration::from_secs(10),
        || logged(&["unreadable route key: readable again"]),
    )
    .await;
    let _ = child.start_kill();
    let _ = child.wait().await;
    let out = router_output(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let count = |needle: &str| out.lines().filter(|l| l.contains(needle)).count();
    assert_eq!(count("unreadable nodes entry: skipped"), 1, "{out}");
    assert_eq!(count("unreadable route key: skipped"), 1, "{out}");
    assert_eq!(count("unreadable route key: readable again"), 1, "{out}");
}

/// A nodes entry and presence for instance `id` of `service` at `addr` (`ip:port`), and `route`
/// registered for that service: what any Redis writer can add.
async fn plant_instance(
    r: &mut redis::aio::MultiplexedConnection,
    service: &str,
    id: &str,
    addr: &str,
    route: &str,
) {
    nodes_entry(r, service, id, addr).await;
    let _: () = r.set_ex(keys::presence(service, id), id, 60).await.unwrap();
    let _: () = r.sadd(keys::routes(service), route).await.unwrap();
}

/// Has the router reload its table and pool now (what a registration's message would do).
async fn refresh(http: &reqwest::Client, base: &str) {
    let status = http
        .get(format!("{base}/v1/router/refresh"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
}

/// A full reload (`/v1/router/refresh`), then `n` GETs of `ok` that must answer 200, then the
/// router's route listing.
async fn refresh_and_list_routes(http: &reqwest::Client, base: &str, ok: &str, n: usize) -> Value {
    refresh(http, base).await;
    for _ in 0..n {
        assert_eq!(http.get(ok).send().await.unwrap().status(), 200);
    }
    get_json(http, format!("{base}/v1/router/list/routes")).await
}

/// The status of the first answer to `GET url` that is none of `not_yet` (the router has not
/// loaded what was planted), polling for up to 8 s. That answer must come within 2 s: a request
/// that loops takes much longer.
async fn first_answer(http: &reqwest::Client, url: &str, not_yet: &[u16]) -> u16 {
    let t = Instant::now();
    loop {
        let started = Instant::now();
        let status = http.get(url).send().await.unwrap().status().as_u16();
        if !not_yet.contains(&status) {
            let took = started.elapsed();
            assert!(took < Duration::from_secs(2), "answered after {took:?}");
            return status;
        }
        assert!(
            t.elapsed() < Duration::from_secs(8),
            "never routed: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

#[tokio::test]
async fn a_nodes_entry_pointing_at_the_router_is_never_forwarded_to() {
    let redis = RedisServer::start();
    let router = router(&redis, json!({})).await;
    let mut r = redis_conn(&redis).await;
    let port = router.base.rsplit(':').next().unwrap().to_string();
    // The router itself under every name a Redis writer could give it.
    for (i, host) in ["127.0.0.1", "127.0.0.2", "0.0.0.0", "localhost"]
        .iter()
        .enumerate()
    {
        let addr = format!("{host}:{port}");
        plant_instance(
            &mut r,
            "loop-service",
            &format!("loopid{i}"),
            &addr,
            "[get]/v1/loop/test",
        )
        .await;
    }
    let http = reqwest::Client::new();
    refresh(&http, &router.base).await;
    let url = format!("{}/v1/loop/test", router.base);
    let before = open_descriptors();
    let status = first_answer(&http, &url, &[404]).await;
    assert_eq!(status, 503, "the only instance is the router itself");
    let grown = open_descriptors().saturating_sub(before);
    assert!(grown < 20, "{grown} descriptors opened by one request");
}

#[tokio::test]
async fn a_loop_between_two_routers_is_refused() {
    let redis = RedisServer::start();
    let a = router(&redis, json!({})).await;
    let b = router(&redis, json!({})).await;
    let mut r = redis_conn(&redis).await;
    // Two instances of one service: one at each router. A skips itself and sends to B, B skips
    // itself and sends back to A, which sees its own Via and refuses.
    for (id, base) in [("at-a", &a.base), ("at-b", &b.base)] {
        let addr = base.trim_start_matches("http://");
        plant_instance(&mut r, "pingpong", id, addr, "[get]/v1/pingpong/test").await;
    }
    let http = reqwest::Client::new();
    refresh(&http, &a.base).await;
    refresh(&http, &b.base).await;
    let url = format!("{}/v1/pingpong/test", a.base);
    let before = open_descriptors();
    let status = first_answer(&http, &url, &[404, 503]).await;
    assert_eq!(status, 508, "Loop Detected");
    let grown = open_descriptors().saturating_sub(before);
    assert!(grown < 40, "{grown} descriptors opened");
}

#[tokio::test]
async fn a_request_body_trickled_in_gets_408() {
    let redis = RedisServer::start();
    let router = router(&redis, json!({"bodyIdleTimeout": 1, "bodyReadTimeout": 3})).await;
    let _svc = hello(&redis).await;
    let http = reqwest::Client::new();
    until_status(&http, &format!("{}/v1/hello/test", router.base), 200).await;
    let addr = router.base.trim_start_matches("http://").to_string();
    let head = "POST /v1/hello/post HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n";
    // Stalls after the head: the idle limit.
    let t = Instant::now();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(b"{").await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("answered")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // A byte every half second never stalls for 1 s, but runs past the 3 s total.
    let t = Instant::now();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let mut answer = String::new();
    for _ in 0..20 {
        if s.write_all(b" ").await.is_err() {
            break;
        }
        let mut buf = vec![0u8; 4096];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await
        {
            answer = String::from_utf8_lossy(&buf[..n]).into_owned();
            break;
        }
    }
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let took = t.elapsed();
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(5),
        "{took:?}"
    );
    // An honest body still goes through.
    let resp = http
        .post(format!("{}/v1/hello/post", router.base))
        .json(&json!({"a": 1, "b": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn forwarded_headers_are_the_routers_word() {
    // What the service receives, read back from a tiny HTTP server registered as a service that
    // answers with the request head it got.
    let redis = RedisServer::start();
    let router = router(&redis, json!({})).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let echo = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_lowercase();
                let body = serde_json::to_string(&head).unwrap();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    let mut r = redis_conn(&redis).await;
    plant_instance(
        &mut r,
        "echo-service",
        "echoid",
        &addr,
        "[get]/v1/echo/headers",
    )
    .await;
    let http = reqwest::Client::new();
    refresh(&http, &router.base).await;
    let url = format!("{}/v1/echo/headers", router.base);
    until_status(&http, &url, 200).await;
    let seen = http
        .get(&url)
        .header("x-real-ip", "6.6.6.6")
        .header("x-forwarded-for", "1.1.1.1")
        .header("x-forwarded-for", "2.2.2.2")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(seen.contains("x-real-ip: 127.0.0.1"), "{seen}");
    assert!(
        !seen.contains("6.6.6.6"),
        "the client's X-Real-IP is not passed on: {seen}"
    );
    assert!(
        seen.contains("x-forwarded-for: 1.1.1.1, 2.2.2.2, 127.0.0.1"),
        "every X-Forwarded-For, then the peer: {seen}"
    );
    assert!(seen.contains("via: 1.1 hydra-router-"), "{seen}");
    echo.abort();
}

#[tokio::test]
async fn a_websocket_upgrade_on_an_admin_path_is_no_way_around_the_token() {
    let redis = RedisServer::start();
    let router = router(&redis, json!({"routerToken": "tok-ws-admin"})).await;
    let ws = router.base.replace("http://", "ws://");
    for path in ["/v1/router/list/routes", "/v1/router/nodes", "/metrics"] {
        match tokio_tungstenite::connect_async(format!("{ws}{path}")).await {
            Ok(_) => panic!("{path}: a WebSocket session without the token"),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                assert!(resp.status().is_client_error(), "{path}: {}", resp.status());
            }
            Err(e) => panic!("{path}: {e}"),
        }
    }
    // The gateway itself stays open at `/`.
    assert!(tokio_tungstenite::connect_async(format!("{ws}/"))
        .await
        .is_ok());
}

#[tokio::test]
async fn websocket_session_logs_name_the_client() {
    use futures_util::{SinkExt, StreamExt};
    let redis = RedisServer::start();
    let (mut child, base, dir) = router_process(&redis, "ws-span-log", "info", json!({}));
    let http = reqwest::Client::new();
    until_status(&http, &format!("{base}/v1/router/health"), 200).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(base.replace("http://", "ws://") + "/")
        .await
        .unwrap();
    let hello = ws.next().await.unwrap().unwrap().into_text().unwrap();
    let hello: Value = serde_json::from_str(&hello).unwrap();
    let id = hello["bdy"]["id"].as_str().unwrap().to_string();
    let log = json!({"to": "hydra-router:/", "frm": format!("{id}@client:/"), "typ": "log", "bdy": {"note": "span-check"}});
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        log.to_string().into(),
    ))
    .await
    .unwrap();
    let t = Instant::now();
    let line = loop {
        let out = router_output(&dir);
        if let Some(line) = out.lines().find(|l| l.contains("span-check")) {
            break line.to_string();
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "no client log line: {out}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = child.start_kill();
    let _ = child.wait().await;
    let _ = std::fs::remove_dir_all(&dir);
    // Without the colours the console log may carry.
    let plain: String = line
        .split('\u{1b}')
        .enumerate()
        .map(|(i, part)| {
            if i == 0 {
                part
            } else {
                part.split_once('m').map_or("", |(_, rest)| rest)
            }
        })
        .collect();
    assert!(plain.contains(&format!("ws{{client={id}}}")), "{plain}");
}

#[tokio::test]
async fn a_flooding_websocket_client_is_rate_limited() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let redis = RedisServer::start();
    let router = router(&redis, json!({"wsRateLimit": 5})).await;
    let url = router.base.replace("http://", "ws://") + "/";
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let _hello = ws.next().await;
    let ping = json!({"to": "hydra-router:/", "frm": "c:/", "typ": "ping", "bdy": {}}).to_string();
    for _ in 0..50 {
        ws.send(Message::Text(ping.clone().into())).await.unwrap();
    }
    let (mut pongs, mut limited) = (0, 0);
    let t = Instant::now();
    while pongs + limited < 50 && t.elapsed() < Duration::from_secs(5) {
        let Ok(Some(Ok(Message::Text(t)))) =
            tokio::time::timeout(Duration::from_secs(2), ws.next()).await
        else {
            break;
        };
        let v: Value = serde_json::from_str(&t).unwrap();
        if v["typ"] == "pong" {
            pongs += 1;
        } else if v["bdy"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("rate limit"))
        {
            limited += 1;
        }
    }
    assert!(pongs <= 6, "{pongs} pongs");
    assert!(limited >= 40, "{limited} refused");
    // The client is still connected and served once it slows down.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    ws.send(Message::Text(ping.into())).await.unwrap();
    let v: Value = loop {
        let Some(Ok(Message::Text(t))) = ws.next().await else {
            panic!("closed")
        };
        let v: Value = serde_json::from_str(&t).unwrap();
        if v["typ"] == "pong" {
            break v;
        }
    };
    assert_eq!(v["typ"], "pong");
}

#[tokio::test]
async fn the_router_token_never_reaches_the_logs() {
    let redis = RedisServer::start();
    let _svc = hello(&redis).await;
    let token = "tok-8f3a61c2d9";
    let (mut child, base, dir) = router_process(
        &redis,
        "token-log",
        "trace",
        json!({"routerToken": token, "debugLogging": true}),
    );
    let http = reqwest::Client::new();
    until_status(&http, &format!("{base}/v1/hello/test"), 200).await;
    // The token every way it can come, right and wrong, to the admin API and to a service.
    let wrong = format!("{token}-wrong");
    for t in [token, wrong.as_str()] {
        for path in [
            "/v1/router/list/routes",
            "/v1/hello/test",
            "/v1/router/nope",
        ] {
            let _ = http.get(format!("{base}{path}?token={t}")).send().await;
            let _ = http
                .get(format!("{base}{path}"))
                .header("x-router-token", t)
                .send()
                .await;
            let _ = http
                .get(format!("{base}{path}"))
                .bearer_auth(t)
                .send()
                .await;
        }
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
    let out = router_output(&dir);
    assert!(out.len() > 1000, "the router logged at trace level: {out}");
    assert!(!out.contains(token), "the token is in the log");
    let _ = std::fs::remove_dir_all(&dir);
}

/// What a scripted instance's connections read: every request head, in order.
type Heads = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// An instance whose connections are each handed to `script` (with their number, from 0, and
/// the heads read so far), planted as the only instance of `scripted` with the route
/// `/v1/scripted/:what` (every method), and the router refreshed.
async fn scripted<F, Fut>(redis: &RedisServer, router: &Running, script: F) -> Heads
where
    F: Fn(usize, tokio::net::TcpStream, Heads) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let heads = Heads::default();
    let seen = heads.clone();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(script(n, sock, seen.clone()));
            n += 1;
        }
    });
    let mut r = redis_conn(redis).await;
    plant_instance(&mut r, "scripted", "scripted1", &addr, "/v1/scripted/:what").await;
    refresh(&reqwest::Client::new(), &router.base).await;
    heads
}

/// The next request head off `sock` (`buf` keeps what was read past it), recorded in `heads`;
/// `None` when the connection ends first.
async fn next_head(
    sock: &mut tokio::net::TcpStream,
    buf: &mut Vec<u8>,
    heads: &Heads,
) -> Option<String> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
            buf.drain(..end + 4);
            heads.lock().unwrap().push(head.clone());
            return Some(head);
        }
        let mut more = [0u8; 16 * 1024];
        match sock.read(&mut more).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&more[..n]),
        }
    }
}

/// Reads the body a head announces (by its content-length) off `sock`.
async fn skip_body(sock: &mut tokio::net::TcpStream, buf: &mut Vec<u8>, head: &str) {
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |n| n.trim().parse::<usize>().unwrap());
    while buf.len() < length {
        let mut more = [0u8; 64 * 1024];
        match sock.read(&mut more).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&more[..n]),
        }
    }
    buf.drain(..length);
}

/// Answers each request head read off `sock` with what `pick` chooses for it (given its number
/// on the connection, from 0, and the head), until the connection ends.
async fn answer_each(
    mut sock: tokio::net::TcpStream,
    heads: Heads,
    pick: impl Fn(usize, &str) -> &'static [u8] + Send,
) {
    let mut buf = Vec::new();
    let mut i = 0;
    while let Some(head) = next_head(&mut sock, &mut buf, &heads).await {
        if sock.write_all(pick(i, &head)).await.is_err() {
            return;
        }
        i += 1;
    }
}

const FINE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 4\r\n\r\nfine";

/// POSTs 3 MiB to `url`: more than a socket takes at once, so the router is still writing it
/// when an instance that stopped reading answers or resets.
async fn post_big(http: &reqwest::Client, url: &str) -> reqwest::Response {
    http.post(url)
        .body(vec![b'x'; 3 * 1024 * 1024])
        .send()
        .await
        .unwrap()
}

fn posts(heads: &Heads) -> usize {
    heads
        .lock()
        .unwrap()
        .iter()
        .filter(|h| h.starts_with("POST"))
        .count()
}

#[tokio::test]
async fn a_post_goes_out_once_and_the_instances_early_answer_reaches_the_client() {
    let redis = RedisServer::start();
    let router = router(&redis, json!({"bodyLimit": 8 * 1024 * 1024})).await;
    // GETs are answered on a kept connection; a POST gets a 413 as soon as its head is read,
    // and the connection is closed with the body unread (a reset, as a service with a body
    // limit does).
    let heads = scripted(&redis, &router, |_, mut sock, heads| async move {
        let mut buf = Vec::new();
        while let Some(head) = next_head(&mut sock, &mut buf, &heads).await {
            if head.starts_with("POST") {
                let _ = sock
                    .write_all(b"HTTP/1.1 413 Payload Too Large\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: 9\r\n\r\ntoo large")
                    .await;
                return;
            }
            if sock.write_all(FINE).await.is_err() {
                return;
            }
        }
    })
    .await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/scripted/x", router.base);
    for round in 1..=3 {
        // A GET first, so the POST goes on a kept connection.
        assert_eq!(get_text(&http, &url).await, "fine");
        let resp = post_big(&http, &url).await;
        assert_eq!(resp.status(), 413, "the instance's own answer");
        assert_eq!(resp.text().await.unwrap(), "too large");
        assert_eq!(posts(&heads), round, "each POST sent once");
    }
    router.stop().await;
}

#[tokio::test]
async fn a_post_the_instance_reset_is_not_sent_again() {
    let redis = RedisServer::start();
    let router = router(&redis, json!({"bodyLimit": 8 * 1024 * 1024})).await;
    // The first POST's connection is reset once its head is read; any later POST would be
    // read whole and answered.
    let resets = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let heads = scripted(&redis, &router, move |_, mut sock, heads| {
        let resets = resets.clone();
        async move {
            let mut buf = Vec::new();
            while let Some(head) = next_head(&mut sock, &mut buf, &heads).await {
                if head.starts_with("POST")
                    && !resets.swap(true, std::sync::atomic::Ordering::SeqCst)
                {
                    let _ = sock.set_zero_linger();
                    return;
                }
                skip_body(&mut sock, &mut buf, &head).await;
                if sock.write_all(FINE).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/scripted/x", router.base);
    assert_eq!(get_text(&http, &url).await, "fine");
    let resp = post_big(&http, &url).await;
    assert_eq!(resp.status(), 502, "{}", resp.text().await.unwrap());
    assert_eq!(posts(&heads), 1, "the POST was not sent again");
    // A POST that the instance takes is answered.
    let resp = http.post(&url).body("small").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    router.stop().await;
}

/// Sends `request` to the router on a connection of its own and reads until the router closes
/// it: what came, and how long the router took to close it (`None`: not within 8 s).
async fn until_closed(base: &str, request: &str) -> (String, Option<Duration>) {
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(8), async {
        let mut more = [0u8; 4096];
        while let Ok(n) = s.read(&mut more).await {
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&more[..n]);
        }
    })
    .await
    .is_ok();
    (
        String::from_utf8_lossy(&buf).into_owned(),
        closed.then(|| started.elapsed()),
    )
}

#[tokio::test]
async fn an_answer_body_that_stalls_or_trickles_is_cut() {
    let redis = RedisServer::start();
    let router = router(
        &redis,
        json!({"responseIdleTimeout": 1, "responseReadTimeout": 2, "requestTimeout": 5}),
    )
    .await;
    // By path: `/json` sends `{` of 100 bytes of JSON and stops; `/text` 13 of 100 bytes of
    // text; `/trickle` a byte of text every 300 ms.
    scripted(&redis, &router, |_, mut sock, heads| async move {
        let mut buf = Vec::new();
        let Some(request) = next_head(&mut sock, &mut buf, &heads).await else {
            return;
        };
        let (kind, first) = if request.contains("/json ") {
            ("application/json", "{")
        } else {
            ("text/plain", "thirteen byte")
        };
        let head =
            format!("HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\ncontent-length: 100\r\n\r\n");
        if request.contains("/trickle ") {
            let _ = sock.write_all(head.as_bytes()).await;
            for _ in 0..100 {
                tokio::time::sleep(Duration::from_millis(300)).await;
                if sock.write_all(b"x").await.is_err() {
                    return;
                }
            }
        }
        let _ = sock.write_all(format!("{head}{first}").as_bytes()).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let ask = |what: &str| format!("GET /v1/scripted/{what} HTTP/1.1\r\nHost: h\r\n\r\n");

    let close = "GET /v1/scripted/json HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    let (text, took) = until_closed(&router.base, close).await;
    let took = took.expect("the client connection was not held");
    assert!(text.starts_with("HTTP/1.1 504 "), "{text}");
    assert!(took < Duration::from_secs(4), "{took:?}");

    // Text is passed on as it comes: the client has the head and the 13 bytes, then the
    // connection ends (it cannot be told where a cut answer ends otherwise).
    let (text, took) = until_closed(&router.base, &ask("text")).await;
    let took = took.expect("the client connection was not held");
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nthirteen byte"), "{text}");
    assert!(took < Duration::from_secs(4), "{took:?}");

    // A byte every 300 ms never stalls for a second, but the whole answer has 2 s.
    let (text, took) = until_closed(&router.base, &ask("trickle")).await;
    let took = took.expect("the client connection was not held");
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(took < Duration::from_secs(4), "{took:?}");
    let body = text.split_once("\r\n\r\n").unwrap().1;
    assert!(!body.is_empty() && body.len() < 12, "{body:?}");
    router.stop().await;
}

#[tokio::test]
async fn an_unasked_for_upgrade_does_not_poison_the_pool() {
    let redis = RedisServer::start();
    let router = router(&redis, json!({"ejectSeconds": 0.01})).await;
    // The first connection answers its first request with a 101 and bytes of another
    // protocol; every later request on any connection gets `fine`.
    scripted(&redis, &router, |n, sock, heads| {
        answer_each(sock, heads, move |i, _| {
            if n == 0 && i == 0 {
                b"HTTP/1.1 101 Switching Protocols\r\nupgrade: other\r\nconnection: upgrade\r\n\r\nOTHER PROTOCOL BYTES"
            } else {
                FINE
            }
        })
    })
    .await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/scripted/x", router.base);
    let status = http.get(&url).send().await.unwrap().status();
    assert!(status.is_server_error(), "{status}");
    for _ in 0..3 {
        let resp = http.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.text().await.unwrap(), "fine");
    }
    router.stop().await;
}

#[tokio::test]
async fn what_http1_forbids_is_neither_forwarded_nor_passed_on() {
    let redis = RedisServer::start();
    let router = router(&redis, json!({})).await;
    // `/plus` is answered with a signed length; anything else with `fine`.
    let heads = scripted(&redis, &router, |_, sock, heads| {
        answer_each(sock, heads, |_, head| {
            if head.contains("/plus ") {
                b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: +13\r\n\r\nthirteen byte"
            } else {
                FINE
            }
        })
    })
    .await;
    let (text, _) = until_closed(
        &router.base,
        "GET /v1/scripted/plus HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .await;
    // Refused as an answer that is not HTTP/1 (and its instance ejected, the only one).
    assert!(text.starts_with("HTTP/1.1 50"), "{text}");
    assert!(!text.contains("+13"), "{text}");
    for (request, status) in [
        (
            "CONNECT /v1/scripted/x HTTP/1.1\r\nHost: h\r\n\r\n",
            "HTTP/1.1 405 ",
        ),
        (
            "CONNECT h:80 HTTP/1.1\r\nHost: h:80\r\n\r\n",
            "HTTP/1.1 405 ",
        ),
        ("GET /v1/scripted/x HTTP/1.1\r\n\r\n", "HTTP/1.1 400 "),
        (
            "GET /v1/scripted/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "HTTP/1.1 400 ",
        ),
        (
            "POST /v1/scripted/x HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Length: 2\r\n\r\nab",
            "HTTP/1.1 400 ",
        ),
    ] {
        let (text, took) = until_closed(&router.base, request).await;
        assert!(text.starts_with(status), "{request:?}: {text}");
        assert!(took.is_some(), "{request:?}: the connection was kept");
    }
    let seen = heads.lock().unwrap().clone();
    assert_eq!(
        seen.len(),
        1,
        "only the /plus request reached the instance: {seen:?}"
    );
    router.stop().await;
}

#[tokio::test]
async fn an_instance_that_stops_reading_a_request_gets_its_504_in_time() {
    let redis = RedisServer::start();
    let router = router(
        &redis,
        json!({"bodyLimit": 8 * 1024 * 1024, "requestTimeout": 1}),
    )
    .await;
    // Reads a head, then neither reads the body nor answers.
    scripted(&redis, &router, |_, mut sock, heads| async move {
        let mut buf = Vec::new();
        if next_head(&mut sock, &mut buf, &heads).await.is_some() {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
    })
    .await;
    let http = reqwest::Client::new();
    let started = Instant::now();
    let resp = post_big(&http, &format!("{}/v1/scripted/x", router.base)).await;
    assert_eq!(resp.status(), 504);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "{took:?}");
    router.stop().await;
}
