#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hydra_core::{Config, Hydra};
use hydra_testkit::{service_document, wait_registered, wait_until, RedisServer};
use serde_json::{json, Value};

pub struct Running {
    pub base: String,
    pub hydra: Hydra,
    /// The router's state, to wait on what it knows (its pool, its clients).
    pub state: std::sync::Arc<hydra_router::RouterState>,
    /// Where `/metrics` is served without a token (`hydra.metricsPort`), when it is.
    pub metrics: Option<std::net::SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<Result<(), hydra_core::HydraError>>>,
}

impl Running {
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let _ = self.done.take().unwrap().await;
    }
}

/// `doc` on `redis` with `extra`'s top-level keys set and its `hydra` keys merged into the branch.
fn merged(mut doc: Value, redis: &RedisServer, extra: Value) -> Config {
    let mut hydra = json!({});
    if let Value::Object(m) = extra {
        for (k, v) in m {
            if k == "hydra" {
                hydra = v;
            } else {
                doc[k] = v;
            }
        }
    }
    service_document(redis, doc, &hydra)
}

pub async fn router(redis: &RedisServer, extra: Value) -> Running {
    let mut extra = extra;
    if extra.get("hydra").is_none() {
        extra["hydra"] = json!({});
    }
    extra["hydra"]["servicePort"] = json!(0);
    let r = hydra_router::Router::bind(merged(hydra_router::config::defaults(), redis, extra))
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", r.local_addr().unwrap().port());
    let hydra = r.state().hydra.clone();
    let state = r.state().clone();
    let metrics = r.metrics_addr();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(r.serve(async move {
        let _ = rx.await;
    }));
    wait_registered(&hydra).await;
    Running {
        base,
        hydra,
        state,
        metrics,
        stop: Some(tx),
        done: Some(done),
    }
}

/// hello-service's config for a test: its defaults on `redis`, on 127.0.0.1.
pub fn hello_config(redis: &RedisServer) -> Config {
    service_document(redis, hello_service::defaults(), &json!({}))
}

pub async fn hello(redis: &RedisServer) -> hydra_service::RunningService {
    started(hello_service::service(hello_config(redis))).await
}

/// `svc` bound, registered and serving.
pub async fn started(svc: hydra_service::HydraService) -> hydra_service::RunningService {
    svc.bind().await.unwrap().spawn().await.unwrap()
}

/// Polls `done` until it holds; fails the test naming `what` after `limit`.
pub async fn wait_for<F, Fut>(what: &str, limit: Duration, done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    wait_until(limit, what, done).await;
}

/// The ids of the instances of `service` in the router's pool.
pub fn pool_ids(router: &Running, service: &str) -> std::collections::HashSet<String> {
    router
        .state
        .pool
        .candidates(service)
        .iter()
        .map(|i| i.id.clone())
        .collect()
}

/// Polls `url` until it answers `status` (the router picks up new services by itself).
pub async fn until_status(http: &reqwest::Client, url: &str, status: u16) {
    let t = Instant::now();
    loop {
        if let Ok(r) = http.get(url).send().await {
            if r.status().as_u16() == status {
                return;
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(8),
            "{url} never answered {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The hello-service binary of this workspace (built on demand).
pub fn hello_binary() -> PathBuf {
    workspace_binary("hello-service", "hello-service")
}

/// The binary `bin` of the workspace's `package`, next to the tests' own (built on demand).
pub fn workspace_binary(package: &str, bin: &str) -> PathBuf {
    let dir = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let path = dir.join(bin);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = std::process::Command::new(cargo)
            .args(["build", "-p", package, "--bin", bin])
            .status()
            .unwrap()
            .success();
        assert!(ok, "building {bin}");
    }
    path
}

/// Starts the hello-service binary on a free port of its own (a real process, to kill or stop).
pub fn hello_process(redis: &RedisServer) -> tokio::process::Child {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    tokio::process::Command::new(hello_binary())
        .env("HYDRA_REDIS_URL", redis.url())
        .env(
            "HYDRA_SERVICE",
            format!("serviceIP=127.0.0.1|servicePort={port}"),
        )
        .current_dir(std::env::temp_dir())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// A connection of the test's own to `redis`.
pub async fn redis_conn(redis: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis.connection().await
}

/// A nodes entry for instance `id` of `service` at `addr` (`ip:port`), without presence: an
/// instance that registered once.
pub async fn nodes_entry(
    r: &mut redis::aio::MultiplexedConnection,
    service: &str,
    id: &str,
    addr: &str,
) {
    let (ip, port) = addr.rsplit_once(':').unwrap();
    let entry = json!({
        "serviceName": service, "serviceDescription": "", "version": "0.0.1", "instanceID": id,
        "updatedOn": "2026-01-01T00:00:00.000Z", "processID": 1, "ip": ip,
        "port": port.parse::<u16>().unwrap(), "hostName": "x"
    });
    let _: () = redis::AsyncCommands::hset(r, hydra_core::keys::NODES, id, entry.to_string())
        .await
        .unwrap();
}

/// `GET url`, its body as JSON.
pub async fn get_json(http: &reqwest::Client, url: impl reqwest::IntoUrl) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

/// `GET url`, its body as text.
pub async fn get_text(http: &reqwest::Client, url: impl reqwest::IntoUrl) -> String {
    http.get(url).send().await.unwrap().text().await.unwrap()
}
