#![allow(dead_code)]

use std::time::{Duration, Instant};

use hydra_core::{Hydra, HydraConfig, RedisConfig};
use hydra_testkit::RedisServer;
use redis::AsyncCommands;

pub fn config(redis: &RedisServer, name: &str) -> HydraConfig {
    let mut c = HydraConfig::named(name);
    c.service_ip = "127.0.0.1".into();
    c.service_type = "test".into();
    c.service_description = "integration test".into();
    c.service_version = "0.0.1".into();
    c.redis = RedisConfig::from_url(redis.url());
    c
}

pub async fn service(redis: &RedisServer, name: &str) -> Hydra {
    let h = Hydra::connect(config(redis, name)).await.expect("connect");
    h.register_service().await.expect("register");
    h
}

pub async fn client(redis: &RedisServer, name: &str) -> Hydra {
    Hydra::connect(config(redis, name)).await.expect("connect")
}

/// A plain redis-rs connection to look at what the library wrote.
pub async fn raw(redis: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Polls `check` every 50 ms until it holds or `within` passes; returns how long it took.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn exists(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> bool {
    conn.exists(key).await.unwrap()
}
