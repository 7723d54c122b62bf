//! The WebSocket gateway with real routers, a real Redis and a real WebSocket client.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use hydra_core::{Hydra, HydraConfig, RedisConfig};
use hydra_testkit::RedisServer;
use redis::AsyncCommands;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(base: &str) -> (Ws, String) {
    let (ws, id, _) = connect_with_token(base).await;
    (ws, id)
}

/// A client connection: the socket, its id and the reconnect token it was handed.
async fn connect_with_token(base: &str) -> (Ws, String, String) {
    let url = base.replace("http://", "ws://") + "/";
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let hello = next_json(&mut ws).await.expect("connection message");
    assert_eq!(hello["typ"], "connection");
    let id = hello["bdy"]["id"].as_str().unwrap().to_string();
    let token = hello["bdy"]["reconnectToken"]
        .as_str()
        .expect("a reconnect token")
        .to_string();
    (ws, id, token)
}

/// A client that connected and left: its id and reconnect token, once the router let it go.
async fn gone_client(router: &Running) -> (String, String) {
    let (mut a, a_id, a_token) = connect_with_token(&router.base).await;
    a.close(None).await.unwrap();
    drop(a);
    wait_for("the router lets a go", Duration::from_secs(5), || async {
        !router.state.ws.is_connected(&a_id)
    })
    .await;
    (a_id, a_token)
}

async fn next_json(ws: &mut Ws) -> Option<Value> {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .ok()??
            .ok()?;
        match m {
            Message::Text(t) => return serde_json::from_str(&t).ok(),
            Message::Close(_) => return None,
            _ => {}
        }
    }
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

