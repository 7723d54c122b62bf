//! Stored configs through the handle (`cfg push/pull`; the work is
//! [`ConfigStore`](crate::config_store)'s).

use serde_json::Value;

use super::Hydra;
use crate::error::HydraError;

impl Hydra {
    /// Stores `config` under `label` (`name:version`).
    ///
    /// # Errors
    /// [`ConfigError::Label`](crate::config::ConfigError::Label) for a bad label; Redis errors.
    pub async fn put_config(&self, label: &str, config: &Value) -> Result<(), HydraError> {
        self.engine.configs.put_config(label, config).await
    }

    /// The config stored under `label`; `None` when there is none.
    ///
    /// # Errors
    /// [`ConfigError::Label`](crate::config::ConfigError::Label) for a bad label, [`ConfigError::Parse`](crate::config::ConfigError::Parse) when the stored text is not
    /// JSON; Redis errors.
    pub async fn get_config(&self, label: &str) -> Result<Option<Value>, HydraError> {
        self.engine.configs.get_config(label).await
    }

    /// The labels stored for `service`, sorted (`["svc:0.0.1", "svc:0.0.2"]`).
    ///
    /// # Errors
    /// Redis errors.
    pub async fn list_config(&self, service: &str) -> Result<Vec<String>, HydraError> {
        self.engine.configs.list_config(service).await
    }

    /// Removes the config stored under `label`; whether there was one.
    ///
    /// # Errors
    /// [`ConfigError::Label`](crate::config::ConfigError::Label) for a bad label; Redis errors.
    pub async fn remove_config(&self, label: &str) -> Result<bool, HydraError> {
        self.engine.configs.remove_config(label).await
    }
}
