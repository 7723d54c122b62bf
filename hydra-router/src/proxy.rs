//! Forwarding one HTTP request to an instance of a service, and shaping its answer as the Node
//! router does: JSON answers merged into the envelope (gzip when the client accepts it), other
//! answers passed through byte for byte.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, Response, Uri};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hydra_core::response;

use crate::config::RouterConfig;
use crate::error::Refusal;
use crate::h1::client::{self, Returning, SendError, Timeouts};
use crate::h1::head::content_length;
use crate::metrics::{Ejection, Retry};
use crate::pool::Instance;
use crate::state::RouterState;

/// Largest JSON answer the router rewrites; larger ones pass through untouched.
const MAX_JSON_REWRITE: usize = 16 * 1024 * 1024;

/// The `x-hydra-tracer` header: the request's tracer id, to the service and back to the client.
pub const TRACER_HEADER: HeaderName = HeaderName::from_static("x-hydra-tracer");

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// Headers that belong to one hop and are never forwarded.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Whether `name` is one of [`HOP_BY_HOP`] (compared without making the list: a `const` array
/// is built, and dropped, at each use).
fn is_hop_by_hop(name: &HeaderName) -> bool {
    *name == header::CONNECTION
        || *name == header::PROXY_AUTHENTICATE
        || *name == header::PROXY_AUTHORIZATION
        || *name == header::TE
        || *name == header::TRAILER
        || *name == header::TRANSFER_ENCODING
        || *name == header::UPGRADE
        || name.as_str() == "keep-alive"
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages have none: one look at each name before removing anything.
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The received-by names of the `Via` headers (`1.1 name, 1.1 other` → `[name, other]`).
fn via_values(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::VIA)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|hop| hop.split_whitespace().nth(1).map(String::from))
        .collect()
}

/// Why a request body could not be read.
enum BodyError {
    TooLarge,
    /// Too slow: the reason, for the 408.
    Slow(String),
    Broken(String),
}

/// Reads a request body of at most `limit` bytes, each chunk within `bodyIdleTimeout` of the
/// last and the whole within `bodyReadTimeout`, so a client trickling its body cannot hold a
/// connection and a task for ever.
async fn read_body(body: Body, limit: usize, config: &RouterConfig) -> Result<Bytes, BodyError> {
    let deadline = tokio::time::Instant::now() + config.body_read_timeout;
    let mut body = Limited::new(body, limit);
    let mut out = bytes::BytesMut::new();
    loop {
        let idle = tokio::time::Instant::now() + config.body_idle_timeout;
        let frame = match tokio::time::timeout_at(idle.min(deadline), body.frame()).await {
            Err(_) if tokio::time::Instant::now() >= deadline => {
                return Err(BodyError::Slow(format!(
                    "the request body took longer than {:?}",
                    config.body_read_timeout
                )))
            }
            Err(_) => {
                return Err(BodyError::Slow(format!(
                    "no request body data for {:?}",
                    config.body_idle_timeout
                )))
            }
            Ok(None) => return Ok(out.freeze()),
            Ok(Some(Err(e))) if e.is::<http_body_util::LengthLimitError>() => {
                return Err(BodyError::TooLarge)
            }
            Ok(Some(Err(e))) => return Err(BodyError::Broken(e.to_string())),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            out.extend_from_slice(&data);
        }
    }
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("gzip"))
}

fn is_idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// One request on its way to a service: what every step needs to answer it.
struct Forwarding<'a> {
    state: &'a RouterState,
    service: &'a str,
    tracer: &'a str,
    started: Instant,
}

impl Forwarding<'_> {
    /// The router's own answer, counted as forwarded ones are.
    fn refuse(&self, refusal: Refusal) -> Response<Body> {
        self.state
            .metrics
            .request(self.service, refusal.status(), self.started.elapsed());
        refusal.into_response(Some(self.tracer))
    }
}

