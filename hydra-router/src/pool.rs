//! The instances the router forwards to: every present instance of every service, refreshed in
//! the background (the nodes hash and one batch of presence checks, no keyspace walk), so no
//! request waits for Redis. Instances that refuse connections or time out are left out for a
//! while (outlier ejection). An instance that drops out of presence stays on as a last resort
//! for [`STALE_GRACE`]: when Redis comes back empty after an outage, services need a moment to
//! register again, and the router keeps serving them meanwhile.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use hydra_core::{Hydra, HydraError, NodeEntry};

/// Consecutive timeouts that eject an instance.
const TIMEOUTS_TO_EJECT: u32 = 2;

/// How long an instance that is no longer present is kept as a last resort.
pub const STALE_GRACE: Duration = Duration::from_secs(10);

/// One instance to forward to.
#[derive(Debug)]
pub struct Instance {
    /// Instance id.
    pub id: String,
    /// Service name.
    pub service: String,
    /// `ip:port` (`[ip]:port` for IPv6).
    pub authority: String,
    /// Requests sent to it and not answered yet.
    in_flight: AtomicUsize,
}

impl Instance {
    /// An instance at `authority`.
    pub fn new(
        id: impl Into<String>,
        service: impl Into<String>,
        authority: impl Into<String>,
    ) -> Self {
        let authority = authority.into();
        Self {
            id: id.into(),
            service: service.into(),
            authority,
            in_flight: AtomicUsize::new(0),
        }
    }

    /// Counts a request to it until the guard is dropped.
    pub fn start_request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// Requests sent to it and not answered yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    fn same_place(&self, other: &Self) -> bool {
        self.id == other.id && self.authority == other.authority && self.service == other.service
    }
}

