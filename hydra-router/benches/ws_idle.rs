//! Idle WebSocket connections on hydra-router: opens N connections (default 10,000) to a real
//! router process, each one answered with its connection message, and prints the router's
//! resident memory before, with all of them open, and after they close: the memory per idle
//! connection. The router keeps answering HTTP meanwhile (checked while they are open).
//!
//! `cargo bench -p hydra-router --bench ws_idle` (WS_IDLE_CONNECTIONS, default 10000). Needs
//! redis-server and an open-files limit above N (`ulimit -n`).

#![allow(clippy::print_stdout)] // a report printed to the terminal

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hydra_testkit::{free_port, RedisServer};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

struct Router(Child);

impl Drop for Router {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn open_files_limit() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

/// The router's own count of connected WebSocket clients (`/metrics`, loopback).
async fn ws_clients(http: &reqwest::Client, base: &str) -> i64 {
    let text = match http.get(format!("{base}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    text.lines()
        .find_map(|l| l.strip_prefix("hydra_router_ws_clients "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(-1)
}

async fn settle(pid: u32) -> u64 {
    // Let allocator caches and background work settle before reading the figure.
    tokio::time::sleep(Duration::from_secs(2)).await;
    rss_kib(pid)
}

#[tokio::main]
async fn main() {
    let wanted: u64 = std::env::var("WS_IDLE_CONNECTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let limit = open_files_limit();
    let n = wanted.min(limit.saturating_sub(200));
    if n < wanted {
        println!("open-files limit {limit}: opening {n} connections instead of {wanted} (raise it with ulimit -n)");
    }
    let redis = RedisServer::start();
    let port = free_port();
    let dir = std::env::temp_dir();
    let router = Router(
        Command::new(env!("CARGO_BIN_EXE_hydra-router"))
            .env("HYDRA_REDIS_URL", redis.url())
            .env(
                "HYDRA_SERVICE",
                format!("serviceIP=127.0.0.1|servicePort={port}"),
            )
            .env("RUST_LOG", "warn")
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting hydra-router"),
    );
    let pid = router.0.id();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let t = Instant::now();
    while http
        .get(format!("{base}/v1/router/health"))
        .send()
        .await
        .is_err()
    {
        assert!(t.elapsed() < Duration::from_secs(10), "the router starts");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = settle(pid).await;

    // Open them, 100 handshakes at a time; each waits for its connection message.
    let url = format!("ws://127.0.0.1:{port}/");
    let t = Instant::now();
    let sockets: Vec<_> = futures_util::stream::iter(0..n)
        .map(|_| {
            let url = url.clone();
            async move {
                // Small client buffers too: this process holds all N of them.
                let config = WebSocketConfig::default().read_buffer_size(4096);
                let (mut ws, _) =
                    tokio_tungstenite::connect_async_with_config(url, Some(config), false)
                        .await
                        .ok()?;
                match ws.next().await {
                    Some(Ok(Message::Text(_))) => Some(ws),
                    _ => None,
                }
            }
        })
        .buffer_unordered(100)
        .filter_map(|ws| async move { ws })
        .collect()
        .await;
    let open_secs = t.elapsed().as_secs_f64();
    let open = sockets.len() as u64;
    let with = settle(pid).await;
    let counted = ws_clients(&http, &base).await;
    let health = http
        .get(format!("{base}/v1/router/health"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    // Still alive: a ping on a few of them is answered.
    let mut sockets = sockets;
    let mut pongs = 0;
    for ws in sockets.iter_mut().step_by((open as usize / 10).max(1)) {
        if ws.send(Message::Ping(vec![1].into())).await.is_ok() {
            while let Ok(Some(Ok(m))) =
                tokio::time::timeout(Duration::from_secs(2), ws.next()).await
            {
                if matches!(m, Message::Pong(_)) {
                    pongs += 1;
                    break;
                }
            }
        }
    }
    drop(sockets);
    let after = settle(pid).await;
    let counted_after = ws_clients(&http, &base).await;

    let per = (with.saturating_sub(before) as f64 * 1024.0) / open.max(1) as f64;
    println!("hydra-router, {open} idle WebSocket connections (of {n} attempted), opened in {open_secs:.1} s");
    println!(
        "router RSS: {} MB before, {} MB with them open, {} MB after they closed",
        before / 1024,
        with / 1024,
        after / 1024
    );
    println!(
        "memory per idle connection: {:.1} KiB; HTTP while open: {health}; pings answered: {pongs}",
        per / 1024.0
    );
    println!("clients the router counted: {counted} while open, {counted_after} after they closed (memory freed stays with the allocator for reuse)");
    drop(router);
}
