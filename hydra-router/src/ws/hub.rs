//! The WebSocket clients connected to this router, the directory of every router's clients, and
//! the Redis queues of clients that are not connected. The hub owns its state; it knows nothing
//! of the router's.

use std::collections::HashMap;
use std::sync::Mutex;

use hydra_core::{keys, Umf};
use redis::{AsyncCommands, Direction};
use serde_json::Value;
use tokio::sync::mpsc;

use super::directory::Directory;

/// Queued messages for absent clients (and reconnect tokens) live this long.
pub const QUEUE_TTL_SECS: i64 = 86_400;

/// Local clients and the directory of every router's clients.
#[derive(Debug)]
pub struct WsHub {
    router_id: String,
    local: Mutex<HashMap<String, mpsc::Sender<String>>>,
    /// Which router holds which client.
    pub directory: Directory,
    queuer: Option<hydra_core::connection::Redis>,
}

impl WsHub {
    /// A hub for router `router_id`; `queuer` holds the queues of absent clients.
    pub fn new(router_id: String, queuer: Option<hydra_core::connection::Redis>) -> Self {
        Self {
            directory: Directory::new(router_id.clone()),
            router_id,
            local: Mutex::new(HashMap::new()),
            queuer,
        }
    }

    /// `{routerID: {clientID: 1}}`, as Node lists it.
    pub fn directory_json(&self) -> Value {
        self.directory.to_json()
    }

    /// How many clients are connected here.
    pub fn local_count(&self) -> usize {
        self.local.lock().expect("clients lock").len()
    }

    /// Whether `client` is connected here.
    pub fn is_local(&self, client: &str) -> bool {
        self.local
            .lock()
            .expect("clients lock")
            .contains_key(client)
    }

    /// Whether a client with this id is connected here or, as far as the directory knows, to
    /// another router.
    pub fn is_connected(&self, client: &str) -> bool {
        self.is_local(client) || self.directory.remote_router_of(client).is_some()
    }

    /// `id` is connected here; its messages go to `tx`.
    pub fn register(&self, id: &str, tx: mpsc::Sender<String>) {
        self.local
            .lock()
            .expect("clients lock")
            .insert(id.to_string(), tx);
        self.directory.add(&self.router_id, id);
    }

    /// `id` left.
    pub fn unregister(&self, id: &str) {
        self.local.lock().expect("clients lock").remove(id);
        self.directory.remove(&self.router_id, id);
    }

    /// Sends text to a local client; false when it is not here.
    pub fn deliver_local(&self, id: &str, text: String) -> bool {
        let tx = self.local.lock().expect("clients lock").get(id).cloned();
        match tx {
            Some(tx) => tx.try_send(text).is_ok(),
            None => false,
        }
    }

    /// Queues `msg` for the absent `client` (24 h).
    pub async fn enqueue(&self, client: &str, msg: &Umf) {
        let Some(mut q) = self
            .queuer
            .as_ref()
            .map(hydra_core::connection::Redis::conn)
        else {
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

    /// Sends `client` everything queued for it, oldest first.
    pub async fn drain_queue(&self, client: &str, tx: &mpsc::Sender<String>) {
        let Some(mut q) = self
            .queuer
            .as_ref()
            .map(hydra_core::connection::Redis::conn)
        else {
            return;
        };
        let queued = keys::router_ws_queued(client);
        let processing = keys::router_ws_processing(client);
        loop {
            // Queued with RPUSH (by either router), so the oldest is on the left: the client gets
            // them in the order they were sent. (Node's router takes them with RPOPLPUSH, newest
            // first; the lists are the same, only the order differs.)
            let item: Result<Option<String>, _> = q
                .lmove(&queued, &processing, Direction::Left, Direction::Right)
                .await;
            let Ok(Some(text)) = item else { return };
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
