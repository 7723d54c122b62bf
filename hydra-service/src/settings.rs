//! Settings read from the config document, parsed and checked once at start: a value of the
//! wrong type or out of range is an error naming the key and the value (a binary exits with
//! [`EXIT_CONFIG`](crate::startup::EXIT_CONFIG)); a missing key keeps its default.

use std::time::Duration;

use hydra_core::config::ConfigError;
use hydra_core::{Config, HydraError};
use serde_json::Value;

/// Default largest request body (1 MiB).
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;
/// Default time in-flight requests get to finish after SIGTERM.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a client has to send a request head on the service and metrics ports, from
/// when the server waits for one (a connection kept open between requests included), as the
/// router's `headerReadTimeout`: a client slower than that (slowloris) has its connection closed.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default port of the `/metrics` listener (the OpenTelemetry Prometheus exporter's).
pub const DEFAULT_METRICS_PORT: u16 = 9464;

/// A setting whose value cannot be used.
///
/// # Examples
///
/// ```
/// use hydra_service::settings::whole_number;
/// let err = whole_number("hydra.bodyLimit", Some(&serde_json::json!("1MB"))).unwrap_err();
/// assert_eq!(err.to_string(), r#"setting `hydra.bodyLimit` must be a whole number, got "1MB""#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("setting `{key}` must be {expected}, got {value}")]
pub struct SettingError {
    /// The setting, as written in the config (`hydra.bodyLimit`, `slowDelayMs`).
    pub key: String,
    /// The value given, as JSON.
    pub value: String,
    /// What it must be.
    pub expected: &'static str,
}

impl SettingError {
    /// `value` at `key` is not `expected`.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_service::SettingError;
    /// let value = serde_json::json!(-3);
    /// let err = SettingError::new("slowDelayMs", &value, "a delay in milliseconds");
    /// assert_eq!(err.key, "slowDelayMs");
    /// ```
    pub fn new(key: &str, value: &Value, expected: &'static str) -> Self {
        Self {
            key: key.to_string(),
            value: value.to_string(),
            expected,
        }
    }
}

impl From<SettingError> for ConfigError {
    fn from(e: SettingError) -> Self {
        ConfigError::Parse {
            path: None,
            reason: e.to_string(),
        }
    }
}

impl From<SettingError> for HydraError {
    fn from(e: SettingError) -> Self {
        HydraError::Config(e.into())
    }
}

/// The whole number at `key`: a JSON number or a string holding one (as `HYDRA_SERVICE=k=v`
/// gives); `None` when missing or null.
///
/// # Errors
/// [`SettingError`] naming `key` for anything else (a negative or fractional number, text, …).
///
/// # Examples
///
/// ```
/// use hydra_service::settings::whole_number;
/// use serde_json::json;
/// assert_eq!(whole_number("retries", Some(&json!(3))), Ok(Some(3)));
/// assert_eq!(whole_number("retries", Some(&json!("3"))), Ok(Some(3)));
/// assert_eq!(whole_number("retries", None), Ok(None));
/// assert!(whole_number("retries", Some(&json!(2.5))).is_err());
/// ```
pub fn whole_number(key: &str, value: Option<&Value>) -> Result<Option<u64>, SettingError> {
    let bad = |v: &Value| SettingError::new(key, v, "a whole number");
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| bad(v)),
        Some(v @ Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad(v)),
        Some(v) => Err(bad(v)),
    }
}

/// [`HydraService`](crate::HydraService)'s own settings, read from the `hydra` branch.
///
/// # Examples
///
/// ```
/// # let config = hydra_core::Config::from_value(
/// #     serde_json::json!({"hydra": {"serviceName": "reports"}})).unwrap();
/// use std::time::Duration;
/// use hydra_service::{HydraService, ServiceSettings};
/// let settings = ServiceSettings {
///     request_timeout: Some(Duration::from_secs(30)),
///     concurrency_limit: Some(64),
///     ..ServiceSettings::default()
/// };
/// let service = HydraService::with_settings(config, settings);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSettings {
    /// Largest request body in bytes (`bodyLimit`, default 1 MiB).
    pub body_limit: usize,
    /// Requests running longer get a 504 (`requestTimeout`, seconds; none by default).
    pub request_timeout: Option<Duration>,
    /// At most this many requests at once (`concurrencyLimit`, at least 1; no limit by default).
    pub concurrency_limit: Option<usize>,
    /// Time in-flight requests get after a shutdown signal (`drainTimeout`, seconds, default 10).
    pub drain_timeout: Duration,
    /// The port `/metrics` is served on, apart from the service port (`metricsPort`, default
    /// 9464); `None` (`0` in the config) serves no metrics.
    pub metrics_port: Option<u16>,
    /// Time a client has to send a request head on either port before its connection is closed
    /// (`headerReadTimeout`, seconds, at least 1, default 10).
    pub header_read_timeout: Duration,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        Self {
            body_limit: DEFAULT_BODY_LIMIT,
            request_timeout: None,
            concurrency_limit: None,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            metrics_port: Some(DEFAULT_METRICS_PORT),
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
        }
    }
}

