//! Trace context on `tracing` spans: what a message sent inside a span carries in its `hdr`, and
//! how a span continues the trace a request or message arrived with.
//!
//! The values themselves ([`TraceParent`], [`TraceContext`]) are [`hydra_protocol::trace`]. Spans
//! get trace and span ids from OpenTelemetry, through `tracing-opentelemetry`, with the `otel`
//! feature and once a program has installed that layer (hydra-service does when an OTLP
//! endpoint is configured) and said so with [`set_enabled`]. Otherwise every function here is a
//! no-op that costs one atomic load: nothing is added to messages, and a message is written byte
//! for byte as before.

use std::sync::atomic::{AtomicBool, Ordering};

pub use hydra_protocol::trace::{TraceContext, TraceParent, TRACEPARENT, TRACESTATE};

use crate::umf::Umf;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether spans carry trace context (the OpenTelemetry layer is installed).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Says whether the program's subscriber has the `tracing-opentelemetry` layer (so spans carry
/// trace context). Called by whoever installs it; without the `otel` feature it has no effect.
pub fn set_enabled(on: bool) {
    ENABLED.store(on && cfg!(feature = "otel"), Ordering::Relaxed);
}

/// The trace context `span` passes on: its trace id, its own id as the parent id, its flags and
/// trace state. `None` when tracing is off or the span has no valid context.
pub fn context_of(span: &tracing::Span) -> Option<TraceContext> {
    if !enabled() || span.is_disabled() {
        return None;
    }
    imp::context_of(span)
}

/// The context of the current span ([`context_of`]).
pub fn current() -> Option<TraceContext> {
    if !enabled() {
        return None;
    }
    context_of(&tracing::Span::current())
}

/// Makes `span` a child of the remote span `ctx` names. Call it before the span is first
/// entered; a no-op when tracing is off.
pub fn continue_trace(span: &tracing::Span, ctx: &TraceContext) {
    if enabled() && !span.is_disabled() {
        imp::continue_trace(span, ctx);
    }
}

/// `msg` as it goes out from inside the current span: with its `traceparent` (and
/// `tracestate`) in `hdr` when the span has trace context, else `None` (send it unchanged).
pub fn outgoing(msg: &Umf) -> Option<Umf> {
    let ctx = current()?;
    let mut traced = msg.clone();
    ctx.write_umf_headers(&mut traced.headers);
    Some(traced)
}

/// A span for handling a received message, continuing the trace its `hdr` carries (a new trace
/// when it carries none, or an invalid one). Handle the message inside it, so what is sent
/// meanwhile (a reply, the next message) stays in the trace.
pub fn message_span(msg: &Umf) -> tracing::Span {
    let span = tracing::info_span!(
        "umf.receive",
        otel.name = %msg.to,
        otel.kind = "consumer",
        umf.mid = %msg.mid,
        umf.from = %msg.from,
        umf.typ = msg.typ.as_deref().unwrap_or(""),
    );
    continue_message_trace(&span, msg);
    span
}

/// Makes `span` continue the trace `msg` carries in its `hdr`, if any (see [`continue_trace`]).
pub fn continue_message_trace(span: &tracing::Span, msg: &Umf) {
    if !enabled() {
        return;
    }
    if let Some(ctx) = TraceContext::from_umf_headers(msg.headers.as_ref()) {
        continue_trace(span, &ctx);
    }
}

#[cfg(feature = "otel")]
mod imp {
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    use super::{TraceContext, TraceParent};

    pub(super) fn context_of(span: &tracing::Span) -> Option<TraceContext> {
        let cx = span.context();
        let sc = cx.span().span_context().clone();
        if !sc.is_valid() {
            return None;
        }
        let state = sc.trace_state().header();
        Some(TraceContext {
            parent: TraceParent {
                trace_id: sc.trace_id().to_bytes(),
                parent_id: sc.span_id().to_bytes(),
                flags: sc.trace_flags().to_u8(),
            },
            state: (!state.is_empty()).then_some(state),
        })
    }

    pub(super) fn continue_trace(span: &tracing::Span, ctx: &TraceContext) {
        let state = ctx
            .state
            .as_deref()
            .and_then(|s| s.parse::<TraceState>().ok())
            .unwrap_or_default();
        let remote = SpanContext::new(
            TraceId::from_bytes(ctx.parent.trace_id),
            SpanId::from_bytes(ctx.parent.parent_id),
            TraceFlags::new(ctx.parent.flags),
            true,
            state,
        );
        let parent = opentelemetry::Context::new().with_remote_span_context(remote);
        if let Err(e) = span.set_parent(parent) {
            tracing::debug!(error = %e, "span cannot continue the trace");
        }
    }
}

#[cfg(not(feature = "otel"))]
mod imp {
    use super::TraceContext;

    pub(super) fn context_of(_span: &tracing::Span) -> Option<TraceContext> {
        None
    }

    pub(super) fn continue_trace(_span: &tracing::Span, _ctx: &TraceContext) {}
}