#[tokio::test]
async fn ping_http_through_and_service_replies() {
    let redis = RedisServer::start();
    let router = router(&redis, json!({})).await;
    let _svc = hello(&redis).await;
    // A service that answers UMF messages.
    let mut c = HydraConfig::named("ws-echo");
    c.service_ip = "127.0.0.1".into();
    c.redis = RedisConfig::from_url(redis.url());
    let echo = Hydra::connect(c).await.unwrap();
    let mut inbox = echo.messages();
    echo.register_service().await.unwrap();
    let responder = echo.clone();
    tokio::spawn(async move {
        while let Some(m) = inbox.recv().await {
            responder.reply(&m, json!({"echo": m.body})).await.unwrap();
        }
    });
    let http = reqwest::Client::new();
    until_status(&http, &format!("{}/v1/hello/test", router.base), 200).await;

    let (mut ws, id) = connect(&router.base).await;
    send(&mut ws, json!({"to": "hydra-router:/", "frm": format!("{id}@client:/"), "typ": "ping", "mid": "m-ping", "bdy": {}})).await;
    let pong = next_json(&mut ws).await.unwrap();
    assert_eq!(pong["typ"], "pong");
    assert_eq!(pong["rmid"], "m-ping");

    send(&mut ws, json!({"to": "hello-service:[get]/v1/hello/test", "frm": format!("{id}@client:/"), "mid": "m-http", "bdy": {}})).await;
    let reply = next_json(&mut ws).await.unwrap();
    assert_eq!(reply["rmid"], "m-http");
    assert!(
        reply["bdy"]["msg"]
            .as_str()
            .unwrap()
            .starts_with("hello from hello-service"),
        "{reply}"
    );

    send(&mut ws, json!({"to": "ws-echo:/", "frm": format!("{id}@client:/"), "mid": "m-svc", "bdy": {"x": 1}})).await;
    let reply = next_json(&mut ws).await.unwrap();
    assert_eq!(reply["rmid"], "m-svc");
    assert_eq!(reply["bdy"], json!({"echo": {"x": 1}}));
    assert!(reply.get("via").is_none());

    send(
        &mut ws,
        json!({"to": "nobody-service:/", "frm": "c:/", "bdy": {}}),
    )
    .await;
    let err = next_json(&mut ws).await.unwrap();
    assert_eq!(err["bdy"]["error"], "No nobody-service instances available");
    echo.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_frames_get_an_error_and_a_close() {
    let redis = RedisServer::start();
    let router = router(&redis, json!({})).await;
    for bad in ["not json", "[1,2]", r#"{"to":"x:/","frm":"c:/"}"#] {
        let (mut ws, _) = connect(&router.base).await;
        ws.send(Message::Text(bad.into())).await.unwrap();
        let err = next_json(&mut ws).await.unwrap();
        assert!(
            err["bdy"]["error"]
                .as_str()
                .unwrap()
                .contains("Invalid UMF message"),
            "{err}"
        );
        assert!(next_json(&mut ws).await.is_none(), "closed after {bad}");
    }
    // The router still serves.
    let (mut ws, id) = connect(&router.base).await;
    send(
        &mut ws,
        json!({"to": "hydra-router:/", "frm": format!("{id}@client:/"), "typ": "ping", "bdy": {}}),
    )
    .await;
    assert_eq!(next_json(&mut ws).await.unwrap()["typ"], "pong");
}

#[tokio::test]
async fn forward_across_two_routers_and_reconnect_drains_the_queue() {
    let redis = RedisServer::start();
    let r1 = router(&redis, json!({})).await;
    let r2 = router(&redis, json!({})).await;
    let (mut a, a_id) = connect(&r1.base).await;
    let (mut b, b_id, b_token) = connect_with_token(&r2.base).await;
    // Router 1 learns of b through router 2's wsdir.add broadcast.
    let http = reqwest::Client::new();
    let t = std::time::Instant::now();
    loop {
        let v = get_json(&http, format!("{}/v1/router/list/wsdir", r1.base)).await;
        if v["result"][r2.hydra.instance_id()].get(&b_id).is_some() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "directory shared: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    send(&mut a, json!({"to": "hydra-router:/", "frm": format!("{a_id}@client:/"), "fwd": format!("{b_id}@client:/"), "bdy": {"hi": "from a"}})).await;
    let got = next_json(&mut b).await.unwrap();
    assert_eq!(got["bdy"], json!({"hi": "from a"}));

    // b leaves; a message for it is queued; b comes back with its id and gets it.
    b.close(None).await.unwrap();
    drop(b);
    wait_for(
        "router 1 learns that b left",
        Duration::from_secs(5),
        || async {
            let v = get_json(&http, format!("{}/v1/router/list/wsdir", r1.base)).await;
            v["result"][r2.hydra.instance_id()].get(&b_id).is_none()
        },
    )
    .await;
    for n in 1..=3 {
        send(&mut a, json!({"to": "hydra-router:/", "frm": format!("{a_id}@client:/"), "fwd": format!("{b_id}@client:/"), "bdy": {"while": "away", "n": n}})).await;
    }
    // The queues are in the router's queuerDB (0).
    let conn = redis::Client::open(redis.url_db(0))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    wait_for("the messages for b queued", Duration::from_secs(5), || {
        let mut conn = conn.clone();
        let key = hydra_core::keys::router_ws_queued(&b_id);
        async move { conn.llen::<_, usize>(key).await.unwrap() == 3 }
    })
    .await;
    let (mut b2, _new_id) = connect(&r2.base).await;
    send(
        &mut b2,
        json!({"to": "hydra-router:/", "frm": "c:/", "typ": "reconnect", "bdy": {"id": b_id, "reconnectToken": b_token}}),
    )
    .await;
    let welcome = next_json(&mut b2).await.unwrap();
    assert_eq!(welcome["typ"], "connection");
    assert_eq!(welcome["bdy"]["id"], b_id.as_str());
    // In the order they were sent (Node's router hands out the newest first).
    for n in 1..=3 {
        let queued = next_json(&mut b2).await.unwrap();
        assert_eq!(queued["bdy"], json!({"while": "away", "n": n}));
    }
}

#[tokio::test]
async fn a_client_cannot_take_another_clients_id_or_name() {
    let redis = RedisServer::start();
    let router = router(&redis, json!({})).await;
    let (mut a, a_id, a_token) = connect_with_token(&router.base).await;
    let (mut b, b_id) = connect(&router.base).await;
    let (mut c, c_id) = connect(&router.base).await;
    // b asks for a's id while a is connected, even with a's token: refused, b stays b.
    for body in [
        json!({"id": a_id}),
        json!({"id": a_id, "reconnectToken": a_token}),
    ] {
        send(&mut b, json!({"to": "hydra-router:/", "frm": format!("{b_id}@client:/"), "typ": "reconnect", "bdy": body})).await;
        let answer = next_json(&mut b).await.unwrap();
        assert!(
            answer["bdy"]["error"]
                .as_str()
                .unwrap_or_default()
                .contains("refused"),
            "{answer}"
        );
    }
    // A message for a still reaches a, and names its real sender whatever frm said.
    send(&mut c, json!({"to": "hydra-router:/", "frm": "hydra-router:/", "fwd": format!("{a_id}@client:/"), "bdy": {"for": "a"}})).await;
    let got = next_json(&mut a).await.unwrap();
    assert_eq!(got["bdy"], json!({"for": "a"}));
    assert_eq!(
        got["frm"],
        format!("{c_id}@client:/"),
        "frm is the sender's session"
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), b.next())
            .await
            .is_err(),
        "b got nothing of a's"
    );
}

