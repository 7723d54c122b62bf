//! W3C trace context of forwarded requests: with trace export on, each forwarded request is a
//! span that continues the client's `traceparent` (or starts a trace), and the service gets
//! that span's `traceparent`. With export off this is one atomic load, and the client's
//! `traceparent` and `tracestate` pass through untouched like any other header.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use hydra_core::trace::{self, TraceContext};

const TRACEPARENT: HeaderName = HeaderName::from_static(trace::TRACEPARENT);
const TRACESTATE: HeaderName = HeaderName::from_static(trace::TRACESTATE);

/// The span of one forwarded request, when tracing is on: continues the client's trace and
/// writes its own `traceparent` (and the `tracestate`) into `headers`. Keep it until the
/// answer is in.
pub(crate) fn forwarded(
    headers: &mut HeaderMap,
    method: &Method,
    service: &str,
) -> Option<tracing::Span> {
    if !trace::enabled() {
        return None;
    }
    let span = tracing::info_span!(
        "forward",
        otel.name = %format_args!("{method} {service}"),
        otel.kind = "server",
        service,
    );
    let header = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(client) = TraceContext::from_values(header(&TRACEPARENT), header(&TRACESTATE)) {
        trace::continue_trace(&span, &client);
    }
    // Not recorded here (no valid context): the client's context goes on as it came.
    if let Some(ctx) = trace::context_of(&span) {
        if let Ok(v) = HeaderValue::from_str(&ctx.parent.to_header()) {
            headers.insert(TRACEPARENT, v);
        }
        match ctx.state.and_then(|s| HeaderValue::from_str(&s).ok()) {
            Some(v) => headers.insert(TRACESTATE, v),
            None => headers.remove(TRACESTATE),
        };
    }
    Some(span)
}