/// Forwards `req` to `service` at `path_and_query` (the route already resolved): reads the
/// request, picks the instances, sends it (another instance on a refused connection), and
/// shapes the answer.
pub async fn forward(
    state: &RouterState,
    req: Request<Body>,
    peer: Option<SocketAddr>,
    service: &str,
    path_and_query: &str,
    tracer: &str,
) -> Response<Body> {
    let f = Forwarding {
        state,
        service,
        tracer,
        started: Instant::now(),
    };
    let (parts, body) = req.into_parts();
    let sent = async {
        let via = refuse_loops(&f, &parts.headers)?;
        let body = read_request_body(&state.config, &parts.headers, body).await?;
        let mut headers = parts.headers;
        strip_hop_by_hop(&mut headers);
        let body = gunzip_request_body(&mut headers, body, state.config.body_limit)?;
        let client_gzip = accepts_gzip(&headers);
        let mut headers = upstream_headers(&f, headers, peer, via);
        let _span = crate::trace_context::forwarded(&mut headers, &parts.method, service);
        let instances = pick_instances(&f)?;
        // The `Host` sent is each instance's own, written by `client::send`.
        let mut upstream = Request::new(body);
        *upstream.method_mut() = parts.method;
        *upstream.uri_mut() = origin_form(&parts.uri, path_and_query)?;
        *upstream.headers_mut() = headers;
        let resp = send_with_retry(&f, upstream, instances).await?;
        Ok::<_, Refusal>((resp, client_gzip))
    };
    match sent.await {
        Ok((resp, client_gzip)) => shape_response(state, resp, tracer, client_gzip).await,
        Err(refusal) => f.refuse(refusal),
    }
}

/// A request that already passed through this router is in a loop (a nodes entry that points at
/// a router, this one or another): refused rather than forwarded again. Else the `Via` hops so far.
fn refuse_loops(f: &Forwarding<'_>, headers: &HeaderMap) -> Result<Vec<String>, Refusal> {
    let via = via_values(headers);
    if via.iter().any(|hop| hop == &f.state.via_name) {
        let (service, tracer) = (f.service, f.tracer);
        tracing::warn!(%service, %tracer, "request came back to this router: forwarding loop refused");
        return Err(Refusal::Loop);
    }
    Ok(via)
}

fn too_large(limit: usize) -> Refusal {
    Refusal::TooLarge(format!("request body is larger than {limit} bytes"))
}

/// The request body, within `bodyLimit` (as declared and as read) and the body timeouts.
async fn read_request_body(
    config: &RouterConfig,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, Refusal> {
    // Most requests (GETs) have no body: nothing to wait for, and no timer to set.
    if axum::body::HttpBody::is_end_stream(&body) {
        return Ok(Bytes::new());
    }
    let limit = config.body_limit;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| content_length(v.as_bytes()));
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    read_body(body, limit, config).await.map_err(|e| match e {
        BodyError::TooLarge => too_large(limit),
        BodyError::Slow(what) => Refusal::SlowBody(what),
        BodyError::Broken(e) => {
            Refusal::BadRequest(format!("could not read the request body: {e}"))
        }
    })
}

/// A gzipped request body is sent on plain (within `limit` once unpacked), its headers adjusted.
fn gunzip_request_body(
    headers: &mut HeaderMap,
    body: Bytes,
    limit: usize,
) -> Result<Bytes, Refusal> {
    let gzipped = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("gzip"));
    if !gzipped {
        return Ok(body);
    }
    let mut out = Vec::new();
    let read = flate2::read::GzDecoder::new(&body[..])
        .take(limit as u64 + 1)
        .read_to_end(&mut out);
    match read {
        Ok(n) if n > limit => return Err(too_large(limit)),
        Ok(_) => {}
        Err(e) => return Err(Refusal::BadRequest(format!("invalid gzip body: {e}"))),
    }
    headers.remove(header::CONTENT_ENCODING);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(out.len()));
    Ok(Bytes::from(out))
}

