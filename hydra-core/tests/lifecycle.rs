//! Registration, heartbeats and subscriptions over an instance's life: registering twice,
//! registering again after a withdraw, a SUBSCRIBE that Redis refuses, and the health key that
//! readers must always find.

mod common;

use std::time::{Duration, Instant};

use common::exists;
use hydra_core::{keys, Hydra, RedisConfig};
use hydra_testkit::{service_config as config, RedisServer};

/// Presence beats (each writes the nodes hash once) seen over `window`.
async fn beats_during(redis: &RedisServer, window: Duration) -> u64 {
    let before = redis.command_stat("hset", "calls");
    tokio::time::sleep(window).await;
    redis.command_stat("hset", "calls") - before
}

#[tokio::test]
async fn registering_twice_keeps_one_heartbeat() {
    let redis = RedisServer::start();
    let h = Hydra::connect(config(&redis, "twice-svc")).await.unwrap();
    h.register_service().await.unwrap();
    h.register_service().await.unwrap();
    // One presence loop beats once a second: 3 or 4 beats in 3.5 s; two loops would give 6+.
    let beats = beats_during(&redis, Duration::from_millis(3500)).await;
    assert!(
        (2..=4).contains(&beats),
        "{beats} presence beats in 3.5 s after registering twice"
    );
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn registering_again_after_a_withdraw_beats_again() {
    let redis = RedisServer::start();
    let mut conn = redis.connection().await;
    let h = Hydra::connect(config(&redis, "again-svc")).await.unwrap();
    h.register_service().await.unwrap();
    h.withdraw().await.unwrap();
    let presence = keys::presence("again-svc", h.instance_id());
    assert!(!exists(&mut conn, &presence).await);
    h.register_service().await.unwrap();
    assert!(h.is_registered());
    // Past the presence TTL (3 s) the key is still there only if the heartbeat runs again.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert!(
        exists(&mut conn, &presence).await,
        "presence expired: no heartbeat after registering again"
    );
    let beats = beats_during(&redis, Duration::from_millis(2500)).await;
    assert!((1..=3).contains(&beats), "{beats} beats in 2.5 s");
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_health_key_is_always_present_while_registered() {
    let redis = RedisServer::start();
    let mut conn = redis.connection().await;
    let h = Hydra::connect(config(&redis, "health-svc")).await.unwrap();
    h.register_service().await.unwrap();
    let key = keys::health("health-svc", h.instance_id());
    // Written every 5 s: sample over more than one write interval.
    let (mut present, mut absent) = (0, 0);
    let end = Instant::now() + Duration::from_secs(7);
    while Instant::now() < end {
        if exists(&mut conn, &key).await {
            present += 1;
        } else {
            absent += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        absent,
        0,
        "health key missing in {absent} of {} samples",
        present + absent
    );
    // Leaving still lets it expire soon, as Node does.
    h.shutdown().await.unwrap();
    let ttl: i64 = redis::cmd("TTL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((0..=3).contains(&ttl), "health TTL after shutdown: {ttl}");
}

#[tokio::test]
async fn a_refused_subscribe_is_retried_with_backoff() {
    let redis = RedisServer::start();
    // A user that may do everything except SUBSCRIBE.
    let reply = redis.raw_command(&[
        "ACL",
        "SETUSER",
        "nosub",
        "on",
        ">pw",
        "~*",
        "&*",
        "+@all",
        "-subscribe",
    ]);
    assert!(reply.starts_with("+OK"), "{reply}");
    let mut cfg = config(&redis, "nosub-svc");
    cfg.redis = RedisConfig::from_url(format!("redis://nosub:pw@127.0.0.1:{}/15", redis.port()));
    let h = Hydra::connect(cfg).await.unwrap();
    let registering = tokio::spawn(async move { h.register_service().await });
    tokio::time::sleep(Duration::from_secs(3)).await;
    let refused = redis.command_stat("subscribe", "rejected_calls");
    assert!(refused >= 1, "no SUBSCRIBE was tried");
    // With backoff from 100 ms up to 1 s: about 6 attempts in 3 s, not a tight loop.
    assert!(refused <= 12, "{refused} SUBSCRIBE attempts in 3 s");
    registering.abort();
}

#[tokio::test]
async fn discovery_never_walks_the_keyspace() {
    let redis = RedisServer::start();
    // Unrelated keys in the same database, as an application sharing its Redis has.
    let mut conn = redis.connection().await;
    let mut pipe = redis::pipe();
    for i in 0..2000 {
        pipe.set(format!("app:key:{i}"), i).ignore();
    }
    let () = pipe.query_async(&mut conn).await.unwrap();
    let a = Hydra::connect(config(&redis, "alpha")).await.unwrap();
    a.register_service().await.unwrap();
    a.register_routes(&["[get]/v1/alpha"]).await.unwrap();
    let b = Hydra::connect(config(&redis, "beta")).await.unwrap();
    b.register_service().await.unwrap();
    assert!(redis
        .raw_command(&["CONFIG", "RESETSTAT"])
        .starts_with("+OK"));

    let scan = a.scan_presence().await.unwrap();
    assert_eq!(scan.instances["alpha"].len(), 1);
    assert_eq!(scan.instances["beta"][0].instance_id, b.instance_id());
    let routes = a.scan_service_routes().await.unwrap();
    assert!(routes.routes["alpha"].contains(&"[get]/v1/alpha".to_string()));
    assert!(a.has_service_presence("beta").await.unwrap());
    assert!(!a.has_service_presence("gamma").await.unwrap());
    assert_eq!(a.get_service_presence("beta").await.unwrap().len(), 1);
    assert_eq!(a.get_service_health("beta").await.unwrap().len(), 1);
    a.get_service_health_log("beta").await.unwrap();
    a.get_all_service_routes().await.unwrap();
    let msg = hydra_core::Umf::new("beta:/", "alpha:/", serde_json::json!({"n": 1}));
    a.send(&msg).await.unwrap();

    assert_eq!(redis.command_stat("scan", "calls"), 0, "SCAN was used");
    assert_eq!(redis.command_stat("keys", "calls"), 0, "KEYS was used");
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_password_given_apart_may_hold_any_character() {
    // As a Node service reads `redis.password`: the value itself, not a piece of a URL.
    let password = "p@ss/w:rd%41&x=1?#";
    let redis = RedisServer::start_with(&["--requirepass", password]);
    let mut c = config(&redis, "guarded");
    c.redis = RedisConfig {
        host: Some("127.0.0.1".into()),
        port: Some(u64::from(redis.port())),
        password: Some(password.into()),
        db: Some(15),
        ..RedisConfig::default()
    };
    c.redis.connect_timeout_seconds = Some(2);
    let h = Hydra::connect(c).await.expect("the password as given");
    h.register_service().await.unwrap();
    h.shutdown().await.unwrap();
}
