//! Configuration: the `hydra` branch of a service's config document (the types are
//! [`hydra_protocol::config`]'s), and how a binary loads it.
//!
//! Layers, lowest first: built-in defaults or a JSON file, then `HYDRA_REDIS_URL`, then
//! `HYDRA_SERVICE` (a `name:version` label to pull the whole config from Redis, a JSON object, or
//! `k=v|k=v`), applied as Node hydra applies them. [`ConfigLoader`] does all of it.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

pub use hydra_protocol::config::{
    Config, ConfigError, HydraConfig, Label, RedisConfig, SentinelTarget, ServiceOverride,
    ServicePort, DEFAULT_REDIS_URL,
};

/// The config file a binary reads from its working directory when present.
pub const DEFAULT_CONFIG_PATH: &str = "config/config.json";

/// Where environment variables come from: the process, or a map in tests.
///
/// # Examples
///
/// ```
/// use hydra_core::config::{ConfigLoader, EnvSource};
///
/// /// Variables from a secrets store instead of the process environment.
/// struct Vault;
///
/// impl EnvSource for Vault {
///     fn var(&self, key: &str) -> Option<String> {
///         (key == "HYDRA_REDIS_URL").then(|| "redis://10.0.0.5:6379/0".to_string())
///     }
/// }
///
/// let loader = ConfigLoader::new(serde_json::json!({"hydra": {"serviceName": "hello"}})).env(Vault);
/// ```
pub trait EnvSource: Send + Sync {
    /// The value of `key`, if set.
    fn var(&self, key: &str) -> Option<String>;
}

/// The process environment.
///
/// # Examples
///
/// ```
/// use hydra_core::config::{EnvSource, ProcessEnv};
/// let url = ProcessEnv.var("HYDRA_REDIS_URL"); // None when unset
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

impl EnvSource for HashMap<String, String> {
    fn var(&self, key: &str) -> Option<String> {
        self.get(key).cloned()
    }
}

/// Loads a binary's config: file (or built-in defaults), then the environment.
///
/// ```no_run
/// # async fn f() -> Result<(), hydra_core::config::ConfigError> {
/// use hydra_core::config::ConfigLoader;
/// let config = ConfigLoader::new(serde_json::json!({"hydra": {"serviceName": "hello-service"}}))
///     .file(None) // --config FILE, else config/config.json when present
///     .load()
///     .await?;
/// # Ok(()) }
/// ```
pub struct ConfigLoader {
    defaults: Value,
    explicit: Option<PathBuf>,
    search_default_path: bool,
    env: Box<dyn EnvSource>,
}

impl fmt::Debug for ConfigLoader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigLoader")
            .field("explicit", &self.explicit)
            .finish_non_exhaustive()
    }
}

impl ConfigLoader {
    /// A loader whose config, when no file is found, is `defaults`.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_core::ConfigLoader;
    /// let loader = ConfigLoader::new(serde_json::json!({
    ///     "hydra": {"serviceName": "hello-service", "servicePort": 0}
    /// }));
    /// ```
    pub fn new(defaults: Value) -> Self {
        Self {
            defaults,
            explicit: None,
            search_default_path: true,
            env: Box::new(ProcessEnv),
        }
    }

