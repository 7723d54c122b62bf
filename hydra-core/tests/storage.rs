//! Queues, stored configs and discovery against a real Redis.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use hydra_core::config::{ConfigError, ConfigLoader};
use hydra_core::{keys, HydraError, Umf};
use hydra_testkit::{registered_service, wait_until, RedisServer};
use redis::AsyncCommands;
use serde_json::json;

#[tokio::test]
async fn queue_take_and_mark() {
    let redis = RedisServer::start();
    let h = registered_service(&redis, "worker").await;
    let first = Umf::new("worker:/", "boss:/", json!({"job": 1}));
    let second = Umf::new("worker:/", "boss:/", json!({"job": 2}));
    h.queue_message(&first).await.unwrap();
    h.queue_message(&second).await.unwrap();
    assert_eq!(h.queue_depth("worker").await.unwrap().received, 2);

    let t1 = h.take_queued_message("worker").await.unwrap().unwrap();
    assert_eq!(t1.message.mid, first.mid, "oldest first");
    let d = h.queue_depth("worker").await.unwrap();
    assert_eq!((d.received, d.in_progress), (1, 1));
    h.mark_queued_message(&t1, true, None).await.unwrap();

    let t2 = h.take_queued_message("worker").await.unwrap().unwrap();
    h.mark_queued_message(&t2, false, Some("disk full"))
        .await
        .unwrap();
    let d = h.queue_depth("worker").await.unwrap();
    assert_eq!((d.received, d.in_progress, d.incomplete), (0, 0, 1));
    let mut r = redis.connection().await;
    let failed: Vec<String> = r
        .lrange(keys::queue::incomplete("worker"), 0, -1)
        .await
        .unwrap();
    let failed = Umf::parse(&failed[0]).unwrap();
    assert_eq!(failed.body, json!({"job": 2, "reason": "disk full"}));
    assert!(h.take_queued_message("worker").await.unwrap().is_none());

    // Invalid messages are refused before they reach Redis.
    let bad = Umf::new("", "boss:/", json!(1));
    assert!(matches!(
        h.queue_message(&bad).await,
        Err(HydraError::Umf(_))
    ));
    // A stored entry that is not UMF is set aside, not handed out.
    let _: () = r
        .lpush(keys::queue::received("worker"), "garbage")
        .await
        .unwrap();
    h.queue_message(&first).await.unwrap();
    let t = h.take_queued_message("worker").await.unwrap().unwrap();
    assert_eq!(t.message.mid, first.mid);
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn configs_put_get_list_remove_and_pull() {
    let redis = RedisServer::start();
    let h = client(&redis, "cfg-admin").await;
    let cfg = json!({"greeting": "hi", "hydra": {"serviceName": "pulled", "servicePort": 0}});
    h.put_config("pulled:0.0.2", &cfg).await.unwrap();
    h.put_config("pulled:0.0.1", &cfg).await.unwrap();
    assert_eq!(
        h.get_config("pulled:0.0.1").await.unwrap(),
        Some(cfg.clone())
    );
    assert_eq!(h.get_config("pulled:9.9.9").await.unwrap(), None);
    assert_eq!(
        h.list_config("pulled").await.unwrap(),
        ["pulled:0.0.1", "pulled:0.0.2"]
    );
    assert!(matches!(
        h.put_config("no-version", &cfg).await,
        Err(HydraError::Config(ConfigError::Label(_)))
    ));

    // HYDRA_SERVICE=name:version pulls the stored config at start.
    let env: HashMap<String, String> = [
        ("HYDRA_REDIS_URL".to_string(), redis.url()),
        ("HYDRA_SERVICE".to_string(), "pulled:0.0.1".to_string()),
    ]
    .into();
    let loaded = ConfigLoader::new(json!({"hydra": {"serviceName": "default-name"}}))
        .no_default_file()
        .env(env.clone())
        .load()
        .await
        .unwrap();
    assert_eq!(loaded.hydra.service_name, "pulled");
    assert_eq!(loaded.get("greeting"), Some(&json!("hi")));
    assert_eq!(
        loaded.hydra.redis.url(),
        redis.url(),
        "no redis in the stored config: the one pulled from"
    );

    assert!(h.remove_config("pulled:0.0.1").await.unwrap());
    assert!(!h.remove_config("pulled:0.0.1").await.unwrap());
    let err = ConfigLoader::new(json!({"hydra": {"serviceName": "x"}}))
        .no_default_file()
        .env(env)
        .load()
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConfigError::StoredConfigMissing { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("pulled:0.0.1"));
}

#[tokio::test]
async fn discovery_sees_services_nodes_presence_routes_health() {
    let redis = RedisServer::start();
    let a = registered_service(&redis, "alpha").await;
    let a2 = registered_service(&redis, "alpha").await;
    a.register_routes(&["[get]/v1/alpha"]).await.unwrap();
    a.log("info", "alpha says hi").await.unwrap();
    let b = client(&redis, "observer").await;

    let services = b.get_services().await.unwrap();
    assert!(services.iter().any(|s| s.service_name == "alpha"));
    let nodes = b.get_service_nodes().await.unwrap();
    assert_eq!(
        nodes.iter().filter(|n| n.service_name == "alpha").count(),
        2
    );
    assert!(nodes.iter().all(|n| n.elapsed.is_some_and(|e| e <= 2)));
    let mut presence: Vec<String> = b
        .get_service_presence("alpha")
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.instance_id)
        .collect();
    presence.sort();
    let mut ids = vec![a.instance_id().to_string(), a2.instance_id().to_string()];
    ids.sort();
    assert_eq!(presence, ids);
    assert!(b.has_service_presence("alpha").await.unwrap());
    assert!(!b.has_service_presence("observer").await.unwrap());
    assert!(b.get_service_presence("nobody").await.unwrap().is_empty());
    let routes = b.get_all_service_routes().await.unwrap();
    assert!(routes["alpha"].contains(&"[get]/v1/alpha".to_string()));
    assert_eq!(b.find_service("alpha").await.unwrap().service_name, "alpha");
    assert!(b.find_service("nobody").await.is_err());
    let health = b.get_service_health("alpha").await.unwrap();
    assert_eq!(health.len(), 2);
    let log = b.get_service_health_log("alpha").await.unwrap();
    assert!(log.iter().any(|e| e.msg == "alpha says hi"));

    // Node's getServiceHealthAll: each registered service with its health, log and presence.
    let all = b.get_service_health_all().await.unwrap();
    let names: Vec<&str> = all.iter().map(|s| s.service_name.as_str()).collect();
    assert_eq!(names, ["alpha"], "the observer never registered");
    let sorted = |ids: Vec<&String>| {
        let mut ids: Vec<String> = ids.into_iter().cloned().collect();
        ids.sort();
        ids
    };
    assert_eq!(
        sorted(all[0].health.iter().map(|h| &h.instance_id).collect()),
        ids
    );
    assert_eq!(
        sorted(all[0].presence.iter().map(|n| &n.instance_id).collect()),
        ids
    );
    assert_eq!(all[0].log, log);
    let shape = serde_json::to_value(&all[0]).unwrap();
    for field in ["health", "log", "presence"] {
        assert!(shape[field].is_array(), "{field} in {shape}");
    }

    // A present instance that shut down is gone from presence (after the 3 s cache).
    a2.shutdown().await.unwrap();
    assert!(!b.get_service_presence("alpha").await.unwrap().is_empty());
    wait_until(
        Duration::from_secs(5),
        "the cache lets the shut-down instance go",
        || async { b.get_service_presence("alpha").await.unwrap().len() == 1 },
    )
    .await;
    a.shutdown().await.unwrap();
    // The service's record outlives its instances, as in Node: listed, with nobody present.
    wait_until(
        Duration::from_secs(5),
        "alpha listed with no instance present",
        || async {
            let all = b.get_service_health_all().await.unwrap();
            all.len() == 1 && all[0].presence.is_empty()
        },
    )
    .await;
}

