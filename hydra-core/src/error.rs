//! The library's error type.

use std::time::Duration;

use crate::response;
use crate::route::RouteError;
use crate::umf::UmfError;
use hydra_protocol::config::ConfigError;

/// Everything a Hydra call can fail with.
///
/// # Examples
///
/// ```no_run
/// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
/// use hydra_core::{HydraError, Umf};
/// let msg = Umf::new("hello-service:/", hydra.own_route(), serde_json::json!({"ping": 1}));
/// match hydra.send(&msg).await {
///     Ok(()) => {}
///     Err(HydraError::Unavailable(reason)) => println!("nobody to send to: {reason}"),
///     Err(e) => return Err(e),
/// }
/// # Ok(()) }
/// ```
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

/// Who caused an error, which decides how it is reported and whether trying again may help.
///
/// A server turns a kind into a status in one place (hydra-service's `ApiError`, the router's
/// error module); the library never chooses HTTP statuses for them.
///
/// # Examples
///
/// ```
/// use hydra_core::{ErrorKind, HydraError};
/// let e = HydraError::BadRequest("HTTP method not specified in `to` field".into());
/// assert_eq!(e.kind(), ErrorKind::Caller);
/// assert_eq!(e.kind().to_string(), "caller");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The caller asked for something invalid: a bad message, route, config or argument.
    Caller,
    /// The peer that was called failed or answered badly after the request reached it.
    Upstream,
    /// What is needed is not there right now: no instance, Redis unreachable or gone away.
    Unavailable,
    /// No answer in time.
    Timeout,
    /// A fault of this process.
    Internal,
}

impl ErrorKind {
    /// The lower-case name used in logs and metrics labels.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_core::ErrorKind;
    /// assert_eq!(ErrorKind::Upstream.as_str(), "upstream");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Caller => "caller",
            Self::Upstream => "upstream",
            Self::Unavailable => "unavailable",
            Self::Timeout => "timeout",
            Self::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl HydraError {
    /// Who caused the error.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_core::{ErrorKind, HydraError};
    /// assert_eq!(HydraError::Timeout.kind(), ErrorKind::Timeout);
    /// assert_eq!(HydraError::NotRegistered.kind(), ErrorKind::Caller);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Config(_)
            | Self::RedisUrl { .. }
            | Self::Umf(_)
            | Self::Route(_)
            | Self::BadRequest(_)
            | Self::NotRegistered => ErrorKind::Caller,
            Self::RedisUnreachable { .. } | Self::Unavailable(_) => ErrorKind::Unavailable,
            Self::Redis(e) if e.is_timeout() => ErrorKind::Timeout,
            Self::Redis(e)
                if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() =>
            {
                ErrorKind::Unavailable
            }
            Self::Redis(_) | Self::Io(_) => ErrorKind::Internal,
            Self::Timeout => ErrorKind::Timeout,
            Self::Http { .. } => ErrorKind::Upstream,
        }
    }

    /// Whether the same call may succeed if tried again later: true for what is missing or slow
    /// now, false for the caller's mistakes, our faults and a request that reached its peer.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra, msg: hydra_core::Umf) -> Result<(), hydra_core::HydraError> {
    /// use std::time::Duration;
    /// let mut tries = 0;
    /// loop {
    ///     match hydra.send(&msg).await {
    ///         Err(e) if e.retryable() && tries < 3 => {
    ///             tries += 1;
    ///             tokio::time::sleep(Duration::from_millis(200)).await;
    ///         }
    ///         other => return other,
    ///     }
    /// }
    /// # }
    /// ```
    pub fn retryable(&self) -> bool {
        matches!(self.kind(), ErrorKind::Unavailable | ErrorKind::Timeout)
    }

    /// The status Node's `makeAPIRequest` puts in the envelope it resolves with for such a
    /// failure (400, 502, 503, 504; 500 for the rest).
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_core::HydraError;
    /// let e = HydraError::Unavailable("Unavailable hello-service instances".into());
    /// assert_eq!(e.node_status(), 503);
    /// ```
    pub fn node_status(&self) -> u16 {
        match self.kind() {
            ErrorKind::Caller => 400,
            ErrorKind::Upstream => 502,
            ErrorKind::Unavailable => 503,
            ErrorKind::Timeout => 504,
            ErrorKind::Internal => 500,
        }
    }

    /// The Node-shaped envelope `{statusCode, statusMessage, statusDescription, result:{reason}}`
    /// that Node's `makeAPIRequest` resolves with when the call fails (see [`Self::node_status`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_core::HydraError;
    /// let body = HydraError::Timeout.to_envelope();
    /// assert_eq!(body["statusCode"], 504);
    /// assert_eq!(body["result"]["reason"], "timed out");
    /// ```
    pub fn to_envelope(&self) -> serde_json::Value {
        response::envelope(
            self.node_status(),
            serde_json::json!({ "result": { "reason": self.to_string() } }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_say_who_caused_it_and_whether_to_retry() {
        let cases: Vec<(HydraError, ErrorKind, bool)> = vec![
            (HydraError::BadRequest("x".into()), ErrorKind::Caller, false),
            (HydraError::NotRegistered, ErrorKind::Caller, false),
            (
                HydraError::Unavailable("x".into()),
                ErrorKind::Unavailable,
                true,
            ),
            (HydraError::Timeout, ErrorKind::Timeout, true),
            (
                HydraError::Http {
                    service: "s".into(),
                    reason: "reset".into(),
                },
                ErrorKind::Upstream,
                false,
            ),
            (
                HydraError::Redis(redis::RedisError::from(std::io::Error::from(
                    std::io::ErrorKind::ConnectionReset,
                ))),
                ErrorKind::Unavailable,
                true,
            ),
            (
                HydraError::Redis(redis::RedisError::from((
                    redis::ErrorKind::Parse,
                    "bad reply",
                ))),
                ErrorKind::Internal,
                false,
            ),
            (
                HydraError::Io(std::io::Error::other("x")),
                ErrorKind::Internal,
                false,
            ),
        ];
        for (e, kind, retry) in cases {
            assert_eq!(e.kind(), kind, "{e}");
            assert_eq!(e.retryable(), retry, "{e}");
        }
        assert_eq!(HydraError::Timeout.node_status(), 504);
        assert_eq!(HydraError::Unavailable("x".into()).node_status(), 503);
    }
}
