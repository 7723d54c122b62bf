//! What can be wrong with a configuration.

use std::path::PathBuf;

/// What is wrong with a configuration.
///
/// # Examples
///
/// ```
/// use hydra_protocol::config::{Config, ConfigError};
/// let err = Config::from_value(serde_json::json!({"hydra": {}})).unwrap_err();
/// assert!(matches!(err, ConfigError::MissingServiceName));
/// assert_eq!(err.to_string(), "config missing hydra.serviceName");
/// ```
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file or value is not the JSON we expect.
    #[error("invalid config{}: {reason}", .path.as_ref().map(|p| format!(" in {}", p.display())).unwrap_or_default())]
    Parse {
        /// The file, when there is one.
        path: Option<PathBuf>,
        /// What is wrong.
        reason: String,
    },
    /// `serviceName` is missing or empty.
    #[error("config missing hydra.serviceName")]
    MissingServiceName,
    /// `serviceName` holds a character Hydra cannot route.
    #[error("serviceName {name:?} can not have a {what} character in its name")]
    BadServiceName {
        /// The name.
        name: String,
        /// "colon" or "space".
        what: &'static str,
    },
    /// `servicePort` holds no usable port.
    #[error("servicePort {0:?}: configuration does not contain valid port(s)")]
    BadPort(String),
    /// No port of the configured ranges could be bound.
    #[error("no available service port in provided port range {0}")]
    NoFreePort(String),
    /// `HYDRA_SERVICE` could not be understood.
    #[error(
        "HYDRA_SERVICE {value:?} is not a name:version label, a JSON object or k=v|k=v: {reason}"
    )]
    HydraService {
        /// The variable's value.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// A label is not `name:version`.
    #[error("label {0:?} not in this form: myservice:0.1.1")]
    Label(String),
    /// `HYDRA_SERVICE=name:version` named a config that is not stored.
    #[error("no stored config {label} in Redis (push it first, e.g. hydra-cli cfg push {label} config.json)")]
    StoredConfigMissing {
        /// The label.
        label: String,
    },
    /// Pulling the stored config failed.
    #[error("cannot pull config {label} from Redis: {reason}")]
    Pull {
        /// The label.
        label: String,
        /// Why.
        reason: String,
    },
    /// No interface matched `serviceIP` / `serviceInterface`, or a name did not resolve.
    #[error("cannot determine the service address: {0}")]
    Address(String),
}
