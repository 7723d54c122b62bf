//! Configuration: the `hydra` branch of a service's config document, and how it is loaded.
//!
//! Layers, lowest first: built-in defaults or a JSON file, then `HYDRA_REDIS_URL`, then
//! `HYDRA_SERVICE` (a `name:version` label to pull the whole config from Redis, a JSON object, or
//! `k=v|k=v`), applied as Node hydra applies them. [`ConfigLoader`] does all of it.

use std::collections::HashMap;
use std::fmt;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// The Redis URL used when the config names none.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379/15";
/// The config file a binary reads from its working directory when present.
pub const DEFAULT_CONFIG_PATH: &str = "config/config.json";

/// What is wrong with a configuration.
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

/// A `name:version` label of a stored config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Service name.
    pub service: String,
    /// Version (the hash field).
    pub version: String,
}

impl Label {
    /// Parses `name:version` (exactly one `:`, both parts non-empty).
    ///
    /// # Errors
    /// [`ConfigError::Label`] otherwise.
    pub fn parse(s: &str) -> Result<Self, ConfigError> {
        let parts: Vec<&str> = s.split(':').collect();
        match parts.as_slice() {
            [service, version] if !service.is_empty() && !version.is_empty() => Ok(Self {
                service: (*service).to_string(),
                version: (*version).to_string(),
            }),
            _ => Err(ConfigError::Label(s.to_string())),
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.service, self.version)
    }
}

/// `servicePort`: a fixed port, or ports to pick a free one from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ServicePort {
    /// `0`, `""` or absent: any free port from 1024-65535.
    #[default]
    Any,
    /// One configured port. Node advertises it as a string.
    Fixed(u16),
    /// `"3000-3100"`, `"3000,3005,4000-4010"`: a free port from these.
    Ranges(Vec<RangeInclusive<u16>>),
}

impl ServicePort {
    /// Parses the forms Node accepts: number, numeric string, ranges and comma lists.
    ///
    /// # Errors
    /// [`ConfigError::BadPort`] when nothing in it is a port.
    pub fn parse(value: &Value) -> Result<Self, ConfigError> {
        let text = match value {
            Value::Null => return Ok(Self::Any),
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.trim().to_string(),
            other => return Err(ConfigError::BadPort(other.to_string())),
        };
        if text.is_empty() || text == "0" {
            return Ok(Self::Any);
        }
        let bad = || ConfigError::BadPort(text.clone());
        if !text.contains(['-', ',']) {
            return match port_number(&text) {
                Some(p) => Ok(Self::Fixed(p)),
                None => Err(bad()),
            };
        }
        // As Node: parts that are not a port or a range are ignored; none left is an error.
        let ranges: Vec<RangeInclusive<u16>> = text
            .split(',')
            .filter_map(|part| {
                let part = part.trim();
                match part.split_once('-') {
                    Some((a, b)) => {
                        let (a, b) = (port_number(a)?, port_number(b)?);
                        (a <= b).then_some(a..=b)
                    }
                    None => port_number(part).map(|p| p..=p),
                }
            })
            .collect();
        if ranges.is_empty() {
            return Err(bad());
        }
        Ok(Self::Ranges(ranges))
    }

    /// The ranges a free port is picked from (`Any` is 1024-65535).
    pub fn candidates(&self) -> Vec<RangeInclusive<u16>> {
        match self {
            Self::Any => vec![1024..=65535],
            Self::Fixed(p) => vec![*p..=*p],
            Self::Ranges(r) => r.clone(),
        }
    }
}

fn port_number(s: &str) -> Option<u16> {
    if s.is_empty() || s.starts_with('0') || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u16>().ok().filter(|p| *p > 0)
}

impl fmt::Display for ServicePort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("0"),
            Self::Fixed(p) => write!(f, "{p}"),
            Self::Ranges(r) => {
                let parts: Vec<String> = r
                    .iter()
                    .map(|r| {
                        if r.start() == r.end() {
                            r.start().to_string()
                        } else {
                            format!("{}-{}", r.start(), r.end())
                        }
                    })
                    .collect();
                f.write_str(&parts.join(","))
            }
        }
    }
}

/// `hydra.redis`: a URL, or host/port/db with optional credentials.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RedisConfig {
    /// `redis://[user:pass@]host:port/db` or `rediss://…`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Host, when given as parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Port, when given as parts.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_u64"
    )]
    pub port: Option<u64>,
    /// Database number; overrides the URL's.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_u64"
    )]
    pub db: Option<u64>,
    /// ACL user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// How long to keep retrying an unreachable Redis at start, in seconds; unset: as long as it
    /// takes (an instance may start before its Redis, as in a swarm).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_u64"
    )]
    pub connect_timeout_seconds: Option<u64>,
}

