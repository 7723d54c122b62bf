//! Games between in-process Rust players on a real Redis.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{assert_played, distinct, fast, game_log, holders, player, players, start_game};
use hpp_service::message::NO_OTHER_PLAYERS;
use hydra_testkit::{assert_config_refused, wait_until, RedisServer};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_rust_players_play_a_game_to_the_end() {
    let redis = RedisServer::start();
    let all = players(&redis, &fast(), 5).await;
    let mut watcher = common::Watcher::start(&redis).await;
    let ids: Vec<String> = all.iter().map(|p| p.instance_id().to_string()).collect();

    let t = Instant::now();
    let envelope = start_game(&all[2].base_url()).await;
    let took = t.elapsed();
    assert_eq!(envelope["statusCode"], 200);
    assert_eq!(envelope["statusMessage"], "OK");
    let log = game_log(&envelope);
    assert_played(&log);
    assert_eq!(
        &log[..3],
        [
            "Game starting in: 0.2 seconds",
            "Game starting in: 0 seconds",
            "Sending hot potato..."
        ]
    );
    let held = holders(&log);
    assert!(distinct(&held).len() >= 2, "two holders at least: {log:?}");
    assert!(held.iter().all(|h| ids.contains(h)), "{log:?}");
    // The starter never passes the potato to itself.
    assert_ne!(held[0], ids[2]);
    let loser = log.last().unwrap();
    assert!(ids
        .iter()
        .any(|id| *loser == format!("Game over, {id} lost!")));
    // Countdown 0.2 s + game 1.5 s + at most two holds of 0.2 s, plus slack.
    assert!(took < Duration::from_secs(5), "game took {took:?}");

    // On the wire: Node's broadcast shapes plus our gameID, every one of them for this game.
    let game_id = envelope["result"]["gameID"].as_str().unwrap();
    // A broadcast per hold and the game over, all sent before the starter answered.
    let seen = watcher
        .until("every broadcast", |seen| seen.len() > held.len())
        .await;
    assert_eq!(seen.len(), held.len() + 1, "{seen:?}");
    for b in &seen {
        assert_eq!(b["to"], "hpp-service:/");
        assert_eq!(b["frm"], "hpp-service:/");
        assert_eq!(b["typ"], "hotpotato");
        assert_eq!(b["ver"], "UMF/1.4.6");
        let keys: Vec<&str> = b.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["to", "frm", "mid", "ts", "typ", "ver", "bdy"]);
        let body_keys: Vec<&str> = b["bdy"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(body_keys, ["command", "result", "gameID"]);
        assert_eq!(b["bdy"]["gameID"], game_id);
    }
    let results: Vec<&str> = seen
        .iter()
        .map(|b| b["bdy"]["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, log[3..]);
    assert_eq!(seen.last().unwrap()["bdy"]["command"], "gameover");

    for p in all {
        p.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_player_answers_at_once() {
    let redis = RedisServer::start();
    // The seed's timings: a game would take several seconds.
    let alone = player(&redis, &json!({})).await;
    let t = Instant::now();
    let envelope = start_game(&alone.base_url()).await;
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(envelope["statusCode"], 200);
    assert_eq!(game_log(&envelope), [NO_OTHER_PLAYERS]);
    assert_eq!(
        NO_OTHER_PLAYERS,
        "No other players found. Try adding players first and then starting the player with the hot potato last."
    );
    alone.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_games_at_once_keep_their_own_logs() {
    let redis = RedisServer::start();
    let all = players(&redis, &fast(), 4).await;
    let mut watcher = common::Watcher::start(&redis).await;

    let (base_a, base_b) = (all[0].base_url(), all[1].base_url());
    let (a, b) = tokio::join!(start_game(&base_a), start_game(&base_b));
    let id_a = a["result"]["gameID"].as_str().unwrap().to_string();
    let id_b = b["result"]["gameID"].as_str().unwrap().to_string();
    assert_ne!(id_a, id_b);
    let (log_a, log_b) = (game_log(&a), game_log(&b));
    assert_played(&log_a);
    assert_played(&log_b);

    // What each game broadcast, by its gameID: each starter logged exactly its own.
    let mut by_game: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let expected = log_a[3..].len() + log_b[3..].len();
    let seen = watcher
        .until("both games' broadcasts", |seen| seen.len() >= expected)
        .await;
    for msg in seen {
        let body: &Value = &msg["bdy"];
        by_game
            .entry(body["gameID"].as_str().unwrap().to_string())
            .or_default()
            .push(body["result"].as_str().unwrap().to_string());
    }
    assert_eq!(by_game.len(), 2, "{by_game:?}");
    assert_eq!(by_game[&id_a], log_a[3..], "game A");
    assert_eq!(by_game[&id_b], log_b[3..], "game B");

    for p in all {
        p.stop().await.unwrap();
    }
}

/// How many times Redis was asked for a presence list (the nodes hash, read with `HGETALL`).
fn presence_reads(redis: &RedisServer) -> u64 {
    redis.command_stat("hgetall", "calls")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_that_left_is_never_handed_the_potato() {
    let redis = RedisServer::start();
    let settings = json!({
        "countdownMs": 1000,
        "gameLengthMs": 1500,
        "passDelayMinMs": 100,
        "passDelayMaxMs": 150,
        "lostTimeoutMs": 3000
    });
    let mut all = players(&redis, &settings, 3).await;
    let leaver = all.pop().unwrap();
    let gone = leaver.instance_id().to_string();
    let base = all[0].base_url();
    // The starter reads (and caches for 3 s) the presence list, the leaver in it; the leaver
    // goes during the countdown.
    let read_before = presence_reads(&redis);
    let game = tokio::spawn(async move { start_game(&base).await });
    wait_until(
        Duration::from_secs(5),
        "the starter reads the presence list",
        || async { presence_reads(&redis) > read_before },
    )
    .await;
    leaver.stop().await.unwrap();

    let envelope = game.await.unwrap();
    let log = game_log(&envelope);
    assert_played(&log);
    assert!(!holders(&log).contains(&gone), "{log:?}");
    let ids: Vec<String> = all.iter().map(|p| p.instance_id().to_string()).collect();
    assert!(distinct(&holders(&log)).iter().all(|h| ids.contains(h)));
    for p in all {
        p.stop().await.unwrap();
    }
}

#[tokio::test]
async fn bad_settings_exit_with_64() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hpp-service"))
        .env(
            "HYDRA_SERVICE",
            "serviceIP=127.0.0.1|passDelayMinMs=500|passDelayMaxMs=100",
        )
        .env_remove("HYDRA_REDIS_URL")
        .current_dir(std::env::temp_dir())
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("passDelayMinMs"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_bad_http_setting_in_the_config_file_exits_with_64() {
    let mut doc = hpp_service::defaults();
    doc["hydra"]["bodyLimit"] = json!(-1);
    let named = ["hydra.bodyLimit", "-1"];
    assert_config_refused(env!("CARGO_BIN_EXE_hpp-service"), &doc, None, &named).await;
}
