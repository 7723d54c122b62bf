//! # hydra-service
//!
//! What `hydra-express` is to Node: write an axum router, get a Hydra service.
//!
//! - [`HydraService`]: routes added with `.get(…)`, `.post(…)`, … are recorded and registered in
//!   Node's form (`[get]/v1/hello/test`, parameters as `:name`); `servicePort` is bound (a free
//!   port for `0` or a range) and the port actually bound is advertised; SIGTERM/Ctrl-C withdraws
//!   presence first, then drains in-flight requests under a time limit.
//! - [`Envelope`] and [`ApiError`]: Node's response envelope `{statusCode, statusMessage,
//!   statusDescription, result}`, for answers and for errors; [`status_for`] is the one place an
//!   error's kind becomes a status (400 the caller's, 502 a failed upstream, 503 nothing
//!   available, 504 no answer in time, 500 ours; no internals leaked). [`Json`]: a body extractor
//!   that answers 400/413 in that envelope.
//! - Every response carries `x-process-id`, `x-powered-by: {service}/{version}` and the request's
//!   `x-hydra-tracer`; each request runs in a tracing span. `GET /_health` reports the process's
//!   real figures (RSS, uptime).
//! - [`settings`]: settings parsed once at start; a bad value is an error naming the key and the
//!   value, and a binary exits with [`startup::EXIT_CONFIG`] (64).
//! - [`healthcheck`]: `BINARY --healthcheck` for container health checks, on the port served.
//! - [`metrics`]: Prometheus text at `GET /metrics` on a port of its own (`metricsPort`, default
//!   9464): every request's duration by method, route template and status, UMF messages sent,
//!   received and dropped, Redis reconnects.
//! - [`telemetry`]: W3C trace context and OTLP trace export by the standard `OTEL_*` variables
//!   (`otel` feature): a request's span continues the caller's `traceparent`.

#![warn(clippy::missing_errors_doc, clippy::missing_panics_doc)]

mod extract;
pub mod healthcheck;
pub mod metrics;
mod response;
mod serve;
mod service;
pub mod settings;
pub mod startup;
pub mod telemetry;

pub use extract::Json;
pub use response::{json_response, status_for, ApiError, Envelope, JSON_CONTENT_TYPE};
pub use service::{
    node_path, shutdown_signal, BoundService, HydraService, RunningService, StopSignal,
    DEFAULT_BODY_LIMIT, DEFAULT_DRAIN_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT, TRACER_HEADER,
};
pub use settings::{ServiceSettings, SettingError, DEFAULT_METRICS_PORT};

/// The crate's README, compiled as documentation tests so its example cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeExamples;

/// The workspace README's "Writing a service" example (and the rest of its Rust blocks),
/// compiled as documentation tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct WorkspaceReadmeExamples;
