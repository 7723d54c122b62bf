//! One WebSocket client connection: its id and reconnect token, the messages it sends (to the
//! router, to other clients, to services), and its end (the client leaves, or the router shuts
//! down).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use hydra_core::{Route, Umf};
use redis::AsyncCommands;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::channel::{announce, router_route};
use super::hub::QUEUE_TTL_SECS;
use super::MAX_WS_MESSAGE;
use crate::state::RouterState;
use crate::tracer::tracer_id;

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

/// Takes an id back when its stored token is `ARGV[1]`, or when it has none: the token is
/// replaced by the claim `ARGV[2]` (for a few seconds, until the new token is stored), in one
/// step, so that of two sessions presenting the same token at once one wins and the other finds
/// the claim. 1 when taken, 0 when not.
const TAKE_TOKEN: &str = r"
local stored = redis.call('GET', KEYS[1])
if stored and stored ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', 10000)
return 1
";

/// Whether the session may take `old` back, and if so takes it: no client holds it, and the
/// token presented is the one stored for it (an id without a stored token was not issued by
/// this project's routers, or is older than a day, and is taken back as Node does). The check
/// and the taking are one step in Redis: a token takes its id back once.
async fn may_reconnect(
    state: &RouterState,
    old: &str,
    presented: Option<&str>,
) -> Result<(), String> {
    if state.ws.is_connected(old) {
        return Err(format!("reconnect refused: client {old} is connected"));
    }
    // A claim no client can present: random, and not hex as tokens are. A session without a
    // token presents the empty string, which is never stored.
    let claim = format!("claim-{}", new_token());
    let taken: i64 = redis::cmd("EVAL")
        .arg(TAKE_TOKEN)
        .arg(1)
        .arg(token_key(old))
        .arg(presented.unwrap_or(""))
        .arg(&claim)
        .query_async(&mut state.hydra.redis())
        .await
        .map_err(|e| format!("reconnect refused: {e}"))?;
    if taken == 1 {
        Ok(())
    } else {
        Err(format!(
            "reconnect refused: the reconnectToken handed out for {old} is required"
        ))
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
    let router = state.hydra.service_name().to_string();
    // A series per service the router knows; a client can name any service, and the names it
    // invents count under one.
    let known = route.service == router || state.pool.has_instances(&route.service);
    state.metrics.ws_message(if known {
        &route.service
    } else {
        crate::metrics::OTHER_SERVICE
    });

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
                let holder = if state.ws.is_local(&client) {
                    state.hydra.instance_id().to_string()
                } else {
                    state
                        .ws
                        .directory
                        .remote_router_of(&client)
                        .unwrap_or_default()
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
    if state.ws.is_local(&client) {
        msg.to = fwd.to_string();
        msg.via = Some(router_route(state));
        state.ws.deliver_local(&client, msg.to_wire());
        return;
    }
    if let Some(router) = state.ws.directory.remote_router_of(&client) {
        msg.to = format!("{router}@{}:/", state.hydra.service_name());
        if state.hydra.send(&msg).await.is_ok() {
            return;
        }
    }
    state.ws.enqueue(&client, &msg).await;
}
