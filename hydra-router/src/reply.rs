//! The router's JSON answers: one builder, one content type (`application/json; charset=utf-8`,
//! as the Node router sends), the tracer header when there is one.

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode};
use hydra_core::response;
use serde_json::{json, Value};

pub use hydra_service::JSON_CONTENT_TYPE;

/// A JSON response of `body` with `status` (and `x-hydra-tracer` when `tracer` is given).
pub fn json_response(status: u16, body: &Value, tracer: Option<&str>) -> Response<Body> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = hydra_service::json_response(status, body);
    if let Some(t) = tracer.and_then(|t| HeaderValue::from_str(t).ok()) {
        resp.headers_mut().insert("x-hydra-tracer", t);
    }
    resp
}

/// Node's 200 envelope with `result`.
pub fn ok(result: Value) -> Response<Body> {
    json_response(
        200,
        &response::envelope(200, json!({ "result": result })),
        None,
    )
}
