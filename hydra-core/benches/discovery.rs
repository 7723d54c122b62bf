//! What one refresh of presence and routes (what a router does every second, and every
//! service's presence lookup) costs Redis, for 10 / 100 / 1,000 instances in a database that also
//! holds 0 / 300k / 1M unrelated keys (an application sharing its Redis). Printed beside the
//! same refresh done by walking the keyspace with `SCAN`, as Node hydra and hydra-rs before did.
//!
//! The figure is Redis's own time (INFO commandstats, `usec`, summed over every command) per
//! refresh, and the commands sent: it does not depend on this machine's other load.
//!
//! `cargo bench -p hydra-rs-core --bench discovery` (BENCH_REFRESHES, default 10, per measurement;
//! BENCH_INSTANCES and BENCH_KEYS, comma lists, to pick the grid).

#![allow(clippy::print_stdout)] // a report printed to the terminal

use hydra_core::{keys, Hydra, HydraConfig, RedisConfig};
use hydra_testkit::RedisServer;
use serde_json::json;

fn list(var: &str, default: &[u64]) -> Vec<u64> {
    std::env::var(var)
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

/// Total command time (µs) and calls Redis has counted since the last `CONFIG RESETSTAT`.
fn redis_time(redis: &RedisServer) -> (u64, u64) {
    let info = redis.raw_command(&["INFO", "commandstats"]);
    let mut usec = 0;
    let mut calls = 0;
    for line in info.lines().filter(|l| l.starts_with("cmdstat_")) {
        let Some((name, stats)) = line.split_once(':') else {
            continue;
        };
        if matches!(name, "cmdstat_info" | "cmdstat_config") {
            continue; // the measuring itself
        }
        for kv in stats.split(',') {
            match kv.split_once('=') {
                Some(("usec", v)) => usec += v.trim().parse::<u64>().unwrap_or(0),
                Some(("calls", v)) => calls += v.trim().parse::<u64>().unwrap_or(0),
                _ => {}
            }
        }
    }
    (usec, calls)
}

/// The refresh done by walking the keyspace: `SCAN` for presence keys, `HGET` of their nodes
/// entries; `SCAN` for route keys, `SMEMBERS` of each.
async fn refresh_by_scan(conn: &mut redis::aio::MultiplexedConnection) -> (usize, usize) {
    let scan = |pattern: &'static str, mut conn: redis::aio::MultiplexedConnection| async move {
        let mut cursor: u64 = 0;
        let mut found = Vec::new();
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .expect("scan");
            found.extend(batch);
            if next == 0 {
                return found;
            }
            cursor = next;
        }
    };
    let presence = scan(keys::ALL_PRESENCE_PATTERN, conn.clone()).await;
    let mut pipe = redis::pipe();
    for k in &presence {
        pipe.hget(
            keys::NODES,
            keys::instance_of_presence_key(k).unwrap_or_default(),
        );
    }
    let entries: Vec<Option<String>> = pipe.query_async(conn).await.expect("hget");
    let route_keys = scan(keys::ROUTES_PATTERN, conn.clone()).await;
    let mut routes = 0;
    for k in &route_keys {
        let members: Vec<String> = redis::AsyncCommands::smembers(conn, k)
            .await
            .expect("smembers");
        routes += members.len();
    }
    (entries.into_iter().flatten().count(), routes)
}

#[derive(Debug, Clone, Copy)]
struct Cost {
    usec: f64,
    calls: f64,
}

