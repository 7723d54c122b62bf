//! Every Redis key, channel name and TTL of the Hydra protocol.
//!
//! This is the only module that spells out `hydra:service:…`; everything else asks it.

use std::time::Duration;

/// Prefix of every key Hydra writes.
pub const PREFIX: &str = "hydra:service";
/// Prefix of the pub/sub channels ("message courier").
pub const CHANNEL_PREFIX: &str = "hydra:service:mc";
/// The hash of instance records, field = instance id.
pub const NODES: &str = "hydra:service:nodes";

/// How often presence (and the nodes entry) is refreshed.
pub const PRESENCE_INTERVAL: Duration = Duration::from_secs(1);
/// How often the health key is refreshed.
pub const HEALTH_INTERVAL: Duration = Duration::from_secs(5);
/// TTL of presence keys, in seconds; also the TTL Node gives its health keys, and the one ours
/// get when the instance leaves.
pub const KEY_TTL_SECS: u64 = 3;
/// TTL of the health key while the instance runs, in seconds: two write intervals, so the key is
/// never missing between writes (Node's 3 s leaves it absent 2 s of every 5).
pub const HEALTH_TTL_SECS: u64 = 10;
/// TTL of the health log, in seconds (one week).
pub const HEALTH_LOG_TTL_SECS: i64 = 604_800;
/// Entries kept in a health log.
pub const HEALTH_LOG_MAX: isize = 64;
/// How long a presence lookup is cached in process.
pub const PRESENCE_CACHE_TTL: Duration = Duration::from_secs(3);
/// `COUNT` hint for `SCAN`.
pub const SCAN_COUNT: usize = 100;
/// The router's service name; broadcasts to it are never an error.
pub const ROUTER_SERVICE: &str = "hydra-router";

/// `hydra:service:{svc}:service`: the service record.
///
/// # Examples
///
/// ```
/// assert_eq!(hydra_protocol::keys::service("hello-service"), "hydra:service:hello-service:service");
/// ```
pub fn service(svc: &str) -> String {
    format!("{PREFIX}:{svc}:service")
}

/// `hydra:service:{svc}:service:routes`: the set of registered routes.
///
/// # Examples
///
/// ```
/// assert_eq!(hydra_protocol::keys::routes("hello"), "hydra:service:hello:service:routes");
/// ```
pub fn routes(svc: &str) -> String {
    format!("{PREFIX}:{svc}:service:routes")
}

/// `hydra:service:{svc}:{id}:presence`.
///
/// # Examples
///
/// ```
/// assert_eq!(hydra_protocol::keys::presence("hello", "a1b2"), "hydra:service:hello:a1b2:presence");
/// ```
pub fn presence(svc: &str, id: &str) -> String {
    format!("{PREFIX}:{svc}:{id}:presence")
}

/// `hydra:service:{svc}:{id}:health`.
///
/// # Examples
///
/// ```
/// assert_eq!(hydra_protocol::keys::health("hello", "a1b2"), "hydra:service:hello:a1b2:health");
/// ```
pub fn health(svc: &str, id: &str) -> String {
    format!("{PREFIX}:{svc}:{id}:health")
}

/// `hydra:service:{svc}:{id}:health:log`.
///
/// # Examples
///
/// ```
/// assert_eq!(hydra_protocol::keys::health_log("hello", "a1b2"), "hydra:service:hello:a1b2:health:log");
/// ```
pub fn health_log(svc: &str, id: &str) -> String {
    format!("{PREFIX}:{svc}:{id}:health:log")
}

/// `hydra:service:{svc}:configs`: stored configs, field = version.
///
/// # Examples
///
/// ```
/// assert_eq!(hydra_protocol::keys::configs("hello"), "hydra:service:hello:configs");
/// ```
pub fn configs(svc: &str) -> String {
    format!("{PREFIX}:{svc}:configs")
}

/// The three queue lists of a service.
pub mod queue {
    use super::PREFIX;

    /// `…:mqrecieved` (sic): queued, not yet taken.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(hydra_protocol::keys::queue::received("mailer"), "hydra:service:mailer:mqrecieved");
    /// ```
    pub fn received(svc: &str) -> String {
        format!("{PREFIX}:{svc}:mqrecieved")
    }
    /// `…:mqinprogress`: taken, not yet marked.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(hydra_protocol::keys::queue::in_progress("mailer"), "hydra:service:mailer:mqinprogress");
    /// ```
    pub fn in_progress(svc: &str) -> String {
        format!("{PREFIX}:{svc}:mqinprogress")
    }
    /// `…:mqincomplete`: marked as not completed.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(hydra_protocol::keys::queue::incomplete("mailer"), "hydra:service:mailer:mqincomplete");
    /// ```
    pub fn incomplete(svc: &str) -> String {
        format!("{PREFIX}:{svc}:mqincomplete")
    }
}

/// Channel every instance of `svc` subscribes to (broadcast).
///
/// # Examples
///
/// ```
/// assert_eq!(hydra_protocol::keys::broadcast_channel("hello"), "hydra:service:mc:hello");
/// ```
pub fn broadcast_channel(svc: &str) -> String {
    format!("{CHANNEL_PREFIX}:{svc}")
}

