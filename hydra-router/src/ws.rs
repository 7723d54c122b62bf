//! The WebSocket gateway, Node hydra-router's protocol:
//!
//! - on connect the client gets `{typ:"connection", bdy:{id, ip}}`;
//! - `ping` to the router → `pong`; `reconnect` with an earlier id takes that id back and drains
//!   the messages queued for it; `wsdir.loc` finds a client on any router; `fwd` to a client id
//!   delivers to that client, on whichever router holds it;
//! - a session is bound to its id: the connection message carries a `reconnectToken` (kept in
//!   Redis for 24 h, so any router can check it), and `reconnect` takes an id back only when no
//!   client holds it and the token matches (an id no router of ours issued, a Node router's, is
//!   taken back the old way, without one); every message a client sends leaves with
//!   `frm` = `{its id}@client:{path}`, whatever it claimed;
//! - a `to` with a `[method]` is done as an HTTP request; the answer comes back as UMF with `rmid`;
//! - a `to` naming a service goes over pub/sub with `via` = `{router}-{client}@hydra-router:/`,
//!   so the service's reply finds the client;
//! - invalid JSON or invalid UMF gets an error message and the connection is closed.
//!
//! Routers share their client directories with `wsdir.add|del|rem|sha|dir` broadcasts. Messages
//! for a client that is not connected are queued in Redis for 24 h
//! (`hydra-router:message:queue:{client}:queued`).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use hydra_core::{keys, Route, Umf};
use redis::AsyncCommands;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::state::RouterState;
use crate::tracer::tracer_id;

/// Queued messages for absent clients live this long.
const QUEUE_TTL_SECS: i64 = 86_400;
/// Where a client id's reconnect token is kept (as long as its queued messages).
fn token_key(client: &str) -> String {
    format!("hydra-router:client:{client}:reconnect")
}

/// A fresh reconnect token: 128 random bits, hex.
fn new_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Outgoing messages buffered per client before it is considered stuck.
const CLIENT_BUFFER: usize = 1024;
/// Largest WebSocket message accepted.
pub const MAX_WS_MESSAGE: usize = 256 * 1024;
/// The read buffer each connection starts with; it grows for a larger message. (The default,
/// 128 KiB, made an idle connection cost about 138 KiB.)
pub const READ_BUFFER: usize = 4 * 1024;

/// Local clients and the directory of every router's clients.
#[derive(Debug)]
pub struct WsHub {
    router_id: String,
    local: Mutex<HashMap<String, mpsc::Sender<String>>>,
    directory: Mutex<HashMap<String, HashSet<String>>>,
    queuer: Option<redis::aio::ConnectionManager>,
}

impl WsHub {
    /// A hub for router `router_id`; `queuer` holds the queues of absent clients.
    pub fn new(router_id: String, queuer: Option<redis::aio::ConnectionManager>) -> Self {
        Self {
            directory: Mutex::new(HashMap::from([(router_id.clone(), HashSet::new())])),
            router_id,
            local: Mutex::new(HashMap::new()),
            queuer,
        }
    }

    /// `{routerID: {clientID: 1}}`, as Node lists it.
    pub fn directory_json(&self) -> Value {
        let dir = self.directory.lock().expect("directory lock");
        let mut out = serde_json::Map::new();
        for (router, clients) in dir.iter() {
            let c: serde_json::Map<String, Value> =
                clients.iter().map(|id| (id.clone(), json!(1))).collect();
            out.insert(router.clone(), Value::Object(c));
        }
        Value::Object(out)
    }

    /// How many clients are connected here.
    pub fn local_count(&self) -> usize {
        self.local.lock().expect("clients lock").len()
    }

    fn register(&self, id: &str, tx: mpsc::Sender<String>) {
        self.local
            .lock()
            .expect("clients lock")
            .insert(id.to_string(), tx);
        self.directory
            .lock()
            .expect("directory lock")
            .entry(self.router_id.clone())
            .or_default()
            .insert(id.to_string());
    }

