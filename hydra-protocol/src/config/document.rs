//! The `hydra` branch of a config document, and the document around it.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{lenient, ConfigError, RedisConfig, ServicePort};

/// The `hydra` branch of a config document.
///
/// # Examples
///
/// ```
/// use hydra_protocol::config::HydraConfig;
/// // The `hydra` branch as Node reads it: camelCase names, numbers or strings for ports.
/// let config: HydraConfig = serde_json::from_value(serde_json::json!({
///     "serviceName": "hello-service",
///     "serviceIP": "10.0.0.7",
///     "servicePort": "5000",
///     "redis": {"url": "redis://cache:6379/0"}
/// }))
/// .unwrap();
/// assert_eq!(config.redis.url(), "redis://cache:6379/0");
/// ```
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HydraConfig {
    /// Service name; lower-cased, no `:` or space.
    #[serde(default, deserialize_with = "lenient::string")]
    pub service_name: String,
    /// Address to advertise; `""` = the first non-loopback IPv4; a host name is resolved; a
    /// trailing `*` picks the first IPv4 starting with the text before it.
    #[serde(rename = "serviceIP", default, deserialize_with = "lenient::string")]
    pub service_ip: String,
    /// DNS name to advertise instead of an address.
    #[serde(rename = "serviceDNS", default, deserialize_with = "lenient::string")]
    pub service_dns: String,
    /// `eth0/255.255.255.0`: take the address of that interface with that netmask.
    #[serde(default, deserialize_with = "lenient::string")]
    pub service_interface: String,
    /// Port, port range or list.
    #[serde(default, deserialize_with = "lenient::port")]
    pub service_port: ServicePort,
    /// Free-form type (written to the service record).
    #[serde(default, deserialize_with = "lenient::string")]
    pub service_type: String,
    /// Description (written to the nodes entry).
    #[serde(default, deserialize_with = "lenient::string")]
    pub service_description: String,
    /// Version (written to the nodes entry).
    #[serde(default, deserialize_with = "lenient::string")]
    pub service_version: String,
    /// Redis settings.
    #[serde(default)]
    pub redis: RedisConfig,
    /// `signatureSharedSecret`: when set, every message this instance sends is signed with it
    /// (HMAC-SHA256, as Node's `signMessage`).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub signature_shared_secret: String,
    /// `forceMessageSignature`: drop incoming messages without a valid signature (needs
    /// `signatureSharedSecret`).
    #[serde(
        default,
        deserialize_with = "lenient::bool",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub force_message_signature: bool,
    /// Everything else in the branch (router settings, plugins, …), kept as given.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl fmt::Debug for HydraConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The shared secret is never printed.
        let secret = if self.signature_shared_secret.is_empty() {
            ""
        } else {
            "<set>"
        };
        f.debug_struct("HydraConfig")
            .field("service_name", &self.service_name)
            .field("service_ip", &self.service_ip)
            .field("service_dns", &self.service_dns)
            .field("service_interface", &self.service_interface)
            .field("service_port", &self.service_port)
            .field("service_type", &self.service_type)
            .field("service_description", &self.service_description)
            .field("service_version", &self.service_version)
            .field("redis", &self.redis)
            .field("signature_shared_secret", &secret)
            .field("force_message_signature", &self.force_message_signature)
            .field("extra", &self.extra)
            .finish()
    }
}

impl HydraConfig {
    /// A config for `name` with every other setting at its default.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::config::{HydraConfig, ServicePort};
    /// let mut config = HydraConfig::named("hello-service");
    /// config.service_port = ServicePort::Fixed(5000);
    /// ```
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            service_name: name.into(),
            ..Self::default()
        }
    }

    /// Lower-cases the service name and checks it can be routed.
    ///
    /// # Errors
    /// [`ConfigError::MissingServiceName`] or [`ConfigError::BadServiceName`].
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::config::{ConfigError, HydraConfig};
    /// let mut config = HydraConfig::named(" Hello-Service ");
    /// config.validate().unwrap();
    /// assert_eq!(config.service_name, "hello-service");
    /// let mut bad = HydraConfig::named("hello:service");
    /// assert!(matches!(bad.validate(), Err(ConfigError::BadServiceName { what: "colon", .. })));
    /// ```
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        self.service_name = self.service_name.trim().to_lowercase();
        let name = &self.service_name;
        if name.is_empty() {
            return Err(ConfigError::MissingServiceName);
        }
        for (c, what) in [(':', "colon"), (' ', "space")] {
            if name.contains(c) {
                return Err(ConfigError::BadServiceName {
                    name: name.clone(),
                    what,
                });
            }
        }
        if self.force_message_signature && self.signature_shared_secret.is_empty() {
            return Err(ConfigError::Parse {
                path: None,
                reason: "hydra.forceMessageSignature needs hydra.signatureSharedSecret".into(),
            });
        }
        Ok(())
    }
}

