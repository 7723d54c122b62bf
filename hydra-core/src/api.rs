//! HTTP API requests to service instances: a UMF message whose `to` holds a method
//! (`hello-service:[get]/v1/hello/test`) becomes an HTTP call to one present instance.

use std::time::Duration;

use bytes::Bytes;
use rand::seq::SliceRandom;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde_json::{Map, Value};

use crate::error::HydraError;
use std::sync::Arc;

use crate::discovery::Discovery;
use crate::records::NodeEntry;
use crate::response;
use crate::umf::Umf;

/// An instance's HTTP answer.
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use hydra_core::ApiResponse;
/// use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
///
/// let mut headers = HeaderMap::new();
/// headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
/// let answer = ApiResponse {
///     status: 200,
///     headers,
///     body: Bytes::from_static(br#"{"msg":"hello"}"#),
///     instance_id: "2a3b8c".into(),
/// };
/// assert!(answer.is_json());
/// assert_eq!(answer.json().unwrap()["msg"], "hello");
/// // As Node's makeAPIRequest resolves: the envelope, the service's fields on top.
/// let envelope = answer.envelope();
/// assert_eq!(envelope["statusCode"], 200);
/// assert_eq!(envelope["msg"], "hello");
/// ```
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Response body.
    pub body: Bytes,
    /// The instance that answered.
    pub instance_id: String,
}

impl ApiResponse {
    /// Whether the answer is JSON (its content type mentions `json`).
    ///
    /// Used in the example on [`ApiResponse`].
    pub fn is_json(&self) -> bool {
        self.headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.contains("json"))
    }

    /// The body as JSON, when it is JSON.
    ///
    /// Used in the example on [`ApiResponse`].
    pub fn json(&self) -> Option<Value> {
        if self.is_json() {
            serde_json::from_slice(&self.body).ok()
        } else {
            None
        }
    }

    /// The body decoded as `T`, whatever the content type says; the error says what did not
    /// fit and where (which [`json`](Self::json) does not).
    ///
    /// # Errors
    /// serde's error when the body is not JSON or not a `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::Bytes;
    /// use hydra_core::ApiResponse;
    ///
    /// #[derive(Debug, serde::Deserialize)]
    /// struct Greeting {
    ///     msg: String,
    /// }
    ///
    /// let mut answer = ApiResponse {
    ///     status: 200,
    ///     headers: Default::default(),
    ///     body: Bytes::from_static(br#"{"msg":"hello"}"#),
    ///     instance_id: "2a3b8c".into(),
    /// };
    /// assert_eq!(answer.json_as::<Greeting>().unwrap().msg, "hello");
    /// answer.body = Bytes::from_static(br#"{"msg":7}"#);
    /// let err = answer.json_as::<Greeting>().unwrap_err();
    /// assert!(err.to_string().contains("invalid type"), "{err}");
    /// ```
    pub fn json_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// What Node's `makeAPIRequest` resolves with: the status envelope with the service's JSON
    /// fields merged on top (non-JSON bodies under `payLoad` as text).
    ///
    /// Used in the example on [`ApiResponse`].
    pub fn envelope(&self) -> Value {
        let mut fields = Map::new();
        match self.json() {
            Some(Value::Object(m)) => fields.extend(m),
            Some(other) => {
                fields.insert("result".into(), other);
            }
            None => {
                fields.insert(
                    "payLoad".into(),
                    Value::String(String::from_utf8_lossy(&self.body).into_owned()),
                );
            }
        }
        response::service_answer(self.status, fields)
    }
}

fn is_connect_failure(e: &reqwest::Error) -> bool {
    e.is_connect() || (e.is_request() && !e.is_timeout() && !e.is_body())
}

/// Makes the HTTP calls of API requests.
pub(crate) struct ApiClient {
    http: reqwest::Client,
    timeout: Duration,
    discovery: Arc<Discovery>,
}

impl ApiClient {
    pub(crate) fn new(http: reqwest::Client, timeout: Duration, discovery: Arc<Discovery>) -> Self {
        Self {
            http,
            timeout,
            discovery,
        }
    }

