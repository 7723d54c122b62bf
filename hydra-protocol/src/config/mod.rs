//! The config types: the `hydra` branch of a service's config document, its Redis settings,
//! ports, stored-config labels and `HYDRA_SERVICE`, parsed from JSON as Node hydra reads them.
//! Loading them (files, the environment, a pull from Redis) is hydra-core's `ConfigLoader`.

mod credentials;
mod document;
mod error;
mod label;
mod lenient;
mod port;
mod redis;
mod service_override;
#[cfg(test)]
mod tests;

pub use credentials::redact;
pub use document::{Config, HydraConfig};
pub use error::ConfigError;
pub use label::Label;
pub use port::ServicePort;
pub use redis::{host_port, percent_encode, RedisConfig, SentinelTarget, DEFAULT_REDIS_URL};
pub use service_override::ServiceOverride;