    fn unregister(&self, id: &str) {
        self.local.lock().expect("clients lock").remove(id);
        if let Some(mine) = self
            .directory
            .lock()
            .expect("directory lock")
            .get_mut(&self.router_id)
        {
            mine.remove(id);
        }
    }

    /// Sends text to a local client; false when it is not here.
    fn deliver_local(&self, id: &str, text: String) -> bool {
        let tx = self.local.lock().expect("clients lock").get(id).cloned();
        match tx {
            Some(tx) => tx.try_send(text).is_ok(),
            None => false,
        }
    }

    /// The router holding `client`, other than this one.
    fn remote_router_of(&self, client: &str) -> Option<String> {
        self.directory
            .lock()
            .expect("directory lock")
            .iter()
            .find(|(r, c)| **r != self.router_id && c.contains(client))
            .map(|(r, _)| r.clone())
    }

    async fn enqueue(&self, client: &str, msg: &Umf) {
        let Some(mut q) = self.queuer.clone() else {
            return;
        };
        let key = keys::router_ws_queued(client);
        let r: Result<(), redis::RedisError> = redis::pipe()
            .rpush(&key, msg.to_wire())
            .ignore()
            .expire(&key, QUEUE_TTL_SECS)
            .ignore()
            .query_async(&mut q)
            .await;
        if let Err(e) = r {
            tracing::warn!(%client, error = %e, "could not queue a message for an absent client");
        }
    }

    async fn drain_queue(&self, client: &str, tx: &mpsc::Sender<String>) {
        let Some(mut q) = self.queuer.clone() else {
            return;
        };
        let queued = keys::router_ws_queued(client);
        let processing = keys::router_ws_processing(client);
        loop {
            let item: Result<Option<String>, _> = q.rpoplpush(&queued, &processing).await;
            let Ok(Some(text)) = item else { return };
            // Node sends the oldest first (RPUSH + RPOPLPUSH takes the newest); keep Node's order.
            let out = Umf::parse(&text)
                .map(|m| m.to_wire())
                .unwrap_or(text.clone());
            if tx.send(out).await.is_err() {
                return;
            }
            let _: Result<(), _> = q.lrem(&processing, -1, &text).await;
        }
    }
}

fn router_route(state: &RouterState) -> String {
    state.hydra.own_route()
}

fn error_message(state: &RouterState, text: &str) -> String {
    Umf::new("client:/", router_route(state), json!({ "error": text })).to_wire()
}

/// Runs one client connection until it closes; its log lines carry the client id it started
/// with (`ws{client=…}`).
pub async fn session(
    state: Arc<RouterState>,
    socket: WebSocket,
    peer: Option<SocketAddr>,
    forwarded_for: Option<String>,
) {
    let id = tracer_id();
    let span = tracing::info_span!("ws", client = %id);
    tracing::Instrument::instrument(run_session(state, socket, peer, forwarded_for, id), span)
        .await;
}