    pub(crate) async fn api_request(&self, msg: &Umf) -> Result<ApiResponse, HydraError> {
        if msg.validate().is_err() {
            return Err(HydraError::BadRequest(
                "UMF message requires \"to\", \"from\" and \"body\" fields".into(),
            ));
        }
        let route = msg
            .to_route()
            .map_err(|e| HydraError::BadRequest(e.to_string()))?;
        let Some(method) = route.method.as_deref() else {
            return Err(HydraError::BadRequest(
                "HTTP method not specified in `to` field".into(),
            ));
        };
        if route.path.is_empty() {
            return Err(HydraError::BadRequest(
                "message `to` field does not specify a valid route".into(),
            ));
        }
        let method = Method::from_bytes(method.to_uppercase().as_bytes())
            .map_err(|_| HydraError::BadRequest(format!("invalid HTTP method {method:?}")))?;
        let service = route.service.as_str();
        let present = self.discovery.presence(service, false).await?;
        if present.is_empty() {
            return Err(HydraError::Unavailable(format!(
                "Unavailable {service} instances"
            )));
        }
        let mut order: Vec<&NodeEntry> = present.iter().collect();
        order.shuffle(&mut rand::thread_rng());
        if let Some(id) = &route.instance {
            if let Some(pos) = order.iter().position(|n| &n.instance_id == id) {
                order.swap(0, pos);
            }
        }
        let timeout = msg
            .timeout
            .as_ref()
            .and_then(Value::as_f64)
            .and_then(wait_of)
            .unwrap_or(self.timeout);
        let headers = request_headers(msg, &method);
        let body = matches!(method, Method::POST | Method::PUT | Method::PATCH)
            .then(|| crate::jsjson::to_string(&msg.body));
        for node in order {
            let url = format!("{}{}", node.base_url(), route.path);
            let mut req = self
                .http
                .request(method.clone(), &url)
                .headers(headers.clone())
                .timeout(timeout);
            if let Some(b) = &body {
                req = req.body(b.clone());
            }
            match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let headers = resp.headers().clone();
                    let body = resp.bytes().await.map_err(|e| HydraError::Http {
                        service: service.to_string(),
                        reason: e.to_string(),
                    })?;
                    return Ok(ApiResponse {
                        status,
                        headers,
                        body,
                        instance_id: node.instance_id.clone(),
                    });
                }
                Err(e) if e.is_timeout() => return Err(HydraError::Timeout),
                Err(e) if is_connect_failure(&e) => {
                    tracing::debug!(%url, error = %e, "instance unreachable, trying the next");
                }
                Err(e) => {
                    return Err(HydraError::Http {
                        service: service.to_string(),
                        reason: e.to_string(),
                    })
                }
            }
        }
        Err(HydraError::Unavailable(format!(
            "An instance of {service} is unavailable"
        )))
    }
}

/// A message's `timeout` (seconds) as a wait: `None` (the default wait then) unless it is above 0
/// and a [`Duration`] can hold it. Any client may send `-1`, `1e300` or `1e20`; none may panic
/// the task that reads it.
fn wait_of(seconds: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero())
}

fn request_headers(msg: &Umf, method: &Method) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    if let Some(Value::Object(h)) = &msg.headers {
        for (k, v) in h {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(&text),
            ) {
                headers.insert(name, value);
            }
        }
    }
    if let Some(Value::String(a)) = &msg.authorization {
        if let Ok(v) = HeaderValue::from_str(a) {
            headers.insert(AUTHORIZATION, v);
        }
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_no_duration_holds_is_no_wait_of_its_own() {
        assert_eq!(wait_of(2.5), Some(Duration::from_millis(2500)));
        assert_eq!(wait_of(0.3), Some(Duration::from_millis(300)));
        for bad in [
            1e300,
            1e20,
            -1.0,
            0.0,
            -0.0,
            1e-300,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            assert_eq!(wait_of(bad), None, "{bad}");
        }
    }
}
