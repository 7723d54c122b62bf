//! Registration, presence, health and shutdown, observed in a real Redis.

mod common;

use std::time::Duration;

use common::*;
use hydra_core::{keys, HealthEntry, NodeEntry, PortValue, ServiceEntry};
use hydra_testkit::{registered_service, service_config, wait_until, RedisServer};
use redis::AsyncCommands;

#[tokio::test]
async fn registration_writes_nodes_records() {
    let redis = RedisServer::start();
    let h = registered_service(&redis, "reg-service").await;
    let mut r = redis.connection().await;
    let id = h.instance_id().to_string();
    assert_eq!(id.len(), 32);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));

    let entry: String = r.get(keys::service("reg-service")).await.unwrap();
    let entry: ServiceEntry = serde_json::from_str(&entry).unwrap();
    assert_eq!(entry.service_name, "reg-service");
    assert_eq!(entry.service_type, "test");
    assert_eq!(entry.registered_on.len(), 24);

    let presence: String = r.get(keys::presence("reg-service", &id)).await.unwrap();
    assert_eq!(presence, id);
    let ttl: i64 = r.ttl(keys::presence("reg-service", &id)).await.unwrap();
    assert!((1..=3).contains(&ttl), "ttl {ttl}");

    let node: String = r.hget(keys::NODES, &id).await.unwrap();
    // Field order is Node's.
    let order: Vec<String> =
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&node)
            .unwrap()
            .keys()
            .cloned()
            .collect();
    assert_eq!(
        order,
        [
            "serviceName",
            "serviceDescription",
            "version",
            "instanceID",
            "updatedOn",
            "processID",
            "ip",
            "port",
            "hostName"
        ]
    );
    let node: NodeEntry = serde_json::from_str(&node).unwrap();
    assert_eq!(node.ip, "127.0.0.1");
    assert_eq!(node.version, "0.0.1");
    assert_eq!(node.process_id, u64::from(std::process::id()));
    // A picked port is a number, as Node writes it.
    assert!(matches!(node.port, PortValue::Number(p) if p > 0));

    let health: String = r.get(keys::health("reg-service", &id)).await.unwrap();
    let health: HealthEntry = serde_json::from_str(&health).unwrap();
    assert_eq!(health.instance_id, id);
    assert!(health.memory.rss > 0);
    assert_eq!(health.platform, "linux");
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn configured_port_is_advertised_as_a_string() {
    let redis = RedisServer::start();
    let mut c = service_config(&redis, "fixed-port");
    c.service_port = hydra_core::ServicePort::Fixed(5201);
    let h = hydra_core::Hydra::connect(c).await.unwrap();
    h.register_service().await.unwrap();
    let mut r = redis.connection().await;
    let node: String = r.hget(keys::NODES, h.instance_id()).await.unwrap();
    assert!(node.contains(r#""port":"5201""#), "{node}");
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn presence_is_refreshed_every_second() {
    let redis = RedisServer::start();
    let h = registered_service(&redis, "beat").await;
    let mut r = redis.connection().await;
    let key = keys::presence("beat", h.instance_id());
    let first: String = r.hget(keys::NODES, h.instance_id()).await.unwrap();
    // Well past the 3 s TTL, the key is still there because it is refreshed.
    tokio::time::sleep(Duration::from_millis(4200)).await;
    assert!(exists(&mut r, &key).await);
    let ttl: i64 = r.ttl(&key).await.unwrap();
    assert!((1..=3).contains(&ttl), "ttl {ttl}");
    let later: String = r.hget(keys::NODES, h.instance_id()).await.unwrap();
    assert_ne!(first, later, "updatedOn moves on");
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn clean_shutdown_removes_presence_at_once() {
    let redis = RedisServer::start();
    let h = registered_service(&redis, "leaver").await;
    let mut r = redis.connection().await;
    let id = h.instance_id().to_string();
    h.log("info", "about to leave").await.unwrap();
    h.shutdown().await.unwrap();
    assert!(!exists(&mut r, &keys::presence("leaver", &id)).await);
    let ttl: i64 = r.ttl(keys::health("leaver", &id)).await.unwrap();
    assert!(ttl <= 3, "health expires: {ttl}");
    let log_ttl: i64 = r.ttl(keys::health_log("leaver", &id)).await.unwrap();
    assert!(log_ttl > 600_000, "health log kept a week: {log_ttl}");
    let log: Vec<String> = r
        .lrange(keys::health_log("leaver", &id), 0, -1)
        .await
        .unwrap();
    assert!(log[0].contains("Service is shutting down."), "{log:?}");
    assert!(log[1].contains("about to leave"), "{log:?}");
    // Service record and nodes entry stay, as with Node.
    assert!(exists(&mut r, &keys::service("leaver")).await);
    let node: Option<String> = r.hget(keys::NODES, &id).await.unwrap();
    assert!(node.is_some());
}

#[tokio::test]
async fn aborted_instance_vanishes_within_the_ttl() {
    let redis = RedisServer::start();
    let h = registered_service(&redis, "crasher").await;
    let r = redis.connection().await;
    let key = keys::presence("crasher", h.instance_id());
    // Dropping every handle without shutdown stops the heartbeats as a crash would.
    drop(h);
    let took = wait_until(Duration::from_millis(3500), "presence expires", || {
        let key = key.clone();
        let mut r = r.clone();
        async move { !exists(&mut r, &key).await }
    })
    .await;
    assert!(
        took > Duration::from_millis(500),
        "expired by TTL, not deleted ({took:?})"
    );
}

#[tokio::test]
async fn routes_are_registered_in_node_form_and_announced() {
    let redis = RedisServer::start();
    // A stand-in router receives the refresh broadcast.
    let router = registered_service(&redis, "hydra-router").await;
    let mut inbox = router.messages();
    let h = registered_service(&redis, "hello-service").await;
    h.register_routes(&["[get]/v1/hello/test", "[post]/v1/hello/post"])
        .await
        .unwrap();
    let mut r = redis.connection().await;
    let mut routes: Vec<String> = r.smembers(keys::routes("hello-service")).await.unwrap();
    routes.sort();
    assert_eq!(
        routes,
        [
            "[get]/hello-service",
            "[get]/hello-service/",
            "[get]/hello-service/:rest",
            "[get]/v1/hello/test",
            "[post]/v1/hello/post"
        ]
    );
    let msg = tokio::time::timeout(Duration::from_secs(3), inbox.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(msg.to, "hydra-router:/refresh");
    assert_eq!(msg.from, "hello-service:/");
    assert_eq!(
        msg.body,
        serde_json::json!({"action": "refresh", "serviceName": "hello-service"})
    );
    // Registering again replaces the set (DEL + SADD).
    h.register_routes(&["[get]/v1/other"]).await.unwrap();
    let routes: Vec<String> = r.smembers(keys::routes("hello-service")).await.unwrap();
    assert_eq!(routes.len(), 4);
    h.shutdown().await.unwrap();
    router.shutdown().await.unwrap();
}

#[tokio::test]
async fn unreachable_redis_is_a_clear_error_in_bounded_time() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = hydra_core::HydraConfig::named("lonely");
    c.service_ip = "127.0.0.1".into();
    c.redis = hydra_core::RedisConfig::from_url(format!("redis://127.0.0.1:{port}/15"));
    c.redis.connect_timeout_seconds = Some(1);
    let start = std::time::Instant::now();
    let err = hydra_core::Hydra::connect(c).await.unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "gave up in bounded time"
    );
    let text = err.to_string();
    assert!(
        text.contains("unreachable") && text.contains(&port.to_string()),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_started_before_its_redis_waits_for_it() {
    // As in a swarm, where tasks start in any order: no connectTimeoutSeconds, no limit.
    let mut redis = RedisServer::start();
    redis.kill();
    let mut c = hydra_core::HydraConfig::named("early-bird");
    c.service_ip = "127.0.0.1".into();
    c.service_port = hydra_core::ServicePort::Fixed(7001);
    c.redis = hydra_core::RedisConfig::from_url(redis.url_db(15));
    assert_eq!(c.redis.connect_timeout(), None);
    let connecting = tokio::spawn(hydra_core::Hydra::connect(c));
    // Longer than the old fixed limit's first retries: still waiting, not failed.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!connecting.is_finished(), "gave up while Redis was away");
    let redis = tokio::task::spawn_blocking(move || {
        redis.restart();
        redis
    })
    .await
    .unwrap();
    let h = tokio::time::timeout(Duration::from_secs(10), connecting)
        .await
        .expect("connected within 10 s of Redis coming up")
        .unwrap()
        .unwrap();
    h.register_service().await.unwrap();
    let mut r = redis.connection().await;
    let present: Option<String> = r
        .get(keys::presence("early-bird", h.instance_id()))
        .await
        .unwrap();
    assert_eq!(present.as_deref(), Some(h.instance_id()));
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn redis_restart_restores_presence_and_subscriptions() {
    let mut redis = RedisServer::start();
    let a = registered_service(&redis, "survivor").await;
    a.register_routes(&["[get]/v1/survivor"]).await.unwrap();
    let b = registered_service(&redis, "asker").await;
    let id = a.instance_id().to_string();
    let inbox = a.messages();

    redis.restart(); // empty: every key is gone
    let mut r = redis.connection().await;
    wait_until(Duration::from_secs(3), "presence back", || {
        let mut r = r.clone();
        let key = keys::presence("survivor", &id);
        async move { exists(&mut r, &key).await }
    })
    .await;
    assert!(exists(&mut r, &keys::service("survivor")).await);
    let routes: Vec<String> = r.smembers(keys::routes("survivor")).await.unwrap();
    assert!(
        routes.contains(&"[get]/v1/survivor".to_string()),
        "{routes:?}"
    );

    // The subscriptions are back: a message reaches the survivor.
    let inbox = tokio::sync::Mutex::new(inbox);
    wait_until(
        Duration::from_secs(5),
        "a message reaches the survivor after the restart",
        || async {
            let msg = hydra_core::Umf::new(
                format!("{id}@survivor:/"),
                "asker:/",
                serde_json::json!({"n": 1}),
            );
            if b.send(&msg).await.is_err() {
                return false;
            }
            let mut inbox = inbox.lock().await;
            matches!(
                tokio::time::timeout(Duration::from_millis(300), inbox.recv()).await,
                Ok(Some(m)) if m.body["n"] == 1
            )
        },
    )
    .await;
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}