    /// Reads `path` (it must exist); `None` keeps the default: `config/config.json` when present.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), hydra_core::config::ConfigError> {
    /// use hydra_core::ConfigLoader;
    /// let config = ConfigLoader::new(serde_json::json!({}))
    ///     .file(Some("deploy/hello.json".into()))
    ///     .load()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn file(mut self, path: Option<PathBuf>) -> Self {
        self.explicit = path;
        self
    }

    /// Do not look for `config/config.json`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), hydra_core::config::ConfigError> {
    /// use std::collections::HashMap;
    /// use hydra_core::ConfigLoader;
    /// // The defaults only, whatever the working directory holds.
    /// let config = ConfigLoader::new(serde_json::json!({"hydra": {"serviceName": "hello-service"}}))
    ///     .no_default_file()
    ///     .env(HashMap::new())
    ///     .load()
    ///     .await?;
    /// assert_eq!(config.hydra.service_name, "hello-service");
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn no_default_file(mut self) -> Self {
        self.search_default_path = false;
        self
    }

    /// Reads variables from `env` instead of the process environment.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), hydra_core::config::ConfigError> {
    /// use std::collections::HashMap;
    /// use hydra_core::{ConfigLoader, ServicePort};
    /// let env = HashMap::from([(
    ///     "HYDRA_SERVICE".to_string(),
    ///     "servicePort=5000|serviceIP=127.0.0.1".to_string(),
    /// )]);
    /// let config = ConfigLoader::new(serde_json::json!({"hydra": {"serviceName": "hello-service"}}))
    ///     .no_default_file()
    ///     .env(env)
    ///     .load()
    ///     .await?;
    /// assert_eq!(config.hydra.service_port, ServicePort::Fixed(5000));
    /// assert_eq!(config.hydra.service_ip, "127.0.0.1");
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn env(mut self, env: impl EnvSource + 'static) -> Self {
        self.env = Box::new(env);
        self
    }

    /// Loads and validates the config.
    ///
    /// # Errors
    /// Any [`ConfigError`]: unreadable or invalid file, bad `HYDRA_SERVICE`, a stored config that
    /// is missing or cannot be pulled, an invalid service name.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), hydra_core::HydraError> {
    /// use hydra_core::{ConfigLoader, Hydra};
    /// // HYDRA_SERVICE=hello-service:1.0.1 pulls the whole config stored under that label.
    /// let config = ConfigLoader::new(serde_json::json!({"hydra": {"serviceName": "hello-service"}}))
    ///     .load()
    ///     .await?;
    /// let hydra = Hydra::connect(config.hydra).await?;
    /// # Ok(()) }
    /// ```
    pub async fn load(self) -> Result<Config, ConfigError> {
        let mut document = match &self.explicit {
            Some(path) => read_document(path)?,
            None => {
                let default_path = Path::new(DEFAULT_CONFIG_PATH);
                if self.search_default_path && default_path.is_file() {
                    read_document(default_path)?
                } else {
                    self.defaults.clone()
                }
            }
        };
        let redis_url = self.env.var("HYDRA_REDIS_URL").filter(|s| !s.is_empty());
        apply_redis_url(&mut document, redis_url.as_deref())?;
        let over = match self.env.var("HYDRA_SERVICE") {
            Some(raw) => ServiceOverride::parse(&raw)?,
            None => None,
        };
        match over {
            None => {}
            Some(ServiceOverride::Merge(map)) => {
                if let Some(branch) = hydra_branch(&mut document)? {
                    branch.extend(map);
                }
            }
            Some(ServiceOverride::Pull(label)) => {
                let probe = Config::from_document(document.clone(), self.explicit.as_deref()).ok();
                let budget = probe.as_ref().and_then(|c| c.hydra.redis.connect_timeout());
                let url = match (&redis_url, probe) {
                    (Some(u), _) => u.clone(),
                    (None, Some(c)) => c.hydra.redis.url(),
                    (None, None) => DEFAULT_REDIS_URL.to_string(),
                };
                document = crate::config_store::pull(&url, &label, budget).await?;
                // As Node: a pulled config keeps its own Redis settings; one without any gets the
                // Redis it was pulled from (where Node would fail).
                let has_redis = document
                    .get("hydra")
                    .and_then(|h| h.get("redis"))
                    .is_some_and(|r| !r.is_null());
                if !has_redis {
                    apply_redis_url(&mut document, Some(&url))?;
                }
            }
        }
        Config::from_document(document, self.explicit.as_deref())
    }
}

fn read_document(path: &Path) -> Result<Value, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Config::from_text(&text, Some(path))
        .map(|c| c.document)
        .or_else(|e| match e {
            // A file whose hydra branch lacks a name can still be completed by HYDRA_SERVICE.
            ConfigError::MissingServiceName => {
                serde_json::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: Some(path.to_path_buf()),
                    reason: e.to_string(),
                })
            }
            other => Err(other),
        })
}

fn hydra_branch(document: &mut Value) -> Result<Option<&mut Map<String, Value>>, ConfigError> {
    let obj = document.as_object_mut().ok_or_else(|| ConfigError::Parse {
        path: None,
        reason: "the config is not a JSON object".into(),
    })?;
    Ok(obj
        .entry("hydra")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut())
}

fn apply_redis_url(document: &mut Value, url: Option<&str>) -> Result<(), ConfigError> {
    if let Some(url) = url {
        if let Some(branch) = hydra_branch(document)? {
            branch.insert("redis".into(), serde_json::json!({ "url": url }));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[tokio::test]
    async fn loader_layers_env_over_defaults() {
        let config = ConfigLoader::new(json!({"hydra":{"serviceName":"hello-service"}}))
            .no_default_file()
            .env(env(&[
                ("HYDRA_REDIS_URL", "redis://10.1.2.3:6390/4"),
                ("HYDRA_SERVICE", "serviceIP=127.0.0.1|servicePort=5000"),
            ]))
            .load()
            .await
            .unwrap();
        assert_eq!(config.hydra.redis.url(), "redis://10.1.2.3:6390/4");
        assert_eq!(config.hydra.service_ip, "127.0.0.1");
        assert_eq!(config.hydra.service_port, ServicePort::Fixed(5000));
    }

    #[tokio::test]
    async fn loader_reads_explicit_file_and_reports_bad_ones() {
        let dir = tempfile_dir();
        let good = dir.join("good.json");
        std::fs::write(
            &good,
            r#"{"hydra":{"serviceName":"from-file","servicePort":0}}"#,
        )
        .unwrap();
        let c = ConfigLoader::new(json!({}))
            .file(Some(good))
            .env(env(&[]))
            .load()
            .await
            .unwrap();
        assert_eq!(c.hydra.service_name, "from-file");
        let bad = dir.join("bad.json");
        std::fs::write(&bad, "{ nope").unwrap();
        let e = ConfigLoader::new(json!({}))
            .file(Some(bad.clone()))
            .env(env(&[]))
            .load()
            .await
            .unwrap_err();
        assert!(e.to_string().contains("bad.json"), "{e}");
        let e = ConfigLoader::new(json!({}))
            .file(Some(dir.join("missing.json")))
            .env(env(&[]))
            .load()
            .await
            .unwrap_err();
        assert!(matches!(e, ConfigError::Read { .. }));
        std::fs::remove_dir_all(dir).ok();
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "hydra-config-test-{}",
            crate::umf::new_instance_id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