impl RedisConfig {
    /// A config that is just `url`.
    pub fn from_url(url: impl Into<String>) -> Self {
        Self {
            url: Some(url.into()),
            ..Self::default()
        }
    }

    /// The connection URL these settings describe.
    pub fn url(&self) -> String {
        if let Some(host) = self.host.as_deref().filter(|h| !h.is_empty()) {
            let auth = match (&self.username, &self.password) {
                (Some(u), Some(p)) => format!("{u}:{p}@"),
                (None, Some(p)) => format!(":{p}@"),
                (Some(u), None) => format!("{u}@"),
                (None, None) => String::new(),
            };
            let port = self.port.unwrap_or(6379);
            let db = self.db.unwrap_or(0);
            return format!("redis://{auth}{host}:{port}/{db}");
        }
        let url = self
            .url
            .clone()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| DEFAULT_REDIS_URL.to_string());
        match self.db {
            Some(db) => with_db(&url, db),
            None => url,
        }
    }

    /// The start-up retry budget; `None`: no limit.
    pub fn connect_timeout(&self) -> Option<std::time::Duration> {
        self.connect_timeout_seconds
            .map(std::time::Duration::from_secs)
    }
}

/// Replaces (or adds) the database path of a Redis URL.
fn with_db(url: &str, db: u64) -> String {
    let (base, query) = match url.split_once(['?', '#']) {
        Some((b, _)) => (b, &url[b.len()..]),
        None => (url, ""),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    format!("{}/{db}{query}", &base[..host_end])
}

/// The `hydra` branch of a config document.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HydraConfig {
    /// Service name; lower-cased, no `:` or space.
    #[serde(default, deserialize_with = "lenient_string")]
    pub service_name: String,
    /// Address to advertise; `""` = the first non-loopback IPv4; a host name is resolved; a
    /// trailing `*` picks the first IPv4 starting with the text before it.
    #[serde(rename = "serviceIP", default, deserialize_with = "lenient_string")]
    pub service_ip: String,
    /// DNS name to advertise instead of an address.
    #[serde(rename = "serviceDNS", default, deserialize_with = "lenient_string")]
    pub service_dns: String,
    /// `eth0/255.255.255.0`: take the address of that interface with that netmask.
    #[serde(default, deserialize_with = "lenient_string")]
    pub service_interface: String,
    /// Port, port range or list.
    #[serde(default, deserialize_with = "port_value")]
    pub service_port: ServicePort,
    /// Free-form type (written to the service record).
    #[serde(default, deserialize_with = "lenient_string")]
    pub service_type: String,
    /// Description (written to the nodes entry).
    #[serde(default, deserialize_with = "lenient_string")]
    pub service_description: String,
    /// Version (written to the nodes entry).
    #[serde(default, deserialize_with = "lenient_string")]
    pub service_version: String,
    /// Redis settings.
    #[serde(default)]
    pub redis: RedisConfig,
    /// `signatureSharedSecret`: when set, every message this instance sends is signed with it
    /// (HMAC-SHA256, as Node's `signMessage`).
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub signature_shared_secret: String,
    /// `forceMessageSignature`: drop incoming messages without a valid signature (needs
    /// `signatureSharedSecret`).
    #[serde(
        default,
        deserialize_with = "lenient_bool",
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

impl Serialize for ServicePort {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Any => s.serialize_u16(0),
            Self::Fixed(p) => s.serialize_u16(*p),
            Self::Ranges(_) => s.serialize_str(&self.to_string()),
        }
    }
}

fn port_value<'de, D: Deserializer<'de>>(d: D) -> Result<ServicePort, D::Error> {
    let v = Value::deserialize(d)?;
    ServicePort::parse(&v).map_err(serde::de::Error::custom)
}

fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => String::new(),
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => {
            return Err(serde::de::Error::custom(format!(
                "expected a string, got {other}"
            )))
        }
    })
}

fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    // `k=v` settings from HYDRA_SERVICE arrive as text.
    match Value::deserialize(d)? {
        Value::Null => Ok(false),
        Value::Bool(b) => Ok(b),
        Value::String(s) if s.trim() == "true" => Ok(true),
        Value::String(s) if matches!(s.trim(), "false" | "") => Ok(false),
        other => Err(serde::de::Error::custom(format!(
            "expected true or false, got {other}"
        ))),
    }
}

fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => None,
        Value::Number(n) => n.as_u64(),
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(
            s.trim()
                .parse()
                .map_err(|_| serde::de::Error::custom(format!("expected a number, got {s:?}")))?,
        ),
        other => {
            return Err(serde::de::Error::custom(format!(
                "expected a number, got {other}"
            )))
        }
    })
}