#[tokio::test]
async fn reconnect_takes_an_id_back_only_with_its_token() {
    let redis = RedisServer::start();
    let router = router(&redis, json!({})).await;
    let (a_id, a_token) = gone_client(&router).await;
    let (mut x, x_id) = connect(&router.base).await;
    for body in [
        json!({"id": a_id}),
        json!({"id": a_id, "reconnectToken": "guess"}),
    ] {
        send(&mut x, json!({"to": "hydra-router:/", "frm": format!("{x_id}@client:/"), "typ": "reconnect", "bdy": body})).await;
        let answer = next_json(&mut x).await.unwrap();
        assert!(
            answer["bdy"]["error"]
                .as_str()
                .unwrap_or_default()
                .contains("reconnectToken"),
            "{answer}"
        );
    }
    send(&mut x, json!({"to": "hydra-router:/", "frm": format!("{x_id}@client:/"), "typ": "reconnect", "bdy": {"id": a_id, "reconnectToken": a_token}})).await;
    let welcome = next_json(&mut x).await.unwrap();
    assert_eq!(welcome["typ"], "connection");
    assert_eq!(welcome["bdy"]["id"], a_id.as_str());
    let fresh = welcome["bdy"]["reconnectToken"].as_str().unwrap();
    assert_ne!(fresh, a_token, "a new token with each (re)connection");
    // An id no router of ours handed out (a Node router's) is taken back the old way.
    let (mut y, y_id) = connect(&router.base).await;
    send(&mut y, json!({"to": "hydra-router:/", "frm": format!("{y_id}@client:/"), "typ": "reconnect", "bdy": {"id": "nodeclient1"}})).await;
    let welcome = next_json(&mut y).await.unwrap();
    assert_eq!(welcome["bdy"]["id"], "nodeclient1");
}

