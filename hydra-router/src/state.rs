//! The router's shared state and the background work that keeps it current.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::http::HeaderValue;
use hydra_core::Hydra;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::RouterConfig;
use crate::metrics::Metrics;
use crate::pool::{self, Pool};
use crate::table::RouteTable;
use crate::ws::hub::WsHub;

/// How often presence is re-read for the instance pool.
pub const PRESENCE_REFRESH: Duration = Duration::from_secs(1);
/// Entries kept in the issue log (`/v1/router/log`).
const ISSUE_LOG_MAX: usize = 100;

/// Everything request handlers share.
#[derive(Debug)]
pub struct RouterState {
    /// The router's Hydra handle (registered as `hydra-router`).
    pub hydra: Hydra,
    /// Settings.
    pub config: RouterConfig,
    /// Routes of every service.
    pub table: RwLock<RouteTable>,
    /// Present instances.
    pub pool: Pool,
    /// Counters.
    pub metrics: Metrics,
    /// WebSocket clients and the directory of other routers' clients.
    pub ws: WsHub,
    /// Recent problems, newest last.
    pub issues: Mutex<VecDeque<Value>>,
    /// When the router started.
    pub started: Instant,
    /// Cancelled when the router shuts down: every task of the router watches it.
    pub shutdown: CancellationToken,
    /// Every task the router starts (servers, background work, inbound messages, WebSocket
    /// sessions and their calls), waited for at shutdown.
    pub tasks: TaskTracker,
    /// Unreadable route keys and nodes entries, as last logged.
    pub bad_data: Noticed,
    /// This router's name in `Via` headers (`hydra-router-{instance id}`): a request that
    /// carries it has been here before.
    pub via_name: String,
    /// `1.1 {via_name}`: the `Via` header of a request that had none.
    pub via_header: HeaderValue,
    /// The addresses that reach this router itself on its port (every local interface, its
    /// advertised address): never forwarded to.
    own: OwnAddresses,
}

/// Problems with data in Redis (a route key of the wrong type, a nodes entry that is not JSON),
/// remembered so each is logged when it appears, changes or goes away, not on every scan.
#[derive(Debug, Default)]
pub struct Noticed(Mutex<BTreeMap<String, String>>);

impl Noticed {
    /// Takes the problems of one `kind` found by a scan (key → reason) and logs the difference
    /// to the previous scan of that kind.
    pub fn scanned(&self, kind: &str, found: BTreeMap<String, String>) {
        let prefix = format!("{kind}\u{0}");
        let mut known = self.0.lock().expect("noticed lock");
        let gone: Vec<String> = known
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .filter(|k| !found.contains_key(&k[prefix.len()..]))
            .cloned()
            .collect();
        for k in gone {
            known.remove(&k);
            tracing::info!(key = &k[prefix.len()..], "{kind}: readable again, or gone");
        }
        for (key, reason) in found {
            let k = format!("{prefix}{key}");
            if known.get(&k) != Some(&reason) {
                tracing::warn!(%key, %reason, "{kind}: skipped (logged again only when it changes)");
                known.insert(k, reason);
            }
        }
    }
}

impl RouterState {
    /// State for `hydra` with `config`; `queuer` is the connection of the WebSocket queues.
    pub fn new(
        hydra: Hydra,
        config: RouterConfig,
        queuer: Option<hydra_core::connection::Redis>,
    ) -> Arc<Self> {
        let router_id = hydra.instance_id().to_string();
        let via_name = format!("hydra-router-{router_id}");
        let own = OwnAddresses::of(&hydra);
        let via_header = HeaderValue::from_str(&format!("1.1 {via_name}"))
            .unwrap_or(HeaderValue::from_static("1.1 hydra-router"));
        let metrics = Metrics::new(config.threads());
        Arc::new(Self {
            hydra,
            config,
            table: RwLock::new(RouteTable::default()),
            pool: Pool::default(),
            metrics,
            ws: WsHub::new(router_id, queuer),
            issues: Mutex::new(VecDeque::new()),
            started: Instant::now(),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            bad_data: Noticed::default(),
            via_name,
            via_header,
            own,
        })
    }

    /// Whether `instance` is this router (its own registration, or a nodes entry pointing at one
    /// of its addresses): forwarding there would loop.
    pub fn is_self(&self, instance: &pool::Instance) -> bool {
        instance.id == self.hydra.instance_id() || self.own.contains(&instance.authority)
    }

    /// Records a problem for `/v1/router/log`.
    pub fn issue(&self, level: &str, msg: String) {
        let mut log = self.issues.lock().expect("issue log lock");
        log.push_back(
            serde_json::json!({"ts": hydra_core::umf::timestamp(), "type": level, "msg": msg}),
        );
        while log.len() > ISSUE_LOG_MAX {
            log.pop_front();
        }
    }