/// The headers the service gets: the client's (hop-by-hop ones gone), the tracer, the
/// forwarding chain (`X-Forwarded-For`, `X-Real-IP`, `Via`, `X-Forwarded-Host`), no
/// `Accept-Encoding` (the service answers plainly; the router compresses what it rewrites, as
/// Node).
fn upstream_headers(
    f: &Forwarding<'_>,
    mut headers: HeaderMap,
    peer: Option<SocketAddr>,
    via: Vec<String>,
) -> HeaderMap {
    headers.remove(header::ACCEPT_ENCODING);
    headers.insert(TRACER_HEADER, tracer_value(f.tracer));
    match peer.and_then(|p| ip_value(p.ip())) {
        Some(ip) => {
            // Every X-Forwarded-For the client sent, in order, then the address it came from.
            let mut chain: Vec<&str> = headers
                .get_all(&X_FORWARDED_FOR)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .collect();
            let forwarded = if chain.is_empty() {
                ip.clone()
            } else {
                chain.push(ip.to_str().unwrap_or_default());
                HeaderValue::from_str(&chain.join(", ")).unwrap_or_else(|_| ip.clone())
            };
            headers.insert(X_FORWARDED_FOR, forwarded);
            // X-Real-IP is this router's word, never the client's.
            headers.insert(X_REAL_IP, ip);
        }
        None => {
            headers.remove(X_REAL_IP);
        }
    }
    let via = if via.is_empty() {
        Some(f.state.via_header.clone())
    } else {
        let mut hops = via;
        hops.push(f.state.via_name.clone());
        HeaderValue::from_str(&format!("1.1 {}", hops.join(", 1.1 "))).ok()
    };
    if let Some(via) = via {
        headers.insert(header::VIA, via);
    }
    if let Some(host) = headers.get(header::HOST).cloned() {
        headers.insert(X_FORWARDED_HOST, host);
    }
    headers
}

/// An address as a header value (IPv4 written by hand: the formatter is slow for a hot path).
fn ip_value(ip: IpAddr) -> Option<HeaderValue> {
    match ip {
        IpAddr::V4(v4) => {
            let mut buf = [0u8; 15];
            let mut n = 0;
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    buf[n] = b'.';
                    n += 1;
                }
                if o >= 100 {
                    buf[n] = b'0' + o / 100;
                    n += 1;
                }
                if o >= 10 {
                    buf[n] = b'0' + (o / 10) % 10;
                    n += 1;
                }
                buf[n] = b'0' + o % 10;
                n += 1;
            }
            HeaderValue::from_bytes(&buf[..n]).ok()
        }
        IpAddr::V6(_) => HeaderValue::from_str(&ip.to_string()).ok(),
    }
}

/// The tracer id as a header value.
fn tracer_value(tracer: &str) -> HeaderValue {
    HeaderValue::from_str(tracer).unwrap_or(HeaderValue::from_static("0"))
}

/// The instances to try, best first, never this router itself; 503 when the service has none.
fn pick_instances(f: &Forwarding<'_>) -> Result<Vec<Arc<Instance>>, Refusal> {
    let candidates = f.state.pool.candidates(f.service);
    if candidates.is_empty() {
        return Err(Refusal::no_instances(f.service));
    }
    Ok(candidates
        .into_iter()
        .filter(|i| !f.state.is_self(i))
        .collect())
}

/// The request target sent to the instance: the client's own when the route kept it as it was.
fn origin_form(client: &Uri, path_and_query: &str) -> Result<Uri, Refusal> {
    if client.scheme().is_none()
        && client.path_and_query().map(|p| p.as_str()) == Some(path_and_query)
    {
        return Ok(client.clone());
    }
    path_and_query
        .parse()
        .map_err(|_| Refusal::BadRequest("invalid request path".into()))
}

/// Whether a request that failed on its way may go out again: when none of it went out, or when
/// sending it twice is harmless (an idempotent method, RFC 9110 §9.2.2). A request whose bytes
/// started to go out may have been acted on.
fn may_send_again(e: &SendError, method: &Method) -> bool {
    !e.request_sent() || is_idempotent(method)
}

