//! hydra-core against real Node hydra 1.9.3 peers on the same Redis.

use std::time::Duration;

use hydra_core::config::ConfigLoader;
use hydra_core::{keys, Hydra, Umf};
use hydra_testkit::{registered_service, service_config, NodePeer, RedisServer};
use redis::AsyncCommands;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(5);

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["instanceID"].as_str().map(String::from))
        .collect()
}

#[tokio::test]
async fn node_and_rust_discover_each_other() {
    let redis = RedisServer::start();
    let rust = registered_service(&redis, "rust-svc").await;
    rust.register_routes(&["[get]/v1/rust/hi"]).await.unwrap();
    let mut node = NodePeer::start_with(
        &redis.url(),
        "node-peer",
        &[("PEER_ROUTES", r#"["[get]/v1/node/hi"]"#)],
    )
    .await;

    // Node sees Rust.
    let presence = node
        .call("getServicePresence", json!(["rust-svc"]))
        .await
        .unwrap();
    assert_eq!(ids(&presence), [rust.instance_id()]);
    let p = &presence[0];
    assert_eq!(p["serviceName"], "rust-svc");
    assert_eq!(p["ip"], "127.0.0.1");
    assert_eq!(p["version"], "0.0.1");
    assert!(p["port"].as_u64().is_some_and(|port| port > 0));
    assert_eq!(
        node.call("hasServicePresence", json!(["rust-svc"]))
            .await
            .unwrap(),
        json!(true)
    );
    let services = node.call("getServices", json!([])).await.unwrap();
    let entry = services
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["serviceName"] == "rust-svc")
        .expect("rust-svc in getServices");
    assert_eq!(entry["type"], "test");
    let nodes = node.call("getServiceNodes", json!([])).await.unwrap();
    let me = nodes
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["instanceID"] == rust.instance_id())
        .expect("rust instance in getServiceNodes");
    assert!(me["elapsed"].as_i64().is_some_and(|e| e <= 2));
    assert_eq!(me["serviceDescription"], "integration test");
    let routes = node.call("getAllServiceRoutes", json!([])).await.unwrap();
    let rust_routes: Vec<&str> = routes["rust-svc"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        rust_routes.contains(&"[get]/v1/rust/hi") && rust_routes.contains(&"[get]/rust-svc/:rest")
    );

    // Rust sees Node.
    let presence = rust.get_service_presence("node-peer").await.unwrap();
    assert_eq!(presence.len(), 1);
    assert_eq!(presence[0].instance_id, node.instance_id());
    assert_eq!(presence[0].ip, "127.0.0.1");
    assert!(presence[0].port.as_u16().is_some());
    assert!(rust
        .get_services()
        .await
        .unwrap()
        .iter()
        .any(|s| s.service_name == "node-peer" && s.service_type == "interop"));
    assert!(rust
        .get_service_nodes()
        .await
        .unwrap()
        .iter()
        .any(|n| n.instance_id == node.instance_id()));
    let routes = rust.get_all_service_routes().await.unwrap();
    assert!(routes["node-peer"].contains(&"[get]/v1/node/hi".to_string()));
    let health = rust.get_service_health("rust-svc").await.unwrap();
    assert_eq!(health[0].instance_id, rust.instance_id());

    // getServiceHealthAll, read by both: the same services, present instances and logs.
    rust.log("info", "rust says hi").await.unwrap();
    let from_node = node.call("getServiceHealthAll", json!([])).await.unwrap();
    let from_rust = rust.get_service_health_all().await.unwrap();
    let from_node = from_node.as_array().unwrap();
    assert_eq!(from_node.len(), from_rust.len(), "{from_node:?}");
    for ours in &from_rust {
        let name = ours.service_name.as_str();
        let theirs = from_node
            .iter()
            .find(|s| s["presence"][0]["serviceName"] == name)
            .unwrap_or_else(|| panic!("{name} in Node's getServiceHealthAll: {from_node:?}"));
        let present: Vec<String> = ours
            .presence
            .iter()
            .map(|n| n.instance_id.clone())
            .collect();
        assert_eq!(ids(&theirs["presence"]), present, "{name}");
        let messages: Vec<&str> = ours.log.iter().map(|e| e.msg.as_str()).collect();
        let node_messages: Vec<&str> = theirs["log"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["msg"].as_str())
            .collect();
        assert_eq!(node_messages, messages, "{name}");
        // Health keys lapse for 2 s of every 5, so either side may have none: only the ids.
        for h in &ours.health {
            assert!(present.contains(&h.instance_id), "{name}: {h:?}");
        }
        for id in ids(&theirs["health"]) {
            assert!(present.contains(&id), "{name}: {id}");
        }
    }
    assert!(from_rust
        .iter()
        .any(|s| s.service_name == "rust-svc" && s.log.iter().any(|e| e.msg == "rust says hi")));

    node.shutdown().await;
    rust.shutdown().await.unwrap();
}

