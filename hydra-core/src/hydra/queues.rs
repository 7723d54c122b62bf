//! Message queues through the handle (the work is [`Queues`](crate::queue)'s).

use super::Hydra;
use crate::error::HydraError;
use crate::queue::{QueueDepth, QueuedMessage};
use crate::umf::Umf;

impl Hydra {
    /// Queues `msg` for the service in its `to` (`LPUSH …:mqrecieved`, short form), signed with
    /// `signatureSharedSecret` when one is set, as a sent message is.
    ///
    /// # Errors
    /// [`HydraError::Umf`] when `to`, `from` or `body` is missing or `to` is not a route;
    /// [`HydraError::Redis`] when Redis cannot be reached or the push fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// use hydra_core::Umf;
    /// let job = Umf::new("mailer-service:/", hydra.own_route(), serde_json::json!({"to": "ana@example.com"}));
    /// hydra.queue_message(&job).await?;
    /// # Ok(()) }
    /// ```
    pub async fn queue_message(&self, msg: &Umf) -> Result<(), HydraError> {
        self.engine.queues.queue_message(msg).await
    }

    /// Takes the oldest queued message of `service` (`RPOPLPUSH` into `…:mqinprogress`).
    /// `None` when the queue is empty. A stored entry that is not UMF is moved to
    /// `…:mqincomplete` with a log line, and the next one is taken.
    ///
    /// # Errors
    /// [`HydraError::Redis`] when Redis cannot be reached or a command fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// // A worker: take each queued job, do it, and say how it went.
    /// while let Some(taken) = hydra.take_queued_message(hydra.service_name()).await? {
    ///     let done = taken.message.body.get("to").is_some();
    ///     let reason = (!done).then_some("no recipient");
    ///     hydra.mark_queued_message(&taken, done, reason).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn take_queued_message(
        &self,
        service: &str,
    ) -> Result<Option<QueuedMessage>, HydraError> {
        self.engine.queues.take_queued_message(service).await
    }

    /// Marks a taken message: completed (removed from `…:mqinprogress`), or not completed
    /// (moved to `…:mqincomplete` with `bdy.reason` set; "reason not provided" when `None`).
    ///
    /// # Errors
    /// [`HydraError::Redis`] when Redis cannot be reached or a command fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// if let Some(taken) = hydra.take_queued_message("mailer-service").await? {
    ///     // Could not do it: keep it in `mqincomplete`, with the reason in its body.
    ///     hydra.mark_queued_message(&taken, false, Some("mail server down")).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn mark_queued_message(
        &self,
        taken: &QueuedMessage,
        completed: bool,
        reason: Option<&str>,
    ) -> Result<(), HydraError> {
        self.engine
            .queues
            .mark_queued_message(taken, completed, reason)
            .await
    }

    /// The number of messages in each list of `service`'s queue.
    ///
    /// # Errors
    /// [`HydraError::Redis`] when Redis cannot be reached or a command fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// let depth = hydra.queue_depth("mailer-service").await?;
    /// println!(
    ///     "{} waiting, {} in progress, {} incomplete",
    ///     depth.received, depth.in_progress, depth.incomplete
    /// );
    /// # Ok(()) }
    /// ```
    pub async fn queue_depth(&self, service: &str) -> Result<QueueDepth, HydraError> {
        self.engine.queues.queue_depth(service).await
    }
}
