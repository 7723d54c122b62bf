#![allow(dead_code)]

use hydra_core::Hydra;
use hydra_testkit::{service_config, RedisServer};
use redis::AsyncCommands;

pub async fn service(redis: &RedisServer, name: &str) -> Hydra {
    let h = Hydra::connect(service_config(redis, name))
        .await
        .expect("connect");
    h.register_service().await.expect("register");
    h
}

pub async fn client(redis: &RedisServer, name: &str) -> Hydra {
    Hydra::connect(service_config(redis, name))
        .await
        .expect("connect")
}

/// A plain redis-rs connection to look at what the library wrote.
pub async fn raw(redis: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

pub async fn exists(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> bool {
    conn.exists(key).await.unwrap()
}