#[tokio::test]
async fn messages_and_replies_both_ways() {
    let redis = RedisServer::start();
    let rust = registered_service(&redis, "rust-svc").await;
    let mut inbox = rust.messages();
    let mut node = NodePeer::start(&redis.url(), "node-peer").await;
    let node_id = node.instance_id();

    // Node -> Rust, Rust replies, the reply reaches Node with rmid.
    let out = json!({"to": "rust-svc:/", "frm": format!("{node_id}@node-peer:/"), "typ": "lab.ping", "bdy": {"msg": "from node"}});
    node.call("sendMessage", json!([out])).await.unwrap();
    let got = tokio::time::timeout(WAIT, inbox.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.body, json!({"msg": "from node"}));
    assert_eq!(got.typ.as_deref(), Some("lab.ping"));
    rust.reply(&got, json!({"answer": "from rust"}))
        .await
        .unwrap();
    let reply = node.next_message(WAIT).await.expect("reply reaches node");
    assert_eq!(reply["rmid"], got.mid.as_str());
    assert_eq!(reply["bdy"], json!({"answer": "from rust"}));
    assert_eq!(reply["frm"], "rust-svc:/");

    // Rust -> Node, Node replies (its peer echoes `typ: echo`), Rust's request gets it.
    let req = Umf::new("node-peer:/", "rust-svc:/", json!({"n": 7})).with_type("echo");
    let mid = req.mid.clone();
    let answer = rust.request(req, WAIT).await.expect("node answers");
    assert_eq!(answer.rmid.as_deref(), Some(mid.as_str()));
    assert_eq!(answer.body, json!({"echo": {"n": 7}, "from": "node"}));
    let seen = node.next_message(WAIT).await.unwrap();
    assert_eq!(seen["mid"], mid.as_str());

    node.shutdown().await;
    rust.shutdown().await.unwrap();
}

#[tokio::test]
async fn broadcast_and_named_instance_both_ways() {
    let redis = RedisServer::start();
    let r1 = registered_service(&redis, "rust-svc").await;
    let r2 = registered_service(&redis, "rust-svc").await;
    let (mut i1, mut i2) = (r1.messages(), r2.messages());
    let mut n1 = NodePeer::start_with(&redis.url(), "node-peer", &[("PEER_AUTOREPLY", "0")]).await;
    let mut n2 = NodePeer::start_with(&redis.url(), "node-peer", &[("PEER_AUTOREPLY", "0")]).await;

    // Node broadcasts to both Rust instances.
    node_call(
        &mut n1,
        "sendBroadcastMessage",
        json!({"to": "rust-svc:/", "frm": "node-peer:/", "bdy": {"hello": "all"}}),
    )
    .await;
    for inbox in [&mut i1, &mut i2] {
        let m = tokio::time::timeout(WAIT, inbox.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.body, json!({"hello": "all"}));
    }
    // Rust broadcasts to both Node instances.
    r1.broadcast(&Umf::new(
        "node-peer:/",
        "rust-svc:/",
        json!({"hi": "nodes"}),
    ))
    .await
    .unwrap();
    for n in [&mut n1, &mut n2] {
        let m = n.next_message(WAIT).await.expect("broadcast reaches node");
        assert_eq!(m["bdy"], json!({"hi": "nodes"}));
    }
    // Node sends to one named Rust instance.
    let to = format!("{}@rust-svc:/", r2.instance_id());
    node_call(
        &mut n1,
        "sendMessage",
        json!({"to": to, "frm": "node-peer:/", "bdy": {"only": 2}}),
    )
    .await;
    let m = tokio::time::timeout(WAIT, i2.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.body, json!({"only": 2}));
    assert!(tokio::time::timeout(Duration::from_millis(300), i1.recv())
        .await
        .is_err());
    // Rust sends to one named Node instance.
    let to = format!("{}@node-peer:/", n2.instance_id());
    r1.send(&Umf::new(to, "rust-svc:/", json!({"only": "n2"})))
        .await
        .unwrap();
    let m = n2
        .next_message(WAIT)
        .await
        .expect("named node instance gets it");
    assert_eq!(m["bdy"], json!({"only": "n2"}));
    assert!(n1.next_message(Duration::from_millis(300)).await.is_none());

    n1.shutdown().await;
    n2.shutdown().await;
    r1.shutdown().await.unwrap();
    r2.shutdown().await.unwrap();
}

