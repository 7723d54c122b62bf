//! Discovery through the handle: services, instances, presence, routes and health, read as Node
//! reads them (the work is [`Discovery`](crate::discovery)'s).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::Hydra;
use crate::discovery::{PresenceScan, RouteScan, ServiceHealth};
use crate::error::HydraError;
use crate::records::{HealthEntry, HealthLogEntry, NodeEntry, ServiceEntry};

impl Hydra {
    /// Every registered service's record (`SCAN *:service`). Records outlive their instances:
    /// use presence for liveness.
    ///
    /// # Errors
    /// [`HydraError::Redis`] when Redis cannot be reached or a command fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// for service in hydra.get_services().await? {
    ///     println!("{} (registered {})", service.service_name, service.registered_on);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_services(&self) -> Result<Vec<ServiceEntry>, HydraError> {
        self.engine.discovery.get_services().await
    }

    /// The record of one service.
    ///
    /// # Errors
    /// [`HydraError::BadRequest`] "Can't find {name} service" when there is none;
    /// [`HydraError::Redis`] when Redis cannot be reached or a command fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// let entry = hydra.find_service("hello-service").await?;
    /// println!("type {:?}", entry.service_type);
    /// # Ok(()) }
    /// ```
    pub async fn find_service(&self, name: &str) -> Result<ServiceEntry, HydraError> {
        self.engine.discovery.find_service(name).await
    }

    /// Every instance record in the nodes hash, live or not, with `elapsed` seconds since its last
    /// update.
    ///
    /// # Errors
    /// [`HydraError::Redis`] when Redis cannot be reached or a command fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// let quiet: Vec<_> = hydra
    ///     .get_service_nodes()
    ///     .await?
    ///     .into_iter()
    ///     .filter(|node| node.elapsed.unwrap_or(0) > 60)
    ///     .collect();
    /// # Ok(()) }
    /// ```
    pub async fn get_service_nodes(&self) -> Result<Vec<NodeEntry>, HydraError> {
        self.engine.discovery.get_service_nodes().await
    }

    /// The present instances of `service`, shuffled (cached for 3 s, as Node): its nodes entries
    /// whose presence key exists, read without walking the keyspace (see
    /// [`scan_presence`](Self::scan_presence)).
    ///
    /// # Errors
    /// [`HydraError::Redis`] when Redis cannot be reached or a command fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// let instances = hydra.get_service_presence("hello-service").await?;
    /// if let Some(node) = instances.first() {
    ///     println!("{} listens at {}", node.instance_id, node.base_url());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_service_presence(&self, service: &str) -> Result<Vec<NodeEntry>, HydraError> {
        self.engine.discovery.get_service_presence(service).await
    }

    /// Whether at least one instance of `service` is present (not cached).
    ///
    /// # Errors
    /// [`HydraError::Redis`] when Redis cannot be reached or a command fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// if !hydra.has_service_presence("hello-service").await? {
    ///     println!("hello-service is down");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn has_service_presence(&self, service: &str) -> Result<bool, HydraError> {
        self.engine.discovery.has_service_presence(service).await
    }

    /// The registered routes of every service in the nodes hash, by service name. A route key
    /// that cannot be read (not a set: any Redis writer can leave one) is skipped; see
    /// [`scan_service_routes`](Self::scan_service_routes) to learn which.
    ///
    /// # Errors
    /// [`HydraError::Redis`] when Redis cannot be reached or a command fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// for (service, routes) in hydra.get_all_service_routes().await? {
    ///     println!("{service}: {}", routes.join(", "));
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_all_service_routes(
        &self,
    ) -> Result<BTreeMap<String, Vec<String>>, HydraError> {
        self.engine.discovery.get_all_service_routes().await
    }

    /// The registered routes of every service in the nodes hash (every service with an instance,
    /// live or not yet cleared), and the route keys that could not be read with the reason (a
    /// key of another type answers WRONGTYPE). One bad key spoils only its own service. Two
    /// commands whatever the size of the keyspace: `HGETALL` of the nodes hash, then one batch of
    /// `SMEMBERS` (see [`routes_of`](Self::routes_of)).
    ///
    /// # Errors
    /// [`HydraError::Redis`] for errors that concern the connection (not one key): Redis away,
    /// timeouts.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// let scan = hydra.scan_service_routes().await?;
    /// for (key, reason) in &scan.unreadable {
    ///     eprintln!("skipped {key}: {reason}");
    /// }
    /// println!("{} services with routes", scan.routes.len());
    /// # Ok(()) }
    /// ```
    pub async fn scan_service_routes(&self) -> Result<RouteScan, HydraError> {
        self.engine.discovery.scan_service_routes().await
    }

    /// Removes nodes entries that were not updated for longer than `older_than` and whose
    /// instance has no presence key (the router's `/v1/router/clear`, `hydra-cli refresh`).
    /// Entries whose time cannot be read count as old. Returns the removed entries.
    ///
    /// # Errors
    /// [`HydraError::Redis`] when Redis cannot be reached or a command fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// use std::time::Duration;
    /// let removed = hydra.clear_stale_nodes(Duration::from_secs(60)).await?;
    /// println!("removed {} stale entries", removed.len());
    /// # Ok(()) }
    /// ```
    pub async fn clear_stale_nodes(
        &self,
        older_than: std::time::Duration,
    ) -> Result<Vec<NodeEntry>, HydraError> {
        self.engine.discovery.clear_stale_nodes(older_than).await
    }

    /// The registered routes of one service.
    ///
    /// # Errors
    /// [`HydraError::Redis`] when Redis cannot be reached or a command fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// let routes = hydra.get_service_routes("hello-service").await?;
    /// let has_test = routes.iter().any(|r| r == "[get]/v1/hello/test");
    /// # Ok(()) }
    /// ```
    pub async fn get_service_routes(&self, service: &str) -> Result<Vec<String>, HydraError> {
        self.engine.discovery.get_service_routes(service).await
    }

    /// The health records of the instances of `service` whose health key is current.
    ///
    /// # Errors
    /// [`HydraError::Redis`] when Redis cannot be reached or a command fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// for health in hydra.get_service_health("hello-service").await? {
    ///     println!("{}: rss {} bytes", health.instance_id, health.memory.rss);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_service_health(&self, service: &str) -> Result<Vec<HealthEntry>, HydraError> {
        self.engine.discovery.get_service_health(service).await
    }

    /// The health log entries of every instance of `service`, newest first. (Node returns only the
    /// first instance's log; this returns all of them.)
    ///
    /// # Errors
    /// [`HydraError::Redis`] when Redis cannot be reached or a command fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// let log = hydra.get_service_health_log("hello-service").await?;
    /// for entry in log.iter().filter(|e| e.level == "error") {
    ///     println!("{} {}", entry.ts, entry.msg);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_service_health_log(
        &self,
        service: &str,
    ) -> Result<Vec<HealthLogEntry>, HydraError> {
        self.engine.discovery.get_service_health_log(service).await
    }

    /// Every registered service, sorted by name, with the health records, the health log and
    /// the present instances of its instances: Node's `getServiceHealthAll`, with each entry's
    /// service named. Like Node, a service whose instances are all gone is listed, with nobody
    /// present, for as long as its record lasts.
    ///
    /// # Errors
    /// [`HydraError::Redis`] when Redis cannot be reached or a command fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// for service in hydra.get_service_health_all().await? {
    ///     let errors = service.log.iter().filter(|e| e.level == "error").count();
    ///     println!(
    ///         "{}: {} present, {errors} errors logged",
    ///         service.service_name,
    ///         service.presence.len()
    ///     );
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_service_health_all(&self) -> Result<Vec<ServiceHealth>, HydraError> {
        self.engine.discovery.get_service_health_all().await
    }

    /// Every present instance of every service, by service, and the nodes entries that could
    /// not be read (not cached).
    ///
    /// No `SCAN`: every instance, Node's and ours, rewrites its entry in the nodes hash with each
    /// presence beat (every second), so `HGETALL` of the hash and one `MGET` of the presence
    /// keys it names find them all. The cost follows the number of instances,
    /// not of keys in the database. An instance is found from its first beat; one whose nodes
    /// entry was removed (the router's `clear` removes only entries without presence) is found
    /// again at its next beat, a second later.
    ///
    /// # Errors
    /// [`HydraError::Redis`] when Redis cannot be reached or a command fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// let scan = hydra.scan_presence().await?;
    /// for (service, instances) in &scan.instances {
    ///     println!("{service}: {} present", instances.len());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn scan_presence(&self) -> Result<PresenceScan, HydraError> {
        self.engine.discovery.scan_presence().await
    }

    /// The instance ids among `nodes` that have a presence key right now (not cached).
    ///
    /// # Errors
    /// [`HydraError::Redis`] when Redis cannot be reached or a command fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// let nodes = hydra.get_service_nodes().await?;
    /// let live = hydra.present_among(&nodes).await?;
    /// let gone = nodes.iter().filter(|n| !live.contains(&n.instance_id)).count();
    /// # Ok(()) }
    /// ```
    pub async fn present_among(&self, nodes: &[NodeEntry]) -> Result<HashSet<String>, HydraError> {
        self.engine.discovery.present_among(nodes).await
    }

    /// The routes of `services` (one pipelined batch of `SMEMBERS`), as
    /// [`scan_service_routes`](Self::scan_service_routes) reports them; services without routes
    /// are left out.
    ///
    /// # Errors
    /// [`HydraError::Redis`] for errors that concern the connection (not one key).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// let scan = hydra.routes_of(&["hello-service", "hpp-service"]).await?;
    /// if let Some(routes) = scan.routes.get("hello-service") {
    ///     println!("{routes:?}");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn routes_of<S: AsRef<str>>(&self, services: &[S]) -> Result<RouteScan, HydraError> {
        self.engine.discovery.routes_of(services).await
    }

    /// The names of the services in the nodes hash: every service with an instance, live or not
    /// yet cleared.
    ///
    /// # Errors
    /// [`HydraError::Redis`] when Redis cannot be reached or a command fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// let names = hydra.known_services().await?;
    /// let has_router = names.contains("hydra-router");
    /// # Ok(()) }
    /// ```
    pub async fn known_services(&self) -> Result<BTreeSet<String>, HydraError> {
        self.engine.discovery.known_services().await
    }
}
