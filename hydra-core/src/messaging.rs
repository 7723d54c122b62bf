//! UMF messaging over Redis pub/sub: receive, send, broadcast, reply, request/reply.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use rand::Rng;
use redis::AsyncCommands;
use serde_json::Value;
use tokio::sync::{broadcast, oneshot};

use crate::error::HydraError;
use crate::hydra::{Core, Hydra};
use crate::keys;
use crate::route::Route;
use crate::umf::Umf;

/// Messages waiting for a reader before the oldest are dropped.
const INBOX_CAPACITY: usize = 4096;

/// Where incoming messages go: to the waiter of a request when the `rmid` matches one, else to
/// every [`Messages`] reader.
pub(crate) struct Inbox {
    tx: broadcast::Sender<Umf>,
    pending: Mutex<HashMap<String, oneshot::Sender<Umf>>>,
    /// With `forceMessageSignature`: the secret every incoming message must be signed with.
    verify: Option<Vec<u8>>,
}

impl Inbox {
    pub(crate) fn new(verify: Option<Vec<u8>>) -> Self {
        Self {
            tx: broadcast::channel(INBOX_CAPACITY).0,
            pending: Mutex::new(HashMap::new()),
            verify,
        }
    }

    /// Routes the reply to `mid` to `tx` until the returned guard is dropped.
    fn wait_for_reply(&self, mid: String, tx: oneshot::Sender<Umf>) -> PendingReply<'_> {
        self.pending
            .lock()
            .expect("pending lock")
            .insert(mid.clone(), tx);
        PendingReply { inbox: self, mid }
    }

    fn deliver(&self, channel: &str, payload: &[u8]) {
        let msg = match std::str::from_utf8(payload)
            .map_err(|e| e.to_string())
            .and_then(|text| Umf::parse_valid(text).map_err(|e| e.to_string()))
        {
            Ok(m) => m,
            Err(error) => {
                tracing::warn!(%channel, bytes = payload.len(), %error, "dropping a message that is not valid UMF");
                return;
            }
        };
        if let Some(secret) = &self.verify {
            if !msg.verify(secret) {
                let why = if msg.signature.is_some() {
                    "a signature that does not match"
                } else {
                    "no signature"
                };
                tracing::warn!(%channel, mid = %msg.mid, from = %msg.from, "dropping a message with {why} (forceMessageSignature)");
                return;
            }
        }
        if let Some(rmid) = &msg.rmid {
            let waiter = self.pending.lock().expect("pending lock").remove(rmid);
            if let Some(waiter) = waiter {
                if let Err(msg) = waiter.send(msg) {
                    let _ = self.tx.send(msg);
                }
                return;
            }
        }
        if self.tx.send(msg).is_err() {
            tracing::debug!(%channel, "message received with no reader");
        }
    }
}

/// A request's claim on its reply; dropping it forgets the request.
struct PendingReply<'a> {
    inbox: &'a Inbox,
    mid: String,
}

impl Drop for PendingReply<'_> {
    fn drop(&mut self) {
        if let Ok(mut pending) = self.inbox.pending.lock() {
            pending.remove(&self.mid);
        }
    }
}

/// A reader of this instance's incoming messages (broadcasts and direct messages, replies that
/// no [`Hydra::request`] waits for). Create it before registering so nothing is missed.
#[derive(Debug)]
pub struct Messages {
    rx: broadcast::Receiver<Umf>,
}

