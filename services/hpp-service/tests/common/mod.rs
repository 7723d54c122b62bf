//! Shared by the game tests: players, a watcher of the game broadcasts, log helpers.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use hpp_service::RunningPlayer;
use hydra_core::{keys, Config};
use hydra_testkit::{service_document, RedisServer};
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// Short timings, so a game takes about two seconds.
pub fn fast() -> Value {
    json!({
        "countdownMs": 200,
        "gameLengthMs": 1500,
        "passDelayMinMs": 100,
        "passDelayMaxMs": 200,
        "lostTimeoutMs": 3000
    })
}

/// The player config: the built-in defaults on `redis`, `settings` merged into the hydra branch
/// (where `HYDRA_SERVICE` would put them).
pub fn config(redis: &RedisServer, settings: &Value) -> Config {
    service_document(redis, hpp_service::defaults(), settings)
}

/// A registered in-process player.
pub async fn player(redis: &RedisServer, settings: &Value) -> RunningPlayer {
    hpp_service::bind(config(redis, settings))
        .await
        .unwrap()
        .spawn()
        .await
        .unwrap()
}

/// `n` registered in-process players.
pub async fn players(redis: &RedisServer, settings: &Value, n: usize) -> Vec<RunningPlayer> {
    let mut all = Vec::with_capacity(n);
    for _ in 0..n {
        all.push(player(redis, settings).await);
    }
    all
}

/// `GET {base}/v1/hpp/startgame`: the whole envelope.
pub async fn start_game(base: &str) -> Value {
    let resp = reqwest::Client::new()
        .get(format!("{base}{}", hpp_service::START_GAME_PATH))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// The game log of an envelope.
pub fn game_log(envelope: &Value) -> Vec<String> {
    envelope["result"]["gameLog"]
        .as_array()
        .unwrap_or_else(|| panic!("no gameLog in {envelope}"))
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect()
}

/// The ids of the `[<id>]: received hot potato.` lines, in order.
pub fn holders(log: &[String]) -> Vec<String> {
    log.iter()
        .filter_map(|l| {
            l.strip_prefix('[')
                .and_then(|r| r.strip_suffix("]: received hot potato."))
        })
        .map(str::to_string)
        .collect()
}

/// The distinct holders.
pub fn distinct(ids: &[String]) -> BTreeSet<String> {
    ids.iter().cloned().collect()
}

/// Asserts the shape of a finished game's log: countdown, sending, holders, one game over last.
pub fn assert_played(log: &[String]) {
    assert!(
        log[0].starts_with("Game starting in: "),
        "countdown first: {log:?}"
    );
    let sending = log
        .iter()
        .position(|l| l == hpp_service::message::SENDING)
        .unwrap_or_else(|| panic!("no sending line: {log:?}"));
    assert!(log[..sending]
        .iter()
        .all(|l| l.starts_with("Game starting in: ")));
    assert_eq!(log[sending - 1], "Game starting in: 0 seconds");
    let last = log.last().unwrap();
    assert!(
        last.starts_with("Game over, ") && last.ends_with(" lost!"),
        "game over last: {log:?}"
    );
    assert_eq!(
        log.iter().filter(|l| l.starts_with("Game over")).count(),
        1,
        "{log:?}"
    );
    assert_eq!(
        log.len(),
        sending + 1 + holders(log).len() + 1,
        "only holders between sending and game over: {log:?}"
    );
}

/// Watches the service's broadcast channel directly in Redis (not as a player, so it is never
/// handed the potato).
pub struct Watcher {
    rx: mpsc::UnboundedReceiver<Value>,
}

impl Watcher {
    pub async fn start(redis: &RedisServer) -> Self {
        Self::start_on(redis, &[keys::broadcast_channel("hpp-service")]).await
    }

    /// Watches `channels` (e.g. players' own channels too, to see the potato travel).
    pub async fn start_on(redis: &RedisServer, channels: &[String]) -> Self {
        let client = redis::Client::open(redis.url()).unwrap();
        let mut pubsub = client.get_async_pubsub().await.unwrap();
        for channel in channels {
            pubsub.subscribe(channel).await.unwrap();
        }
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut stream = pubsub.into_on_message();
            while let Some(m) = stream.next().await {
                let text: String = m.get_payload().unwrap();
                if tx.send(serde_json::from_str(&text).unwrap()).is_err() {
                    return;
                }
            }
        });
        Self { rx }
    }

    /// The next broadcast within `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Option<Value> {
        tokio::time::timeout(timeout, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// Everything seen until `done` holds for it, checked as each message arrives.
    ///
    /// # Panics
    /// When `done` does not hold within 5 s.
    pub async fn until(
        &mut self,
        what: &str,
        mut done: impl FnMut(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut seen = self.drain();
        while !done(&seen) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "{what}: not within 5 s: {seen:?}");
            seen.extend(self.next(left).await);
        }
        seen
    }

    /// Everything seen so far.
    pub fn drain(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        while let Ok(v) = self.rx.try_recv() {
            out.push(v);
        }
        out
    }
}
