//! Discovery: services, instances, presence, routes and health, read as Node reads them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use rand::seq::SliceRandom;
use redis::AsyncCommands;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::connection::Redis;
use crate::error::HydraError;
use crate::keys;
use crate::records::{HealthEntry, HealthLogEntry, NodeEntry, ServiceEntry};

/// Reads the Hydra world from Redis, and keeps the presence lists it read for 3 s.
pub(crate) struct Discovery {
    redis: Redis,
    cache: PresenceCache,
}

/// Presence lists by service, each kept for [`keys::PRESENCE_CACHE_TTL`] after it was read (on
/// tokio's clock, so tests can stop and advance it).
#[derive(Default)]
struct PresenceCache {
    lists: Mutex<HashMap<String, ReadAt>>,
}

/// A presence list and when it was read.
type ReadAt = (tokio::time::Instant, Arc<Vec<NodeEntry>>);

impl PresenceCache {
    /// The list read for `service` less than the TTL ago.
    fn get(&self, service: &str) -> Option<Arc<Vec<NodeEntry>>> {
        let lists = self.lists.lock().expect("presence cache lock");
        let (at, nodes) = lists.get(service)?;
        (at.elapsed() < keys::PRESENCE_CACHE_TTL).then(|| nodes.clone())
    }

    /// Keeps `nodes` as read now; an empty list is not kept (the next lookup asks Redis).
    fn put(&self, service: &str, nodes: Arc<Vec<NodeEntry>>) {
        let mut lists = self.lists.lock().expect("presence cache lock");
        if nodes.is_empty() {
            lists.remove(service);
        } else {
            lists.insert(service.to_string(), (tokio::time::Instant::now(), nodes));
        }
    }
}

/// Parses a stored JSON record, logging and skipping what does not parse.
fn parse_record<T: DeserializeOwned>(key: &str, text: &str) -> Option<T> {
    match serde_json::from_str(text) {
        Ok(v) => Some(v),
        Err(error) => {
            tracing::warn!(%key, %error, "skipping a record that is not valid JSON");
            None
        }
    }
}

impl Discovery {
    pub(crate) fn new(redis: Redis) -> Self {
        Self {
            redis,
            cache: PresenceCache::default(),
        }
    }

    /// All keys matching `pattern`, by `SCAN` (never `KEYS`).
    pub(crate) async fn scan_keys(&self, pattern: &str) -> Result<Vec<String>, HydraError> {
        let mut conn = self.redis.conn();
        let mut cursor: u64 = 0;
        let mut seen = HashSet::new();
        let mut keys = Vec::new();
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(keys::SCAN_COUNT)
                .query_async(&mut conn)
                .await?;
            for k in batch {
                if seen.insert(k.clone()) {
                    keys.push(k);
                }
            }
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    }

    /// The present instances of `service`, from the 3 s cache unless `fresh`.
    pub(crate) async fn presence(
        &self,
        service: &str,
        fresh: bool,
    ) -> Result<Arc<Vec<NodeEntry>>, HydraError> {
        if !fresh {
            if let Some(nodes) = self.cache.get(service) {
                return Ok(nodes);
            }
        }
        let nodes = self.nodes_of(service).await?;
        self.read_presence(service, nodes).await
    }

    /// The present ones among `nodes` (the instances of `service`), kept in the cache.
    async fn read_presence(
        &self,
        service: &str,
        nodes: Vec<NodeEntry>,
    ) -> Result<Arc<Vec<NodeEntry>>, HydraError> {
        let nodes = Arc::new(self.present_in(nodes).await?);
        self.cache.put(service, nodes.clone());
        Ok(nodes)
    }

    /// Every entry of the nodes hash (one `HGETALL`): parsed, or instance id → why not.
    ///
    /// The nodes hash is how instances are found without walking the keyspace: every instance,
    /// Node's and ours, rewrites its entry with each presence beat (every second), so an entry
    /// is at most a second behind its presence key.
    async fn all_nodes(&self) -> Result<(Vec<NodeEntry>, BTreeMap<String, String>), HydraError> {
        let all: Vec<(String, String)> = self.redis.conn().hgetall(keys::NODES).await?;
        let mut nodes = Vec::with_capacity(all.len());
        let mut unreadable = BTreeMap::new();
        for (id, text) in all {
            match serde_json::from_str::<NodeEntry>(&text) {
                Ok(node) => nodes.push(node),
                Err(e) => {
                    unreadable.insert(id, format!("not valid JSON: {e}"));
                }
            }
        }
        Ok((nodes, unreadable))
    }

    /// The nodes entries of `service`'s instances, live or not.
    async fn nodes_of(&self, service: &str) -> Result<Vec<NodeEntry>, HydraError> {
        let (nodes, _) = self.all_nodes().await?;
        Ok(nodes
            .into_iter()
            .filter(|n| n.service_name == service)
            .collect())
    }

