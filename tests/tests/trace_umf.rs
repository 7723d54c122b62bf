//! Trace context over UMF: a message sent inside a span carries `traceparent` (and
//! `tracestate`) in `hdr`, a Rust receiver continues the trace, a Node peer handles and answers
//! the message as any other. Spans go over real OTLP (protobuf) to a decoding receiver.

use std::sync::OnceLock;
use std::time::Duration;

use hydra_core::trace::{self, TraceContext};
use hydra_core::Umf;
use hydra_testkit::{registered_service, wait_for, NodePeer, OtlpReceiver, RedisServer};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use serde_json::json;
use tracing::Instrument;

const WAIT: Duration = Duration::from_secs(5);

/// The process's subscriber, exporting to one receiver for every test of this file (they tell
/// their spans apart by trace id).
async fn exporting() -> &'static (OtlpReceiver, SdkTracerProvider) {
    static SETUP: tokio::sync::OnceCell<(OtlpReceiver, SdkTracerProvider)> =
        tokio::sync::OnceCell::const_new();
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    SETUP
        .get_or_init(|| async {
            // The receiver outlives each test's runtime: it runs on a runtime of its own.
            let rt = RUNTIME.get_or_init(|| tokio::runtime::Runtime::new().unwrap());
            let receiver = rt.spawn(OtlpReceiver::start()).await.unwrap();
            let endpoint = format!("{}/v1/traces", receiver.endpoint());
            let provider = std::thread::spawn(move || {
                let exporter = opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_endpoint(endpoint)
                    .build()
                    .unwrap();
                // Exported from the processor's thread, within 50 ms.
                let config = BatchConfigBuilder::default()
                    .with_scheduled_delay(Duration::from_millis(50))
                    .build();
                let processor = BatchSpanProcessor::builder(exporter)
                    .with_batch_config(config)
                    .build();
                SdkTracerProvider::builder()
                    .with_span_processor(processor)
                    .build()
            })
            .join()
            .unwrap();
            use tracing_subscriber::layer::SubscriberExt;
            let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
            tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
                .unwrap();
            trace::set_enabled(true);
            (receiver, provider)
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_and_its_reply_stay_in_the_senders_trace() {
    let (receiver, _) = exporting().await;
    let redis = RedisServer::start();
    let asker = registered_service(&redis, "asker").await;
    let answerer = registered_service(&redis, "answerer").await;
    let mut inbox = answerer.messages();

    // The answering instance handles each message in a span continuing its trace, and replies.
    let handler = {
        let answerer = answerer.clone();
        tokio::spawn(async move {
            let msg = inbox.recv().await.unwrap();
            let seen = TraceContext::from_umf_headers(msg.headers.as_ref());
            let span = trace::message_span(&msg);
            let mine = trace::context_of(&span);
            async { answerer.reply(&msg, json!({"ok": true})).await.unwrap() }
                .instrument(span)
                .await;
            (seen, mine)
        })
    };

    let span = tracing::info_span!("ask");
    let sender = trace::context_of(&span).expect("the span has a trace context");
    let reply = asker
        .request(Umf::new("answerer:/", "asker:/", json!({"q": 1})), WAIT)
        .instrument(span)
        .await
        .unwrap();
    let (seen, handling) = handler.await.unwrap();

    // The message carried the sender's span as parent.
    let seen = seen.expect("traceparent in hdr");
    assert_eq!(seen.parent, sender.parent);
    // The handling span is in the same trace, a new span of its own.
    let handling = handling.expect("the handling span has a context");
    assert_eq!(handling.parent.trace_id, sender.parent.trace_id);
    assert_ne!(handling.parent.parent_id, sender.parent.parent_id);
    // The reply carries the handling span.
    let back = TraceContext::from_umf_headers(reply.headers.as_ref()).expect("traceparent");
    assert_eq!(back.parent, handling.parent);

    // Exported: the handling span is the sender span's child.
    let trace_id = sender.parent.trace_id_hex();
    let spans = wait_for(WAIT, "both spans exported", || async {
        let spans = receiver.trace(&trace_id);
        (spans.len() >= 2).then_some(spans)
    })
    .await;
    let ask = spans.iter().find(|s| s.name == "ask").unwrap();
    let handled = spans.iter().find(|s| s.name == "answerer:/").unwrap();
    assert_eq!(handled.parent_span_id, ask.span_id);
    assert_eq!(ask.parent_span_id, "");
    assert!(receiver.errors().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_peer_answers_a_traced_message_as_any_other() {
    exporting().await;
    let redis = RedisServer::start();
    let rust = registered_service(&redis, "rust-svc").await;
    let mut inbox = rust.messages();
    let mut node = NodePeer::start(&redis.url(), "node-peer").await;

    // Node to Rust: a message from Node (no trace context) reaches Rust unchanged.
    let node_id = node.instance_id();
    let out = json!({"to": "rust-svc:/", "frm": format!("{node_id}@node-peer:/"), "bdy": {"m": 1}});
    node.call("sendMessage", json!([out])).await.unwrap();
    let got = tokio::time::timeout(WAIT, inbox.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.headers, None);

    let span = tracing::info_span!("ask-node");
    let sender = trace::context_of(&span).unwrap();
    let mut req = Umf::new("node-peer:/", "rust-svc:/", json!({"n": 7})).with_type("echo");
    req.headers = Some(json!({"x-app": "kept"}));
    let mid = req.mid.clone();
    let answer = rust
        .request(req, WAIT)
        .instrument(span)
        .await
        .expect("node answers");
    assert_eq!(answer.rmid.as_deref(), Some(mid.as_str()));
    assert_eq!(answer.body, json!({"echo": {"n": 7}, "from": "node"}));

    // What Node received: its own header kept, the trace context beside it.
    let seen = node.next_message(WAIT).await.unwrap();
    assert_eq!(seen["mid"], mid.as_str());
    assert_eq!(seen["hdr"]["x-app"], "kept");
    assert_eq!(seen["hdr"]["traceparent"], sender.parent.to_header());
    // Node's reply copies the original's `hdr`, as it copies every field.
    assert_eq!(
        TraceContext::from_umf_headers(answer.headers.as_ref()).map(|c| c.parent),
        Some(sender.parent)
    );

    node.shutdown().await;
    rust.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_a_span_messages_are_unchanged() {
    exporting().await;
    let msg = Umf::new("a:/", "b:/", json!({"k": 1}));
    // No current span: nothing to add, the message goes out as it is.
    assert!(trace::outgoing(&msg).is_none());
    let span = tracing::info_span!("inside");
    let traced = span.in_scope(|| trace::outgoing(&msg)).expect("traced");
    let hdr = traced.headers.unwrap();
    assert!(TraceContext::from_umf_headers(Some(&hdr)).is_some());
    // Signing covers the added keys.
    let mut signed = trace::outgoing(&msg).unwrap_or(msg.clone());
    signed.headers = Some(hdr);
    signed.sign(b"secret");
    assert!(signed.verify(b"secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_verifies_the_signature_over_the_trace_context() {
    exporting().await;
    let redis = RedisServer::start();
    let mut node =
        NodePeer::start_with(&redis.url(), "node-signer", &[("PEER_REGISTER", "0")]).await;
    let secret = "s3cret-key";
    let mut msg = Umf::new("node:/", "rust:/", json!({"n": 1}));
    msg.headers = Some(json!({"a": "b"}));
    let span = tracing::info_span!("signed");
    let mut traced = span.in_scope(|| trace::outgoing(&msg)).expect("traced");
    traced.headers.as_mut().unwrap()["tracestate"] = json!("vendor=x");
    traced.sign(secret.as_bytes());
    let verdict = node
        .call("verify", json!([traced.to_short(), secret]))
        .await
        .unwrap();
    assert_eq!(verdict["valid"], json!(true), "{verdict}");
    node.shutdown().await;
}
