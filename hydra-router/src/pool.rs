//! The instances the router forwards to: every present instance of every service, refreshed in
//! the background (one `SCAN` for all services), so no request waits for Redis. Instances that
//! refuse connections or time out are left out for a while (outlier ejection).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use hydra_core::{keys, Hydra, NodeEntry};

/// Consecutive timeouts that eject an instance.
const TIMEOUTS_TO_EJECT: u32 = 2;

/// One instance to forward to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// Instance id.
    pub id: String,
    /// Service name.
    pub service: String,
    /// `ip:port` (`[ip]:port` for IPv6).
    pub authority: String,
}

impl Instance {
    fn from_node(n: &NodeEntry) -> Option<Self> {
        let port = n.port.as_u16()?;
        if n.ip.is_empty() {
            return None;
        }
        let authority = if n.ip.contains(':') {
            format!("[{}]:{port}", n.ip)
        } else {
            format!("{}:{port}", n.ip)
        };
        Some(Self {
            id: n.instance_id.clone(),
            service: n.service_name.clone(),
            authority,
        })
    }
}

#[derive(Debug, Default)]
struct Health {
    ejected_until: Option<Instant>,
    timeouts: u32,
}

/// Present instances by service, with their health.
#[derive(Debug, Default)]
pub struct Pool {
    by_service: RwLock<HashMap<String, Vec<Arc<Instance>>>>,
    health: Mutex<HashMap<String, Health>>,
    next: AtomicUsize,
}

impl Pool {
    /// Replaces the instance lists (after a presence scan).
    pub fn replace(&self, map: HashMap<String, Vec<Arc<Instance>>>) {
        let ids: std::collections::HashSet<&str> =
            map.values().flatten().map(|i| i.id.as_str()).collect();
        self.health
            .lock()
            .expect("health lock")
            .retain(|id, _| ids.contains(id.as_str()));
        *self.by_service.write().expect("pool lock") = map;
    }

    /// Sets the instances of one service (tests, external routes).
    pub fn set_service(&self, service: &str, instances: Vec<Instance>) {
        self.by_service.write().expect("pool lock").insert(
            service.to_string(),
            instances.into_iter().map(Arc::new).collect(),
        );
    }

    fn is_ejected(health: &HashMap<String, Health>, id: &str, now: Instant) -> bool {
        health
            .get(id)
            .and_then(|h| h.ejected_until)
            .is_some_and(|t| t > now)
    }

    /// Whether `service` has an instance that is not ejected.
    pub fn is_live(&self, service: &str) -> bool {
        let map = self.by_service.read().expect("pool lock");
        let Some(list) = map.get(service) else {
            return false;
        };
        let health = self.health.lock().expect("health lock");
        let now = Instant::now();
        list.iter().any(|i| !Self::is_ejected(&health, &i.id, now))
    }

    /// Whether `service` has any present instance at all.
    pub fn has_instances(&self, service: &str) -> bool {
        self.by_service
            .read()
            .expect("pool lock")
            .get(service)
            .is_some_and(|l| !l.is_empty())
    }

    /// The instances of `service` in the order to try them: round robin over the healthy ones,
    /// then the ejected ones as a last resort.
    pub fn candidates(&self, service: &str) -> Vec<Arc<Instance>> {
        let map = self.by_service.read().expect("pool lock");
        let Some(list) = map.get(service).filter(|l| !l.is_empty()) else {
            return Vec::new();
        };
        let start = self.next.fetch_add(1, Ordering::Relaxed) % list.len();
        let health = self.health.lock().expect("health lock");
        let now = Instant::now();
        let rotated = list.iter().cycle().skip(start).take(list.len());
        let (mut healthy, ejected): (Vec<_>, Vec<_>) = rotated
            .cloned()
            .partition(|i| !Self::is_ejected(&health, &i.id, now));
        healthy.extend(ejected);
        healthy
    }

    /// Leaves `id` out for `duration` (it refused a connection).
    pub fn eject(&self, id: &str, duration: Duration) {
        let mut health = self.health.lock().expect("health lock");
        let h = health.entry(id.to_string()).or_default();
        h.ejected_until = Some(Instant::now() + duration);
        h.timeouts = 0;
    }

