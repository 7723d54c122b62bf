//! Messaging between instances over a real Redis: send, reply, request, broadcast, bad input.

mod common;

use std::time::Duration;

use common::*;
use hydra_core::{keys, HydraError, Umf};
use hydra_testkit::{registered_service, service_config, wait_until, RedisServer};
use redis::AsyncCommands;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(3);

#[tokio::test]
async fn send_and_reply_reach_the_right_instances() {
    let redis = RedisServer::start();
    let echo = registered_service(&redis, "echo").await;
    let caller = registered_service(&redis, "caller").await;
    let mut echo_inbox = echo.messages();
    let mut caller_inbox = caller.messages();

    let msg = Umf::new("echo:/", caller.own_route(), json!({"ping": 1})).with_type("lab.ping");
    caller.send(&msg).await.unwrap();
    let got = tokio::time::timeout(WAIT, echo_inbox.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.mid, msg.mid);
    assert_eq!(got.body, json!({"ping": 1}));

    echo.reply(&got, json!({"pong": 1})).await.unwrap();
    let reply = tokio::time::timeout(WAIT, caller_inbox.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.rmid.as_deref(), Some(msg.mid.as_str()));
    assert_eq!(reply.to, caller.own_route());
    assert_eq!(reply.from, "echo:/");
    assert_eq!(
        reply.typ.as_deref(),
        Some("lab.ping"),
        "the reply inherits the type, as Node's"
    );
    assert_eq!(reply.body, json!({"pong": 1}));
    echo.shutdown().await.unwrap();
    caller.shutdown().await.unwrap();
}

#[tokio::test]
async fn request_awaits_the_correlated_reply() {
    let redis = RedisServer::start();
    let echo = registered_service(&redis, "echo").await;
    let mut inbox = echo.messages();
    let responder = echo.clone();
    tokio::spawn(async move {
        while let Some(m) = inbox.recv().await {
            let n = m.body["n"].as_i64().unwrap_or(0);
            responder.reply(&m, json!({"n2": n * 2})).await.unwrap();
        }
    });
    let caller = registered_service(&redis, "caller").await;
    let mut caller_inbox = caller.messages();
    let mut waits = Vec::new();
    for n in 0..50 {
        let c = caller.clone();
        waits.push(tokio::spawn(async move {
            c.request(Umf::new("echo:/", "caller:/", json!({"n": n})), WAIT)
                .await
                .map(|r| (n, r.body["n2"].as_i64().unwrap()))
        }));
    }
    for w in waits {
        let (n, n2) = w.await.unwrap().unwrap();
        assert_eq!(n2, n * 2);
    }
    // Replies awaited by a request do not also show up in the inbox.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), caller_inbox.recv())
            .await
            .is_err()
    );
    // Nobody answers: a timeout, and the waiter is forgotten.
    let err = caller
        .request(
            Umf::new("caller:/", "caller:/", json!({"x": 1})),
            Duration::from_millis(300),
        )
        .await;
    assert!(matches!(err, Err(HydraError::Timeout)), "{err:?}");
    echo.shutdown().await.unwrap();
    caller.shutdown().await.unwrap();
}

#[tokio::test]
async fn request_needs_registration() {
    let redis = RedisServer::start();
    let c = client(&redis, "client-only").await;
    let err = c.request(Umf::new("x:/", "y:/", json!(1)), WAIT).await;
    assert!(matches!(err, Err(HydraError::NotRegistered)));
}

