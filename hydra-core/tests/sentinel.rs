//! Redis Sentinel: instances find the master through the Sentinels, and follow it when the
//! master dies and a replica is promoted: registration, presence and subscriptions are back on
//! the new master without a restart.

use std::time::{Duration, Instant};

use hydra_core::{keys, Hydra, RedisConfig, Umf};
use hydra_testkit::{service_config, wait_for, SentinelSet};
use redis::AsyncCommands;
use serde_json::json;

async fn key_exists(mut conn: redis::aio::MultiplexedConnection, key: String) -> Option<()> {
    conn.exists::<_, bool>(&key)
        .await
        .unwrap_or(false)
        .then_some(())
}

async fn through_sentinels(set: &SentinelSet, name: &str) -> Hydra {
    let mut config = service_config(set.master(), name);
    config.redis = RedisConfig::from_url(set.url());
    let h = Hydra::connect(config).await.unwrap();
    h.register_service().await.unwrap();
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_follow_the_master_through_a_failover() {
    let mut set = tokio::task::spawn_blocking(SentinelSet::start)
        .await
        .unwrap();
    let echo = through_sentinels(&set, "sentinel-echo").await;
    let caller = through_sentinels(&set, "sentinel-caller").await;
    let mut inbox = echo.messages();
    let responder = echo.clone();
    tokio::spawn(async move {
        while let Some(m) = inbox.recv().await {
            let _ = responder.reply(&m, json!({"pong": true})).await;
        }
    });
    let ask = || {
        let caller = caller.clone();
        async move {
            let msg = Umf::new("sentinel-echo:/", caller.own_route(), json!({"ping": true}));
            caller.request(msg, Duration::from_secs(1)).await.ok()
        }
    };
    assert!(ask().await.is_some(), "answered through the first master");
    let first = set.master().port();

    let old = set.kill_master();
    assert_eq!(old, first);
    let set = std::sync::Arc::new(set);
    let watching = set.clone();
    let promoted_after =
        tokio::task::spawn_blocking(move || watching.wait_failover(old, Duration::from_secs(30)))
            .await
            .unwrap();
    let promoted = Instant::now();
    let new_master = set.master();
    assert_ne!(new_master.port(), old);

    // Presence, the service record and a request answered over the subscriptions, all on the
    // new master.
    let mut conn = new_master.connection().await;
    let presence = keys::presence("sentinel-echo", echo.instance_id());
    wait_for(
        Duration::from_secs(10),
        "presence on the new master",
        || key_exists(conn.clone(), presence.clone()),
    )
    .await;
    let registered = promoted.elapsed();
    wait_for(
        Duration::from_secs(10),
        "a request answered after the failover",
        ask,
    )
    .await;
    let answered = promoted.elapsed();
    // Heartbeats go to the new master: a presence key removed there is written again.
    let () = conn.del(&presence).await.unwrap();
    wait_for(Duration::from_secs(5), "presence written again", || {
        key_exists(conn.clone(), presence.clone())
    })
    .await;
    assert!(conn
        .exists::<_, bool>(keys::service("sentinel-echo"))
        .await
        .unwrap());
    eprintln!(
        "promotion {promoted_after:?} after the kill; after it: presence {registered:?}, \
         a request answered {answered:?}"
    );
    echo.shutdown().await.unwrap();
    caller.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_bad_sentinel_url_is_refused_naming_the_problem() {
    let e = Hydra::connect({
        let mut c = hydra_core::HydraConfig::named("x");
        c.redis = RedisConfig::from_url("redis+sentinel://127.0.0.1:1");
        c
    })
    .await
    .unwrap_err();
    let text = e.to_string();
    assert!(text.contains("master name"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinels_that_ask_for_a_password_are_given_theirs() {
    let set = tokio::task::spawn_blocking(|| SentinelSet::start_guarded("watch"))
        .await
        .unwrap();
    let url = set.url();
    assert!(url.contains("sentinelPassword=watch"), "{url}");
    let mut config = service_config(set.master(), "guarded");
    config.redis = RedisConfig::from_url(&url);
    config.redis.connect_timeout_seconds = Some(10);
    let h = Hydra::connect(config).await.unwrap();
    h.register_service().await.unwrap();
    assert_eq!(
        h.redis_master(),
        Some(format!("127.0.0.1:{}", set.master().port()))
    );
    let mut conn = set.master().connection().await;
    assert!(key_exists(conn.clone(), keys::service("guarded"))
        .await
        .is_some());

    // Without it, the Sentinels refuse, and the error says so (and not the password).
    let e = Hydra::connect({
        let mut c = service_config(set.master(), "unguarded");
        c.redis = RedisConfig::from_url(url.replace("?sentinelPassword=watch", ""));
        c.redis.connect_timeout_seconds = Some(1);
        c
    })
    .await
    .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("NOAUTH") || text.contains("uthentication"),
        "{text}"
    );
    let wrong = Hydra::connect({
        let mut c = service_config(set.master(), "unguarded");
        c.redis = RedisConfig::from_url(url.replace("watch", "peek"));
        c.redis.connect_timeout_seconds = Some(1);
        c
    })
    .await
    .unwrap_err()
    .to_string();
    assert!(!wrong.contains("peek"), "{wrong}");
    let _: () = redis::cmd("PING").query_async(&mut conn).await.unwrap();
    h.shutdown().await.unwrap();
}
