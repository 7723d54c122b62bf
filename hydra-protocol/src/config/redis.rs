//! `hydra.redis`: where the Redis is: one server by URL or parts, or a master found through
//! Redis Sentinel (`redis+sentinel://` URLs, or `sentinels` and `masterName`).

use serde::{Deserialize, Serialize};

use super::credentials::credentials_end;
use super::lenient;

/// The Redis URL used when the config names none.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379/15";

/// `hydra.redis`: a URL, or host/port/db with optional credentials.
///
/// See the examples on [`RedisConfig::url`] and [`RedisConfig::connect_timeout`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RedisConfig {
    /// `redis://[user:pass@]host:port/db` or `rediss://…`; or
    /// `redis+sentinel://[user:pass@]host:port[,host:port…]/masterName[/db]` (`rediss+sentinel://`
    /// for TLS) for the master that those Sentinels name; `?sentinelPassword=…` (and
    /// `&sentinelUsername=…`) when the Sentinels ask for credentials of their own.
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
    /// ACL user name, as is (encoded for the URL by [`url`](Self::url)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password, as is: any character, as in Node's `redis.password` (encoded for the URL by
    /// [`url`](Self::url)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Sentinels (`host:port`) that name the master, instead of a host or URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentinels: Option<Vec<String>>,
    /// The master's name at the Sentinels (`sentinel monitor <name> …`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_name: Option<String>,
    /// TLS to the Sentinels and the master (with `sentinels`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<bool>,
    /// The ACL user the Sentinels ask for (with `sentinels`; `username` is the master's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentinel_username: Option<String>,
    /// The password the Sentinels ask for (`requirepass` in their config; with `sentinels`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentinel_password: Option<String>,
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
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::config::{HydraConfig, RedisConfig};
    /// let mut config = HydraConfig::named("hello-service");
    /// config.redis = RedisConfig::from_url("redis://10.0.0.5:6379/2");
    /// assert_eq!(config.redis.url(), "redis://10.0.0.5:6379/2");
    /// ```
    pub fn from_url(url: impl Into<String>) -> Self {
        Self {
            url: Some(url.into()),
            ..Self::default()
        }
    }

    /// The connection URL these settings describe.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::config::{RedisConfig, DEFAULT_REDIS_URL};
    /// assert_eq!(RedisConfig::default().url(), DEFAULT_REDIS_URL);
    /// let parts = RedisConfig {
    ///     host: Some("cache".into()),
    ///     password: Some("s3cret".into()),
    ///     db: Some(3),
    ///     ..RedisConfig::default()
    /// };
    /// assert_eq!(parts.url(), "redis://:s3cret@cache:6379/3");
    /// let sentinels = RedisConfig {
    ///     sentinels: Some(vec!["s1:26379".into(), "s2:26379".into()]),
    ///     master_name: Some("main".into()),
    ///     ..RedisConfig::default()
    /// };
    /// assert_eq!(sentinels.url(), "redis+sentinel://s1:26379,s2:26379/main/0");
    /// let guarded = RedisConfig {
    ///     sentinel_password: Some("watch".into()),
    ///     ..sentinels
    /// };
    /// assert_eq!(
    ///     guarded.url(),
    ///     "redis+sentinel://s1:26379,s2:26379/main/0?sentinelPassword=watch"
    /// );
    /// ```
    pub fn url(&self) -> String {
        if let Some(sentinels) = self.sentinels.as_ref().filter(|s| !s.is_empty()) {
            let scheme = if self.tls == Some(true) {
                "rediss+sentinel"
            } else {
                "redis+sentinel"
            };
            let master = self.master_name.as_deref().unwrap_or("mymaster");
            let db = self.db.unwrap_or(0);
            return format!(
                "{scheme}://{}{}/{master}/{db}{}",
                self.auth(),
                sentinels.join(","),
                sentinel_query(
                    encoded(&self.sentinel_username).as_deref(),
                    encoded(&self.sentinel_password).as_deref()
                )
            );
        }
        if let Some(host) = self.host.as_deref().filter(|h| !h.is_empty()) {
            let port = self.port.unwrap_or(6379);
            let db = self.db.unwrap_or(0);
            return format!("redis://{}{host}:{port}/{db}", self.auth());
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

    /// The credentials given apart, percent-encoded for the URL (the connection decodes them),
    /// so any character may be in them, as in Node's `redis.password`.
    fn auth(&self) -> String {
        auth_part(
            encoded(&self.username).as_deref(),
            encoded(&self.password).as_deref(),
        )
    }

    /// The start-up retry budget; `None`: no limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use hydra_protocol::config::RedisConfig;
    /// let redis = RedisConfig { connect_timeout_seconds: Some(30), ..RedisConfig::default() };
    /// assert_eq!(redis.connect_timeout(), Some(Duration::from_secs(30)));
    /// assert_eq!(RedisConfig::default().connect_timeout(), None); // wait as long as it takes
    /// ```
    pub fn connect_timeout(&self) -> Option<std::time::Duration> {
        self.connect_timeout_seconds
            .map(std::time::Duration::from_secs)
    }
}

/// Replaces (or adds) the database path of a Redis URL (of a Sentinel URL: the part after the
/// master's name).
pub(super) fn with_db(url: &str, db: u64) -> String {
    if let Some(Ok(mut target)) = SentinelTarget::parse(url) {
        target.db = db;
        return target.url();
    }
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

/// A master found through Redis Sentinel: what a `redis+sentinel://` URL says.
///
/// # Examples
///
/// ```
/// use hydra_protocol::config::SentinelTarget;
/// let target = SentinelTarget::parse("redis+sentinel://:pw@s1:26379,s2/main/2").unwrap().unwrap();
/// assert_eq!(target.sentinels, [("s1".to_string(), 26379), ("s2".to_string(), 26379)]);
/// assert_eq!(target.master, "main");
/// // Where to connect once a Sentinel named the master, and how to ask a Sentinel.
/// assert_eq!(target.master_url("10.0.0.9", 6379), "redis://:pw@10.0.0.9:6379/2");
/// assert_eq!(target.sentinel_url("s1", 26379), "redis://s1:26379");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelTarget {
    /// TLS to the Sentinels and the master (`rediss+sentinel://`).
    pub tls: bool,
    /// ACL user for the master.
    pub username: Option<String>,
    /// Password for the master.
    pub password: Option<String>,
    /// The Sentinels, `(host, port)`, asked in this order.
    pub sentinels: Vec<(String, u16)>,
    /// The master's name at the Sentinels.
    pub master: String,
    /// The database.
    pub db: u64,
    /// ACL user for the Sentinels (`sentinelUsername=` in the URL's query).
    pub sentinel_username: Option<String>,
    /// Password for the Sentinels (`sentinelPassword=` in the URL's query).
    pub sentinel_password: Option<String>,
}

impl SentinelTarget {
    /// `None` when `url` is not a Sentinel URL; else the target, or why the URL is wrong.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::config::SentinelTarget;
    /// assert!(SentinelTarget::parse("redis://127.0.0.1:6379/0").is_none()); // one server
    /// assert!(SentinelTarget::parse("redis+sentinel://s1:26379").unwrap().is_err()); // no master name
    /// let guarded = SentinelTarget::parse("redis+sentinel://s1/main/2?sentinelPassword=watch")
    ///     .unwrap()
    ///     .unwrap();
    /// assert_eq!(guarded.sentinel_password.as_deref(), Some("watch"));
    /// assert_eq!(guarded.sentinel_url("s1", 26379), "redis://:watch@s1:26379");
    /// assert!(SentinelTarget::parse("redis+sentinel://s1/main?password=x").unwrap().is_err());
    /// ```
    pub fn parse(url: &str) -> Option<Result<Self, String>> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("redis+sentinel://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("rediss+sentinel://") {
            (true, r)
        } else {
            return None;
        };
        Some(Self::parse_rest(tls, rest))
    }

    fn parse_rest(tls: bool, rest: &str) -> Result<Self, String> {
        // The credentials first: a password may hold `@`, and a query value too.
        let (auth, rest) = match credentials_end(rest) {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        if auth.is_some_and(|a| a.contains(['/', '?', '#'])) {
            // Said without the credentials, which are a secret.
            return Err(
                "the credentials (before the host's `@`) hold `/`, `?` or `#`: \
                 percent-encode those (%2F, %3F, %23)"
                    .into(),
            );
        }
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (mut sentinel_username, mut sentinel_password) = (None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sentinelUsername" => sentinel_username = Some(value.to_string()),
                "sentinelPassword" => sentinel_password = Some(value.to_string()),
                _ => {
                    return Err(format!(
                        "`{key}`: unknown parameter (known: sentinelUsername, sentinelPassword)"
                    ))
                }
            }
        }
        let (hosts, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (username, password) = match auth {
            None => (None, None),
            Some(a) => match a.split_once(':') {
                Some((u, p)) => (
                    Some(u.to_string()).filter(|u| !u.is_empty()),
                    Some(p.to_string()),
                ),
                None => (Some(a.to_string()).filter(|u| !u.is_empty()), None),
            },
        };
        let sentinels = hosts
            .split(',')
            .map(sentinel_address)
            .collect::<Result<Vec<_>, String>>()?;
        let mut segments = path.split('/');
        let master = segments.next().unwrap_or_default();
        if master.is_empty() {
            return Err("no master name: redis+sentinel://host:port/masterName[/db]".into());
        }
        let db = match segments.next().filter(|d| !d.is_empty()) {
            Some(d) => d
                .parse()
                .map_err(|_| format!("`{d}`: the database is not a number"))?,
            None => 0,
        };
        if segments.next().is_some() {
            return Err(
                "more after the database: redis+sentinel://host:port/masterName[/db]".into(),
            );
        }
        Ok(Self {
            tls,
            username,
            password,
            sentinels,
            master: master.to_string(),
            db,
            sentinel_username,
            sentinel_password,
        })
    }

    /// The Sentinel URL of this target.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::config::SentinelTarget;
    /// let url = "rediss+sentinel://s1:26379/main/0";
    /// assert_eq!(SentinelTarget::parse(url).unwrap().unwrap().url(), url);
    /// ```
    pub fn url(&self) -> String {
        let scheme = if self.tls {
            "rediss+sentinel"
        } else {
            "redis+sentinel"
        };
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|(h, p)| host_port(h, *p))
            .collect();
        format!(
            "{scheme}://{}{}/{}/{}{}",
            self.auth(),
            hosts.join(","),
            self.master,
            self.db,
            sentinel_query(
                self.sentinel_username.as_deref(),
                self.sentinel_password.as_deref()
            )
        )
    }

    fn auth(&self) -> String {
        auth_part(self.username.as_deref(), self.password.as_deref())
    }

    /// The URL of the master at `host:port`, with this target's credentials, TLS and database.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::config::SentinelTarget;
    /// let target = SentinelTarget::parse("rediss+sentinel://app:pw@s1:26379/main/1").unwrap().unwrap();
    /// assert_eq!(target.master_url("::1", 6380), "rediss://app:pw@[::1]:6380/1");
    /// ```
    pub fn master_url(&self, host: &str, port: u16) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!(
            "{scheme}://{}{}/{}",
            self.auth(),
            host_port(host, port),
            self.db
        )
    }

    /// The URL of one Sentinel, with the Sentinels' credentials (not the master's).
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::config::SentinelTarget;
    /// let target = SentinelTarget::parse("rediss+sentinel://app:pw@s1:26379/main").unwrap().unwrap();
    /// assert_eq!(target.sentinel_url("s1", 26379), "rediss://s1:26379"); // not the master's
    /// ```
    pub fn sentinel_url(&self, host: &str, port: u16) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!(
            "{scheme}://{}{}",
            auth_part(
                self.sentinel_username.as_deref(),
                self.sentinel_password.as_deref()
            ),
            host_port(host, port)
        )
    }
}