async fn run_session(
    state: Arc<RouterState>,
    socket: WebSocket,
    peer: Option<SocketAddr>,
    forwarded_for: Option<String>,
    mut id: String,
) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<String>(CLIENT_BUFFER);
    state.ws.register(&id, tx.clone());
    state.metrics.ws_clients(1);
    announce(&state, "wsdir.add", &id).await;
    let ip = forwarded_for
        .or_else(|| peer.map(|p| p.ip().to_string()))
        .unwrap_or_else(|| "unknown".into());
    let token = issue_token(&state, &id).await;
    let _ = tx
        .send(connection_message(&state, &id, &ip, token.as_deref()))
        .await;

    let rate = state.config.ws_rate_limit.max(1) as f64;
    let mut tokens = rate;
    let mut last = Instant::now();
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => {
                let close = CloseFrame { code: close_code::AWAY, reason: "going away".into() };
                let _ = sink.send(Message::Close(Some(close))).await;
                break;
            }
            out = rx.recv() => {
                let Some(text) = out else { break };
                if sink.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            incoming = stream.next() => {
                let text = match incoming {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Binary(b))) => match String::from_utf8(b.to_vec()) {
                        Ok(t) => t,
                        Err(_) => {
                            let _ = sink.send(Message::Text(error_message(&state, "binary frames are not UMF").into())).await;
                            break;
                        }
                    },
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                };
                // Token bucket: `wsRateLimit` messages per second, bursts of the same size.
                let now = Instant::now();
                tokens = (tokens + now.duration_since(last).as_secs_f64() * rate).min(rate);
                last = now;
                if tokens < 1.0 {
                    let _ = tx.try_send(error_message(&state, "rate limit exceeded; message dropped"));
                    continue;
                }
                tokens -= 1.0;
                match handle_text(&state, &mut id, &tx, &text).await {
                    Flow::Continue => {}
                    Flow::Close(reason) => {
                        let _ = sink.send(Message::Text(error_message(&state, &reason).into())).await;
                        break;
                    }
                }
            }
        }
    }
    state.ws.unregister(&id);
    state.metrics.ws_clients(-1);
    announce(&state, "wsdir.del", &id).await;
    let _ = sink.close().await;
}

fn connection_message(state: &RouterState, id: &str, ip: &str, token: Option<&str>) -> String {
    let mut body = json!({"id": id, "ip": ip});
    if let Some(t) = token {
        body["reconnectToken"] = json!(t);
    }
    Umf::new(format!("{id}@client:/"), router_route(state), body)
        .with_type("connection")
        .to_wire()
}

/// Stores a new reconnect token for `client` (24 h) and returns it; `None` when Redis would not
/// keep it (the client can then not reconnect to this id).
async fn issue_token(state: &RouterState, client: &str) -> Option<String> {
    let token = new_token();
    let mut conn = state.hydra.redis();
    let stored: Result<(), redis::RedisError> = conn
        .set_ex(token_key(client), &token, QUEUE_TTL_SECS as u64)
        .await;
    match stored {
        Ok(()) => Some(token),
        Err(e) => {
            tracing::debug!(%client, error = %e, "could not store a reconnect token");
            None
        }
    }
}

/// Whether a client with this id is connected to this router or, as far as the directory knows,
/// to another.
fn is_connected(state: &RouterState, client: &str) -> bool {
    state
        .ws
        .local
        .lock()
        .expect("clients lock")
        .contains_key(client)
        || state.ws.remote_router_of(client).is_some()
}

/// Whether the session may take `old` back: no client holds it, and the token presented is the
/// one stored for it (an id without a stored token was not issued by this project's routers, or
/// is older than a day, and is taken back as Node does).
async fn may_reconnect(
    state: &RouterState,
    old: &str,
    presented: Option<&str>,
) -> Result<(), String> {
    if is_connected(state, old) {
        return Err(format!("reconnect refused: client {old} is connected"));
    }
    let stored: Option<String> = state
        .hydra
        .redis()
        .get(token_key(old))
        .await
        .map_err(|e| format!("reconnect refused: {e}"))?;
    match (stored, presented) {
        (None, _) => Ok(()),
        (Some(s), Some(p))
            if bool::from(subtle::ConstantTimeEq::ct_eq(s.as_bytes(), p.as_bytes())) =>
        {
            Ok(())
        }
        (Some(_), _) => Err(format!(
            "reconnect refused: the reconnectToken handed out for {old} is required"
        )),
    }
}

async fn announce(state: &RouterState, typ: &str, client: &str) {
    let msg = Umf::new(
        format!("{}:/", keys::ROUTER_SERVICE),
        router_route(state),
        json!({"routerID": state.hydra.instance_id(), "clientID": client}),
    )
    .with_type(typ);
    if let Err(e) = state.hydra.broadcast(&msg).await {
        tracing::debug!(error = %e, "directory broadcast failed");
    }
}