/// A request under way to an instance (see [`Instance::start_request`]).
#[derive(Debug)]
pub struct InFlight(Arc<Instance>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Instance {
    fn from_node(n: &NodeEntry) -> Option<Self> {
        n.port.as_u16()?;
        if n.ip.is_empty() {
            return None;
        }
        Some(Self::new(
            n.instance_id.clone(),
            n.service_name.clone(),
            n.authority(),
        ))
    }
}

#[derive(Debug, Default)]
struct Health {
    ejected_until: Option<Instant>,
    timeouts: u32,
    /// When a presence scan last listed it.
    last_seen: Option<Instant>,
    /// Missing from the last scan, kept within [`STALE_GRACE`].
    stale: bool,
}

impl Health {
    fn ejected(&self, now: Instant) -> bool {
        self.ejected_until.is_some_and(|t| t > now)
    }
}

/// A map looked up on every request: a fast hash (its keys, service names and instance ids from
/// Redis, are not chosen by clients).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Present instances by service, with their health.
#[derive(Debug, Default)]
pub struct Pool {
    by_service: RwLock<FastMap<String, Vec<Arc<Instance>>>>,
    health: Mutex<FastMap<String, Health>>,
    next: AtomicUsize,
}

impl Pool {
    /// Replaces the instance lists (after a presence scan). Instances missing from `map` that
    /// were seen within [`STALE_GRACE`] stay, marked stale.
    pub fn replace(&self, map: HashMap<String, Vec<Arc<Instance>>>) {
        self.replace_at(map, Instant::now());
    }

    fn replace_at(&self, mut map: HashMap<String, Vec<Arc<Instance>>>, now: Instant) {
        let present: HashSet<String> = map.values().flatten().map(|i| i.id.clone()).collect();
        let previous = self.snapshot();
        // The same instance keeps its object, and so its count of requests under way.
        let known: HashMap<&str, &Arc<Instance>> = previous
            .values()
            .flatten()
            .map(|i| (i.id.as_str(), i))
            .collect();
        for list in map.values_mut() {
            for instance in list.iter_mut() {
                if let Some(old) = known.get(instance.id.as_str()) {
                    if old.same_place(instance) {
                        *instance = Arc::clone(old);
                    }
                }
            }
        }
        drop(known);
        {
            let mut health = self.health.lock().expect("health lock");
            for id in &present {
                let h = health.entry(id.clone()).or_default();
                h.last_seen = Some(now);
                h.stale = false;
            }
            for (service, list) in previous {
                for instance in list {
                    if present.contains(&instance.id) {
                        continue;
                    }
                    let h = health.entry(instance.id.clone()).or_default();
                    let seen = *h.last_seen.get_or_insert(now);
                    if now.saturating_duration_since(seen) < STALE_GRACE {
                        if !h.stale {
                            tracing::debug!(instance = %instance.id, "no longer present; kept as a last resort");
                        }
                        h.stale = true;
                        map.entry(service.clone()).or_default().push(instance);
                    }
                }
            }
            let kept: HashSet<&str> = map.values().flatten().map(|i| i.id.as_str()).collect();
            health.retain(|id, _| kept.contains(id.as_str()));
        }
        for list in map.values_mut() {
            list.sort_by(|a, b| a.id.cmp(&b.id));
        }
        *self.by_service.write().expect("pool lock") = map.into_iter().collect();
    }

    /// Sets the instances of one service (tests, external routes).
    pub fn set_service(&self, service: &str, instances: Vec<Instance>) {
        self.by_service.write().expect("pool lock").insert(
            service.to_string(),
            instances.into_iter().map(Arc::new).collect(),
        );
    }

    /// Whether `service` has a present instance that is not ejected.
    pub fn is_live(&self, service: &str) -> bool {
        let map = self.by_service.read().expect("pool lock");
        let Some(list) = map.get(service) else {
            return false;
        };
        let health = self.health.lock().expect("health lock");
        let now = Instant::now();
        list.iter().any(|i| {
            health
                .get(&i.id)
                .is_none_or(|h| !h.stale && !h.ejected(now))
        })
    }

    /// Whether `service` has any instance at all (ejected or stale ones included).
    pub fn has_instances(&self, service: &str) -> bool {
        self.by_service
            .read()
            .expect("pool lock")
            .get(service)
            .is_some_and(|l| !l.is_empty())
    }

    /// The instances of `service` in the order to try them: the healthy present ones, fewest
    /// requests under way first (round robin among equals), then the stale ones, then the
    /// ejected ones as a last resort. A slow instance piles up requests under way and so stops
    /// being chosen well before its first timeout ejects it.
    pub fn candidates(&self, service: &str) -> Vec<Arc<Instance>> {
        let map = self.by_service.read().expect("pool lock");
        let Some(list) = map.get(service).filter(|l| !l.is_empty()) else {
            return Vec::new();
        };
        let start = self.next.fetch_add(1, Ordering::Relaxed) % list.len();
        let health = self.health.lock().expect("health lock");
        let now = Instant::now();
        let tier = |i: &Instance| match health.get(&i.id) {
            Some(h) if h.ejected(now) => 2,
            Some(h) if h.stale => 1,
            _ => 0,
        };
        let mut ordered: Vec<Arc<Instance>> = list
            .iter()
            .cycle()
            .skip(start)
            .take(list.len())
            .cloned()
            .collect();
        // A stable sort keeps the round-robin order among equals.
        ordered.sort_by_key(|i| {
            let t = tier(i);
            (t, if t == 0 { i.in_flight() } else { 0 })
        });
        ordered
    }

    /// Leaves `id` out for `duration` (it refused a connection).
    pub fn eject(&self, id: &str, duration: Duration) {
        let mut health = self.health.lock().expect("health lock");
        let h = health.entry(id.to_string()).or_default();
        h.ejected_until = Some(Instant::now() + duration);
        h.timeouts = 0;
    }

    /// Counts a timeout; repeated ones eject the instance for `duration`. Whether this one did.
    pub fn record_timeout(&self, id: &str, duration: Duration) -> bool {
        let mut health = self.health.lock().expect("health lock");
        let h = health.entry(id.to_string()).or_default();
        if h.ejected(Instant::now()) {
            // Requests already under way when it was ejected: nothing new to learn.
            h.timeouts = 0;
            return false;
        }
        h.timeouts += 1;
        if h.timeouts < TIMEOUTS_TO_EJECT {
            return false;
        }
        h.ejected_until = Some(Instant::now() + duration);
        h.timeouts = 0;
        tracing::warn!(instance = %id, ?duration, "instance keeps timing out: ejected");
        true
    }

    /// Clears the timeout count of `id`.
    pub fn record_success(&self, id: &str) {
        let mut health = self.health.lock().expect("health lock");
        if let Some(h) = health.get_mut(id) {
            h.timeouts = 0;
        }
    }

    /// Every instance by service with its health, `"healthy"`, `"stale"` or `"ejected"` (for the
    /// dashboard).
    pub fn health_by_service(&self) -> BTreeMap<String, Vec<(Arc<Instance>, &'static str)>> {
        let map = self.by_service.read().expect("pool lock");
        let health = self.health.lock().expect("health lock");
        let now = Instant::now();
        map.iter()
            .map(|(service, list)| {
                let states = list.iter().map(|i| {
                    let state = match health.get(&i.id) {
                        Some(h) if h.ejected(now) => "ejected",
                        Some(h) if h.stale => "stale",
                        _ => "healthy",
                    };
                    (i.clone(), state)
                });
                (service.clone(), states.collect())
            })
            .collect()
    }

    /// Every instance by service (for listings).
    pub fn snapshot(&self) -> HashMap<String, Vec<Arc<Instance>>> {
        let map = self.by_service.read().expect("pool lock");
        map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

/// Reads every present instance of every service ([`Hydra::scan_presence`]). Nodes entries that
/// cannot be read are returned apart, for the caller to log.
///
/// # Errors
/// Redis errors (the caller keeps the previous pool).
pub async fn scan_presence(hydra: &Hydra) -> Result<PresenceScan, HydraError> {
    let scan = hydra.scan_presence().await?;
    let mut map: HashMap<String, Vec<Arc<Instance>>> = HashMap::new();
    for (svc, nodes) in scan.instances {
        let usable: Vec<Arc<Instance>> = nodes
            .iter()
            .filter_map(Instance::from_node)
            .map(Arc::new)
            .collect();
        if !usable.is_empty() {
            map.insert(svc, usable);
        }
    }
    Ok((map, scan.unreadable))
}

/// The present instances by service, and the nodes entries of present instances that could not
/// be read (instance id → reason).
pub type PresenceScan = (
    HashMap<String, Vec<Arc<Instance>>>,
    BTreeMap<String, String>,
);

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(id: &str) -> Instance {
        Instance::new(id, "s", format!("127.0.0.1:{}", id.len()))
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
        let states: Vec<(String, &str)> = pool.health_by_service()["s"]
            .iter()
            .map(|(i, h)| (i.id.clone(), *h))
            .collect();
        assert_eq!(
            states,
            [
                ("a".into(), "healthy"),
                ("b".into(), "ejected"),
                ("c".into(), "healthy")
            ]
        );
        pool.eject("a", Duration::from_secs(60));
        pool.eject("c", Duration::from_secs(60));
        assert!(!pool.is_live("s"));
        assert!(pool.has_instances("s"));
        assert_eq!(pool.candidates("s").len(), 3);
    }

    #[test]
    fn instances_gone_from_presence_are_a_last_resort_for_a_while() {
        let pool = Pool::default();
        let t0 = Instant::now();
        let scan = |ids: &[&str]| {
            HashMap::from([(
                "s".to_string(),
                ids.iter().map(|id| Arc::new(inst(id))).collect(),
            )])
        };
        pool.replace_at(scan(&["a", "b"]), t0);
        assert!(pool.is_live("s"));
        // Redis came back empty: nothing present, both kept.
        pool.replace_at(HashMap::new(), t0 + Duration::from_secs(1));
        assert!(
            !pool.is_live("s"),
            "stale instances do not make a service live"
        );
        assert!(pool.has_instances("s"));
        assert_eq!(pool.candidates("s").len(), 2);
        // One registered again: it comes first, the stale one after it.
        pool.replace_at(scan(&["b"]), t0 + Duration::from_secs(2));
        assert!(pool.is_live("s"));
        for _ in 0..4 {
            let ids: Vec<String> = pool.candidates("s").iter().map(|i| i.id.clone()).collect();
            assert_eq!(ids, ["b", "a"]);
        }
        // Past the grace period the missing one is gone.
        pool.replace_at(scan(&["b"]), t0 + STALE_GRACE + Duration::from_secs(1));
        let ids: Vec<String> = pool.candidates("s").iter().map(|i| i.id.clone()).collect();
        assert_eq!(ids, ["b"]);
        pool.replace_at(HashMap::new(), t0 + STALE_GRACE * 3);
        assert!(!pool.has_instances("s"));
    }

    #[test]
    fn fewest_requests_under_way_first_and_counts_survive_a_scan() {
        let pool = Pool::default();
        let scan = || {
            HashMap::from([(
                "s".to_string(),
                ["a", "b", "c"]
                    .iter()
                    .map(|id| Arc::new(inst(id)))
                    .collect(),
            )])
        };
        pool.replace(scan());
        let slow = pool
            .candidates("s")
            .into_iter()
            .find(|i| i.id == "b")
            .unwrap();
        let stuck: Vec<InFlight> = (0..3).map(|_| slow.start_request()).collect();
        pool.replace(scan());
        for _ in 0..6 {
            let c = pool.candidates("s");
            assert_eq!(c.last().unwrap().id, "b", "busy instances go last");
            assert_eq!(
                c.last().unwrap().in_flight(),
                3,
                "the count survived the scan"
            );
        }
        drop(stuck);
        let firsts: std::collections::HashSet<String> =
            (0..6).map(|_| pool.candidates("s")[0].id.clone()).collect();
        assert_eq!(firsts.len(), 3, "round robin again once it is idle");
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
