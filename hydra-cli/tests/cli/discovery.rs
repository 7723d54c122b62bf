//! `services`, `nodes`, `routes`, `health`, `healthlog`, `refresh`, `watch`, `redis info`
//! against real registered Rust services.

use std::time::Duration;

use hydra_core::{keys, umf};
use hydra_testkit::{registered_service, RedisServer};
use redis::AsyncCommands;
use serde_json::{json, Value};

use crate::common::{keys_containing, Cli};

#[tokio::test]
async fn services_health_and_healthlog() {
    let redis = RedisServer::start();
    let svc = registered_service(&redis, "disco-svc").await;
    let id = svc.instance_id().to_string();
    let cli = Cli::new(&redis);

    // Health records live 3 s after each 5 s beat: read them first.
    let health = cli.run(&["health", "disco-svc"]).await;
    let text = health.ok();
    assert!(text.starts_with("SERVICE"), "{text}");
    assert!(text.contains(&id), "{text}");
    let health = cli.run(&["--json", "health"]).await.json();
    assert_eq!(health[0]["instanceID"], id.as_str());
    assert_eq!(health[0]["serviceName"], "disco-svc");
    cli.run(&["health", "nope"])
        .await
        .fails(1, "unknown service nope");

    let table = cli.run(&["services"]).await;
    let line = table
        .ok()
        .lines()
        .find(|l| l.starts_with("disco-svc"))
        .unwrap_or_else(|| panic!("{table:#?}"))
        .to_string();
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cells[..3], ["disco-svc", "test", "1"], "{line}");
    let json = cli.run(&["--json", "services", "disco-svc"]).await.json();
    assert_eq!(json[0]["serviceName"], "disco-svc");
    assert_eq!(json[0]["type"], "test");
    cli.run(&["services", "nope"])
        .await
        .fails(1, "unknown service nope");

    svc.log("info", "hello from the health log").await.unwrap();
    let log = cli.run(&["healthlog", "disco-svc"]).await;
    assert!(log.ok().contains("hello from the health log"), "{log:#?}");
    let log = cli.run(&["--json", "healthlog", "disco-svc"]).await.json();
    assert_eq!(log[0]["msg"], "hello from the health log");
    assert_eq!(log[0]["type"], "info");
    cli.run(&["healthlog", "nope"])
        .await
        .fails(1, "unknown service nope");

    // The tool itself left nothing behind: it connects without registering.
    assert_eq!(
        keys_containing(&redis, "hydra-cli").await,
        Vec::<String>::new()
    );
    svc.shutdown().await.unwrap();
}

#[tokio::test]
async fn nodes_and_routes() {
    let redis = RedisServer::start();
    let svc = registered_service(&redis, "route-svc").await;
    svc.register_routes(&["[get]/v1/route/a", "[post]/v1/route/b"])
        .await
        .unwrap();
    let id = svc.instance_id().to_string();
    let cli = Cli::new(&redis);

    let nodes = cli.run(&["nodes"]).await;
    let text = nodes.ok();
    assert!(text.starts_with("SERVICE"), "{text}");
    let row = text
        .lines()
        .find(|l| l.contains(&id))
        .expect("instance row");
    assert!(row.starts_with("route-svc"), "{row}");
    assert!(row.split_whitespace().any(|c| c == "0.0.1"), "{row}");
    assert!(row.contains("127.0.0.1:"), "{row}");
    let json = cli.run(&["--json", "nodes", "route-svc"]).await.json();
    assert_eq!(json.as_array().unwrap().len(), 1);
    assert_eq!(json[0]["instanceID"], id.as_str());
    assert_eq!(json[0]["version"], "0.0.1");
    assert_eq!(json[0]["present"], true);
    cli.run(&["nodes", "nope"])
        .await
        .fails(1, "unknown service nope");

    let routes = cli.run(&["routes", "route-svc"]).await;
    let text = routes.ok();
    assert!(text.contains("route-svc  [get]/v1/route/a"), "{text}");
    assert!(text.contains("route-svc  [post]/v1/route/b"), "{text}");
    let json = cli.run(&["--json", "routes"]).await.json();
    assert_eq!(
        json,
        json!({"route-svc": [
            "[get]/route-svc", "[get]/route-svc/", "[get]/route-svc/:rest",
            "[get]/v1/route/a", "[post]/v1/route/b"
        ]})
    );
    cli.run(&["routes", "nope"])
        .await
        .fails(1, "unknown service nope");

    // After a clean shutdown the instance is no longer listed, except with --all.
    svc.shutdown().await.unwrap();
    let json = cli.run(&["--json", "nodes", "route-svc"]).await.json();
    assert_eq!(json, json!([]));
    let text = cli.run(&["nodes", "route-svc"]).await;
    assert!(text.ok().contains("No instance of route-svc is running"));
    let all = cli.run(&["nodes", "--all"]).await;
    let row = all
        .ok()
        .lines()
        .find(|l| l.contains(&id))
        .expect("row")
        .to_string();
    assert!(row.ends_with("stale"), "{row}");
}

