//! UMF messaging over Redis pub/sub: receive, send, broadcast, reply, request/reply.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use rand::Rng;
use redis::AsyncCommands;
use tokio::sync::{broadcast, oneshot};

use tokio_util::sync::CancellationToken;

use crate::connection::Redis;
use crate::discovery::Discovery;
use crate::error::HydraError;
use crate::instance::Instance;
use crate::keys;
use crate::metrics::{self as counts, DropReason};
use crate::route::Route;
use crate::umf::Umf;

/// Messages waiting for a reader before the oldest are dropped.
const INBOX_CAPACITY: usize = 4096;

/// Where incoming messages go: to the waiter of a request when the `rmid` matches one, else to
/// every [`Messages`] reader.
struct Inbox {
    tx: broadcast::Sender<Umf>,
    pending: Mutex<HashMap<String, oneshot::Sender<Umf>>>,
    /// With `forceMessageSignature`: the secret every incoming message must be signed with.
    verify: Option<Vec<u8>>,
}

impl Inbox {
    fn new(verify: Option<Vec<u8>>) -> Self {
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
        counts::message_received();
        let msg = match std::str::from_utf8(payload)
            .map_err(|e| e.to_string())
            .and_then(|text| Umf::parse_valid(text).map_err(|e| e.to_string()))
        {
            Ok(m) => m,
            Err(error) => {
                tracing::warn!(%channel, bytes = payload.len(), %error, "dropping a message that is not valid UMF");
                counts::messages_dropped(DropReason::Malformed, 1);
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
                counts::messages_dropped(DropReason::Signature, 1);
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
            counts::messages_dropped(DropReason::NoReader, 1);
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
/// no [`Hydra::request`](crate::Hydra::request) waits for). Create it before registering so nothing is missed.
///
/// Made by [`Hydra::messages`](crate::Hydra::messages); see the example on [`Messages::recv`].
#[derive(Debug)]
pub struct Messages {
    rx: broadcast::Receiver<Umf>,
}

impl Messages {
    /// The next message; `None` once the instance is shut down.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) {
    /// let mut inbox = hydra.messages();
    /// while let Some(msg) = inbox.recv().await {
    ///     if msg.typ.as_deref() == Some("stop") {
    ///         break;
    ///     }
    /// }
    /// # }
    /// ```
    pub async fn recv(&mut self) -> Option<Umf> {
        loop {
            match self.rx.recv().await {
                Ok(m) => return Some(m),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(
                        dropped = n,
                        "message reader too slow, oldest messages dropped"
                    );
                    counts::messages_dropped(DropReason::ReaderLagged, n);
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// Sends and receives UMF messages for one instance over Redis pub/sub.
pub(crate) struct Messaging {
    instance: Arc<Instance>,
    redis: Redis,
    discovery: Arc<Discovery>,
    inbox: Inbox,
    /// How many times the subscriptions stood again after a lost connection.
    restored: tokio::sync::watch::Sender<u64>,
}

impl Messaging {
    pub(crate) fn new(instance: Arc<Instance>, redis: Redis, discovery: Arc<Discovery>) -> Self {
        Self {
            inbox: Inbox::new(instance.required_signature()),
            restored: tokio::sync::watch::Sender::new(0),
            instance,
            redis,
            discovery,
        }
    }

    pub(crate) fn messages(&self) -> Messages {
        Messages {
            rx: self.inbox.tx.subscribe(),
        }
    }

    pub(crate) fn restored(&self) -> tokio::sync::watch::Receiver<u64> {
        self.restored.subscribe()
    }

    /// Keeps the two subscriptions of a registered instance alive: on a lost connection it
    /// reconnects with backoff and subscribes again. `ready` is told once they first stand.
    pub(crate) async fn subscribe(
        self: Arc<Self>,
        stop: CancellationToken,
        ready: oneshot::Sender<()>,
    ) {
        let channels = [
            keys::broadcast_channel(&self.instance.service),
            keys::instance_channel(&self.instance.service, &self.instance.id),
        ];
        let mut ready = Some(ready);
        let mut backoff = Duration::from_millis(100);
        let mut moved = self.redis.moved();
        loop {
            moved.mark_unchanged();
            let connected = tokio::select! {
                () = stop.cancelled() => return,
                r = self.redis.pubsub() => r,
            };
            let mut pubsub = match connected {
                Ok(p) => p,
                Err(e) => {
                    tracing::debug!(error = %e, "subscriber cannot connect yet");
                    tokio::select! {
                        () = stop.cancelled() => return,
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
                    () = stop.cancelled() => return,
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
                None => {
                    counts::redis_reconnected();
                    tracing::info!(service = %self.instance.service, "subscriptions re-established");
                    // Pub/sub kept nothing while they were down: tell those who must look again.
                    self.restored.send_modify(|n| *n += 1);
                }
            }
            let mut stream = pubsub.into_on_message();
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    next = stream.next() => match next {
                        Some(m) => self.inbox.deliver(m.get_channel_name(), m.get_payload_bytes()),
                        None => {
                            tracing::warn!(service = %self.instance.service, "subscription connection lost, reconnecting");
                            break;
                        }
                    },
                    Ok(()) = moved.changed() => {
                        tracing::info!(service = %self.instance.service, "Redis master moved: subscribing there");
                        break;
                    }
                }
            }
        }
    }

    fn target_service<'a>(&'a self, route: &'a Route) -> &'a str {
        // Node looks up its own service when the route names none.
        if route.service.is_empty() {
            &self.instance.service
        } else {
            &route.service
        }
    }

    pub(crate) async fn send(&self, msg: &Umf) -> Result<(), HydraError> {
        let route = Route::parse(&msg.to)?;
        let service = self.target_service(&route);
        let instances = self.discovery.presence(service, false).await?;
        if instances.is_empty() {
            return Err(HydraError::Unavailable(format!(
                "Unavailable {service} instances"
            )));
        }
        let wire = self.instance.wire(msg);
        if let Some(id) = &route.instance {
            let found = instances.iter().any(|n| &n.instance_id == id);
            // A cached list can predate the instance: look once more before giving up.
            let found = found
                || self
                    .discovery
                    .presence(service, true)
                    .await?
                    .iter()
                    .any(|n| &n.instance_id == id);
            // Nobody listening on its channel: it is gone even if its presence has not expired
            // yet.
            if !found
                || self
                    .publish(&keys::instance_channel(service, id), &wire)
                    .await?
                    == 0
            {
                return Err(HydraError::Unavailable(format!(
                    "Unavailable {service} instance named {id}"
                )));
            }
            counts::message_sent();
            return Ok(());
        }
        // A random present instance; one that died since its last heartbeat has no subscriber,
        // so the message goes to the next.
        let start = rand::thread_rng().gen_range(0..instances.len());
        for i in 0..instances.len() {
            let target = &instances[(start + i) % instances.len()].instance_id;
            if self
                .publish(&keys::instance_channel(service, target), &wire)
                .await?
                > 0
            {
                counts::message_sent();
                return Ok(());
            }
        }
        Err(HydraError::Unavailable(format!(
            "Unavailable {service} instances"
        )))
    }

    async fn publish(&self, channel: &str, text: &str) -> Result<i64, HydraError> {
        Ok(self.redis.conn().publish(channel, text).await?)
    }

    pub(crate) async fn broadcast(&self, msg: &Umf) -> Result<(), HydraError> {
        let route = Route::parse(&msg.to)?;
        let service = self.target_service(&route);
        if self.discovery.presence(service, false).await?.is_empty() {
            if service == keys::ROUTER_SERVICE {
                return Ok(());
            }
            return Err(HydraError::Unavailable(format!(
                "Unavailable {service} instances"
            )));
        }
        self.publish(&keys::broadcast_channel(service), &self.instance.wire(msg))
            .await?;
        counts::message_sent();
        Ok(())
    }

    /// Sends `msg` with this instance as `from` and waits up to `timeout` for the reply.
    pub(crate) async fn request(&self, msg: Umf, timeout: Duration) -> Result<Umf, HydraError> {
        let mut msg = msg;
        let own = Route::parse(&msg.from)
            .ok()
            .and_then(|r| r.instance)
            .is_some_and(|i| i == self.instance.id);
        if !own {
            msg.from = self.instance.own_route();
        }
        let (tx, rx) = oneshot::channel();
        // Forgotten however this call ends: reply, error, timeout, or the caller dropping it.
        let _waiting = self.inbox.wait_for_reply(msg.mid.clone(), tx);
        self.send(&msg).await?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            _ => Err(HydraError::Timeout),
        }
    }

    /// Requests waiting for their reply.
    #[cfg(test)]
    pub(crate) fn pending_replies(&self) -> usize {
        self.inbox.pending.lock().expect("pending lock").len()
    }
}