#[tokio::test]
async fn broadcast_reaches_every_instance_direct_reaches_one() {
    let redis = RedisServer::start();
    let a = registered_service(&redis, "fanout").await;
    let b = registered_service(&redis, "fanout").await;
    let (mut ia, mut ib) = (a.messages(), b.messages());
    let sender = client(&redis, "sender").await;

    sender
        .broadcast(&Umf::new("fanout:/", "sender:/", json!({"all": true})))
        .await
        .unwrap();
    for inbox in [&mut ia, &mut ib] {
        let m = tokio::time::timeout(WAIT, inbox.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.body, json!({"all": true}));
    }

    let to_b = format!("{}@fanout:/", b.instance_id());
    sender
        .send(&Umf::new(to_b, "sender:/", json!({"only": "b"})))
        .await
        .unwrap();
    let m = tokio::time::timeout(WAIT, ib.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.body, json!({"only": "b"}));
    assert!(tokio::time::timeout(Duration::from_millis(300), ia.recv())
        .await
        .is_err());
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn unavailable_targets_give_nodes_reasons() {
    let redis = RedisServer::start();
    let h = registered_service(&redis, "lonely").await;
    let err = h
        .send(&Umf::new("nobody:/", "lonely:/", json!(1)))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "Unavailable nobody instances");
    assert_eq!(err.node_status(), 503);
    let err = h
        .send(&Umf::new("deadbeef@lonely:/", "lonely:/", json!(1)))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Unavailable lonely instance named deadbeef"
    );
    let err = h
        .broadcast(&Umf::new("nobody:/", "lonely:/", json!(1)))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "Unavailable nobody instances");
    assert_eq!(
        err.to_envelope()["result"]["reason"],
        "Unavailable nobody instances"
    );
    // No router: the refresh broadcast is quietly nothing.
    h.broadcast(&Umf::new(
        "hydra-router:/refresh",
        "lonely:/",
        json!({"action": "refresh"}),
    ))
    .await
    .unwrap();
    let err = h
        .send(&Umf::new("no-colon", "lonely:/", json!(1)))
        .await
        .unwrap_err();
    assert_eq!(err.node_status(), 400);
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn garbage_on_a_channel_is_dropped_and_the_next_message_handled() {
    let redis = RedisServer::start();
    let h = registered_service(&redis, "sturdy").await;
    let mut inbox = h.messages();
    let mut r = redis.connection().await;
    let direct = keys::instance_channel("sturdy", h.instance_id());
    for junk in [
        "not json at all",
        "null",
        "123",
        "[]",
        "{}",
        r#"{"to":"sturdy:/","frm":"x:/"}"#,
        r#"{"to":{"nested":1},"frm":"x:/","bdy":1}"#,
    ] {
        let _: i64 = r.publish(&direct, junk).await.unwrap();
    }
    let _: i64 = r
        .publish(keys::broadcast_channel("sturdy"), vec![0xffu8, 0xfe, 0x00])
        .await
        .unwrap();
    let _: i64 = r
        .publish(
            &direct,
            r#"{"to":"sturdy:/","frm":"x:/","bdy":{"ok":true}}"#,
        )
        .await
        .unwrap();
    let m = tokio::time::timeout(WAIT, inbox.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        m.body,
        json!({"ok": true}),
        "the first thing delivered is the valid message"
    );
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_crashed_instance_is_not_sent_to_while_its_presence_lingers() {
    let redis = RedisServer::start();
    let live = registered_service(&redis, "pair").await;
    let dead = registered_service(&redis, "pair").await;
    let dead_id = dead.instance_id().to_string();
    let mut inbox = live.messages();
    let sender = client(&redis, "sender").await;
    // Warm the sender's presence cache with both, then the second crashes (no clean shutdown).
    assert_eq!(sender.get_service_presence("pair").await.unwrap().len(), 2);
    let r = redis.connection().await;
    let listening = || {
        let mut r = r.clone();
        let channel = keys::instance_channel("pair", &dead_id);
        async move {
            let (_, n): (String, u32) = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(&channel)
                .query_async(&mut r)
                .await
                .unwrap();
            n > 0
        }
    };
    assert!(listening().await);
    drop(dead);
    wait_until(WAIT, "the crashed instance stops listening", || async {
        !listening().await
    })
    .await;
    let mut r = r.clone();
    assert!(
        exists(&mut r, &keys::presence("pair", &dead_id)).await,
        "presence still there"
    );
    for n in 0..10 {
        sender
            .send(&Umf::new("pair:/", "sender:/", json!({"n": n})))
            .await
            .unwrap();
        let m = tokio::time::timeout(WAIT, inbox.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.body["n"], n, "every message reaches the live instance");
    }
    let err = sender
        .send(&Umf::new(format!("{dead_id}@pair:/"), "sender:/", json!(1)))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("Unavailable pair instance named {dead_id}")
    );
    live.shutdown().await.unwrap();
}

async fn signing(redis: &RedisServer, name: &str, secret: &str, force: bool) -> hydra_core::Hydra {
    let mut c = service_config(redis, name);
    c.signature_shared_secret = secret.into();
    c.force_message_signature = force;
    let h = hydra_core::Hydra::connect(c).await.expect("connect");
    h.register_service().await.expect("register");
    h
}

