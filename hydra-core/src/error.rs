//! The library's error type.

use std::time::Duration;

use crate::config::ConfigError;
use crate::response;
use crate::route::RouteError;
use crate::umf::UmfError;

/// Everything a Hydra call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum HydraError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The Redis URL does not parse.
    #[error("invalid Redis URL {url}: {reason}")]
    RedisUrl {
        /// The URL, password masked.
        url: String,
        /// Why.
        reason: String,
    },
    /// Redis could not be reached at start within the retry budget.
    #[error("Redis at {url} unreachable after {waited:.1?}: {reason}")]
    RedisUnreachable {
        /// The URL, password masked.
        url: String,
        /// How long we tried.
        waited: Duration,
        /// The last error.
        reason: String,
    },
    /// A Redis command failed (connection lost, server error).
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The message is not a valid UMF message.
    #[error(transparent)]
    Umf(#[from] UmfError),
    /// A route does not parse.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// The caller's request is invalid (Node's 400 reasons).
    #[error("{0}")]
    BadRequest(String),
    /// No (suitable) instance: Node's 503 reasons, e.g. "Unavailable hello-service instances".
    #[error("{0}")]
    Unavailable(String),
    /// The call needs a registered service (e.g. to receive a reply).
    #[error("this Hydra instance is not registered as a service")]
    NotRegistered,
    /// No answer in time.
    #[error("timed out")]
    Timeout,
    /// An HTTP request to an instance failed after it was sent.
    #[error("request to {service} failed: {reason}")]
    Http {
        /// The service called.
        service: String,
        /// Why.
        reason: String,
    },
    /// The network address or port could not be set up.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl HydraError {
    /// The HTTP status Node would answer with for this error.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::BadRequest(_) | Self::Umf(_) | Self::Route(_) => 400,
            Self::Unavailable(_) | Self::RedisUnreachable { .. } => 503,
            Self::Timeout => 504,
            Self::Http { .. } => 502,
            _ => 500,
        }
    }

    /// The Node-shaped envelope `{statusCode, statusMessage, statusDescription, result:{reason}}`.
    pub fn to_envelope(&self) -> serde_json::Value {
        response::envelope(
            self.status_code(),
            serde_json::json!({ "result": { "reason": self.to_string() } }),
        )
    }
}
