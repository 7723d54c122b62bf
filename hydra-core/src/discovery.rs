//! Discovery: services, instances, presence, routes and health, read as Node reads them.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use rand::seq::SliceRandom;
use redis::AsyncCommands;
use serde::de::DeserializeOwned;

use crate::error::HydraError;
use crate::hydra::{Core, Hydra};
use crate::keys;
use crate::records::{HealthEntry, HealthLogEntry, NodeEntry, ServiceEntry};

/// A presence list and when it was read.
pub(crate) struct CachedPresence {
    at: Instant,
    nodes: Arc<Vec<NodeEntry>>,
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

impl Core {
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
            let cache = self.presence_cache.lock().expect("presence cache lock");
            if let Some(c) = cache.get(service) {
                if c.at.elapsed() < keys::PRESENCE_CACHE_TTL {
                    return Ok(c.nodes.clone());
                }
            }
        }
        let found = self.scan_keys(&keys::presence_pattern(service)).await?;
        let ids: Vec<&str> = found
            .iter()
            .filter_map(|k| keys::instance_of_presence_key(k))
            .collect();
        let mut nodes = Vec::with_capacity(ids.len());
        if !ids.is_empty() {
            let mut pipe = redis::pipe();
            for id in &ids {
                pipe.hget(keys::NODES, *id);
            }
            let entries: Vec<Option<String>> = pipe.query_async(&mut self.redis.conn()).await?;
            for text in entries.into_iter().flatten() {
                if let Some(node) = parse_record::<NodeEntry>(keys::NODES, &text) {
                    nodes.push(node);
                }
            }
        }
        let nodes = Arc::new(nodes);
        let mut cache = self.presence_cache.lock().expect("presence cache lock");
        if nodes.is_empty() {
            cache.remove(service);
        } else {
            cache.insert(
                service.to_string(),
                CachedPresence {
                    at: Instant::now(),
                    nodes: nodes.clone(),
                },
            );
        }
        Ok(nodes)
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

impl Hydra {
    /// Every registered service's record (`SCAN *:service`). Records outlive their instances:
    /// use presence for liveness.
    ///
    /// # Errors
    /// Redis errors.
    pub async fn get_services(&self) -> Result<Vec<ServiceEntry>, HydraError> {
        let keys = self.core.scan_keys(keys::SERVICES_PATTERN).await?;
        self.core.get_json_values(&keys).await
    }

    /// The record of one service.
    ///
    /// # Errors
    /// [`HydraError::BadRequest`] "Can't find {name} service" when there is none; Redis errors.
    pub async fn find_service(&self, name: &str) -> Result<ServiceEntry, HydraError> {
        let text: Option<String> = self.core.redis.conn().get(keys::service(name)).await?;
        text.as_deref()
            .and_then(|t| parse_record(&keys::service(name), t))
            .ok_or_else(|| HydraError::BadRequest(format!("Can't find {name} service")))
    }

    /// Every instance record in the nodes hash, live or not, with `elapsed` seconds since its last
    /// update.
    ///
    /// # Errors
    /// Redis errors.
    pub async fn get_service_nodes(&self) -> Result<Vec<NodeEntry>, HydraError> {
        let all: BTreeMap<String, String> = self.core.redis.conn().hgetall(keys::NODES).await?;
        Ok(all
            .values()
            .filter_map(|text| parse_record::<NodeEntry>(keys::NODES, text))
            .map(|mut n| {
                n.elapsed = millis_since(&n.updated_on).map(|ms| ms / 1000);
                n
            })
            .collect())
    }

    /// The present instances of `service`, shuffled (cached for 3 s, as Node).
    ///
    /// # Errors
    /// Redis errors.
    pub async fn get_service_presence(&self, service: &str) -> Result<Vec<NodeEntry>, HydraError> {
        let mut nodes = (*self.core.presence(service, false).await?).clone();
        nodes.shuffle(&mut rand::thread_rng());
        Ok(nodes)
    }

    /// Whether at least one instance of `service` is present (not cached).
    ///
    /// # Errors
    /// Redis errors.
    pub async fn has_service_presence(&self, service: &str) -> Result<bool, HydraError> {
        Ok(!self
            .core
            .scan_keys(&keys::presence_pattern(service))
            .await?
            .is_empty())
    }

