//! Configs for services under test, on a test's own [`RedisServer`].

use hydra_core::{Config, Hydra, HydraConfig, RedisConfig};
use serde_json::{json, Value};

use crate::RedisServer;

/// The config of a test service `name` on `redis`: advertised on 127.0.0.1, type `test`,
/// description `integration test`, version `0.0.1`, every other setting at its default.
///
/// # Examples
///
/// ```no_run
/// # async fn test() {
/// use hydra_core::Hydra;
/// use hydra_testkit::{service_config, RedisServer};
///
/// let redis = RedisServer::start();
/// let hydra = Hydra::connect(service_config(&redis, "orders")).await.unwrap();
/// hydra.register_service().await.unwrap();
/// # }
/// ```
pub fn service_config(redis: &RedisServer, name: &str) -> HydraConfig {
    let mut c = HydraConfig::named(name);
    c.service_ip = "127.0.0.1".into();
    c.service_type = "test".into();
    c.service_description = "integration test".into();
    c.service_version = "0.0.1".into();
    c.redis = RedisConfig::from_url(redis.url());
    c
}

/// A test service `name` on `redis` ([`service_config`]), connected and registered.
///
/// # Panics
/// When it cannot connect or register.
///
/// # Examples
///
/// ```no_run
/// # async fn test() {
/// use hydra_testkit::{registered_service, RedisServer};
///
/// let redis = RedisServer::start();
/// let peer = registered_service(&redis, "peer").await;
/// assert!(peer.is_registered());
/// # }
/// ```
pub async fn registered_service(redis: &RedisServer, name: &str) -> Hydra {
    let h = Hydra::connect(service_config(redis, name))
        .await
        .expect("connect");
    h.register_service().await.expect("register");
    h
}

/// A binary's whole config for a test: its built-in `defaults` document on `redis`, advertised on
/// 127.0.0.1, serving no `/metrics` (`metricsPort` 0: tests share a host, and one port), with
/// `settings` (an object) merged into the `hydra` branch, where `HYDRA_SERVICE` would put them.
///
/// # Panics
/// When the result is not a valid config.
///
/// # Examples
///
/// ```no_run
/// # async fn test() {
/// use hydra_testkit::{service_document, RedisServer};
/// use serde_json::json;
///
/// let redis = RedisServer::start();
/// // A binary's built-in defaults, as its `defaults()` gives them.
/// let defaults = json!({"hydra": {"serviceName": "orders", "servicePort": 0}});
/// let config = service_document(&redis, defaults, &json!({"requestTimeout": 2}));
/// assert_eq!(config.hydra.service_name, "orders");
/// assert_eq!(config.hydra.extra["requestTimeout"], 2);
/// # }
/// ```
pub fn service_document(redis: &RedisServer, mut defaults: Value, settings: &Value) -> Config {
    defaults["hydra"]["serviceIP"] = json!("127.0.0.1");
    defaults["hydra"]["redis"] = json!({"url": redis.url()});
    defaults["hydra"]["metricsPort"] = json!(0);
    if let Value::Object(m) = settings {
        for (k, v) in m {
            defaults["hydra"][k] = v.clone();
        }
    }
    Config::from_value(defaults).expect("a valid test config")
}

/// Runs `binary --config FILE` with `doc` in FILE (without `HYDRA_SERVICE`; `HYDRA_REDIS_URL`
/// pointing at `redis`, else unset) and asserts it refuses the config: exit code 64 and every one
/// of `named` (the key, the value) in its stderr.
///
/// # Panics
/// When it does not, or is still running after 10 s (a binary that accepted the config serves).
///
/// # Examples
///
/// ```no_run
/// # async fn test() {
/// use serde_json::json;
///
/// let bad = json!({"hydra": {"serviceName": "orders", "servicePort": "not a port"}});
/// hydra_testkit::assert_config_refused("target/debug/orders", &bad, None, &["servicePort"]).await;
/// # }
/// ```
pub async fn assert_config_refused(
    binary: &str,
    doc: &Value,
    redis: Option<&RedisServer>,
    named: &[&str],
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("config.json");
    std::fs::write(&file, doc.to_string()).expect("write the config file");
    let mut cmd = tokio::process::Command::new(binary);
    cmd.arg("--config")
        .arg(&file)
        .env_remove("HYDRA_SERVICE")
        .env_remove("HYDRA_REDIS_URL")
        .kill_on_drop(true);
    if let Some(redis) = redis {
        cmd.env("HYDRA_REDIS_URL", redis.url());
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(10), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{binary} accepted {doc}"))
        .expect("run the binary");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{doc}: {stderr}");
    for text in named {
        assert!(stderr.contains(text), "{text:?} not in: {stderr}");
    }
}
