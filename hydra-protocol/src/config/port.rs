//! `servicePort`: a port, port ranges and lists.

use std::fmt;
use std::ops::RangeInclusive;

use serde::Serialize;
use serde_json::Value;

use super::ConfigError;

/// `servicePort`: a fixed port, or ports to pick a free one from.
///
/// See the examples on [`ServicePort::parse`] and [`ServicePort::candidates`].
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
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::config::ServicePort;
    /// use serde_json::json;
    /// assert_eq!(ServicePort::parse(&json!(0)).unwrap(), ServicePort::Any);
    /// assert_eq!(ServicePort::parse(&json!("5000")).unwrap(), ServicePort::Fixed(5000));
    /// assert_eq!(
    ///     ServicePort::parse(&json!("3000,4000-4010")).unwrap(),
    ///     ServicePort::Ranges(vec![3000..=3000, 4000..=4010])
    /// );
    /// assert!(ServicePort::parse(&json!("http")).is_err());
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::config::ServicePort;
    /// assert_eq!(ServicePort::Any.candidates(), [1024..=65535]);
    /// assert_eq!(ServicePort::Fixed(5000).candidates(), [5000..=5000]);
    /// ```
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

impl Serialize for ServicePort {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Any => s.serialize_u16(0),
            Self::Fixed(p) => s.serialize_u16(*p),
            Self::Ranges(_) => s.serialize_str(&self.to_string()),
        }
    }
}