async fn node_call(node: &mut NodePeer, cmd: &str, msg: Value) {
    let r = node.call(cmd, json!([msg])).await.unwrap();
    assert!(r.is_null(), "{cmd} resolved with {r}");
}

#[tokio::test]
async fn configs_pushed_by_either_side_are_pulled_by_the_other() {
    let redis = RedisServer::start();
    let mut node =
        NodePeer::start_with(&redis.url(), "node-admin", &[("PEER_REGISTER", "0")]).await;
    let rust = Hydra::connect(service_config(&redis, "rust-admin"))
        .await
        .unwrap();

    // Node putConfig -> a Rust service started with HYDRA_SERVICE=name:version.
    let stored = json!({"feature": {"on": true}, "hydra": {"serviceName": "rust-cfg", "serviceIP": "127.0.0.1", "servicePort": 0, "serviceType": "pulled", "redis": {"url": redis.url()}}});
    node.call("putConfig", json!(["rust-cfg:0.0.1", stored]))
        .await
        .unwrap();
    let env: std::collections::HashMap<String, String> = [
        ("HYDRA_REDIS_URL".to_string(), redis.url()),
        ("HYDRA_SERVICE".to_string(), "rust-cfg:0.0.1".to_string()),
    ]
    .into();
    let loaded = ConfigLoader::new(json!({"hydra": {"serviceName": "placeholder"}}))
        .no_default_file()
        .env(env)
        .load()
        .await
        .unwrap();
    assert_eq!(loaded.get("feature"), Some(&json!({"on": true})));
    let pulled = Hydra::connect(loaded.hydra).await.unwrap();
    pulled.register_service().await.unwrap();
    assert_eq!(pulled.service_name(), "rust-cfg");
    let presence = node
        .call("getServicePresence", json!(["rust-cfg"]))
        .await
        .unwrap();
    assert_eq!(ids(&presence), [pulled.instance_id()]);

    // Rust put_config -> Node getConfig, and a Node service started from it.
    let for_node = json!({"hydra": {"serviceName": "node-cfg", "serviceIP": "127.0.0.1", "servicePort": 0, "redis": {"url": redis.url()}}, "n": 1.5});
    rust.put_config("node-cfg:0.0.1", &for_node).await.unwrap();
    assert_eq!(
        node.call("getConfig", json!(["node-cfg:0.0.1"]))
            .await
            .unwrap(),
        for_node
    );
    assert_eq!(
        node.call("listConfig", json!(["node-cfg"])).await.unwrap(),
        json!(["node-cfg:0.0.1"])
    );
    let started = NodePeer::start_with(
        &redis.url(),
        "ignored-name",
        &[
            ("PEER_KEEP_HYDRA_SERVICE", "1"),
            ("HYDRA_SERVICE", "node-cfg:0.0.1"),
        ],
    )
    .await;
    assert_eq!(started.ready["serviceName"], "node-cfg");
    assert_eq!(
        rust.list_config("rust-cfg").await.unwrap(),
        ["rust-cfg:0.0.1"]
    );

    started.shutdown().await;
    node.shutdown().await;
    pulled.shutdown().await.unwrap();
}

