//! The JSON records Hydra keeps in Redis, field names and order as Node writes them.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// A port as found in a nodes entry: Node writes a string for a configured port and a number for
/// one it picked, so both are read.
///
/// See the example on [`PortValue::as_u16`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PortValue {
    /// `13618`
    Number(u64),
    /// `"5201"`
    Text(String),
}

impl PortValue {
    /// The port as a number, if it is one.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::PortValue;
    /// assert_eq!(PortValue::Text("5000".into()).as_u16(), Some(5000));
    /// assert_eq!(PortValue::Number(13618).as_u16(), Some(13618));
    /// assert_eq!(PortValue::Number(70000).as_u16(), None);
    /// ```
    pub fn as_u16(&self) -> Option<u16> {
        match self {
            Self::Number(n) => u16::try_from(*n).ok(),
            Self::Text(s) => s.trim().parse().ok(),
        }
    }
}

impl Default for PortValue {
    fn default() -> Self {
        Self::Number(0)
    }
}

impl std::fmt::Display for PortValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Number(n) => write!(f, "{n}"),
            Self::Text(s) => f.write_str(s),
        }
    }
}

fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_u64().unwrap_or_default(),
        Value::String(s) => s.parse().unwrap_or_default(),
        _ => 0,
    })
}

/// An instance record: a field of `hydra:service:nodes`.
///
/// # Examples
///
/// ```
/// use hydra_protocol::{NodeEntry, PortValue};
/// // As a Node instance writes it into `hydra:service:nodes`.
/// let node: NodeEntry = serde_json::from_str(
///     r#"{"serviceName":"hello-service","instanceID":"a1b2","processID":"41","ip":"10.0.0.7","port":"5000"}"#,
/// )
/// .unwrap();
/// assert_eq!(node.process_id, 41);
/// assert_eq!(node.port, PortValue::Text("5000".into()));
/// assert_eq!(node.base_url(), "http://10.0.0.7:5000");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct NodeEntry {
    /// Service name.
    #[serde(default)]
    pub service_name: String,
    /// Service description.
    #[serde(default)]
    pub service_description: String,
    /// Service version.
    #[serde(default)]
    pub version: String,
    /// Instance id.
    #[serde(rename = "instanceID")]
    pub instance_id: String,
    /// When the record was last written.
    #[serde(default)]
    pub updated_on: String,
    /// Process id.
    #[serde(rename = "processID", default, deserialize_with = "lenient_u64")]
    pub process_id: u64,
    /// Address to call.
    #[serde(default)]
    pub ip: String,
    /// Port to call.
    #[serde(default)]
    pub port: PortValue,
    /// Host name.
    #[serde(default)]
    pub host_name: String,
    /// Seconds since `updatedOn` (added by hydra-core's `Hydra::get_service_nodes`, not stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed: Option<i64>,
    /// Fields other writers added.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl NodeEntry {
    /// `{ip}:{port}`, an IPv6 address in brackets (`[::1]:5000`).
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::{NodeEntry, PortValue};
    /// let node = NodeEntry {
    ///     ip: "::1".into(),
    ///     port: PortValue::Text("5000".into()),
    ///     ..NodeEntry::default()
    /// };
    /// assert_eq!(node.authority(), "[::1]:5000");
    /// ```
    pub fn authority(&self) -> String {
        let port = self
            .port
            .as_u16()
            .map_or_else(|| self.port.to_string(), |p| p.to_string());
        if self.ip.contains(':') {
            format!("[{}]:{port}", self.ip)
        } else {
            format!("{}:{port}", self.ip)
        }
    }

    /// `http://{authority}`.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::{NodeEntry, PortValue};
    /// let node = NodeEntry {
    ///     ip: "10.0.0.7".into(),
    ///     port: PortValue::Number(13618),
    ///     ..NodeEntry::default()
    /// };
    /// assert_eq!(format!("{}/v1/hello", node.base_url()), "http://10.0.0.7:13618/v1/hello");
    /// ```
    pub fn base_url(&self) -> String {
        format!("http://{}", self.authority())
    }
}

/// The service record at `hydra:service:{svc}:service`.
///
/// Read with hydra-core's `Hydra::get_services` and `Hydra::find_service`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEntry {
    /// Service name.
    #[serde(default)]
    pub service_name: String,
    /// `serviceType` from the config.
    #[serde(rename = "type", default)]
    pub service_type: String,
    /// When the latest instance registered.
    #[serde(default)]
    pub registered_on: String,
}

