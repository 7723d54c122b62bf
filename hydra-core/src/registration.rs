//! Being an instance: the service record, presence and the nodes entry (every second), health
//! (every 5 s), routes and the health log, kept in Redis from registration until the instance
//! withdraws, and written again after Redis comes back empty.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::AsyncCommands;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::connection::Redis;
use crate::error::HydraError;
use crate::instance::Instance;
use crate::keys;
use crate::messaging::Messaging;
use crate::records::{HealthLogEntry, ServiceEntry};
use crate::tasks::Tasks;
use crate::umf::{timestamp, Umf};

/// How long registration waits for its subscriptions to be in place.
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(10);

/// An instance's registration and its heartbeats.
pub(crate) struct Registration {
    instance: Arc<Instance>,
    redis: Redis,
    messaging: Arc<Messaging>,
    routes: Mutex<Option<Vec<String>>>,
    registered: AtomicBool,
    /// Serialises register and withdraw, and holds what a registration started.
    state: tokio::sync::Mutex<Started>,
}

/// What a registration started: the subscriptions (kept until shutdown, so a withdrawn
/// instance still receives replies while it drains) and the heartbeats (one set at a time).
#[derive(Default)]
struct Started {
    subscribed: bool,
    /// Cancelled to stop this registration's heartbeats.
    heartbeat: Option<CancellationToken>,
}

impl Registration {
    pub(crate) fn new(instance: Arc<Instance>, redis: Redis, messaging: Arc<Messaging>) -> Self {
        Self {
            instance,
            redis,
            messaging,
            routes: Mutex::new(None),
            registered: AtomicBool::new(false),
            state: tokio::sync::Mutex::new(Started::default()),
        }
    }

    pub(crate) fn is_registered(&self) -> bool {
        self.registered.load(Ordering::SeqCst)
    }

    /// Registers (a no-op when registered already); its tasks run in `tasks`.
    pub(crate) async fn register(self: &Arc<Self>, tasks: &Tasks) -> Result<(), HydraError> {
        let mut started = self.state.lock().await;
        if started.heartbeat.is_some() {
            return Ok(());
        }
        self.write_service_entry().await?;
        self.write_presence().await?;
        self.write_health().await?;
        if !started.subscribed {
            let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
            tasks.spawn(
                self.messaging
                    .clone()
                    .subscribe(tasks.stop_token().clone(), ready_tx),
            );
            match tokio::time::timeout(SUBSCRIBE_WAIT, ready_rx).await {
                Ok(Ok(())) => started.subscribed = true,
                _ => return Err(HydraError::Timeout),
            }
        }
        let beat = tasks.stop_token().child_token();
        tasks.spawn(presence_loop(self.clone(), beat.clone()));
        tasks.spawn(health_loop(self.clone(), beat.clone()));
        started.heartbeat = Some(beat);
        self.registered.store(true, Ordering::SeqCst);
        let i = &self.instance;
        tracing::info!(service = %i.service, instance = %i.id, ip = %i.ip, port = %i.port, "registered");
        Ok(())
    }

    /// Stops the heartbeats and deletes presence; subscriptions stay.
    pub(crate) async fn withdraw(&self) -> Result<(), HydraError> {
        let mut started = self.state.lock().await;
        if let Some(beat) = started.heartbeat.take() {
            beat.cancel();
        }
        if self.registered.swap(false, Ordering::SeqCst) {
            self.leave().await
        } else {
            Ok(())
        }
    }

    /// Replaces the registered routes (plus the three Node adds) and tells the routers.
    pub(crate) async fn register_routes(&self, routes: Vec<String>) -> Result<(), HydraError> {
        let svc = &self.instance.service;
        let mut all = routes;
        all.extend([
            format!("[get]/{svc}"),
            format!("[get]/{svc}/"),
            format!("[get]/{svc}/:rest"),
        ]);
        *self.routes.lock().expect("routes lock") = Some(all);
        self.write_routes().await?;
        self.announce_routes().await;
        Ok(())
    }

    async fn write_service_entry(&self) -> Result<(), HydraError> {
        let entry = ServiceEntry {
            service_name: self.instance.service.clone(),
            service_type: self.instance.config.service_type.clone(),
            registered_on: timestamp(),
        };
        let text = serde_json::to_string(&entry).expect("service entry serialises");
        let () = self
            .redis
            .conn()
            .set(keys::service(&self.instance.service), text)
            .await?;
        Ok(())
    }

    /// One presence beat. Returns whether the service record still exists.
    async fn write_presence(&self) -> Result<bool, HydraError> {
        let i = &self.instance;
        let entry = serde_json::to_string(&i.node_entry()).expect("node entry serialises");
        let (exists,): (bool,) = redis::pipe()
            .set_ex(keys::presence(&i.service, &i.id), &i.id, keys::KEY_TTL_SECS)
            .ignore()
            .hset(keys::NODES, &i.id, entry)
            .ignore()
            .exists(keys::service(&i.service))
            .query_async(&mut self.redis.conn())
            .await?;
        Ok(exists)
    }