    /// Every service's registered routes (`SCAN *:routes`), by service name. A route key that
    /// cannot be read (not a set: any Redis writer can leave one) is skipped; see
    /// [`scan_service_routes`](Self::scan_service_routes) to learn which.
    ///
    /// # Errors
    /// Redis errors.
    pub async fn get_all_service_routes(
        &self,
    ) -> Result<BTreeMap<String, Vec<String>>, HydraError> {
        Ok(self.scan_service_routes().await?.routes)
    }

    /// Every service's registered routes, and the route keys that could not be read with the
    /// reason (a key of another type answers WRONGTYPE). One bad key spoils only its own service.
    ///
    /// # Errors
    /// Redis errors that concern the connection (not one key): Redis away, timeouts.
    pub async fn scan_service_routes(&self) -> Result<RouteScan, HydraError> {
        let found = self.core.scan_keys(keys::ROUTES_PATTERN).await?;
        let mut out = RouteScan::default();
        let mut conn = self.core.redis.conn();
        for key in found {
            let Some(service) = keys::service_of_routes_key(&key) else {
                continue;
            };
            match conn.smembers::<_, Vec<String>>(&key).await {
                Ok(mut routes) => {
                    routes.sort();
                    out.routes.insert(service.to_string(), routes);
                }
                Err(e) if concerns_connection(&e) => return Err(e.into()),
                Err(e) => {
                    out.unreadable.insert(key, e.to_string());
                }
            }
        }
        Ok(out)
    }

    /// Removes nodes entries that were not updated for longer than `older_than` and whose
    /// instance has no presence key (the router's `/v1/router/clear`, `hydra-cli refresh`).
    /// Entries whose time cannot be read count as old. Returns the removed entries.
    ///
    /// # Errors
    /// Redis errors.
    pub async fn clear_stale_nodes(
        &self,
        older_than: std::time::Duration,
    ) -> Result<Vec<NodeEntry>, HydraError> {
        let mut conn = self.core.redis.conn();
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
        let mut pipe = redis::pipe();
        for n in &old {
            pipe.exists(keys::presence(&n.service_name, &n.instance_id));
        }
        let present: Vec<bool> = pipe.query_async(&mut conn).await?;
        let mut removed = Vec::new();
        for (node, present) in old.into_iter().zip(present) {
            if present {
                continue;
            }
            let n: u64 = conn.hdel(keys::NODES, &node.instance_id).await?;
            if n > 0 {
                removed.push(node);
            }
        }
        Ok(removed)
    }

    /// The registered routes of one service.
    ///
    /// # Errors
    /// Redis errors.
    pub async fn get_service_routes(&self, service: &str) -> Result<Vec<String>, HydraError> {
        let mut routes: Vec<String> = self
            .core
            .redis
            .conn()
            .smembers(keys::routes(service))
            .await?;
        routes.sort();
        Ok(routes)
    }

    /// The health records of the instances of `service` whose health key is current.
    ///
    /// # Errors
    /// Redis errors.
    pub async fn get_service_health(&self, service: &str) -> Result<Vec<HealthEntry>, HydraError> {
        let keys = self.core.scan_keys(&keys::health_pattern(service)).await?;
        self.core.get_json_values(&keys).await
    }

    /// The health log entries of every instance of `service`, newest first. (Node returns only the
    /// first instance's log; this returns all of them.)
    ///
    /// # Errors
    /// Redis errors.
    pub async fn get_service_health_log(
        &self,
        service: &str,
    ) -> Result<Vec<HealthLogEntry>, HydraError> {
        let found = self
            .core
            .scan_keys(&keys::health_log_pattern(service))
            .await?;
        let mut conn = self.core.redis.conn();
        let mut entries = Vec::new();
        for key in found {
            let texts: Vec<String> = conn.lrange(&key, 0, keys::HEALTH_LOG_MAX - 1).await?;
            entries.extend(
                texts
                    .iter()
                    .filter_map(|t| parse_record::<HealthLogEntry>(&key, t)),
            );
        }
        entries.sort_by(|a, b| b.ts.cmp(&a.ts));
        Ok(entries)
    }
}

/// What [`Hydra::scan_service_routes`] found.
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