/// A whole config document and its parsed `hydra` branch.
///
/// See the examples on [`Config::from_value`] and [`Config::get`].
#[derive(Debug, Clone)]
pub struct Config {
    /// The document as loaded (the service's own settings live beside `hydra`).
    pub document: Value,
    /// The parsed `hydra` branch.
    pub hydra: HydraConfig,
}

impl Config {
    /// Parses a document `{"hydra": {…}, …}`. A document without `hydra` gets an empty branch.
    ///
    /// # Errors
    /// [`ConfigError::Parse`] when it is not an object or a setting has the wrong type, and the
    /// name errors of [`HydraConfig::validate`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), hydra_protocol::config::ConfigError> {
    /// use hydra_protocol::config::{Config, ServicePort};
    /// let config = Config::from_value(serde_json::json!({
    ///     "hydra": {"serviceName": "hello-service", "servicePort": "5000-5099"},
    ///     "greeting": "hello"
    /// }))?;
    /// assert_eq!(config.hydra.service_port, ServicePort::Ranges(vec![5000..=5099]));
    /// assert_eq!(config.get("greeting").and_then(|v| v.as_str()), Some("hello"));
    /// # Ok(()) }
    /// ```
    pub fn from_value(document: Value) -> Result<Self, ConfigError> {
        Self::from_document(document, None)
    }

    /// Parses the JSON text of a config file; `origin` names the file in errors.
    ///
    /// # Errors
    /// [`ConfigError::Parse`] for text that is not JSON, and the errors of
    /// [`Config::from_value`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::path::Path;
    /// use hydra_protocol::config::Config;
    /// let err = Config::from_text("{ nope", Some(Path::new("config/config.json"))).unwrap_err();
    /// assert!(err.to_string().contains("config/config.json"));
    /// ```
    pub fn from_text(text: &str, origin: Option<&Path>) -> Result<Self, ConfigError> {
        let value: Value = serde_json::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.map(Path::to_path_buf),
            reason: e.to_string(),
        })?;
        Self::from_document(value, origin)
    }

    /// As [`Config::from_value`]; `origin` names the file the document came from in errors.
    ///
    /// # Errors
    /// As [`Config::from_value`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::path::Path;
    /// use hydra_protocol::config::Config;
    /// let document = serde_json::json!({"hydra": {"serviceName": "hello", "redis": {"port": "six"}}});
    /// let err = Config::from_document(document, Some(Path::new("hello.json"))).unwrap_err();
    /// // The error names the file and the setting.
    /// assert!(err.to_string().contains("hello.json"));
    /// assert!(err.to_string().contains("hydra.redis.port"));
    /// ```
    pub fn from_document(mut document: Value, path: Option<&Path>) -> Result<Self, ConfigError> {
        let err = |reason: String| ConfigError::Parse {
            path: path.map(Path::to_path_buf),
            reason,
        };
        let obj = document
            .as_object_mut()
            .ok_or_else(|| err("the config is not a JSON object".into()))?;
        let branch = obj
            .entry("hydra")
            .or_insert_with(|| Value::Object(Map::new()));
        if !branch.is_object() {
            return Err(err("`hydra` is not an object".into()));
        }
        // The error names the setting: `hydra.redis.port: expected …`.
        let mut hydra: HydraConfig = serde_path_to_error::deserialize(branch.clone())
            .map_err(|e| err(format!("hydra.{}: {}", e.path(), e.inner())))?;
        hydra.validate()?;
        Ok(Self { document, hydra })
    }

    /// The service's own settings: the document's top-level value `key`.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::config::Config;
    /// let config = Config::from_value(serde_json::json!({"hydra": {"serviceName": "s"}, "retries": 3})).unwrap();
    /// assert_eq!(config.get("retries"), Some(&serde_json::json!(3)));
    /// assert_eq!(config.get("missing"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.document.get(key)
    }
}