impl HydraConfig {
    /// A config for `name` with every other setting at its default.
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
    pub fn from_value(document: Value) -> Result<Self, ConfigError> {
        Self::parse(document, None)
    }

    /// Reads and parses a JSON file.
    ///
    /// # Errors
    /// [`ConfigError::Read`] or the errors of [`Config::from_value`].
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let value: Value = serde_json::from_str(&text).map_err(|e| ConfigError::Parse {
            path: Some(path.to_path_buf()),
            reason: e.to_string(),
        })?;
        Self::parse(value, Some(path))
    }

    fn parse(mut document: Value, path: Option<&Path>) -> Result<Self, ConfigError> {
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
        let mut hydra: HydraConfig =
            serde_json::from_value(branch.clone()).map_err(|e| err(format!("hydra: {e}")))?;
        hydra.validate()?;
        Ok(Self { document, hydra })
    }

    /// The service's own settings: the document's top-level value `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.document.get(key)
    }
}

/// Where environment variables come from: the process, or a map in tests.
pub trait EnvSource: Send + Sync {
    /// The value of `key`, if set.
    fn var(&self, key: &str) -> Option<String>;
}

/// The process environment.
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

/// What `HYDRA_SERVICE` asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceOverride {
    /// `name:version`: pull the stored config.
    Pull(Label),
    /// A JSON object or `k=v|k=v`: merge into the hydra branch.
    Merge(Map<String, Value>),
}

impl ServiceOverride {
    /// Parses a `HYDRA_SERVICE` value. Empty means no override.
    ///
    /// # Errors
    /// [`ConfigError::HydraService`] when it is none of the three forms.
    pub fn parse(raw: &str) -> Result<Option<Self>, ConfigError> {
        let value = raw.trim();
        let err = |reason: &str| ConfigError::HydraService {
            value: raw.to_string(),
            reason: reason.to_string(),
        };
        if value.is_empty() {
            return Ok(None);
        }
        if value.starts_with('{') {
            return match serde_json::from_str::<Value>(value) {
                Ok(Value::Object(m)) => Ok(Some(Self::Merge(m))),
                Ok(_) => Err(err("not a JSON object")),
                Err(e) => Err(err(&format!("invalid JSON: {e}"))),
            };
        }
        // Node takes k=v pairs only when there is a '|'; a single pair has no other meaning, so
        // we take it too.
        if value.contains('|') || value.contains('=') {
            let mut map = Map::new();
            for segment in value.split('|') {
                let segment: String = segment
                    .chars()
                    .filter(|c| !matches!(c, '\r' | '\n'))
                    .collect();
                let segment = segment.trim();
                if segment.is_empty() {
                    continue;
                }
                let (k, v) = segment
                    .split_once('=')
                    .ok_or_else(|| err(&format!("segment {segment:?} has no '='")))?;
                let k = k.trim();
                if k.is_empty() {
                    return Err(err(&format!("segment {segment:?} has no key before '='")));
                }
                map.insert(k.to_string(), Value::String(v.trim().to_string()));
            }
            if map.is_empty() {
                return Err(err("no k=v pair"));
            }
            return Ok(Some(Self::Merge(map)));
        }
        Label::parse(value)
            .map(|l| Some(Self::Pull(l)))
            .map_err(|_| err("a label is name:version"))
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
    pub fn new(defaults: Value) -> Self {
        Self {
            defaults,
            explicit: None,
            search_default_path: true,
            env: Box::new(ProcessEnv),
        }
    }

    /// Reads `path` (it must exist); `None` keeps the default: `config/config.json` when present.
    #[must_use]
    pub fn file(mut self, path: Option<PathBuf>) -> Self {
        self.explicit = path;
        self
    }

    /// Do not look for `config/config.json`.
    #[must_use]
    pub fn no_default_file(mut self) -> Self {
        self.search_default_path = false;
        self
    }

    /// Reads variables from `env` instead of the process environment.
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
                let probe = Config::parse(document.clone(), self.explicit.as_deref()).ok();
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
        Config::parse(document, self.explicit.as_deref())
    }
}

