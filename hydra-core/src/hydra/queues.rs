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
    /// [`HydraError::Umf`] for an invalid message, a route error, or a Redis error.
    pub async fn queue_message(&self, msg: &Umf) -> Result<(), HydraError> {
        self.engine.queues.queue_message(msg).await
    }

    /// Takes the oldest queued message of `service` (`RPOPLPUSH` into `…:mqinprogress`).
    /// `None` when the queue is empty. A stored entry that is not UMF is moved to
    /// `…:mqincomplete` with a log line, and the next one is taken.
    ///
    /// # Errors
    /// Redis errors.
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
    /// Redis errors.
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
    /// Redis errors.
    pub async fn queue_depth(&self, service: &str) -> Result<QueueDepth, HydraError> {
        self.engine.queues.queue_depth(service).await
    }
}
