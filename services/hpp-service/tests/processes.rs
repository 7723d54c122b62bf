//! Games across processes: players of the built binary (one of them SIGKILLed mid-game), and
//! mixed games with Node players running the public hpp-service logic (`tests/interop/hpp-player.js`).

mod common;

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{assert_played, distinct, game_log, holders, players, start_game, Watcher};
use hpp_service::message::POTATO_LOST;
use hydra_core::keys;
use hydra_testkit::{free_port, wait_for, NodeProcess, RedisServer};
use redis::AsyncCommands;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

/// Starts the binary as a player on `redis` with `settings` given as `HYDRA_SERVICE` k=v pairs.
fn spawn_player(redis: &RedisServer, port: u16, settings: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_hpp-service"))
        .env("HYDRA_REDIS_URL", redis.url())
        .env(
            "HYDRA_SERVICE",
            format!("serviceIP=127.0.0.1|servicePort={port}|{settings}"),
        )
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Waits until `n` players are present; returns instance id → process id.
async fn present_players(redis: &RedisServer, n: usize) -> HashMap<String, u32> {
    let mut r = redis.connection().await;
    let present = wait_for(Duration::from_secs(10), "the players start", || {
        let mut r = r.clone();
        async move {
            let present: Vec<String> = r.keys(keys::presence_pattern("hpp-service")).await.unwrap();
            (present.len() == n).then_some(present)
        }
    })
    .await;
    let mut out = HashMap::new();
    for key in present {
        let id = keys::instance_of_presence_key(&key).unwrap().to_string();
        let node: String = r.hget(keys::NODES, &id).await.unwrap();
        let node: Value = serde_json::from_str(&node).unwrap();
        out.insert(id, node["processID"].as_u64().unwrap() as u32);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_killed_mid_game_still_gets_the_starter_an_answer() {
    let redis = RedisServer::start();
    let settings = "countdownMs=200|gameLengthMs=3000|passDelayMinMs=300|passDelayMaxMs=400|lostTimeoutMs=2000";
    let starter_port = free_port();
    let mut children = vec![
        spawn_player(&redis, starter_port, settings),
        spawn_player(&redis, 0, settings),
        spawn_player(&redis, 0, settings),
    ];
    let pids = present_players(&redis, 3).await;
    let starter_pid = children[0].id().unwrap();
    let starter_id = pids
        .iter()
        .find(|(_, pid)| **pid == starter_pid)
        .map(|(id, _)| id.clone())
        .unwrap();
    let mut watcher = Watcher::start(&redis).await;

    let base = format!("http://127.0.0.1:{starter_port}");
    let game = tokio::spawn(async move { start_game(&base).await });

    // The first holder announces itself; it keeps the potato 300-400 ms: kill it meanwhile.
    let first = watcher.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(first["bdy"]["command"], "received", "{first}");
    let line = first["bdy"]["result"].as_str().unwrap();
    let holder = &holders(&[line.to_string()])[0];
    assert_ne!(*holder, starter_id, "the starter passes the potato on");
    let holder_pid = pids[holder];
    let victim = children
        .iter_mut()
        .find(|c| c.id() == Some(holder_pid))
        .unwrap();
    victim.start_kill().unwrap();
    let killed_at = Instant::now();

    let envelope = tokio::time::timeout(Duration::from_secs(10), game)
        .await
        .expect("the starter answers")
        .unwrap();
    let waited = killed_at.elapsed();
    let log = game_log(&envelope);
    // Game length 3 s (from before the kill) + lost timeout 2 s.
    assert!(waited < Duration::from_secs(6), "answered after {waited:?}");
    assert!(waited > Duration::from_secs(3), "answered after {waited:?}");
    assert_eq!(log.last().unwrap(), POTATO_LOST, "{log:?}");
    assert_eq!(holders(&log), std::slice::from_ref(holder), "{log:?}");
    assert!(!log.iter().any(|l| l.ends_with(" lost!")), "{log:?}");
    // Nobody else claimed the potato in the meantime.
    assert!(watcher.drain().is_empty());
    for mut c in children {
        let _ = c.start_kill();
        let _ = c.wait().await;
    }
}

/// Node players with short timings (the public logic with its delays scaled down).
async fn node_players(redis: &RedisServer, n: usize) -> Vec<NodeProcess> {
    let url = redis.url();
    let env = [
        ("HYDRA_REDIS_URL", url.as_str()),
        ("HPP_COUNTDOWN_MS", "200"),
        ("HPP_TICK_MS", "100"),
        ("HPP_GAME_LENGTH_MS", "2000"),
        ("HPP_DELAY_MIN_MS", "100"),
        ("HPP_DELAY_MAX_MS", "200"),
    ];
    let starts = (0..n).map(|_| NodeProcess::start("hpp-player.js", &env));
    futures_util::future::join_all(starts).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_and_rust_players_play_together() {
    let redis = RedisServer::start();
    let node = node_players(&redis, 2).await;
    let rust = players(
        &redis,
        &json!({
            "countdownMs": 200,
            "gameLengthMs": 2000,
            "passDelayMinMs": 100,
            "passDelayMaxMs": 200,
            "lostTimeoutMs": 3000
        }),
        3,
    )
    .await;
    let node_ids: Vec<String> = node.iter().map(NodeProcess::instance_id).collect();
    let rust_ids: Vec<String> = rust.iter().map(|p| p.instance_id().to_string()).collect();
    let mut channels = vec![keys::broadcast_channel("hpp-service")];
    for id in node_ids.iter().chain(&rust_ids) {
        channels.push(keys::instance_channel("hpp-service", id));
    }
    let mut watcher = Watcher::start_on(&redis, &channels).await;

    // Started on a Rust player.
    let envelope = start_game(&rust[0].base_url()).await;
    let log = game_log(&envelope);
    assert_played(&log);
    let held = distinct(&holders(&log));
    assert!(
        node_ids.iter().any(|id| held.contains(id)),
        "a Node player held the potato: {log:?}"
    );
    assert!(
        rust_ids.iter().any(|id| held.contains(id)),
        "a Rust player held the potato: {log:?}"
    );
    assert!(held
        .iter()
        .all(|h| node_ids.contains(h) || rust_ids.contains(h)));
    let game_id = envelope["result"]["gameID"].as_str().unwrap();
    // Every hold was a potato received and a broadcast, and the game over a broadcast, all sent
    // before the starter answered.
    let holds = holders(&log).len();
    let seen = watcher
        .until("every potato and broadcast", |seen| {
            let potatoes = seen
                .iter()
                .filter(|m| m["bdy"]["command"] == "hotpotato")
                .count();
            potatoes >= holds && seen.len() - potatoes > holds
        })
        .await;
    let (potatoes, broadcasts): (Vec<&Value>, Vec<&Value>) = seen
        .iter()
        .partition(|m| m["bdy"]["command"] == "hotpotato");
    // The potato travels as Node's does, whoever passes it: same mid and ts on every pass, only
    // to/frm change, and our extra keys survive the Node players.
    assert!(potatoes.len() >= held.len(), "{potatoes:?}");
    let (mid, ts) = (&potatoes[0]["mid"], &potatoes[0]["ts"]);
    let route_id = |route: &Value| {
        route
            .as_str()
            .unwrap()
            .strip_suffix("@hpp-service:/")
            .unwrap()
            .to_string()
    };
    for p in &potatoes {
        let keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["to", "frm", "mid", "ts", "typ", "ver", "bdy"], "{p}");
        assert_eq!(
            (&p["mid"], &p["ts"], &p["typ"]),
            (mid, ts, &json!("hotpotato"))
        );
        assert_ne!(route_id(&p["to"]), route_id(&p["frm"]), "{p}");
        let body_keys: Vec<&str> = p["bdy"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            body_keys,
            ["command", "expiration", "gameID", "expirationMs"],
            "{p}"
        );
        assert!(p["bdy"]["expiration"].is_u64());
        assert_eq!(p["bdy"]["gameID"], game_id);
    }
    assert!(
        potatoes
            .iter()
            .any(|p| node_ids.contains(&route_id(&p["frm"]))),
        "a Node player passed the Rust potato"
    );
    // Rust holders tag their broadcasts, also after a Node player passed them the potato.
    for b in &broadcasts {
        let result = b["bdy"]["result"].as_str().unwrap();
        if rust_ids.iter().any(|id| result.contains(id.as_str())) {
            assert_eq!(b["bdy"]["gameID"], game_id, "{b}");
        }
    }
    // Node players broadcast Node's shape exactly: no gameID; the Rust starter still logged them.
    let from_node: Vec<&&Value> = broadcasts
        .iter()
        .filter(|b| {
            node_ids
                .iter()
                .any(|id| b["bdy"]["result"].as_str().unwrap().contains(id.as_str()))
        })
        .collect();
    assert!(!from_node.is_empty());
    for b in from_node {
        let body_keys: Vec<&str> = b["bdy"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(body_keys, ["command", "result"], "{b}");
    }

    // Started on a Node player: its game log has Rust holders too.
    let node_base = format!("http://127.0.0.1:{}", node[0].ready["port"]);
    let envelope = start_game(&node_base).await;
    assert_eq!(envelope["statusCode"], 200);
    let log = game_log(&envelope);
    assert_eq!(log[0], "Game starting in: 0.2 seconds", "{log:?}");
    assert!(log.contains(&"Sending hot potato...".to_string()));
    assert!(log.last().unwrap().starts_with("Game over, "), "{log:?}");
    let held = distinct(&holders(&log));
    assert!(
        rust_ids.iter().any(|id| held.contains(id)),
        "a Rust player held the Node potato: {log:?}"
    );

    for p in rust {
        p.stop().await.unwrap();
    }
    drop(node);
}