impl ServiceSettings {
    /// Reads the settings from `config`'s `hydra` branch.
    ///
    /// # Errors
    /// [`SettingError`] for a value that is not a whole number, a `concurrencyLimit` or
    /// `headerReadTimeout` of 0, or a `metricsPort` above 65535.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use hydra_core::Config;
    /// use hydra_service::ServiceSettings;
    /// let config = Config::from_value(serde_json::json!({
    ///     "hydra": {"serviceName": "reports", "requestTimeout": 30, "metricsPort": 0}
    /// }))
    /// .unwrap();
    /// let settings = ServiceSettings::from_config(&config).unwrap();
    /// assert_eq!(settings.request_timeout, Some(Duration::from_secs(30)));
    /// assert_eq!(settings.metrics_port, None);
    /// ```
    pub fn from_config(config: &Config) -> Result<Self, SettingError> {
        let read = |key: &str| whole_number(&format!("hydra.{key}"), config.hydra.extra.get(key));
        let d = Self::default();
        let above_zero = |key: &str| match read(key)? {
            Some(0) => Err(SettingError::new(
                &format!("hydra.{key}"),
                &Value::from(0),
                "a whole number above 0",
            )),
            n => Ok(n),
        };
        let concurrency_limit = above_zero("concurrencyLimit")?;
        let header_read_timeout = above_zero("headerReadTimeout")?;
        let metrics_port = match read("metricsPort")? {
            None => d.metrics_port,
            Some(0) => None,
            Some(n) => Some(u16::try_from(n).map_err(|_| {
                SettingError::new(
                    "hydra.metricsPort",
                    &Value::from(n),
                    "a port number (0 to 65535; 0 serves no metrics)",
                )
            })?),
        };
        Ok(Self {
            body_limit: read("bodyLimit")?.map_or(d.body_limit, |n| n as usize),
            request_timeout: read("requestTimeout")?.map(Duration::from_secs),
            concurrency_limit: concurrency_limit.map(|n| n as usize),
            drain_timeout: read("drainTimeout")?.map_or(d.drain_timeout, Duration::from_secs),
            metrics_port,
            header_read_timeout: header_read_timeout
                .map_or(d.header_read_timeout, Duration::from_secs),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn settings(hydra: Value) -> Result<ServiceSettings, SettingError> {
        let mut doc = json!({"hydra": hydra});
        doc["hydra"]["serviceName"] = json!("s");
        ServiceSettings::from_config(&Config::from_value(doc).unwrap())
    }

    #[test]
    fn missing_keys_keep_their_defaults_and_numeric_strings_count() {
        assert_eq!(settings(json!({})).unwrap(), ServiceSettings::default());
        let s = settings(json!({"bodyLimit": "2048", "requestTimeout": 3, "concurrencyLimit": 4, "drainTimeout": " 5 ", "metricsPort": "9100", "headerReadTimeout": 2}))
            .unwrap();
        assert_eq!(
            s,
            ServiceSettings {
                body_limit: 2048,
                request_timeout: Some(Duration::from_secs(3)),
                concurrency_limit: Some(4),
                drain_timeout: Duration::from_secs(5),
                metrics_port: Some(9100),
                header_read_timeout: Duration::from_secs(2),
            }
        );
        let off = settings(json!({"metricsPort": 0})).unwrap();
        assert_eq!(off.metrics_port, None);
    }

    #[test]
    fn a_bad_value_is_an_error_naming_key_and_value() {
        for (key, value) in [
            ("bodyLimit", json!("1MB")),
            ("requestTimeout", json!(-1)),
            ("drainTimeout", json!(1.5)),
            ("concurrencyLimit", json!(true)),
            ("concurrencyLimit", json!(0)),
            ("metricsPort", json!(65536)),
            ("metricsPort", json!("metrics")),
            ("headerReadTimeout", json!(0)),
            ("headerReadTimeout", json!(0.5)),
            ("headerReadTimeout", json!("soon")),
        ] {
            let e = settings(json!({ key: value.clone() })).unwrap_err();
            assert_eq!(e.key, format!("hydra.{key}"));
            let text = e.to_string();
            assert!(text.contains(&format!("hydra.{key}")), "{text}");
            assert!(text.contains(&value.to_string()), "{text}");
        }
    }

    #[tokio::test]
    async fn a_service_with_a_bad_setting_does_not_bind() {
        let config = Config::from_value(
            json!({"hydra": {"serviceName": "s", "drainTimeout": "soon", "redis": {"url": "redis://127.0.0.1:1/0"}}}),
        )
        .unwrap();
        assert!(crate::HydraService::try_new(config.clone()).is_err());
        let e = crate::HydraService::new(config).bind().await.unwrap_err();
        assert!(matches!(e, HydraError::Config(_)), "{e}");
        assert!(e.to_string().contains("hydra.drainTimeout"), "{e}");
        assert!(e.to_string().contains("\"soon\""), "{e}");
    }
}
