//! `name:version` labels of stored configs.

use std::fmt;

use super::ConfigError;

/// A `name:version` label of a stored config.
///
/// See the example on [`Label::parse`].
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
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::config::Label;
    /// let label = Label::parse("hello-service:1.0.1").unwrap();
    /// assert_eq!((label.service.as_str(), label.version.as_str()), ("hello-service", "1.0.1"));
    /// assert_eq!(label.to_string(), "hello-service:1.0.1");
    /// assert!(Label::parse("hello-service").is_err());
    /// ```
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