/// Sends the request to the first instance that takes it: one that refuses the connection (or
/// fails with a request that may go out again) is ejected and the next one tried; no answer
/// within `requestTimeout` is a 504.
async fn send_with_retry(
    f: &Forwarding<'_>,
    req: Request<Bytes>,
    instances: Vec<Arc<Instance>>,
) -> Result<Response<Returning>, Refusal> {
    let (state, service, tracer) = (f.state, f.service, f.tracer);
    let timeout = state.config.request_timeout;
    let timeouts = Timeouts {
        answer: timeout,
        idle: state.config.response_idle_timeout,
        whole: state.config.response_read_timeout,
    };
    let count = instances.len();
    let (metrics, eject_for) = (&state.metrics, state.config.eject_for);
    for (i, instance) in instances.into_iter().enumerate() {
        let last = i + 1 == count;
        let under_way = instance.start_request();
        let sent = Instant::now();
        // A kept connection that failed gives way to another when the request may go again.
        let again = |e: &SendError| may_send_again(e, req.method());
        let answer = client::send(&instance.authority, &req, timeouts, again).await;
        drop(under_way);
        let id = instance.id.as_str();
        match answer {
            Err(e) if e.timed_out() => {
                metrics.timed_out(service, id);
                if state.pool.record_timeout(id, eject_for) {
                    metrics.ejected(service, id, Ejection::Timeouts);
                }
                tracing::warn!(%service, instance = %id, %tracer, "service did not answer in time");
                return Err(Refusal::Timeout(format!(
                    "{service} did not answer within {timeout:?}"
                )));
            }
            Err(e) if e.is_connect() => {
                tracing::warn!(%service, instance = %id, error = %e, "instance refused the connection; ejected");
                state.pool.eject(id, eject_for);
                metrics.ejected(service, id, Ejection::Refused);
                if !last {
                    metrics.retried(service, Retry::Refused);
                }
            }
            Err(e) => {
                tracing::warn!(%service, instance = %id, error = %e, "request to instance failed");
                if !may_send_again(&e, req.method()) {
                    return Err(Refusal::Upstream(format!(
                        "{service} failed with the request under way"
                    )));
                }
                state.pool.eject(id, eject_for);
                metrics.ejected(service, id, Ejection::Dropped);
                if !last {
                    metrics.retried(service, Retry::Dropped);
                }
            }
            Ok(resp) => {
                state.pool.record_success(id);
                let status = resp.status().as_u16();
                let now = Instant::now();
                let took = now.saturating_duration_since(f.started);
                let instance_took = now.saturating_duration_since(sent);
                metrics.answered(service, id, status, (took, instance_took), now);
                if state.config.debug_logging {
                    tracing::info!(%service, instance = %instance.id, %tracer, status, "routed");
                }
                return Ok(resp);
            }
        }
    }
    Err(Refusal::Unavailable(format!(
        "An instance of {service} is unavailable"
    )))
}

/// The service's answer as the client gets it: hop-by-hop headers gone, the tracer and `cors`
/// headers added, a JSON object merged into Node's envelope (gzipped when the client accepts it),
/// anything else passed through.
async fn shape_response(
    state: &RouterState,
    resp: Response<Returning>,
    tracer: &str,
    client_gzip: bool,
) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    parts.headers.insert(TRACER_HEADER, tracer_value(tracer));
    for (k, v) in &state.config.cors {
        parts.headers.insert(k, v.clone());
    }
    let is_json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json"));
    let encoded = parts.headers.contains_key(header::CONTENT_ENCODING);
    let small = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| content_length(v.as_bytes()))
        .is_none_or(|n| n <= MAX_JSON_REWRITE as u64);
    if !is_json || encoded || !small {
        return Response::from_parts(parts, Body::new(body));
    }
    let bytes = match Limited::new(body, MAX_JSON_REWRITE).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            tracing::warn!(error = %e, %tracer, "could not read the service's answer");
            let timed_out = e
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut);
            let refusal = if timed_out {
                Refusal::Timeout("the service's answer stalled".into())
            } else {
                Refusal::Upstream("could not read the service's answer".into())
            };
            return refusal.into_response(Some(tracer));
        }
    };
    let Some(merged) = response::service_answer_text(parts.status.as_u16(), &bytes) else {
        // Not an object: pass it on unchanged.
        parts
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
        return Response::from_parts(parts, Body::from(bytes));
    };
    let out = if client_gzip {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let _ = enc.write_all(merged.as_bytes());
        parts
            .headers
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        Bytes::from(enc.finish().unwrap_or_default())
    } else {
        Bytes::from(merged)
    };
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(out.len()));
    Response::from_parts(parts, Body::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_written_as_the_formatter_writes_them() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.30.40",
            "255.255.255.255",
            "1.100.99.9",
            "::1",
            "fe80::1:2",
            "::ffff:1.2.3.4",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(ip_value(ip).unwrap(), ip.to_string().as_str());
        }
    }

    #[test]
    fn the_hop_by_hop_test_is_the_list() {
        for name in &HOP_BY_HOP {
            assert!(is_hop_by_hop(name), "{name}");
        }
        for name in [
            "host",
            "via",
            "x-keep-alive",
            "keep-alive-x",
            "content-length",
        ] {
            assert!(!is_hop_by_hop(&HeaderName::from_static(name)), "{name}");
        }
    }

    #[test]
    fn hop_by_hop_headers_are_dropped() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-private"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }
}
