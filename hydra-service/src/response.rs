//! Node-shaped responses: `{statusCode, statusMessage, statusDescription, result}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hydra_core::{response, HydraError};
use serde::Serialize;
use serde_json::{json, Value};

/// A response in Node's envelope, with `result` holding the payload.
///
/// ```
/// use hydra_service::Envelope;
/// let r = Envelope::ok(serde_json::json!({"msg": "hello"}));
/// ```
#[derive(Debug, Clone)]
pub struct Envelope {
    status: u16,
    fields: Value,
}

impl Envelope {
    /// `status` with `result` = `result`.
    pub fn new(status: u16, result: impl Serialize) -> Self {
        let result = serde_json::to_value(result).unwrap_or(Value::Null);
        Self {
            status,
            fields: json!({ "result": result }),
        }
    }

    /// 200 with `result`.
    pub fn ok(result: impl Serialize) -> Self {
        Self::new(200, result)
    }

    /// 201 with `result`.
    pub fn created(result: impl Serialize) -> Self {
        Self::new(201, result)
    }

    /// The whole JSON body.
    pub fn body(&self) -> Value {
        response::envelope(self.status, self.fields.clone())
    }
}

impl IntoResponse for Envelope {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        json_response(status, &self.body())
    }
}

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, hydra_core::jsjson::to_string(body)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// An error a handler returns; rendered as the envelope with `result.reason`. The caller's faults
/// are 4xx with their reason; ours are 500 with a generic reason (the detail goes to the log only).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 with a reason.
    #[error("{0}")]
    BadRequest(String),
    /// 401.
    #[error("{0}")]
    Unauthorized(String),
    /// 404 with a reason.
    #[error("{0}")]
    NotFound(String),
    /// 413.
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit.
        limit: usize,
    },
    /// 503 with a reason (e.g. another service is unavailable).
    #[error("{0}")]
    Unavailable(String),
    /// 504: something we waited for did not answer.
    #[error("{0}")]
    Timeout(String),
    /// 500; the text is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::Unauthorized(_) => 401,
            Self::NotFound(_) => 404,
            Self::PayloadTooLarge { .. } => 413,
            Self::Unavailable(_) => 503,
            Self::Timeout(_) => 504,
            Self::Internal(_) => 500,
        }
    }

    /// Any error as an internal one.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<HydraError> for ApiError {
    fn from(e: HydraError) -> Self {
        match e.node_status() {
            400 => Self::BadRequest(e.to_string()),
            503 => Self::Unavailable(e.to_string()),
            504 => Self::Timeout(e.to_string()),
            _ => Self::Internal(e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let reason = match &self {
            Self::Internal(detail) => {
                tracing::error!(error = %detail, "request failed");
                "An internal error occurred".to_string()
            }
            other => other.to_string(),
        };
        let status = self.status();
        let body = response::envelope(status, json!({ "result": { "reason": reason } }));
        json_response(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            &body,
        )
    }
}