fn read_document(path: &Path) -> Result<Value, ConfigError> {
    Config::from_file(path)
        .map(|c| c.document)
        .or_else(|e| match e {
            // A file whose hydra branch lacks a name can still be completed by HYDRA_SERVICE.
            ConfigError::MissingServiceName => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
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

    #[test]
    fn ports() {
        assert_eq!(ServicePort::parse(&json!(0)).unwrap(), ServicePort::Any);
        assert_eq!(ServicePort::parse(&json!("")).unwrap(), ServicePort::Any);
        assert_eq!(ServicePort::parse(&Value::Null).unwrap(), ServicePort::Any);
        assert_eq!(
            ServicePort::parse(&json!(5000)).unwrap(),
            ServicePort::Fixed(5000)
        );
        assert_eq!(
            ServicePort::parse(&json!("5000")).unwrap(),
            ServicePort::Fixed(5000)
        );
        assert_eq!(
            ServicePort::parse(&json!("3000-3100")).unwrap(),
            ServicePort::Ranges(vec![3000..=3100])
        );
        assert_eq!(
            ServicePort::parse(&json!("3000, 3005,4000-4010,junk")).unwrap(),
            ServicePort::Ranges(vec![3000..=3000, 3005..=3005, 4000..=4010])
        );
        for bad in [
            json!("abc"),
            json!("70000"),
            json!("x-y,z"),
            json!(-1),
            json!([1]),
        ] {
            assert!(ServicePort::parse(&bad).is_err(), "{bad}");
        }
        assert_eq!(
            ServicePort::parse(&json!("3000-3100")).unwrap().to_string(),
            "3000-3100"
        );
    }

    #[test]
    fn redis_urls() {
        assert_eq!(RedisConfig::default().url(), DEFAULT_REDIS_URL);
        let parts = RedisConfig {
            host: Some("redis.local".into()),
            port: Some(6380),
            db: Some(3),
            password: Some("pw".into()),
            ..RedisConfig::default()
        };
        assert_eq!(parts.url(), "redis://:pw@redis.local:6380/3");
        let with_db = RedisConfig {
            url: Some("rediss://u:p@h:1/2".into()),
            db: Some(5),
            ..RedisConfig::default()
        };
        assert_eq!(with_db.url(), "rediss://u:p@h:1/5");
        assert_eq!(with_db_path("redis://h:1", 4), "redis://h:1/4");
        assert_eq!(with_db_path("redis://h:1/0?x=1", 4), "redis://h:1/4?x=1");
    }

    fn with_db_path(url: &str, db: u64) -> String {
        with_db(url, db)
    }

    #[test]
    fn document_parsing_and_names() {
        let c = Config::from_value(json!({"hydra":{"serviceName":"Hello-Service","servicePort":"5000","serviceIP":"127.0.0.1","queuerDB":3},"greeting":"hi"})).unwrap();
        assert_eq!(c.hydra.service_name, "hello-service");
        assert_eq!(c.hydra.service_port, ServicePort::Fixed(5000));
        assert_eq!(c.hydra.extra["queuerDB"], json!(3));
        assert_eq!(c.get("greeting"), Some(&json!("hi")));
        assert!(matches!(
            Config::from_value(json!({"hydra":{"serviceName":"a:b"}})),
            Err(ConfigError::BadServiceName { what: "colon", .. })
        ));
        assert!(matches!(
            Config::from_value(json!({"hydra":{"serviceName":"a b"}})),
            Err(ConfigError::BadServiceName { what: "space", .. })
        ));
        assert!(matches!(
            Config::from_value(json!({"hydra":{}})),
            Err(ConfigError::MissingServiceName)
        ));
        assert!(matches!(
            Config::from_value(json!({"hydra":{"serviceName":"x","servicePort":"nope"}})),
            Err(ConfigError::Parse { .. })
        ));
        assert!(matches!(
            Config::from_value(json!([1])),
            Err(ConfigError::Parse { .. })
        ));
    }

    #[test]
    fn hydra_service_forms() {
        assert_eq!(ServiceOverride::parse("").unwrap(), None);
        assert_eq!(
            ServiceOverride::parse("hello-service:0.0.1").unwrap(),
            Some(ServiceOverride::Pull(
                Label::parse("hello-service:0.0.1").unwrap()
            ))
        );
        let Some(ServiceOverride::Merge(m)) =
            ServiceOverride::parse("serviceIP=127.0.0.1|servicePort=5000|").unwrap()
        else {
            panic!("k=v")
        };
        assert_eq!(m["serviceIP"], json!("127.0.0.1"));
        assert_eq!(m["servicePort"], json!("5000"));
        let Some(ServiceOverride::Merge(m)) =
            ServiceOverride::parse(r#" {"serviceName":"x","servicePort":0} "#).unwrap()
        else {
            panic!("json")
        };
        assert_eq!(m["servicePort"], json!(0));
        for bad in [
            "{not json",
            "[1]",
            "a|b",
            "just-a-name",
            "a:b:c",
            "=|=",
            "=5000",
            "|",
            " | ",
        ] {
            assert!(
                matches!(
                    ServiceOverride::parse(bad),
                    Err(ConfigError::HydraService { .. })
                ),
                "{bad}"
            );
        }
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