#[tokio::test]
async fn queues_both_ways() {
    let redis = RedisServer::start();
    let rust = registered_service(&redis, "rust-svc").await;
    let mut node = NodePeer::start(&redis.url(), "node-peer").await;

    // Node queues for Rust; Rust takes it and marks it not completed.
    let job = json!({"to": "rust-svc:/", "frm": "node-peer:/", "typ": "job", "bdy": {"job": 42}});
    node.call("queueMessage", json!([job])).await.unwrap();
    let taken = rust
        .take_queued_message("rust-svc")
        .await
        .unwrap()
        .expect("queued by node");
    assert_eq!(taken.message.body, json!({"job": 42}));
    assert_eq!(taken.message.typ.as_deref(), Some("job"));
    rust.mark_queued_message(&taken, false, Some("rust: not processed"))
        .await
        .unwrap();
    let d = rust.queue_depth("rust-svc").await.unwrap();
    assert_eq!((d.received, d.in_progress, d.incomplete), (0, 0, 1));

    // Rust queues for Node; Node takes it and marks it by its exact text (LREM).
    rust.queue_message(
        &Umf::new(
            "node-peer:/",
            "rust-svc:/",
            json!({"job": 7, "list": [1, 2.5, "x"]}),
        )
        .with_type("job"),
    )
    .await
    .unwrap();
    let got = node
        .call("getQueuedMessage", json!(["node-peer"]))
        .await
        .unwrap();
    assert_eq!(got["bdy"], json!({"job": 7, "list": [1, 2.5, "x"]}));
    node.call("markQueueMessage", json!([got, false, "node: failed"]))
        .await
        .unwrap();
    let d = rust.queue_depth("node-peer").await.unwrap();
    assert_eq!(
        (d.received, d.in_progress, d.incomplete),
        (0, 0, 1),
        "Node's LREM found our exact text"
    );
    let mut r = redis.connection().await;
    let failed: Vec<String> = r
        .lrange(keys::queue::incomplete("node-peer"), 0, -1)
        .await
        .unwrap();
    assert_eq!(
        Umf::parse(&failed[0]).unwrap().body["reason"],
        "node: failed"
    );

    node.shutdown().await;
    rust.shutdown().await.unwrap();
}

#[tokio::test]
async fn signatures_verify_both_ways() {
    let redis = RedisServer::start();
    let mut node =
        NodePeer::start_with(&redis.url(), "node-signer", &[("PEER_REGISTER", "0")]).await;
    let secret = "s3cret-key";
    let msg = json!({"to": "rust-svc:[post]/v1/x", "frm": "node:/", "hdr": {"a": "b"}, "typ": "signed", "tmo": 5,
        "bdy": {"b": 1, "10": [1.5, 1e21, "é✓"], "2": {"nested": null}, "a": "q\"\\\n"}});
    let signed = node.call("sign", json!([msg, secret])).await.unwrap();
    let from_node = Umf::from_value(&signed["short"]).unwrap();
    assert!(
        from_node.verify(secret.as_bytes()),
        "Node's signature verifies in Rust"
    );
    assert!(!from_node.verify(b"wrong"));

    // Node filled in mid and ts while signing; re-signing its message here gives its signature.
    let mut ours = Umf::from_value(&signed["long"]).unwrap();
    ours.signature = None;
    ours.sign(secret.as_bytes());
    assert_eq!(
        ours.signature, from_node.signature,
        "same message, same signature"
    );
    let mut fresh = Umf::new(
        "node:/",
        "rust:/",
        json!({"z": [3, 2, 1], "1": "one", "n": 0.1}),
    );
    fresh.sign(secret.as_bytes());
    let verdict = node
        .call("verify", json!([fresh.to_short(), secret]))
        .await
        .unwrap();
    assert_eq!(
        verdict["valid"],
        json!(true),
        "Rust's signature verifies in Node: {verdict}"
    );
    let mut forged = fresh.clone();
    forged.body = json!({"z": [3, 2, 1], "1": "two", "n": 0.1});
    let verdict = node
        .call("verify", json!([forged.to_short(), secret]))
        .await
        .unwrap();
    assert_eq!(verdict["valid"], json!(false));
    node.shutdown().await;
}
