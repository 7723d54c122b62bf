//! # hydra-core
//!
//! A Rust implementation of the [Hydra](https://github.com/flywheelsports/hydra) microservice
//! library, wire-compatible with Node `hydra` 1.9: a Rust service and a Node service on the same
//! Redis see, message and call each other.
//!
//! A tour, in the order a service meets it:
//!
//! - [`config`]: the `hydra` config branch, loaded from a file or defaults, then
//!   `HYDRA_REDIS_URL` and `HYDRA_SERVICE` as Node applies them ([`ConfigLoader`]).
//! - [`Hydra`]: the handle. [`Hydra::connect`] reaches Redis (retrying for a bounded time);
//!   [`Hydra::register_service`] makes the process an instance: service record, presence every
//!   second (TTL 3 s), health every 5 s, its two pub/sub channels, and self-healing after a Redis
//!   outage. [`Hydra::register_routes`] announces HTTP routes to the routers.
//! - [`discovery`]: services, instances, presence (cached 3 s), routes, health and health logs.
//! - [`umf`] and [`route`]: the message type (long and short field names, Node's defaults,
//!   replies, HMAC signatures identical to Node's) and `instance@service:[method]/path` routes.
//! - [`messaging`]: receive ([`Hydra::messages`]), [`Hydra::send`], [`Hydra::broadcast`],
//!   [`Hydra::reply`], and [`Hydra::request`] (send and await the reply, which Node lacks).
//! - [`queue`]: Redis message queues. [`config_store`]: stored configs (`cfg push/pull`).
//! - [`api`]: HTTP calls to instances ([`Hydra::api_request`]).
//! - [`keys`]: every Redis key and channel name, in one place. [`response`]: Node's response
//!   envelope. [`records`]: the JSON records in Redis.

pub mod address;
pub mod api;
pub mod config;
pub mod config_store;
pub mod connection;
pub mod discovery;
pub mod error;
pub mod health;
mod hydra;
pub mod messaging;
pub mod queue;

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