    /// One key per instance of `service` in the nodes hash (`key(service, id)`).
    async fn instance_keys(
        &self,
        service: &str,
        key: fn(&str, &str) -> String,
    ) -> Result<Vec<String>, HydraError> {
        Ok(keys_of(service, &self.nodes_of(service).await?, key))
    }

    /// The present instances of `service`: its nodes entries whose presence key exists.
    async fn present_of(&self, service: &str) -> Result<Vec<NodeEntry>, HydraError> {
        self.present_in(self.nodes_of(service).await?).await
    }

    /// The entries among `nodes` whose presence key exists.
    async fn present_in(&self, nodes: Vec<NodeEntry>) -> Result<Vec<NodeEntry>, HydraError> {
        let present = self.present_among(&nodes).await?;
        Ok(nodes
            .into_iter()
            .filter(|n| present.contains(&n.instance_id))
            .collect())
    }

    /// Every present instance of every service: the nodes hash, and one `MGET` of the presence
    /// keys it names. Its cost follows the number of instances, not of keys.
    pub(crate) async fn scan_presence(&self) -> Result<PresenceScan, HydraError> {
        let (nodes, unreadable) = self.all_nodes().await?;
        let present = self.present_among(&nodes).await?;
        let mut out = PresenceScan {
            unreadable,
            ..PresenceScan::default()
        };
        for node in nodes {
            if present.contains(&node.instance_id) {
                out.instances
                    .entry(node.service_name.clone())
                    .or_default()
                    .push(node);
            }
        }
        Ok(out)
    }

    /// The names of the services that have (or had) instances: those in the nodes hash.
    pub(crate) async fn known_services(&self) -> Result<BTreeSet<String>, HydraError> {
        let (nodes, _) = self.all_nodes().await?;
        Ok(nodes.into_iter().map(|n| n.service_name).collect())
    }

    /// The ids among `nodes` that have a presence key right now (not cached): one `MGET` of
    /// their presence keys.
    pub(crate) async fn present_among(
        &self,
        nodes: &[NodeEntry],
    ) -> Result<HashSet<String>, HydraError> {
        if nodes.is_empty() {
            return Ok(HashSet::new());
        }
        let keys: Vec<String> = nodes
            .iter()
            .map(|n| keys::presence(&n.service_name, &n.instance_id))
            .collect();
        let found: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut self.redis.conn())
            .await?;
        Ok(nodes
            .iter()
            .zip(found)
            .filter(|(_, present)| present.is_some())
            .map(|(n, _)| n.instance_id.clone())
            .collect())
    }

    async fn get_json_values<T: DeserializeOwned>(
        &self,
        keys: &[String],
    ) -> Result<Vec<T>, HydraError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for k in keys {
            pipe.get(k);
        }
        let values: Vec<Option<String>> = pipe.query_async(&mut self.redis.conn()).await?;
        Ok(keys
            .iter()
            .zip(values)
            .filter_map(|(k, v)| v.and_then(|t| parse_record(k, &t)))
            .collect())
    }
}

fn millis_since(iso: &str) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(iso, &time::format_description::well_known::Rfc3339).ok()?;
    Some(((time::OffsetDateTime::now_utc() - t).whole_milliseconds()) as i64)
}

impl Discovery {
    pub(crate) async fn get_services(&self) -> Result<Vec<ServiceEntry>, HydraError> {
        let keys = self.scan_keys(keys::SERVICES_PATTERN).await?;
        self.get_json_values(&keys).await
    }

    pub(crate) async fn find_service(&self, name: &str) -> Result<ServiceEntry, HydraError> {
        let text: Option<String> = self.redis.conn().get(keys::service(name)).await?;
        text.as_deref()
            .and_then(|t| parse_record(&keys::service(name), t))
            .ok_or_else(|| HydraError::BadRequest(format!("Can't find {name} service")))
    }

    pub(crate) async fn get_service_nodes(&self) -> Result<Vec<NodeEntry>, HydraError> {
        let all: BTreeMap<String, String> = self.redis.conn().hgetall(keys::NODES).await?;
        Ok(all
            .values()
            .filter_map(|text| parse_record::<NodeEntry>(keys::NODES, text))
            .map(|mut n| {
                n.elapsed = millis_since(&n.updated_on).map(|ms| ms / 1000);
                n
            })
            .collect())
    }

    pub(crate) async fn get_service_presence(
        &self,
        service: &str,
    ) -> Result<Vec<NodeEntry>, HydraError> {
        Ok(shuffled(&self.presence(service, false).await?))
    }

    pub(crate) async fn has_service_presence(&self, service: &str) -> Result<bool, HydraError> {
        Ok(!self.present_of(service).await?.is_empty())
    }

