//! `/metrics` of a service on a real Redis, read over real HTTP: requests by route template,
//! method and status; UMF messages sent, received and dropped; Redis reconnects.
//!
//! The recorder is the process's, shared by every test here: each test holds [`SERIAL`] and
//! looks at what changed while it ran.

use std::time::Duration;

use axum::extract::Path;
use axum::http::Method;
use hydra_core::{keys, Umf};
use hydra_service::{Envelope, HydraService, RunningService};
use hydra_testkit::{
    free_port, metric_samples, registered_service, service_document, wait_for, RedisServer,
};
use serde_json::json;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn item(Path(id): Path<String>) -> Envelope {
    Envelope::ok(json!({ "id": id }))
}

/// A service named `name` with `GET /v1/x/{id}`, its `metricsPort` set to `metrics_port`.
fn service(redis: &RedisServer, name: &str, metrics_port: u16) -> HydraService {
    let config = service_document(
        redis,
        json!({"hydra": {"serviceName": name, "servicePort": 0}}),
        &json!({ "metricsPort": metrics_port }),
    );
    HydraService::new(config).get("/v1/x/{id}", item)
}

/// [`service`] serving `/metrics` on a free port.
async fn start(redis: &RedisServer, name: &str) -> RunningService {
    spawn(service(redis, name, free_port())).await
}

async fn spawn(service: HydraService) -> RunningService {
    service.bind().await.unwrap().spawn().await.unwrap()
}

/// `GET /metrics` of `svc`: its content type and text.
async fn scrape(svc: &RunningService) -> (String, String) {
    let addr = svc.metrics_addr().expect("metrics are served");
    let resp = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    (ct, resp.text().await.unwrap())
}

async fn sample(svc: &RunningService, series: &str) -> f64 {
    metric_samples(&scrape(svc).await.1)
        .get(series)
        .copied()
        .unwrap_or_else(|| panic!("no {series} in /metrics"))
}

const SENT: &str = "hydra_messages_sent_total";
const RECEIVED: &str = "hydra_messages_received_total";
const MALFORMED: &str = "hydra_messages_dropped_total{reason=\"malformed\"}";
const NO_READER: &str = "hydra_messages_dropped_total{reason=\"no_reader\"}";
const RECONNECTS: &str = "hydra_redis_reconnects_total";