    /// Counts a timeout; repeated ones eject the instance for `duration`.
    pub fn record_timeout(&self, id: &str, duration: Duration) {
        let mut health = self.health.lock().expect("health lock");
        let h = health.entry(id.to_string()).or_default();
        h.timeouts += 1;
        if h.timeouts >= TIMEOUTS_TO_EJECT {
            h.ejected_until = Some(Instant::now() + duration);
            h.timeouts = 0;
            tracing::warn!(instance = %id, ?duration, "instance keeps timing out: ejected");
        }
    }

    /// Clears the timeout count of `id`.
    pub fn record_success(&self, id: &str) {
        let mut health = self.health.lock().expect("health lock");
        if let Some(h) = health.get_mut(id) {
            h.timeouts = 0;
        }
    }

    /// Every instance by service (for listings).
    pub fn snapshot(&self) -> HashMap<String, Vec<Arc<Instance>>> {
        self.by_service.read().expect("pool lock").clone()
    }
}

/// Reads every present instance of every service: one `SCAN` and one pipelined `HGET` batch.
///
/// # Errors
/// Redis errors (the caller keeps the previous pool).
pub async fn scan_presence(
    hydra: &Hydra,
) -> Result<HashMap<String, Vec<Arc<Instance>>>, redis::RedisError> {
    let mut conn = hydra.redis();
    let mut cursor: u64 = 0;
    let mut ids: Vec<(String, String)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(keys::ALL_PRESENCE_PATTERN)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await?;
        for key in batch {
            if let (Some(svc), Some(id)) = (
                keys::service_of_presence_key(&key),
                keys::instance_of_presence_key(&key),
            ) {
                if seen.insert(id.to_string()) {
                    ids.push((svc.to_string(), id.to_string()));
                }
            }
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    let mut map: HashMap<String, Vec<Arc<Instance>>> = HashMap::new();
    if ids.is_empty() {
        return Ok(map);
    }
    let mut pipe = redis::pipe();
    for (_, id) in &ids {
        pipe.hget(keys::NODES, id);
    }
    let entries: Vec<Option<String>> = pipe.query_async(&mut conn).await?;
    for ((svc, id), entry) in ids.into_iter().zip(entries) {
        let Some(text) = entry else { continue };
        match serde_json::from_str::<NodeEntry>(&text) {
            Ok(node) => {
                if let Some(i) = Instance::from_node(&node) {
                    map.entry(svc).or_default().push(Arc::new(i));
                }
            }
            Err(e) => {
                tracing::warn!(instance = %id, error = %e, "skipping a nodes entry that is not valid JSON")
            }
        }
    }
    for list in map.values_mut() {
        list.sort_by(|a, b| a.id.cmp(&b.id));
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(id: &str) -> Instance {
        Instance {
            id: id.into(),
            service: "s".into(),
            authority: format!("127.0.0.1:{}", id.len()),
        }
    }

    #[test]
    fn round_robin_and_ejection() {
        let pool = Pool::default();
        pool.set_service("s", vec![inst("a"), inst("b"), inst("c")]);
        let firsts: std::collections::HashSet<String> =
            (0..6).map(|_| pool.candidates("s")[0].id.clone()).collect();
        assert_eq!(firsts.len(), 3, "every instance gets turns");
        pool.eject("b", Duration::from_secs(60));
        for _ in 0..6 {
            let c = pool.candidates("s");
            assert_ne!(c[0].id, "b");
            assert_eq!(
                c.last().unwrap().id,
                "b",
                "ejected ones are the last resort"
            );
        }
        assert!(pool.is_live("s"));
        pool.eject("a", Duration::from_secs(60));
        pool.eject("c", Duration::from_secs(60));
        assert!(!pool.is_live("s"));
        assert!(pool.has_instances("s"));
        assert_eq!(pool.candidates("s").len(), 3);
    }

    #[test]
    fn timeouts_eject_after_repeats() {
        let pool = Pool::default();
        pool.set_service("s", vec![inst("a")]);
        pool.record_timeout("a", Duration::from_secs(60));
        assert!(pool.is_live("s"));
        pool.record_success("a");
        pool.record_timeout("a", Duration::from_secs(60));
        assert!(pool.is_live("s"));
        pool.record_timeout("a", Duration::from_secs(60));
        assert!(!pool.is_live("s"));
    }
}
