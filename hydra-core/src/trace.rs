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
///
/// # Examples
///
/// ```
/// // Off until a program installs the OpenTelemetry layer and says so.
/// assert!(!hydra_core::trace::enabled());
/// ```
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Says whether the program's subscriber has the `tracing-opentelemetry` layer (so spans carry
/// trace context). Called by whoever installs it; without the `otel` feature it has no effect.
///
/// # Examples
///
/// ```
/// // After installing the `tracing-opentelemetry` layer (with the `otel` feature):
/// hydra_core::trace::set_enabled(true);
/// // On with the `otel` feature; without it, still off.
/// let on = hydra_core::trace::enabled();
/// ```
pub fn set_enabled(on: bool) {
    ENABLED.store(on && cfg!(feature = "otel"), Ordering::Relaxed);
}

/// The trace context `span` passes on: its trace id, its own id as the parent id, its flags and
/// trace state. `None` when tracing is off or the span has no valid context.
///
/// # Examples
///
/// ```
/// let span = tracing::info_span!("work");
/// if let Some(ctx) = hydra_core::trace::context_of(&span) {
///     println!("traceparent: {}", ctx.parent);
/// }
/// ```
pub fn context_of(span: &tracing::Span) -> Option<TraceContext> {
    if !enabled() || span.is_disabled() {
        return None;
    }
    imp::context_of(span)
}

/// The context of the current span ([`context_of`]).
///
/// # Examples
///
/// ```
/// // Outside any span (or with tracing off) there is nothing to pass on.
/// assert!(hydra_core::trace::current().is_none());
/// ```
pub fn current() -> Option<TraceContext> {
    if !enabled() {
        return None;
    }
    context_of(&tracing::Span::current())
}

/// Makes `span` a child of the remote span `ctx` names. Call it before the span is first
/// entered; a no-op when tracing is off.
///
/// # Examples
///
/// ```
/// use hydra_core::trace::{continue_trace, TraceContext};
/// let caller = TraceContext::from_values(
///     Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
///     None,
/// );
/// let span = tracing::info_span!("handle");
/// if let Some(ctx) = &caller {
///     continue_trace(&span, ctx);
/// }
/// ```
pub fn continue_trace(span: &tracing::Span, ctx: &TraceContext) {
    if enabled() && !span.is_disabled() {
        imp::continue_trace(span, ctx);
    }
}

/// `msg` as it goes out from inside the current span: with its `traceparent` (and
/// `tracestate`) in `hdr` when the span has trace context, else `None` (send it unchanged).
///
/// # Examples
///
/// ```
/// use hydra_core::Umf;
/// let msg = Umf::new("hello-service:/", "client:/", serde_json::json!({"ping": 1}));
/// // What a send does: the traced copy when the current span has context, else the message.
/// let traced = hydra_core::trace::outgoing(&msg);
/// let wire = traced.as_ref().unwrap_or(&msg).to_wire();
/// ```
pub fn outgoing(msg: &Umf) -> Option<Umf> {
    let ctx = current()?;
    let mut traced = msg.clone();
    ctx.write_umf_headers(&mut traced.headers);
    Some(traced)
}

/// A span for handling a received message, continuing the trace its `hdr` carries (a new trace
/// when it carries none, or an invalid one). Handle the message inside it, so what is sent
/// meanwhile (a reply, the next message) stays in the trace.
///
/// # Examples
///
/// ```no_run
/// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
/// use tracing::Instrument;
/// let mut inbox = hydra.messages();
/// while let Some(msg) = inbox.recv().await {
///     let span = hydra_core::trace::message_span(&msg);
///     // The reply goes out inside the span, so it carries the same trace.
///     hydra.reply(&msg, serde_json::json!({"ok": true})).instrument(span).await?;
/// }
/// # Ok(()) }
/// ```
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
///
/// # Examples
///
/// ```
/// use hydra_core::Umf;
/// let msg = Umf::new("hello-service:/", "client:/", serde_json::json!({"ping": 1}));
/// let span = tracing::info_span!("ping", mid = %msg.mid);
/// hydra_core::trace::continue_message_trace(&span, &msg);
/// ```
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
