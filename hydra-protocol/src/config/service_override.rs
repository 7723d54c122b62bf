//! `HYDRA_SERVICE`: a label to pull, a JSON object or `k=v|k=v` to merge.

use serde_json::{Map, Value};

use super::{ConfigError, Label};

/// What `HYDRA_SERVICE` asks for.
///
/// See the example on [`ServiceOverride::parse`].
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
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::config::{Label, ServiceOverride};
    /// let pull = ServiceOverride::parse("hello-service:1.0.1").unwrap();
    /// assert_eq!(pull, Some(ServiceOverride::Pull(Label::parse("hello-service:1.0.1").unwrap())));
    /// let Some(ServiceOverride::Merge(settings)) = ServiceOverride::parse("servicePort=5000|serviceIP=10.0.0.7").unwrap() else {
    ///     unreachable!()
    /// };
    /// assert_eq!(settings["servicePort"], "5000");
    /// assert_eq!(ServiceOverride::parse("  ").unwrap(), None);
    /// ```
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
