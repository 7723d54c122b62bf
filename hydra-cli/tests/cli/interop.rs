//! Against real Node hydra 1.9.3 peers: configs both ways, Node services seen and messaged.

use std::time::Duration;

use hydra_core::keys;
use hydra_testkit::{interop_dir, NodePeer, RedisServer};
use redis::AsyncCommands;
use serde_json::json;

use crate::common::Cli;

#[tokio::test]
async fn config_pushed_by_the_cli_starts_a_node_service() {
    let redis = RedisServer::start();
    let cli = Cli::new(&redis);
    // Node uses the pulled config's own Redis settings, so they are in the file.
    let doc = json!({
        "hydra": {
            "serviceName": "cli-node", "serviceIP": "127.0.0.1", "servicePort": 0,
            "serviceType": "from-cli", "redis": {"url": redis.url()}
        },
        "app": {"greeting": "hello", "n": 1.5, "list": [1, "two"]}
    });
    let file = cli.write("config.json", &doc.to_string());
    cli.run(&["cfg", "push", "cli-node:0.0.1", file.to_str().unwrap()])
        .await
        .ok();

    let mut node = NodePeer::start_with(
        &redis.url(),
        "any",
        &[
            ("PEER_KEEP_HYDRA_SERVICE", "1"),
            ("HYDRA_SERVICE", "cli-node:0.0.1"),
        ],
    )
    .await;
    assert_eq!(node.ready["serviceName"], "cli-node");
    assert_eq!(node.ready["config"]["app"], doc["app"]);
    assert_eq!(
        node.call("getConfig", json!(["cli-node:0.0.1"]))
            .await
            .unwrap(),
        doc
    );
    // And the CLI sees the service it configured.
    let v = cli.run(&["--json", "nodes", "cli-node"]).await.json();
    assert_eq!(v[0]["instanceID"], node.instance_id().as_str());
    node.shutdown().await;
}

#[tokio::test]
async fn config_put_by_node_is_pulled_unchanged() {
    let redis = RedisServer::start();
    let mut node =
        NodePeer::start_with(&redis.url(), "node-admin", &[("PEER_REGISTER", "0")]).await;
    let doc = json!({
        "environment": "production",
        "hydra": {"serviceName": "node-made", "servicePort": "3000-3100", "redis": {"url": redis.url()}},
        "numbers": {"int": 42, "float": 0.1, "big": 1e21, "neg": -7.25},
        "text": "quotes \" and \\ and é and \u{1}",
        "empty": {}, "none": [], "flag": false, "nothing": null
    });
    node.call("putConfig", json!(["node-made:1.0.0", doc]))
        .await
        .unwrap();

    let cli = Cli::new(&redis);
    let pulled = cli.run(&["cfg", "pull", "node-made:1.0.0"]).await;
    assert_eq!(pulled.json(), doc);

    // Byte for byte what Node prints with JSON.stringify(config, null, 2).
    let stored: String = redis
        .connection()
        .await
        .hget(keys::configs("node-made"), "1.0.0")
        .await
        .unwrap();
    let node_pretty = tokio::process::Command::new("node")
        .arg("-e")
        .arg("process.stdout.write(JSON.stringify(JSON.parse(process.argv[1]), null, 2) + '\\n')")
        .arg(&stored)
        .current_dir(interop_dir())
        .output()
        .await
        .expect("run node");
    assert!(node_pretty.status.success());
    assert_eq!(
        pulled.stdout,
        String::from_utf8(node_pretty.stdout).unwrap()
    );

    let list = cli
        .run(&["--json", "cfg", "list", "node-made"])
        .await
        .json();
    assert_eq!(
        list,
        node.call("listConfig", json!(["node-made"])).await.unwrap()
    );
    node.shutdown().await;
}

#[tokio::test]
async fn node_services_are_listed_and_messaged() {
    let redis = RedisServer::start();
    let mut node = NodePeer::start(&redis.url(), "node-peer").await;
    let cli = Cli::new(&redis);

    let services = cli.run(&["services"]).await;
    let row = services
        .ok()
        .lines()
        .find(|l| l.starts_with("node-peer"))
        .unwrap_or_else(|| panic!("{services:#?}"))
        .to_string();
    assert_eq!(row.split_whitespace().nth(2), Some("1"), "{row}");

    let file = cli.write(
        "msg.json",
        r#"{"to": "node-peer:/", "body": {"from": "cli"}}"#,
    );
    cli.run(&["message", "send", file.to_str().unwrap()])
        .await
        .ok();
    let msg = node
        .next_message(Duration::from_secs(5))
        .await
        .expect("node got the message");
    assert_eq!(msg["bdy"], json!({"from": "cli"}));
    assert_eq!(msg["frm"], "hydra-cli:/");
    node.shutdown().await;
}
