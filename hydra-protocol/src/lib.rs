//! # hydra-protocol
//!
//! The Hydra wire protocol as data, with no I/O: no sockets, no Redis client, no runtime. What
//! two Hydra peers (Rust or Node) must agree on lives here, and nothing else does:
//!
//! - [`keys`]: every Redis key, channel name, interval and TTL.
//! - [`umf`]: the UMF message (long and short field names, Node's defaults, replies, HMAC
//!   signatures identical to Node's); [`route`]: `instance@service:[method]/path`.
//! - [`jsjson`]: JSON written byte for byte as Node's `JSON.stringify` writes it; [`canonical`]:
//!   telling text already in that form, to splice it without parsing.
//! - [`records`]: the JSON records kept in Redis (service, nodes, health, health log);
//!   [`response`]: Node's response envelope.
//! - [`config`]: the `hydra` config branch and its parts, parsed as Node reads them.
//! - [`trace`]: W3C Trace Context (`traceparent`, `tracestate`) as HTTP headers and UMF `hdr`
//!   keys.
//!
//! `hydra-core` (the engine: connection, registration, messaging, discovery, queues, API calls,
//! the config loader) builds on it and re-exports it; the router, the CLI and the fuzz targets
//! can use it alone.

#![warn(clippy::missing_errors_doc, clippy::missing_panics_doc)]

pub mod canonical;
pub mod config;
pub mod jsjson;
pub mod keys;
pub mod records;
pub mod response;
pub mod route;
#[cfg(test)]
mod testdata;
pub mod trace;
pub mod umf;

pub use records::{HealthEntry, HealthLogEntry, NodeEntry, PortValue, ServiceEntry};
pub use route::Route;
pub use umf::Umf;

/// The crate's README, compiled as documentation tests so its example cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeExamples;
