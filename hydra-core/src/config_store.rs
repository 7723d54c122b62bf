//! Stored configs: `hydra:service:{svc}:configs`, field = version, value = the config JSON.

use redis::AsyncCommands;
use serde_json::Value;

use crate::connection::Redis;
use crate::error::HydraError;
use crate::{jsjson, keys};
use hydra_protocol::config::{ConfigError, Label};

/// Pulls the config stored under `label` from the Redis at `url` (used by the config loader
/// before there is a [`Hydra`](crate::Hydra)), waiting for it up to `budget` (`None`: no limit).
pub(crate) async fn pull(
    url: &str,
    label: &Label,
    budget: Option<std::time::Duration>,
) -> Result<Value, ConfigError> {
    let err = |reason: String| ConfigError::Pull {
        label: label.to_string(),
        reason,
    };
    let redis = Redis::connect(url, budget)
        .await
        .map_err(|e| err(e.to_string()))?;
    let text: Option<String> = redis
        .conn()
        .hget(keys::configs(&label.service), &label.version)
        .await
        .map_err(|e| err(e.to_string()))?;
    let text = text.ok_or_else(|| ConfigError::StoredConfigMissing {
        label: label.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| err(format!("stored config is not JSON: {e}")))
}

/// The configs stored in Redis.
pub(crate) struct ConfigStore {
    redis: Redis,
}

impl ConfigStore {
    pub(crate) fn new(redis: Redis) -> Self {
        Self { redis }
    }

    pub(crate) async fn put_config(&self, label: &str, config: &Value) -> Result<(), HydraError> {
        let label = Label::parse(label)?;
        let () = self
            .redis
            .conn()
            .hset(
                keys::configs(&label.service),
                &label.version,
                jsjson::to_string(config),
            )
            .await?;
        Ok(())
    }

    pub(crate) async fn get_config(&self, label: &str) -> Result<Option<Value>, HydraError> {
        let label = Label::parse(label)?;
        let text: Option<String> = self
            .redis
            .conn()
            .hget(keys::configs(&label.service), &label.version)
            .await?;
        text.map(|t| {
            serde_json::from_str(&t).map_err(|e| {
                HydraError::Config(ConfigError::Parse {
                    path: None,
                    reason: format!("stored config {label} is not JSON: {e}"),
                })
            })
        })
        .transpose()
    }

    pub(crate) async fn list_config(&self, service: &str) -> Result<Vec<String>, HydraError> {
        let mut versions: Vec<String> = self.redis.conn().hkeys(keys::configs(service)).await?;
        versions.sort();
        Ok(versions
            .into_iter()
            .map(|v| format!("{service}:{v}"))
            .collect())
    }

    pub(crate) async fn remove_config(&self, label: &str) -> Result<bool, HydraError> {
        let label = Label::parse(label)?;
        let n: u64 = self
            .redis
            .conn()
            .hdel(keys::configs(&label.service), &label.version)
            .await?;
        Ok(n > 0)
    }
}