    async fn write_health(&self) -> Result<(), HydraError> {
        let i = &self.instance;
        let text = serde_json::to_string(&i.health_entry()).expect("health entry serialises");
        let () = redis::pipe()
            .set_ex(keys::health(&i.service, &i.id), text, keys::HEALTH_TTL_SECS)
            .ignore()
            .expire(
                keys::health_log(&i.service, &i.id),
                keys::HEALTH_LOG_TTL_SECS,
            )
            .ignore()
            .query_async(&mut self.redis.conn())
            .await?;
        Ok(())
    }

    async fn write_routes(&self) -> Result<(), HydraError> {
        let routes = self.routes.lock().expect("routes lock").clone();
        let Some(routes) = routes else {
            return Ok(());
        };
        let key = keys::routes(&self.instance.service);
        let () = self.redis.conn().del(&key).await?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        for r in &routes {
            pipe.sadd(&key, r).ignore();
        }
        let () = pipe.query_async(&mut self.redis.conn()).await?;
        Ok(())
    }

    /// Tells the routers this service's routes changed (not sent by a router itself).
    async fn announce_routes(&self) {
        let svc = &self.instance.service;
        if svc == keys::ROUTER_SERVICE {
            return;
        }
        let msg = Umf::new(
            format!("{}:/refresh", keys::ROUTER_SERVICE),
            format!("{svc}:/"),
            json!({"action": "refresh", "serviceName": svc}),
        );
        if let Err(e) = self.messaging.broadcast(&msg).await {
            tracing::warn!(error = %e, "could not announce routes to the routers");
        }
    }

    /// Appends an entry to the health log (nothing when not registered).
    pub(crate) async fn log(&self, level: &str, msg: &str) -> Result<(), HydraError> {
        if !self.is_registered() {
            return Ok(());
        }
        self.write_log(level, msg).await
    }

    async fn write_log(&self, level: &str, msg: &str) -> Result<(), HydraError> {
        let i = &self.instance;
        let entry = HealthLogEntry {
            ts: timestamp(),
            service_name: i.service.clone(),
            level: level.to_string(),
            process_id: u64::from(std::process::id()),
            msg: msg.to_string(),
        };
        let key = keys::health_log(&i.service, &i.id);
        let text = serde_json::to_string(&entry).expect("log entry serialises");
        let () = redis::pipe()
            .atomic()
            .lpush(&key, text)
            .ignore()
            .ltrim(&key, 0, keys::HEALTH_LOG_MAX - 1)
            .ignore()
            .query_async(&mut self.redis.conn())
            .await?;
        Ok(())
    }

    /// Everything a registration wrote that an emptied Redis has lost.
    async fn reregister(&self) -> Result<(), HydraError> {
        self.write_service_entry().await?;
        self.write_presence().await?;
        self.write_routes().await?;
        if self.routes.lock().expect("routes lock").is_some() {
            self.announce_routes().await;
        }
        self.write_health().await
    }

    async fn leave(&self) -> Result<(), HydraError> {
        let i = &self.instance;
        let mut conn = self.redis.conn();
        let () = conn.del(keys::presence(&i.service, &i.id)).await?;
        let _ = self.write_log("error", "Service is shutting down.").await;
        let () = redis::pipe()
            .expire(keys::health(&i.service, &i.id), keys::KEY_TTL_SECS as i64)
            .ignore()
            .expire(
                keys::health_log(&i.service, &i.id),
                keys::HEALTH_LOG_TTL_SECS,
            )
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok(())
    }
}

async fn presence_loop(reg: Arc<Registration>, beat: CancellationToken) {
    let mut tick = tokio::time::interval(keys::PRESENCE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first beat was written by register
    let mut lost = false;
    let mut moved = reg.redis.moved();
    loop {
        tokio::select! {
            () = beat.cancelled() => return,
            _ = tick.tick() => {}
            Ok(()) = moved.changed() => {
                // A promoted replica may lack the last writes: write everything again there, now.
                lost = true;
            }
        }
        match reg.write_presence().await {
            Ok(exists) => {
                if lost || !exists {
                    // Redis came back (maybe empty): put back what registration wrote.
                    match reg.reregister().await {
                        Ok(()) => {
                            tracing::info!(service = %reg.instance.service, "Redis is back, registration restored");
                            lost = false;
                        }
                        Err(e) => tracing::warn!(error = %e, "re-registration failed, retrying"),
                    }
                }
            }
            Err(e) => {
                if !lost {
                    tracing::warn!(error = %e, "presence update failed; will keep trying");
                }
                lost = true;
            }
        }
    }
}

async fn health_loop(reg: Arc<Registration>, beat: CancellationToken) {
    let mut tick = tokio::time::interval(keys::HEALTH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            () = beat.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = reg.write_health().await {
            tracing::debug!(error = %e, "health update failed");
        }
    }
}
