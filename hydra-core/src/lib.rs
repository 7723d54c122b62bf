//! # hydra-core
//!
//! A Rust implementation of the [Hydra](https://github.com/flywheelsports/hydra) microservice
//! library, wire-compatible with Node `hydra` 1.9: a Rust service and a Node service on the same
//! Redis see, message and call each other.
//!
//! Two layers. The protocol (keys, UMF, routes, Node-exact JSON, records, envelopes, config
//! types) is the [`hydra_protocol`] crate, with no I/O; it is re-exported here under the same
//! names. This crate is the engine on top of it: components that each own their state, and the
//! [`Hydra`] handle that holds them.
//!
//! A tour, in the order a service meets it:
//!
//! - [`config`]: the `hydra` config branch, loaded from a file or defaults, then
//!   `HYDRA_REDIS_URL` and `HYDRA_SERVICE` as Node applies them ([`ConfigLoader`]).
//! - [`Hydra`]: the handle. [`Hydra::connect`] reaches Redis (waiting for it, or for
//!   `redis.connectTimeoutSeconds`); [`Hydra::register_service`] makes the process an instance:
//!   service record, presence every second (TTL 3 s), health every 5 s (kept present), its two
//!   pub/sub channels, and self-healing after a Redis outage. [`Hydra::register_routes`]
//!   announces HTTP routes to the routers.
//! - [`discovery`]: services, instances, presence (cached 3 s), routes, health and health logs.
//! - [`umf`] and [`route`]: the message type (long and short field names, Node's defaults,
//!   replies, HMAC signatures identical to Node's) and `instance@service:[method]/path` routes.
//! - [`messaging`]: receive ([`Hydra::messages`]), [`Hydra::send`], [`Hydra::broadcast`],
//!   [`Hydra::reply`], and [`Hydra::request`] (send and await the reply, which Node lacks).
//! - [`queue`]: Redis message queues. [`config_store`]: stored configs (`cfg push/pull`).
//! - [`api`]: HTTP calls to instances ([`Hydra::api_request`]).
//! - [`error`]: [`HydraError`] and its [`ErrorKind`] (who caused it, whether a retry may help).
//! - [`metrics`]: what the engine counts (messages sent, received and dropped, Redis
//!   reconnects) through the `metrics` facade, for whatever recorder the program installs.
//! - [`trace`]: W3C trace context on `tracing` spans: messages sent inside a span carry its
//!   `traceparent` in `hdr`, [`trace::message_span`] continues it on receipt (`otel` feature).
//! - [`keys`]: every Redis key and channel name, in one place. [`response`]: Node's response
//!   envelope. [`records`]: the JSON records in Redis.
//!
//! Inside, the handle's files (`hydra/`: identity and lifecycle, then one file per area) hand
//! each call to the component that owns the state: `Discovery` (the presence cache),
//! `Messaging` (the inbox and waiting requests), `Registration` (the records and heartbeats),
//! `Queues`, `ConfigStore` and `ApiClient`, over one shared [`connection::Redis`]. No component
//! knows the handle, and no module imports one that imports it back.

#![warn(clippy::missing_errors_doc, clippy::missing_panics_doc)]

pub mod address;
pub mod api;
pub mod config;
pub mod config_store;
pub mod connection;
pub mod discovery;
pub mod error;
pub mod health;
mod hydra;
mod instance;
pub mod messaging;
pub mod metrics;
pub mod queue;
mod registration;
mod tasks;
pub mod trace;

pub use hydra_protocol::{jsjson, keys, records, response, route, umf};

pub use api::ApiResponse;
pub use config::{Config, ConfigLoader, HydraConfig, RedisConfig, ServicePort};
pub use error::{ErrorKind, HydraError};
pub use hydra::{Hydra, HydraBuilder, DEFAULT_API_TIMEOUT};
pub use messaging::Messages;
pub use queue::{QueueDepth, QueuedMessage};
pub use records::{HealthEntry, HealthLogEntry, NodeEntry, PortValue, ServiceEntry};
pub use route::Route;
pub use umf::Umf;

/// The crate's README, compiled as documentation tests so its example cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeExamples;
