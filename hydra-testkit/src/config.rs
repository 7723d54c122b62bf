//! Configs for services under test, on a test's own [`RedisServer`].

use hydra_core::{Config, HydraConfig, RedisConfig};
use serde_json::{json, Value};

use crate::RedisServer;

/// The config of a test service `name` on `redis`: advertised on 127.0.0.1, type `test`,
/// description `integration test`, version `0.0.1`, every other setting at its default.
pub fn service_config(redis: &RedisServer, name: &str) -> HydraConfig {
    let mut c = HydraConfig::named(name);
    c.service_ip = "127.0.0.1".into();
    c.service_type = "test".into();
    c.service_description = "integration test".into();
    c.service_version = "0.0.1".into();
    c.redis = RedisConfig::from_url(redis.url());
    c
}

/// A binary's whole config for a test: its built-in `defaults` document on `redis`, advertised on
/// 127.0.0.1, with `settings` (an object) merged into the `hydra` branch, where `HYDRA_SERVICE`
/// would put them.
///
/// # Panics
/// When the result is not a valid config.
pub fn service_document(redis: &RedisServer, mut defaults: Value, settings: &Value) -> Config {
    defaults["hydra"]["serviceIP"] = json!("127.0.0.1");
    defaults["hydra"]["redis"] = json!({"url": redis.url()});
    if let Value::Object(m) = settings {
        for (k, v) in m {
            defaults["hydra"][k] = v.clone();
        }
    }
    Config::from_value(defaults).expect("a valid test config")
}