/// A health log entry (`…:health:log` list item).
///
/// Read with hydra-core's `Hydra::get_service_health_log`, written by `Hydra::log`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct HealthLogEntry {
    /// Timestamp.
    #[serde(default)]
    pub ts: String,
    /// Service name.
    #[serde(default)]
    pub service_name: String,
    /// `info`, `error`, `fatal`, …
    #[serde(rename = "type", default)]
    pub level: String,
    /// Process id.
    #[serde(rename = "processID", default, deserialize_with = "lenient_u64")]
    pub process_id: u64,
    /// The text.
    #[serde(default)]
    pub msg: String,
}

/// Memory figures of a health record (bytes). Node's heap fields are filled with the closest
/// figures a Rust process has (hydra-core's `health` module samples them).
///
/// Part of a [`HealthEntry`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    /// Resident set size.
    #[serde(default)]
    pub rss: u64,
    /// Node: V8 heap size. Here: the data segment size (heap and anonymous maps).
    #[serde(default)]
    pub heap_total: u64,
    /// Node: V8 heap used. Here: resident anonymous memory.
    #[serde(default)]
    pub heap_used: u64,
    /// Node: memory of C++ objects bound to JS. Here: 0.
    #[serde(default)]
    pub external: u64,
    /// Node: ArrayBuffer memory. Here: 0.
    #[serde(default)]
    pub array_buffers: u64,
}

/// A health record (`…:health`).
///
/// Read with hydra-core's `Hydra::get_service_health`; an instance's own with `Hydra::health_entry`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct HealthEntry {
    /// When the record was written.
    #[serde(default)]
    pub updated_on: String,
    /// Service name.
    #[serde(default)]
    pub service_name: String,
    /// Instance id.
    #[serde(rename = "instanceID", default)]
    pub instance_id: String,
    /// Host name.
    #[serde(default)]
    pub host_name: String,
    /// When the figures were sampled.
    #[serde(default)]
    pub sampled_on: String,
    /// Process id.
    #[serde(rename = "processID", default, deserialize_with = "lenient_u64")]
    pub process_id: u64,
    /// Node's `process.arch` naming (`x64`, `arm64`).
    #[serde(default)]
    pub architecture: String,
    /// `linux`, `darwin`, …
    #[serde(default)]
    pub platform: String,
    /// Node: `process.version`. Here: `hydra-rs/{version}`.
    #[serde(default)]
    pub node_version: String,
    /// Memory figures.
    #[serde(default)]
    pub memory: Memory,
    /// Seconds since start.
    #[serde(default)]
    pub uptime_seconds: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(name: &str) -> String {
        crate::testdata::vector(name)
    }

    #[test]
    fn nodes_entries_both_port_forms() {
        let fixed: NodeEntry =
            serde_json::from_str(&vector("nodes-entry-configured-port.json")).unwrap();
        assert_eq!(fixed.port, PortValue::Text("5390".into()));
        assert_eq!(fixed.port.as_u16(), Some(5390));
        assert_eq!(fixed.base_url(), "http://127.0.0.1:5390");
        let random: NodeEntry =
            serde_json::from_str(&vector("nodes-entry-random-port.json")).unwrap();
        assert_eq!(random.port.as_u16(), Some(13618));
        // Written back, the record is byte for byte what Node wrote.
        for name in [
            "nodes-entry-configured-port.json",
            "nodes-entry-random-port.json",
        ] {
            let text = vector(name);
            let entry: NodeEntry = serde_json::from_str(&text).unwrap();
            assert_eq!(serde_json::to_string(&entry).unwrap(), text.trim());
        }
    }

    #[test]
    fn service_health_and_log_records() {
        let text = vector("service-entry.json");
        let e: ServiceEntry = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_string(&e).unwrap(), text.trim());
        let text = vector("health-log-entry.json");
        let e: HealthLogEntry = serde_json::from_str(&text).unwrap();
        assert_eq!(e.level, "fatal");
        assert_eq!(serde_json::to_string(&e).unwrap(), text.trim());
        let text = vector("health.json");
        let e: HealthEntry = serde_json::from_str(&text).unwrap();
        assert_eq!(e.memory.rss, 63_881_216);
        assert_eq!(serde_json::to_string(&e).unwrap(), text.trim());
    }
}
