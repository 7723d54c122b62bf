//! Prometheus metrics: every request's duration, and what hydra-core counts (UMF messages sent,
//! received and dropped, Redis reconnects: see [`hydra_core::metrics`]), served as Prometheus
//! text at `GET /metrics` on a port of its own (`metricsPort`, default 9464, `0` for none),
//! never on the service port, so never reachable through a router.
//!
//! The request histogram is OpenTelemetry's `http.server.request.duration` (seconds) under the
//! names the OpenTelemetry Prometheus exporter gives it: `http_server_request_duration_seconds`
//! with `http_request_method` (`GET`, …, `_OTHER` for a method outside HTTP's own),
//! `http_route` (the route template in Node's form, `/v1/items/:id`, never the path asked for;
//! absent when no route matched, so unknown paths add no series) and
//! `http_response_status_code`.
//!
//! One recorder per process, installed by the first service that serves metrics: the services
//! of one process share it, and each one's `/metrics` shows the process's figures.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::service::node_path;

/// The request duration histogram (OpenTelemetry `http.server.request.duration`, seconds).
pub const HTTP_REQUEST_DURATION: &str = "http_server_request_duration_seconds";
/// Its method label (`http.request.method`).
pub const METHOD_LABEL: &str = "http_request_method";
/// Its route template label (`http.route`).
pub const ROUTE_LABEL: &str = "http_route";
/// Its status label (`http.response.status_code`).
pub const STATUS_LABEL: &str = "http_response_status_code";
/// The content type of `/metrics` (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Bucket bounds in seconds: OpenTelemetry's defaults for this histogram, with 0.5, 1 and 2.5 ms
/// added below them, since a service answers in about a millisecond.
pub const DURATION_BUCKETS: [f64; 17] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
    7.5, 10.0,
];

/// How often histograms are folded up when nobody scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's Prometheus recorder (once; later calls return the same handle) and
/// makes hydra-core's series exist. `None` when the program installed another recorder first:
/// its metrics are its own business then, and no `/metrics` is served.
///
/// # Panics
/// When the operating system cannot start the thread that keeps the histograms folded up.
///
/// # Examples
///
/// ```
/// if let Some(recorder) = hydra_service::metrics::install() {
///     let text = recorder.render();
///     assert!(text.contains("hydra_messages_sent_total"));
/// }
/// ```
pub fn install() -> Option<&'static PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(HTTP_REQUEST_DURATION.to_string()),
                    &DURATION_BUCKETS,
                )
                .expect("buckets are not empty");
            let handle = match builder.install_recorder() {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed; /metrics not served");
                    return None;
                }
            };
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(UPKEEP_INTERVAL);
                    upkeep.run_upkeep();
                })
                .expect("spawn the metrics upkeep thread");
            hydra_core::metrics::register();
            metrics::describe_histogram!(
                HTTP_REQUEST_DURATION,
                metrics::Unit::Seconds,
                "duration of HTTP requests served, by method, route template and status"
            );
            Some(handle)
        })
        .as_ref()
}

/// The method as OpenTelemetry names it: HTTP's own methods, anything else `_OTHER` (so a client
/// cannot add series by inventing methods).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => "_OTHER",
    }
}

/// Middleware (on the router, so after routing): times the request and records it.
pub(crate) async fn track(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| node_path(p.as_str()));
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    let seconds = started.elapsed().as_secs_f64();
    match route {
        Some(route) => metrics::histogram!(
            HTTP_REQUEST_DURATION,
            METHOD_LABEL => method,
            ROUTE_LABEL => route,
            STATUS_LABEL => status
        )
        .record(seconds),
        None => metrics::histogram!(
            HTTP_REQUEST_DURATION,
            METHOD_LABEL => method,
            STATUS_LABEL => status
        )
        .record(seconds),
    }
    resp
}

/// Binds the metrics port on every address. When it cannot be had (another instance on this
/// host holds it), says so and returns `None`: the service serves without metrics.
pub(crate) async fn bind(port: u16) -> Option<TcpListener> {
    match TcpListener::bind(("0.0.0.0", port)).await {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::warn!(
                port, error = %e,
                "/metrics not served: its port cannot be bound (set hydra.metricsPort to a free port, or 0 for none)"
            );
            None
        }
    }
}

/// Serves `GET /metrics` from `handle` on `listener` (until the task is dropped), closing the
/// connection of a client that takes longer than `header_read_timeout` to send a request head.
pub(crate) async fn serve(
    listener: TcpListener,
    handle: &'static PrometheusHandle,
    header_read_timeout: Duration,
) {
    let addr = listener
        .local_addr()
        .map_or_else(|_| String::new(), |a| a.to_string());
    let app = Router::new().route(
        "/metrics",
        axum::routing::get(move || async move {
            ([(header::CONTENT_TYPE, CONTENT_TYPE)], handle.render()).into_response()
        }),
    );
    tracing::info!(%addr, "serving /metrics");
    crate::serve::serve(listener, app, header_read_timeout, std::future::pending()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_http_are_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        let invented = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&invented), "_OTHER");
    }
}
