//! UMF request/reply round trips per second, and their p50/p99, between two Hydra instances
//! over one Redis, at 1 and 64 messages in flight; printed next to the ceiling of the same
//! Redis (redis-benchmark PUBLISH: a round trip is two publishes) and next to two Node hydra
//! instances doing the same when Node and `tests/interop/node_modules` are available.
//!
//! `cargo bench -p hydra-rs-core --bench roundtrip` (BENCH_SECONDS, default 3, per measurement).

#![allow(clippy::print_stdout)] // a report printed to the terminal

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hydra_core::{Hydra, HydraConfig, RedisConfig, Umf};
use hydra_testkit::RedisServer;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

// As the binaries do: the system allocator's arena locks cost a fifth of a busy process's CPU.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Clone, Copy, Default)]
struct Figures {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn seconds() -> u64 {
    std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
}

fn config(redis: &RedisServer, name: &str) -> HydraConfig {
    let mut c = HydraConfig::named(name);
    c.service_ip = "127.0.0.1".into();
    c.redis = RedisConfig::from_url(redis.url());
    c
}

/// Redis's own PUBLISH rate with a payload the size of a UMF message, 64 clients.
fn redis_ceiling(redis: &RedisServer) -> Option<f64> {
    let payload = Umf::new(
        "bench-echo:/",
        "0123456789abcdef0123456789abcdef@bench-client:/",
        json!({"n": 123456}),
    )
    .with_type("bench")
    .to_wire();
    let out = Command::new("redis-benchmark")
        .args([
            "-p",
            &redis.port().to_string(),
            "-n",
            "200000",
            "-c",
            "64",
            "-q",
            "PUBLISH",
            "ch",
        ])
        .arg(&payload)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "PUBLISH ch ...: 81234.56 requests per second, p50=0.303 msec"
    let line = text
        .lines()
        .rev()
        .find(|l| l.contains("requests per second"))?;
    let rate = line
        .split("requests per second")
        .next()?
        .rsplit(':')
        .next()?;
    rate.trim().parse().ok()
}

async fn measure(client: &Hydra, inflight: usize, secs: u64) -> Figures {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..inflight {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut n = 0u64;
            while Instant::now() < deadline {
                let msg =
                    Umf::new("bench-echo:/", c.own_route(), json!({"n": n})).with_type("bench");
                n += 1;
                let t = Instant::now();
                if c.request(msg, Duration::from_secs(5)).await.is_ok() {
                    lat.push(t.elapsed());
                }
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    Figures {
        rps: all.len() as f64 / elapsed,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
    }
}

async fn rust_pair(redis: &RedisServer, secs: u64) -> (Figures, Figures) {
    let echo = Hydra::connect(config(redis, "bench-echo")).await.unwrap();
    let mut inbox = echo.messages();
    echo.register_service().await.unwrap();
    let responder = echo.clone();
    tokio::spawn(async move {
        while let Some(m) = inbox.recv().await {
            let r = responder.clone();
            tokio::spawn(async move {
                let _ = r.reply(&m, json!({"n": m.body["n"]})).await;
            });
        }
    });
    let client = Hydra::connect(config(redis, "bench-client")).await.unwrap();
    client.register_service().await.unwrap();
    // Warm up: presence caches, connections.
    measure(&client, 8, 1).await;
    let one = measure(&client, 1, secs).await;
    let many = measure(&client, 64, secs).await;
    client.shutdown().await.unwrap();
    echo.shutdown().await.unwrap();
    (one, many)
}

async fn node_pair(redis: &RedisServer, secs: u64) -> Option<(Figures, Figures)> {
    let dir = hydra_testkit::workspace_root().join("tests/interop");
    if !dir.join("node_modules/hydra").is_dir() {
        return None;
    }
    let mut echo = tokio::process::Command::new("node")
        .args(["bench-roundtrip.js", "echo"])
        .current_dir(&dir)
        .env("HYDRA_REDIS_URL", redis.url())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    let mut lines = BufReader::new(echo.stdout.take()?).lines();
    lines.next_line().await.ok()??;
    let out = tokio::process::Command::new("node")
        .args(["bench-roundtrip.js", "client"])
        .current_dir(&dir)
        .env("HYDRA_REDIS_URL", redis.url())
        .env("BENCH_SECONDS", secs.to_string())
        .stderr(Stdio::null())
        .output()
        .await
        .ok()?;
    drop(echo);
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    let f = |k: &str| Figures {
        rps: v[k]["rps"].as_f64().unwrap_or(0.0),
        p50_ms: v[k]["p50"].as_f64().unwrap_or(0.0),
        p99_ms: v[k]["p99"].as_f64().unwrap_or(0.0),
    };
    Some((f("inflight1"), f("inflight64")))
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let secs = seconds();
    let redis = Arc::new(RedisServer::start());
    let ceiling = redis_ceiling(&redis);
    let (r1, r64) = rt.block_on(rust_pair(&redis, secs));
    let node = rt.block_on(node_pair(&redis, secs));

    println!("UMF request/reply round trips over one Redis ({secs} s per measurement, this machine: {} cores)", std::thread::available_parallelism().map_or(0, |n| n.get()));
    match ceiling {
        Some(c) => println!(
            "Redis ceiling: {c:.0} PUBLISH/s (redis-benchmark, 64 clients) = {:.0} round trips/s",
            c / 2.0
        ),
        None => println!("Redis ceiling: redis-benchmark not available"),
    }
    println!(
        "{:<22} {:>12} {:>10} {:>10}",
        "", "round trips/s", "p50 ms", "p99 ms"
    );
    let row = |name: &str, f: Figures| {
        println!(
            "{name:<22} {:>12.0} {:>10.3} {:>10.3}",
            f.rps, f.p50_ms, f.p99_ms
        )
    };
    row("rust, 1 in flight", r1);
    row("rust, 64 in flight", r64);
    if let Some((n1, n64)) = node {
        row("node, 1 in flight", n1);
        row("node, 64 in flight", n64);
        println!(
            "rust/node: {:.1}x at 1 in flight, {:.1}x at 64",
            r1.rps / n1.rps.max(1.0),
            r64.rps / n64.rps.max(1.0)
        );
    } else {
        println!("node: not measured (run `npm ci` in tests/interop)");
    }
    if let Some(c) = ceiling {
        println!(
            "rust at 64 in flight = {:.0} % of the Redis ceiling (goal >= 75 %)",
            100.0 * r64.rps / (c / 2.0)
        );
    }
}
