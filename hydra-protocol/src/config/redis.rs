//! `hydra.redis`: where the Redis is.

use serde::{Deserialize, Serialize};

use super::lenient;

/// The Redis URL used when the config names none.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379/15";

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
        deserialize_with = "lenient::u64_opt"
    )]
    pub port: Option<u64>,
    /// Database number; overrides the URL's.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::u64_opt"
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
        deserialize_with = "lenient::u64_opt"
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
pub(super) fn with_db(url: &str, db: u64) -> String {
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