enum Flow {
    Continue,
    Close(String),
}

async fn handle_text(
    state: &Arc<RouterState>,
    id: &mut String,
    tx: &mpsc::Sender<String>,
    text: &str,
) -> Flow {
    if text.len() > MAX_WS_MESSAGE {
        return Flow::Close(format!("message larger than {MAX_WS_MESSAGE} bytes"));
    }
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => {
            return Flow::Close(format!(
                "HR: Invalid UMF message: {} closing connection",
                truncate(text)
            ))
        }
    };
    let mut msg = match Umf::from_value(&value).and_then(|m| m.validate().map(|()| m)) {
        Ok(m) => m,
        Err(_) => {
            return Flow::Close(format!(
                "HR: Invalid UMF message: {} closing connection",
                truncate(text)
            ))
        }
    };
    if state.config.force_message_signature {
        if msg.signature.is_none() {
            return Flow::Close("Not a signed UMF message".into());
        }
        if !msg.verify(state.config.signature_shared_secret.as_bytes()) {
            return Flow::Close("Invalid signed UMF message".into());
        }
    }
    // The sender is this session, whatever `frm` claims (only its path is the client's).
    let path = Route::parse(&msg.from).map_or_else(|_| "/".to_string(), |r| r.path);
    let from = format!("{id}@client:{path}");
    if msg.from != from {
        msg.from = from;
        if msg.signature.is_some() && !state.config.signature_shared_secret.is_empty() {
            msg.sign(state.config.signature_shared_secret.as_bytes());
        }
    }
    let route = match Route::parse(&msg.to) {
        Ok(r) => r,
        Err(e) => return Flow::Close(e.to_string()),
    };
    state.metrics.ws_message(&route.service);
    let router = state.hydra.service_name().to_string();

    if route.method.is_some() {
        if route.service == router {
            let reply = Umf::new(
                msg.from.clone(),
                router_route(state),
                json!({"error": format!("Route {} is not routable.", route.path)}),
            );
            let _ = tx.send(reply.to_wire()).await;
            return Flow::Continue;
        }
        let task_state = state.clone();
        let tx = tx.clone();
        state
            .tasks
            .spawn(async move { http_through(&task_state, &tx, msg).await });
        return Flow::Continue;
    }

    if route.service == router {
        match msg.typ.as_deref() {
            Some("ping") => {
                let mut pong = Umf::new(
                    msg.from.clone(),
                    router_route(state),
                    json!({"typ": "pong"}),
                )
                .with_type("pong");
                pong.rmid = Some(msg.mid.clone());
                let _ = tx.send(pong.to_wire()).await;
                return Flow::Continue;
            }
            Some("log") => {
                tracing::info!(message = %msg.body, "client log");
                return Flow::Continue;
            }
            Some("reconnect") => {
                let Some(old) = msg
                    .body
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                else {
                    return Flow::Close("reconnect message missing reconnect id".into());
                };
                let old = old.to_string();
                if old == *id {
                    return Flow::Continue;
                }
                let presented = msg.body.get("reconnectToken").and_then(Value::as_str);
                if let Err(reason) = may_reconnect(state, &old, presented).await {
                    tracing::warn!(client = %id, wanted = %old, %reason, "WebSocket reconnect refused");
                    let _ = tx.send(error_message(state, &reason)).await;
                    return Flow::Continue;
                }
                state.ws.unregister(id);
                announce(state, "wsdir.del", id).await;
                let _: Result<(), _> = state.hydra.redis().del(token_key(id)).await;
                *id = old;
                state.ws.register(id, tx.clone());
                announce(state, "wsdir.add", id).await;
                let token = issue_token(state, id).await;
                let _ = tx
                    .send(connection_message(state, id, "reconnect", token.as_deref()))
                    .await;
                state.ws.drain_queue(id, tx).await;
                return Flow::Continue;
            }
            Some("wsdir.loc") => {
                let client = msg
                    .body
                    .get("clientID")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let holder = if state
                    .ws
                    .local
                    .lock()
                    .expect("clients lock")
                    .contains_key(&client)
                {
                    state.hydra.instance_id().to_string()
                } else {
                    state.ws.remote_router_of(&client).unwrap_or_default()
                };
                let mut reply = Umf::new(
                    msg.from.clone(),
                    router_route(state),
                    json!({"routerID": holder, "clientID": client}),
                );
                reply.rmid = Some(msg.mid.clone());
                let _ = tx.send(reply.to_wire()).await;
                return Flow::Continue;
            }
            _ => {}
        }
        if let Some(fwd) = msg
            .forward
            .as_ref()
            .and_then(Value::as_str)
            .map(String::from)
        {
            if route.path == "/queue" {
                let mut queued = msg.clone();
                queued.to = fwd;
                queued.forward = None;
                if let Err(e) = state.hydra.queue_message(&queued).await {
                    let _ = tx.send(error_message(state, &e.to_string())).await;
                }
                return Flow::Continue;
            }
            forward_to_client(state, msg, &fwd).await;
            return Flow::Continue;
        }
        return Flow::Close("Unrecognized Hydra Router request".into());
    }

    // A message for a service: over pub/sub, with `via` so the reply finds this client.
    let mut out = msg;
    out.via = Some(format!("{}-{}@{}:/", state.hydra.instance_id(), id, router));
    if route.instance.is_none() {
        match state.hydra.get_service_presence(&route.service).await {
            Ok(list) if !list.is_empty() => {
                out.to = format!(
                    "{}@{}:{}",
                    list[0].instance_id, list[0].service_name, route.path
                );
            }
            _ => {
                let _ = tx
                    .send(error_message(
                        state,
                        &format!("No {} instances available", route.service),
                    ))
                    .await;
                return Flow::Continue;
            }
        }
    }
    if let Err(e) = state.hydra.send(&out).await {
        let _ = tx.send(error_message(state, &e.to_string())).await;
    }
    Flow::Continue
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}

