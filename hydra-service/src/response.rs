//! Node-shaped responses: `{statusCode, statusMessage, statusDescription, result}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hydra_core::{response, ErrorKind, HydraError};
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
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_service::Envelope;
    /// let accepted = Envelope::new(202, serde_json::json!({"job": 17}));
    /// assert_eq!(accepted.body()["statusCode"], 202);
    /// assert_eq!(accepted.body()["result"]["job"], 17);
    /// ```
    pub fn new(status: u16, result: impl Serialize) -> Self {
        let result = serde_json::to_value(result).unwrap_or(Value::Null);
        Self {
            status,
            fields: json!({ "result": result }),
        }
    }

    /// 200 with `result`.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_service::Envelope;
    /// async fn hello() -> Envelope {
    ///     Envelope::ok(serde_json::json!({"msg": "hello"}))
    /// }
    /// ```
    pub fn ok(result: impl Serialize) -> Self {
        Self::new(200, result)
    }

    /// 201 with `result`.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_service::{ApiError, Envelope, Json};
    /// async fn create(Json(item): Json<serde_json::Value>) -> Result<Envelope, ApiError> {
    ///     if item.get("name").is_none() {
    ///         return Err(ApiError::BadRequest("name is required".into()));
    ///     }
    ///     Ok(Envelope::created(item))
    /// }
    /// ```
    pub fn created(result: impl Serialize) -> Self {
        Self::new(201, result)
    }

    /// The whole JSON body.
    ///
    /// # Examples
    ///
    /// ```
    /// let body = hydra_service::Envelope::ok("pong").body();
    /// assert_eq!(body["statusCode"], 200);
    /// assert_eq!(body["statusMessage"], "OK");
    /// assert_eq!(body["result"], "pong");
    /// ```
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

/// The content type of every JSON answer (as Node's hydra-express and hydra-router send).
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// A JSON answer: `body` written as Node's `JSON.stringify` writes it, with `status` and
/// [`JSON_CONTENT_TYPE`]. The one JSON response builder of hydra-service and the router.
///
/// # Examples
///
/// ```
/// use axum::http::StatusCode;
/// use hydra_service::{json_response, JSON_CONTENT_TYPE};
/// let resp = json_response(StatusCode::ACCEPTED, &serde_json::json!({"queued": true}));
/// assert_eq!(resp.status(), StatusCode::ACCEPTED);
/// assert_eq!(resp.headers()["content-type"], JSON_CONTENT_TYPE);
/// ```
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, hydra_core::jsjson::to_string(body)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(JSON_CONTENT_TYPE),
    );
    resp
}