    pub(crate) async fn get_all_service_routes(
        &self,
    ) -> Result<BTreeMap<String, Vec<String>>, HydraError> {
        Ok(self.scan_service_routes().await?.routes)
    }

    /// The routes of every service in the nodes hash (see [`Self::routes_of`]).
    pub(crate) async fn scan_service_routes(&self) -> Result<RouteScan, HydraError> {
        let services: Vec<String> = self.known_services().await?.into_iter().collect();
        self.routes_of(&services).await
    }

    /// The routes of `services`, in one pipelined batch of `SMEMBERS`. A route key that cannot
    /// be read (another type: any Redis writer can leave one) spoils only its own service; a
    /// service without routes is left out.
    pub(crate) async fn routes_of<S: AsRef<str>>(
        &self,
        services: &[S],
    ) -> Result<RouteScan, HydraError> {
        let mut out = RouteScan::default();
        if services.is_empty() {
            return Ok(out);
        }
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for svc in services {
            pipe.smembers(keys::routes(svc.as_ref()));
        }
        let replies: Vec<redis::RedisResult<Vec<String>>> =
            pipe.query_async(&mut self.redis.conn()).await?;
        for (svc, reply) in services.iter().zip(replies) {
            let svc = svc.as_ref();
            match reply {
                Ok(routes) if routes.is_empty() => {}
                Ok(mut routes) => {
                    routes.sort();
                    out.routes.insert(svc.to_string(), routes);
                }
                Err(e) if concerns_connection(&e) => return Err(e.into()),
                Err(e) => {
                    out.unreadable.insert(keys::routes(svc), e.to_string());
                }
            }
        }
        Ok(out)
    }

    pub(crate) async fn clear_stale_nodes(
        &self,
        older_than: std::time::Duration,
    ) -> Result<Vec<NodeEntry>, HydraError> {
        let mut conn = self.redis.conn();
        let all: BTreeMap<String, String> = conn.hgetall(keys::NODES).await?;
        let limit = older_than.as_millis() as i64;
        let old: Vec<NodeEntry> = all
            .values()
            .filter_map(|text| serde_json::from_str::<NodeEntry>(text).ok())
            .filter(|n| millis_since(&n.updated_on).is_none_or(|ms| ms > limit))
            .collect();
        if old.is_empty() {
            return Ok(Vec::new());
        }
        let present = self.present_among(&old).await?;
        let mut removed = Vec::new();
        for node in old {
            if present.contains(&node.instance_id) {
                continue;
            }
            let n: u64 = conn.hdel(keys::NODES, &node.instance_id).await?;
            if n > 0 {
                removed.push(node);
            }
        }
        Ok(removed)
    }

    pub(crate) async fn get_service_routes(
        &self,
        service: &str,
    ) -> Result<Vec<String>, HydraError> {
        let mut routes: Vec<String> = self.redis.conn().smembers(keys::routes(service)).await?;
        routes.sort();
        Ok(routes)
    }

    pub(crate) async fn get_service_health(
        &self,
        service: &str,
    ) -> Result<Vec<HealthEntry>, HydraError> {
        let keys = self.instance_keys(service, keys::health).await?;
        self.get_json_values(&keys).await
    }

    pub(crate) async fn get_service_health_log(
        &self,
        service: &str,
    ) -> Result<Vec<HealthLogEntry>, HydraError> {
        let found = self.instance_keys(service, keys::health_log).await?;
        self.health_log_at(&found).await
    }

    /// The entries of the health logs at `found`, newest first.
    async fn health_log_at(&self, found: &[String]) -> Result<Vec<HealthLogEntry>, HydraError> {
        let mut entries = Vec::new();
        if found.is_empty() {
            return Ok(entries);
        }
        let mut pipe = redis::pipe();
        for key in found {
            pipe.lrange(key, 0, keys::HEALTH_LOG_MAX - 1);
        }
        let lists: Vec<Vec<String>> = pipe.query_async(&mut self.redis.conn()).await?;
        for (key, texts) in found.iter().zip(lists) {
            entries.extend(
                texts
                    .iter()
                    .filter_map(|t| parse_record::<HealthLogEntry>(key, t)),
            );
        }
        entries.sort_by(|a, b| b.ts.cmp(&a.ts));
        Ok(entries)
    }