fn node_entry(service: &str, id: &str, updated_on: &str) -> String {
    json!({
        "serviceName": service, "serviceDescription": "planted", "version": "0.0.1",
        "instanceID": id, "updatedOn": updated_on, "processID": 1, "ip": "127.0.0.1",
        "port": 1, "hostName": "h"
    })
    .to_string()
}

#[tokio::test]
async fn refresh_removes_only_stale_entries() {
    let redis = RedisServer::start();
    let live = registered_service(&redis, "live-svc").await;
    let mut conn = redis.connection().await;
    let hour_ago = umf::iso_time(time::OffsetDateTime::now_utc() - Duration::from_secs(3600));
    let dead = "d".repeat(32);
    let lingering = "e".repeat(32);
    let () = conn
        .hset(keys::NODES, &dead, node_entry("gone-svc", &dead, &hour_ago))
        .await
        .unwrap();
    // Old entry, but its presence key still exists: not stale.
    let () = conn
        .hset(
            keys::NODES,
            &lingering,
            node_entry("slow-svc", &lingering, &hour_ago),
        )
        .await
        .unwrap();
    let () = conn
        .set_ex(keys::presence("slow-svc", &lingering), &lingering, 30)
        .await
        .unwrap();

    let cli = Cli::new(&redis);
    let run = cli.run(&["refresh"]).await;
    assert_eq!(run.ok().trim(), "Removed 1 stale node entry, kept 2.");
    let left: Vec<String> = conn.hkeys(keys::NODES).await.unwrap();
    assert!(!left.contains(&dead), "{left:?}");
    assert!(left.contains(&lingering), "{left:?}");
    assert!(left.contains(&live.instance_id().to_string()), "{left:?}");

    let again = cli.run(&["--json", "refresh", "node", "list"]).await.json();
    assert_eq!(again["removed"], 0);
    assert_eq!(again["kept"], 2);
    live.shutdown().await.unwrap();
}

#[tokio::test]
async fn watch_refreshes_count_times() {
    let redis = RedisServer::start();
    let svc = registered_service(&redis, "watch-svc").await;
    let cli = Cli::new(&redis);

    let run = cli
        .run(&["watch", "--interval", "0.1", "--count", "2"])
        .await;
    let text = run.ok();
    assert_eq!(text.matches("hydra-cli watch").count(), 2, "{text}");
    assert_eq!(text.matches(svc.instance_id()).count(), 2, "{text}");

    let run = cli
        .run(&["--json", "watch", "--interval", "0.1", "--count", "3"])
        .await;
    let lines: Vec<Value> = run
        .ok()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    for v in &lines {
        assert_eq!(v["services"][0]["serviceName"], "watch-svc");
        assert_eq!(
            v["services"][0]["instances"][0]["instanceID"],
            svc.instance_id()
        );
    }
    svc.shutdown().await.unwrap();
}

#[tokio::test]
async fn redis_info_counts_hydra_keys() {
    let redis = RedisServer::start();
    let svc = registered_service(&redis, "info-svc").await;
    let cli = Cli::new(&redis);

    let run = cli.run(&["redis", "info"]).await;
    let text = run.ok();
    assert!(text.contains("Version"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("Database") && l.contains("15 (")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("services") && l.trim_end().ends_with(" 1")),
        "{text}"
    );

    let json = cli.run(&["--json", "redis", "info"]).await.json();
    assert!(!json["server"]["redis_version"].as_str().unwrap().is_empty());
    assert_eq!(json["db"], 15);
    assert_eq!(json["nodeEntries"], 1);
    assert_eq!(json["hydraKeys"]["services"], 1);
    assert_eq!(json["hydraKeys"]["presence"], 1);
    assert_eq!(json["hydraKeys"]["nodes hash"], 1);
    svc.shutdown().await.unwrap();
}

#[tokio::test]
async fn health_waits_out_the_gap_between_beats() {
    // Health keys live 3 s and are rewritten every 5 s; `health` waits for a present instance
    // whose key is momentarily gone.
    let redis = RedisServer::start();
    let svc = registered_service(&redis, "gap-svc").await;
    let key = keys::health("gap-svc", svc.instance_id());
    let mut conn = redis.connection().await;
    let record: String = conn.get(&key).await.unwrap();
    let () = conn.del(&key).await.unwrap();
    let cli = Cli::new(&redis);
    let rewrite = async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let () = conn.set_ex(&key, &record, 3).await.unwrap();
    };
    let (run, ()) = tokio::join!(cli.run(&["--json", "health", "gap-svc"]), rewrite);
    let v = run.json();
    assert_eq!(v[0]["instanceID"], svc.instance_id());
    assert!(run.elapsed >= Duration::from_millis(600), "{run:#?}");
    svc.shutdown().await.unwrap();
}