#[tokio::test]
async fn signature_enforcement_rejects_unsigned_and_forged() {
    let redis = RedisServer::start();
    let secret = "shared-secret";
    let router = router(
        &redis,
        json!({"forceMessageSignature": true, "signatureSharedSecret": secret}),
    )
    .await;
    let ping = |id: &str| {
        hydra_core::Umf::from_value(&json!({"to": "hydra-router:/", "frm": format!("{id}@client:/"), "typ": "ping", "bdy": {}})).unwrap()
    };
    // Signed: answered.
    let (mut ws, id) = connect(&router.base).await;
    let mut signed = ping(&id);
    signed.sign(secret.as_bytes());
    send(&mut ws, signed.to_short()).await;
    assert_eq!(next_json(&mut ws).await.unwrap()["typ"], "pong");
    // Unsigned: refused and closed.
    let (mut ws, id) = connect(&router.base).await;
    send(&mut ws, ping(&id).to_short()).await;
    assert_eq!(
        next_json(&mut ws).await.unwrap()["bdy"]["error"],
        "Not a signed UMF message"
    );
    assert!(next_json(&mut ws).await.is_none());
    // Signed with another secret: refused and closed.
    let (mut ws, id) = connect(&router.base).await;
    let mut forged = ping(&id);
    forged.sign(b"not-the-secret");
    send(&mut ws, forged.to_short()).await;
    assert_eq!(
        next_json(&mut ws).await.unwrap()["bdy"]["error"],
        "Invalid signed UMF message"
    );
    assert!(next_json(&mut ws).await.is_none());
}

#[tokio::test]
async fn clients_get_a_going_away_close_frame_when_the_router_shuts_down() {
    let redis = RedisServer::start();
    let router = router(&redis, json!({})).await;
    let (mut ws, _id) = connect(&router.base).await;
    let stopping = tokio::spawn(router.stop());
    let frame = loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a Close frame before the deadline")
        {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("connection ended without a Close frame: {other:?}"),
        }
    };
    let frame = frame.expect("a Close frame with a code");
    assert_eq!(u16::from(frame.code), 1001);
    assert_eq!(frame.reason, "going away");
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .expect("the router stops")
        .unwrap();
}

#[tokio::test]
async fn one_reconnect_token_takes_its_id_back_once_however_many_present_it_at_once() {
    let redis = RedisServer::start();
    let router = router(&redis, json!({})).await;
    for round in 0..6 {
        let (a_id, a_token) = gone_client(&router).await;
        let (mut x, x_id) = connect(&router.base).await;
        let (mut y, y_id) = connect(&router.base).await;
        let ask = |id: &str| json!({"to": "hydra-router:/", "frm": format!("{id}@client:/"), "typ": "reconnect", "bdy": {"id": a_id, "reconnectToken": a_token}});
        let (ask_x, ask_y) = (ask(&x_id), ask(&y_id));
        tokio::join!(send(&mut x, ask_x), send(&mut y, ask_y));
        let (x_answer, y_answer) = tokio::join!(next_json(&mut x), next_json(&mut y));
        let took = [x_answer.unwrap(), y_answer.unwrap()]
            .iter()
            .filter(|answer| answer["typ"] == "connection" && answer["bdy"]["id"] == a_id.as_str())
            .count();
        assert_eq!(took, 1, "round {round}: {took} clients took {a_id}");
    }
}

#[tokio::test]
async fn messages_to_invented_services_make_no_series_of_their_own() {
    let redis = RedisServer::start();
    let router = router(&redis, json!({"wsRateLimit": 1000})).await;
    let (mut ws, id) = connect(&router.base).await;
    for i in 0..200 {
        send(
            &mut ws,
            json!({"to": format!("invented-{i}:/x"), "frm": format!("{id}@client:/"), "bdy": {}}),
        )
        .await;
    }
    send(
        &mut ws,
        json!({"to": "hydra-router:/", "frm": format!("{id}@client:/"), "typ": "ping", "bdy": {}}),
    )
    .await;
    // Answered in order: the ping's pong comes once every message before it was counted.
    loop {
        let answer = next_json(&mut ws).await.expect("a pong");
        if answer["typ"] == "pong" {
            break;
        }
    }
    let http = reqwest::Client::new();
    let text = get_text(&http, format!("{}/metrics", router.base)).await;
    assert!(!text.contains("invented-"), "a series per invented name");
    assert!(
        text.contains("hydra_router_ws_messages_total{service=\"(other)\"} 200"),
        "{text}"
    );
    assert!(
        text.contains("hydra_router_ws_messages_total{service=\"hydra-router\"} 1"),
        "{text}"
    );
}
