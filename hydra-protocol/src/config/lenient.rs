//! The forms Node configs give values in: numbers as text, `"true"`, `null` for unset.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::ServicePort;

pub(super) fn port<'de, D: Deserializer<'de>>(d: D) -> Result<ServicePort, D::Error> {
    let v = Value::deserialize(d)?;
    ServicePort::parse(&v).map_err(serde::de::Error::custom)
}

pub(super) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
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

pub(super) fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
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

pub(super) fn u64_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => None,
        Value::Number(n) => Some(n.as_u64().ok_or_else(|| {
            serde::de::Error::custom(format!("expected a whole number of 0 or more, got {n}"))
        })?),
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.trim().parse().map_err(|_| {
            serde::de::Error::custom(format!("expected a whole number of 0 or more, got {s:?}"))
        })?),
        other => {
            return Err(serde::de::Error::custom(format!(
                "expected a whole number of 0 or more, got {other}"
            )))
        }
    })
}
