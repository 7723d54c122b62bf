#![allow(dead_code)]

use hydra_core::Hydra;
use hydra_testkit::{service_config, RedisServer};
use redis::AsyncCommands;

pub async fn client(redis: &RedisServer, name: &str) -> Hydra {
    Hydra::connect(service_config(redis, name))
        .await
        .expect("connect")
}

pub async fn exists(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> bool {
    conn.exists(key).await.unwrap()
}