    /// Reloads every service's routes (plus `externalRoutes`). On a Redis error the table stays.
    /// A service that Redis no longer lists keeps its routes while the pool still has instances
    /// of it (Redis came back empty and the services are registering again).
    pub async fn reload_routes(&self) {
        // The services to read: those in the nodes hash, and those the table already has (a
        // refresh message can name a service before its first nodes entry). No keyspace walk.
        let mut services = match self.hydra.known_services().await {
            Ok(known) => known,
            Err(e) => {
                tracing::warn!(error = %e, "could not reload routes; keeping the current table");
                return;
            }
        };
        services.extend(self.route_list().into_keys());
        let services: Vec<String> = services.into_iter().collect();
        match self.hydra.routes_of(&services).await {
            Ok(scan) => {
                self.bad_data
                    .scanned("unreadable route key", scan.unreadable);
                let mut all = scan.routes;
                for (svc, routes) in &self.config.external_routes {
                    all.entry(svc.clone())
                        .or_default()
                        .extend(routes.iter().cloned());
                }
                for (svc, routes) in self.route_list() {
                    if !all.contains_key(&svc) && self.pool.has_instances(&svc) {
                        tracing::debug!(service = %svc, "routes gone from Redis; kept while instances are known");
                        all.insert(svc, routes);
                    }
                }
                self.table.write().expect("table lock").replace_all(&all);
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not reload routes; keeping the current table")
            }
        }
    }

    /// Reloads the routes of one service.
    pub async fn reload_service(&self, service: &str) {
        match self.hydra.get_service_routes(service).await {
            Ok(mut routes) => {
                if let Some(extra) = self.config.external_routes.get(service) {
                    routes.extend(extra.iter().cloned());
                }
                self.table
                    .write()
                    .expect("table lock")
                    .set_service(service, &routes);
                tracing::info!(%service, routes = routes.len(), "routes reloaded");
            }
            Err(e) => tracing::warn!(%service, error = %e, "could not reload routes"),
        }
    }

    /// Re-reads presence into the pool. On a Redis error the pool stays as it was, so known
    /// instances keep being served while Redis is away.
    pub async fn refresh_pool(&self) {
        match pool::scan_presence(&self.hydra).await {
            Ok((map, bad)) => {
                self.bad_data.scanned("unreadable nodes entry", bad);
                self.pool.replace(map);
            }
            Err(e) => tracing::debug!(error = %e, "presence scan failed; keeping the current pool"),
        }
    }

    /// Routes and services for listings.
    pub fn route_list(&self) -> BTreeMap<String, Vec<String>> {
        self.table
            .read()
            .expect("table lock")
            .patterns()
            .map(|(s, p)| (s.clone(), p))
            .collect()
    }
}

/// Where this router listens: its port, and the names and addresses that lead to it there.
#[derive(Debug)]
struct OwnAddresses {
    port: u16,
    /// Its advertised address (may be a DNS name) and `localhost`.
    names: Vec<String>,
    /// Every address of this machine's interfaces.
    ips: Vec<std::net::IpAddr>,
}

impl OwnAddresses {
    fn of(hydra: &Hydra) -> Self {
        Self {
            port: hydra.port().to_string().parse().unwrap_or(0),
            names: vec![hydra.ip().to_string(), "localhost".into()],
            ips: hydra_core::address::local_addresses(),
        }
    }

    /// Whether `authority` (`host:port`, `[v6]:port`) is this router: its port on any loopback
    /// or unspecified address, on an address of this machine, or under its advertised name.
    fn contains(&self, authority: &str) -> bool {
        let Some((host, port)) = authority.rsplit_once(':') else {
            return false;
        };
        if port.parse::<u16>().ok() != Some(self.port) {
            return false;
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if self.names.iter().any(|n| n.eq_ignore_ascii_case(host)) {
            return true;
        }
        host.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified() || self.ips.contains(&ip))
    }
}

/// Keeps the pool and the table current until the router shuts down: on timers, and in full
/// when the subscriptions come back (refresh messages sent while they were down are lost).
pub async fn background(state: Arc<RouterState>) {
    // Both were read once before the router started serving: the first ticks come a period
    // later, not at once (a second read straight away only repeats the first).
    let start = tokio::time::Instant::now();
    let mut presence = tokio::time::interval_at(start + PRESENCE_REFRESH, PRESENCE_REFRESH);
    presence.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut routes = tokio::time::interval_at(
        start + state.config.route_refresh,
        state.config.route_refresh,
    );
    routes.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut restored = state.hydra.subscriptions_restored();
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            _ = presence.tick() => state.refresh_pool().await,
            _ = routes.tick() => state.reload_routes().await,
            // Refresh messages sent while the subscription was down are lost: read it all again.
            Ok(()) = restored.changed() => {
                tracing::info!("subscriptions back: reloading routes and instances");
                state.reload_routes().await;
                state.refresh_pool().await;
            }
        }
    }
}