#[tokio::test]
async fn queued_messages_are_signed_like_sent_ones() {
    let redis = RedisServer::start();
    let h = signing(&redis, "queuer", "s3cret", false).await;
    h.queue_message(&Umf::new("worker:/", h.own_route(), json!({"job": 1})))
        .await
        .unwrap();
    let taken = h.take_queued_message("worker").await.unwrap().unwrap();
    assert!(taken.message.signature.is_some(), "signed");
    assert!(taken.message.verify(b"s3cret"), "with the shared secret");
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn forced_signatures_drop_unsigned_and_forged_messages() {
    let redis = RedisServer::start();
    let guarded = signing(&redis, "guarded", "s3cret", true).await;
    let friend = signing(&redis, "friend", "s3cret", false).await;
    let stranger = registered_service(&redis, "stranger").await;
    let forger = signing(&redis, "forger", "not-the-secret", false).await;
    let mut inbox = guarded.messages();
    let mut friend_inbox = friend.messages();

    // In order: unsigned, forged, a Node-style stale signature, then a good one. Only the good
    // one arrives.
    stranger
        .send(&Umf::new(
            "guarded:/",
            stranger.own_route(),
            json!({"n": 1}),
        ))
        .await
        .unwrap();
    forger
        .send(&Umf::new("guarded:/", forger.own_route(), json!({"n": 2})))
        .await
        .unwrap();
    let mut stale = Umf::new("guarded:/", stranger.own_route(), json!({"n": 3}));
    stale.sign(b"s3cret");
    stale.body = json!({"n": 33}); // changed after signing
    stranger.send(&stale).await.unwrap();
    let good = Umf::new("guarded:/", friend.own_route(), json!({"n": 4}));
    friend.send(&good).await.unwrap();
    let got = tokio::time::timeout(WAIT, inbox.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.body, json!({"n": 4}), "only the signed message arrives");
    assert!(got.verify(b"s3cret"));

    // Its reply is signed too (a reply inherits the request's signature; it is signed afresh),
    // and a request from the guarded side gets its signed answer.
    guarded.reply(&got, json!({"ok": true})).await.unwrap();
    let reply = tokio::time::timeout(WAIT, friend_inbox.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(reply.verify(b"s3cret"), "the reply is signed");
    let responder = friend.clone();
    tokio::spawn(async move {
        while let Some(m) = friend_inbox.recv().await {
            let _ = responder.reply(&m, json!({"pong": true})).await;
        }
    });
    let answer = guarded
        .request(Umf::new("friend:/", "", json!({"ping": true})), WAIT)
        .await
        .unwrap();
    assert_eq!(answer.body, json!({"pong": true}));
    // Broadcasts are checked the same way.
    stranger
        .broadcast(&Umf::new(
            "guarded:/",
            stranger.own_route(),
            json!({"b": 1}),
        ))
        .await
        .unwrap();
    friend
        .broadcast(&Umf::new("guarded:/", friend.own_route(), json!({"b": 2})))
        .await
        .unwrap();
    let got = tokio::time::timeout(WAIT, inbox.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.body, json!({"b": 2}));
    for h in [guarded, friend, stranger, forger] {
        h.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn forcing_signatures_needs_a_secret() {
    let redis = RedisServer::start();
    let mut c = service_config(&redis, "guarded");
    c.force_message_signature = true;
    let err = hydra_core::Hydra::connect(c).await.unwrap_err();
    assert!(err.to_string().contains("signatureSharedSecret"), "{err}");
    // Settings from HYDRA_SERVICE k=v arrive as text.
    let doc = json!({"hydra": {"serviceName": "x", "signatureSharedSecret": "k", "forceMessageSignature": "true"}});
    let parsed = hydra_core::Config::from_value(doc).unwrap();
    assert!(parsed.hydra.force_message_signature);
    assert_eq!(parsed.hydra.signature_shared_secret, "k");
}

#[tokio::test]
async fn a_killed_subscription_comes_back_and_says_so() {
    let redis = RedisServer::start();
    let svc = registered_service(&redis, "echo").await;
    let mut restored = svc.subscriptions_restored();
    assert_eq!(*restored.borrow_and_update(), 0, "nothing lost yet");
    let mut r = redis.connection().await;
    let killed = redis.kill_subscribers();
    assert!(killed >= 1, "the instance's subscriber was connected");
    tokio::time::timeout(Duration::from_secs(5), restored.changed())
        .await
        .expect("told within 5 s")
        .unwrap();
    assert_eq!(*restored.borrow(), 1);
    // And the subscriptions work again (published until one arrives: the subscriber may still
    // be subscribing when told).
    let mut inbox = svc.messages();
    let wire =
        serde_json::to_string(&Umf::new("echo:/", "test:/", json!({"after": true}))).unwrap();
    let start = std::time::Instant::now();
    loop {
        let _: i64 = r
            .publish(keys::broadcast_channel("echo"), &wire)
            .await
            .unwrap();
        if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(200), inbox.recv()).await {
            assert_eq!(m.body, json!({"after": true}));
            break;
        }
        assert!(
            start.elapsed() < WAIT,
            "no message after the subscription came back"
        );
    }
}