#[tokio::test]
async fn invalid_records_are_skipped() {
    let redis = RedisServer::start();
    let a = registered_service(&redis, "alpha").await;
    let mut r = redis.connection().await;
    // A peer wrote junk: an invalid nodes entry with a live presence key, a broken service record.
    let _: () = r.hset(keys::NODES, "badid", "{not json").await.unwrap();
    let _: () = r
        .set_ex(keys::presence("alpha", "badid"), "badid", 30)
        .await
        .unwrap();
    let _: () = r.set(keys::service("broken"), "{{{").await.unwrap();
    let presence = a.get_service_presence("alpha").await.unwrap();
    assert_eq!(presence.len(), 1);
    assert!(a
        .get_services()
        .await
        .unwrap()
        .iter()
        .any(|s| s.service_name == "alpha"));
    assert_eq!(
        a.get_service_nodes().await.unwrap().len(),
        1,
        "the junk entry is skipped"
    );
    a.shutdown().await.unwrap();
}

#[tokio::test]
async fn stale_nodes_are_cleared_live_ones_kept() {
    let redis = RedisServer::start();
    let live = registered_service(&redis, "alpha").await;
    let mut r = redis.connection().await;
    let old = r#"{"serviceName":"alpha","instanceID":"gone","updatedOn":"2020-01-01T00:00:00.000Z","ip":"127.0.0.1","port":1}"#;
    let old_present = r#"{"serviceName":"alpha","instanceID":"lingering","updatedOn":"2020-01-01T00:00:00.000Z","ip":"127.0.0.1","port":2}"#;
    let _: () = r.hset(keys::NODES, "gone", old).await.unwrap();
    let _: () = r.hset(keys::NODES, "lingering", old_present).await.unwrap();
    let _: () = r
        .set_ex(keys::presence("alpha", "lingering"), "lingering", 30)
        .await
        .unwrap();
    let removed = live
        .clear_stale_nodes(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        removed
            .iter()
            .map(|n| n.instance_id.as_str())
            .collect::<Vec<_>>(),
        ["gone"]
    );
    let left: Vec<String> = r.hkeys(keys::NODES).await.unwrap();
    assert_eq!(left.len(), 2, "the live and the present one stay: {left:?}");
    live.shutdown().await.unwrap();
}
