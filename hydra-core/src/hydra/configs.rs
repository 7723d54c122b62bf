//! Stored configs through the handle (`cfg push/pull`; the work is
//! [`ConfigStore`](crate::config_store)'s).

use serde_json::Value;

use super::Hydra;
use crate::error::HydraError;

impl Hydra {
    /// Stores `config` under `label` (`name:version`).
    ///
    /// # Errors
    /// [`ConfigError::Label`](crate::config::ConfigError::Label) for a bad label;
    /// [`HydraError::Redis`] when Redis cannot be reached or a command fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// let config = serde_json::json!({"hydra": {"serviceName": "hello-service", "servicePort": 5000}});
    /// hydra.put_config("hello-service:1.0.1", &config).await?;
    /// # Ok(()) }
    /// ```
    pub async fn put_config(&self, label: &str, config: &Value) -> Result<(), HydraError> {
        self.engine.configs.put_config(label, config).await
    }

    /// The config stored under `label`; `None` when there is none.
    ///
    /// # Errors
    /// [`ConfigError::Label`](crate::config::ConfigError::Label) for a bad label, [`ConfigError::Parse`](crate::config::ConfigError::Parse) when the stored text is not
    /// JSON;
    /// [`HydraError::Redis`] when Redis cannot be reached or a command fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// match hydra.get_config("hello-service:1.0.1").await? {
    ///     Some(config) => println!("{}", config["hydra"]["servicePort"]),
    ///     None => println!("no such config"),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_config(&self, label: &str) -> Result<Option<Value>, HydraError> {
        self.engine.configs.get_config(label).await
    }

    /// The labels stored for `service`, sorted (`["svc:0.0.1", "svc:0.0.2"]`).
    ///
    /// # Errors
    /// [`HydraError::Redis`] when Redis cannot be reached or a command fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// for label in hydra.list_config("hello-service").await? {
    ///     println!("{label}"); // hello-service:1.0.0, hello-service:1.0.1, …
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list_config(&self, service: &str) -> Result<Vec<String>, HydraError> {
        self.engine.configs.list_config(service).await
    }

    /// Removes the config stored under `label`; whether there was one.
    ///
    /// # Errors
    /// [`ConfigError::Label`](crate::config::ConfigError::Label) for a bad label;
    /// [`HydraError::Redis`] when Redis cannot be reached or a command fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// if !hydra.remove_config("hello-service:1.0.0").await? {
    ///     println!("hello-service:1.0.0 was not stored");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn remove_config(&self, label: &str) -> Result<bool, HydraError> {
        self.engine.configs.remove_config(label).await
    }
}
