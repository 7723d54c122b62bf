//! Messaging through the handle: receive, send, broadcast, reply and request/reply (the work is
//! [`Messaging`](crate::messaging)'s).

use std::time::Duration;

use serde_json::Value;

use super::Hydra;
use crate::error::HydraError;
use crate::messaging::Messages;
use crate::umf::Umf;

impl Hydra {
    /// A reader of incoming messages. See [`Messages`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// let mut inbox = hydra.messages();
    /// hydra.register_service().await?;
    /// while let Some(msg) = inbox.recv().await {
    ///     println!("{} from {}: {}", msg.mid, msg.from, msg.body);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn messages(&self) -> Messages {
        self.engine.messaging.messages()
    }

    /// Tells when the subscriptions stand again after a lost connection (Redis restarted, the
    /// connection killed, the master moved): the value counts those times. Redis keeps no
    /// message for a subscriber that is away, so what was published meanwhile never arrives;
    /// a service that learns of changes by message should read again what it keeps.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// let mut restored = hydra.subscriptions_restored();
    /// while restored.changed().await.is_ok() {
    ///     // Messages may have been missed: reload what they would have announced.
    /// }
    /// # Ok(()) }
    /// ```
    pub fn subscriptions_restored(&self) -> tokio::sync::watch::Receiver<u64> {
        self.engine.messaging.restored()
    }

    /// Sends `msg` to one instance: the one named in `to` (`id@svc:/path`), else a random
    /// present instance of the service.
    ///
    /// # Errors
    /// [`HydraError::Unavailable`] with Node's reason ("Unavailable {svc} instances",
    /// "Unavailable {svc} instance named {id}"), [`HydraError::Route`] when `to` is not a route,
    /// [`HydraError::Redis`] when Redis cannot be reached or the publish fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// use hydra_core::Umf;
    /// let msg = Umf::new("hello-service:/", hydra.own_route(), serde_json::json!({"greet": "hi"}));
    /// hydra.send(&msg).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send(&self, msg: &Umf) -> Result<(), HydraError> {
        self.engine.messaging.send(msg).await
    }

    /// Sends `msg` to every instance of the service in `to`.
    ///
    /// # Errors
    /// [`HydraError::Unavailable`] when no instance is present (a broadcast to `hydra-router`
    /// with no router is not an error), [`HydraError::Route`] when `to` is not a route,
    /// [`HydraError::Redis`] when Redis cannot be reached or the publish fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// use hydra_core::Umf;
    /// let reload = Umf::new("hello-service:/", hydra.own_route(), serde_json::json!({"action": "reload"}))
    ///     .with_type("reload");
    /// hydra.broadcast(&reload).await?;
    /// # Ok(()) }
    /// ```
    pub async fn broadcast(&self, msg: &Umf) -> Result<(), HydraError> {
        self.engine.messaging.broadcast(msg).await
    }

    /// Replies to `original` with `body`, as Node's `sendReplyMessage` does (see [`Umf::reply`]).
    ///
    /// # Errors
    /// As [`Hydra::send`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// let mut inbox = hydra.messages();
    /// while let Some(msg) = inbox.recv().await {
    ///     hydra.reply(&msg, serde_json::json!({"echo": msg.body})).await?;
    /// }
    /// # Ok(()) }
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// use hydra_core::Umf;
    /// let mut inbox = hydra.messages();
    /// if let Some(ping) = inbox.recv().await {
    ///     let pong = Umf::new("", "", serde_json::json!({"pong": true})).with_type("pong");
    ///     hydra.reply_with(&ping, &pong).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn reply_with(&self, original: &Umf, response: &Umf) -> Result<(), HydraError> {
        self.send(&original.reply(response)).await
    }

    /// Sends `msg` and waits up to `timeout` for the reply (the message whose `rmid` is its
    /// `mid`). The `from` is set to this instance so the reply comes back here. Dropping the
    /// future forgets the request.
    ///
    /// # Errors
    /// [`HydraError::NotRegistered`] before [`Hydra::register_service`], [`HydraError::Timeout`]
    /// when no reply came, or the errors of [`Hydra::send`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// use std::time::Duration;
    /// use hydra_core::{HydraError, Umf};
    /// let ask = Umf::new("hello-service:/", hydra.own_route(), serde_json::json!({"ping": 1}));
    /// match hydra.request(ask, Duration::from_secs(2)).await {
    ///     Ok(reply) => println!("answer: {}", reply.body),
    ///     Err(HydraError::Timeout) => println!("no answer within 2 s"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn request(&self, msg: Umf, timeout: Duration) -> Result<Umf, HydraError> {
        if !self.is_registered() {
            return Err(HydraError::NotRegistered);
        }
        self.engine.messaging.request(msg, timeout).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hydra_testkit::RedisServer;
    use serde_json::Value;

    use super::*;
    use crate::{HydraConfig, RedisConfig};

    #[tokio::test]
    async fn a_request_that_ends_any_way_leaves_no_pending_entry() {
        let redis = RedisServer::start();
        let mut config = HydraConfig::named("pending-svc");
        config.service_ip = "127.0.0.1".into();
        config.redis = RedisConfig::from_url(redis.url());
        let h = Hydra::connect(config).await.unwrap();
        h.register_service().await.unwrap();
        let pending = || h.engine.messaging.pending_replies();
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