async fn http_through(state: &RouterState, tx: &mpsc::Sender<String>, msg: Umf) {
    let mut reply = Umf::new(msg.from.clone(), msg.to.clone(), json!({}));
    reply.rmid = Some(msg.mid.clone());
    let mut call = msg.clone();
    if call.timeout.is_none() {
        call.timeout = Some(json!(state.config.request_timeout.as_secs_f64()));
    }
    reply.body = match state.hydra.api_request(&call).await {
        Ok(r) => match r.json() {
            Some(_) => r.envelope()["result"].clone(),
            None => Value::String(String::from_utf8_lossy(&r.body).into_owned()),
        },
        Err(e) => json!({"error": true, "result": e.to_string()}),
    };
    let _ = tx.send(reply.to_wire()).await;
}

/// Delivers `msg` to client `fwd` (`{client}@client:/`): here, on the router that holds it, or
/// into its queue.
async fn forward_to_client(state: &RouterState, mut msg: Umf, fwd: &str) {
    let client = Route::parse(fwd)
        .ok()
        .and_then(|r| r.instance)
        .unwrap_or_default();
    if state
        .ws
        .local
        .lock()
        .expect("clients lock")
        .contains_key(&client)
    {
        msg.to = fwd.to_string();
        msg.via = Some(router_route(state));
        state.ws.deliver_local(&client, msg.to_wire());
        return;
    }
    if let Some(router) = state.ws.remote_router_of(&client) {
        msg.to = format!("{router}@{}:/", state.hydra.service_name());
        if state.hydra.send(&msg).await.is_ok() {
            return;
        }
    }
    state.ws.enqueue(&client, &msg).await;
}

