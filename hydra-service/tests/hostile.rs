//! Clients that hold a service's ports without asking anything: a request head sent in part
//! (slowloris) has its connection closed after `headerReadTimeout`, on the service port and on
//! the metrics port alike.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hydra_service::HydraService;
use hydra_testkit::{free_port, service_document, RedisServer};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends half a request head to `addr`, then waits up to `within` for the server to close the
/// connection: how long that took, `None` when it was still open.
async fn closed_after(addr: SocketAddr, within: Duration) -> Option<Duration> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /_health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let sent = Instant::now();
    let mut answer = Vec::new();
    // Whatever the server says before it closes (nothing, or a 408), it must close.
    match tokio::time::timeout(within, stream.read_to_end(&mut answer)).await {
        Ok(_) => Some(sent.elapsed()),
        Err(_) => None,
    }
}

/// A whole request on a connection of its own: the status line of the answer.
async fn status_line(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer);
    text.lines().next().unwrap_or_default().to_string()
}

#[tokio::test]
async fn half_sent_request_heads_are_closed_on_the_service_and_metrics_ports() {
    let redis = RedisServer::start();
    let config = service_document(
        &redis,
        json!({"hydra": {"serviceName": "slow-heads", "servicePort": 0}}),
        &json!({ "metricsPort": free_port() }),
    );
    let limit = Duration::from_millis(500);
    let svc = HydraService::new(config)
        .get("/v1/x", || async { "x" })
        .header_read_timeout(limit)
        .bind()
        .await
        .unwrap()
        .spawn()
        .await
        .unwrap();
    let ports = [
        (svc.local_addr(), "/v1/x"),
        (svc.metrics_addr().expect("metrics are served"), "/metrics"),
    ];
    for (addr, path) in ports {
        // Twenty at once, as the probe that found it held them.
        let mut held = tokio::task::JoinSet::new();
        for _ in 0..20 {
            held.spawn(closed_after(addr, Duration::from_secs(5)));
        }
        while let Some(closed) = held.join_next().await {
            let after = closed.unwrap();
            assert!(
                after.is_some_and(|t| t >= limit - Duration::from_millis(50)),
                "{addr}: closed after {after:?}, the limit is {limit:?}"
            );
        }
        // A client that sends its request in time is answered as before.
        assert_eq!(status_line(addr, path).await, "HTTP/1.1 200 OK", "{addr}");
    }
    svc.stop().await.unwrap();
}
