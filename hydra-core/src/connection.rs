//! The Redis connection: connect with retries at start, reconnect by itself later.

use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSub};
use redis::Client;

use crate::error::HydraError;

/// How long one connection attempt may take.
const CONNECT_ATTEMPT: Duration = Duration::from_secs(2);
/// The longest pause between two connection attempts at start.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);
/// How long one command may wait for its answer before it fails (Redis gone, not just slow).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);

/// A Redis client and its shared, self-reconnecting command connection.
///
/// Commands and publishes share one multiplexed connection; each subscriber opens its own.
#[derive(Clone)]
pub struct Redis {
    client: Client,
    conn: ConnectionManager,
    display: String,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis").field("url", &self.display).finish()
    }
}

/// The URL with its password replaced, for logs and errors.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    match (rest.find('@'), rest.find('/')) {
        (Some(at), slash) if slash.is_none_or(|s| at < s) => {
            let auth = &rest[..at];
            let user = auth.split(':').next().unwrap_or_default();
            let masked = if auth.contains(':') {
                format!("{user}:***")
            } else {
                user.to_string()
            };
            format!("{}{masked}{}", &url[..scheme_end], &rest[at..])
        }
        _ => url.to_string(),
    }
}

fn install_tls_provider() {
    // rustls needs one process-wide crypto provider; a second install is a harmless no-op error.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Redis {
    /// Connects to `url`, retrying with backoff (up to 5 s between attempts) for up to `budget`,
    /// or until it answers when `budget` is `None`. Each failed attempt is logged with its error
    /// and how long we have waited, so an instance started before its Redis says what it waits for.
    ///
    /// # Errors
    /// [`HydraError::RedisUrl`] for a URL that does not parse, [`HydraError::RedisUnreachable`]
    /// when no connection could be made within `budget`.
    pub async fn connect(url: &str, budget: Option<Duration>) -> Result<Self, HydraError> {
        install_tls_provider();
        let shown = redact(url);
        let client = Client::open(url).map_err(|e| HydraError::RedisUrl {
            url: shown.clone(),
            reason: e.to_string(),
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_ATTEMPT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1))
            .set_number_of_retries(2);
        let started = Instant::now();
        let mut delay = Duration::from_millis(100);
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let attempt = tokio::time::timeout(
                CONNECT_ATTEMPT * 2,
                ConnectionManager::new_with_config(client.clone(), config.clone()),
            )
            .await;
            let error = match attempt {
                Ok(Ok(conn)) => {
                    if attempts > 1 {
                        tracing::info!(url = %shown, waited = ?started.elapsed(), "Redis reachable");
                    }
                    return Ok(Self {
                        client,
                        conn,
                        display: shown,
                    });
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => "connection attempt timed out".to_string(),
            };
            if budget.is_some_and(|b| started.elapsed() + delay > b) {
                return Err(HydraError::RedisUnreachable {
                    url: shown,
                    waited: started.elapsed(),
                    reason: error,
                });
            }
            let waited = started.elapsed().as_secs();
            match budget {
                None => tracing::warn!(
                    url = %shown, %error, attempt = attempts, waited_s = waited,
                    "waiting for Redis (no limit; set hydra.redis.connectTimeoutSeconds to give up)"
                ),
                Some(b) => tracing::warn!(
                    url = %shown, %error, attempt = attempts, waited_s = waited,
                    limit_s = b.as_secs(), "waiting for Redis"
                ),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(MAX_RETRY_DELAY);
        }
    }

    /// The shared command connection (cheap to clone).
    pub fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// A new connection for subscribing.
    ///
    /// # Errors
    /// The Redis error when the connection cannot be made.
    pub async fn pubsub(&self) -> Result<PubSub, HydraError> {
        match tokio::time::timeout(CONNECT_ATTEMPT, self.client.get_async_pubsub()).await {
            Ok(r) => r.map_err(HydraError::from),
            Err(_) => Err(HydraError::Timeout),
        }
    }

    /// The URL, password masked.
    pub fn display_url(&self) -> &str {
        &self.display
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(redact("redis://u:secret@h:1/2"), "redis://u:***@h:1/2");
        assert_eq!(redact("redis://:secret@h/2"), "redis://:***@h/2");
        assert_eq!(redact("redis://h:1/2"), "redis://h:1/2");
        assert_eq!(redact("rediss://user@h"), "rediss://user@h");
    }
}