impl Messages {
    /// The next message; `None` once the instance is shut down.
    pub async fn recv(&mut self) -> Option<Umf> {
        loop {
            match self.rx.recv().await {
                Ok(m) => return Some(m),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(
                        dropped = n,
                        "message reader too slow, oldest messages dropped"
                    );
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// Keeps the two subscriptions of a registered instance alive: on a lost connection it
/// reconnects with backoff and subscribes again.
pub(crate) async fn subscriber(core: Arc<Core>, ready: oneshot::Sender<()>) {
    let channels = [
        keys::broadcast_channel(&core.service),
        keys::instance_channel(&core.service, &core.instance_id),
    ];
    let mut ready = Some(ready);
    let mut backoff = Duration::from_millis(100);
    loop {
        let connected = tokio::select! {
            () = core.stop.cancelled() => return,
            r = core.redis.pubsub() => r,
        };
        let mut pubsub = match connected {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(error = %e, "subscriber cannot connect yet");
                tokio::select! {
                    () = core.stop.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let mut refused = None;
        for ch in &channels {
            if let Err(e) = pubsub.subscribe(ch).await {
                refused = Some((ch, e));
                break;
            }
        }
        if let Some((ch, e)) = refused {
            // A refusal (ACL, a server error) does not go away at once: back off as for a lost
            // connection (at most one attempt, and one log line, a second).
            tracing::warn!(channel = %ch, error = %e, retry_in = ?backoff, "subscribe failed");
            tokio::select! {
                () = core.stop.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(1));
            continue;
        }
        backoff = Duration::from_millis(100);
        match ready.take() {
            Some(tx) => {
                let _ = tx.send(());
            }
            None => tracing::info!(service = %core.service, "subscriptions re-established"),
        }
        let mut stream = pubsub.into_on_message();
        loop {
            tokio::select! {
                () = core.stop.cancelled() => return,
                next = stream.next() => match next {
                    Some(m) => core.inbox.deliver(m.get_channel_name(), m.get_payload_bytes()),
                    None => {
                        tracing::warn!(service = %core.service, "subscription connection lost, reconnecting");
                        break;
                    }
                }
            }
        }
    }
}

/// The wire text of `msg` as this instance sends it: signed with `signatureSharedSecret` when
/// one is set (replacing any signature it carried, such as the one a reply inherits).
pub(crate) fn outgoing_wire(core: &Core, msg: &Umf) -> String {
    let secret = &core.config.signature_shared_secret;
    if secret.is_empty() {
        return msg.to_wire();
    }
    let mut signed = msg.clone();
    signed.sign(secret.as_bytes());
    signed.to_wire()
}

fn target_service<'a>(core: &'a Core, route: &'a Route) -> &'a str {
    // Node looks up its own service when the route names none.
    if route.service.is_empty() {
        &core.service
    } else {
        &route.service
    }
}

pub(crate) async fn send_core(core: &Core, msg: &Umf) -> Result<(), HydraError> {
    let route = Route::parse(&msg.to)?;
    let service = target_service(core, &route);
    let instances = core.presence(service, false).await?;
    if instances.is_empty() {
        return Err(HydraError::Unavailable(format!(
            "Unavailable {service} instances"
        )));
    }
    let wire = outgoing_wire(core, msg);
    if let Some(id) = &route.instance {
        let found = instances.iter().any(|n| &n.instance_id == id);
        // A cached list can predate the instance: look once more before giving up.
        let found = found
            || core
                .presence(service, true)
                .await?
                .iter()
                .any(|n| &n.instance_id == id);
        // Nobody listening on its channel: it is gone even if its presence has not expired yet.
        if !found || publish_text(core, &keys::instance_channel(service, id), &wire).await? == 0 {
            return Err(HydraError::Unavailable(format!(
                "Unavailable {service} instance named {id}"
            )));
        }
        return Ok(());
    }
    // A random present instance; one that died since its last heartbeat has no subscriber, so
    // the message goes to the next.
    let start = rand::thread_rng().gen_range(0..instances.len());
    for i in 0..instances.len() {
        let target = &instances[(start + i) % instances.len()].instance_id;
        if publish_text(core, &keys::instance_channel(service, target), &wire).await? > 0 {
            return Ok(());
        }
    }
    Err(HydraError::Unavailable(format!(
        "Unavailable {service} instances"
    )))
}

async fn publish_text(core: &Core, channel: &str, text: &str) -> Result<i64, HydraError> {
    Ok(core.redis.conn().publish(channel, text).await?)
}

pub(crate) async fn broadcast_core(core: &Core, msg: &Umf) -> Result<(), HydraError> {
    let route = Route::parse(&msg.to)?;
    let service = target_service(core, &route);
    if core.presence(service, false).await?.is_empty() {
        if service == keys::ROUTER_SERVICE {
            return Ok(());
        }
        return Err(HydraError::Unavailable(format!(
            "Unavailable {service} instances"
        )));
    }
    publish_text(
        core,
        &keys::broadcast_channel(service),
        &outgoing_wire(core, msg),
    )
    .await?;
    Ok(())
}

impl Hydra {
    /// A reader of incoming messages. See [`Messages`].
    pub fn messages(&self) -> Messages {
        Messages {
            rx: self.core.inbox.tx.subscribe(),
        }
    }

    /// Sends `msg` to one instance: the one named in `to` (`id@svc:/path`), else a random
    /// present instance of the service.
    ///
    /// # Errors
    /// [`HydraError::Unavailable`] with Node's reason ("Unavailable {svc} instances",
    /// "Unavailable {svc} instance named {id}"), a route error, or a Redis error.
    pub async fn send(&self, msg: &Umf) -> Result<(), HydraError> {
        send_core(&self.core, msg).await
    }

    /// Sends `msg` to every instance of the service in `to`.
    ///
    /// # Errors
    /// [`HydraError::Unavailable`] when no instance is present (a broadcast to `hydra-router`
    /// with no router is not an error), a route error, or a Redis error.
    pub async fn broadcast(&self, msg: &Umf) -> Result<(), HydraError> {
        broadcast_core(&self.core, msg).await
    }

    /// Replies to `original` with `body`, as Node's `sendReplyMessage` does (see [`Umf::reply`]).
    ///
    /// # Errors
    /// As [`Hydra::send`].
    pub async fn reply(&self, original: &Umf, body: Value) -> Result<(), HydraError> {
        let response = Umf {
            body,
            ..Umf::new("", "", Value::Null)
        };
        self.send(&original.reply(&response)).await
    }

    /// Replies to `original` with the fields of `response` on top.
    ///
    /// # Errors
    /// As [`Hydra::send`].
    pub async fn reply_with(&self, original: &Umf, response: &Umf) -> Result<(), HydraError> {
        self.send(&original.reply(response)).await
    }

    /// Sends `msg` and waits up to `timeout` for the reply (the message whose `rmid` is its
    /// `mid`). The `from` is set to this instance so the reply comes back here.
    ///
    /// # Errors
    /// [`HydraError::NotRegistered`] before [`Hydra::register_service`], [`HydraError::Timeout`]
    /// when no reply came, or the errors of [`Hydra::send`].
    pub async fn request(&self, msg: Umf, timeout: Duration) -> Result<Umf, HydraError> {
        if !self.is_registered() {
            return Err(HydraError::NotRegistered);
        }
        let mut msg = msg;
        let own = Route::parse(&msg.from)
            .ok()
            .and_then(|r| r.instance)
            .is_some_and(|i| i == self.core.instance_id);
        if !own {
            msg.from = self.own_route();
        }
        let (tx, rx) = oneshot::channel();
        // Forgotten however this call ends: reply, error, timeout, or the caller dropping it.
        let _waiting = self.core.inbox.wait_for_reply(msg.mid.clone(), tx);
        self.send(&msg).await?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            _ => Err(HydraError::Timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HydraConfig, RedisConfig};
    use hydra_testkit::RedisServer;

    #[tokio::test]
    async fn a_request_that_ends_any_way_leaves_no_pending_entry() {
        let redis = RedisServer::start();
        let mut config = HydraConfig::named("pending-svc");
        config.service_ip = "127.0.0.1".into();
        config.redis = RedisConfig::from_url(redis.url());
        let h = Hydra::connect(config).await.unwrap();
        h.register_service().await.unwrap();
        let pending = || h.core.inbox.pending.lock().unwrap().len();
        let ask = || Umf::new("pending-svc:/", "", Value::Null);
        // Nobody answers: a timeout forgets the request.
        let r = h.request(ask(), Duration::from_millis(50)).await;
        assert!(matches!(r, Err(HydraError::Timeout)));
        assert_eq!(pending(), 0);
        // The caller gives up first (a select, a timeout around the call, a dropped task).
        let gave_up = tokio::time::timeout(
            Duration::from_millis(50),
            h.request(ask(), Duration::from_secs(60)),
        )
        .await;
        assert!(gave_up.is_err());
        assert_eq!(pending(), 0, "a dropped request left its pending entry");
        // A send that fails forgets it too.
        let r = h
            .request(
                Umf::new("nobody-svc:/", "", Value::Null),
                Duration::from_secs(1),
            )
            .await;
        assert!(matches!(r, Err(HydraError::Unavailable(_))));
        assert_eq!(pending(), 0);
        h.shutdown().await.unwrap();
    }
}