#[tokio::main]
async fn main() {
    let refreshes = list("BENCH_REFRESHES", &[10])[0].max(1);
    let instances = list("BENCH_INSTANCES", &[10, 100, 1000]);
    let unrelated = list("BENCH_KEYS", &[0, 300_000, 1_000_000]);
    println!("Redis time per refresh of presence and routes ({refreshes} refreshes each)");
    println!();
    println!(
        "| instances | unrelated keys | nodes hash: µs | commands | SCAN walk: µs | commands | SCAN / nodes hash |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for &keys_n in &unrelated {
        let redis = RedisServer::start_with(&["--enable-debug-command", "yes"]);
        let mut conn = redis.connection().await;
        // In chunks: one DEBUG POPULATE of a million keys outlasts a command's time limit.
        for chunk in 0..keys_n.div_ceil(100_000) {
            let count = (keys_n - chunk * 100_000).min(100_000);
            let _: () = redis::cmd("DEBUG")
                .arg("POPULATE")
                .arg(count)
                .arg(format!("app:{chunk}:key"))
                .query_async(&mut conn)
                .await
                .expect("DEBUG POPULATE");
        }
        let mut planted = 0;
        for &n in &instances {
            if n > planted {
                plant_range(&mut conn, planted, n).await;
                planted = n;
            }
            let mut config = HydraConfig::named("bench-router");
            config.service_ip = "127.0.0.1".into();
            config.redis = RedisConfig::from_url(redis.url());
            let hydra = Hydra::connect(config).await.expect("connect");

            let _ = redis.raw_command(&["CONFIG", "RESETSTAT"]);
            for _ in 0..refreshes {
                let p = hydra.scan_presence().await.expect("presence");
                let r = hydra.scan_service_routes().await.expect("routes");
                assert_eq!(p.instances.values().map(Vec::len).sum::<usize>() as u64, n);
                assert_eq!(r.routes.len() as u64, n.min(10));
            }
            let (usec, calls) = redis_time(&redis);
            let new = Cost {
                usec: usec as f64 / refreshes as f64,
                calls: calls as f64 / refreshes as f64,
            };

            let _ = redis.raw_command(&["CONFIG", "RESETSTAT"]);
            for _ in 0..refreshes {
                let (found, routes) = refresh_by_scan(&mut conn).await;
                assert_eq!(found as u64, n);
                assert_eq!(routes as u64, n.min(10));
            }
            let (usec, calls) = redis_time(&redis);
            let old = Cost {
                usec: usec as f64 / refreshes as f64,
                calls: calls as f64 / refreshes as f64,
            };
            println!(
                "| {n} | {keys_n} | {:.0} | {:.0} | {:.0} | {:.0} | {:.1}× |",
                new.usec,
                new.calls,
                old.usec,
                old.calls,
                old.usec / new.usec.max(1.0)
            );
        }
    }
    println!();
    println!(
        "nodes hash: HGETALL hydra:service:nodes, one MGET of the presence keys, \
         one batch of SMEMBERS on the route sets of the services named there (hydra-core today)."
    );
    println!(
        "SCAN walk: SCAN MATCH *:presence COUNT 1000 with HGET of each nodes entry, SCAN MATCH \
         *:routes with SMEMBERS of each (Node hydra, and hydra-core before)."
    );
}

/// Instances `from..to` of 10 services: nodes entries, presence keys, service records and
/// route sets, as registrations write them (the grid grows one database instead of building
/// each anew).
async fn plant_range(conn: &mut redis::aio::MultiplexedConnection, from: u64, to: u64) {
    let mut pipe = redis::pipe();
    for i in from..to {
        let svc = format!("bench-svc-{}", i % 10);
        let id = format!("{i:032x}");
        let entry = json!({
            "serviceName": svc, "serviceDescription": "bench", "version": "0.0.1",
            "instanceID": id, "updatedOn": "2026-12-02T00:00:00.000Z", "processID": 1,
            "ip": "127.0.0.1", "port": 5000 + i, "hostName": "bench"
        });
        pipe.hset(keys::NODES, &id, entry.to_string()).ignore();
        pipe.set_ex(keys::presence(&svc, &id), &id, 3600).ignore();
        pipe.set(keys::service(&svc), json!({"serviceName": svc}).to_string())
            .ignore();
        pipe.sadd(keys::routes(&svc), format!("[get]/v1/{svc}/:id"))
            .ignore();
    }
    let () = pipe.query_async(conn).await.expect("plant instances");
}