/// Channel of one instance (direct messages and replies).
///
/// # Examples
///
/// ```
/// assert_eq!(hydra_protocol::keys::instance_channel("hello", "a1b2"), "hydra:service:mc:hello:a1b2");
/// ```
pub fn instance_channel(svc: &str, id: &str) -> String {
    format!("{CHANNEL_PREFIX}:{svc}:{id}")
}

/// `hydra:stream:{name}`: a stream the router appends to.
///
/// # Examples
///
/// ```
/// assert_eq!(hydra_protocol::keys::stream("events"), "hydra:stream:events");
/// ```
pub fn stream(name: &str) -> String {
    format!("hydra:stream:{name}")
}

/// `hydra-router:message:queue:{client}:queued`.
///
/// # Examples
///
/// ```
/// assert_eq!(hydra_protocol::keys::router_ws_queued("c1"), "hydra-router:message:queue:c1:queued");
/// ```
pub fn router_ws_queued(client: &str) -> String {
    format!("hydra-router:message:queue:{client}:queued")
}

/// `hydra-router:message:queue:{client}:processing`.
///
/// # Examples
///
/// ```
/// assert_eq!(hydra_protocol::keys::router_ws_processing("c1"), "hydra-router:message:queue:c1:processing");
/// ```
pub fn router_ws_processing(client: &str) -> String {
    format!("hydra-router:message:queue:{client}:processing")
}

/// Escapes the glob characters of a Redis `MATCH` pattern, so a service name is matched literally.
///
/// # Examples
///
/// ```
/// assert_eq!(hydra_protocol::keys::glob_escape("svc[1]*"), r"svc\[1\]\*");
/// ```
pub fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `SCAN` pattern of the presence keys of `svc` (as Node: `*:{svc}:*:presence`).
///
/// # Examples
///
/// ```
/// assert_eq!(hydra_protocol::keys::presence_pattern("hello"), "*:hello:*:presence");
/// ```
pub fn presence_pattern(svc: &str) -> String {
    format!("*:{}:*:presence", glob_escape(svc))
}

/// `SCAN` pattern of the health keys of `svc`.
///
/// # Examples
///
/// ```
/// assert_eq!(hydra_protocol::keys::health_pattern("hello"), "*:hello:*:health");
/// ```
pub fn health_pattern(svc: &str) -> String {
    format!("*:{}:*:health", glob_escape(svc))
}

/// `SCAN` pattern of the health logs of `svc`.
///
/// # Examples
///
/// ```
/// assert_eq!(hydra_protocol::keys::health_log_pattern("hello"), "*:hello:*:health:log");
/// ```
pub fn health_log_pattern(svc: &str) -> String {
    format!("*:{}:*:health:log", glob_escape(svc))
}

/// `SCAN` pattern of every presence key of every service.
pub const ALL_PRESENCE_PATTERN: &str = "*:presence";

/// The service name of a presence key (its 3rd `:` segment).
///
/// # Examples
///
/// ```
/// use hydra_protocol::keys;
/// let key = keys::presence("hello", "a1b2");
/// assert_eq!(keys::service_of_presence_key(&key), Some("hello"));
/// ```
pub fn service_of_presence_key(key: &str) -> Option<&str> {
    key.split(':').nth(2)
}

/// `SCAN` pattern of every service record.
pub const SERVICES_PATTERN: &str = "*:service";
/// `SCAN` pattern of every routes set.
pub const ROUTES_PATTERN: &str = "*:routes";

/// The instance id of a presence key (its 4th `:` segment), as Node reads it.
///
/// # Examples
///
/// ```
/// use hydra_protocol::keys;
/// let key = keys::presence("hello", "a1b2");
/// assert_eq!(keys::instance_of_presence_key(&key), Some("a1b2"));
/// ```
pub fn instance_of_presence_key(key: &str) -> Option<&str> {
    key.split(':').nth(3)
}

/// The service name of a routes key (its 3rd `:` segment), as Node reads it.
///
/// # Examples
///
/// ```
/// use hydra_protocol::keys;
/// assert_eq!(keys::service_of_routes_key(&keys::routes("hello")), Some("hello"));
/// ```
pub fn service_of_routes_key(key: &str) -> Option<&str> {
    key.split(':').nth(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_node() {
        assert_eq!(
            service("hello-service"),
            "hydra:service:hello-service:service"
        );
        assert_eq!(routes("a"), "hydra:service:a:service:routes");
        assert_eq!(presence("a", "id1"), "hydra:service:a:id1:presence");
        assert_eq!(health_log("a", "id1"), "hydra:service:a:id1:health:log");
        assert_eq!(queue::received("a"), "hydra:service:a:mqrecieved");
        assert_eq!(instance_channel("a", "id1"), "hydra:service:mc:a:id1");
        assert_eq!(
            broadcast_channel("hydra-router"),
            "hydra:service:mc:hydra-router"
        );
    }

    #[test]
    fn key_segments() {
        assert_eq!(
            instance_of_presence_key(&presence("svc", "abc")),
            Some("abc")
        );
        assert_eq!(service_of_routes_key(&routes("svc")), Some("svc"));
    }

    #[test]
    fn glob_is_escaped() {
        assert_eq!(presence_pattern("a*b"), "*:a\\*b:*:presence");
        assert_eq!(presence_pattern("plain"), "*:plain:*:presence");
    }
}