#[tokio::test]
async fn requests_are_timed_by_route_template_method_and_status() {
    let _serial = SERIAL.lock().await;
    let redis = RedisServer::start();
    let svc = start(&redis, "metrics-http").await;
    let before = metric_samples(&scrape(&svc).await.1);
    let http = reqwest::Client::new();
    let base = svc.base_url();
    let metrics_base = format!("http://{}", svc.metrics_addr().unwrap());
    for (method, url, status) in [
        (Method::GET, format!("{base}/v1/x/1"), 200),
        (Method::GET, format!("{base}/v1/x/2"), 200),
        (Method::GET, format!("{base}/v1/x/3"), 200),
        (Method::DELETE, format!("{base}/v1/x/4"), 405),
        (Method::GET, format!("{base}/no/such/path"), 404),
        // Not on the service port, so not through a router either.
        (Method::GET, format!("{base}/metrics"), 404),
        // And the metrics port serves nothing else.
        (Method::GET, format!("{metrics_base}/v1/x/1"), 404),
    ] {
        let r = http.request(method, &url).send().await.unwrap();
        assert_eq!(r.status(), status, "{url}");
    }

    let (content_type, text) = scrape(&svc).await;
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    let s = metric_samples(&text);
    // What a series gained while this test ran (other tests share the recorder).
    let gained = |series: String| {
        let now = s.get(&series).copied();
        assert!(now.is_some(), "no {series} in /metrics:\n{text}");
        now.unwrap_or_default() - before.get(&series).copied().unwrap_or_default()
    };
    let ok =
        "http_request_method=\"GET\",http_route=\"/v1/x/:id\",http_response_status_code=\"200\"";
    let hist = "http_server_request_duration_seconds";
    assert_eq!(gained(format!("{hist}_count{{{ok}}}")), 3.0);
    let sum = gained(format!("{hist}_sum{{{ok}}}"));
    assert!(sum > 0.0 && sum < 3.0, "{sum} s for 3 requests");
    // A histogram with the millisecond buckets, not a summary.
    assert_eq!(gained(format!("{hist}_bucket{{{ok},le=\"+Inf\"}}")), 3.0);
    assert!(s.contains_key(&format!("{hist}_bucket{{{ok},le=\"0.0005\"}}")));
    let refused =
        "http_request_method=\"DELETE\",http_route=\"/v1/x/:id\",http_response_status_code=\"405\"";
    assert_eq!(gained(format!("{hist}_count{{{refused}}}")), 1.0);
    // No route matched: no route label, and never the path asked for.
    let unmatched = "http_request_method=\"GET\",http_response_status_code=\"404\"";
    assert_eq!(gained(format!("{hist}_count{{{unmatched}}}")), 2.0);
    for raw in ["/v1/x/1", "/no/such/path", "{id}"] {
        assert!(!text.contains(raw), "{raw} in /metrics:\n{text}");
    }
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn messages_sent_and_received_between_two_instances_are_counted() {
    let _serial = SERIAL.lock().await;
    let redis = RedisServer::start();
    let svc = start(&redis, "metrics-umf").await;
    let mut inbox = svc.hydra().messages();
    let peer = registered_service(&redis, "metrics-peer").await;
    let (sent, received) = (sample(&svc, SENT).await, sample(&svc, RECEIVED).await);

    for n in 0..3 {
        let msg = Umf::new(
            format!("{}@metrics-umf:/", svc.instance_id()),
            "metrics-peer:/",
            json!({ "n": n }),
        );
        peer.send(&msg).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(3), inbox.recv())
            .await
            .expect("delivered")
            .unwrap();
        assert_eq!(got.body["n"], n);
    }
    assert_eq!(sample(&svc, SENT).await - sent, 3.0);
    assert_eq!(sample(&svc, RECEIVED).await - received, 3.0);
    peer.shutdown().await.unwrap();
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn dropped_messages_are_counted_by_reason() {
    let _serial = SERIAL.lock().await;
    let redis = RedisServer::start();
    let svc = start(&redis, "metrics-drop").await;
    let (received, malformed, no_reader) = (
        sample(&svc, RECEIVED).await,
        sample(&svc, MALFORMED).await,
        sample(&svc, NO_READER).await,
    );
    let channel = keys::instance_channel("metrics-drop", svc.instance_id());
    let mut conn = redis.connection().await;
    let listeners: i64 = redis::cmd("PUBLISH")
        .arg(&channel)
        .arg("{not umf")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(listeners, 1);
    // Valid, but this service reads no messages.
    let valid = Umf::new(
        format!("{}@metrics-drop:/", svc.instance_id()),
        "x:/",
        json!({}),
    );
    let () = redis::cmd("PUBLISH")
        .arg(&channel)
        .arg(serde_json::to_string(&valid).unwrap())
        .query_async(&mut conn)
        .await
        .map(|_: i64| ())
        .unwrap();

    wait_for(Duration::from_secs(3), "both messages received", || async {
        (sample(&svc, RECEIVED).await - received == 2.0).then_some(())
    })
    .await;
    assert_eq!(sample(&svc, MALFORMED).await - malformed, 1.0);
    assert_eq!(sample(&svc, NO_READER).await - no_reader, 1.0);
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn a_redis_restart_counts_one_reconnect() {
    let _serial = SERIAL.lock().await;
    let mut redis = RedisServer::start();
    let svc = start(&redis, "metrics-restart").await;
    let before = sample(&svc, RECONNECTS).await;
    let redis = tokio::task::spawn_blocking(move || {
        redis.restart();
        redis
    })
    .await
    .unwrap();
    wait_for(Duration::from_secs(10), "the reconnect counted", || async {
        (sample(&svc, RECONNECTS).await - before >= 1.0).then_some(())
    })
    .await;
    // Once per lost connection, not once per attempt or per channel.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(sample(&svc, RECONNECTS).await - before, 1.0);
    svc.stop().await.unwrap();
    drop(redis);
}

#[tokio::test]
async fn a_metrics_port_that_is_taken_leaves_the_service_serving() {
    let _serial = SERIAL.lock().await;
    let redis = RedisServer::start();
    let taken = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let svc = spawn(service(&redis, "metrics-taken", port)).await;
    assert_eq!(svc.metrics_addr(), None);
    let r = reqwest::get(format!("{}/v1/x/1", svc.base_url()))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    svc.stop().await.unwrap();

    // metricsPort 0: none served.
    let bound = service(&redis, "metrics-off", 0).bind().await.unwrap();
    assert_eq!(bound.metrics_addr(), None);
}
