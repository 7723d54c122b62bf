//! Message queues: `…:mqrecieved` → `…:mqinprogress` → done or `…:mqincomplete`.

use redis::AsyncCommands;
use serde_json::Value;

use crate::error::HydraError;
use std::sync::Arc;

use crate::connection::Redis;
use crate::instance::Instance;
use crate::keys;
use crate::umf::Umf;

/// A message taken from a queue, with the exact text it was stored as (needed to remove it from
/// the in-progress list, as Node does with `LREM`).
///
/// Taken with [`Hydra::take_queued_message`](crate::Hydra::take_queued_message) and handed back
/// to [`Hydra::mark_queued_message`](crate::Hydra::mark_queued_message); see the example there.
#[derive(Debug, Clone)]
pub struct QueuedMessage {
    /// The service whose queue it came from.
    pub service: String,
    /// The stored text.
    pub raw: String,
    /// The parsed message.
    pub message: Umf,
}

/// How many messages are in each list of a service's queue, from
/// [`Hydra::queue_depth`](crate::Hydra::queue_depth) (see its example).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueDepth {
    /// Queued, not yet taken.
    pub received: u64,
    /// Taken, not yet marked.
    pub in_progress: u64,
    /// Marked as not completed.
    pub incomplete: u64,
}

/// A service's message queues in Redis.
pub(crate) struct Queues {
    redis: Redis,
    instance: Arc<Instance>,
}

impl Queues {
    pub(crate) fn new(redis: Redis, instance: Arc<Instance>) -> Self {
        Self { redis, instance }
    }

    pub(crate) async fn queue_message(&self, msg: &Umf) -> Result<(), HydraError> {
        msg.validate()?;
        let route = msg.to_route()?;
        let () = self
            .redis
            .conn()
            .lpush(
                keys::queue::received(&route.service),
                self.instance.wire(msg),
            )
            .await?;
        Ok(())
    }

    pub(crate) async fn take_queued_message(
        &self,
        service: &str,
    ) -> Result<Option<QueuedMessage>, HydraError> {
        let mut conn = self.redis.conn();
        loop {
            let raw: Option<String> = conn
                .rpoplpush(
                    keys::queue::received(service),
                    keys::queue::in_progress(service),
                )
                .await?;
            let Some(raw) = raw else { return Ok(None) };
            match Umf::parse(&raw) {
                Ok(message) => {
                    return Ok(Some(QueuedMessage {
                        service: service.to_string(),
                        raw,
                        message,
                    }))
                }
                Err(error) => {
                    tracing::warn!(%service, %error, "queued entry is not UMF; moved to mqincomplete");
                    let () = redis::pipe()
                        .atomic()
                        .lrem(keys::queue::in_progress(service), -1, &raw)
                        .ignore()
                        .rpush(keys::queue::incomplete(service), &raw)
                        .ignore()
                        .query_async(&mut conn)
                        .await?;
                }
            }
        }
    }

    pub(crate) async fn mark_queued_message(
        &self,
        taken: &QueuedMessage,
        completed: bool,
        reason: Option<&str>,
    ) -> Result<(), HydraError> {
        let service = &taken.service;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .lrem(keys::queue::in_progress(service), -1, &taken.raw)
            .ignore();
        if !completed {
            let mut msg = taken.message.clone();
            let reason = Value::String(reason.unwrap_or("reason not provided").to_string());
            match &mut msg.body {
                Value::Object(m) => {
                    m.insert("reason".into(), reason);
                }
                other => *other = serde_json::json!({ "reason": reason }),
            }
            pipe.rpush(keys::queue::incomplete(service), msg.to_wire())
                .ignore();
        }
        let () = pipe.query_async(&mut self.redis.conn()).await?;
        Ok(())
    }

    pub(crate) async fn queue_depth(&self, service: &str) -> Result<QueueDepth, HydraError> {
        let (received, in_progress, incomplete): (u64, u64, u64) = redis::pipe()
            .llen(keys::queue::received(service))
            .llen(keys::queue::in_progress(service))
            .llen(keys::queue::incomplete(service))
            .query_async(&mut self.redis.conn())
            .await?;
        Ok(QueueDepth {
            received,
            in_progress,
            incomplete,
        })
    }
}