/// Handles a message arriving on the router's channels: route refreshes, directory updates from
/// other routers, replies for WebSocket clients (`via`), forwards (`fwd`).
pub async fn channel_message(state: &Arc<RouterState>, msg: Umf) {
    let body = &msg.body;
    if body.get("action").and_then(Value::as_str) == Some("refresh") {
        match body.get("serviceName").and_then(Value::as_str) {
            Some(svc) => state.reload_service(svc).await,
            None => state.reload_routes().await,
        }
        state.refresh_pool().await;
        return;
    }
    let me = state.hydra.instance_id().to_string();
    if let Some(router) = body
        .get("routerID")
        .and_then(Value::as_str)
        .filter(|r| *r != me)
    {
        let router = router.to_string();
        let client = body
            .get("clientID")
            .and_then(Value::as_str)
            .map(String::from);
        match msg.typ.as_deref() {
            Some("wsdir.add") => {
                if let Some(c) = client {
                    state
                        .ws
                        .directory
                        .lock()
                        .expect("directory lock")
                        .entry(router)
                        .or_default()
                        .insert(c);
                }
            }
            Some("wsdir.del") => {
                if let (Some(c), Some(set)) = (
                    client,
                    state
                        .ws
                        .directory
                        .lock()
                        .expect("directory lock")
                        .get_mut(&router),
                ) {
                    set.remove(&c);
                }
            }
            Some("wsdir.rem") => {
                state
                    .ws
                    .directory
                    .lock()
                    .expect("directory lock")
                    .remove(&router);
            }
            Some("wsdir.sha") => {
                let mine = state.ws.directory_json()[&me].clone();
                let dir = Umf::new(
                    format!("{router}@{}:/", state.hydra.service_name()),
                    router_route(state),
                    json!({"routerID": me, "directory": mine}),
                )
                .with_type("wsdir.dir");
                let _ = state.hydra.broadcast(&dir).await;
            }
            Some("wsdir.dir") => {
                let clients: HashSet<String> = body
                    .get("directory")
                    .and_then(Value::as_object)
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default();
                state
                    .ws
                    .directory
                    .lock()
                    .expect("directory lock")
                    .insert(router, clients);
            }
            _ => {}
        }
        return;
    }
    if let Some(via) = msg.via.clone() {
        let client = Route::parse(&via)
            .ok()
            .and_then(|r| r.sub_id)
            .unwrap_or_default();
        let mut out = msg.clone();
        out.via = None;
        if state.ws.deliver_local(&client, out.to_wire()) {
            return;
        }
        if let Some(router) = state.ws.remote_router_of(&client) {
            let mut hop = msg.clone();
            hop.via = Some(format!(
                "{router}-{client}@{}:/",
                state.hydra.service_name()
            ));
            hop.to = format!("{router}@{}:/", state.hydra.service_name());
            if state.hydra.send(&hop).await.is_ok() {
                return;
            }
        }
        state.ws.enqueue(&client, &out).await;
        return;
    }
    if let Some(fwd) = msg
        .forward
        .as_ref()
        .and_then(Value::as_str)
        .map(String::from)
    {
        let client = Route::parse(&fwd)
            .ok()
            .and_then(|r| r.instance)
            .unwrap_or_default();
        if !state.ws.deliver_local(&client, msg.to_wire()) {
            state.ws.enqueue(&client, &msg).await;
        }
    }
}

/// Announces this router's arrival (`wsdir.sha`) so others share their directories.
pub async fn announce_start(state: &RouterState) {
    let msg = Umf::new(
        format!("{}:/", keys::ROUTER_SERVICE),
        router_route(state),
        json!({"routerID": state.hydra.instance_id()}),
    )
    .with_type("wsdir.sha");
    let _ = state.hydra.broadcast(&msg).await;
}

/// Announces this router's departure (`wsdir.rem`).
pub async fn announce_stop(state: &RouterState) {
    let msg = Umf::new(
        format!("{}:/", keys::ROUTER_SERVICE),
        router_route(state),
        json!({"routerID": state.hydra.instance_id()}),
    )
    .with_type("wsdir.rem");
    let _ = state.hydra.broadcast(&msg).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
}
