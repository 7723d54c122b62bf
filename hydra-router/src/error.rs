//! Every error answer the router makes itself, and the one place its HTTP status is chosen.
//!
//! A [`Refusal`] says why the router answers instead of a service; [`Refusal::status`] maps it to
//! the status Node's router sends, [`Refusal::into_response`] to Node's envelope
//! (`{statusCode, statusMessage, statusDescription, result: {reason}, tracer}`). Failures of
//! calls the router makes ([`HydraError`]) go through [`Refusal::from_hydra`]: the status follows
//! the error's [`ErrorKind`], and a 5xx answer never carries the error's own text (Redis or
//! connection details), which is logged instead.

use std::fmt::Display;

use axum::body::Body;
use axum::http::Response;
use hydra_core::{response, ErrorKind, HydraError};
use serde_json::{json, Value};

use crate::reply::json_response;

/// Why the router answers a request itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The request is invalid (400); the reason says how.
    BadRequest(String),
    /// Nothing here (404, Node's envelope without a reason). Unauthorised admin callers get it too.
    NotFound,
    /// The method is not one the router serves (405).
    MethodNotAllowed(String),
    /// The request body came too slowly (408).
    SlowBody(String),
    /// The request body is too large (413).
    TooLarge(String),
    /// The service failed after the request reached it (502).
    Upstream(String),
    /// No instance, or something the router needs, is there now (503).
    Unavailable(String),
    /// The service did not answer in time (504).
    Timeout(String),
    /// The request came back to this router (508).
    Loop,
    /// A fault of the router (500); the detail is in the log only.
    Internal,
}

impl Refusal {
    /// Node's 503 for a service without any instance.
    pub fn no_instances(service: &str) -> Self {
        Self::Unavailable(format!("Unavailable {service} instances"))
    }

    /// The answer to a failed call the router made for a caller (`what`, for the log): the
    /// status follows the error's kind; a caller's mistake is explained, any other failure is
    /// logged and answered with a generic reason.
    pub fn from_hydra(what: &str, e: &HydraError) -> Self {
        match (e.kind(), e) {
            (ErrorKind::Caller, _) => Self::BadRequest(e.to_string()),
            // Node's own reasons ("Unavailable hello-service instances"), meant for the caller.
            (ErrorKind::Unavailable, HydraError::Unavailable(reason)) => {
                Self::Unavailable(reason.clone())
            }
            (kind, _) => Self::hidden(kind, what, e),
        }
    }

    /// A failure whose detail is not for the caller: logged with `what`, answered with the
    /// generic reason of `kind`.
    pub fn hidden(kind: ErrorKind, what: &str, detail: &dyn Display) -> Self {
        tracing::warn!(%kind, error = %detail, "{what} failed");
        match kind {
            ErrorKind::Caller => Self::BadRequest(format!("{what} failed")),
            ErrorKind::Upstream => Self::Upstream(format!("{what} failed")),
            ErrorKind::Unavailable => Self::Unavailable(format!("{what} is unavailable")),
            ErrorKind::Timeout => Self::Timeout(format!("{what} timed out")),
            ErrorKind::Internal => Self::Internal,
        }
    }

    /// The HTTP status of the answer.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::NotFound => 404,
            Self::MethodNotAllowed(_) => 405,
            Self::SlowBody(_) => 408,
            Self::TooLarge(_) => 413,
            Self::Internal => 500,
            Self::Upstream(_) => 502,
            Self::Unavailable(_) => 503,
            Self::Timeout(_) => 504,
            Self::Loop => 508,
        }
    }

    /// The `result.reason` of the answer (`None`: Node's 404 has none).
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::BadRequest(r)
            | Self::MethodNotAllowed(r)
            | Self::SlowBody(r)
            | Self::TooLarge(r)
            | Self::Upstream(r)
            | Self::Unavailable(r)
            | Self::Timeout(r) => Some(r),
            Self::NotFound => None,
            Self::Loop => Some("forwarding loop: the request already passed through this router"),
            Self::Internal => Some("internal error"),
        }
    }

    /// The Node envelope; `tracer` goes into the body (with a reason) and the header.
    pub fn into_response(self, tracer: Option<&str>) -> Response<Body> {
        let status = self.status();
        let fields = match self.reason() {
            None => Value::Null,
            Some(reason) => {
                let mut f = json!({"result": {"reason": reason}});
                if let Some(t) = tracer {
                    f["tracer"] = json!(t);
                }
                f
            }
        };
        json_response(status, &response::envelope(status, fields), tracer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(r: Response<Body>) -> Value {
        let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn envelopes_are_node_shaped() {
        let r = Refusal::Timeout("svc did not answer".into()).into_response(Some("t1"));
        assert_eq!(r.status(), 504);
        assert_eq!(r.headers()["x-hydra-tracer"], "t1");
        assert_eq!(r.headers()["content-type"], crate::reply::JSON_CONTENT_TYPE);
        let v = body(r).await;
        assert_eq!(v["statusCode"], 504);
        assert_eq!(v["result"]["reason"], "svc did not answer");
        assert_eq!(v["tracer"], "t1");
        let v = body(Refusal::NotFound.into_response(Some("t2"))).await;
        assert_eq!(v["statusCode"], 404);
        assert_eq!(v["result"], json!({}));
        assert!(v.get("tracer").is_none());
    }

    #[test]
    fn statuses_follow_the_kind_and_5xx_reasons_hide_the_detail() {
        let redis = HydraError::Redis(redis::RedisError::from(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "secret detail",
        )));
        let r = Refusal::from_hydra("listing services", &redis);
        assert_eq!(r.status(), 503);
        assert!(!r.reason().unwrap().contains("secret"), "{r:?}");
        let parse = HydraError::Redis(redis::RedisError::from((
            redis::ErrorKind::Parse,
            "secret detail",
        )));
        assert_eq!(Refusal::from_hydra("x", &parse), Refusal::Internal);
        let http = HydraError::Http {
            service: "s".into(),
            reason: "secret detail".into(),
        };
        let r = Refusal::from_hydra("the call", &http);
        assert_eq!(r.status(), 502);
        assert!(!r.reason().unwrap().contains("secret"));
        assert_eq!(Refusal::from_hydra("x", &HydraError::Timeout).status(), 504);
        let bad = Refusal::from_hydra("x", &HydraError::BadRequest("no fwd".into()));
        assert_eq!(bad, Refusal::BadRequest("no fwd".into()));
        let none = Refusal::from_hydra(
            "x",
            &HydraError::Unavailable("Unavailable s instances".into()),
        );
        assert_eq!(none, Refusal::Unavailable("Unavailable s instances".into()));
    }
}
