//! A receiver of OTLP/HTTP trace exports that decodes the real protocol: `POST /v1/traces` with
//! `application/x-protobuf` (the official proto messages, via `opentelemetry-proto`) or
//! `application/json` (OTLP/JSON: camelCase fields, hex ids).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;

/// One span as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedSpan {
    /// The `service.name` of the resource that sent it.
    pub service: String,
    /// The span's name.
    pub name: String,
    /// Trace id, 32 hex digits.
    pub trace_id: String,
    /// Span id, 16 hex digits.
    pub span_id: String,
    /// Parent span id, 16 hex digits, empty for a root span.
    pub parent_span_id: String,
    /// The content type of the export that carried it.
    pub content_type: String,
}

#[derive(Debug, Default)]
struct Received {
    spans: Vec<ReceivedSpan>,
    exports: usize,
    errors: Vec<String>,
}

/// An OTLP/HTTP receiver on a free loopback port, stopped when dropped.
#[derive(Debug)]
/// # Examples
///
/// ```no_run
/// # async fn test() {
/// use hydra_testkit::OtlpReceiver;
///
/// let receiver = OtlpReceiver::start().await;
/// // Give the process under test `OTEL_EXPORTER_OTLP_ENDPOINT=<endpoint>`, make a request, then:
/// let endpoint = receiver.endpoint();
/// let spans = receiver.spans();
/// assert!(receiver.errors().is_empty(), "every export decoded");
/// if let Some(first) = spans.first() {
///     assert!(!receiver.trace(&first.trace_id).is_empty());
/// }
/// # let _ = (endpoint, receiver.requests());
/// # }
/// ```
pub struct OtlpReceiver {
    addr: SocketAddr,
    received: Arc<Mutex<Received>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn service_name(resource: Option<&opentelemetry_proto::tonic::resource::v1::Resource>) -> String {
    resource
        .into_iter()
        .flat_map(|r| &r.attributes)
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .map(|v| match v {
            AnyValue::StringValue(s) => s.clone(),
            other => format!("{other:?}"),
        })
        .unwrap_or_default()
}

fn record(received: &Mutex<Received>, request: ExportTraceServiceRequest, content_type: &str) {
    let mut r = received.lock().expect("receiver lock");
    r.exports += 1;
    for rs in request.resource_spans {
        let service = service_name(rs.resource.as_ref());
        for span in rs.scope_spans.into_iter().flat_map(|s| s.spans) {
            r.spans.push(ReceivedSpan {
                service: service.clone(),
                name: span.name,
                trace_id: hex::encode(span.trace_id),
                span_id: hex::encode(span.span_id),
                parent_span_id: hex::encode(span.parent_span_id),
                content_type: content_type.to_string(),
            });
        }
    }
}

async fn traces(
    State(received): State<Arc<Mutex<Received>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let decoded = match content_type.split(';').next().unwrap_or("").trim() {
        "application/x-protobuf" => {
            ExportTraceServiceRequest::decode(&body[..]).map_err(|e| e.to_string())
        }
        "application/json" => serde_json::from_slice(&body).map_err(|e| e.to_string()),
        other => Err(format!("unsupported content type {other:?}")),
    };
    match decoded {
        Ok(request) => {
            record(&received, request, &content_type);
            (StatusCode::OK, "{}")
        }
        Err(e) => {
            received.lock().expect("receiver lock").errors.push(e);
            (StatusCode::BAD_REQUEST, "{}")
        }
    }
}

impl OtlpReceiver {
    /// Starts a receiver on a free port of 127.0.0.1.
    ///
    /// # Examples
    ///
    /// See [`OtlpReceiver`].
    pub async fn start() -> Self {
        Self::start_on(0).await.expect("bind a free port")
    }

    /// Starts a receiver on `port` of 127.0.0.1; `None` when the port is taken.
    ///
    /// # Examples
    ///
    /// See [`OtlpReceiver`].
    pub async fn start_on(port: u16) -> Option<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .ok()?;
        let addr = listener.local_addr().ok()?;
        let received = Arc::new(Mutex::new(Received::default()));
        let app = axum::Router::new()
            .route("/v1/traces", post(traces))
            .with_state(received.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Some(Self {
            addr,
            received,
            task,
        })
    }

    /// The base URL, for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    ///
    /// # Examples
    ///
    /// See [`OtlpReceiver`].
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span received so far.
    ///
    /// # Examples
    ///
    /// See [`OtlpReceiver`].
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.received.lock().expect("receiver lock").spans.clone()
    }

    /// The spans received so far in trace `trace_id` (32 hex digits).
    ///
    /// # Examples
    ///
    /// See [`OtlpReceiver`].
    pub fn trace(&self, trace_id: &str) -> Vec<ReceivedSpan> {
        let mut spans = self.spans();
        spans.retain(|s| s.trace_id == trace_id);
        spans
    }

    /// How many export requests arrived (decoded or not).
    ///
    /// # Examples
    ///
    /// See [`OtlpReceiver`].
    pub fn requests(&self) -> usize {
        let r = self.received.lock().expect("receiver lock");
        r.exports + r.errors.len()
    }

    /// Why the exports that could not be decoded were refused.
    ///
    /// # Examples
    ///
    /// See [`OtlpReceiver`].
    pub fn errors(&self) -> Vec<String> {
        self.received.lock().expect("receiver lock").errors.clone()
    }
}