/// The HTTP status for an error of `kind`: the one place hydra-service turns a kind into a
/// status (the caller's faults 400, a failed upstream 502, nothing available 503, no answer in
/// time 504, our own faults 500).
///
/// # Examples
///
/// ```
/// use axum::http::StatusCode;
/// use hydra_core::HydraError;
/// use hydra_service::status_for;
/// assert_eq!(status_for(HydraError::Timeout.kind()), StatusCode::GATEWAY_TIMEOUT);
/// ```
pub fn status_for(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Caller => StatusCode::BAD_REQUEST,
        ErrorKind::Upstream => StatusCode::BAD_GATEWAY,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An error a handler returns; rendered as the envelope with `result.reason`. The caller's faults
/// are 4xx with their reason; a 5xx never carries internal error text (the detail goes to the log
/// only): 502 names the service that failed, 503 and 504 carry the library's own reasons (as Node
/// does, e.g. "Unavailable hello-service instances"), 500 a generic one.
///
/// # Examples
///
/// ```no_run
/// use axum::Extension;
/// use hydra_core::{Hydra, Umf};
/// use hydra_service::{ApiError, Envelope};
///
/// // `?` turns a HydraError into the ApiError of its kind (503 when nobody answers, …).
/// async fn greet(Extension(hydra): Extension<Hydra>) -> Result<Envelope, ApiError> {
///     let call = Umf::new("greeter:[get]/v1/greeter/hello", hydra.own_route(), serde_json::json!({}));
///     let answer = hydra.api_request(&call).await?;
///     if answer.status != 200 {
///         return Err(ApiError::Upstream {
///             service: "greeter".into(),
///             detail: format!("answered {}", answer.status),
///         });
///     }
///     Ok(Envelope::ok(answer.json()))
/// }
/// ```
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
    /// 502: a service this one called failed after the request reached it. The reason names the
    /// service; the detail is logged, never sent.
    #[error("request to {service} failed")]
    Upstream {
        /// The service called.
        service: String,
        /// What went wrong (logged only).
        detail: String,
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
    /// Who caused the error.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_core::ErrorKind;
    /// use hydra_service::ApiError;
    /// assert_eq!(ApiError::NotFound("no such item".into()).kind(), ErrorKind::Caller);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::BadRequest(_)
            | Self::Unauthorized(_)
            | Self::NotFound(_)
            | Self::PayloadTooLarge { .. } => ErrorKind::Caller,
            Self::Upstream { .. } => ErrorKind::Upstream,
            Self::Unavailable(_) => ErrorKind::Unavailable,
            Self::Timeout(_) => ErrorKind::Timeout,
            Self::Internal(_) => ErrorKind::Internal,
        }
    }

    /// The HTTP status: [`status_for`] the kind, with the caller's faults that have a status of
    /// their own (401, 404, 413) told apart.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_service::ApiError;
    /// assert_eq!(ApiError::NotFound("no such item".into()).status(), 404);
    /// assert_eq!(ApiError::Unavailable("Unavailable greeter instances".into()).status(), 503);
    /// ```
    pub fn status(&self) -> u16 {
        match self {
            Self::Unauthorized(_) => 401,
            Self::NotFound(_) => 404,
            Self::PayloadTooLarge { .. } => 413,
            other => status_for(other.kind()).as_u16(),
        }
    }

    /// Any error as an internal one.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_service::ApiError;
    /// fn load(path: &str) -> Result<String, ApiError> {
    ///     std::fs::read_to_string(path).map_err(ApiError::internal) // logged, never sent
    /// }
    /// assert_eq!(load("/nonexistent/file").unwrap_err().status(), 500);
    /// ```
    pub fn internal(e: impl std::fmt::Display) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<HydraError> for ApiError {
    fn from(e: HydraError) -> Self {
        match (e.kind(), e) {
            (ErrorKind::Caller, e) => Self::BadRequest(e.to_string()),
            (ErrorKind::Upstream, HydraError::Http { service, reason }) => Self::Upstream {
                service,
                detail: reason,
            },
            (ErrorKind::Upstream, e) => Self::Upstream {
                service: "another service".into(),
                detail: e.to_string(),
            },
            (ErrorKind::Unavailable, HydraError::Unavailable(reason)) => Self::Unavailable(reason),
            (ErrorKind::Timeout, HydraError::Timeout) => {
                Self::Timeout(HydraError::Timeout.to_string())
            }
            // Redis gone or slow: its error text stays in the log.
            (ErrorKind::Unavailable, e) => {
                tracing::warn!(error = %e, "Redis unavailable");
                Self::Unavailable("Redis unavailable".into())
            }
            (ErrorKind::Timeout, e) => {
                tracing::warn!(error = %e, "Redis timed out");
                Self::Timeout("Redis timed out".into())
            }
            (ErrorKind::Internal, e) => Self::Internal(e.to_string()),
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
            Self::Upstream { detail, .. } => {
                tracing::warn!(error = %self, %detail, "upstream failed");
                self.to_string()
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

#[cfg(test)]
mod tests {
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    use super::*;

    /// What a handler failing with `error()` answers.
    async fn answer(error: fn() -> HydraError) -> (u16, Value) {
        let app = Router::new().route(
            "/",
            get(move || async move { Err::<(), _>(ApiError::from(error())) }),
        );
        let resp = app
            .oneshot(axum::http::Request::new(axum::body::Body::empty()))
            .await
            .unwrap();
        let status = resp.status().as_u16();
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            "application/json; charset=utf-8"
        );
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn a_failed_call_to_another_instance_is_502_without_its_detail() {
        let (status, body) = answer(|| HydraError::Http {
            service: "hello-service".into(),
            reason: "connection reset by peer at 10.0.0.7:4000".into(),
        })
        .await;
        assert_eq!(status, 502);
        assert_eq!(body["statusCode"], 502);
        let reason = body["result"]["reason"].as_str().unwrap();
        assert!(reason.contains("hello-service"), "{reason}");
        assert!(!reason.contains("reset"), "{reason}");
        assert!(!reason.contains("10.0.0.7"), "{reason}");
    }

    #[tokio::test]
    async fn each_kind_has_its_status() {
        assert_eq!(answer(|| HydraError::BadRequest("no".into())).await.0, 400);
        let (status, body) =
            answer(|| HydraError::Unavailable("Unavailable hello-service instances".into())).await;
        assert_eq!(status, 503);
        assert_eq!(
            body["result"]["reason"],
            "Unavailable hello-service instances"
        );
        assert_eq!(answer(|| HydraError::Timeout).await.0, 504);
        let (status, body) = answer(|| {
            HydraError::Redis(redis::RedisError::from(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "reset by 10.0.0.9",
            )))
        })
        .await;
        assert_eq!(status, 503);
        assert!(!body.to_string().contains("10.0.0.9"), "{body}");
        let (status, body) =
            answer(|| HydraError::Io(std::io::Error::other("disk at /srv is full"))).await;
        assert_eq!(status, 500);
        assert!(!body.to_string().contains("/srv"), "{body}");
        for kind in [
            ErrorKind::Caller,
            ErrorKind::Upstream,
            ErrorKind::Unavailable,
            ErrorKind::Timeout,
            ErrorKind::Internal,
        ] {
            let e = match kind {
                ErrorKind::Caller => ApiError::BadRequest(String::new()),
                ErrorKind::Upstream => ApiError::Upstream {
                    service: String::new(),
                    detail: String::new(),
                },
                ErrorKind::Unavailable => ApiError::Unavailable(String::new()),
                ErrorKind::Timeout => ApiError::Timeout(String::new()),
                ErrorKind::Internal => ApiError::Internal(String::new()),
            };
            assert_eq!(e.kind(), kind);
            assert_eq!(e.status(), status_for(kind).as_u16());
        }
    }
}
