//! Test support for hydra-rs.
//!
//! - [`RedisServer`]: a real `redis-server` on a free port of its own, in a temporary directory,
//!   killed when dropped. Every test starts its own, so tests run in parallel and never touch 6379.
//! - [`SentinelSet`]: a master, a replica and three Sentinels, for failover tests.
//! - [`NodePeer`]: a real Node hydra 1.9.3 process (the script in this crate's `node/`) driven
//!   over JSON lines, for cross-language tests; the npm packages come from `$HYDRA_NODE_DIR`
//!   ([`node_dir`]).
//! - [`service_config`], [`registered_service`], [`service_document`]: a service under test on
//!   that Redis;
//!   [`assert_config_refused`]: a binary exits 64 on a config file, naming what is wrong.
//! - [`OtlpReceiver`]: an OTLP/HTTP trace receiver decoding protobuf and JSON exports;
//!   [`metric_samples`]: the samples of a `/metrics` scrape.
//! - [`wait_until`], [`wait_for`], [`wait_registered`]: wait for a condition with a deadline
//!   rather than sleep for a guessed time.

#![warn(clippy::missing_errors_doc)]

mod config;
mod node;
mod otlp;
mod prometheus;
mod redis_server;
mod sentinel;
mod wait;

pub use config::{assert_config_refused, registered_service, service_config, service_document};
pub use node::{interop_dir, node_dir, NodePeer, NodeProcess, NODE_DIR_ENV};
pub use otlp::{OtlpReceiver, ReceivedSpan};
pub use prometheus::metric_samples;
pub use redis_server::{free_port, raw_command_at, RedisServer};
pub use sentinel::{SentinelSet, MASTER_NAME};
pub use wait::{wait_for, wait_registered, wait_until};

/// The root of the hydra-rs repository this crate was built from (its tests' fixtures live
/// there). Built from a registry, a folder that does not hold the repository.
///
/// # Examples
///
/// ```no_run
/// let dashboard = hydra_testkit::workspace_root().join("deploy/grafana/hydra-services.json");
/// # let _ = dashboard;
/// ```
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The crate's README, compiled as documentation tests so its example cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeExamples;
