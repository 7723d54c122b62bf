//! The router's pub/sub messages: route refreshes, the directory broadcasts of the routers
//! (`wsdir.*`), replies and forwards for WebSocket clients.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use hydra_core::{keys, Route, Umf};
use serde_json::{json, Value};

use crate::state::RouterState;

/// This router's own route (`{instance}@hydra-router:/`), the sender of its messages.
pub fn router_route(state: &RouterState) -> String {
    state.hydra.own_route()
}

/// Tells every router that `client` arrived here or left (`wsdir.add`, `wsdir.del`).
pub async fn announce(state: &RouterState, typ: &str, client: &str) {
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
                    state.ws.directory.add(&router, &c);
                }
            }
            Some("wsdir.del") => {
                if let Some(c) = client {
                    state.ws.directory.remove(&router, &c);
                }
            }
            Some("wsdir.rem") => {
                state.ws.directory.remove_router(&router);
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
                state.ws.directory.replace_router(&router, clients);
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
        if let Some(router) = state.ws.directory.remote_router_of(&client) {
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

/// Tells every router about this one (`typ`: `wsdir.sha`, `wsdir.rem`).
async fn announce_router(state: &RouterState, typ: &str) {
    let msg = Umf::new(
        format!("{}:/", keys::ROUTER_SERVICE),
        router_route(state),
        json!({"routerID": state.hydra.instance_id()}),
    )
    .with_type(typ);
    let _ = state.hydra.broadcast(&msg).await;
}

/// Announces this router's arrival (`wsdir.sha`) so others share their directories.
pub async fn announce_start(state: &RouterState) {
    announce_router(state, "wsdir.sha").await;
}

/// Announces this router's departure (`wsdir.rem`).
pub async fn announce_stop(state: &RouterState) {
    announce_router(state, "wsdir.rem").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
}