/// One Sentinel of a URL: `host`, `host:port`, `[v6]` or `[v6]:port`; the port is Sentinel's own
/// (26379) when not given.
fn sentinel_address(h: &str) -> Result<(String, u16), String> {
    let port = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| format!("`{h}`: the port is not a number"))
    };
    let (host, port) = match h.strip_prefix('[') {
        Some(bracketed) => {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| format!("`{h}`: no `]` after the IPv6 address"))?;
            match after {
                "" => (host, 26379),
                _ => match after.strip_prefix(':') {
                    Some(p) => (host, port(p)?),
                    None => return Err(format!("`{h}`: only `:port` may follow `]`")),
                },
            }
        }
        None => match h.rsplit_once(':') {
            Some((host, _)) if host.contains(':') => {
                return Err(format!(
                    "`{h}`: an IPv6 address goes in brackets (`[::1]`, `[::1]:26379`)"
                ))
            }
            Some((host, p)) => (host, port(p)?),
            None => (h, 26379),
        },
    };
    if host.is_empty() {
        return Err(format!("`{h}`: no host"));
    }
    Ok((host.to_string(), port))
}

/// `text` with every byte but letters, digits and `-._~` as `%XX`: safe anywhere in a URL.
///
/// # Examples
///
/// ```
/// use hydra_protocol::config::percent_encode;
/// assert_eq!(percent_encode("p@ss/w:rd%"), "p%40ss%2Fw%3Ard%25");
/// assert_eq!(percent_encode("plain-Pass_1.~"), "plain-Pass_1.~");
/// ```
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A credential given apart, ready for a URL.
fn encoded(value: &Option<String>) -> Option<String> {
    value.as_deref().map(percent_encode)
}

/// `?sentinelUsername=…&sentinelPassword=…` (the parts given), or nothing.
fn sentinel_query(username: Option<&str>, password: Option<&str>) -> String {
    let parts: Vec<String> = [
        ("sentinelUsername", username),
        ("sentinelPassword", password),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
    .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// `user:pass@` (or the parts given), for a URL.
fn auth_part(username: Option<&str>, password: Option<&str>) -> String {
    match (username, password) {
        (Some(u), Some(p)) => format!("{u}:{p}@"),
        (None, Some(p)) => format!(":{p}@"),
        (Some(u), None) => format!("{u}@"),
        (None, None) => String::new(),
    }
}

/// `host:port`, an IPv6 host in brackets.
///
/// # Examples
///
/// ```
/// use hydra_protocol::config::host_port;
/// assert_eq!(host_port("10.0.0.5", 6379), "10.0.0.5:6379");
/// assert_eq!(host_port("fd00::5", 6379), "[fd00::5]:6379");
/// ```
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