    /// Every registered service (by name) with its health, health log and presence.
    pub(crate) async fn get_service_health_all(&self) -> Result<Vec<ServiceHealth>, HydraError> {
        let names: BTreeSet<String> = self
            .get_services()
            .await?
            .into_iter()
            .map(|s| s.service_name)
            .collect();
        // One read of the nodes hash for every service, not one per service and question.
        let mut by_service: HashMap<String, Vec<NodeEntry>> = HashMap::new();
        for node in self.all_nodes().await?.0 {
            by_service
                .entry(node.service_name.clone())
                .or_default()
                .push(node);
        }
        let mut out = Vec::with_capacity(names.len());
        for service_name in names {
            let nodes = by_service.remove(&service_name).unwrap_or_default();
            let health_keys = keys_of(&service_name, &nodes, keys::health);
            let log_keys = keys_of(&service_name, &nodes, keys::health_log);
            let (health, log, presence) = tokio::try_join!(
                self.get_json_values(&health_keys),
                self.health_log_at(&log_keys),
                self.presence_within(&service_name, nodes),
            )?;
            out.push(ServiceHealth {
                service_name,
                health,
                log,
                presence,
            });
        }
        Ok(out)
    }

    /// What [`Self::get_service_presence`] gives, with `nodes` as the service's nodes entries
    /// when the cache has no list for it.
    async fn presence_within(
        &self,
        service: &str,
        nodes: Vec<NodeEntry>,
    ) -> Result<Vec<NodeEntry>, HydraError> {
        let listed = match self.cache.get(service) {
            Some(listed) => listed,
            None => self.read_presence(service, nodes).await?,
        };
        Ok(shuffled(&listed))
    }
}

/// A copy of `nodes` in random order, as Node gives presence lists.
fn shuffled(nodes: &[NodeEntry]) -> Vec<NodeEntry> {
    let mut nodes = nodes.to_vec();
    nodes.shuffle(&mut rand::thread_rng());
    nodes
}

/// One key per entry of `nodes`, the instances of `service` (`key(service, id)`).
fn keys_of(service: &str, nodes: &[NodeEntry], key: fn(&str, &str) -> String) -> Vec<String> {
    nodes.iter().map(|n| key(service, &n.instance_id)).collect()
}

/// One service as [`Hydra::get_service_health_all`](crate::Hydra::get_service_health_all) finds
/// it. Serialised, it has Node's fields (`health`, `log`, `presence`) and `serviceName`.
///
/// See the example on [`Hydra::get_service_health_all`](crate::Hydra::get_service_health_all).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceHealth {
    /// The service's name (its record's `serviceName`).
    pub service_name: String,
    /// The health records of its instances whose health key is current.
    pub health: Vec<HealthEntry>,
    /// The health log entries of all its instances, newest first.
    pub log: Vec<HealthLogEntry>,
    /// Its present instances (cached for 3 s, as
    /// [`Hydra::get_service_presence`](crate::Hydra::get_service_presence)).
    pub presence: Vec<NodeEntry>,
}

/// What [`Hydra::scan_presence`](crate::Hydra::scan_presence) found.
///
/// See the example on [`Hydra::scan_presence`](crate::Hydra::scan_presence).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PresenceScan {
    /// The present instances, by service.
    pub instances: BTreeMap<String, Vec<NodeEntry>>,
    /// Present instances whose nodes entry could not be read: instance id → reason.
    pub unreadable: BTreeMap<String, String>,
}

/// What [`Hydra::scan_service_routes`](crate::Hydra::scan_service_routes) found.
///
/// See the examples on [`Hydra::scan_service_routes`](crate::Hydra::scan_service_routes) and
/// [`Hydra::routes_of`](crate::Hydra::routes_of).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteScan {
    /// The routes of each service whose route key could be read.
    pub routes: BTreeMap<String, Vec<String>>,
    /// The route keys that could not be read, with the reason.
    pub unreadable: BTreeMap<String, String>,
}

/// Whether a Redis error is about the connection (Redis away, a timeout) rather than one key's
/// content.
fn concerns_connection(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str) -> NodeEntry {
        serde_json::from_value(serde_json::json!({
            "serviceName": "svc", "instanceID": id, "updatedOn": "2026-01-01T00:00:00.000Z",
            "processID": 1, "ip": "127.0.0.1", "port": 5000, "hostName": "h"
        }))
        .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_presence_list_is_kept_for_three_seconds() {
        let cache = PresenceCache::default();
        assert!(cache.get("svc").is_none());
        cache.put("svc", Arc::new(vec![node("a")]));
        tokio::time::advance(keys::PRESENCE_CACHE_TTL - std::time::Duration::from_millis(1)).await;
        assert_eq!(cache.get("svc").unwrap()[0].instance_id, "a");
        tokio::time::advance(std::time::Duration::from_millis(1)).await;
        assert!(cache.get("svc").is_none(), "kept past its TTL");
        // An empty list is not kept: the next lookup asks Redis again.
        cache.put("svc", Arc::new(vec![node("a")]));
        cache.put("svc", Arc::new(Vec::new()));
        assert!(cache.get("svc").is_none());
        assert!(cache.get("other").is_none());
    }
}
