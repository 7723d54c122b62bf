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
    let set = tokio::task::spawn_blocking(SentinelSet::start)
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

    let (set, old, promoted_after) = set.fail_over(Duration::from_secs(30)).await;
    assert_eq!(old, first);
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
    // Given twice, the last is the one used, and neither is shown.
    let twice = url.replace(
        "sentinelPassword=watch",
        "sentinelPassword=peek&sentinelPassword=watch",
    );
    let both = hydra_core::connection::Redis::connect(&twice, Some(Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(
        both.master(),
        Some(format!("127.0.0.1:{}", set.master().port()))
    );
    let shown = both.display_url();
    assert!(
        !shown.contains("watch") && !shown.contains("peek"),
        "{shown}"
    );
    let _: () = redis::cmd("PING").query_async(&mut conn).await.unwrap();
    h.shutdown().await.unwrap();
}

/// The ids of the clients connected to the Sentinels that are neither Sentinels nor this
/// question.
fn sentinel_clients(set: &SentinelSet) -> Vec<String> {
    let mut ids = Vec::new();
    for port in set.sentinel_ports() {
        let list = hydra_testkit::raw_command_at(port, &["CLIENT", "LIST"]);
        for line in list.lines().filter(|l| l.starts_with("id=")) {
            if !line.contains(" name=sentinel-") && !line.contains(" cmd=client") {
                let id = line.split(' ').next().unwrap_or_default();
                ids.push(format!("{port}:{id}"));
            }
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sentinels_are_asked_over_a_kept_connection() {
    let set = tokio::task::spawn_blocking(SentinelSet::start)
        .await
        .unwrap();
    let h = through_sentinels(&set, "poller").await;
    // One connection, the same one seconds (and polls, twice a second) apart.
    let first = sentinel_clients(&set);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later = sentinel_clients(&set);
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first, later);

    // The Sentinel it asks dies, then the master: the others are asked, and name the new one.
    let mut set = set;
    set.kill_first_sentinel();
    let (set, _, _) = set.fail_over(Duration::from_secs(30)).await;
    let new_master = format!("127.0.0.1:{}", set.master().port());
    wait_for(
        Duration::from_secs(10),
        "the instance on the new master",
        || {
            let h = h.clone();
            let new_master = new_master.clone();
            async move { (h.redis_master() == Some(new_master)).then_some(()) }
        },
    )
    .await;
    h.shutdown().await.unwrap();
}
